package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/grpcapi"
	"github.com/gatehouse/gatehouse/service/secrets"
)

// gatehouseServices are the descriptors of the gatehouse services.
func gatehouseServices(t *testing.T) []protoreflect.ServiceDescriptor {
	t.Helper()
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("gatehouse.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			out = append(out, fd.Services().Get(i))
		}
		return true
	})
	if len(out) < 2 {
		t.Fatalf("found %d gatehouse services in the registry", len(out))
	}
	return out
}

func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

// TestAuthzTableCoversEveryRPC walks every service the running server
// registers (as its reflection service lists them) and every service of the
// gatehouse.v1 package, and fails when a method has no rule.
func TestAuthzTableCoversEveryRPC(t *testing.T) {
	ts := startServer(t, "")
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	services := gatehouseServices(t)
	registered := res.GetListServicesResponse().GetService()
	if len(registered) < 4 {
		t.Fatalf("the server lists %d services: %v", len(registered), registered)
	}
	for _, s := range registered {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(s.GetName()))
		if err != nil {
			t.Errorf("registered service %s has no descriptor: %v", s.GetName(), err)
			continue
		}
		services = append(services, d.(protoreflect.ServiceDescriptor))
	}
	n := 0
	for _, sd := range services {
		for i := range sd.Methods().Len() {
			m := fullMethod(sd.Methods().Get(i))
			n++
			if _, ok := grpcapi.RuleFor(m); !ok {
				t.Errorf("%s is missing from the authorization table (service/grpcapi/authz.go)", m)
			}
		}
	}
	if _, ok := grpcapi.RuleFor("/gatehouse.v1.AdminService/NoSuchMethod"); ok {
		t.Error("an unknown method has a rule")
	}
	t.Logf("%d methods checked", n)
}

// identity is one kind of caller in the authorization matrix.
type identity struct {
	name  string
	token string
}

// authzFixture holds a token for every identity of the matrix.
type authzFixture struct {
	admin, user, svc, disabled, refresh, offline, otherAud string
}

func newAuthzFixture(t *testing.T, ts *testServer) authzFixture {
	t.Helper()
	ctx := ts.adminCtx(t)
	for _, u := range []string{"plain", "dave"} {
		if _, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: u, Password: u + "-password", Roles: []string{"viewer"}}); err != nil {
			t.Fatalf("create %s: %v", u, err)
		}
	}
	c, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "norole"})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "norole", ClientSecret: c.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	adminLogin := ts.login(t, "admin", ts.adminPW, "")
	offline := ts.login(t, "admin", ts.adminPW, "offline_access")
	if !strings.HasPrefix(adminLogin.RefreshToken, "ghr_") || !strings.HasPrefix(offline.RefreshToken, "gho_") {
		t.Fatalf("refresh %.4q, offline %.4q", adminLogin.RefreshToken, offline.RefreshToken)
	}
	v, err := ts.validate(adminLogin.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	now := ts.clock.Now()
	f := authzFixture{
		admin:   adminLogin.AccessToken,
		user:    ts.token(t, "plain", "plain-password"),
		svc:     cc.AccessToken,
		refresh: adminLogin.RefreshToken,
		offline: offline.RefreshToken,
		otherAud: ts.forge(t, "at+jwt", map[string]any{
			"iss": ts.app.Core().Config().Issuer, "sub": v.Principal.Subject, "aud": "another-service",
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "forged-other-audience",
			"client_id": "gatehouse", "roles": []string{"admin"}, "preferred_username": "admin",
		}),
	}
	dave := ts.token(t, "dave", "dave-password")
	dv, err := ts.validate(dave)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: dv.Principal.Subject}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "disabled account refused", func() error {
		if _, err := ts.validate(dave); status.Code(err) != codes.PermissionDenied {
			return fmt.Errorf("validate = %v", err)
		}
		return nil
	})
	f.disabled = dave
	return f
}

// expectation is the outcome of one identity on one rule: the gRPC code
// of a refusal, or OK for "let through" (the call may still fail for a
// reason other than authorization).
func expectation(rule grpcapi.Rule, who string) codes.Code {
	switch who {
	case "no token", "refresh token", "offline token", "other audience":
		return codes.Unauthenticated
	case "disabled account", "user without role":
		return codes.PermissionDenied
	}
	if rule.Access == grpcapi.ServiceClientOnly {
		if who == "service client" {
			return codes.OK
		}
		return codes.PermissionDenied
	}
	if who == "admin" {
		return codes.OK
	}
	return codes.PermissionDenied
}

func httpStatusOf(c codes.Code) int {
	switch c {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	}
	return 0
}

// route is one REST binding of an RPC, path variables filled in.
type route struct{ method, path, body string }

// restRoutes reads the REST mapping (proto/gatehouse/v1/gatehouse_api.yaml,
// the gateway's source) as selector → routes.
func restRoutes(t *testing.T) map[string][]route {
	t.Helper()
	b, err := os.ReadFile("../../proto/gatehouse/v1/gatehouse_api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`\{[^}]*\}`)
	out := map[string][]route{}
	sel := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "selector":
			sel = "/" + v[:strings.LastIndex(v, ".")] + "/" + v[strings.LastIndex(v, ".")+1:]
		case "get", "post", "put", "patch", "delete":
			out[sel] = append(out[sel], route{method: strings.ToUpper(k), path: vars.ReplaceAllString(v, "nope")})
		case "body":
			if rs := out[sel]; len(rs) > 0 {
				rs[len(rs)-1].body = "{}"
			}
		}
	}
	if len(out) < 25 {
		t.Fatalf("read %d REST bindings", len(out))
	}
	return out
}

