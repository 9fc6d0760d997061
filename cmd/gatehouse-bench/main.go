// Command gatehouse-bench is a load tool for a running gatehouse server. It
// drives ValidateToken and IssueToken over gRPC and REST with c concurrent
// callers for a fixed time per scenario, and measures jwx's in-process
// verify rate on the same tokens as the reference the server's
// ValidateToken is judged against. On request it also drives the refresh
// grant (rotating refresh tokens, one chain per caller) and token
// introspection, over gRPC and the /oauth2/* endpoints.
//
// It only ever loads the local machine unless -allow-remote is given.
//
// The server's RSS (-ops) is read from its /metrics with a line scan for
// the one unlabelled gauge, not with Prometheus's expfmt parser: on a
// gatehouse /metrics page (250 KB when idle) expfmt takes 10.4 ms and
// 72,000 allocations per scrape against 0.2 ms and 1,900 for the scan, and
// the tool scrapes four times a second on the cores it shares with the
// server it measures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	envClientID     = "GATEHOUSE_BENCH_CLIENT_ID"
	envClientSecret = "GATEHOUSE_BENCH_CLIENT_SECRET"
	envUsername     = "GATEHOUSE_BENCH_USERNAME"
	envPassword     = "GATEHOUSE_BENCH_PASSWORD"
	// The live baseline server's own credentials (-baseline-grpc/-http);
	// its client id and user name are the same as the main server's.
	envBaselineClientSecret = "GATEHOUSE_BENCH_BASELINE_CLIENT_SECRET"
	envBaselinePassword     = "GATEHOUSE_BENCH_BASELINE_PASSWORD"

	jwxModeVerify = "verify"
	jwxModeParse  = "parse"

	maxDuration    = 10 * time.Minute
	maxRounds      = 20
	maxConcurrency = 4096
	maxTokens      = 100_000
	maxConns       = 64
	// serverVerifyCache is gatehouse's default --verify-cache-size: with
	// more -tokens than this, every validation verifies a signature.
	serverVerifyCache = 10_000
	setupTimeout      = 60 * time.Second
	tokenMargin       = 30 * time.Second // tokens must outlive a scenario by this much

	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// config is the parsed command line.
type config struct {
	grpcTarget   string
	httpBase     string
	clientID     string
	clientSecret string
	username     string // for the refresh scenarios' password grants
	password     string
	concurrency  int
	duration     time.Duration
	rounds       int // each scenario runs this often, alternating; the median round is reported
	scenarios    []string
	tokens       int
	conns        int
	jsonOut      bool
	allowRemote  bool
	jwxMode      string
	everyCall    bool          // the server verifies a signature on every ValidateToken
	bareHere     bool          // the yardstick and gRPC floor run in this process, not a child
	label        string        // names this run in the report, the JSON and a later -baseline
	baselineFile string        // a previous run's -json output to compare with
	live         *liveBaseline // a second server loaded alongside as the baseline, nil when none
	opsBase      string        // the server's ops listener, for its RSS
	verbose      bool
	shown        []flagValue // the effective flags, secrets redacted
}

// flagValue is one effective flag for the report.
type flagValue struct {
	Name  string
	Value string
}

