package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// TLSConfig selects TLS on both listeners. TLS is on when CertFile and
// KeyFile are set; mutual TLS when ClientCAFile is set too.
type TLSConfig struct {
	// CertFile and KeyFile are the PEM server certificate (chain) and key.
	// They are re-read when they change, so a renewed certificate is used
	// without a restart.
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of the CAs whose client certificates are
	// accepted; setting it turns on mutual TLS.
	ClientCAFile string
	// ClientAuth is ClientAuthRequire (the default with a ClientCAFile) or
	// ClientAuthVerifyIfGiven.
	ClientAuth string
}

// Client certificate policies of TLSConfig.ClientAuth.
const (
	// ClientAuthRequire refuses a TLS handshake without a client
	// certificate issued by one of the client CAs.
	ClientAuthRequire = "require"
	// ClientAuthVerifyIfGiven accepts clients without a certificate and
	// verifies the certificate of those that present one.
	ClientAuthVerifyIfGiven = "verify-if-given"
)

// Enabled reports whether TLS is configured.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// certCheckInterval bounds how often the certificate files are checked for
// changes: at most once per interval, on a handshake.
const certCheckInterval = 2 * time.Second

// TLS serves listeners over TLS with a certificate that is reloaded when
// its files change.
type TLS struct {
	base *tls.Config
	mode string
}

// LoadTLS loads the certificate, its key and the client CAs. Errors name
// the file at fault; a configuration that would serve without the intended
// protection (a key without a certificate, a client policy without a CA)
// is refused.
func LoadTLS(c TLSConfig, log *slog.Logger) (*TLS, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
	}
	r := &certReloader{certFile: c.CertFile, keyFile: c.KeyFile, every: certCheckInterval, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12, // TLS 1.3 is preferred by crypto/tls when both sides have it
		GetCertificate: r.GetCertificate,
	}
	mode := "tls"
	switch {
	case c.ClientCAFile == "" && c.ClientAuth != "":
		return nil, fmt.Errorf("--tls-client-auth=%s needs a client CA bundle (--tls-client-ca)", c.ClientAuth)
	case c.ClientCAFile != "":
		pemData, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS client CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("TLS client CA bundle %s holds no PEM certificate", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
		switch c.ClientAuth {
		case "", ClientAuthRequire:
			cfg.ClientAuth, mode = tls.RequireAndVerifyClientCert, "mtls-require"
		case ClientAuthVerifyIfGiven:
			cfg.ClientAuth, mode = tls.VerifyClientCertIfGiven, "mtls-verify-if-given"
		default:
			return nil, fmt.Errorf("TLS client auth %q is not %s or %s", c.ClientAuth, ClientAuthRequire, ClientAuthVerifyIfGiven)
		}
	}
	return &TLS{base: cfg, mode: mode}, nil
}

// Mode is "tls", "mtls-require" or "mtls-verify-if-given", for logs.
func (t *TLS) Mode() string { return t.mode }

// HTTPListener wraps l so that it serves TLS with ALPN h2 and http/1.1. It
// returns *tls.Conn connections, which net/http needs to offer HTTP/2 and to
// fill Request.TLS; the http.Server must allow HTTP/2 (Protocols).
func (t *TLS) HTTPListener(l net.Listener) net.Listener {
	cfg := t.base.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return &tlsListener{Listener: l, cfg: cfg}
}

// GRPCListener wraps l so that it serves TLS with ALPN h2. The gRPC server
// itself keeps insecure transport credentials: TLS is a property of the
// network listener only, so that an in-process connection to the same
// server (the REST gateway) needs none. ClientCertificate finds the client
// certificate of a call.
func (t *TLS) GRPCListener(l net.Listener) net.Listener {
	cfg := t.base.Clone()
	cfg.NextProtos = []string{"h2"}
	return &tlsListener{Listener: l, cfg: cfg, grpc: true}
}

// tlsListener returns server-side TLS connections; the handshake runs on
// the first read, under the deadline the server sets for it (gRPC's
// connection timeout, net/http's read timeouts).
type tlsListener struct {
	net.Listener
	cfg  *tls.Config
	grpc bool
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := tls.Server(c, l.cfg)
	if l.grpc {
		return &grpcTLSConn{Conn: tc, addr: tlsAddr{Addr: c.RemoteAddr(), conn: tc}}, nil
	}
	return tc, nil
}

// grpcTLSConn is a TLS connection whose remote address also carries the TLS
// connection state: grpc-go hands a handler the address (peer.Peer.Addr),
// and without transport credentials nothing else of the connection.
type grpcTLSConn struct {
	*tls.Conn
	addr tlsAddr
}

func (c *grpcTLSConn) RemoteAddr() net.Addr { return c.addr }

// tlsAddr is a remote address (String is the plain host:port) with the TLS
// state of its connection.
type tlsAddr struct {
	net.Addr
	conn *tls.Conn
}

// ClientCertificate returns the verified client certificate of the gRPC
// call in ctx, or nil when the client presented none (or the connection is
// not TLS). Only a certificate that chained to a configured client CA is
// returned. For HTTP handlers see HTTPClientCertificate.
func ClientCertificate(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		return verifiedLeaf(&info.State)
	}
	if a, ok := p.Addr.(tlsAddr); ok {
		st := a.conn.ConnectionState()
		if !st.HandshakeComplete {
			return nil
		}
		return verifiedLeaf(&st)
	}
	return nil
}

