package federation

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of JWKS fetching, labelled by issuer.
// A nil *Metrics records nothing.
type Metrics struct {
	fetches     *prometheus.CounterVec
	unknownKids *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	keys        *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (if not nil):
//
//	gatehouse_federation_jwks_fetch_total{issuer,result="ok|error|not_modified"}
//	gatehouse_federation_jwks_refetch_unknown_kid_total{issuer}
//	gatehouse_federation_jwks_last_success_timestamp_seconds{issuer}
//	gatehouse_federation_jwks_keys{issuer}
//
// If reg already holds metrics of these names (a second Verifier in the same
// process), those are shared.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_federation_jwks_fetch_total",
			Help: "JWKS fetches of trusted issuers, by result (ok, error, not_modified).",
		}, []string{"issuer", "result"}),
		unknownKids: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_federation_jwks_refetch_unknown_kid_total",
			Help: "JWKS refetches triggered by a token with an unknown kid.",
		}, []string{"issuer"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_federation_jwks_last_success_timestamp_seconds",
			Help: "Unix time of the last successful JWKS fetch (200 or 304).",
		}, []string{"issuer"}),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_federation_jwks_keys",
			Help: "Signing keys cached for the issuer.",
		}, []string{"issuer"}),
	}
	if reg != nil {
		m.fetches = register(reg, m.fetches)
		m.unknownKids = register(reg, m.unknownKids)
		m.lastSuccess = register(reg, m.lastSuccess)
		m.keys = register(reg, m.keys)
	}
	return m
}

// register registers c, or returns the equal collector reg already has.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error, as with MustRegister
	}
	return c
}

func (m *Metrics) fetched(issuer, result string) {
	if m != nil {
		m.fetches.WithLabelValues(issuer, result).Inc()
	}
}

func (m *Metrics) unknownKid(issuer string) {
	if m != nil {
		m.unknownKids.WithLabelValues(issuer).Inc()
	}
}

func (m *Metrics) success(issuer string, at time.Time, keys int) {
	if m != nil {
		m.lastSuccess.WithLabelValues(issuer).Set(float64(at.UnixNano()) / 1e9)
		m.keys.WithLabelValues(issuer).Set(float64(keys))
	}
}

// forget drops the series of an issuer that is no longer trusted.
func (m *Metrics) forget(issuer string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"issuer": issuer}
	m.fetches.DeletePartialMatch(l)
	m.unknownKids.DeletePartialMatch(l)
	m.lastSuccess.DeletePartialMatch(l)
	m.keys.DeletePartialMatch(l)
}
