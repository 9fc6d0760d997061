package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// Scenario names: the default ones in their default order, then the ones
// that run only when named.
const (
	scValidateGRPC = "validate-grpc"
	scValidateREST = "validate-rest"
	scIssueGRPC    = "issue-grpc"
	scIssueREST    = "issue-rest"
	scJWXVerify    = "jwx-verify"

	scRefreshGRPC    = "refresh-grpc"
	scRefreshREST    = "refresh-rest"
	scIntrospectGRPC = "introspect-grpc"
	scIntrospectREST = "introspect-rest"
	scOAuth2Token    = "oauth2-token"
	scHTTPFloor      = "http-floor"
	scYardstickGRPC  = "yardstick-grpc"
	scGRPCFloor      = "grpc-floor"
)

// defaultScenarios is the default -scenarios list (also what "default" and,
// for compatibility, "all" expand to).
var defaultScenarios = []string{scValidateGRPC, scValidateREST, scIssueGRPC, scIssueREST, scJWXVerify}

// extraScenarios run only when named: the refresh scenarios need a user's
// credentials, and none is part of the historical default run.
var extraScenarios = []string{scRefreshGRPC, scRefreshREST, scIntrospectGRPC, scIntrospectREST, scOAuth2Token, scYardstickGRPC, scHTTPFloor, scGRPCFloor}

// knownScenarios is every scenario -scenarios accepts.
var knownScenarios = slices.Concat(defaultScenarios, extraScenarios)

// needsTokens reports whether a scenario rotates through issued tokens.
func needsTokens(name string) bool {
	switch name {
	case scValidateGRPC, scValidateREST, scJWXVerify, scIntrospectGRPC, scIntrospectREST, scYardstickGRPC, scHTTPFloor, scGRPCFloor:
		return true
	}
	return false
}

// needsGRPC reports whether a scenario, or its setup, uses the gRPC port.
// (refresh-rest logs its workers in over gRPC.)
func needsGRPC(name string) bool { return name != scIssueREST && name != scOAuth2Token }

// needsLogin reports whether a scenario needs a user's credentials: each
// of its workers keeps a refresh-token chain started by a password grant.
func needsLogin(name string) bool { return name == scRefreshGRPC || name == scRefreshREST }

// needsClient reports whether a scenario, or its setup, needs the service
// client's credentials.
func needsClient(name string) bool { return !needsLogin(name) }

// callFunc performs one measured call. It is owned by one worker goroutine.
// It returns errNotMeasured when it only did setup work (e.g. logged in
// again after a failure): such a turn is neither counted nor timed.
type callFunc func(ctx context.Context) error

// errNotMeasured: see callFunc.
var errNotMeasured = errors.New("setup work, not a measured call")

// workerFactory builds the call of worker w (0 <= w < c) before the clock
// starts, so that per-call work is only the call itself.
type workerFactory func(w int) callFunc

// kindError is an error with a fixed kind for the error table.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// errorKind buckets an error: gRPC status code, HTTP status, or a fixed kind.
func errorKind(err error) string {
	if he := (*httpStatusError)(nil); errors.As(err, &he) {
		return fmt.Sprintf("http %d", he.code)
	}
	if ke := (*kindError)(nil); errors.As(err, &ke) {
		return ke.kind
	}
	if s, ok := status.FromError(err); ok {
		return "grpc " + s.Code().String()
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		if ue.Timeout() {
			return "http timeout"
		}
		return "http transport"
	}
	return "other"
}

// result is one row of the report.
type result struct {
	Scenario    string
	Skipped     string // reason; empty when the scenario ran
	Concurrency int
	Elapsed     time.Duration
	PeakRSS     uint64 // the server's, in bytes; 0 when not sampled (-ops)
	// RoundsRPS is the rate of every round, in run order, when -rounds ran
	// the scenario more than once; the other fields are the median round's,
	// except the errors, which add up all rounds (see medianRounds).
	RoundsRPS []float64
	merged
}

func (r result) requests() int64 { return r.ok + r.errors }

// rps is successful calls per second of wall time.
func (r result) rps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.Elapsed.Seconds()
}

// sampleCapacity guesses how many latencies one worker records, so that
// the slices rarely grow while the clock runs; capped to bound memory.
func sampleCapacity(c int, d time.Duration) int {
	const assumedTotalRate = 100_000 // calls/s over all workers
	n := int(d.Seconds() * assumedTotalRate / float64(c))
	return min(max(n, 1024), 1<<16)
}

// callGrace is how long a call still in flight when the scenario's time is
// up may take before it is cancelled and counted as an error.
const callGrace = 5 * time.Second

