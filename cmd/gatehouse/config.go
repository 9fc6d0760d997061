package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

// envPrefix names the environment variables that back every flag:
// --http-addr is GATEHOUSE_HTTP_ADDR.
const envPrefix = "GATEHOUSE_"

// options are the flags common to every command.
type options struct {
	cfg       server.Config
	logLevel  string
	logFormat string
}

// newFlagSet binds the configuration flags. Flags default to their
// environment variable, so an explicit flag wins over the environment.
func newFlagSet(name string, o *options, withServe bool, stderr io.Writer) *flag.FlagSet {
	o.cfg = server.DefaultConfig()
	if !withServe {
		// Commands other than serve never run the key schedule (see serve.go).
		o.cfg.Role = server.RoleAdmin
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, flagName, help string) {
		if v, ok := os.LookupEnv(envName(flagName)); ok {
			*p = v
		}
		fs.StringVar(p, flagName, *p, fmt.Sprintf("%s (env %s)", help, envName(flagName)))
	}
	dur := func(p *time.Duration, flagName, help string) {
		fs.Var(&envDuration{p: p}, flagName, fmt.Sprintf("%s (env %s)", help, envName(flagName)))
	}
	str(&o.cfg.DataDir, "data-dir", "directory for the embedded SQLite database and generated master key")
	str(&o.cfg.DatabaseURL, "database-url", "postgres://... URL or SQLite file path (default DATA_DIR/gatehouse.db)")
	fs.Var(&envInt{p: &o.cfg.DatabaseMaxConns}, "database-max-conns", fmt.Sprintf("most open PostgreSQL connections of this process; requests wait up to --database-timeout for one (env %s)", envName("database-max-conns")))
	dur(&o.cfg.DatabaseTimeout, "database-timeout", "bound of each database operation, waiting for a connection included; past it the request is answered UNAVAILABLE/503")
	str(&o.cfg.MasterKeyFile, "master-key-file", "file holding the 32-byte master key (base64 or hex); or set GATEHOUSE_MASTER_KEY")
	o.cfg.MasterKey = os.Getenv(envPrefix + "MASTER_KEY")
	// Old master keys, comma-separated, only from the environment (secrets
	// do not belong in flags).
	o.cfg.PreviousMasterKeys = splitList(os.Getenv(envPrefix + "MASTER_KEY_PREVIOUS"))
	o.logLevel, o.logFormat = "info", "text"
	str(&o.logLevel, "log-level", "debug, info, warn or error")
	str(&o.logFormat, "log-format", "text or json")
	str(&o.cfg.Core.Issuer, "issuer", "the iss of issued tokens; must be the URL clients reach gatehouse at (default http://HTTP_ADDR, https with TLS; a wildcard host becomes localhost)")
	str(&o.cfg.Core.Audience, "audience", "the default aud of issued tokens")
	str(&o.cfg.SigningAlg, "signing-alg", "signing algorithm of new keys: ES256, EdDSA or RS256")
	fs.Var(&envInt{p: &o.cfg.RSABits}, "rsa-bits", fmt.Sprintf("RSA key size for RS256: 2048 or 3072 (env %s)", envName("rsa-bits")))
	dur(&o.cfg.KeyRotation.RotationInterval, "key-rotation-interval", "how long a signing key signs before its successor takes over (0: only manual rotation)")
	dur(&o.cfg.KeyRotation.PublishLead, "key-publish-lead", "how long a new key is published before it signs")
	dur(&o.cfg.Core.AccessTokenTTL, "token-ttl", "access token lifetime")
	dur(&o.cfg.Core.Leeway, "leeway", "clock skew tolerated on exp/nbf/iat")
	dur(&o.cfg.Core.RefreshIdleTTL, "refresh-idle-ttl", "a refresh-token session unused this long ends")
	dur(&o.cfg.Core.RefreshAbsoluteTTL, "refresh-absolute-ttl", "a refresh-token session ends this long after the login")
	dur(&o.cfg.Core.OfflineIdleTTL, "offline-idle-ttl", "an offline token unused this long ends (0: lives until revoked)")
	dur(&o.cfg.Core.RefreshReuseGrace, "refresh-reuse-grace", "a rotated refresh token presented again this soon by its client returns the same successor instead of revoking the session (0: every reuse revokes; at most 5m)")
	fs.Var(&envInt{p: &o.cfg.Core.UserThrottle.MaxFailures}, "login-max-failures", fmt.Sprintf("failed logins per (username, client IP) within --login-window before that pair is locked out; client ids get twice this (env %s)", envName("login-max-failures")))
	fs.Var(&envInt{p: &o.cfg.Core.AccountThrottle.MaxFailures}, "account-max-failures", fmt.Sprintf("failed logins per username from all IPs within --login-window before the account is locked out for untrusted addresses; client ids get twice this (env %s)", envName("account-max-failures")))
	fs.Var(&envInt{p: &o.cfg.Core.IPThrottle.MaxFailures}, "ip-max-failures", fmt.Sprintf("failed logins and client authentications per client IP within --login-window before the IP is locked out for accounts not trusted from it (env %s)", envName("ip-max-failures")))
	dur(&o.cfg.Core.UserThrottle.Window, "login-window", "window in which failures are counted")
	dur(&o.cfg.Core.UserThrottle.Lockout, "login-lockout", "how long a lockout lasts")
	dur(&o.cfg.Core.TrustedPairTTL, "login-trust-ttl", "how long a correct login from an IP exempts that account and IP from the per-account and per-IP lockouts (0: never)")
	fs.Var(&prefixList{p: &o.cfg.Core.TrustedProxies}, "trusted-proxies", fmt.Sprintf("comma-separated CIDRs of proxies whose X-Forwarded-For is believed (env %s)", envName("trusted-proxies")))
	if withServe {
		// Show (and use) the defaults the packages apply to a zero value.
		if o.cfg.View.PollInterval <= 0 {
			o.cfg.View.PollInterval = time.Second
		}
		if o.cfg.Federation.MinRefetchInterval <= 0 {
			o.cfg.Federation.MinRefetchInterval = federation.DefaultMinRefetchInterval
		}
		fs.Var(&envBool{p: &o.cfg.AcceptIssuerChange}, "accept-issuer-change", fmt.Sprintf("start although --issuer differs from the issuer the database records, and record the new one (tokens of the old issuer stop validating) (env %s)", envName("accept-issuer-change")))
		fs.Var(&envBool{p: &o.cfg.Core.RequireAudience}, "require-audience", fmt.Sprintf("refuse (INVALID_ARGUMENT) a ValidateToken call that names no audience (env %s)", envName("require-audience")))
		fs.Var(&envInt{p: &o.cfg.Core.VerifyCacheSize}, "verify-cache-size", fmt.Sprintf("verified tokens remembered to skip repeated signature checks, 0 disables (env %s)", envName("verify-cache-size")))
		str(&o.cfg.GRPCAddr, "grpc-addr", "gRPC listen address")
		str(&o.cfg.HTTPAddr, "http-addr", "HTTP listen address")
		// TLS on both listeners; the files are re-read when they change.
		str(&o.cfg.TLS.CertFile, "tls-cert", "PEM certificate (chain) served on the gRPC and HTTP listeners; with --tls-key turns TLS on and makes the default issuer https")
		str(&o.cfg.TLS.KeyFile, "tls-key", "PEM private key of --tls-cert")
		str(&o.cfg.TLS.ClientCAFile, "tls-client-ca", "PEM bundle of CAs whose client certificates are accepted; turns on mutual TLS")
		str(&o.cfg.TLS.ClientAuth, "tls-client-auth", "with --tls-client-ca: require (default: no handshake without a valid client certificate) or verify-if-given")
		// Listener limits: 0 selects the default.
		fs.Var(&envInt{p: &o.cfg.MaxConnections}, "max-connections", fmt.Sprintf("open connections per listener (gRPC and HTTP each); more clients wait in the accept queue (env %s)", envName("max-connections")))
		fs.Var(&envInt{p: &o.cfg.GRPC.MaxConcurrentStreams}, "grpc-max-streams", fmt.Sprintf("concurrent calls per gRPC connection; more are refused (env %s)", envName("grpc-max-streams")))
		dur(&o.cfg.GRPC.MaxConnectionIdle, "grpc-max-connection-idle", "a gRPC connection without calls this long is closed (GOAWAY)")
		dur(&o.cfg.GRPC.MaxConnectionAge, "grpc-max-connection-age", "a gRPC connection is closed (GOAWAY) this long after it opened, ±10%; calls in flight get 30s more")
		dur(&o.cfg.ShutdownTimeout, "shutdown-timeout", "on SIGTERM, calls in flight may finish this long; then every connection still open is closed")
		dur(&o.cfg.Federation.MinRefetchInterval, "federation-min-refetch", "a token with an unknown kid triggers at most one JWKS refetch per trusted issuer per this interval")
		dur(&o.cfg.HTTP.JWKSMaxAge, "jwks-max-age", "Cache-Control max-age of the JWKS and discovery documents")
		dur(&o.cfg.KeyCheckInterval, "key-check-interval", "how often each replica runs the scheduled key rotation step")
		dur(&o.cfg.View.PollInterval, "poll-interval", "how often the change log is read (staleness bound of revocations)")
	}
	return fs
}

