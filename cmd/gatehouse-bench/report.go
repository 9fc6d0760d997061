package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// runMeta describes the run for the report header.
type runMeta struct {
	GoVersion  string
	OS, Arch   string
	GOMAXPROCS int
	NumCPU     int
	Started    time.Time
	Flags      []flagValue
	Reference  string // the jwx verifier used, if any
	Yardstick  string // the yardstick server, if it ran
	GRPCFloor  string // the gRPC floor server, if it ran
	HTTPFloor  string // the HTTP floor server, if it ran
	EveryCall  bool   // the server verifies every call (-every-call)
	Label      string
	OpsURL     string       // where the server's RSS was read (-ops), if anywhere
	IdleRSS    uint64       // the server's RSS before setup; 0 without -ops
	Baseline   *baselineRun // the run -baseline names, if any
}

func newRunMeta(cfg config) runMeta {
	return runMeta{
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		Started:    time.Now(),
		Flags:      cfg.shown,
		EveryCall:  cfg.everyCall,
		Label:      cfg.label,
	}
}

// runGoals judges every goal whose scenarios ran: the production-speed
// goals and, with a baseline, the goals against it.
func runGoals(meta runMeta, results []result) []goal {
	gs := goals(results, meta.EveryCall)
	if meta.Baseline != nil {
		gs = append(gs, baselineGoals(compare(results, meta.Baseline), meta.Label, meta.Baseline)...)
	}
	return gs
}

// ratio compares a server scenario's rate with the jwx reference.
type ratio struct {
	Name  string
	Value float64
}

// ratios returns validate-grpc/jwx-verify and validate-rest/jwx-verify for
// the scenarios that ran.
func ratios(results []result) []ratio {
	byName := map[string]result{}
	for _, r := range results {
		if r.Skipped == "" {
			byName[r.Scenario] = r
		}
	}
	ref, ok := byName[scJWXVerify]
	if !ok || ref.rps() <= 0 {
		return nil
	}
	var out []ratio
	for _, name := range []string{scValidateGRPC, scValidateREST} {
		if r, ok := byName[name]; ok {
			out = append(out, ratio{Name: name + "/" + scJWXVerify, Value: r.rps() / ref.rps()})
		}
	}
	return out
}

// fmtDur prints a latency with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// writeReport prints the human-readable report.
func writeReport(w io.Writer, meta runMeta, results []result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gatehouse-bench  %s %s/%s  GOMAXPROCS=%d  NumCPU=%d  started %s\n",
		meta.GoVersion, meta.OS, meta.Arch, meta.GOMAXPROCS, meta.NumCPU, meta.Started.Format(time.RFC3339))
	flags := make([]string, len(meta.Flags))
	for i, f := range meta.Flags {
		flags[i] = "-" + f.Name + "=" + f.Value
	}
	fmt.Fprintf(&b, "flags: %s\n", strings.Join(flags, " "))
	if meta.Label != "" {
		fmt.Fprintf(&b, "label: %s\n", meta.Label)
	}
	if meta.OpsURL != "" {
		fmt.Fprintf(&b, "server RSS: %s idle (before setup), from %s %s\n", fmtBytes(meta.IdleRSS), meta.OpsURL, rssMetric)
	}
	if meta.Reference != "" {
		fmt.Fprintf(&b, "reference: %s\n", meta.Reference)
	}
	if meta.HTTPFloor != "" {
		fmt.Fprintf(&b, "http floor: %s\n", meta.HTTPFloor)
	}
	if meta.Yardstick != "" {
		fmt.Fprintf(&b, "yardstick: %s\n", meta.Yardstick)
	}
	if meta.GRPCFloor != "" {
		fmt.Fprintf(&b, "grpc floor: %s\n", meta.GRPCFloor)
	}
	b.WriteString("\n")

	// The peak RSS column only when it was measured (-ops).
	withRSS := meta.OpsURL != ""
	rssCol := func(v string) string {
		if !withRSS {
			return ""
		}
		return v + "\t"
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\terrors\treq/s\tp50\tp90\tp99\tmax\t"+rssCol("peak RSS"))
	for _, r := range results {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.Scenario, rssCol("-"))
			continue
		}
		l := r.latency
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\n",
			r.Scenario, r.requests(), r.errors, r.rps(), fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P99), fmtDur(l.Max), rssCol(fmtBytes(r.PeakRSS)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("format table: %w", err)
	}
	b.WriteString("req/s counts successful calls; percentiles are over successful calls.\n")
	if roundsRan(results) {
		b.WriteString("each row is the scenario's median round (errors: all rounds); req/s of every round:\n")
		for _, r := range results {
			if len(r.RoundsRPS) > 1 {
				rates := make([]string, len(r.RoundsRPS))
				for i, v := range r.RoundsRPS {
					rates[i] = fmt.Sprintf("%.0f", v)
				}
				fmt.Fprintf(&b, "  %-16s %s\n", r.Scenario, strings.Join(rates, " / "))
			}
		}
	}

	for _, r := range results {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "%s skipped: %s\n", r.Scenario, r.Skipped)
		}
	}
	for _, r := range results {
		if r.errors == 0 {
			continue
		}
		kinds := sortedKinds(r.byKind)
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%s ×%d", k, r.byKind[k])
		}
		fmt.Fprintf(&b, "%s errors: %s\n  first: %s\n", r.Scenario, strings.Join(parts, ", "), r.firstError)
	}
	writeRatios(&b, "server rate relative to jwx's in-process verify rate", ratios(results))
	writeRatios(&b, "REST rates relative to this machine's HTTP floor (http-floor)", floorRatios(results))
	writeRatios(&b, "gRPC rates relative to this machine's gRPC floor (grpc-floor: a default grpc-go server doing no\nwork; grpc-floor/yardstick-grpc is what such a server would score against the yardstick)", grpcFloorRatios(results))
	if rps, p99, ok := yardstickRatios(results); ok {
		mode := "repeated tokens (server verify cache on)"
		if meta.EveryCall {
			mode = "every call verifies (server --verify-cache-size 0)"
		}
		fmt.Fprintf(&b, "\nvalidate-grpc relative to the jwx yardstick, %s:\n", mode)
		fmt.Fprintf(&b, "  %-28s %.3f\n  %-28s %.3f\n", "req/s ratio", rps, "p99 ratio", p99)
	}
	if err := writeComparison(&b, meta.Label, meta.Baseline, compare(results, meta.Baseline)); err != nil {
		return err
	}
	if err := writeGoals(&b, runGoals(meta, results)); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err // the caller names what it was writing
}