func main() {
	if kind := os.Getenv(envBareServer); kind != "" {
		os.Exit(serveBareChild(kind, os.Getenv(envBareJWKS), os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse-bench: %v\nRun gatehouse-bench -h for usage.\n", err)
		return exitUsage
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	red := redactor{secrets: []string{cfg.clientSecret, cfg.password}}
	if cfg.live != nil {
		red.secrets = append(red.secrets, cfg.live.clientSecret, cfg.live.password)
	}

	meta := newRunMeta(cfg)
	if cfg.baselineFile != "" {
		// Before any load: a run is wasted if its comparison cannot be made.
		if meta.Baseline, err = readBaseline(cfg.baselineFile); err != nil {
			fmt.Fprintf(stderr, "gatehouse-bench: -baseline: %v\n", err)
			return exitUsage
		}
	}

	guard := loopbackGuard{allowRemote: cfg.allowRemote, lookup: net.DefaultResolver.LookupNetIP}
	base, ops, err := checkTargets(ctx, guard, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse-bench: %s\n", red.clean(err.Error()))
		return exitUsage
	}
	if cfg.allowRemote {
		log.Warn("-allow-remote: the loopback guard is off", "grpc", cfg.grpcTarget, "http", cfg.httpBase)
	}

	b, done, err := openBench(ctx, cfg, &meta, log, red, base, ops)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse-bench: %s\n", red.clean(err.Error()))
		return exitFailure
	}
	defer done()
	benches, metas := []*bench{b}, []*runMeta{&meta}
	var baseMeta runMeta
	if cfg.live != nil {
		bcfg := cfg.liveConfig()
		baseMeta = newRunMeta(bcfg)
		bbase, bops, err := checkTargets(ctx, guard, bcfg)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse-bench: baseline: %s\n", red.clean(err.Error()))
			return exitUsage
		}
		bb, bdone, err := openBench(ctx, bcfg, &baseMeta, log.With("server", bcfg.label), red, bbase, bops)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse-bench: baseline: %s\n", red.clean(err.Error()))
			return exitFailure
		}
		defer bdone()
		benches, metas = append(benches, bb), append(metas, &baseMeta)
	}

	all, err := runAll(ctx, benches, metas)
	results := all[0]
	if cfg.live != nil {
		meta.Baseline = liveRun(baseMeta, all[1])
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "gatehouse-bench: %s\n", red.clean(err.Error()))
		return exitFailure
	}
	if cfg.live != nil {
		// The baseline's own report first, then this server's with the comparison.
		if werr := writeReport(stdout, baseMeta, all[1]); werr != nil {
			fmt.Fprintf(stderr, "gatehouse-bench: write report: %v\n", werr)
			return exitFailure
		}
		fmt.Fprintln(stdout)
	}
	if werr := writeReport(stdout, meta, results); werr != nil {
		fmt.Fprintf(stderr, "gatehouse-bench: write report: %v\n", werr)
		return exitFailure
	}
	if cfg.jsonOut {
		if werr := writeJSON(stdout, meta, results); werr != nil {
			fmt.Fprintf(stderr, "gatehouse-bench: write JSON: %v\n", werr)
			return exitFailure
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "gatehouse-bench: interrupted")
		return exitInterrupted
	}
	return exitOK
}

// checkTargets applies the loopback guard to the targets that will be
// used and returns the parsed HTTP base and ops URL (nil without -ops).
func checkTargets(ctx context.Context, g loopbackGuard, cfg config) (httpBase, ops *url.URL, err error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if slices.ContainsFunc(cfg.scenarios, needsGRPC) {
		if err := g.checkGRPCTarget(ctx, cfg.grpcTarget); err != nil {
			return nil, nil, err
		}
	}
	// The HTTP base is parsed even when unused, so that a typo is reported.
	if httpBase, err = g.checkHTTPBase(ctx, cfg.httpBase); err != nil {
		return nil, nil, err
	}
	if cfg.opsBase != "" {
		if ops, err = g.checkHTTPBase(ctx, cfg.opsBase); err != nil {
			return nil, nil, fmt.Errorf("-ops: %w", err)
		}
	}
	return httpBase, ops, nil
}

// bench holds the clients and state of one run.
type bench struct {
	cfg    config
	log    *slog.Logger
	red    redactor
	grpc   *grpcPool // nil when no scenario needs gRPC
	rest   restClient
	tokens tokenSet
	chains chains // the refresh workers' refresh-token chains
	// yard is the yardstick-grpc scenario's client pool, nil when that
	// scenario does not run or its setup failed.
	yard *grpcPool
	// floor is the http-floor scenario's client, nil when that scenario
	// does not run.
	floor *restClient
	// grpcFloor is the grpc-floor scenario's client pool, nil when that
	// scenario does not run or its setup failed.
	grpcFloor *grpcPool
	rss       *rssProbe // nil without -ops
}

// openBench connects the clients of one server and reads its idle RSS
// into meta (with -ops), before setup issues tokens or logs in. done
// releases what it opened.
func openBench(ctx context.Context, cfg config, meta *runMeta, log *slog.Logger, red redactor, base, ops *url.URL) (b *bench, done func(), err error) {
	b = &bench{cfg: cfg, log: log, red: red}
	var closers []func()
	done = func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	if ops != nil {
		probe := newRSSProbe(ops, cfg.allowRemote)
		closers = append(closers, probe.hc.CloseIdleConnections)
		rctx, cancel := context.WithTimeout(ctx, rssReadTimeout)
		meta.IdleRSS, err = probe.read(rctx)
		cancel()
		if err != nil {
			done()
			return nil, nil, fmt.Errorf("setup: -ops %s: server RSS: %w", cfg.opsBase, err)
		}
		meta.OpsURL, b.rss = probe.url, &probe
		log.Info("server RSS", "idle", fmtBytes(meta.IdleRSS))
	}
	b.rest = restClient{hc: newHTTPClient(cfg.concurrency, cfg.allowRemote), base: base}
	closers = append(closers, b.rest.hc.CloseIdleConnections)
	if slices.ContainsFunc(cfg.scenarios, needsGRPC) {
		if b.grpc, err = newGRPCPool(cfg.grpcTarget, cfg.conns, cfg.allowRemote); err != nil {
			done()
			return nil, nil, err
		}
		closers = append(closers, b.grpc.close)
	}
	return b, done, nil
}

