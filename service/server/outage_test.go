package server_test

// Database outages and an exhausted database: answers are UNAVAILABLE / 503
// with Retry-After (never INTERNAL / 500), health follows the database, and
// service comes back without a restart. PostgreSQL only: the outage is cut
// in a loopback TCP proxy the test owns (never the machine's PostgreSQL).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// cutProxy forwards 127.0.0.1:port to a target until cut, and can be
// restored on the same port.
type cutProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	lis    net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{target: target, conns: make(map[net.Conn]struct{})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = lis.Addr().String()
	p.serve(lis)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) forward(c net.Conn) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if !p.track(c) || !p.track(up) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// cut closes the listener and every connection: new connections are
// refused, open ones reset.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// restore listens again on the same address.
func (p *cutProxy) restore(t *testing.T) {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 {
		if lis, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restore proxy on %s: %v", p.addr, err)
	}
	p.serve(lis)
}

// viaProxy rewrites a PostgreSQL DSN to go through addr.
func viaProxy(t *testing.T, dsn, addr string) (proxied, target string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target = u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	u.Host = addr
	return u.String(), target
}

func healthOf(ts *testServer, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return 0, err
	}
	return res.Status, nil
}

func wantHealth(ts *testServer, want healthpb.HealthCheckResponse_ServingStatus) error {
	for _, svc := range []string{"", "gatehouse.v1.AuthService", "gatehouse.v1.AdminService"} {
		got, err := healthOf(ts, svc)
		if err != nil {
			return fmt.Errorf("health %q: %w", svc, err)
		}
		if got != want {
			return fmt.Errorf("health %q is %s, want %s", svc, got, want)
		}
	}
	return nil
}

// wantRetryAfter checks a Retry-After of a few seconds.
func wantRetryAfter(t *testing.T, what string, h http.Header) {
	t.Helper()
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 1 || n > 60 {
		t.Errorf("%s: Retry-After = %q, want whole seconds in 1..60", what, h.Get("Retry-After"))
	}
}

func TestDatabaseOutage(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("the outage test needs PostgreSQL behind a loopback proxy: set %s", storetest.EnvPostgres)
	}
	dsn := storetest.PostgresDSN(t)
	_, target := viaProxy(t, dsn, "")
	proxy := newCutProxy(t, target)
	proxied, _ := viaProxy(t, dsn, proxy.addr)
	ts := startServer(t, proxied, func(c *server.Config) { c.DatabaseTimeout = 2 * time.Second })
	ctx := context.Background()

	token := ts.adminToken(t)
	if err := wantHealth(ts, healthpb.HealthCheckResponse_SERVING); err != nil {
		t.Fatal(err)
	}
	if r := ts.do(t, "GET", "/readyz", "", "", ""); r.status != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d %s", r.status, r.body)
	}

	proxy.cut()
	start := time.Now()

	// gRPC: UNAVAILABLE with a retry hint, never INTERNAL.
	_, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("gRPC password grant during the outage: %v, want UNAVAILABLE", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("UNAVAILABLE without a RetryInfo: %v", st.Details())
	}
	if strings.Contains(st.Message(), "127.0.0.1") || strings.Contains(st.Message(), "tcp") {
		t.Errorf("UNAVAILABLE message leaks details: %q", st.Message())
	}

	// REST (gateway): 503 with Retry-After.
	r := ts.do(t, "POST", "/v1/token", "application/json", fmt.Sprintf(`{"grant_type":"password","username":"admin","password":%q}`, ts.adminPW), "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("REST password grant during the outage: %d %s, want 503", r.status, r.body)
	}
	wantRetryAfter(t, "/v1/token", r.header)

	// OAuth2: 503 temporarily_unavailable (RFC 6749 §4.1.2.1) with Retry-After.
	r = ts.do(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=password&username=admin&password="+url.QueryEscape(ts.adminPW), "")
	if r.status != http.StatusServiceUnavailable || r.json(t)["error"] != "temporarily_unavailable" {
		t.Fatalf("/oauth2/token during the outage: %d %s, want 503 temporarily_unavailable", r.status, r.body)
	}
	wantRetryAfter(t, "/oauth2/token", r.header)

	// Airflow-style /auth/token: 503 {"detail": ...}.
	r = ts.do(t, "POST", "/auth/token", "application/json", fmt.Sprintf(`{"username":"admin","password":%q}`, ts.adminPW), "")
	if r.status != http.StatusServiceUnavailable || r.json(t)["detail"] == nil {
		t.Fatalf("/auth/token during the outage: %d %s, want 503 with detail", r.status, r.body)
	}
	wantRetryAfter(t, "/auth/token", r.header)

	// The hot path does not need the database.
	if _, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: token}); err != nil {
		t.Fatalf("ValidateToken during the outage: %v", err)
	}

	// Health and readiness agree that the database is gone.
	eventually(t, 10*time.Second, "health NOT_SERVING during the outage", func() error {
		return wantHealth(ts, healthpb.HealthCheckResponse_NOT_SERVING)
	})
	t.Logf("health NOT_SERVING %s after the cut", time.Since(start).Round(time.Millisecond))
	if r := ts.do(t, "GET", "/readyz", "", "", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %d %s, want 503", r.status, r.body)
	}

	// Recovery without a restart.
	proxy.restore(t)
	start = time.Now()
	eventually(t, 15*time.Second, "health SERVING after the database is back", func() error {
		return wantHealth(ts, healthpb.HealthCheckResponse_SERVING)
	})
	t.Logf("health SERVING %s after the restore", time.Since(start).Round(time.Millisecond))
	if r := ts.do(t, "GET", "/readyz", "", "", ""); r.status != http.StatusOK {
		t.Fatalf("/readyz after the outage: %d %s", r.status, r.body)
	}
	eventually(t, 10*time.Second, "password grant after the database is back", func() error {
		_, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW})
		return err
	})
	r = ts.do(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=password&username=admin&password="+url.QueryEscape(ts.adminPW), "")
	if r.status != http.StatusOK {
		t.Fatalf("/oauth2/token after the outage: %d %s", r.status, r.body)
	}
}