// jsonResult is one JSON line per scenario.
type jsonResult struct {
	Type         string           `json:"type"`
	Scenario     string           `json:"scenario"`
	Skipped      string           `json:"skipped,omitempty"`
	Concurrency  int              `json:"concurrency,omitempty"`
	ElapsedS     float64          `json:"elapsed_s"`
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
	FirstError   string           `json:"first_error,omitempty"`
	RPS          float64          `json:"rps"`
	MinUS        float64          `json:"min_us"`
	MeanUS       float64          `json:"mean_us"`
	P50US        float64          `json:"p50_us"`
	P90US        float64          `json:"p90_us"`
	P99US        float64          `json:"p99_us"`
	MaxUS        float64          `json:"max_us"`
	PeakRSS      uint64           `json:"peak_rss_bytes,omitempty"` // with -ops
	RoundsRPS    []float64        `json:"rounds_rps,omitempty"`     // with -rounds above 1
}

type jsonMeta struct {
	Type       string            `json:"type"`
	Go         string            `json:"go"`
	OS         string            `json:"os"`
	Arch       string            `json:"arch"`
	GOMAXPROCS int               `json:"gomaxprocs"`
	NumCPU     int               `json:"num_cpu"`
	Started    time.Time         `json:"started"`
	Flags      map[string]string `json:"flags"`
	Reference  string            `json:"reference,omitempty"`
	Yardstick  string            `json:"yardstick,omitempty"`
	HTTPFloor  string            `json:"http_floor,omitempty"`
	GRPCFloor  string            `json:"grpc_floor,omitempty"`
	EveryCall  bool              `json:"every_call"`
	Label      string            `json:"label,omitempty"`
	IdleRSS    uint64            `json:"idle_rss_bytes,omitempty"` // with -ops
	Baseline   *jsonBaselineRef  `json:"baseline,omitempty"`
}

// jsonBaselineRef names the run -baseline compared with.
type jsonBaselineRef struct {
	File    string    `json:"file"`
	Label   string    `json:"label,omitempty"`
	Started time.Time `json:"started"`
}

// jsonComparison is one scenario against the baseline.
type jsonComparison struct {
	Type          string  `json:"type"` // "baseline"
	Scenario      string  `json:"scenario"`
	RPS           float64 `json:"rps"`
	BaselineRPS   float64 `json:"baseline_rps"`
	RPSRatio      float64 `json:"rps_ratio"`
	P99US         float64 `json:"p99_us"`
	BaselineP99US float64 `json:"baseline_p99_us"`
	P99Ratio      float64 `json:"p99_ratio"`
}

