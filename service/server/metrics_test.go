package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// dashboardPath is the Grafana dashboard built on the metrics.
const dashboardPath = "../../deploy/grafana/gatehouse.json"

// TestMetricsAndAccessLog drives scripted traffic over gRPC and REST, then
// scrapes the ops listener: every metric the dashboard queries exists, the
// domain counters carry the right labels, /metrics is not on the public
// port, and each call made exactly one access-log line with its request id
// and none of the secrets used.
func TestMetricsAndAccessLog(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			logs := &lockedBuffer{}
			ts := &testServer{clock: &clock{}, adminPW: testAdminPassword, dsn: b.DSN(t), dataDir: t.TempDir(), logs: logs}
			_, ts.masterKy, _ = secrets.GenerateMasterKey()
			ts.start(t)
			checkMetricsAndLogs(t, ts, logs)
		})
	}
}

func checkMetricsAndLogs(t *testing.T, ts *testServer, logs *lockedBuffer) {
	ctx := context.Background()
	const wrongPassword = "wrong-password-never-logged"
	const garbageToken = "garbage-token-never-logged"

	// gRPC: a password grant (its request id echoed), a failed one.
	var hdr metadata.MD
	issued, err := ts.auth.IssueToken(metadata.AppendToOutgoingContext(ctx, "x-request-id", "req-grpc-issue"),
		&gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-request-id"); !slices.Equal(got, []string{"req-grpc-issue"}) {
		t.Errorf("gRPC response x-request-id = %q, want the caller's", got)
	}
	token := issued.AccessToken
	_, err = ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: wrongPassword})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}

	// Validations: good (twice: the second is a verify-cache hit), garbage.
	validate := func(id, tok string) (*gatehousev1.ValidateTokenResponse, error) {
		return ts.auth.ValidateToken(metadata.AppendToOutgoingContext(ctx, "x-request-id", id), &gatehousev1.ValidateTokenRequest{Token: tok})
	}
	v, err := validate("req-grpc-validate", token)
	if err != nil {
		t.Fatal(err)
	}
	adminID := v.GetPrincipal().GetSubject()
	if _, err := validate("req-grpc-validate-again", token); err != nil {
		t.Fatal(err)
	}
	if _, err := validate("req-grpc-garbage", garbageToken); status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage token: %v", err)
	}
	// An authenticated gRPC call: its log line names the caller.
	if _, err := ts.admin.ListUsers(metadata.AppendToOutgoingContext(bearer(ctx, token), "x-request-id", "req-grpc-admin"), &gatehousev1.ListUsersRequest{}); err != nil {
		t.Fatal(err)
	}

	// REST: a validation with a caller's request id, an admin call, one
	// with an unusable request id (replaced), a hand-served route.
	res := ts.rest(t, "POST", "/v1/token:validate", "req-rest-validate", "", `{"token":"`+token+`"}`)
	if res.status != http.StatusOK || res.header.Get("X-Request-Id") != "req-rest-validate" {
		t.Errorf("REST validate: %d, X-Request-Id %q", res.status, res.header.Get("X-Request-Id"))
	}
	if res := ts.rest(t, "GET", "/v1/admin/users/"+adminID, "req-rest-admin", token, ""); res.status != http.StatusOK {
		t.Errorf("REST get user: %d %s", res.status, res.body)
	}
	res = ts.rest(t, "GET", "/healthz", "not a sane id; with spaces", "", "")
	if id := res.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("insane request id not replaced: %q", id)
	}
	// The public port has no /metrics.
	if res := ts.rest(t, "GET", "/metrics", "", "", ""); res.status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public port: %d, want 404", res.status)
	}

	// An expired token, refused under its reason.
	ts.clock.Advance(16 * time.Minute)
	if _, err := validate("req-grpc-expired", token); status.Code(err) != codes.Unauthenticated {
		t.Errorf("expired token: %v", err)
	}

	m := ts.scrape(t)
	t.Run("dashboard metrics exist", func(t *testing.T) {
		names := dashboardMetrics(t)
		t.Logf("the dashboard queries %d metrics: %v", len(names), names)
		for _, name := range names {
			if !m.has(name) {
				t.Errorf("the dashboard queries %s, which /metrics does not expose", name)
			}
		}
	})
	t.Run("labels", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			labels map[string]string
			min    float64
		}{
			{"gatehouse_tokens_issued_total", map[string]string{"grant": "password"}, 1},
			{"gatehouse_token_validations_total", map[string]string{"result": "valid", "reason": "none"}, 3},
			{"gatehouse_token_validations_total", map[string]string{"result": "invalid", "reason": "expired"}, 1},
			{"gatehouse_token_validations_total", map[string]string{"result": "invalid", "reason": "malformed"}, 1},
			{"gatehouse_login_failures_total", map[string]string{"kind": "user", "reason": "bad_credentials"}, 1},
			{"gatehouse_lockouts_total", map[string]string{"kind": "user"}, 0},
			{"gatehouse_signing_keys", map[string]string{"state": "active"}, 1},
			{"gatehouse_verify_cache_hits_total", nil, 1},
			{"gatehouse_verify_cache_misses_total", nil, 1},
			{"grpc_server_handled_total", map[string]string{"grpc_method": "ValidateToken", "grpc_code": "OK"}, 2},
			{"grpc_server_handled_total", map[string]string{"grpc_method": "ValidateToken", "grpc_code": "Unauthenticated"}, 1},
			{"grpc_server_handling_seconds_count", map[string]string{"grpc_method": "IssueToken"}, 2},
			{"gatehouse_http_requests_total", map[string]string{"route": "/v1/token:validate", "method": "post", "code": "200"}, 1},
			{"gatehouse_http_requests_total", map[string]string{"route": "/v1/admin/users/{id}", "method": "get", "code": "200"}, 1},
			{"gatehouse_http_requests_total", map[string]string{"route": "/healthz", "method": "get", "code": "200"}, 1},
			{"gatehouse_http_requests_total", map[string]string{"route": "unmatched", "method": "get", "code": "404"}, 1},
			{"gatehouse_http_request_duration_seconds_count", map[string]string{"route": "/v1/token:validate"}, 1},
		} {
			if got, ok := m.value(c.name, c.labels); !ok || got < c.min {
				t.Errorf("%s%v = %v (present %v), want ≥ %v", c.name, c.labels, got, ok, c.min)
			}
		}
		// The clock jumped 16 minutes: the lag is small again once the view
		// has polled after the jump.
		eventually(t, 20*time.Second, "view lag below a minute", func() error {
			if got, ok := ts.scrape(t).value("gatehouse_view_lag_seconds", nil); !ok || got < 0 || got > 60 {
				return fmt.Errorf("gatehouse_view_lag_seconds = %v (present %v)", got, ok)
			}
			return nil
		})
		if got, ok := m.value("gatehouse_signing_key_active_age_seconds", nil); !ok || got < 16*60 {
			t.Errorf("gatehouse_signing_key_active_age_seconds = %v (present %v), want ≥ the 16 min the clock moved", got, ok)
		}
		for _, s := range m.samples {
			if r := s.labels["route"]; strings.Contains(r, adminID) {
				t.Errorf("route label %q holds a raw path", r)
			}
		}
		// The in-process hop of REST calls is not counted as gRPC.
		if got, _ := m.value("grpc_server_handled_total", map[string]string{"grpc_method": "GetUser"}); got != 0 {
			t.Errorf("REST GetUser counted as a gRPC call: %v", got)
		}
	})
	t.Run("access log", func(t *testing.T) {
		lines := logs.lines(t)
		for _, c := range []struct {
			id    string
			want  map[string]any
			actor bool
		}{
			{"req-grpc-issue", map[string]any{"protocol": "grpc", "grpc.method": "IssueToken", "grpc.code": "OK"}, false},
			{"req-grpc-validate", map[string]any{"protocol": "grpc", "grpc.method": "ValidateToken", "grpc.code": "OK"}, false},
			{"req-grpc-garbage", map[string]any{"protocol": "grpc", "grpc.code": "InvalidArgument"}, false},
			{"req-grpc-expired", map[string]any{"protocol": "grpc", "grpc.code": "Unauthenticated"}, false},
			{"req-grpc-admin", map[string]any{"protocol": "grpc", "grpc.method": "ListUsers", "grpc.code": "OK"}, true},
			{"req-rest-validate", map[string]any{"protocol": "http", "http.route": "/v1/token:validate", "http.method": "POST", "http.status": float64(200)}, false},
			{"req-rest-admin", map[string]any{"protocol": "http", "http.route": "/v1/admin/users/{id}", "http.status": float64(200)}, true},
		} {
			var got []map[string]any
			for _, l := range lines {
				if l["msg"] == "request" && l["request_id"] == c.id {
					got = append(got, l)
				}
			}
			if len(got) != 1 {
				t.Errorf("request %s: %d access-log lines, want 1: %v", c.id, len(got), got)
				continue
			}
			l := got[0]
			for k, v := range c.want {
				if l[k] != v {
					t.Errorf("request %s: %s = %v, want %v", c.id, k, l[k], v)
				}
			}
			if l["level"] != "INFO" || l["ip"] != "127.0.0.1" {
				t.Errorf("request %s: level %v, ip %v", c.id, l["level"], l["ip"])
			}
			if _, ok := l["duration_ms"].(float64); !ok {
				t.Errorf("request %s: no duration_ms: %v", c.id, l)
			}
			if c.actor && l["subject"] != adminID {
				t.Errorf("request %s: subject %v, want %s", c.id, l["subject"], adminID)
			}
		}
		secretsUsed := []string{ts.adminPW, wrongPassword, garbageToken, token, issued.RefreshToken, ts.masterKy}
		for _, l := range strings.Split(logs.String(), "\n") {
			for _, s := range secretsUsed {
				if s != "" && strings.Contains(l, s) {
					t.Errorf("a log line holds a secret (%.12s…): %.200s", s, l)
				}
			}
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
}

// restResult is an HTTP answer.
type restResult struct {
	status int
	header http.Header
	body   []byte
}

// rest sends an HTTP request with an X-Request-Id and an optional bearer
// token.
func (ts *testServer) rest(t *testing.T, method, path, requestID, token, body string) restResult {
	t.Helper()
	req, err := http.NewRequest(method, ts.baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return restResult{status: res.StatusCode, header: res.Header, body: b}
}

// dashboardMetrics returns the metric names the dashboard's PromQL
// expressions use.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has only %d expressions", len(exprs))
	}
	// Metric names are the identifiers left once ranges, grouping clauses,
	// label matchers and strings are dropped, less PromQL's own words.
	drop := regexp.MustCompile(`\[[^\]]*\]|\b(?:by|without)\s*\([^)]*\)|\{[^}]*\}|"[^"]*"`)
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promql := map[string]bool{"sum": true, "max": true, "min": true, "avg": true, "rate": true, "irate": true, "increase": true,
		"histogram_quantile": true, "label_values": true, "time": true, "instance": true}
	seen := map[string]bool{}
	var names []string
	for _, e := range exprs {
		for _, id := range ident.FindAllString(drop.ReplaceAllString(e, " "), -1) {
			if !promql[id] && !seen[id] {
				seen[id] = true
				names = append(names, id)
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in the dashboard: %v", len(names), names)
	}
	return names
}

// scraped is a parsed /metrics answer.
type scraped struct{ samples []sample }

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads the ops listener's /metrics.
func (ts *testServer) scrape(t *testing.T) scraped {
	t.Helper()
	addr := ts.app.OpsAddr()
	if addr == "" {
		t.Fatal("no ops listener")
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on the ops listener: %d", res.StatusCode)
	}
	var m scraped
	line := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		g := line.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		s := sample{name: g[1], labels: map[string]string{}}
		for _, l := range label.FindAllStringSubmatch(g[2], -1) {
			s.labels[l[1]] = l[2]
		}
		s.value, _ = strconv.ParseFloat(g[3], 64)
		m.samples = append(m.samples, s)
	}
	return m
}

// has reports whether a metric (or its histogram's _bucket/_sum/_count)
// is exposed.
func (m scraped) has(name string) bool {
	for _, s := range m.samples {
		if s.name == name || s.name == name+"_bucket" || s.name == name+"_count" {
			return true
		}
	}
	return false
}

// value sums the samples of name whose labels include want.
func (m scraped) value(name string, want map[string]string) (float64, bool) {
	var sum float64
	found := false
next:
	for _, s := range m.samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum, found = sum+s.value, true
	}
	return sum, found
}

// TestOpsListener: /metrics is served on the ops listener, /debug/pprof
// only with Pprof, and an empty OpsAddr turns the listener off.
func TestOpsListener(t *testing.T) {
	for _, c := range []struct {
		name      string
		opsAddr   string
		pprof     bool
		wantPprof int
	}{
		{"default", "127.0.0.1:0", false, http.StatusNotFound},
		{"pprof", "127.0.0.1:0", true, http.StatusOK},
		{"off", "", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, "", func(cfg *server.Config) { cfg.OpsAddr, cfg.Pprof = c.opsAddr, c.pprof })
			addr := ts.app.OpsAddr()
			if c.opsAddr == "" {
				if addr != "" {
					t.Fatalf("OpsAddr() = %q with the listener off", addr)
				}
				return
			}
			for path, want := range map[string]int{"/metrics": http.StatusOK, "/debug/pprof/": c.wantPprof, "/healthz": http.StatusNotFound} {
				res, err := http.Get("http://" + addr + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != want {
					t.Errorf("ops GET %s = %d, want %d", path, res.StatusCode, want)
				}
			}
			if res := ts.rest(t, "GET", "/debug/pprof/", "", "", ""); res.status != http.StatusNotFound {
				t.Errorf("public GET /debug/pprof/ = %d, want 404", res.status)
			}
		})
	}
}

