package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

// State is where the state collector reads from at each scrape. Every
// function must be cheap and safe for concurrent use; a nil one leaves its
// metrics out.
type State struct {
	// Now is the clock (the App's, so that tests with a fake clock agree).
	Now func() time.Time
	// LastSync is when the in-memory view last read the change log to its
	// end (view.View.LastSync).
	LastSync func() time.Time
	// Ring is the key ring the view holds (view.View.Ring).
	Ring func() *keys.Ring
	// VerifyCache returns the verify cache's lookups so far
	// (core.Service.VerifyCacheStats).
	VerifyCache func() (hits, misses uint64)
}

var keyStates = []store.KeyState{store.KeyNext, store.KeyActive, store.KeyRetired, store.KeyRevoked}

var (
	viewLagDesc = prometheus.NewDesc("gatehouse_view_lag_seconds",
		"Seconds since the in-memory view last read the change log to its end: every disable, delete, role change, revocation or key change committed before then is applied. Normally below the poll interval; it grows while the database does not answer.",
		nil, nil)
	signingKeysDesc = prometheus.NewDesc("gatehouse_signing_keys",
		"Signing keys in the view's key ring, by lifecycle state.",
		[]string{"state"}, nil)
	activeAgeDesc = prometheus.NewDesc("gatehouse_signing_key_active_age_seconds",
		"Seconds since the signing key in use became active.",
		nil, nil)
	cacheHitsDesc = prometheus.NewDesc("gatehouse_verify_cache_hits_total",
		"Token validations whose signature check was answered by the verify cache.",
		nil, nil)
	cacheMissesDesc = prometheus.NewDesc("gatehouse_verify_cache_misses_total",
		"Token validations that had to decode and verify the token's signature.",
		nil, nil)
)

// stateCollector reports State at scrape time.
type stateCollector struct{ s State }

// NewStateCollector returns a collector of the view lag, the signing keys
// and the verify cache:
//
//	gatehouse_view_lag_seconds
//	gatehouse_signing_keys{state="next|active|retired|revoked"}
//	gatehouse_signing_key_active_age_seconds
//	gatehouse_verify_cache_hits_total, gatehouse_verify_cache_misses_total
func NewStateCollector(s State) prometheus.Collector {
	if s.Now == nil {
		s.Now = time.Now
	}
	return stateCollector{s}
}

// Describe implements prometheus.Collector.
func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- viewLagDesc
	ch <- signingKeysDesc
	ch <- activeAgeDesc
	ch <- cacheHitsDesc
	ch <- cacheMissesDesc
}

// Collect implements prometheus.Collector.
func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.Now()
	if c.s.LastSync != nil {
		if last := c.s.LastSync(); last.UnixNano() > 0 { // 0: never synced
			ch <- prometheus.MustNewConstMetric(viewLagDesc, prometheus.GaugeValue, max(now.Sub(last).Seconds(), 0))
		}
	}
	if c.s.Ring != nil {
		if r := c.s.Ring(); r != nil {
			for _, st := range keyStates {
				ch <- prometheus.MustNewConstMetric(signingKeysDesc, prometheus.GaugeValue, float64(r.States[st]), string(st))
			}
			if !r.ActiveSince.IsZero() {
				ch <- prometheus.MustNewConstMetric(activeAgeDesc, prometheus.GaugeValue, max(now.Sub(r.ActiveSince).Seconds(), 0))
			}
		}
	}
	if c.s.VerifyCache != nil {
		hits, misses := c.s.VerifyCache()
		ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(hits))
		ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(misses))
	}
}
