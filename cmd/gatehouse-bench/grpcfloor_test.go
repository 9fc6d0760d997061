package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestGRPCFloor: the floor runs beside validate-grpc and the yardstick
// with the same client code, and the report relates both to it and prints
// the ceiling it puts on validate-grpc/yardstick.
func TestGRPCFloor(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "2", "-d", "100ms", "-tokens", "3", "-conns", "2",
		"-scenarios", "validate-grpc,yardstick-grpc,grpc-floor", "-json"}
	if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	assertNoLeaks(t, f, out.String(), errb.String())
	lines := jsonLines(t, out.String())
	got := map[string]float64{}
	for _, r := range lines["result"] {
		got[r["scenario"].(string)] = r["ok"].(float64)
		if r["errors"].(float64) != 0 || r["skipped"] != nil {
			t.Errorf("%s: %v", r["scenario"], r)
		}
	}
	if got[scGRPCFloor] < 1 {
		t.Fatalf("successful calls per scenario: %v, want grpc-floor above 0", got)
	}
	want := map[string]bool{"validate-grpc/grpc-floor": false, "yardstick-grpc/grpc-floor": false, "grpc-floor/yardstick-grpc": false}
	for _, r := range lines["ratio"] {
		if _, ok := want[r["name"].(string)]; ok && r["value"].(float64) > 0 {
			want[r["name"].(string)] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no %s ratio in %v", name, lines["ratio"])
		}
	}
	if m := lines["meta"]; len(m) != 1 || m[0]["grpc_floor"] != whereBare(describeGRPCFloor, false) {
		t.Errorf("meta = %v, want grpc_floor %q", m, whereBare(describeGRPCFloor, false))
	}
	for _, s := range []string{"grpc floor: " + whereBare(describeGRPCFloor, false), "relative to this machine's gRPC floor"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the report lacks %q", s)
		}
	}
}

func TestGRPCFloorRatios(t *testing.T) {
	tests := []struct {
		name    string
		results []result
		want    []string
	}{
		{"no floor", []result{res(scValidateGRPC, 1000, 0, 1)}, nil},
		{"floor skipped", []result{res(scValidateGRPC, 1000, 0, 1), {Scenario: scGRPCFloor, Skipped: "x"}}, nil},
		{"floor without the yardstick", []result{res(scValidateGRPC, 1000, 0, 1), res(scGRPCFloor, 2000, 0, 1)},
			[]string{"validate-grpc/grpc-floor=0.50"}},
		{"floor, validate and yardstick", []result{res(scYardstickGRPC, 500, 0, 1), res(scGRPCFloor, 2000, 0, 1), res(scValidateGRPC, 1000, 0, 1)},
			[]string{"validate-grpc/grpc-floor=0.50", "yardstick-grpc/grpc-floor=0.25", "grpc-floor/yardstick-grpc=4.00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range grpcFloorRatios(tc.results) {
				got = append(got, fmt.Sprintf("%s=%.2f", r.Name, r.Value))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("grpcFloorRatios = %v, want %v", got, tc.want)
			}
		})
	}
}