// HTTPClientCertificate returns the verified client certificate of an HTTP
// request, or nil.
func HTTPClientCertificate(r *http.Request) *x509.Certificate {
	return verifiedLeaf(r.TLS)
}

func verifiedLeaf(st *tls.ConnectionState) *x509.Certificate {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil
	}
	return st.VerifiedChains[0][0]
}

// certReloader serves the certificate of a key pair on disk and reloads it
// when the files' modification time or size changes, checked at most once
// per interval. A pair that does not load (half written, mismatched) is
// logged and the last good one kept.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return s, fmt.Errorf("TLS certificate: %w", err)
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}

// load loads the pair; used at start, where a failure is fatal.
func (r *certReloader) load() error {
	st, err := r.stamps()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.stamp, r.checked = &cert, st, time.Now()
	r.mu.Unlock()
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= r.every {
		r.checked = time.Now()
		r.reloadLocked()
	}
	return r.cert, nil
}

func (r *certReloader) reloadLocked() {
	st, err := r.stamps()
	if err != nil {
		r.log.Warn("cannot check the TLS certificate files; serving the certificate loaded before", "err", err)
		return
	}
	if st == r.stamp {
		return
	}
	// Remember the stamps even when loading fails, so that a bad pair is
	// reported once; the next change of either file is tried again.
	r.stamp = st
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("the changed TLS certificate or key does not load; serving the certificate loaded before",
			"cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	r.cert = &cert
	args := []any{"cert", r.certFile}
	if cert.Leaf != nil {
		args = append(args, "serial", cert.Leaf.SerialNumber.Text(16), "not_after", cert.Leaf.NotAfter)
	}
	r.log.Info("reloaded the TLS certificate", args...)
}

// warnPlaintext warns about listeners that serve without TLS on an address
// other networks can reach.
func warnPlaintext(log *slog.Logger, addrs map[string]net.Addr) {
	var exposed []any
	for name, a := range addrs {
		if !isLoopback(a) {
			exposed = append(exposed, name, a.String())
		}
	}
	if len(exposed) == 0 {
		return
	}
	log.Warn("serving without TLS on a non-loopback address: passwords, client secrets, access, refresh and offline tokens "+
		"cross the network in clear text. Set --tls-cert and --tls-key (GATEHOUSE_TLS_CERT, GATEHOUSE_TLS_KEY), "+
		"or keep these ports reachable only by a TLS-terminating proxy in front of gatehouse (a valid setup)", exposed...)
}

func isLoopback(a net.Addr) bool {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DevCertFiles are the files WriteDevCerts writes, in order.
var DevCertFiles = []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem"}

// devCertValidity is the lifetime of development certificates.
const devCertValidity = 30 * 24 * time.Hour

// WriteDevCerts writes a throw-away CA, a server certificate for
// localhost, 127.0.0.1 and ::1 (and extra hosts) and a client certificate
// into dir: ECDSA P-256, valid 30 days, keys readable by the owner only. It
// refuses to overwrite an existing file unless force. For trying TLS and
// mutual TLS locally; never for production.
func WriteDevCerts(dir string, force bool, extraHosts []string, now time.Time) error {
	if !force {
		for _, name := range DevCertFiles {
			p := filepath.Join(dir, name)
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s exists; use --force to overwrite", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", p, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	notBefore := now.Add(-5 * time.Minute)
	notAfter := now.Add(devCertValidity)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "gatehouse development CA", Organization: []string{"gatehouse (development only)"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, caCert, err := signCert(caTmpl, caKey, nil, nil)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, extraHosts...)
	srvTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			srvTmpl.IPAddresses = append(srvTmpl.IPAddresses, ip)
		} else if h != "" {
			srvTmpl.DNSNames = append(srvTmpl.DNSNames, h)
		}
	}
	cliTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "gatehouse-dev-client"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	files := map[string][]byte{"ca.pem": pemBlock("CERTIFICATE", caDER)}
	if files["ca-key.pem"], err = pemKey(caKey); err != nil {
		return err
	}
	for _, leaf := range []struct {
		name string
		tmpl *x509.Certificate
	}{{"server", srvTmpl}, {"client", cliTmpl}} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("generate %s key: %w", leaf.name, err)
		}
		der, _, err := signCert(leaf.tmpl, key, caCert, caKey)
		if err != nil {
			return fmt.Errorf("create %s certificate: %w", leaf.name, err)
		}
		files[leaf.name+".pem"] = pemBlock("CERTIFICATE", der)
		if files[leaf.name+"-key.pem"], err = pemKey(key); err != nil {
			return err
		}
	}
	for _, name := range DevCertFiles {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "-key.pem") {
			mode = 0o600
		}
		if err := writeFileMode(filepath.Join(dir, name), files[name], mode, force); err != nil {
			return err
		}
	}
	return nil
}

// signCert signs tmpl (self-signed when parent is nil) with a random
// 128-bit serial.
func signCert(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pemKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// writeFileMode writes data with the given mode; an existing file (only
// with force) gets the mode too.
func writeFileMode(path string, data []byte, mode os.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
