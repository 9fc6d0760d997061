// Package server assembles a gatehouse instance from its configuration:
// database, master key, signing keys, in-memory view, core, and the gRPC and
// HTTP servers. cmd/gatehouse and the end-to-end tests both use it.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/gatehouse/gatehouse/service/audit"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/gctune"
	"github.com/gatehouse/gatehouse/service/grpcapi"
	"github.com/gatehouse/gatehouse/service/httpapi"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/telemetry"
	"github.com/gatehouse/gatehouse/service/view"
	"github.com/gatehouse/gatehouse/store"
)

// Config is everything a gatehouse instance needs.
type Config struct {
	GRPCAddr string // default localhost:50051
	HTTPAddr string // default localhost:8080
	// DataDir holds the embedded SQLite database and, when no master key is
	// configured, the generated master key file (default "data").
	DataDir string
	// DatabaseURL is a PostgreSQL URL or a SQLite path; empty means
	// DataDir/gatehouse.db.
	DatabaseURL string
	// DatabaseMaxConns bounds the PostgreSQL connection pool (default 16);
	// DatabaseTimeout bounds each database operation, the wait for a free
	// connection included (default 5 s). Past it a request is answered
	// UNAVAILABLE / 503 with Retry-After.
	DatabaseMaxConns int
	DatabaseTimeout  time.Duration
	// MasterKey is the base64 or hex text of the 32-byte master key;
	// MasterKeyFile names a file holding it. One of them is required with
	// PostgreSQL.
	MasterKey     string
	MasterKeyFile string
	// PreviousMasterKeys (base64 or hex) still open what they sealed; list
	// the old key here on every replica before `gatehouse keys rewrap`.
	PreviousMasterKeys []string
	SigningAlg         string // algorithm of new keys, default ES256
	RSABits            int    // 2048 or 3072 for RS256
	// KeyRotation is the signing-key lifecycle; RetainRetired is derived
	// from the token lifetime when zero.
	KeyRotation keys.Policy
	// KeyCheckInterval is how often each replica runs the scheduled key
	// lifecycle step (default 1 min).
	KeyCheckInterval time.Duration
	Core             core.Config
	View             view.Options
	HTTP             httpapi.Options
	Argon2           secrets.Params
	// ShutdownTimeout bounds the graceful stop (default 10 s); after it the
	// connections still open are closed.
	ShutdownTimeout time.Duration
	// MaxConnections caps the open connections of each listener (gRPC and
	// HTTP each; 0: DefaultMaxConnections). Beyond it new clients wait in
	// the kernel's accept queue until a connection closes.
	MaxConnections int
	// GRPC bounds streams, headers, messages, handshake time, connection
	// lifetime and keepalive pings on the gRPC listener; zero fields take
	// grpcapi.DefaultLimits.
	GRPC grpcapi.Limits
	// Federation tunes the verification of trusted issuers' tokens.
	Federation federation.Options
	// TLS serves both listeners over TLS (and mutual TLS) when set; see
	// TLSConfig.
	TLS TLSConfig
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time

	// AcceptIssuerChange lets a serving instance start although
	// Core.Issuer differs from the issuer the database records; the new
	// issuer is recorded. Without it such an instance refuses to start.
	AcceptIssuerChange bool

	// AutoMigrate says what a serving instance does with a database whose
	// schema is behind this binary: nil takes the default of its kind
	// (SQLite, one node: apply; PostgreSQL, shared by replicas: refuse and
	// name `gatehouse migrate up`), true applies, false refuses. An empty
	// database is always set up. Other roles never change the schema.
	AutoMigrate *bool

	// KeyPolicyFlags names the key-policy settings the operator gave
	// explicitly ("signing-alg", "rsa-bits", "key-rotation-interval",
	// "key-publish-lead"). A serving instance whose explicit setting
	// differs from the policy the database records refuses to start, unless
	// AcceptKeyPolicyChange records the new value; settings left at their
	// defaults follow the stored policy.
	KeyPolicyFlags        []string
	AcceptKeyPolicyChange bool

	// OpsAddr is the operations listener: /metrics, and /debug/pprof when
	// Pprof is set ("" turns it off). It defaults to localhost only, so
	// that neither is reachable on the public port.
	OpsAddr string
	Pprof   bool
	// AccessLog writes one info line per request, gRPC and REST alike.
	AccessLog bool
	// GCHeadroom, when not 0, lets Serve raise the GC percentage so that
	// the heap grows by at least this many bytes between collections
	// (package gctune); 0 leaves the Go runtime's settings alone.
	GCHeadroom uint64
	// Tracing exports spans of requests, database calls, password hashes,
	// signatures and JWKS fetches (telemetry.NewTracing; nil: off). The
	// caller owns it and shuts it down after Serve returns.
	Tracing *telemetry.Tracing
	// AuditRetention is how long audit events are kept (pruned hourly).
	AuditRetention time.Duration
	// AuditLog receives every audit event as a JSON line (log=audit); nil:
	// stderr when serving, nowhere for administrative commands.
	AuditLog io.Writer

	// Role says what the App is opened for. Only RoleServe stores the key
	// policy and runs the key schedule; RoleAdmin (the CLI, and the zero
	// value) never creates, activates, retires or removes a key except
	// through the explicit Rotate and Revoke.
	Role Role
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:         "localhost:50051",
		HTTPAddr:         "localhost:8080",
		DataDir:          "data",
		SigningAlg:       jose.ES256,
		RSABits:          2048,
		KeyRotation:      keys.Policy{RotationInterval: 30 * 24 * time.Hour, PublishLead: 2 * time.Hour},
		KeyCheckInterval: time.Minute,
		Role:             RoleServe,
		HTTP:             httpapi.Options{JWKSMaxAge: 5 * time.Minute},
		Core:             core.DefaultConfig(),
		Argon2:           secrets.DefaultParams(),
		ShutdownTimeout:  10 * time.Second,
		DatabaseMaxConns: store.DefaultMaxConns,
		DatabaseTimeout:  store.DefaultOpTimeout,
		MaxConnections:   DefaultMaxConnections,
		GRPC:             grpcapi.DefaultLimits(),
		OpsAddr:          "localhost:9090",
		AccessLog:        true,
		AuditRetention:   90 * 24 * time.Hour,
	}
}

