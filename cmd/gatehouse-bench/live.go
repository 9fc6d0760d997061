package main

// A live baseline: a second server loaded in the same run, scenario by
// scenario in alternating order, and used as the baseline of the first.
// On a shared machine whose speed drifts over minutes this compares the
// two at the same moments, where a -baseline FILE from an earlier run
// compares them at different ones.

// liveBaseline is the second server (-baseline-grpc, -baseline-http,
// -baseline-ops, -baseline-label) and its own secrets.
type liveBaseline struct {
	grpcTarget, httpBase, opsBase string
	label                         string
	clientSecret, password        string
}

// liveConfig is the configuration of the live baseline's bench: this
// one's, with the baseline server's targets, label and secrets.
func (c config) liveConfig() config {
	l := c.live
	b := c
	b.grpcTarget, b.httpBase, b.opsBase, b.label = l.grpcTarget, l.httpBase, l.opsBase, l.label
	b.clientSecret, b.password = l.clientSecret, l.password
	b.live = nil
	return b
}

// liveRun makes the live baseline's results the baseline of a comparison,
// as if read from its -json output.
func liveRun(meta runMeta, results []result) *baselineRun {
	b := &baselineRun{File: "(live, same run)", Label: meta.Label, Started: meta.Started, results: map[string]jsonResult{}}
	for _, r := range results {
		if r.Skipped == "" {
			b.results[r.Scenario] = toJSONResult(r)
		}
	}
	return b
}
