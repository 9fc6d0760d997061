package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/server"
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
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, flagName, help string) {
		if v, ok := os.LookupEnv(envName(flagName)); ok {
			*p = v
		}
		fs.StringVar(p, flagName, *p, fmt.Sprintf("%s (env %s)", help, envName(flagName)))
	}
	dur := func(p *time.Duration, flagName, help string) {
		fs.Var(&envDuration{p: p}, flagName, fmt.Sprintf("%s (env %s, default %s)", help, envName(flagName), *p))
	}
	str(&o.cfg.DataDir, "data-dir", "directory for the embedded SQLite database and generated master key")
	str(&o.cfg.DatabaseURL, "database-url", "postgres://... URL or SQLite file path (default DATA_DIR/gatehouse.db)")
	str(&o.cfg.MasterKeyFile, "master-key-file", "file holding the 32-byte master key (base64 or hex); or set GATEHOUSE_MASTER_KEY")
	o.cfg.MasterKey = os.Getenv(envPrefix + "MASTER_KEY")
	o.logLevel, o.logFormat = "info", "text"
	str(&o.logLevel, "log-level", "debug, info, warn or error")
	str(&o.logFormat, "log-format", "text or json")
	str(&o.cfg.Core.Issuer, "issuer", "the iss of issued tokens; must be the URL clients reach gatehouse at")
	str(&o.cfg.Core.Audience, "audience", "the default aud of issued tokens")
	str(&o.cfg.SigningAlg, "signing-alg", "signing algorithm of new keys: ES256, EdDSA or RS256")
	dur(&o.cfg.Core.AccessTokenTTL, "token-ttl", "access token lifetime")
	dur(&o.cfg.Core.Leeway, "leeway", "clock skew tolerated on exp/nbf/iat")
	if withServe {
		fs.Var(&envInt{p: &o.cfg.Core.VerifyCacheSize}, "verify-cache-size", fmt.Sprintf("verified tokens remembered to skip repeated signature checks, 0 disables (env %s, default %d)", envName("verify-cache-size"), o.cfg.Core.VerifyCacheSize))
		str(&o.cfg.GRPCAddr, "grpc-addr", "gRPC listen address")
		str(&o.cfg.HTTPAddr, "http-addr", "HTTP listen address")
		dur(&o.cfg.View.PollInterval, "poll-interval", "how often the change log is read (staleness bound of revocations)")
	}
	return fs
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