// Role is what an App is opened for.
type Role string

const (
	// RoleAdmin is a command-line run: no key schedule, no key policy
	// written, and a database without keys opens (it cannot sign).
	RoleAdmin Role = ""
	// RoleServe is `gatehouse serve`: at open it stores (or merges into) the
	// key policy and runs the key lifecycle step, then Serve repeats the step
	// every KeyCheckInterval.
	RoleServe Role = "serve"
)

// App is an opened gatehouse instance.
type App struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	keys    *keys.Manager
	view    *view.View
	fed     *federation.Verifier
	metrics *prometheus.Registry
	core    *core.Service
	audit   *audit.Writer
	tel     appTelemetry // request metrics and ops listener (telemetry.go, ops.go)
}

// Open connects to the database, loads or creates the master key and the
// signing keys, and loads the in-memory view.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log = limitLogs(log)
	if cfg.Role != RoleServe && cfg.DatabaseURL == "" {
		// Nothing to administer yet: leave no empty database or master key
		// file behind.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "gatehouse.db")); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no gatehouse database in %s yet: start `gatehouse serve` once, or run `gatehouse migrate up`", cfg.DataDir)
		}
	}
	dsn, err := databaseDSN(cfg)
	if err != nil {
		return nil, err
	}
	master, err := loadMasterKeys(cfg, dsn, log)
	if err != nil {
		return nil, err
	}
	alog := auditLogger(cfg)
	st, err := store.Open(ctx, dsn, store.WithClock(cfg.Now), storeTracing(cfg), store.WithMaxConns(cfg.DatabaseMaxConns), store.WithOpTimeout(cfg.DatabaseTimeout), store.WithoutMigration(),
		store.WithAuditSink(audit.Sink(alog)))
	if err != nil {
		return nil, err
	}
	if err := prepareSchema(ctx, cfg, st, log); err != nil {
		st.Close()
		return nil, err
	}
	a, err := open(ctx, cfg, log, alog, st, master)
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// databaseDSN is the database the configuration names: --database-url, or
// the SQLite file in the data directory (created owner-only if missing).
func databaseDSN(cfg Config) (string, error) {
	dsn := cfg.DatabaseURL
	if dsn != "" {
		// Refuse an ambiguous URL here, before a master key file is
		// created next to what might not be a SQLite path.
		if _, err := store.ParseDSN(dsn); err != nil {
			return "", fmt.Errorf("--database-url: %w", err)
		}
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return "", fmt.Errorf("create data directory: %w", err)
		}
		dsn = filepath.Join(cfg.DataDir, "gatehouse.db")
		// The database holds password hashes: readable by its owner only.
		// SQLite gives the -wal and -shm files the same mode.
		f, err := os.OpenFile(dsn, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return "", fmt.Errorf("create database file: %w", err)
		}
		f.Close()
	}
	return dsn, nil
}

