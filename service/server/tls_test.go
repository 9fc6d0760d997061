package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
)

// devCerts writes a development CA, server and client certificate into a
// new temporary directory.
func devCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := server.WriteDevCerts(dir, false, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withTLS serves the certificates of dir; clientAuth "" is TLS only,
// otherwise mutual TLS with dir's CA and that policy ("default": none given).
func withTLS(dir, clientAuth string) serverOption {
	return func(c *server.Config) {
		c.TLS = server.TLSConfig{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem")}
		if clientAuth != "" {
			c.TLS.ClientCAFile = filepath.Join(dir, "ca.pem")
			if clientAuth != "default" {
				c.TLS.ClientAuth = clientAuth
			}
		}
	}
}

// clientTLS trusts the CAs in caFiles and presents dir's client certificate
// when clientCertDir is set.
func clientTLS(t *testing.T, clientCertDir string, caFiles ...string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range caFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(b) {
			t.Fatalf("no certificate in %s", f)
		}
	}
	cfg := &tls.Config{RootCAs: pool}
	if clientCertDir != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(clientCertDir, "client.pem"), filepath.Join(clientCertDir, "client-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// tlsGRPC is a gRPC client over TLS, as a stock client sets it up.
func tlsGRPC(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tlsHTTP is an HTTP client over TLS that offers HTTP/2.
func tlsHTTP(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

func getOK(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, res.StatusCode)
	}
	return res
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestTLSServesGRPCAndHTTP: with --tls-cert/--tls-key a gRPC client that
// trusts the CA issues and validates a token, net/http gets /healthz over
// HTTP/2, TLS 1.1 and plaintext clients are refused on both ports.
func TestTLSServesGRPCAndHTTP(t *testing.T) {
	dir := devCerts(t)
	ts := startServer(t, "", withTLS(dir, ""))
	cfg := clientTLS(t, "", filepath.Join(dir, "ca.pem"))

	auth := gatehousev1.NewAuthServiceClient(tlsGRPC(t, ts.grpcAddr, cfg))
	ctx := callCtx(t)
	res, err := auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW})
	if err != nil {
		t.Fatalf("IssueToken over TLS: %v", err)
	}
	v, err := auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: res.AccessToken})
	if err != nil || v.GetPrincipal().GetUsername() != "admin" {
		t.Fatalf("ValidateToken over TLS = %v, %v", v, err)
	}

	hres := getOK(t, tlsHTTP(cfg), "https://"+ts.httpAddr+"/healthz")
	if hres.ProtoMajor != 2 || hres.TLS == nil || hres.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("HTTP over TLS: proto %s, ALPN %v; want HTTP/2 (h2)", hres.Proto, hres.TLS)
	}
	if hres.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want TLS 1.3 when the client offers it", hres.TLS.Version)
	}
	// An HTTP/1.1-only client still works.
	h1 := cfg.Clone()
	h1.NextProtos = []string{"http/1.1"}
	if r := getOK(t, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: h1}}, "https://"+ts.httpAddr+"/healthz"); r.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1 client got %s", r.Proto)
	}

	// TLS 1.1 is refused on both listeners; gRPC negotiates h2.
	for _, addr := range []string{ts.grpcAddr, ts.httpAddr} {
		old := cfg.Clone()
		old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, old); err == nil {
			c.Close()
			t.Errorf("%s accepted TLS 1.1", addr)
		}
	}
	gc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.grpcAddr, &tls.Config{RootCAs: cfg.RootCAs, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := gc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("gRPC ALPN = %q, want h2", p)
	}
	gc.Close()

	// Plaintext clients get nothing.
	plain := gatehousev1.NewAuthServiceClient(ts.conn) // the harness's insecure connection
	if _, err := plain.ValidateToken(callCtx(t), &gatehousev1.ValidateTokenRequest{Token: res.AccessToken}); err == nil {
		t.Error("a plaintext gRPC client was served by the TLS listener")
	}
	if r, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ts.httpAddr + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Error("a plaintext HTTP client was served by the TLS listener")
		}
	}
	// A client that does not trust the CA fails the handshake.
	if _, err := tlsHTTP(&tls.Config{}).Get("https://" + ts.httpAddr + "/healthz"); err == nil {
		t.Error("a client without the CA accepted the server certificate")
	}
}

