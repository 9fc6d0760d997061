package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// TestClientIDRules: new client ids may not contain ':' (HTTP Basic cannot
// carry it for clients that do not form-encode the id); the other shapes
// are as before.
func TestClientIDRules(t *testing.T) {
	ts := startServer(t, "")
	ctx := ts.adminCtx(t)
	for _, tc := range []struct {
		id   string
		want codes.Code
	}{
		{"billing", codes.OK},
		{"svc.reports-2_x", codes.OK},
		{"urn:billing", codes.InvalidArgument},
		{"billing:", codes.InvalidArgument},
		{"-billing", codes.InvalidArgument},
		{strings.Repeat("a", 129), codes.InvalidArgument},
	} {
		_, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: tc.id})
		if status.Code(err) != tc.want {
			t.Errorf("client id %.20q: %v, want %s", tc.id, err, tc.want)
		}
		if tc.want == codes.InvalidArgument && strings.Contains(tc.id, ":") && !strings.Contains(status.Convert(err).Message(), "no ':'") {
			t.Errorf("client id %q: the message does not say why: %v", tc.id, err)
		}
	}
}
