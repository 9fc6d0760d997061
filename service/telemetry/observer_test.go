package telemetry_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/telemetry"
)

func TestObserverCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := telemetry.NewObserver(reg)
	ctx := context.Background()
	for _, e := range []core.Event{
		{Type: core.EventTokenValidated},
		{Type: core.EventTokenValidated, Reason: core.ReasonExpired},
		{Type: core.EventTokenValidated, Reason: "brand_new_reason"},
		{Type: core.EventTokenIssued, Grant: core.GrantPassword},
		{Type: core.EventLoginFailed, Kind: core.KindClient, Reason: core.ReasonBadCredentials},
		{Type: core.EventLockout, Kind: core.KindUser},
		{Type: core.EventTokenExchanged},
		{Type: core.EventTokenRevoked},
		{Type: core.EventLoginSucceeded, Kind: core.KindUser},
	} {
		o.Observe(ctx, e)
	}
	text := scrape(reg)
	for _, want := range []string{
		`gatehouse_token_validations_total{reason="none",result="valid"} 1`,
		`gatehouse_token_validations_total{reason="expired",result="invalid"} 1`,
		`gatehouse_token_validations_total{reason="brand_new_reason",result="invalid"} 1`,
		`gatehouse_token_validations_total{reason="signature",result="invalid"} 0`,
		`gatehouse_tokens_issued_total{grant="password"} 1`,
		`gatehouse_login_failures_total{kind="client",reason="bad_credentials"} 1`,
		`gatehouse_lockouts_total{kind="user"} 1`,
		`gatehouse_token_exchanges_total 1`,
		`gatehouse_token_revocations_total 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
}

// TestObserveValidationAllocs: the hot path's event costs no allocation.
func TestObserveValidationAllocs(t *testing.T) {
	o := telemetry.NewObserver(prometheus.NewRegistry())
	ctx := context.Background()
	for _, e := range []core.Event{
		{Type: core.EventTokenValidated},
		{Type: core.EventTokenValidated, Reason: core.ReasonExpired},
	} {
		if n := testing.AllocsPerRun(100, func() { o.Observe(ctx, e) }); n != 0 {
			t.Errorf("Observe(%s %q): %v allocations", e.Type, e.Reason, n)
		}
	}
}

func TestRequestID(t *testing.T) {
	for _, c := range []struct {
		in   string
		keep bool
	}{
		{"abc-123_X.y", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"has space", false},
		{"new\nline", false},
		{`quote"`, false},
		{"ünïcode", false},
	} {
		got := telemetry.RequestID(c.in)
		if (got == c.in) != c.keep {
			t.Errorf("RequestID(%q) = %q, keep %v", c.in, got, c.keep)
		}
		if !c.keep && len(got) != 16 {
			t.Errorf("generated id %q is not 16 characters", got)
		}
	}
	if telemetry.NewRequestID() == telemetry.NewRequestID() {
		t.Error("two generated ids are equal")
	}
}

// scrape renders reg in the text format.
func scrape(reg *prometheus.Registry) string {
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}