// TestMTLSRequire: with a client CA (default policy require) a client
// without a certificate is refused at the handshake on both listeners; with
// the CA's client certificate it is served.
func TestMTLSRequire(t *testing.T) {
	dir := devCerts(t)
	ts := startServer(t, "", withTLS(dir, "default"))
	ca := filepath.Join(dir, "ca.pem")
	ctx := callCtx(t)

	anon := gatehousev1.NewAuthServiceClient(tlsGRPC(t, ts.grpcAddr, clientTLS(t, "", ca)))
	if _, err := anon.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW}); err == nil {
		t.Error("gRPC without a client certificate was served")
	}
	if _, err := tlsHTTP(clientTLS(t, "", ca)).Get("https://" + ts.httpAddr + "/healthz"); err == nil {
		t.Error("HTTP without a client certificate was served")
	}
	// A certificate from another CA is refused too.
	other := devCerts(t)
	if _, err := tlsHTTP(clientTLS(t, other, ca)).Get("https://" + ts.httpAddr + "/healthz"); err == nil {
		t.Error("HTTP with a client certificate of an unknown CA was served")
	}

	auth := gatehousev1.NewAuthServiceClient(tlsGRPC(t, ts.grpcAddr, clientTLS(t, dir, ca)))
	res, err := auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW})
	if err != nil {
		t.Fatalf("gRPC with the client certificate: %v", err)
	}
	if _, err := auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: res.AccessToken}); err != nil {
		t.Fatalf("ValidateToken with the client certificate: %v", err)
	}
	getOK(t, tlsHTTP(clientTLS(t, dir, ca)), "https://"+ts.httpAddr+"/healthz")
}

// TestMTLSVerifyIfGiven: clients without a certificate are served; a
// certificate of an unknown CA is still refused.
func TestMTLSVerifyIfGiven(t *testing.T) {
	dir := devCerts(t)
	ts := startServer(t, "", withTLS(dir, server.ClientAuthVerifyIfGiven))
	ca := filepath.Join(dir, "ca.pem")
	for _, certDir := range []string{"", dir} {
		auth := gatehousev1.NewAuthServiceClient(tlsGRPC(t, ts.grpcAddr, clientTLS(t, certDir, ca)))
		if _, err := auth.IssueToken(callCtx(t), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW}); err != nil {
			t.Errorf("gRPC (client certificate %v): %v", certDir != "", err)
		}
		getOK(t, tlsHTTP(clientTLS(t, certDir, ca)), "https://"+ts.httpAddr+"/healthz")
	}
	if _, err := tlsHTTP(clientTLS(t, devCerts(t), ca)).Get("https://" + ts.httpAddr + "/healthz"); err == nil {
		t.Error("HTTP with a client certificate of an unknown CA was served")
	}
}

