// Package telemetry turns what gatehouse does into Prometheus metrics and
// access logs: the core's domain events, collectors over the in-memory view,
// the key ring, the database pool and the verify cache, and the HTTP
// middleware that gives every request its id, route metrics and log line.
package telemetry

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/service/core"
)

// Observer is a core.Observer that counts the core's events. Observe runs
// on ValidateToken's path: every label combination the core can produce is
// created up front, so that an event costs a map lookup and an atomic add.
type Observer struct {
	issued      *prometheus.CounterVec
	validations *prometheus.CounterVec
	loginFails  *prometheus.CounterVec
	lockouts    *prometheus.CounterVec
	exchanges   prometheus.Counter
	revocations prometheus.Counter

	issuedBy  map[string]prometheus.Counter // by grant
	valid     prometheus.Counter
	invalidBy map[string]prometheus.Counter // by reason
	loginBy   map[[2]string]prometheus.Counter
	lockoutBy map[string]prometheus.Counter
}

// tokenReasons are the refusals of ValidateToken (core.Reason*).
var tokenReasons = []string{
	core.ReasonExpired, core.ReasonNotYetValid, core.ReasonSignature, core.ReasonUnknownKey,
	core.ReasonRevoked, core.ReasonDisabled, core.ReasonDeleted, core.ReasonAudience,
	core.ReasonIssuer, core.ReasonType, core.ReasonMalformed, core.ReasonOffline,
	core.ReasonRequirements, core.ReasonInvalid, core.ReasonUnavailable, core.ReasonOther,
}

// loginReasons are the refusals of a login.
var loginReasons = []string{
	core.ReasonBadCredentials, core.ReasonLockedOut, core.ReasonBadRequest,
	core.ReasonUnavailable, core.ReasonDisabled, core.ReasonDeleted, core.ReasonOther,
}

var (
	grants = []string{core.GrantPassword, core.GrantClientCredentials, core.GrantRefreshToken, core.GrantTokenExchange}
	kinds  = []string{core.KindUser, core.KindClient}
)

// NewObserver creates the domain metrics and registers them with reg:
//
//	gatehouse_tokens_issued_total{grant}
//	gatehouse_token_validations_total{result="valid|invalid",reason}
//	gatehouse_login_failures_total{kind,reason}
//	gatehouse_lockouts_total{kind}
//	gatehouse_token_exchanges_total
//	gatehouse_token_revocations_total
func NewObserver(reg prometheus.Registerer) *Observer {
	o := &Observer{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Access tokens issued, by grant type.",
		}, []string{"grant"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_validations_total",
			Help: "Access tokens checked (ValidateToken, bearer tokens of calls, introspection), by result and refusal reason (none when valid).",
		}, []string{"result", "reason"}),
		loginFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_login_failures_total",
			Help: "Refused logins (password, client secret), by account kind and reason.",
		}, []string{"kind", "reason"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_lockouts_total",
			Help: "Login throttles that reached their limit, by account kind.",
		}, []string{"kind"}),
		exchanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_token_exchanges_total",
			Help: "Trusted issuers' tokens exchanged for gatehouse tokens (RFC 8693).",
		}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_token_revocations_total",
			Help: "Refresh and offline tokens revoked by their clients (RFC 7009).",
		}),
		issuedBy:  make(map[string]prometheus.Counter, len(grants)),
		invalidBy: make(map[string]prometheus.Counter, len(tokenReasons)),
		loginBy:   make(map[[2]string]prometheus.Counter, len(kinds)*len(loginReasons)),
		lockoutBy: make(map[string]prometheus.Counter, len(kinds)),
	}
	reg.MustRegister(o.issued, o.validations, o.loginFails, o.lockouts, o.exchanges, o.revocations)
	for _, g := range grants {
		o.issuedBy[g] = o.issued.WithLabelValues(g)
	}
	o.valid = o.validations.WithLabelValues("valid", "none")
	for _, r := range tokenReasons {
		o.invalidBy[r] = o.validations.WithLabelValues("invalid", r)
	}
	for _, k := range kinds {
		for _, r := range loginReasons {
			o.loginBy[[2]string{k, r}] = o.loginFails.WithLabelValues(k, r)
		}
		o.lockoutBy[k] = o.lockouts.WithLabelValues(k)
	}
	return o
}

// Observe implements core.Observer.
func (o *Observer) Observe(_ context.Context, e core.Event) {
	switch e.Type {
	case core.EventTokenValidated:
		if e.Reason == "" {
			o.valid.Inc()
			return
		}
		// The core's reasons are a bounded set; one added later than this
		// table still gets its own series.
		if c, ok := o.invalidBy[e.Reason]; ok {
			c.Inc()
			return
		}
		o.validations.WithLabelValues("invalid", e.Reason).Inc()
	case core.EventTokenIssued:
		if c, ok := o.issuedBy[e.Grant]; ok {
			c.Inc()
			return
		}
		o.issued.WithLabelValues(e.Grant).Inc()
	case core.EventLoginFailed:
		if c, ok := o.loginBy[[2]string{e.Kind, e.Reason}]; ok {
			c.Inc()
			return
		}
		o.loginFails.WithLabelValues(e.Kind, e.Reason).Inc()
	case core.EventLockout:
		if c, ok := o.lockoutBy[e.Kind]; ok {
			c.Inc()
			return
		}
		o.lockouts.WithLabelValues(e.Kind).Inc()
	case core.EventTokenExchanged:
		o.exchanges.Inc()
	case core.EventTokenRevoked:
		o.revocations.Inc()
	}
}
