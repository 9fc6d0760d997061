package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// The goals against a -baseline run: they were set for PostgreSQL against
// the embedded SQLite, but hold for any two labelled runs.
const (
	// issue-rest and introspect-rest: this run within 10 % of the
	// baseline's rate, its p99 at most twice the baseline's.
	goalBaselineRatio    = 0.90
	goalBaselineP99Ratio = 2.0
	// refresh-rest writes on every call: this run must not be slower than
	// the baseline, and its p99 has an absolute bound.
	goalRefreshBaselineRatio = 1.0
	goalRefreshP99           = 30 * time.Millisecond
)

// maxBaselineLine bounds one JSON line of a baseline file; a result line
// is well under 4 KiB (first_error is cut to a few hundred bytes).
const maxBaselineLine = 1 << 20

// baselineRun is the previous run -baseline names.
type baselineRun struct {
	File    string
	Label   string
	Started time.Time
	results map[string]jsonResult // scenarios that ran, by name
}

// name is how the report calls the baseline run.
func (b *baselineRun) name() string {
	if b.Label != "" {
		return b.Label
	}
	return "baseline"
}

// readBaseline reads the output of a run with -json.
func readBaseline(path string) (*baselineRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", err)
	}
	defer f.Close()
	b, err := parseBaseline(f)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	b.File = path
	return b, nil
}

// parseBaseline reads one run's JSON lines. Lines that are not JSON
// objects are skipped, because -json prints its lines after the
// human-readable report on the same output.
func parseBaseline(r io.Reader) (*baselineRun, error) {
	b := &baselineRun{results: map[string]jsonResult{}}
	metas := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBaselineLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch head.Type {
		case "meta":
			var m jsonMeta
			if err := json.Unmarshal(line, &m); err != nil {
				return nil, fmt.Errorf("line %d: meta: %w", n, err)
			}
			metas++
			b.Label, b.Started = m.Label, m.Started
		case "result":
			var res jsonResult
			if err := json.Unmarshal(line, &res); err != nil {
				return nil, fmt.Errorf("line %d: result: %w", n, err)
			}
			if res.Skipped == "" {
				b.results[res.Scenario] = res
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	switch {
	case metas > 1:
		// Results of several runs would silently overwrite each other.
		return nil, fmt.Errorf("holds %d runs; give the output of one run with -json", metas)
	case metas == 0 || len(b.results) == 0:
		return nil, errors.New("no results: want the output of a run with -json")
	}
	return b, nil
}

// measured is what a comparison needs of one scenario's result.
type measured struct {
	RPS         float64
	P99         time.Duration
	Errors      int64
	Concurrency int
}

// comparison is one scenario that ran in this run and in the baseline.
type comparison struct {
	Scenario   string
	This, Base measured
}

// rpsRatio is this run's rate over the baseline's; 0 when the baseline
// measured nothing.
func (c comparison) rpsRatio() float64 {
	if c.Base.RPS <= 0 {
		return 0
	}
	return c.This.RPS / c.Base.RPS
}

// p99Ratio is this run's p99 over the baseline's; 0 when either has none.
func (c comparison) p99Ratio() float64 {
	if c.Base.P99 <= 0 || c.This.P99 <= 0 {
		return 0
	}
	return float64(c.This.P99) / float64(c.Base.P99)
}

// compare pairs the scenarios that ran in both runs, in this run's order.
func compare(results []result, base *baselineRun) []comparison {
	if base == nil {
		return nil
	}
	var out []comparison
	for _, r := range results {
		if r.Skipped != "" {
			continue
		}
		b, ok := base.results[r.Scenario]
		if !ok {
			continue
		}
		out = append(out, comparison{
			Scenario: r.Scenario,
			This:     measured{RPS: r.rps(), P99: r.latency.P99, Errors: r.errors, Concurrency: r.Concurrency},
			Base: measured{RPS: b.RPS, P99: time.Duration(b.P99US * float64(time.Microsecond)),
				Errors: b.Errors, Concurrency: b.Concurrency},
		})
	}
	return out
}

// pairName names the ratio this/baseline by the runs' labels, e.g.
// "postgres/sqlite".
func pairName(thisLabel string, base *baselineRun) string {
	return thisName(thisLabel) + "/" + base.name()
}

// thisName is how the report calls this run beside a baseline.
func thisName(label string) string {
	if label == "" {
		return "this"
	}
	return label
}

// baselineGoals judges the goals of the scenarios compared.
func baselineGoals(cs []comparison, thisLabel string, base *baselineRun) []goal {
	pair := pairName(thisLabel, base)
	var out []goal
	for _, c := range cs {
		var bad []string
		if c.This.Errors > 0 {
			bad = append(bad, c.Scenario)
		}
		if c.Base.Errors > 0 {
			bad = append(bad, base.name()+" "+c.Scenario)
		}
		errored := strings.Join(bad, ", ")
		switch c.Scenario {
		case scIssueREST, scOAuth2Token, scIntrospectREST:
			out = append(out,
				goal{Name: c.Scenario + " req/s " + pair, Value: c.rpsRatio(), Target: goalBaselineRatio, Unit: "x", Errored: errored},
				goal{Name: c.Scenario + " p99 " + pair, Value: c.p99Ratio(), Target: goalBaselineP99Ratio, AtMost: true, Unit: "x", Errored: errored})
		case scRefreshREST:
			out = append(out,
				goal{Name: c.Scenario + " req/s " + pair, Value: c.rpsRatio(), Target: goalRefreshBaselineRatio, Unit: "x", Errored: errored},
				goal{Name: fmt.Sprintf("%s p99 at c=%d", c.Scenario, c.This.Concurrency), Value: millis(c.This.P99),
					Target: millis(goalRefreshP99), AtMost: true, Unit: "ms", Errored: errored})
		}
	}
	return out
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeComparison appends the table of this run against the baseline.
func writeComparison(b *strings.Builder, thisLabel string, base *baselineRun, cs []comparison) error {
	if base == nil {
		return nil
	}
	fmt.Fprintf(b, "\nagainst baseline %q (%s, started %s):\n", base.name(), base.File, base.Started.Format(time.RFC3339))
	if len(cs) == 0 {
		b.WriteString("  no scenario ran in both runs\n")
		return nil
	}
	this := thisName(thisLabel)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  scenario\t%[1]s req/s\t%[2]s req/s\tratio\t%[1]s p99\t%[2]s p99\tratio\t\n", this, base.name())
	for _, c := range cs {
		fmt.Fprintf(tw, "  %s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t\n", c.Scenario, c.This.RPS, c.Base.RPS,
			fmtRatio(c.rpsRatio()), fmtDur(c.This.P99), fmtDur(c.Base.P99), fmtRatio(c.p99Ratio()))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("format comparison: %w", err)
	}
	for _, c := range cs {
		if c.This.Concurrency != c.Base.Concurrency && c.Base.Concurrency > 0 {
			fmt.Fprintf(b, "  note: %s ran with -c %d here, -c %d in the baseline\n", c.Scenario, c.This.Concurrency, c.Base.Concurrency)
		}
	}
	return nil
}

func fmtRatio(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}