// OpenStore opens the configured database without touching its schema or
// keys, for `gatehouse migrate`.
func OpenStore(ctx context.Context, cfg Config) (*store.Store, error) {
	dsn, err := databaseDSN(cfg)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, dsn, store.WithMaxConns(cfg.DatabaseMaxConns), store.WithOpTimeout(-1), store.WithoutMigration())
}

func open(ctx context.Context, cfg Config, log, alog *slog.Logger, st *store.Store, master *keys.MasterKeys) (*App, error) {
	policy := cfg.KeyRotation
	if policy.RetainRetired == 0 {
		// A retired key stays published until its last token has expired.
		policy.RetainRetired = cfg.Core.AccessTokenTTL + cfg.Core.Leeway + time.Minute
	}
	serving := cfg.Role == RoleServe
	km, err := keys.NewManager(st, master, keys.Options{
		Alg: cfg.SigningAlg, RSABits: cfg.RSABits, Policy: policy, Schedule: serving,
		Explicit: cfg.KeyPolicyFlags, AcceptChange: cfg.AcceptKeyPolicyChange,
	}, cfg.Now, log)
	if err != nil {
		return nil, err
	}
	if serving {
		// Every replica must issue (and accept) the same iss.
		if err := pinIssuer(ctx, st, master, cfg.Core.Issuer, cfg.AcceptIssuerChange, log); err != nil {
			return nil, err
		}
	}
	if serving {
		// Store the key policy (or merge this replica's token lifetime into
		// it) and run the first lifecycle step: the first key on an empty
		// database. Other roles leave the keys alone.
		if err := km.Start(ctx); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
	}
	hashKey, err := keys.HashKey(ctx, st, master)
	if err != nil {
		return nil, err
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fedOpts := cfg.Federation
	fedOpts.Metrics = federation.NewMetrics(metrics)
	fedOpts.Tracing = tracerProvider(cfg)
	fed := federation.New(fedOpts, log, cfg.Now)
	if serving {
		// Bring names stored under older rules to their canonical (PRECIS,
		// IDNA) form; administrative commands change no data as a side effect.
		if err := core.CanonicaliseStoredNames(ctx, st, log); err != nil {
			return nil, err
		}
		// Trusted issuers stored before federated links get the link
		// policy that matches their old identity claims (logged per issuer).
		if _, err := core.MigrateIssuerLinkPolicies(ctx, st, log); err != nil {
			return nil, fmt.Errorf("upgrade trusted issuers to federated links: %w", err)
		}
	}
	v := view.New(st, km, cfg.View, cfg.Now, log)
	v.OnIssuers(fed.SetIssuers)
	if err := v.Load(ctx); err != nil {
		return nil, fmt.Errorf("load view: %w", err)
	}
	pw, err := secrets.NewHasher(cfg.Argon2)
	if err != nil {
		return nil, fmt.Errorf("password hasher: %w", err)
	}
	aw, err := startAudit(cfg, st, alog, log, metrics)
	if err != nil {
		return nil, err
	}
	c, err := core.New(cfg.Core, core.Deps{
		Store:      st,
		Keys:       km,
		View:       v,
		Federation: fed,
		Passwords:  pw,
		Secrets:    secrets.NewSecretHasher(hashKey),
		Tracing:    tracerProvider(cfg),
		Now:        cfg.Now,
		Log:        log,
		Observer:   core.Observers{aw, domainMetrics(metrics)},
	})
	if err != nil {
		aw.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("configuration: %w", err)
	}
	watchState(metrics, st, v, c, cfg.Now)
	return &App{cfg: cfg, log: log, store: st, keys: km, view: v, fed: fed, metrics: metrics, core: c, audit: aw}, nil
}

// loadMasterKey takes the master key from the configuration, or for the
// embedded SQLite database from (or into) a key file in the data directory.
func loadMasterKeys(cfg Config, dsn string, log *slog.Logger) (*keys.MasterKeys, error) {
	primary, err := loadMasterKey(cfg, dsn, log)
	if err != nil {
		return nil, err
	}
	mk := &keys.MasterKeys{Primary: primary}
	for i, text := range cfg.PreviousMasterKeys {
		k, err := secrets.ParseMasterKey(text)
		if err != nil {
			return nil, fmt.Errorf("previous master key %d: %w", i+1, err)
		}
		mk.Previous = append(mk.Previous, k)
	}
	return mk, nil
}

func loadMasterKey(cfg Config, dsn string, log *slog.Logger) (*secrets.MasterKey, error) {
	switch {
	case cfg.MasterKey != "":
		k, err := secrets.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		return k, nil
	case cfg.MasterKeyFile != "":
		b, err := os.ReadFile(cfg.MasterKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read master key file: %w", err)
		}
		k, err := secrets.ParseMasterKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", cfg.MasterKeyFile, err)
		}
		return k, nil
	case store.IsPostgres(dsn):
		return nil, errors.New("a master key is required with PostgreSQL: set GATEHOUSE_MASTER_KEY or --master-key-file (generate one with `gatehouse masterkey generate`)")
	}
	path := filepath.Join(cfg.DataDir, "master.key")
	if cfg.DataDir == "" {
		d, err := store.ParseDSN(dsn)
		if err != nil {
			return nil, err
		}
		path = filepath.Join(filepath.Dir(d.Path), "master.key")
	}
	k, created, err := secrets.LoadOrCreateMasterKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a master key file next to the database; keep it apart from the database and back it up, or set GATEHOUSE_MASTER_KEY", "path", path)
	}
	return k, nil
}