type jsonGoal struct {
	Type   string  `json:"type"`
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	AtMost bool    `json:"at_most,omitempty"`
	Met    bool    `json:"met"`
	Errors string  `json:"errors_in,omitempty"`
}

type jsonRatio struct {
	Type  string  `json:"type"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// writeJSON prints a "meta" line, one "result" line per scenario, one
// "ratio" line per ratio, one "baseline" line per scenario compared with
// the baseline and one "goal" line per goal judged.
func writeJSON(w io.Writer, meta runMeta, results []result) error {
	enc := json.NewEncoder(w)
	flags := make(map[string]string, len(meta.Flags))
	for _, f := range meta.Flags {
		flags[f.Name] = f.Value
	}
	jm := jsonMeta{
		Type: "meta", Go: meta.GoVersion, OS: meta.OS, Arch: meta.Arch,
		GOMAXPROCS: meta.GOMAXPROCS, NumCPU: meta.NumCPU, Started: meta.Started,
		Flags: flags, Reference: meta.Reference, Yardstick: meta.Yardstick, HTTPFloor: meta.HTTPFloor, GRPCFloor: meta.GRPCFloor, EveryCall: meta.EveryCall,
		Label: meta.Label, IdleRSS: meta.IdleRSS,
	}
	if b := meta.Baseline; b != nil {
		jm.Baseline = &jsonBaselineRef{File: b.File, Label: b.Label, Started: b.Started}
	}
	if err := enc.Encode(jm); err != nil {
		return fmt.Errorf("encode meta: %w", err)
	}
	for _, r := range results {
		if err := enc.Encode(toJSONResult(r)); err != nil {
			return fmt.Errorf("encode result %s: %w", r.Scenario, err)
		}
	}
	rs := slices.Concat(ratios(results), floorRatios(results), grpcFloorRatios(results))
	if rps, p99, ok := yardstickRatios(results); ok {
		rs = append(rs,
			ratio{Name: scValidateGRPC + "/" + scYardstickGRPC, Value: rps},
			ratio{Name: scValidateGRPC + "/" + scYardstickGRPC + " p99", Value: p99})
	}
	for _, q := range rs {
		if err := enc.Encode(jsonRatio{Type: "ratio", Name: q.Name, Value: q.Value}); err != nil {
			return fmt.Errorf("encode ratio %s: %w", q.Name, err)
		}
	}
	for _, c := range compare(results, meta.Baseline) {
		line := jsonComparison{
			Type: "baseline", Scenario: c.Scenario, RPS: c.This.RPS, BaselineRPS: c.Base.RPS, RPSRatio: c.rpsRatio(),
			P99US: us(c.This.P99), BaselineP99US: us(c.Base.P99), P99Ratio: c.p99Ratio(),
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("encode baseline %s: %w", c.Scenario, err)
		}
	}
	for _, g := range runGoals(meta, results) {
		line := jsonGoal{Type: "goal", Name: g.Name, Value: g.Value, Target: g.Target, AtMost: g.AtMost, Met: g.Met(), Errors: g.Errored}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("encode goal %s: %w", g.Name, err)
		}
	}
	return nil
}

// roundsRan reports whether any scenario ran more than one round.
func roundsRan(results []result) bool {
	return slices.ContainsFunc(results, func(r result) bool { return len(r.RoundsRPS) > 1 })
}

// writeRatios appends a titled list of ratios; nothing when there is none.
func writeRatios(b *strings.Builder, title string, rs []ratio) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	for _, q := range rs {
		fmt.Fprintf(b, "  %-28s %.3f\n", q.Name, q.Value)
	}
}

// toJSONResult is the JSON line of a result.
func toJSONResult(r result) jsonResult {
	l := r.latency
	line := jsonResult{
		Type: "result", Scenario: r.Scenario, Skipped: r.Skipped, Concurrency: r.Concurrency,
		ElapsedS: r.Elapsed.Seconds(), Requests: r.requests(), OK: r.ok, Errors: r.errors,
		FirstError: r.firstError, RPS: r.rps(),
		MinUS: us(l.Min), MeanUS: us(l.Mean), P50US: us(l.P50), P90US: us(l.P90), P99US: us(l.P99), MaxUS: us(l.Max),
		PeakRSS: r.PeakRSS, RoundsRPS: r.RoundsRPS,
	}
	if len(r.byKind) > 0 {
		line.ErrorsByKind = r.byKind
	}
	return line
}
