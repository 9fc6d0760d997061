package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/logx"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

// envPrefix names the environment variables that back every configuration
// flag: --http-addr is GATEHOUSE_HTTP_ADDR.
const envPrefix = "GATEHOUSE_"

// keyPolicyFlags are the settings a serving instance compares with the key
// policy the database records when the operator gives them explicitly.
var keyPolicyFlags = []string{"signing-alg", "rsa-bits", "key-rotation-interval", "key-publish-lead"}

// options are a command's configuration: the server.Config its flags and
// environment variables build, and how it logs.
type options struct {
	cfg       server.Config
	logLevel  string
	logFormat string
	serve     bool
	settings  []setting
	finished  bool
}

// setting is a configuration flag and the environment variable behind it.
type setting struct {
	name  string
	value pflag.Value
}

// binder defines configuration flags on one flag set.
type binder struct {
	o      *options
	fs     *pflag.FlagSet
	shared bool // listed as a database flag in help
	hidden bool // accepted but not listed in help
}

// var_ defines a flag backed by an environment variable. A flag the
// command already defines itself (issuers' --issuer) keeps that meaning;
// the variable still configures the server setting.
func (b *binder) var_(v pflag.Value, name, help string) *pflag.Flag {
	b.o.settings = append(b.o.settings, setting{name, v})
	if b.fs.Lookup(name) != nil {
		return nil
	}
	f := b.fs.VarPF(v, name, "", fmt.Sprintf("%s (env %s)", help, envName(name)))
	if _, ok := v.(interface{ IsBoolFlag() bool }); ok {
		f.NoOptDefVal = "true"
	}
	if b.shared {
		_ = b.fs.SetAnnotation(name, annotationShared, nil)
	}
	f.Hidden = b.hidden
	return f
}

func (b *binder) str(p *string, name, help string) *pflag.Flag {
	return b.var_(stringFlag{p}, name, help)
}

func (b *binder) dur(p *time.Duration, name, help string) *pflag.Flag {
	return b.var_(durationFlag{p}, name, help)
}

func (b *binder) int(p *int, name, help string) *pflag.Flag { return b.var_(intFlag{p}, name, help) }

func (b *binder) bool(p *bool, name, help string) *pflag.Flag {
	return b.var_(boolFlag{p}, name, help)
}