// runAll sets up every bench (the main server's and a live baseline's)
// and runs the selected scenarios in rounds: each scenario on every
// server back to back, the servers' order alternating from round to round,
// so that both meet the same state of a shared machine. It returns each
// bench's results, the median round of every scenario. On ctx's end the
// remaining scenarios are reported as skipped and ctx's error returned.
func runAll(ctx context.Context, benches []*bench, metas []*runMeta) ([][]result, error) {
	cfg := benches[0].cfg
	preps := make([]prepared, len(benches))
	for i, b := range benches {
		defer b.logout(ctx)
		p, err := b.setup(ctx, metas[i])
		defer p.stop()
		if err != nil {
			return make([][]result, len(benches)), err
		}
		preps[i] = p
	}
	rounds := make([]map[string][]result, len(benches))
	for i := range rounds {
		rounds[i] = make(map[string][]result, len(cfg.scenarios))
	}
	medians := func() [][]result {
		out := make([][]result, len(benches))
		for i := range benches {
			out[i] = medianRounds(cfg.scenarios, rounds[i])
		}
		return out
	}
	for round := range max(cfg.rounds, 1) {
		for _, name := range cfg.scenarios {
			for k := range benches {
				i := (k + round) % len(benches)
				r, err := benches[i].runOne(ctx, name, preps[i].verifier, preps[i].skips)
				if err != nil {
					return medians(), err
				}
				rounds[i][name] = append(rounds[i][name], r)
			}
		}
	}
	return medians(), ctx.Err()
}

// prepared is what setup made ready for the scenarios of one bench.
type prepared struct {
	verifier tokenVerifier     // jwx-verify's, nil when it does not run
	skips    map[string]string // scenario → why it cannot run
	stops    []func()
}

func (p prepared) stop() {
	for _, s := range slices.Backward(p.stops) {
		s()
	}
}

// setup connects to the server and starts what the selected scenarios
// need besides it: the jwx reference, the yardstick, the HTTP and gRPC
// floors.
func (b *bench) setup(ctx context.Context, meta *runMeta) (prepared, error) {
	cfg := b.cfg
	p := prepared{skips: map[string]string{}}
	if b.grpc != nil {
		b.log.Info("connecting", "grpc", cfg.grpcTarget, "conns", cfg.conns)
		if err := b.grpc.waitReady(ctx, dialTimeout+5*time.Second); err != nil {
			return p, fmt.Errorf("setup: %w", err)
		}
	}
	if slices.Contains(cfg.scenarios, scJWXVerify) {
		var why string
		if p.verifier, why = b.setupReference(ctx); p.verifier != nil {
			meta.Reference = p.verifier.describe()
		} else {
			p.skips[scJWXVerify] = why
		}
	}
	// A server of the tool's own, when its scenario was selected: stopped
	// with the others and named in the report, or its scenario skipped.
	startLocal := func(name string, setup func() (stop func(), skip string), described *string, description string) {
		if !slices.Contains(cfg.scenarios, name) {
			return
		}
		if stop, why := setup(); stop != nil {
			p.stops = append(p.stops, stop)
			*described = description
		} else {
			p.skips[name] = why
		}
	}
	startLocal(scYardstickGRPC, func() (func(), string) { return b.setupYardstick(ctx) }, &meta.Yardstick, whereBare(describeYardstick, cfg.bareHere))
	startLocal(scHTTPFloor, b.setupHTTPFloor, &meta.HTTPFloor, describeHTTPFloor)
	startLocal(scGRPCFloor, func() (func(), string) { return b.setupGRPCFloor(ctx) }, &meta.GRPCFloor, whereBare(describeGRPCFloor, cfg.bareHere))
	return p, nil
}

// runOne runs one round of scenario name, or reports it skipped.
func (b *bench) runOne(ctx context.Context, name string, verifier tokenVerifier, skips map[string]string) (result, error) {
	cfg := b.cfg
	if err := ctx.Err(); err != nil {
		return result{Scenario: name, Skipped: "interrupted"}, nil
	}
	if why, skipped := skips[name]; skipped {
		return result{Scenario: name, Skipped: why}, nil
	}
	if needsTokens(name) && !b.tokens.fresh(cfg.duration+tokenMargin) {
		if err := b.refreshTokens(ctx); err != nil {
			return result{}, fmt.Errorf("setup: %w", err)
		}
	}
	if needsLogin(name) {
		if err := b.login(ctx); err != nil {
			return result{}, fmt.Errorf("setup: %w", err)
		}
	}
	factory, err := b.factory(name, verifier)
	if err != nil {
		return result{}, err
	}
	runtime.GC() // start every scenario from a collected heap
	b.log.Info("running", "scenario", name, "c", cfg.concurrency, "d", cfg.duration)
	r := b.runMeasured(ctx, name, factory)
	b.log.Info("done", "scenario", name, "requests", r.requests(), "errors", r.errors,
		"rps", fmt.Sprintf("%.0f", r.rps()), "p99", r.latency.P99)
	return r, nil
}