// Core returns the business logic, for the CLI and tests.
func (a *App) Core() *core.Service { return a.core }

// View returns the in-memory view, for tests.
func (a *App) View() *view.View { return a.view }

// Close stops the trusted issuers' key refreshes and releases the database.
func (a *App) Close() error {
	a.fed.Close()
	a.stopAudit()
	return a.store.Close()
}

// Bootstrap creates the `admin` user on an empty database. It returns the
// generated password when none was given, so that it can be shown once; the
// generated password is also written to DATA_DIR/admin-password (mode 0600),
// to be deleted after the first login. Call it after Listen, so that a serve
// that cannot bind its ports creates no admin whose password nobody sees.
func (a *App) Bootstrap(ctx context.Context, password string) (generated string, err error) {
	n, err := a.core.CountAccounts(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	if password == "" {
		if password, err = secrets.RandomToken(""); err != nil {
			return "", err
		}
		generated = password
	}
	_, err = a.core.CreateUser(ctx, core.NewUser{
		Username: "admin", DisplayName: "Administrator", Password: password, Roles: []string{core.RoleAdmin},
	})
	if errs.KindOf(err) == errs.AlreadyExists {
		// Replicas started together on an empty database: another one won.
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("create admin user: %w", err)
	}
	a.log.Info("created the admin user on an empty database", "username", "admin")
	if generated != "" {
		path, err := writeAdminPassword(a.cfg.DataDir, generated)
		if err != nil {
			// The caller still prints the password once.
			a.log.Error("could not write the generated admin password to a file", "err", err)
		} else {
			a.log.Warn("the generated admin password is in a file readable by its owner only: delete it after the first login (change the password with `gatehouse users set-password admin`)", "path", path)
		}
	}
	return generated, nil
}

// AdminPasswordFile is the name, in the data directory, of the file that
// holds a generated admin password.
const AdminPasswordFile = "admin-password"

// writeAdminPassword writes password to dir/admin-password with mode 0600,
// replacing the file atomically.
func writeAdminPassword(dir, password string) (string, error) {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, AdminPasswordFile)
	f, err := os.CreateTemp(dir, AdminPasswordFile+".*.tmp") // mode 0600
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(password + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// Serve runs the gRPC and HTTP servers on the given listeners and the view's
// change-log tail until ctx ends, then stops gracefully.
func (a *App) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	if a.cfg.Role != RoleServe {
		return errors.New("this instance was opened for an administrative command (Config.Role is not RoleServe): it runs no key schedule and cannot serve")
	}
	// TLS (when configured) is loaded first, so that a bad certificate
	// stops the start before anything listens.
	var tlsSrv *TLS
	if a.cfg.TLS.Enabled() {
		t, err := LoadTLS(a.cfg.TLS, a.log)
		if err != nil {
			return err
		}
		tlsSrv = t
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each listener caps its open connections and can close them all when
	// the shutdown grace period ends.
	glis := newBoundedListener(grpcLis, a.cfg.MaxConnections)
	hlis := newBoundedListener(httpLis, a.cfg.MaxConnections)
	// TLS wraps the bounded listeners, so that net/http sees *tls.Conn
	// (HTTP/2, Request.TLS) and the caps still count every connection.
	var gServe, hServe net.Listener = glis, hlis
	tlsMode := "off"
	if tlsSrv != nil {
		gServe, hServe, tlsMode = tlsSrv.GRPCListener(glis), tlsSrv.HTTPListener(hlis), tlsSrv.Mode()
	} else {
		warnPlaintext(a.log, map[string]net.Addr{"grpc": grpcLis.Addr(), "http": httpLis.Addr()})
	}
	hs := health.NewServer()
	gs, err := a.newGRPCServer(hs)
	if err != nil {
		return fmt.Errorf("gRPC server: %w", err)
	}
	httpOpts := a.httpOptions()
	h, err := httpapi.Handler(ctx, a.core, a.gatewayConn(), httpOpts, a.log)
	if err != nil {
		return err
	}
	hsrv := newHTTPServer(a.traceHTTP(h), a.cfg, a.log)
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	ops, err := a.serveOps(&wg, errc)
	if err != nil {
		return err
	}
	wg.Go(func() { a.view.Run(ctx) })
	wg.Go(func() { a.housekeep(ctx) })
	wg.Go(func() { a.rotateKeys(ctx) })
	wg.Go(func() { a.fed.Run(ctx) })
	wg.Go(func() { gctune.Run(ctx, a.cfg.GCHeadroom, a.log) })
	wg.Go(func() {
		if err := gs.Serve(gServe); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("gRPC server: %w", err)
		}
	})
	wg.Go(func() {
		if err := hsrv.Serve(hServe); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("HTTP server: %w", err)
		}
	})
	a.startHealth(ctx, &wg, hs)
	// Start-up work (migrations, the schema check, a first administrator's
	// argon2id hash) leaves tens of MiB of garbage;
	// hand it back to the OS now rather than over minutes of scavenging, so
	// that an idle replica's RSS is what it really uses.
	debug.FreeOSMemory()
	a.log.Info("gatehouse serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(), "database", a.store.Dialect(), "issuer", a.cfg.Core.Issuer, "tls", tlsMode, "ops", a.OpsAddr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	hs.Shutdown()
	timeout := a.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// Within the grace period calls in flight finish; after it, every
	// connection still open is closed, whatever its client does.
	graceEnd := time.Now().Add(timeout)
	forced := stopServers(timeout, gs, hsrv, glis, hlis, a.log)
	ops.stop()
	cancel()
	background := make(chan struct{})
	go func() { wg.Wait(); close(background) }()
	if !waitAtMost(background, max(time.Until(graceEnd), forceCloseWait)) {
		// Only the process's exit ends what ignores its canceled context.
		a.log.Warn("background tasks did not stop within the shutdown timeout; not waiting for them")
	}
	a.stopAudit() // after the servers: no request can add an event any more
	a.log.Info("gatehouse stopped", "forced", forced)
	return serveErr
}

// housekeep deletes, once an hour, refresh tokens that can never be used
// again, stale login-failure counters, audit events past their retention
// and used or expired authorization codes. Every replica does it; the deletes are idempotent.
func (a *App) housekeep(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := a.cfg.Now()
		if n, err := a.store.PruneRefreshTokens(ctx, now.Add(-24*time.Hour)); err != nil {
			a.log.Warn("pruning refresh tokens failed", "err", err)
		} else if n > 0 {
			a.log.Debug("pruned refresh tokens", "rows", n)
		}
		c := a.cfg.Core
		keep := time.Duration(0)
		for _, p := range []store.ThrottlePolicy{c.UserThrottle, c.AccountThrottle, c.ClientThrottle, c.ClientAccountThrottle, c.IPThrottle} {
			keep = max(keep, p.Window+p.Lockout)
		}
		if _, err := a.store.PruneThrottles(ctx, now.Add(-keep)); err != nil {
			a.log.Warn("pruning login throttles failed", "err", err)
		}
		a.PruneAudit(ctx)
		if n, err := a.core.PruneAuthorizationCodes(ctx); err != nil {
			a.log.Warn("pruning authorization codes failed", "err", err)
		} else if n > 0 {
			a.log.Debug("pruned authorization codes", "rows", n)
		}
	}
}

