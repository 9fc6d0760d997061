package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
)

// clock is a settable test clock: real time plus an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// testServer is a gatehouse running in-process on loopback ports.
type testServer struct {
	app      *server.App
	clock    *clock
	conn     *grpc.ClientConn
	auth     gatehousev1.AuthServiceClient
	admin    gatehousev1.AdminServiceClient
	baseURL  string
	adminPW  string
	dsn      string
	dataDir  string
	masterKy string
	// grpcAddr and httpAddr are the listeners' addresses (for clients of
	// their own, such as TLS ones).
	grpcAddr, httpAddr string
	// logs, when set, receives the server's log instead of the test log,
	// as JSON lines from level info (access logs included).
	logs io.Writer
}

const testAdminPassword = "admin-password-for-tests"

type serverOption func(*server.Config)

// startServer opens dsn (empty: SQLite in a temp dir) and serves on
// 127.0.0.1 with fast argon2 parameters. It stops when t ends.
func startServer(t testing.TB, dsn string, opts ...serverOption) *testServer {
	t.Helper()
	ts := &testServer{clock: &clock{}, adminPW: testAdminPassword, dsn: dsn, dataDir: t.TempDir()}
	_, ts.masterKy, _ = secrets.GenerateMasterKey()
	return ts.start(t, opts...)
}

// replica starts a second server on the same database and master key.
func (ts *testServer) replica(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	r := &testServer{clock: ts.clock, adminPW: ts.adminPW, dsn: ts.dsn, dataDir: ts.dataDir, masterKy: ts.masterKy}
	return r.start(t, opts...)
}

func (ts *testServer) start(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = ts.dataDir
	cfg.DatabaseURL = ts.dsn
	cfg.MasterKey = ts.masterKy
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.OpsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.AuditLog = io.Discard // audit_test.go reads the events from the database
	cfg.Argon2 = secrets.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg.Now = ts.clock.Now
	cfg.View.PollInterval = 200 * time.Millisecond
	for _, o := range opts {
		o(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	if ts.logs != nil {
		log = slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: min(level, slog.LevelInfo)}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.Open(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("open server: %v", err)
	}
	if _, err := app.Bootstrap(ctx, ts.adminPW); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	grpcLis, httpLis, err := app.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, grpcLis, httpLis) }()
	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		app.Close()
	})
	ts.app, ts.conn = app, conn
	ts.auth = gatehousev1.NewAuthServiceClient(conn)
	ts.admin = gatehousev1.NewAdminServiceClient(conn)
	ts.baseURL = "http://" + httpLis.Addr().String()
	ts.grpcAddr, ts.httpAddr = grpcLis.Addr().String(), httpLis.Addr().String()
	return ts
}

// testWriter sends server logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// token runs the password grant over gRPC and fails the test on error.
func (ts *testServer) token(t testing.TB, username, password string) string {
	t.Helper()
	res, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: username, Password: password})
	if err != nil {
		t.Fatalf("password grant for %s: %v", username, err)
	}
	return res.AccessToken
}

func (ts *testServer) adminToken(t testing.TB) string { return ts.token(t, "admin", ts.adminPW) }

// adminCtx is a context carrying an admin bearer token.
func (ts *testServer) adminCtx(t testing.TB) context.Context {
	return bearer(context.Background(), ts.adminToken(t))
}

// forge signs arbitrary claims with the server's active key, for claim checks
// that a real grant cannot produce.
func (ts *testServer) forge(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	tok, err := jose.Sign(ts.app.View().Ring().Signer, typ, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgeKey is forge with a changed copy of the active key (its kid, say).
func (ts *testServer) forgeKey(t testing.TB, change func(*jose.PrivateKey), claims map[string]any) string {
	t.Helper()
	k := ts.app.View().Ring().Signer
	change(&k)
	tok, err := jose.Sign(k, "at+jwt", claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// httpResult is a decoded HTTP answer.
type httpResult struct {
	status int
	header http.Header
	body   []byte
}

func (r httpResult) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %s", err, r.body)
	}
	return m
}

// do sends an HTTP request to the server.
func (ts *testServer) do(t testing.TB, method, path, contentType, body, token string) httpResult {
	t.Helper()
	return ts.doHeaders(t, method, path, contentType, "", body, token)
}

// doHeaders is do with a Content-Encoding header (net/http sends it as
// given and compresses nothing). The request and the answer are checked
// against the server's OpenAPI document (checkOpenAPI, openapi_test.go).
func (ts *testServer) doHeaders(t testing.TB, method, path, contentType, encoding, body, token string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, ts.baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := httpResult{status: res.StatusCode, header: res.Header, body: b}
	ts.checkOpenAPI(t, req, body, out)
	return out
}

// eventually retries cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// lines decodes the JSON log lines.
func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON (%v): %s", err, l)
		}
		out = append(out, m)
	}
	return out
}
