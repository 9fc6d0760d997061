package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/service/server"
)

// Without --issuer the issuer follows --http-addr; a wildcard host is
// reached as localhost, and TLS makes it https.
func TestDefaultIssuerFollowsHTTPAddr(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "http://localhost:8080"},
		{[]string{"--http-addr", "auth.internal:9000"}, "http://auth.internal:9000"},
		{[]string{"--http-addr", "0.0.0.0:8443"}, "http://localhost:8443"},
		{[]string{"--http-addr", ":8081"}, "http://localhost:8081"},
		{[]string{"--http-addr", "[::]:8082"}, "http://localhost:8082"},
		{[]string{"--http-addr", "[::1]:8083"}, "http://[::1]:8083"},
		// Port 0 is chosen when listening: the built-in default stays.
		{[]string{"--http-addr", "127.0.0.1:0"}, "http://localhost:8080"},
		{[]string{"--http-addr", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k"}, "https://localhost:8080"},
		{[]string{"--http-addr", "0.0.0.0:8443", "--tls-cert", "c", "--tls-key", "k"}, "https://localhost:8443"},
		{[]string{"--http-addr", "0.0.0.0:8443", "--issuer", "https://auth.example.com"}, "https://auth.example.com"},
	} {
		o, err := parseServe(tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.cfg.Core.Issuer != tc.want {
			t.Errorf("%v: issuer %q, want %q", tc.args, o.cfg.Core.Issuer, tc.want)
		}
	}
	t.Setenv("GATEHOUSE_HTTP_ADDR", "0.0.0.0:7070")
	o, err := parseServe()
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Core.Issuer != "http://localhost:7070" {
		t.Errorf("GATEHOUSE_HTTP_ADDR: issuer %q, want http://localhost:7070", o.cfg.Core.Issuer)
	}
}

// parseServe parses args as `gatehouse serve` does, without serving.
func parseServe(args ...string) (*options, error) {
	o := &options{}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.bind(fs, true)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return o, o.finish(fs)
}

// `serve -h` shows the defaults that are used.
func TestServeHelpShowsRealDefaults(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "-h"}, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	help := out.String()
	for flagName, want := range map[string]string{"poll-interval": "1s", "federation-min-refetch": "30s", "key-publish-lead": "2h0m0s"} {
		m := regexp.MustCompile(`(?m)^ {1,8}--` + flagName + ` .*\n(?:\s{10,}\S.*\n)*`).FindString(help)
		if m == "" {
			t.Fatalf("no --%s in the help:\n%s", flagName, help)
		}
		if n := strings.Count(m, "(default "); n != 1 || !strings.Contains(m, "(default "+want+")") {
			t.Errorf("--%s help shows %d defaults, want one, %s:\n%s", flagName, n, want, m)
		}
	}
	o, err := parseServe()
	if err != nil || o.cfg.View.PollInterval.String() != "1s" {
		t.Errorf("poll interval %v, %v; want 1s", o.cfg.View.PollInterval, err)
	}
}

// A serve whose HTTP port is taken fails before it creates the admin: no
// account exists afterwards and no password was generated.
func TestServeBindsBeforeBootstrap(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--data-dir", dir, "--log-level", "warn",
		"--grpc-addr", "127.0.0.1:0", "--http-addr", taken.Addr().String()}, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "listen HTTP") {
		t.Fatalf("serve on a taken port: err = %v, want a listen error; output:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Created user") {
		t.Errorf("serve printed an admin password although it could not listen:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, server.AdminPasswordFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin password file: %v, want none", err)
	}
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.Role = dir, server.RoleAdmin
	app, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if n, err := app.Core().CountAccounts(context.Background()); err != nil || n != 0 {
		t.Errorf("accounts after a failed serve: %d, %v; want 0", n, err)
	}
}

// A generated admin password is returned once and written to
// DATA_DIR/admin-password, readable by its owner only.
func TestBootstrapWritesPasswordFile(t *testing.T) {
	dir := t.TempDir()
	app := openServe(t, dir, 0, nil)
	defer app.Close()
	pw, err := app.Bootstrap(context.Background(), "")
	if err != nil || pw == "" {
		t.Fatalf("bootstrap: %q, %v", pw, err)
	}
	path := filepath.Join(dir, server.AdminPasswordFile)
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != pw {
		t.Fatalf("admin password file: %q, %v; want the generated password", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin password file mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if again, err := app.Bootstrap(context.Background(), ""); err != nil || again != "" {
		t.Errorf("second bootstrap: %q, %v; want nothing generated", again, err)
	}
}
