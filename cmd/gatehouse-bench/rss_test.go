package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const exposition = `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.5459840e+07
# HELP process_resident_memory_bytes_max made up, to catch prefix matches
process_resident_memory_bytes_max 9e+09
`

func TestParseRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr string
	}{
		{name: "client_golang exposition", in: exposition, want: 55_459_840},
		{name: "plain integer with a timestamp", in: "process_resident_memory_bytes 1048576 1700000000000\n", want: 1 << 20},
		{name: "prefix-alike name first", in: "process_resident_memory_bytes_max 9e9\nprocess_resident_memory_bytes 2e6\n", want: 2_000_000},
		{name: "missing", in: "go_goroutines 12\n", wantErr: "no process_resident_memory_bytes"},
		{name: "empty", in: "", wantErr: "no process_resident_memory_bytes"},
		{name: "bad value", in: "process_resident_memory_bytes lots\n", wantErr: `bad value "lots"`},
		{name: "negative", in: "process_resident_memory_bytes -1\n", wantErr: "bad value"},
		{name: "NaN", in: "process_resident_memory_bytes NaN\n", wantErr: "bad value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRSS(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseRSS = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// fakeOps serves /metrics with an RSS that grows by 1 MiB per scrape from
// 10 MiB; missing drops the metric, status answers that code instead.
type fakeOps struct {
	scrapes atomic.Int64
	missing bool
	status  int
	url     string
}

func newFakeOps(t *testing.T, configure func(*fakeOps)) *fakeOps {
	t.Helper()
	f := &fakeOps{}
	if configure != nil {
		configure(f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		n := f.scrapes.Add(1)
		if f.status != 0 {
			http.Error(w, "nope", f.status)
			return
		}
		fmt.Fprintln(w, "go_goroutines 7")
		if !f.missing {
			fmt.Fprintf(w, "process_resident_memory_bytes %d\n", (9+n)<<20)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func probeOf(t *testing.T, raw string) rssProbe {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := newRSSProbe(u, false)
	t.Cleanup(p.hc.CloseIdleConnections)
	return p
}

func TestRSSProbeRead(t *testing.T) {
	ok := newFakeOps(t, nil)
	for _, base := range []string{ok.url, ok.url + "/", ok.url + "/metrics"} {
		p := probeOf(t, base)
		if p.url != ok.url+"/metrics" {
			t.Errorf("probe of %q reads %q", base, p.url)
		}
		if v, err := p.read(t.Context()); err != nil || v < 10<<20 {
			t.Errorf("read = %d, %v", v, err)
		}
	}

	missing := newFakeOps(t, func(f *fakeOps) { f.missing = true })
	if _, err := probeOf(t, missing.url).read(t.Context()); !errors.Is(err, errNoRSSMetric) || !strings.Contains(err.Error(), missing.url) {
		t.Errorf("without the metric: err = %v", err)
	}
	notFound := newFakeOps(t, func(f *fakeOps) { f.status = http.StatusNotFound })
	if _, err := probeOf(t, notFound.url).read(t.Context()); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("404: err = %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if _, err := probeOf(t, closed.URL).read(t.Context()); err == nil {
		t.Error("read from a closed listener succeeded")
	}
}

func TestPeakDuring(t *testing.T) {
	f := newFakeOps(t, nil)
	p := probeOf(t, f.url)
	ran := false
	peak := p.peakDuring(t.Context(), func() {
		time.Sleep(3*rssEvery + rssEvery/2)
		ran = true
	})
	if !ran {
		t.Fatal("fn did not run")
	}
	n := f.scrapes.Load()
	// Right away, three ticks and the final sample; a busy machine may
	// drop a tick or two.
	if peak.Samples < 3 || int64(peak.Samples) != n || peak.Failed != 0 || peak.Err != nil {
		t.Fatalf("peak = %+v after %d scrapes", peak, n)
	}
	if want := uint64(9+n) << 20; peak.Bytes != want {
		t.Errorf("peak = %d, want the last and largest sample %d", peak.Bytes, want)
	}

	bad := newFakeOps(t, func(f *fakeOps) { f.status = http.StatusInternalServerError })
	peak = probeOf(t, bad.url).peakDuring(t.Context(), func() {})
	if peak.Bytes != 0 || peak.Samples != 0 || peak.Failed < 2 || peak.Err == nil {
		t.Errorf("failing probe: %+v", peak)
	}
}

func TestFmtBytes(t *testing.T) {
	for in, want := range map[uint64]string{0: "-", 1 << 20: "1.0 MiB", 55_459_840: "52.9 MiB"} {
		if got := fmtBytes(in); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestRunReportsServerRSS(t *testing.T) {
	f := newFakeGatehouse(t)
	ops := newFakeOps(t, nil)
	var out, errb bytes.Buffer
	args := []string{"-http", f.httpURL, "-c", "2", "-d", "600ms", "-scenarios", "issue-rest", "-ops", ops.url, "-json"}
	if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstderr:\n%s", code, errb.String())
	}
	for _, want := range []string{"server RSS: 10.0 MiB idle (before setup), from " + ops.url + "/metrics", "peak RSS", "-ops=" + ops.url} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	recs := jsonLines(t, out.String())
	if idle := recs["meta"][0]["idle_rss_bytes"]; idle != float64(10<<20) {
		t.Errorf("idle_rss_bytes = %v, want %d", idle, 10<<20)
	}
	// The idle sample, then at least one right away and one at the end.
	if peak, _ := recs["result"][0]["peak_rss_bytes"].(float64); peak < 12<<20 {
		t.Errorf("peak_rss_bytes = %v, want at least the third sample's %d", peak, 12<<20)
	}
}

func TestRunOpsSetupErrors(t *testing.T) {
	f := newFakeGatehouse(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name string
		ops  string
		code int
		want []string
	}{
		{"metric missing", newFakeOps(t, func(f *fakeOps) { f.missing = true }).url, exitFailure,
			[]string{"setup: -ops", "no process_resident_memory_bytes"}},
		{"unreachable", closed.URL, exitFailure, []string{"setup: -ops " + closed.URL, "connection refused"}},
		{"not loopback", "http://192.0.2.1:9090", exitUsage, []string{"-ops:", "not a loopback address"}},
		{"not a URL", "127.0.0.1:9090", exitUsage, []string{"-ops:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{"-http", f.httpURL, "-c", "1", "-d", "100ms", "-scenarios", "issue-rest", "-ops", tt.ops}
			if code := run(t.Context(), args, credsEnv, &out, &errb); code != tt.code {
				t.Fatalf("exit = %d, want %d\nstderr:\n%s", code, tt.code, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if out.Len() != 0 {
				t.Errorf("a report although setup failed:\n%s", out.String())
			}
		})
	}
}