// runMeasured runs one scenario, sampling the server's RSS meanwhile when
// -ops is given.
func (b *bench) runMeasured(ctx context.Context, name string, factory workerFactory) result {
	cfg := b.cfg
	if b.rss == nil {
		return runScenario(ctx, name, cfg.concurrency, cfg.duration, factory, b.red)
	}
	var r result
	peak := b.rss.peakDuring(ctx, func() {
		r = runScenario(ctx, name, cfg.concurrency, cfg.duration, factory, b.red)
	})
	r.PeakRSS = peak.Bytes
	if peak.Err != nil && ctx.Err() == nil {
		b.log.Warn("server RSS samples failed", "scenario", name, "failed", peak.Failed, "ok", peak.Samples,
			"first", b.red.clean(peak.Err.Error()))
	}
	return r
}

// setupReference fetches the JWKS and builds the jwx verifier. It returns
// a skip reason instead of failing the run.
func (b *bench) setupReference(ctx context.Context) (tokenVerifier, string) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	raw, err := fetchJWKS(ctx, b.rest)
	if err == nil {
		var v tokenVerifier
		if v, err = newReferenceVerifier(raw, b.cfg.jwxMode); err == nil {
			b.log.Info("reference ready", "verifier", v.describe())
			return v, ""
		}
	}
	msg := b.red.clean(err.Error())
	b.log.Error("jwx-verify skipped", "err", msg)
	return nil, msg
}

// refreshTokens issues the -tokens access tokens the validate scenarios use.
func (b *bench) refreshTokens(ctx context.Context) error {
	// Generous: about 500 tokens/s at worst, on top of the base timeout.
	ctx, cancel := context.WithTimeout(ctx, setupTimeout+time.Duration(b.cfg.tokens)*2*time.Millisecond)
	defer cancel()
	start := time.Now()
	b.log.Info("issuing tokens", "n", b.cfg.tokens)
	ts, err := issueTokens(ctx, b.grpc, b.cfg.clientID, b.cfg.clientSecret, b.cfg.tokens, min(8, b.cfg.concurrency))
	if err != nil {
		return fmt.Errorf("issue %d tokens via gRPC: %w", b.cfg.tokens, err)
	}
	b.tokens = ts
	attrs := []any{"n", len(ts.tokens), "took", time.Since(start).Round(time.Millisecond)}
	if !ts.expiresAt.IsZero() {
		attrs = append(attrs, "valid_for", time.Until(ts.expiresAt).Round(time.Second))
		if !ts.fresh(b.cfg.duration) {
			b.log.Warn("tokens expire before the scenario ends; expect errors", "d", b.cfg.duration)
		}
	}
	b.log.Info("issued tokens", attrs...)
	return nil
}