// bind defines the configuration flags on fs. Every command that opens the
// database shows the shared database and logging flags; serve also shows
// the server settings, which the other commands accept (so that one
// environment or flag list serves every command) without listing them.
func (o *options) bind(fs *pflag.FlagSet, serve bool) {
	o.cfg = server.DefaultConfig()
	o.serve = serve
	if !serve {
		// Commands other than serve never run the key schedule (see serve.go).
		o.cfg.Role = server.RoleAdmin
	}
	o.logLevel, o.logFormat = "info", "text"
	// Secrets only from the environment: flags are visible to other users.
	o.cfg.MasterKey = os.Getenv(envPrefix + "MASTER_KEY")
	o.cfg.PreviousMasterKeys = splitList(os.Getenv(envPrefix + "MASTER_KEY_PREVIOUS"))

	b := &binder{o: o, fs: fs, shared: true}
	b.str(&o.cfg.DataDir, "data-dir", "directory for the embedded SQLite database and generated master key")
	b.str(&o.cfg.DatabaseURL, "database-url", "postgres://... URL or SQLite file path (default DATA_DIR/gatehouse.db)")
	b.int(&o.cfg.DatabaseMaxConns, "database-max-conns", "most open PostgreSQL connections of this process; requests wait up to --database-timeout for one")
	b.dur(&o.cfg.DatabaseTimeout, "database-timeout", "bound of each database operation, waiting for a connection included; past it the request is answered UNAVAILABLE/503")
	b.str(&o.cfg.MasterKeyFile, "master-key-file", "file holding the 32-byte master key (base64 or hex); or set GATEHOUSE_MASTER_KEY (old keys, comma-separated: GATEHOUSE_MASTER_KEY_PREVIOUS)")
	b.str(&o.logLevel, "log-level", "debug, info, warn or error")
	b.str(&o.logFormat, "log-format", "text or json")

	b.shared, b.hidden = false, !serve
	// Its default follows --http-addr (see finish), so none is shown.
	if f := b.str(&o.cfg.Core.Issuer, "issuer", "the iss of issued tokens; must be the URL clients reach gatehouse at (default http://HTTP_ADDR, https with TLS; a wildcard host becomes localhost)"); f != nil {
		f.DefValue = ""
	}
	b.str(&o.cfg.Core.Audience, "audience", "the default aud of issued tokens")
	b.str(&o.cfg.SigningAlg, "signing-alg", "signing algorithm of new keys: ES256, EdDSA or RS256")
	b.int(&o.cfg.RSABits, "rsa-bits", "RSA key size for RS256: 2048 or 3072")
	b.dur(&o.cfg.KeyRotation.RotationInterval, "key-rotation-interval", "how long a signing key signs before its successor takes over (0: only manual rotation)")
	b.dur(&o.cfg.KeyRotation.PublishLead, "key-publish-lead", "how long a new key is published before it signs")
	b.dur(&o.cfg.Core.AccessTokenTTL, "token-ttl", "access token lifetime")
	b.dur(&o.cfg.Core.Leeway, "leeway", "clock skew tolerated on exp/nbf/iat")
	b.dur(&o.cfg.Core.RefreshIdleTTL, "refresh-idle-ttl", "a refresh-token session unused this long ends")
	b.dur(&o.cfg.Core.RefreshAbsoluteTTL, "refresh-absolute-ttl", "a refresh-token session ends this long after the login")
	b.dur(&o.cfg.Core.OfflineIdleTTL, "offline-idle-ttl", "an offline token unused this long ends (0: lives until revoked)")
	b.dur(&o.cfg.Core.RefreshReuseGrace, "refresh-reuse-grace", "a rotated refresh token presented again this soon by its client returns the same successor instead of revoking the session (0: every reuse revokes; at most 5m)")
	b.int(&o.cfg.Core.UserThrottle.MaxFailures, "login-max-failures", "failed logins per (username, client IP) within --login-window before that pair is locked out; client ids get twice this")
	b.int(&o.cfg.Core.AccountThrottle.MaxFailures, "account-max-failures", "failed logins per username from all IPs within --login-window before the account is locked out for untrusted addresses; client ids get twice this")
	b.int(&o.cfg.Core.IPThrottle.MaxFailures, "ip-max-failures", "failed logins and client authentications per client IP within --login-window before the IP is locked out for accounts not trusted from it")
	b.dur(&o.cfg.Core.UserThrottle.Window, "login-window", "window in which failures are counted")
	b.dur(&o.cfg.Core.UserThrottle.Lockout, "login-lockout", "how long a lockout lasts")
	b.dur(&o.cfg.Core.TrustedPairTTL, "login-trust-ttl", "how long a correct login from an IP exempts that account and IP from the per-account and per-IP lockouts (0: never)")
	b.var_(prefixList{&o.cfg.Core.TrustedProxies}, "trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed")
	if serve {
		o.bindServe(b)
	}
}

