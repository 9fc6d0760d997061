package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestHTTPFloor: the floor runs beside introspect-rest with the same
// bodies, and the report relates the REST rate to it.
func TestHTTPFloor(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "2", "-d", "100ms", "-tokens", "3",
		"-scenarios", "introspect-rest,http-floor", "-json"}
	if code := run(t.Context(), args, bothEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	assertNoLeaks(t, f, out.String(), errb.String())
	lines := jsonLines(t, out.String())
	got := map[string]float64{}
	for _, r := range lines["result"] {
		got[r["scenario"].(string)] = r["ok"].(float64)
		if r["errors"].(float64) != 0 {
			t.Errorf("%s: %v", r["scenario"], r)
		}
	}
	if got[scIntrospectREST] < 1 || got[scHTTPFloor] < 1 {
		t.Fatalf("successful calls per scenario: %v, want both above 0", got)
	}
	var ratio bool
	for _, r := range lines["ratio"] {
		if r["name"] == scIntrospectREST+"/"+scHTTPFloor && r["value"].(float64) > 0 {
			ratio = true
		}
	}
	if !ratio {
		t.Errorf("no introspect-rest/http-floor ratio in %v", lines["ratio"])
	}
	if !strings.Contains(out.String(), "relative to this machine's HTTP floor") {
		t.Error("the report has no HTTP floor section")
	}
}

func TestFloorRatios(t *testing.T) {
	tests := []struct {
		name    string
		results []result
		want    []string
	}{
		{"no floor", []result{res(scIntrospectREST, 1000, 0, 1)}, nil},
		{"floor skipped", []result{res(scIntrospectREST, 1000, 0, 1), {Scenario: scHTTPFloor, Skipped: "x"}}, nil},
		{"floor and two REST scenarios", []result{res(scOAuth2Token, 500, 0, 1), res(scHTTPFloor, 2000, 0, 1), res(scIntrospectREST, 1000, 0, 1)},
			[]string{"introspect-rest/http-floor=0.50", "oauth2-token/http-floor=0.25"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range floorRatios(tc.results) {
				got = append(got, fmt.Sprintf("%s=%.2f", r.Name, r.Value))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("floorRatios = %v, want %v", got, tc.want)
			}
		})
	}
}