// login gives every refresh worker a refresh-token chain, logging in (over
// gRPC, password grant) those that have none: all of them before the first
// refresh scenario, those whose chain broke before a later one.
func (b *bench) login(ctx context.Context) error {
	c := b.cfg.concurrency
	if len(b.chains) != c {
		b.chains = make(chains, c)
	}
	n := 0
	for _, tok := range b.chains {
		if tok == "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	// Generous: a password grant costs an argon2id hash on the server.
	ctx, cancel := context.WithTimeout(ctx, setupTimeout+time.Duration(n)*100*time.Millisecond)
	defer cancel()
	start := time.Now()
	b.log.Info("logging in", "user", b.cfg.username, "sessions", n)
	if err := fillChains(ctx, b.chains, b.loginFunc(), min(8, n)); err != nil {
		return fmt.Errorf("log in %d sessions as %q via gRPC: %w", n, b.cfg.username, err)
	}
	b.log.Info("logged in", "sessions", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// logout revokes the refresh workers' sessions, best effort and also after
// an interrupt, so that a run leaves no live sessions behind (except those
// of chains that broke during the run).
func (b *bench) logout(ctx context.Context) {
	live := filter(b.chains, func(tok string) bool { return tok != "" })
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := revokeChains(ctx, b.grpc, live, min(8, len(live))); err != nil {
		b.log.Warn("could not revoke all login sessions", "err", b.red.clean(err.Error()))
		return
	}
	b.log.Info("revoked login sessions", "n", len(live))
	clear(b.chains)
}

func (b *bench) loginFunc() loginFunc { return grpcLogin(b.grpc, b.cfg.username, b.cfg.password) }

// factory returns the worker factory of a scenario.
func (b *bench) factory(name string, v tokenVerifier) (workerFactory, error) {
	cfg := b.cfg
	switch name {
	case scValidateGRPC:
		return validateGRPC(b.grpc, b.tokens.tokens), nil
	case scValidateREST:
		return validateREST(b.rest, b.tokens.tokens)
	case scIssueGRPC:
		return issueGRPC(b.grpc, cfg.clientID, cfg.clientSecret), nil
	case scIssueREST:
		return issueREST(b.rest, cfg.clientID, cfg.clientSecret)
	case scJWXVerify:
		return jwxVerify(v, b.tokens.tokens), nil
	case scRefreshGRPC:
		return refreshGRPC(b.grpc, b.chains, b.loginFunc()), nil
	case scRefreshREST:
		return refreshREST(b.rest, b.chains, b.loginFunc()), nil
	case scIntrospectGRPC:
		return introspectGRPC(b.grpc, b.tokens.tokens, cfg.clientID, cfg.clientSecret), nil
	case scIntrospectREST:
		return introspectREST(b.rest, b.tokens.tokens, cfg.clientID, cfg.clientSecret), nil
	case scOAuth2Token:
		return oauth2Token(b.rest, cfg.clientID, cfg.clientSecret), nil
	case scYardstickGRPC:
		return validateGRPC(b.yard, b.tokens.tokens), nil
	case scGRPCFloor:
		return validateGRPC(b.grpcFloor, b.tokens.tokens), nil
	case scHTTPFloor:
		// introspect-rest's bodies and client authentication, answered by the floor.
		return introspectREST(*b.floor, b.tokens.tokens, cfg.clientID, cfg.clientSecret), nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// parseConfig parses and validates the command line. Every error it returns
// is a usage error (exit code 2); flag.ErrHelp means -h was asked for.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("gatehouse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.grpcTarget, "grpc", "localhost:50051", "gRPC `target` (plaintext): host:port, dns:///host:port or unix:PATH")
	fs.StringVar(&cfg.httpBase, "http", "http://localhost:8080", "REST base `URL`")
	fs.StringVar(&cfg.clientID, "client-id", "", "service client `id` (default $"+envClientID+")")
	fs.StringVar(&cfg.clientSecret, "client-secret", "", "service client `secret` (default $"+envClientSecret+"; prefer the variable)")
	fs.StringVar(&cfg.username, "username", "", "user `name` the refresh scenarios log in as (default $"+envUsername+")")
	fs.StringVar(&cfg.password, "password", "", "that user's `password` (default $"+envPassword+"; prefer the variable)")
	fs.IntVar(&cfg.concurrency, "c", 32, "concurrent callers per scenario")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "duration of each scenario (at most 10m)")
	fs.IntVar(&cfg.rounds, "rounds", 1, "run the scenario list this many times, alternating, and report each scenario's median round (at most 20)")
	scenarios := fs.String("scenarios", strings.Join(defaultScenarios, ","),
		"comma-separated `list` of scenarios to run, in order; \"default\" (or \"all\") stands for the default list,\n"+
			"others: "+strings.Join(extraScenarios, ", "))
	fs.IntVar(&cfg.tokens, "tokens", 64, "distinct access tokens the validate, jwx-verify and introspect scenarios rotate through")
	fs.IntVar(&cfg.conns, "conns", 4, "gRPC connections; callers are spread over them round-robin")
	fs.BoolVar(&cfg.jsonOut, "json", false, "also print the results as JSON lines")
	fs.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow targets that are not loopback (127.0.0.0/8, ::1, localhost)")
	fs.StringVar(&cfg.jwxMode, "jwx-mode", jwxModeVerify, "jwx-verify reference: `verify` (jws.Verify) or parse (jwt.Parse with validation)")
	fs.BoolVar(&cfg.bareHere, "bare-in-process", false, "run the yardstick and grpc-floor servers inside this process instead of a child process of their own")
	fs.BoolVar(&cfg.everyCall, "every-call", false, fmt.Sprintf("the server verifies a signature on every ValidateToken (it runs with --verify-cache-size 0);\n"+
		"judges validate-grpc against the every-call goal (default: true when -tokens > %d, its default cache)", serverVerifyCache))
	fs.StringVar(&cfg.label, "label", "", "`name` of this run (e.g. sqlite, postgres) in the report and the JSON, for a later -baseline")
	fs.StringVar(&cfg.baselineFile, "baseline", "", "`file` with a previous run's -json output: compare the scenarios that ran in both\n"+
		"and judge the baseline goals")
	var live liveBaseline
	fs.StringVar(&live.grpcTarget, "baseline-grpc", "", "gRPC `target` of a second server loaded in the same run as the baseline\n"+
		"(with -baseline-http; credentials: the same client id and user name, the secret and password from\n"+
		"$"+envBaselineClientSecret+" and $"+envBaselinePassword+")")
	fs.StringVar(&live.httpBase, "baseline-http", "", "REST base `URL` of that server")
	fs.StringVar(&live.opsBase, "baseline-ops", "", "ops listener `URL` of that server, for its RSS")
	fs.StringVar(&live.label, "baseline-label", "baseline", "`name` of that server in the report")
	fs.StringVar(&cfg.opsBase, "ops", "", "the server's ops listener `URL` (e.g. http://127.0.0.1:9090): report its RSS from /metrics,\n"+
		"idle before setup and the peak of each scenario")
	fs.BoolVar(&cfg.verbose, "v", false, "debug logging")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["every-call"] && cfg.tokens > serverVerifyCache {
		cfg.everyCall = true
		_ = fs.Set("every-call", "true") // so that the report shows it
	}
	idFrom, secretFrom := "flag", "flag"
	if !set["client-id"] {
		cfg.clientID, idFrom = getenv(envClientID), "$"+envClientID
	}
	if !set["client-secret"] {
		cfg.clientSecret, secretFrom = getenv(envClientSecret), "$"+envClientSecret
	}
	userFrom, passwordFrom := "flag", "flag"
	if !set["username"] {
		cfg.username, userFrom = getenv(envUsername), "$"+envUsername
	}
	if !set["password"] {
		cfg.password, passwordFrom = getenv(envPassword), "$"+envPassword
	}

	var errs []error
	if live.grpcTarget != "" || live.httpBase != "" || live.opsBase != "" {
		live.clientSecret, live.password = getenv(envBaselineClientSecret), getenv(envBaselinePassword)
		switch {
		case live.grpcTarget == "" || live.httpBase == "":
			errs = append(errs, errors.New("a live baseline needs both -baseline-grpc and -baseline-http"))
		case cfg.baselineFile != "":
			errs = append(errs, errors.New("-baseline FILE and a live baseline (-baseline-grpc/-baseline-http) exclude each other"))
		}
		cfg.live = &live
	}
	if cfg.concurrency < 1 || cfg.concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("-c %d: must be between 1 and %d", cfg.concurrency, maxConcurrency))
	}
	if cfg.rounds < 1 || cfg.rounds > maxRounds {
		errs = append(errs, fmt.Errorf("-rounds %d: must be between 1 and %d", cfg.rounds, maxRounds))
	}
	if cfg.duration <= 0 || cfg.duration > maxDuration {
		errs = append(errs, fmt.Errorf("-d %s: must be > 0 and <= %s", cfg.duration, maxDuration))
	}
	if cfg.tokens < 1 || cfg.tokens > maxTokens {
		errs = append(errs, fmt.Errorf("-tokens %d: must be between 1 and %d", cfg.tokens, maxTokens))
	}
	if cfg.conns < 1 || cfg.conns > maxConns {
		errs = append(errs, fmt.Errorf("-conns %d: must be between 1 and %d", cfg.conns, maxConns))
	}
	if cfg.jwxMode != jwxModeVerify && cfg.jwxMode != jwxModeParse {
		errs = append(errs, fmt.Errorf("-jwx-mode %q: must be %s or %s", cfg.jwxMode, jwxModeVerify, jwxModeParse))
	}
	var err error
	if cfg.scenarios, err = parseScenarios(*scenarios); err != nil {
		errs = append(errs, err)
	}
	if need := filter(cfg.scenarios, needsClient); len(need) > 0 && (cfg.clientID == "" || cfg.clientSecret == "") {
		errs = append(errs, fmt.Errorf("missing client credentials (needed by %s): set %s and %s (or -client-id/-client-secret)",
			strings.Join(need, ", "), envClientID, envClientSecret))
	}
	if need := filter(cfg.scenarios, needsLogin); len(need) > 0 && (cfg.username == "" || cfg.password == "") {
		errs = append(errs, fmt.Errorf("missing user credentials (needed by %s): set %s and %s (or -username/-password)",
			strings.Join(need, ", "), envUsername, envPassword))
	}
	if l := cfg.live; l != nil {
		if need := filter(cfg.scenarios, needsClient); len(need) > 0 && l.clientSecret == "" {
			errs = append(errs, fmt.Errorf("missing the baseline server's client secret (needed by %s): set %s", strings.Join(need, ", "), envBaselineClientSecret))
		}
		if need := filter(cfg.scenarios, needsLogin); len(need) > 0 && l.password == "" {
			errs = append(errs, fmt.Errorf("missing the baseline server's password (needed by %s): set %s", strings.Join(need, ", "), envBaselinePassword))
		}
	}
	if len(errs) > 0 {
		return config{}, errors.Join(errs...)
	}

	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "client-id":
			v = fmt.Sprintf("%s (from %s)", cfg.clientID, idFrom)
		case "client-secret":
			v = redactedFrom(cfg.clientSecret, secretFrom)
		case "username":
			v = fmt.Sprintf("%s (from %s)", cfg.username, userFrom)
		case "password":
			v = redactedFrom(cfg.password, passwordFrom)
		case "scenarios":
			v = strings.Join(cfg.scenarios, ",")
		}
		cfg.shown = append(cfg.shown, flagValue{Name: f.Name, Value: v})
	})
	if set["client-secret"] {
		slog.New(slog.NewTextHandler(stderr, nil)).Warn("a secret given as a flag is visible in the process list and shell history; prefer $" + envClientSecret)
	}
	if set["password"] {
		slog.New(slog.NewTextHandler(stderr, nil)).Warn("a password given as a flag is visible in the process list and shell history; prefer $" + envPassword)
	}
	return cfg, nil
}