// limitedRole creates a login role with CONNECTION LIMIT n that owns the
// test database at dsn, and returns the DSN that logs in as it. The role is
// dropped when t ends (register this before starting servers, so that they
// stop first).
func limitedRole(t *testing.T, dsn string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	var b [4]byte
	rand.Read(b[:])
	role := "gh_limited_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", os.Getenv(storetest.EnvPostgres))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d", role, n),
		fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", dbName, role),
		fmt.Sprintf("GRANT ALL ON DATABASE %s TO %s", dbName, role),
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Objects in the test database first (REASSIGN works per database),
		// then the role.
		if db, err := sql.Open("pgx", dsn); err == nil {
			for _, q := range []string{
				fmt.Sprintf("ALTER DATABASE %s OWNER TO CURRENT_USER", dbName),
				fmt.Sprintf("REASSIGN OWNED BY %s TO CURRENT_USER", role),
				fmt.Sprintf("DROP OWNED BY %s", role),
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Errorf("%s: %v", q, err)
				}
			}
			db.Close()
		}
		admin, err := sql.Open("pgx", os.Getenv(storetest.EnvPostgres))
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP ROLE "+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u.User = url.User(role)
	return u.String()
}

func TestConnectionLimitedDatabase(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("the connection-limit test needs PostgreSQL: set %s", storetest.EnvPostgres)
	}
	const roleLimit, perReplica = 5, 3 // two replicas may want 6 > 5
	dsn := limitedRole(t, storetest.PostgresDSN(t), roleLimit)
	small := func(c *server.Config) {
		c.DatabaseMaxConns = perReplica
		c.DatabaseTimeout = 3 * time.Second
	}
	a := startServer(t, dsn, small)
	b := a.replica(t, small)
	ctx := bearer(context.Background(), a.adminToken(t))
	const users = 10
	for i := range users {
		name := fmt.Sprintf("user%d", i)
		if _, err := a.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: name, Password: name + "-password"}); err != nil {
			t.Fatal(err)
		}
	}

	const n = 200
	type outcome struct {
		what string
		code string
	}
	results := make(chan outcome, n)
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for i := range n {
		ts := a
		if i%2 == 1 {
			ts = b
		}
		user := fmt.Sprintf("user%d", i%users)
		password := user + "-password"
		if i%3 == 0 {
			password = "wrong-password"
		}
		wg.Go(func() {
			if i%4 < 2 {
				cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := ts.auth.IssueToken(cctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: user, Password: password})
				results <- outcome{"grpc", status.Code(err).String()}
				return
			}
			body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)
			res, err := client.Post(ts.baseURL+"/auth/token", "application/json", strings.NewReader(body))
			if err != nil {
				results <- outcome{"http", "transport error: " + err.Error()}
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			code := strconv.Itoa(res.StatusCode)
			if res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusTooManyRequests {
				if res.Header.Get("Retry-After") == "" {
					code += " without Retry-After"
				}
			}
			results <- outcome{"http", code}
		})
	}
	wg.Wait()
	close(results)
	allowed := map[string]bool{
		"grpc OK": true, "grpc Unauthenticated": true, "grpc ResourceExhausted": true, "grpc Unavailable": true,
		"http 201": true, "http 401": true, "http 429": true, "http 503": true,
	}
	counts := map[string]int{}
	for r := range results {
		counts[r.what+" "+r.code]++
	}
	t.Logf("outcomes: %v", counts)
	for k, c := range counts {
		if !allowed[k] {
			t.Errorf("%d answers %q: want only OK, UNAUTHENTICATED/401, RESOURCE_EXHAUSTED/429 or UNAVAILABLE/503", c, k)
		}
	}
	if counts["grpc OK"]+counts["http 201"] == 0 {
		t.Errorf("no login succeeded at all: %v", counts)
	}
	// The replicas are still healthy afterwards.
	for _, ts := range []*testServer{a, b} {
		eventually(t, 10*time.Second, "a password grant after the burst", func() error {
			_, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW})
			return err
		})
	}
}