// flagGiven reports whether a flag was set on the command line or through
// its environment variable.
func flagGiven(fs *flag.FlagSet, name string) bool {
	if _, ok := os.LookupEnv(envName(name)); ok {
		return true
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
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

// parse parses args; environment variables were already applied as defaults.
func (o *options) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := f.Value.(envValue); ok && bad == nil {
			bad = v.fromEnv(f.Name)
		}
	})
	// Without --issuer the issuer is where the HTTP listener is reached:
	// http://HTTP_ADDR, https with TLS (and so the discovery URLs). An issuer
	// given explicitly is kept as it is.
	if !flagGiven(fs, "issuer") {
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
	return bad
}

// envValue is a typed flag that falls back to its environment variable; the
// variable is read after parsing so that a malformed one is reported.
type envValue interface {
	fromEnv(flagName string) error
}

// envInt is an integer flag that also reads its environment variable.
type envInt struct {
	p   *int
	set bool
}

func (v *envInt) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v *envInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("not a whole number >= 0: %q", s)
	}
	*v.p, v.set = n, true
	return nil
}

func (v *envInt) fromEnv(flagName string) error {
	s, ok := os.LookupEnv(envName(flagName))
	if v.set || !ok {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("%s: not a whole number >= 0: %q", envName(flagName), s)
	}
	*v.p = n
	return nil
}