// runScenario runs c workers, each calling in a loop until d has passed or
// ctx ends. Every loop checks the stop deadline; a call in flight at the
// deadline is allowed to finish (within callGrace) and counted, so that no
// deadline propagated to the server (gRPC sends it along) turns into a
// spurious DEADLINE_EXCEEDED. Calls cut short because ctx ended (Ctrl-C)
// are neither counted nor timed, and so are turns that return
// errNotMeasured.
func runScenario(ctx context.Context, name string, c int, d time.Duration, newCall workerFactory, red redactor) result {
	calls := make([]callFunc, c)
	stats := make([]*workerStats, c)
	capacity := sampleCapacity(c, d)
	for w := range c {
		calls[w] = newCall(w)
		stats[w] = newWorkerStats(capacity)
	}

	stopCtx, stop := context.WithTimeout(ctx, d)
	defer stop()
	callCtx, cancelCalls := context.WithTimeout(ctx, d+callGrace)
	defer cancelCalls()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		call, st := calls[w], stats[w]
		wg.Go(func() {
			for stopCtx.Err() == nil {
				t0 := time.Now()
				err := call(callCtx)
				lat := time.Since(t0)
				if err == nil {
					st.ok(lat)
					continue
				}
				if errors.Is(err, errNotMeasured) {
					continue // setup work (a re-login) done between calls
				}
				if ctx.Err() != nil {
					return // interrupted: not a server error
				}
				st.fail(errorKind(err), red.clean(err.Error()), t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return result{Scenario: name, Concurrency: c, Elapsed: elapsed, merged: mergeWorkers(stats)}
}

// validateGRPC: AuthService.ValidateToken, rotating through the tokens.
// The requests are shared by all workers: protobuf messages may be
// marshalled concurrently as long as nobody writes them.
func validateGRPC(pool *grpcPool, tokens []string) workerFactory {
	reqs := make([]*gatehousev1.ValidateTokenRequest, len(tokens))
	for i, t := range tokens {
		reqs[i] = &gatehousev1.ValidateTokenRequest{Token: t}
	}
	next := newRotation(len(reqs))
	return func(w int) callFunc {
		cl := pool.client(w)
		return func(ctx context.Context) error {
			req := reqs[next()]
			resp, err := cl.ValidateToken(ctx, req)
			if err != nil {
				return err // a gRPC status, bucketed by code
			}
			if resp.GetPrincipal() == nil {
				return &kindError{kind: "empty principal", err: errors.New("ValidateToken returned no principal")}
			}
			return nil
		}
	}
}

// validateREST: POST /v1/token:validate, rotating through the tokens.
func validateREST(rc restClient, tokens []string) (workerFactory, error) {
	bodies := make([][]byte, len(tokens))
	for i, t := range tokens {
		b, err := json.Marshal(map[string]string{"token": t})
		if err != nil {
			return nil, fmt.Errorf("encode validate body: %w", err)
		}
		bodies[i] = b
	}
	u := rc.url("/v1/token:validate")
	next := newRotation(len(bodies))
	return func(int) callFunc {
		return func(ctx context.Context) error { return rc.post(ctx, u, bodies[next()]) }
	}, nil
}

// newRotation returns a function handing out 0..n-1 round-robin across all
// workers, so that each token comes back only after every other one was
// used: with more tokens than the server's verify cache holds, most calls
// then pay for a full signature verification. (Per-worker counters would
// keep all workers on neighbouring tokens and measure cache hits.)
func newRotation(n int) func() int {
	var ctr atomic.Uint64
	return func() int { return int((ctr.Add(1) - 1) % uint64(n)) }
}

// issueGRPC: AuthService.IssueToken with client credentials.
func issueGRPC(pool *grpcPool, clientID, clientSecret string) workerFactory {
	return func(w int) callFunc {
		cl := pool.client(w)
		req := &gatehousev1.IssueTokenRequest{
			GrantType:    grantClientCredentials,
			ClientId:     clientID,
			ClientSecret: clientSecret,
		}
		return func(ctx context.Context) error {
			resp, err := cl.IssueToken(ctx, req)
			if err != nil {
				return err // a gRPC status, bucketed by code
			}
			if resp.GetAccessToken() == "" {
				return &kindError{kind: "empty token", err: errors.New("IssueToken returned no access_token")}
			}
			return nil
		}
	}
}

// issueREST: POST /v1/token with client credentials.
func issueREST(rc restClient, clientID, clientSecret string) (workerFactory, error) {
	body, err := json.Marshal(map[string]string{
		"grant_type":    grantClientCredentials,
		"client_id":     clientID,
		"client_secret": clientSecret,
	})
	if err != nil {
		return nil, fmt.Errorf("encode token body: %w", err)
	}
	u := rc.url("/v1/token")
	return func(int) callFunc {
		return func(ctx context.Context) error { return rc.post(ctx, u, body) }
	}, nil
}

// jwxVerify: the in-process reference, jwx verifying the same tokens
// against the server's JWKS.
func jwxVerify(v tokenVerifier, tokens []string) workerFactory {
	raw := make([][]byte, len(tokens))
	for i, t := range tokens {
		raw[i] = []byte(t)
	}
	next := newRotation(len(raw))
	return func(int) callFunc {
		verify := v.newWorker()
		return func(context.Context) error {
			if err := verify(raw[next()]); err != nil {
				return &kindError{kind: "jwx verify", err: err}
			}
			return nil
		}
	}
}

// tokenVerifier is the reference verifier (jwx). newWorker returns a
// function for one goroutine.
type tokenVerifier interface {
	newWorker() func(token []byte) error
	describe() string
}