// filter returns the names for which keep is true.
func filter(names []string, keep func(string) bool) []string {
	var out []string
	for _, n := range names {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

// redactedFrom shows a secret flag's value in the report: never the value.
func redactedFrom(secret, from string) string {
	if secret == "" {
		return "(unset, from " + from + ")"
	}
	return "(redacted, from " + from + ")"
}

// parseScenarios splits and checks the -scenarios list; duplicates are
// dropped, order is kept.
func parseScenarios(s string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "default" || name == "all" {
			for _, n := range defaultScenarios {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
			continue
		}
		if !slices.Contains(knownScenarios, name) {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", name, strings.Join(knownScenarios, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-scenarios: empty list")
	}
	return out, nil
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `gatehouse-bench drives a running gatehouse server and reports throughput
and latency per scenario, next to jwx's in-process verify rate on the same
tokens.

Usage:
  %[1]s=ID %[2]s=SECRET gatehouse-bench [flags]
  %[3]s=NAME %[4]s=PASSWORD \
    gatehouse-bench -scenarios refresh-grpc,refresh-rest [flags]

Default scenarios (each runs -c callers for -d, one after the other):
  validate-grpc    AuthService.ValidateToken over gRPC
  validate-rest    POST /v1/token:validate
  issue-grpc       AuthService.IssueToken (client_credentials) over gRPC
  issue-rest       POST /v1/token (client_credentials)
  jwx-verify       jwx verifying the same tokens in-process against the
                   server's JWKS (the reference)

Further scenarios, run only when named in -scenarios:
  refresh-grpc     AuthService.IssueToken (refresh_token) over gRPC
  refresh-rest     POST /oauth2/token, form grant_type=refresh_token
  introspect-grpc  AuthService.IntrospectToken (client credentials in the
                   request) over gRPC, expecting active=true
  introspect-rest  POST /oauth2/introspect, form token=..., HTTP Basic client
                   authentication, expecting {"active":true,...}
  oauth2-token     POST /oauth2/token, form grant_type=client_credentials,
                   HTTP Basic client authentication (the RFC 6749 endpoint
                   stock OAuth 2 clients call), expecting an access_token
  http-floor       this machine's HTTP floor: introspect-rest's requests
                   (same client code, callers and bodies) against a bare
                   net/http server inside this process (127.0.0.1,
                   ephemeral port) that parses the form and answers
                   {"active":true}; the report prints the REST scenarios'
                   rates relative to it
  yardstick-grpc   the yardstick: ValidateToken over gRPC against a bare
                   server in a child process of this program (127.0.0.1,
                   ephemeral port; -bare-in-process: inside this process)
                   that only runs jwx (jwt.Parse with signature and
                   exp/nbf/iat checks) on the server's JWKS; same client
                   code, callers, connections and tokens as validate-grpc
  grpc-floor       this machine's gRPC floor: validate-grpc's calls against a
                   bare server like the yardstick's that answers with a
                   fixed principal and verifies nothing; the report prints
                   validate-grpc and yardstick-grpc relative to it, and
                   grpc-floor/yardstick, what a server doing no work would
                   score

Setup issues -tokens access tokens over gRPC and fetches the JWKS over HTTP.
The server remembers verified tokens (VerifyCacheSize, 10000 by default): with
fewer -tokens the validate scenarios measure cache hits; use more (e.g.
-tokens 20000) to measure signature verification on every call. The
introspect scenarios rotate through the same tokens.

With validate-grpc and yardstick-grpc in one run the report prints
validate-grpc/yardstick for req/s and p99. The tool cannot change the
server: for the "every call verifies" comparison start the server with
--verify-cache-size 0 and give -every-call (implied by -tokens above %[5]d,
the default cache size); otherwise repeated tokens hit its verify cache.
When the scenarios they need ran, a table judges the production-speed goals:
introspect-rest >= %[6]d req/s, issue-rest and oauth2-token >= %[7]d req/s,
validate-grpc/yardstick >= %.2[8]fx (repeated tokens) or >= %.2[9]fx (every call
verifies), and validate-grpc p99 <= %.2[10]fx the yardstick's. A goal of a
scenario that had errors is not met.

-baseline FILE compares this run with a previous one: FILE is what that run
printed with -json (the report lines in it are skipped). For every scenario
that ran in both it prints this/baseline for req/s and p99, and it judges
the baseline goals, set for PostgreSQL (-label postgres) against the
embedded SQLite (-label sqlite): issue-rest, oauth2-token and introspect-rest req/s
>= %.2[11]fx the baseline's with p99 <= %.2[12]fx, refresh-rest req/s >= %.2[13]fx
with p99 <= %[14]s. Compare runs with the same -c and -d.

-baseline-grpc and -baseline-http name a second server instead (a live
baseline, with -baseline-ops and -baseline-label): every scenario then runs
on both servers back to back, their order alternating from round to round,
and the report shows the baseline's results, then this server's with the
comparison and the baseline goals. On a machine whose speed drifts this
compares the two at the same moments. The second server's secret and
password come from $%[17]s and
$%[18]s (client id and user name are shared).

-rounds N runs the whole scenario list N times, alternating (a b c, a b c,
...), and reports for each scenario its median round by req/s, with every
round's rate; errors count over all rounds. On a shared or noisy machine
this keeps one slow spell from deciding a ratio.

-ops URL reads the server's resident set size (%[15]s)
from /metrics on its ops listener (gatehouse serve --ops-addr; loopback
only, like the other targets): once before setup (the idle RSS, in the
header) and every %[16]s during each scenario (the peak RSS column).
Setup fails when the listener does not answer or lacks the metric.

The refresh scenarios need a user's credentials (%[3]s and
%[4]s, or -username/-password; the service client's are not
needed for them). Refresh tokens rotate: every call consumes its token and
returns the successor, and reusing a consumed token revokes the session. So
each caller keeps its own chain, started in setup (not timed) by a password
grant over gRPC, without client authentication (the default public client);
the chains carry over from one refresh scenario to the next. After a failed
call (an error) a caller never resends its token: it logs in again on its
next turn, which is neither counted nor timed (a failed re-login is an error
"re-login ..."). At the end the tool revokes the sessions it still holds
(AuthService.RevokeToken); those of broken chains stay until they expire.

Only loopback targets (127.0.0.0/8, ::1, localhost) are loaded unless
-allow-remote is given. Exit codes: 0 done, 1 failure, 2 usage, 130 interrupted.

Examples:
  gatehouse-bench -c 64 -d 20s -scenarios validate-grpc,jwx-verify -json
  gatehouse-bench -c 16 -d 5s -scenarios refresh-grpc,refresh-rest,introspect-grpc,introspect-rest
  gatehouse-bench -c 32 -d 10s -scenarios validate-grpc,yardstick-grpc,issue-rest,introspect-rest
  gatehouse-bench -c 32 -d 10s -every-call -scenarios validate-grpc,yardstick-grpc   # server: --verify-cache-size 0
  gatehouse-bench -c 16 -scenarios issue-rest,introspect-rest,refresh-rest -ops http://127.0.0.1:9090 -label sqlite -json > sqlite.jsonl
  gatehouse-bench -c 16 -scenarios issue-rest,introspect-rest,refresh-rest -ops http://127.0.0.1:9090 -label postgres -baseline sqlite.jsonl

Flags:
`, envClientID, envClientSecret, envUsername, envPassword, serverVerifyCache,
		goalIntrospectRESTRPS, goalIssueRESTRPS, goalRepeatedRatio, goalEveryCallRatio, goalP99Ratio,
		goalBaselineRatio, goalBaselineP99Ratio, goalRefreshBaselineRatio, goalRefreshP99, rssMetric, rssEvery, envBaselineClientSecret, envBaselinePassword)
	fs.PrintDefaults()
}