// envBool is a boolean flag that also reads its environment variable.
type envBool struct {
	p   *bool
	set bool
}

func (v *envBool) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatBool(*v.p)
}

func (v *envBool) IsBoolFlag() bool { return true }

func (v *envBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not true or false: %q", s)
	}
	*v.p, v.set = b, true
	return nil
}

func (v *envBool) fromEnv(flagName string) error {
	s, ok := os.LookupEnv(envName(flagName))
	if v.set || !ok {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%s: not true or false: %q", envName(flagName), s)
	}
	*v.p = b
	return nil
}

// envDuration is a duration flag that also reads its environment variable.
type envDuration struct {
	p   *time.Duration
	set bool
}

func (d *envDuration) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d *envDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration like 15m or 30s: %q", s)
	}
	*d.p, d.set = v, true
	return nil
}

func (d *envDuration) fromEnv(flagName string) error {
	s, ok := os.LookupEnv(envName(flagName))
	if d.set || !ok {
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%s: not a duration like 15m or 30s: %q", envName(flagName), s)
	}
	*d.p = v
	return nil
}

// prefixList is a comma-separated list of CIDR prefixes.
type prefixList struct {
	p   *[]netip.Prefix
	set bool
}

func (l *prefixList) String() string {
	if l.p == nil {
		return ""
	}
	parts := make([]string, len(*l.p))
	for i, p := range *l.p {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l *prefixList) Set(s string) error {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			addr, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("not a CIDR or IP address: %q", part)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, p.Masked())
	}
	*l.p, l.set = out, true
	return nil
}

func (l *prefixList) fromEnv(flagName string) error {
	s, ok := os.LookupEnv(envName(flagName))
	if l.set || !ok {
		return nil
	}
	if err := l.Set(s); err != nil {
		return fmt.Errorf("%s: %w", envName(flagName), err)
	}
	return nil
}

func (o *options) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, usageErr("log level %q is not debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, usageErr("log format %q is not text or json", o.logFormat)
}
