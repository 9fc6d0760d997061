package main

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

func TestMedianRounds(t *testing.T) {
	ms := time.Millisecond
	withErrors := res(scIssueREST, 300, 2, 9*ms)
	withErrors.byKind = map[string]int64{"Unavailable": 2}
	tests := []struct {
		name       string
		rounds     map[string][]result
		wantRPS    map[string]float64
		wantErrors map[string]int64
		wantSkip   map[string]bool
	}{
		{
			name:    "one round is itself",
			rounds:  map[string][]result{scIssueREST: {res(scIssueREST, 100, 0, ms)}},
			wantRPS: map[string]float64{scIssueREST: 100},
		},
		{
			name: "the median of three, errors of all rounds",
			rounds: map[string][]result{
				scIssueREST: {res(scIssueREST, 500, 0, ms), withErrors, res(scIssueREST, 100, 0, ms)},
			},
			wantRPS:    map[string]float64{scIssueREST: 300},
			wantErrors: map[string]int64{scIssueREST: 2},
		},
		{
			name: "the lower middle of an even count",
			rounds: map[string][]result{
				scIntrospectREST: {res(scIntrospectREST, 400, 0, ms), res(scIntrospectREST, 100, 0, ms), res(scIntrospectREST, 300, 0, ms), res(scIntrospectREST, 200, 0, ms)},
			},
			wantRPS: map[string]float64{scIntrospectREST: 200},
		},
		{
			name: "skipped in a round is skipped",
			rounds: map[string][]result{
				scYardstickGRPC: {res(scYardstickGRPC, 100, 0, ms), {Scenario: scYardstickGRPC, Skipped: "interrupted"}},
			},
			wantSkip: map[string]bool{scYardstickGRPC: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names := []string{scIssueREST, scIntrospectREST, scYardstickGRPC}
			got := medianRounds(names, tc.rounds)
			if len(got) != len(tc.rounds) {
				t.Fatalf("%d results for %d scenarios", len(got), len(tc.rounds))
			}
			for _, r := range got {
				if tc.wantSkip[r.Scenario] != (r.Skipped != "") {
					t.Errorf("%s skipped = %q", r.Scenario, r.Skipped)
					continue
				}
				if r.Skipped != "" {
					continue
				}
				if want := tc.wantRPS[r.Scenario]; r.rps() != want {
					t.Errorf("%s: rps %.0f, want %.0f", r.Scenario, r.rps(), want)
				}
				if want := tc.wantErrors[r.Scenario]; r.errors != want {
					t.Errorf("%s: errors %d, want %d", r.Scenario, r.errors, want)
				}
				if n := len(tc.rounds[r.Scenario]); n > 1 && len(r.RoundsRPS) != n {
					t.Errorf("%s: RoundsRPS %v, want %d rates", r.Scenario, r.RoundsRPS, n)
				}
			}
		})
	}
}

// TestRunRounds: -rounds 3 runs the list three times, alternating, and
// reports one row per scenario with every round's rate.
func TestRunRounds(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "2", "-d", "50ms", "-tokens", "3",
		"-rounds", "3", "-scenarios", "validate-grpc,issue-rest", "-json"}
	if code := run(t.Context(), args, bothEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	var names []string
	for _, r := range jsonLines(t, out.String())["result"] {
		names = append(names, r["scenario"].(string))
		if rates, _ := r["rounds_rps"].([]any); len(rates) != 3 {
			t.Errorf("%s: rounds_rps %v, want 3 rates", r["scenario"], r["rounds_rps"])
		}
	}
	if want := []string{scValidateGRPC, scIssueREST}; !slices.Equal(names, want) {
		t.Errorf("results %v, want %v", names, want)
	}
	if !bytes.Contains(out.Bytes(), []byte("req/s of every round")) {
		t.Error("the report does not list the rounds")
	}
}

func TestRoundsFlag(t *testing.T) {
	for _, v := range []string{"0", "21", "-1"} {
		var errb bytes.Buffer
		if code := run(t.Context(), []string{"-rounds", v}, bothEnv, &bytes.Buffer{}, &errb); code != exitUsage {
			t.Errorf("-rounds %s: exit %d, want %d (usage)", v, code, exitUsage)
		}
	}
}