// BenchmarkValidateTokenGRPCObserved is BenchmarkValidateTokenGRPC with the
// request metrics and the access log (JSON, discarded) off, either, or both.
func BenchmarkValidateTokenGRPCObserved(b *testing.B) {
	for _, c := range []struct {
		name               string
		metrics, accessLog bool
	}{{"off", false, false}, {"metrics", true, false}, {"accesslog", false, true}, {"on", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			ts := &testServer{clock: &clock{}, adminPW: testAdminPassword, dataDir: b.TempDir(), logs: io.Discard}
			_, ts.masterKy, _ = secrets.GenerateMasterKey()
			ts.start(b, func(cfg *server.Config) {
				cfg.AccessLog = c.accessLog
				if !c.metrics {
					cfg.OpsAddr = "" // no ops listener: requests are not measured
				}
			})
			cl, err := ts.admin.CreateServiceClient(ts.adminCtx(b), &gatehousev1.CreateServiceClientRequest{ClientId: "bench", Roles: []string{"reader"}})
			if err != nil {
				b.Fatal(err)
			}
			res, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "bench", ClientSecret: cl.ClientSecret})
			if err != nil {
				b.Fatal(err)
			}
			req := &gatehousev1.ValidateTokenRequest{Token: res.AccessToken}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := ts.auth.ValidateToken(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