// bindServe defines the flags only serve has.
func (o *options) bindServe(b *binder) {
	// Show (and use) the defaults the packages apply to a zero value.
	if o.cfg.View.PollInterval <= 0 {
		o.cfg.View.PollInterval = time.Second
	}
	if o.cfg.Federation.MinRefetchInterval <= 0 {
		o.cfg.Federation.MinRefetchInterval = federation.DefaultMinRefetchInterval
	}
	b.bool(&o.cfg.AcceptIssuerChange, "accept-issuer-change", "start although --issuer differs from the issuer the database records, and record the new one (tokens of the old issuer stop validating)")
	b.bool(&o.cfg.AcceptKeyPolicyChange, "accept-key-policy-change", "start although an explicitly given --signing-alg, --rsa-bits, --key-rotation-interval or --key-publish-lead differs from the key policy the database records, and record the new value")
	b.var_(optionalBool{&o.cfg.AutoMigrate}, "auto-migrate", "apply pending schema migrations at start (true) or refuse to start (false); unset: apply on SQLite, refuse on PostgreSQL (then run \"gatehouse migrate up\")")
	b.bool(&o.cfg.Core.RequireAudience, "require-audience", "refuse (INVALID_ARGUMENT) a ValidateToken call that names no audience")
	b.int(&o.cfg.Core.VerifyCacheSize, "verify-cache-size", "verified tokens remembered to skip repeated signature checks, 0 disables")
	b.str(&o.cfg.GRPCAddr, "grpc-addr", "gRPC listen address")
	b.str(&o.cfg.HTTPAddr, "http-addr", "HTTP listen address")
	// TLS on both listeners; the files are re-read when they change.
	b.str(&o.cfg.TLS.CertFile, "tls-cert", "PEM certificate (chain) served on the gRPC and HTTP listeners; with --tls-key turns TLS on and makes the default issuer https")
	b.str(&o.cfg.TLS.KeyFile, "tls-key", "PEM private key of --tls-cert")
	b.str(&o.cfg.TLS.ClientCAFile, "tls-client-ca", "PEM bundle of CAs whose client certificates are accepted; turns on mutual TLS")
	b.str(&o.cfg.TLS.ClientAuth, "tls-client-auth", "with --tls-client-ca: require (default: no handshake without a valid client certificate) or verify-if-given")
	// Listener limits: 0 selects the default.
	b.int(&o.cfg.MaxConnections, "max-connections", "open connections per listener (gRPC and HTTP each); more clients wait in the accept queue")
	b.int(&o.cfg.GRPC.MaxConcurrentStreams, "grpc-max-streams", "concurrent calls per gRPC connection; more are refused")
	b.dur(&o.cfg.GRPC.MaxConnectionIdle, "grpc-max-connection-idle", "a gRPC connection without calls this long is closed (GOAWAY)")
	b.dur(&o.cfg.GRPC.MaxConnectionAge, "grpc-max-connection-age", "a gRPC connection is closed (GOAWAY) this long after it opened, ±10%; calls in flight get 30s more")
	b.dur(&o.cfg.ShutdownTimeout, "shutdown-timeout", "on SIGTERM, calls in flight may finish this long; then every connection still open is closed")
	b.dur(&o.cfg.Federation.MinRefetchInterval, "federation-min-refetch", "a token with an unknown kid triggers at most one JWKS refetch per trusted issuer per this interval")
	b.dur(&o.cfg.HTTP.JWKSMaxAge, "jwks-max-age", "Cache-Control max-age of the JWKS and discovery documents")
	b.var_(&o.cfg.HTTP.AllowedRedirectOrigins, "allowed-redirect-origins", "comma-separated origins (https://app.example.com) that the login page and logout may send a browser to after signing in or out, besides this server's own paths")
	b.dur(&o.cfg.KeyCheckInterval, "key-check-interval", "how often each replica runs the scheduled key rotation step")
	b.dur(&o.cfg.View.PollInterval, "poll-interval", "how often the change log is read (staleness bound of revocations)")
	// Observability.
	b.str(&o.cfg.OpsAddr, "ops-addr", "operations listener for /metrics (and /debug/pprof with --pprof); keep it private (empty: off)")
	b.bool(&o.cfg.Pprof, "pprof", "serve Go's /debug/pprof profiles on the ops listener")
	b.bool(&o.cfg.AccessLog, "access-log", "one info log line per request (gRPC and REST): method or route, status, duration, client IP, caller, request id")
	b.dur(&o.cfg.AuditRetention, "audit-retention", "audit events older than this are deleted (hourly)")
}

