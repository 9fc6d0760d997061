package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCommittedDocumentIsCurrent: gen/openapi/gatehouse.openapi.json is
// what the generator makes from the committed inputs.
func TestCommittedDocumentIsCurrent(t *testing.T) {
	got, err := build(context.Background(), readFile(t, "../../../../gen/openapi/gatehouse.swagger.json"), readFile(t, "../../openapi_routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, readFile(t, "../../../../gen/openapi/gatehouse.openapi.json")) {
		t.Error("gen/openapi/gatehouse.openapi.json is stale: run bash .ci/generate")
	}
}

func TestBuildRefuses(t *testing.T) {
	swagger := string(readFile(t, "../../../../gen/openapi/gatehouse.swagger.json"))
	routes := string(readFile(t, "../../openapi_routes.yaml"))
	for _, c := range []struct {
		name, swagger, routes, want string
	}{
		{"an RPC outside the authorization table",
			strings.Replace(swagger, `"AuthService_GetJWKS"`, `"AuthService_NoSuchRPC"`, 1), routes, "not in the authorization table"},
		{"an operation id that names no RPC",
			strings.Replace(swagger, `"AuthService_GetJWKS"`, `"GetJWKS"`, 1), routes, "is not Service_Method"},
		{"a hand-written path that is generated too",
			swagger, strings.Replace(routes, "  /healthz:\n", "  /v1/jwks:\n", 1), "both generated"},
		{"an invalid hand-written part",
			swagger, strings.Replace(routes, "$ref: '#/components/schemas/HealthStatus'", "$ref: '#/components/schemas/NoSuchSchema'", 1), "NoSuchSchema"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := build(context.Background(), []byte(c.swagger), []byte(c.routes))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}
