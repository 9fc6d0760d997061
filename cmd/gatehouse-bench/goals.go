package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// The production-speed goals, each judged only when its scenarios ran.
const (
	goalIntrospectRESTRPS = 20_000 // introspect-rest req/s
	goalIssueRESTRPS      = 10_000 // issue-rest and oauth2-token req/s (client_credentials)
	// validate-grpc / yardstick-grpc req/s: with repeated tokens the
	// verify cache must make gatehouse at least twice the bare verifier;
	// when every call verifies, its policy and account checks may cost at
	// most 15 %.
	goalRepeatedRatio  = 2.0
	goalEveryCallRatio = 0.85
	goalP99Ratio       = 1.25 // validate-grpc p99 / yardstick-grpc p99, at most
)

// goal is one row of the goals table.
type goal struct {
	Name    string  // what is measured
	Value   float64 // the measurement
	Target  float64
	AtMost  bool   // Value must be <= Target (otherwise >=)
	Unit    string // "req/s", "x" or "ms"
	Errored string // scenarios with errors: such a run cannot meet a goal
}

// Met reports whether the measurement reaches the target in a clean run.
func (g goal) Met() bool {
	if g.Errored != "" {
		return false
	}
	if g.AtMost {
		return g.Value <= g.Target
	}
	return g.Value >= g.Target
}

// yardstickRatios returns validate-grpc / yardstick-grpc for req/s and p99
// when both ran and measured something.
func yardstickRatios(results []result) (rps, p99 float64, ok bool) {
	v, okV := ran(results, scValidateGRPC)
	y, okY := ran(results, scYardstickGRPC)
	if !okV || !okY || y.rps() <= 0 || y.latency.P99 <= 0 || v.latency.P99 <= 0 {
		return 0, 0, false
	}
	return v.rps() / y.rps(), float64(v.latency.P99) / float64(y.latency.P99), true
}

// ran returns the result of a scenario that ran (was not skipped).
func ran(results []result, name string) (result, bool) {
	for _, r := range results {
		if r.Scenario == name && r.Skipped == "" {
			return r, true
		}
	}
	return result{}, false
}

// goals judges the goals whose scenarios ran. everyCall selects the
// validate goal: the server verified a signature on every call.
func goals(results []result, everyCall bool) []goal {
	var out []goal
	errored := func(names ...string) string {
		var bad []string
		for _, n := range names {
			if r, ok := ran(results, n); ok && r.errors > 0 {
				bad = append(bad, n)
			}
		}
		return strings.Join(bad, ", ")
	}
	if r, ok := ran(results, scIntrospectREST); ok {
		out = append(out, goal{Name: scIntrospectREST + " req/s", Value: r.rps(), Target: goalIntrospectRESTRPS, Unit: "req/s", Errored: errored(scIntrospectREST)})
	}
	// client_credentials: through the gateway (/v1/token) and at the RFC
	// 6749 endpoint (/oauth2/token), each judged when it ran.
	for _, sc := range []string{scIssueREST, scOAuth2Token} {
		if r, ok := ran(results, sc); ok {
			out = append(out, goal{Name: sc + " req/s", Value: r.rps(), Target: goalIssueRESTRPS, Unit: "req/s", Errored: errored(sc)})
		}
	}
	if rps, p99, ok := yardstickRatios(results); ok {
		name, target := "validate-grpc/yardstick req/s, repeated tokens", goalRepeatedRatio
		if everyCall {
			name, target = "validate-grpc/yardstick req/s, every call verifies", goalEveryCallRatio
		}
		bad := errored(scValidateGRPC, scYardstickGRPC)
		out = append(out,
			goal{Name: name, Value: rps, Target: target, Unit: "x", Errored: bad},
			goal{Name: "validate-grpc/yardstick p99", Value: p99, Target: goalP99Ratio, AtMost: true, Unit: "x", Errored: bad})
	}
	return out
}

// writeGoals appends the goals table to b; nothing when no goal applies.
func writeGoals(b *strings.Builder, gs []goal) error {
	if len(gs) == 0 {
		return nil
	}
	b.WriteString("\nproduction-speed goals:\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  goal\tmeasured\ttarget\tmet")
	for _, g := range gs {
		op := ">="
		if g.AtMost {
			op = "<="
		}
		met := "yes"
		switch {
		case g.Errored != "":
			met = "no (errors in " + g.Errored + ")"
		case !g.Met():
			met = "NO"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s %s\t%s\n", g.Name, fmtGoalValue(g.Value, g.Unit), op, fmtGoalValue(g.Target, g.Unit), met)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("format goals: %w", err)
	}
	return nil
}

func fmtGoalValue(v float64, unit string) string {
	switch unit {
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}
