package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// baselineOf is a baseline run holding the given results, as written by
// writeJSON and read back.
func baselineOf(t *testing.T, label string, results ...result) *baselineRun {
	t.Helper()
	var out bytes.Buffer
	if err := writeJSON(&out, runMeta{Label: label, Started: time.Now()}, results); err != nil {
		t.Fatal(err)
	}
	b, err := parseBaseline(&out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resC is res with the concurrency set.
func resC(name string, ok, errors int64, p99 time.Duration, c int) result {
	r := res(name, ok, errors, p99)
	r.Concurrency = c
	return r
}

func TestParseBaseline(t *testing.T) {
	meta := `{"type":"meta","label":"sqlite","started":"2026-12-01T10:00:00Z","flags":{}}`
	result := `{"type":"result","scenario":"issue-rest","concurrency":16,"ok":100,"errors":0,"rps":7425.5,"p99_us":7400}`
	skipped := `{"type":"result","scenario":"yardstick-grpc","skipped":"no JWKS","rps":0}`
	tests := []struct {
		name      string
		in        string
		wantErr   string
		wantLabel string
		wantRuns  []string
	}{
		{name: "report and JSON lines mixed", in: strings.Join([]string{
			"gatehouse-bench  go1.26 linux/amd64", "scenario  requests", meta, result, skipped,
			`{"type":"goal","name":"issue-rest req/s","value":7425,"target":10000,"met":false}`}, "\n"),
			wantLabel: "sqlite", wantRuns: []string{scIssueREST}},
		{name: "without a label", in: `{"type":"meta","flags":{}}` + "\n" + result, wantRuns: []string{scIssueREST}},
		{name: "empty", in: "", wantErr: "no results"},
		{name: "report only", in: "scenario requests errors\nissue-rest 100 0\n", wantErr: "no results"},
		{name: "only skipped", in: meta + "\n" + skipped, wantErr: "no results"},
		{name: "results without meta", in: result, wantErr: "no results"},
		{name: "two runs", in: strings.Join([]string{meta, result, meta, result}, "\n"), wantErr: "holds 2 runs"},
		{name: "broken line", in: meta + "\n{\"type\":\"result\",", wantErr: "line 2"},
		{name: "wrong field type", in: meta + "\n" + `{"type":"result","scenario":"issue-rest","rps":"fast"}`, wantErr: "line 2: result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := parseBaseline(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Label != tt.wantLabel {
				t.Errorf("label = %q, want %q", b.Label, tt.wantLabel)
			}
			if len(b.results) != len(tt.wantRuns) {
				t.Errorf("results = %v, want %v", b.results, tt.wantRuns)
			}
			for _, name := range tt.wantRuns {
				if _, ok := b.results[name]; !ok {
					t.Errorf("no result for %s", name)
				}
			}
		})
	}
}

func TestReadBaselineFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := readBaseline(filepath.Join(dir, "missing.jsonl")); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: err = %v", err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readBaseline(empty); err == nil || !strings.Contains(err.Error(), "empty.jsonl: no results") {
		t.Errorf("empty file: err = %v", err)
	}
}

func TestCompare(t *testing.T) {
	ms := time.Millisecond
	base := baselineOf(t, "sqlite",
		resC(scIntrospectREST, 20_000, 0, 2*ms, 16),
		resC(scIssueREST, 8_000, 0, 4*ms, 16),
		result{Scenario: scValidateGRPC, Skipped: "interrupted"})
	this := []result{
		resC(scValidateGRPC, 30_000, 0, ms, 16), // skipped in the baseline
		resC(scIssueREST, 6_000, 0, 5*ms, 16),
		{Scenario: scRefreshREST, Skipped: "interrupted"},
		resC(scIntrospectREST, 25_000, 0, 3*ms, 4),
	}
	cs := compare(this, base)
	if len(cs) != 2 || cs[0].Scenario != scIssueREST || cs[1].Scenario != scIntrospectREST {
		t.Fatalf("comparisons = %+v, want issue-rest and introspect-rest in this run's order", cs)
	}
	if got := cs[0].rpsRatio(); got != 0.75 {
		t.Errorf("issue-rest req/s ratio = %v, want 0.75", got)
	}
	if got := cs[0].p99Ratio(); got != 1.25 {
		t.Errorf("issue-rest p99 ratio = %v, want 1.25", got)
	}
	if compare(this, nil) != nil {
		t.Error("comparisons without a baseline")
	}

	var b strings.Builder
	if err := writeComparison(&b, "postgres", base, cs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`against baseline "sqlite"`, "postgres req/s", "sqlite p99", "0.75x", "1.25x", "1.50x",
		"note: introspect-rest ran with -c 4 here, -c 16 in the baseline"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "note: issue-rest") {
		t.Errorf("note on a scenario run with the same -c:\n%s", b.String())
	}
}