// TestClientCertificateVisibleToHandlers: handlers behind the TLS listeners
// get the verified client certificate (gRPC: server.ClientCertificate, HTTP:
// server.HTTPClientCertificate), and nil when the client sent none.
func TestClientCertificateVisibleToHandlers(t *testing.T) {
	dir := devCerts(t)
	ca := filepath.Join(dir, "ca.pem")
	tl, err := server.LoadTLS(server.TLSConfig{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		ClientCAFile: ca, ClientAuth: server.ClientAuthVerifyIfGiven,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}

	// gRPC: an interceptor records what a handler would see.
	seen := make(chan string, 4)
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		name := "<none>"
		if c := server.ClientCertificate(ctx); c != nil {
			name = c.Subject.CommonName
		}
		seen <- name
		return next(ctx, req)
	}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(tl.GRPCListener(glis))
	t.Cleanup(gs.Stop)

	// HTTP: the handler reports the certificate's common name.
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	hsrv := &http.Server{Protocols: &protocols, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "<none>"
		if c := server.HTTPClientCertificate(r); c != nil {
			name = c.Subject.CommonName
		}
		io.WriteString(w, name)
	})}
	go hsrv.Serve(tl.HTTPListener(hlis))
	t.Cleanup(func() { hsrv.Close() })

	for _, tc := range []struct {
		certDir, want string
	}{{"", "<none>"}, {dir, "gatehouse-dev-client"}} {
		cfg := clientTLS(t, tc.certDir, ca)
		hc := healthpb.NewHealthClient(tlsGRPC(t, glis.Addr().String(), cfg))
		if _, err := hc.Check(callCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := <-seen; got != tc.want {
			t.Errorf("gRPC handler saw client certificate %q, want %q", got, tc.want)
		}
		res, err := tlsHTTP(cfg).Get("https://" + hlis.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != tc.want || res.ProtoMajor != 2 {
			t.Errorf("HTTP handler (%s) saw client certificate %q, want %q", res.Proto, b, tc.want)
		}
	}
	// A plaintext connection has no client certificate.
	if server.ClientCertificate(context.Background()) != nil {
		t.Error("ClientCertificate without a peer is not nil")
	}
}

// serverSerial dials addr and returns the serial of the certificate served.
func serverSerial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// replaceFile replaces path atomically (write, rename), as deploy tools do.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestTLSCertificateRotation: new certificate files are picked up by new
// connections within a few seconds, without a restart; a pair that does
// not load is ignored and the last good certificate kept.
func TestTLSCertificateRotation(t *testing.T) {
	first, second := devCerts(t), devCerts(t)
	live := t.TempDir()
	copyPair := func(from string) {
		for _, name := range []string{"server-key.pem", "server.pem"} {
			b, err := os.ReadFile(filepath.Join(from, name))
			if err != nil {
				t.Fatal(err)
			}
			replaceFile(t, filepath.Join(live, name), b)
		}
	}
	copyPair(first)
	ts := startServer(t, "", withTLS(live, ""))
	cfg := clientTLS(t, "", filepath.Join(first, "ca.pem"), filepath.Join(second, "ca.pem"))
	serialOf := func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "server.pem"))
		c, err := tls.X509KeyPair(b, mustRead(t, filepath.Join(dir, "server-key.pem")))
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}
	s1, s2 := serialOf(first), serialOf(second)
	if got, err := serverSerial(ts.httpAddr, cfg); err != nil || got != s1 {
		t.Fatalf("initial serial %s, %v; want %s", got, err, s1)
	}

	// A broken certificate file: handshakes go on with the old one.
	replaceFile(t, filepath.Join(live, "server.pem"), []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"))
	deadline := time.Now().Add(3 * time.Second) // longer than the check interval
	for time.Now().Before(deadline) {
		if got, err := serverSerial(ts.httpAddr, cfg); err != nil || got != s1 {
			t.Fatalf("with a broken certificate file: serial %s, %v; want the old %s", got, err, s1)
		}
		time.Sleep(300 * time.Millisecond)
	}

	copyPair(second)
	took := eventually(t, 10*time.Second, "the rotated certificate is served", func() error {
		for _, addr := range []string{ts.httpAddr, ts.grpcAddr} {
			got, err := serverSerial(addr, cfg)
			if err != nil {
				return err
			}
			if got != s2 {
				return errors.New(addr + " still serves serial " + got)
			}
		}
		return nil
	})
	t.Logf("rotated certificate served after %s", took)

	// The server works with the new certificate.
	auth := gatehousev1.NewAuthServiceClient(tlsGRPC(t, ts.grpcAddr, clientTLS(t, "", filepath.Join(second, "ca.pem"))))
	if _, err := auth.IssueToken(callCtx(t), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW}); err != nil {
		t.Fatalf("IssueToken after rotation: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTLSConfigErrors: incomplete or contradictory TLS settings are
// refused with an error that says what is missing.
func TestTLSConfigErrors(t *testing.T) {
	dir := devCerts(t)
	cert, key, ca := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), filepath.Join(dir, "ca.pem")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name string
		cfg  server.TLSConfig
		want string
	}{
		{"key without certificate", server.TLSConfig{KeyFile: key}, "--tls-cert"},
		{"certificate without key", server.TLSConfig{CertFile: cert}, "--tls-key"},
		{"missing file", server.TLSConfig{CertFile: cert + ".missing", KeyFile: key}, "no such file"},
		{"key of another certificate", server.TLSConfig{CertFile: cert, KeyFile: filepath.Join(dir, "client-key.pem")}, "private key does not match"},
		{"client auth without CA", server.TLSConfig{CertFile: cert, KeyFile: key, ClientAuth: "require"}, "--tls-client-ca"},
		{"unknown client auth", server.TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: ca, ClientAuth: "optional"}, "not require or verify-if-given"},
		{"CA bundle without certificates", server.TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: key}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.LoadTLS(tc.cfg, log)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadTLS = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