// given reports whether the operator set a configuration flag, on the
// command line or through its environment variable.
func (o *options) given(fs *pflag.FlagSet, name string) bool {
	if _, ok := os.LookupEnv(envName(name)); ok {
		return true
	}
	i := slices.IndexFunc(o.settings, func(s setting) bool { return s.name == name })
	return i >= 0 && o.flagSet(fs, o.settings[i])
}

// flagSet reports whether s was given on the command line.
func (o *options) flagSet(fs *pflag.FlagSet, s setting) bool {
	f := fs.Lookup(s.name)
	return f != nil && f.Value == s.value && f.Changed
}

// finish completes the configuration after fs was parsed: environment
// variables fill what the command line left unset, then the derived
// settings follow.
func (o *options) finish(fs *pflag.FlagSet) error {
	if o.finished {
		return nil
	}
	o.finished = true
	for _, s := range o.settings {
		v, ok := os.LookupEnv(envName(s.name))
		if !ok || o.flagSet(fs, s) {
			continue
		}
		if err := s.value.Set(v); err != nil {
			return fmt.Errorf("%s: %w", envName(s.name), err)
		}
	}
	// Without --issuer the issuer is where the HTTP listener is reached:
	// http://HTTP_ADDR, https with TLS (and so the discovery URLs). An issuer
	// given explicitly is kept as it is.
	if !o.given(fs, "issuer") {
		if iss, ok := defaultIssuer(o.cfg.HTTPAddr, o.cfg.TLS.Enabled()); ok {
			o.cfg.Core.Issuer = iss
		} else if rest, ok := strings.CutPrefix(o.cfg.Core.Issuer, "http://"); ok && o.cfg.TLS.Enabled() {
			o.cfg.Core.Issuer = "https://" + rest
		}
	}
	// One window and lockout for every throttle keeps the knobs few.
	c := &o.cfg.Core
	for _, p := range []*store.ThrottlePolicy{&c.AccountThrottle, &c.ClientThrottle, &c.ClientAccountThrottle, &c.IPThrottle} {
		p.Window, p.Lockout = c.UserThrottle.Window, c.UserThrottle.Lockout
	}
	c.ClientThrottle.MaxFailures = 2 * c.UserThrottle.MaxFailures
	c.ClientAccountThrottle.MaxFailures = 2 * c.AccountThrottle.MaxFailures
	if o.serve {
		// Only explicit settings are held against the stored key policy.
		o.cfg.KeyPolicyFlags = nil
		for _, name := range keyPolicyFlags {
			if o.given(fs, name) {
				o.cfg.KeyPolicyFlags = append(o.cfg.KeyPolicyFlags, name)
			}
		}
	}
	return nil
}

// defaultIssuer is the issuer URL of an HTTP listener on addr: a wildcard
// or empty host (0.0.0.0, ::, ":8080") is reached as localhost. ok is false
// when addr is not host:port (listening fails with a clear error then) or
// its port is 0 (chosen when listening: not known here).
func defaultIssuer(addr string, tls bool) (issuer string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", false
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), true
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (o *options) logger(w io.Writer) (*slog.Logger, error) {
	h, err := o.logHandler(w)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// bufferedLogger is serve's logger: lines are batched into one write per
// 64 KiB or 200 ms (access logs write one per request), WARN and above go
// out at once. Close the writer before exiting.
func (o *options) bufferedLogger(w io.Writer) (*slog.Logger, *logx.BufferedWriter, error) {
	bw := logx.NewBufferedWriter(w, 64<<10, 200*time.Millisecond)
	h, err := o.logHandler(bw)
	if err != nil {
		bw.Close()
		return nil, nil, err
	}
	return slog.New(logx.FlushAbove(h, bw, slog.LevelWarn)), bw, nil
}

func (o *options) logHandler(w io.Writer) (slog.Handler, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, usageErr("log level %q is not debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.NewTextHandler(w, hopts), nil
	case "json":
		return slog.NewJSONHandler(w, hopts), nil
	}
	return nil, usageErr("log format %q is not text or json", o.logFormat)
}
