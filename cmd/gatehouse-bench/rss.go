package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// rssMetric is the process collector's gauge of the server's resident
	// set size (Prometheus text format, no labels).
	rssMetric = "process_resident_memory_bytes"
	// rssEvery is the sampling interval during a scenario: often enough
	// to catch a peak of a 5-10 s run, rare enough not to load the server.
	rssEvery       = 250 * time.Millisecond
	rssReadTimeout = 2 * time.Second
	maxMetrics     = 8 << 20 // bytes of /metrics read at most
)

// errNoRSSMetric: /metrics answered without the RSS gauge (e.g. a server
// on a platform without the process collector).
var errNoRSSMetric = errors.New("no " + rssMetric + " in the answer")

// rssProbe reads the server's RSS from its ops listener.
type rssProbe struct {
	hc  *http.Client
	url string // the /metrics URL
}

// newRSSProbe returns a probe of the ops listener at base (its /metrics
// is appended unless base already ends in it).
func newRSSProbe(base *url.URL, allowRemote bool) rssProbe {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/metrics") {
		u.Path += "/metrics"
	}
	hc := newHTTPClient(1, allowRemote)
	hc.Timeout = rssReadTimeout
	return rssProbe{hc: hc, url: u.String()}
}

// read fetches /metrics once and returns the RSS in bytes.
func (p rssProbe) read(ctx context.Context) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	// Ask for the text format explicitly: parseRSS reads nothing else.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, err // *url.Error already names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		return 0, fmt.Errorf("GET %s: %w", p.url, &httpStatusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))})
	}
	rss, err := parseRSS(io.LimitReader(resp.Body, maxMetrics))
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", p.url, err)
	}
	// Let the next sample reuse the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetrics))
	return rss, nil
}

// parseRSS finds the RSS gauge in a Prometheus text exposition. One
// unlabelled gauge needs no exposition parser: its sample line is the
// name, a space and the value (and perhaps a timestamp).
func parseRSS(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), rssMetric)
		if !ok || !strings.HasPrefix(rest, " ") {
			continue // another metric, or one whose name merely starts alike
		}
		fields := strings.Fields(rest)
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("%s: bad value %q", rssMetric, fields[0])
		}
		return uint64(v), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	return 0, errNoRSSMetric
}

// rssPeak is what sampling during a scenario saw.
type rssPeak struct {
	Bytes   uint64 // the largest sample; 0 when none succeeded
	Samples int    // successful samples
	Failed  int
	Err     error // the first failure
}

// peakDuring runs fn and samples the RSS right away, every rssEvery while
// fn runs, and once more when it returned.
func (p rssProbe) peakDuring(ctx context.Context, fn func()) rssPeak {
	var (
		mu   sync.Mutex
		peak rssPeak
	)
	sample := func() {
		rctx, cancel := context.WithTimeout(ctx, rssReadTimeout)
		defer cancel()
		v, err := p.read(rctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			peak.Failed++
			if peak.Err == nil {
				peak.Err = err
			}
			return
		}
		peak.Samples++
		peak.Bytes = max(peak.Bytes, v)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	sample() // the state at the end, after any in-flight sample
	return peak
}

// fmtBytes prints a memory size in MiB.
func fmtBytes(n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