func TestBaselineGoals(t *testing.T) {
	ms := time.Millisecond
	type want struct {
		name string
		met  bool
	}
	tests := []struct {
		name      string
		thisLabel string
		base      []result
		this      []result
		want      []want
	}{
		{name: "nothing comparable", base: []result{res(scValidateGRPC, 100, 0, ms)}, this: []result{res(scValidateGRPC, 100, 0, ms)}},
		{name: "parity met", thisLabel: "postgres",
			base: []result{res(scIssueREST, 1000, 0, 4*ms), res(scIntrospectREST, 2000, 0, 2*ms)},
			this: []result{res(scIssueREST, 900, 0, 8*ms), res(scIntrospectREST, 2500, 0, ms)},
			want: []want{{"issue-rest req/s postgres/sqlite", true}, {"issue-rest p99 postgres/sqlite", true},
				{"introspect-rest req/s postgres/sqlite", true}, {"introspect-rest p99 postgres/sqlite", true}}},
		{name: "parity missed", thisLabel: "postgres",
			base: []result{res(scIssueREST, 1000, 0, 4*ms)},
			this: []result{res(scIssueREST, 899, 0, 9*ms)},
			want: []want{{"issue-rest req/s postgres/sqlite", false}, {"issue-rest p99 postgres/sqlite", false}}},
		{name: "unlabelled run", base: []result{res(scIssueREST, 1000, 0, 4*ms)}, this: []result{res(scIssueREST, 1000, 0, 4*ms)},
			want: []want{{"issue-rest req/s this/sqlite", true}, {"issue-rest p99 this/sqlite", true}}},
		{name: "refresh met", thisLabel: "postgres",
			base: []result{resC(scRefreshREST, 1000, 0, 40*ms, 16)},
			this: []result{resC(scRefreshREST, 1000, 0, 30*ms, 16)},
			want: []want{{"refresh-rest req/s postgres/sqlite", true}, {"refresh-rest p99 at c=16", true}}},
		{name: "refresh slower and slow p99", thisLabel: "postgres",
			base: []result{resC(scRefreshREST, 1000, 0, 10*ms, 16)},
			this: []result{resC(scRefreshREST, 999, 0, 31*ms, 16)},
			want: []want{{"refresh-rest req/s postgres/sqlite", false}, {"refresh-rest p99 at c=16", false}}},
		{name: "errors in the baseline spoil a met goal", thisLabel: "postgres",
			base: []result{res(scIntrospectREST, 1000, 2, ms)},
			this: []result{res(scIntrospectREST, 5000, 0, ms)},
			want: []want{{"introspect-rest req/s postgres/sqlite", false}, {"introspect-rest p99 postgres/sqlite", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := baselineOf(t, "sqlite", tt.base...)
			got := baselineGoals(compare(tt.this, base), tt.thisLabel, base)
			if len(got) != len(tt.want) {
				t.Fatalf("goals = %+v, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Name != w.name || got[i].Met() != w.met {
					t.Errorf("goal %d = %q met %v, want %q met %v (%+v)", i, got[i].Name, got[i].Met(), w.name, w.met, got[i])
				}
			}
		})
	}
}

func TestBaselineErrorsNamed(t *testing.T) {
	base := baselineOf(t, "sqlite", res(scIssueREST, 1000, 1, time.Millisecond))
	gs := baselineGoals(compare([]result{res(scIssueREST, 1000, 3, time.Millisecond)}, base), "postgres", base)
	var b strings.Builder
	if err := writeGoals(&b, gs); err != nil {
		t.Fatal(err)
	}
	if want := "no (errors in issue-rest, sqlite issue-rest)"; !strings.Contains(b.String(), want) {
		t.Errorf("goals table lacks %q:\n%s", want, b.String())
	}
}

func TestRunAgainstBaseline(t *testing.T) {
	f := newFakeGatehouse(t)
	common := []string{"-http", f.httpURL, "-c", "2", "-d", "150ms", "-scenarios", "issue-rest", "-json"}
	var first, errb bytes.Buffer
	if code := run(t.Context(), append(common, "-label", "sqlite"), credsEnv, &first, &errb); code != exitOK {
		t.Fatalf("first run: exit = %d\nstderr:\n%s", code, errb.String())
	}
	file := filepath.Join(t.TempDir(), "sqlite.out")
	// The whole output, report included, as a shell redirect would keep it.
	if err := os.WriteFile(file, first.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	errb.Reset()
	if code := run(t.Context(), append(common, "-label", "postgres", "-baseline", file), credsEnv, &out, &errb); code != exitOK {
		t.Fatalf("second run: exit = %d\nstderr:\n%s", code, errb.String())
	}
	for _, want := range []string{"label: postgres", `against baseline "sqlite" (` + file, "postgres req/s", "issue-rest req/s postgres/sqlite", "issue-rest p99 postgres/sqlite"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	recs := jsonLines(t, out.String())
	meta := recs["meta"][0]
	if meta["label"] != "postgres" {
		t.Errorf("meta label = %v", meta["label"])
	}
	if ref, _ := meta["baseline"].(map[string]any); ref["label"] != "sqlite" || ref["file"] != file {
		t.Errorf("meta baseline = %v", meta["baseline"])
	}
	if len(recs["baseline"]) != 1 || recs["baseline"][0]["scenario"] != scIssueREST || recs["baseline"][0]["rps_ratio"].(float64) <= 0 {
		t.Errorf("baseline lines = %v", recs["baseline"])
	}
	var names []string
	for _, g := range recs["goal"] {
		names = append(names, g["name"].(string))
	}
	if !slices.Contains(names, "issue-rest req/s postgres/sqlite") || !slices.Contains(names, "issue-rest p99 postgres/sqlite") {
		t.Errorf("goal lines = %v", names)
	}
}

func TestRunBaselineUnreadable(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	args := []string{"-http", f.httpURL, "-d", "100ms", "-scenarios", "issue-rest", "-baseline", filepath.Join(t.TempDir(), "nope.jsonl")}
	if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitUsage {
		t.Fatalf("exit = %d, want %d\nstderr:\n%s", code, exitUsage, errb.String())
	}
	if !strings.Contains(errb.String(), "-baseline: read baseline:") || out.Len() != 0 {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
}
