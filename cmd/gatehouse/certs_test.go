package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/server"
)

func runCerts(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"certs"}, args...), strings.NewReader(""), &out, &out)
	return out.String(), err
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// TestCertsDev: `certs dev` writes a CA, a server certificate that verifies
// for localhost, 127.0.0.1 and ::1, and a client certificate for client
// authentication; keys are 0600; existing files are kept unless --force.
func TestCertsDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if out, err := runCerts(t, "dev", "--out", dir); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, name := range server.DevCertFiles {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "-key.pem") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustReadFile(t, filepath.Join(dir, "ca.pem")))
	srv := readCert(t, filepath.Join(dir, "server.pem"))
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"}); err == nil {
		t.Error("server certificate verifies for example.com")
	}
	if srv.NotAfter.Sub(srv.NotBefore) > 31*24*time.Hour {
		t.Errorf("server certificate valid %s, want about 30 days", srv.NotAfter.Sub(srv.NotBefore))
	}
	cli := readCert(t, filepath.Join(dir, "client.pem"))
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verifies as a server certificate")
	}

	before := mustReadFile(t, filepath.Join(dir, "server.pem"))
	if out, err := runCerts(t, "dev", "--out", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second run without --force = %v: %s", err, out)
	}
	if !bytes.Equal(before, mustReadFile(t, filepath.Join(dir, "server.pem"))) {
		t.Fatal("a refused run changed server.pem")
	}
	os.Chmod(filepath.Join(dir, "server-key.pem"), 0o644)
	if out, err := runCerts(t, "dev", "--out", dir, "--force", "--hosts", "gatehouse.test,10.0.0.7"); err != nil {
		t.Fatalf("--force: %v: %s", err, out)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "server-key.pem")); fi.Mode().Perm() != 0o600 {
		t.Errorf("overwritten key has mode %v", fi.Mode().Perm())
	}
	srv2 := readCert(t, filepath.Join(dir, "server.pem"))
	if srv2.SerialNumber.Cmp(srv.SerialNumber) == 0 {
		t.Error("--force kept the old certificate")
	}
	if err := srv2.VerifyHostname("gatehouse.test"); err != nil {
		t.Errorf("--hosts: %v", err)
	}
	if err := srv2.VerifyHostname("10.0.0.7"); err != nil {
		t.Errorf("--hosts: %v", err)
	}
	if _, err := runCerts(t, "dev"); err == nil {
		t.Error("certs dev without --out succeeded")
	}
}

// TestServeWithDevCerts: serve flags with the dev certificates serve TLS
// and mutual TLS, and the default issuer (and discovery URLs) use https; an
// explicit --issuer is kept.
func TestServeWithDevCerts(t *testing.T) {
	certs := t.TempDir()
	if out, err := runCerts(t, "dev", "--out", certs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p := func(name string) string { return filepath.Join(certs, name) }
	o, err := parseServe("--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0",
		"--tls-cert", p("server.pem"), "--tls-key", p("server-key.pem"), "--tls-client-ca", p("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Core.Issuer != "https://localhost:8080" {
		t.Errorf("default issuer with TLS = %q, want https://localhost:8080", o.cfg.Core.Issuer)
	}
	explicit, err := parseServe("--tls-cert", "c", "--tls-key", "k", "--issuer", "http://auth.internal:8080")
	if err != nil {
		t.Fatal(err)
	}
	if explicit.cfg.Core.Issuer != "http://auth.internal:8080" {
		t.Errorf("explicit issuer changed to %q", explicit.cfg.Core.Issuer)
	}

	o.cfg.Role = server.RoleServe
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.Open(ctx, o.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	grpcLis, httpLis, err := app.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, grpcLis, httpLis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustReadFile(t, p("ca.pem")))
	clientCert, err := tls.LoadX509KeyPair(p("client.pem"), p("client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + httpLis.Addr().String() + "/.well-known/openid-configuration"
	noCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if _, err := noCert.Get(url); err == nil {
		t.Error("served without a client certificate under mutual TLS")
	}
	withCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}}}
	res, err := withCert.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != "https://localhost:8080" || !strings.HasPrefix(doc.JWKSURI, "https://") {
		t.Errorf("discovery over TLS: issuer %q, jwks_uri %q; want https", doc.Issuer, doc.JWKSURI)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
