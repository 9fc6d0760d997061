package main

import (
	"strings"
	"testing"
	"time"
)

// res is a result of ok calls in one second with the given p99.
func res(name string, ok, errors int64, p99 time.Duration) result {
	return result{Scenario: name, Elapsed: time.Second, merged: merged{ok: ok, errors: errors, latency: summary{P99: p99}}}
}

func TestGoals(t *testing.T) {
	ms := time.Millisecond
	type want struct {
		name string
		met  bool
	}
	tests := []struct {
		name      string
		results   []result
		everyCall bool
		want      []want
	}{
		{name: "nothing to judge", results: []result{res(scValidateGRPC, 100, 0, ms), res(scJWXVerify, 100, 0, ms)}},
		{name: "skipped yardstick", results: []result{res(scValidateGRPC, 100, 0, ms), {Scenario: scYardstickGRPC, Skipped: "no JWKS"}}},
		{name: "rest rates met", results: []result{res(scIntrospectREST, 20_000, 0, ms), res(scIssueREST, 10_000, 0, ms)},
			want: []want{{"introspect-rest req/s", true}, {"issue-rest req/s", true}}},
		{name: "rest rates missed", results: []result{res(scIntrospectREST, 19_999, 0, ms), res(scIssueREST, 9_000, 0, ms)},
			want: []want{{"introspect-rest req/s", false}, {"issue-rest req/s", false}}},
		{name: "errors spoil a met rate", results: []result{res(scIssueREST, 50_000, 1, ms)},
			want: []want{{"issue-rest req/s", false}}},
		{name: "repeated tokens met", results: []result{res(scValidateGRPC, 200, 0, 5*ms), res(scYardstickGRPC, 100, 0, 4*ms)},
			want: []want{{"validate-grpc/yardstick req/s, repeated tokens", true}, {"validate-grpc/yardstick p99", true}}},
		{name: "repeated tokens missed", results: []result{res(scValidateGRPC, 199, 0, 6*ms), res(scYardstickGRPC, 100, 0, 4*ms)},
			want: []want{{"validate-grpc/yardstick req/s, repeated tokens", false}, {"validate-grpc/yardstick p99", false}}},
		{name: "every call met", everyCall: true, results: []result{res(scValidateGRPC, 85, 0, 5*ms), res(scYardstickGRPC, 100, 0, 4*ms)},
			want: []want{{"validate-grpc/yardstick req/s, every call verifies", true}, {"validate-grpc/yardstick p99", true}}},
		{name: "every call missed", everyCall: true, results: []result{res(scValidateGRPC, 84, 0, 5*ms), res(scYardstickGRPC, 100, 0, 4*ms)},
			want: []want{{"validate-grpc/yardstick req/s, every call verifies", false}, {"validate-grpc/yardstick p99", true}}},
		{name: "yardstick errors", results: []result{res(scValidateGRPC, 500, 0, ms), res(scYardstickGRPC, 100, 3, ms)},
			want: []want{{"validate-grpc/yardstick req/s, repeated tokens", false}, {"validate-grpc/yardstick p99", false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := goals(tc.results, tc.everyCall)
			if len(got) != len(tc.want) {
				t.Fatalf("goals = %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Name != w.name || got[i].Met() != w.met {
					t.Errorf("goal %d = %q met %v, want %q met %v (%+v)", i, got[i].Name, got[i].Met(), w.name, w.met, got[i])
				}
			}
			var b strings.Builder
			if err := writeGoals(&b, got); err != nil {
				t.Fatal(err)
			}
			if (b.Len() > 0) != (len(got) > 0) {
				t.Errorf("table %q for %d goals", b.String(), len(got))
			}
			for _, g := range got {
				if !strings.Contains(b.String(), g.Name) {
					t.Errorf("table lacks %q:\n%s", g.Name, b.String())
				}
			}
		})
	}
}

func TestYardstickRatios(t *testing.T) {
	ms := time.Millisecond
	rps, p99, ok := yardstickRatios([]result{res(scYardstickGRPC, 400, 0, 2*ms), res(scValidateGRPC, 1000, 0, 3*ms)})
	if !ok || rps != 2.5 || p99 != 1.5 {
		t.Errorf("ratios = %v, %v, %v; want 2.5, 1.5, true", rps, p99, ok)
	}
	if _, _, ok := yardstickRatios([]result{res(scValidateGRPC, 1000, 0, ms), res(scYardstickGRPC, 0, 5, 0)}); ok {
		t.Error("ratio against a yardstick without successful calls")
	}
}