// TestAuthzMatrix calls every protected RPC over gRPC and every REST route
// of it through the gateway as every kind of caller.
func TestAuthzMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		f := newAuthzFixture(t, ts)
		ids := []identity{
			{"no token", ""}, {"user without role", f.user}, {"service client", f.svc}, {"disabled account", f.disabled},
			{"refresh token", f.refresh}, {"offline token", f.offline}, {"other audience", f.otherAud}, {"admin", f.admin},
		}
		protected, routes := 0, 0
		rest := restRoutes(t)
		for _, sd := range gatehouseServices(t) {
			for i := range sd.Methods().Len() {
				md := sd.Methods().Get(i)
				name := fullMethod(md)
				rule, ok := grpcapi.RuleFor(name)
				if !ok {
					t.Errorf("%s has no rule", name)
					continue
				}
				if rule.Access == grpcapi.Public {
					continue
				}
				protected++
				for _, id := range ids {
					want := expectation(rule, id.name)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					if id.token != "" {
						ctx = bearer(ctx, id.token)
					}
					err := ts.conn.Invoke(ctx, name, dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output()))
					cancel()
					got := status.Code(err)
					switch {
					case want == codes.OK && (got == codes.Unauthenticated || got == codes.PermissionDenied):
						t.Errorf("gRPC %s as %s: refused (%v), want let through", name, id.name, err)
					case want != codes.OK && got != want:
						t.Errorf("gRPC %s as %s: %v, want %s", name, id.name, err, want)
					}
					// Server streams (WatchRevocations) are gRPC only.
					if len(rest[name]) == 0 && !md.IsStreamingServer() {
						t.Errorf("%s has no REST route", name)
					}
					for _, r := range rest[name] {
						routes++
						ct := ""
						if r.body != "" {
							ct = "application/json"
						}
						res := ts.do(t, r.method, r.path, ct, r.body, id.token)
						unauth := res.status == http.StatusUnauthorized || res.status == http.StatusForbidden
						switch {
						case want == codes.OK && unauth:
							t.Errorf("REST %s %s as %s: %d %s, want let through", r.method, r.path, id.name, res.status, res.body)
						case want != codes.OK && res.status != httpStatusOf(want):
							t.Errorf("REST %s %s as %s: %d %s, want %d", r.method, r.path, id.name, res.status, res.body, httpStatusOf(want))
						}
						if res.status == http.StatusUnauthorized && res.header.Get("WWW-Authenticate") == "" {
							t.Errorf("REST %s %s as %s: 401 without WWW-Authenticate", r.method, r.path, id.name)
						}
					}
				}
			}
		}
		if protected < 25 || routes < 25*len(ids) {
			t.Fatalf("only %d protected RPCs and %d REST calls were checked", protected, routes)
		}
	})
}

// TestValidateTokenOfflineNeedsFlag: an offline token validates only when
// the request says the service takes offline tokens.
func TestValidateTokenOfflineNeedsFlag(t *testing.T) {
	ts := startServer(t, "")
	off := ts.login(t, "admin", ts.adminPW, "offline_access").RefreshToken
	if _, err := ts.validate(off); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ValidateToken(offline) = %v, want UNAUTHENTICATED", err)
	}
	v, err := ts.validateOffline(off)
	if err != nil || v.Principal.Username != "admin" {
		t.Errorf("ValidateToken(offline, allow_offline_token) = %v, %v", v, err)
	}
	// Nor is it a bearer credential, even with the admin role behind it.
	if _, err := ts.admin.ListUsers(bearer(context.Background(), off), &gatehousev1.ListUsersRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListUsers with an offline token = %v, want UNAUTHENTICATED", err)
	}
}

// logTap records what the server logs through the harness's test writer.
type logTap struct {
	testing.TB
	mu    sync.Mutex
	lines []string
}

func (l *logTap) Log(args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprint(args...))
	l.mu.Unlock()
	l.TB.Log(args...)
}

func (l *logTap) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestRESTPassesThroughGRPCChain: a REST call is authorized by the same
// gRPC gate as a gRPC call (the gate sets the caller that the REST access
// log line names), and each call leaves exactly one access-log line.
func TestRESTPassesThroughGRPCChain(t *testing.T) {
	logs := &lockedBuffer{}
	ts := &testServer{clock: &clock{}, adminPW: testAdminPassword, dataDir: t.TempDir(), logs: logs}
	_, ts.masterKy, _ = secrets.GenerateMasterKey()
	ts.start(t)
	tok := ts.adminToken(t)
	if res := ts.do(t, http.MethodGet, "/v1/admin/keys", "", "", tok); res.status != http.StatusOK {
		t.Fatalf("GET /v1/admin/keys: %d %s", res.status, res.body)
	}
	if res := ts.do(t, http.MethodGet, "/v1/admin/keys", "", "", ""); res.status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/admin/keys without a token: %d %s", res.status, res.body)
	}
	if _, err := ts.admin.ListSigningKeys(bearer(context.Background(), tok), &gatehousev1.ListSigningKeysRequest{}); err != nil {
		t.Fatal(err)
	}
	var rest, restAnon, grpcCalls int
	for _, l := range logs.lines(t) {
		switch {
		case l["msg"] != "request":
		case l["http.route"] == "/v1/admin/keys" && l["http.status"] == float64(200) && l["subject"] != nil && l["subject"] != "":
			rest++
		case l["http.route"] == "/v1/admin/keys" && l["http.status"] == float64(401) && l["subject"] == nil:
			restAnon++
		case l["grpc.method"] == "ListSigningKeys":
			grpcCalls++
		}
	}
	if rest != 1 || restAnon != 1 || grpcCalls != 1 {
		t.Errorf("access-log lines: REST with the gate's subject %d, REST refused %d, gRPC %d; want 1 each:\n%s", rest, restAnon, grpcCalls, logs.String())
	}
}
