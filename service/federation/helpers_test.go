package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store"
)

// fakeClock is a settable clock shared by the IdP and the Verifier.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock starts at the real time (whole seconds), so tokens of an IdP
// on the real clock are valid for it too.
func newClock() *fakeClock {
	return &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count counts lines holding every one of parts.
func (b *logBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// harness is one Verifier with its clock, metrics and logs.
type harness struct {
	t     *testing.T
	clock *fakeClock
	v     *Verifier
	reg   *prometheus.Registry
	logs  *logBuffer
}

func newHarness(t *testing.T, opts Options, issuers ...store.TrustedIssuer) *harness {
	t.Helper()
	return newHarnessClock(t, newClock(), opts, issuers...)
}

// newHarnessClock is newHarness on a given clock (shared with an IdP); a
// nil clock means the real one (for tests of the jwk.Cache's schedule,
// which runs on real time).
func newHarnessClock(t *testing.T, clock *fakeClock, opts Options, issuers ...store.TrustedIssuer) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock, reg: prometheus.NewRegistry(), logs: &logBuffer{}}
	opts.Metrics = NewMetrics(h.reg)
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	h.v = New(opts, log, now)
	t.Cleanup(h.v.Close)
	h.v.SetIssuers(issuers)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("verifier log:\n%s", h.logs.String())
		}
	})
	return h
}

// run starts Run with a short schedule look-ahead; it stops at cleanup.
func (h *harness) run() {
	h.v.maxSleep = 2 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.v.Run(ctx)
		close(done)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
}

func (h *harness) verify(token string) (*Verified, error) {
	return h.v.Verify(context.Background(), token)
}

func (h *harness) mustVerify(token string) *Verified {
	h.t.Helper()
	got, err := h.verify(token)
	if err != nil {
		h.t.Fatalf("Verify: %v", err)
	}
	return got
}

// refreshNow fetches iss's keys as Run would, and returns the result.
func (h *harness) refreshNow(iss string) error {
	e := h.v.lookup(iss)
	if e == nil {
		h.t.Fatalf("issuer %s is not configured", iss)
	}
	return h.v.refresh(context.Background(), e.ks, false, nil)
}

func (h *harness) status(iss string) IssuerStatus {
	h.t.Helper()
	for _, s := range h.v.Status() {
		if s.Issuer == iss {
			return s
		}
	}
	h.t.Fatalf("no status for %s", iss)
	return IssuerStatus{}
}

// metric returns the value of the series of name with exactly labels (0 if
// absent).
func (h *harness) metric(name string, labels map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsEqual(m.GetLabel(), labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func labelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// v2Issuer trusts idp's v2.0 issuer, found by discovery.
func v2Issuer(idp *fakeidp.IdP) store.TrustedIssuer {
	return store.TrustedIssuer{ID: "entra-v2", Issuer: idp.IssuerV2(), Audiences: []string{idp.Audience()}}
}

// v1Issuer trusts idp's v1.0 issuer (https://sts.windows.net/<tenant>/)
// with its jwks_uri configured.
func v1Issuer(idp *fakeidp.IdP) store.TrustedIssuer {
	return store.TrustedIssuer{ID: "entra-v1", Issuer: idp.IssuerV1(), JWKSURI: idp.JWKSURI(), Audiences: []string{idp.Audience()}}
}

// withKid replaces the header of a compact token by one naming kid; the
// signature no longer matches, which does not matter for unknown kids.
func withKid(token, kid string) string {
	_, rest, _ := strings.Cut(token, ".")
	h := `{"typ":"JWT","alg":"RS256","kid":"` + kid + `"}`
	return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + rest
}

// wantErr checks err is an *errs.Error of kind whose message contains every
// one of parts and never the token.
func wantErr(t *testing.T, err error, token string, kind errs.Kind, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify succeeded, want a %s error containing %q", kind, parts)
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
	}
	if e.Kind != kind {
		t.Errorf("kind = %s, want %s (message %q)", e.Kind, kind, e.Message)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Errorf("message %q does not contain %q", e.Message, p)
		}
	}
	if token != "" {
		for _, seg := range strings.Split(token, ".") {
			if len(seg) > 16 && strings.Contains(e.Message, seg) {
				t.Errorf("message %q contains a token segment", e.Message)
			}
		}
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 5*time.Second, what, cond)
}

// eventuallyWithin polls cond for up to d.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// never checks cond stays false for d.
func never(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("unexpectedly: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func randomKid() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