// rotateKeys runs the scheduled key lifecycle step on every replica; the key
// lock in the database makes sure only one of them acts on each change.
func (a *App) rotateKeys(ctx context.Context) {
	if a.cfg.Role != RoleServe {
		a.log.Warn("the key schedule does not run: the instance was not opened for serving")
		return
	}
	every := a.cfg.KeyCheckInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// What Tick changes is in the change log; this replica's view picks
		// it up at its next poll like every other replica's.
		if err := a.keys.Tick(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("scheduled key rotation failed; retrying at the next check", "err", err)
		}
	}
}

// Logger returns the instance's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// Keys returns the key manager, for the CLI and tests.
func (a *App) Keys() *keys.Manager { return a.keys }

// Listen opens the configured listeners.
func (a *App) Listen() (grpcLis, httpLis net.Listener, err error) {
	grpcLis, err = net.Listen("tcp", a.cfg.GRPCAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen gRPC on %s: %w", a.cfg.GRPCAddr, err)
	}
	httpLis, err = net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		grpcLis.Close()
		return nil, nil, fmt.Errorf("listen HTTP on %s: %w", a.cfg.HTTPAddr, err)
	}
	if err := a.listenOps(); err != nil {
		grpcLis.Close()
		httpLis.Close()
		return nil, nil, err
	}
	return grpcLis, httpLis, nil
}
