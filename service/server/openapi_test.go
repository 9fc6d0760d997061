package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.yaml.in/yaml/v4"

	"github.com/gatehouse/gatehouse/service/grpcapi"
	"github.com/gatehouse/gatehouse/service/httpapi"
)

// servedSpec is the OpenAPI document the first test server served, fetched
// once per test binary: every REST exchange of the tests (do, doHeaders) is
// validated against it, so the document cannot drift from the server.
var servedSpec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

func (ts *testServer) spec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	servedSpec.once.Do(func() {
		servedSpec.doc, servedSpec.router, servedSpec.err = fetchSpec(ts.baseURL + "/openapi.json")
	})
	if servedSpec.err != nil {
		t.Fatalf("OpenAPI document: %v", servedSpec.err)
	}
	return servedSpec.doc, servedSpec.router
}

func fetchSpec(u string) (*openapi3.T, routers.Router, error) {
	res, err := http.Get(u)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %d %s", u, res.StatusCode, body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		return nil, nil, fmt.Errorf("parse: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("not valid OpenAPI 3: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("router: %w", err)
	}
	return doc, router, nil
}

// checkOpenAPI fails the test when an exchange disagrees with the document:
// an answer other than 404/405 to an operation the document lacks, a
// success for a request the document refuses, or an answer (status,
// headers, body) the document does not describe.
func (ts *testServer) checkOpenAPI(t testing.TB, sent *http.Request, body string, res httpResult) {
	t.Helper()
	_, router := ts.spec(t)
	req := sent.Clone(context.Background())
	req.Body = io.NopCloser(strings.NewReader(body))
	route, params, err := router.FindRoute(req)
	if err != nil {
		switch {
		case res.status == http.StatusNotFound:
		case res.status == http.StatusMethodNotAllowed && res.header.Get("Allow") != "":
		default:
			t.Errorf("OpenAPI: %s %s answered %d, but the document has no such operation (%v)", req.Method, req.URL.Path, res.status, err)
		}
		return
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: presentCredentials},
	}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && res.status < 400 {
		t.Errorf("OpenAPI: %s %s answered %d to a request the document refuses: %v", req.Method, req.URL.Path, res.status, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.status,
		Header:                 res.header,
		Body:                   io.NopCloser(bytes.NewReader(res.body)),
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("OpenAPI: the answer %d to %s %s does not match the document: %v\nbody: %.2000s", res.status, req.Method, req.URL.Path, err, res.body)
	}
}

// presentCredentials checks only that a request carries the credentials a
// security scheme names; whether they are valid is the server's business.
func presentCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, in.SecurityScheme.Scheme) {
		return fmt.Errorf("no %s credentials", in.SecurityScheme.Scheme)
	}
	return nil
}

// TestOpenAPIDocument checks what generated clients rely on: the token
// response's types, info, and the security requirements, which must agree
// with the authorization table.
func TestOpenAPIDocument(t *testing.T) {
	ts := startServer(t, "")
	doc, _ := ts.spec(t)

	if doc.Info.Title != "gatehouse" || doc.Info.Version == "" || doc.Info.Version == "0.0.0-dev" {
		t.Errorf("info = %q %q, want the title gatehouse and the build version", doc.Info.Title, doc.Info.Version)
	}
	tokenOp := doc.Paths.Value("/v1/token").Post
	schema := tokenOp.Responses.Status(http.StatusOK).Value.Content.Get("application/json").Schema.Value
	for _, c := range []struct{ prop, typ string }{
		{"access_token", openapi3.TypeString},
		{"token_type", openapi3.TypeString},
		{"expires_in", openapi3.TypeInteger},
		{"refresh_token", openapi3.TypeString},
	} {
		p := schema.Properties[c.prop]
		if p == nil || !p.Value.Type.Is(c.typ) {
			t.Errorf("IssueToken response %s: %+v, want type %s", c.prop, p, c.typ)
		}
	}
	if _, ok := doc.Components.SecuritySchemes["bearerAuth"]; !ok {
		t.Fatal("no bearerAuth security scheme")
	}

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want := wantSecurity(t, path, op)
			got := map[string]bool{}
			if op.Security == nil {
				t.Errorf("%s %s: no security requirement (an empty list says it is public)", method, path)
				continue
			}
			for _, req := range *op.Security {
				for name := range req {
					got[name] = true
				}
			}
			if got["bearerAuth"] != want {
				t.Errorf("%s %s (%s): bearerAuth in security = %v, want %v", method, path, op.OperationID, got["bearerAuth"], want)
			}
		}
	}
}

// wantSecurity says whether an operation takes a bearer token: from the
// authorization table for the gateway's operations, from the handlers for
// the others (introspection takes a service client's token, userinfo the
// user's access token).
func wantSecurity(t *testing.T, path string, op *openapi3.Operation) bool {
	t.Helper()
	service, rpc, ok := strings.Cut(op.OperationID, "_")
	if !strings.HasPrefix(path, "/v1/") {
		return path == "/oauth2/introspect" || path == "/oauth2/userinfo"
	}
	if !ok {
		t.Errorf("%s: operation id %q is not Service_Method", path, op.OperationID)
		return false
	}
	rule, ok := grpcapi.RuleFor("/gatehouse.v1." + service + "/" + rpc)
	if !ok {
		t.Errorf("%s: %s is not in the authorization table", path, op.OperationID)
	}
	return rule.Access != grpcapi.Public
}

// gatewayRoutes reads the REST mapping the gateway is generated from.
func gatewayRoutes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../proto/gatehouse/v1/gatehouse_api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct {
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range cfg.HTTP.Rules {
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			if p, ok := r[m].(string); ok {
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	return out
}

// TestOpenAPICoversEveryRoute compares the document's operations with the
// routes the server registers (the gateway's mapping and httpapi's own
// routes), both ways, and calls each one: none may be a routing miss.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	ts := startServer(t, "")
	doc, _ := ts.spec(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	registered := append(gatewayRoutes(t), httpapi.Routes()...)
	slices.Sort(documented)
	slices.Sort(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("the OpenAPI document has %s, which the server does not register", d)
		}
	}

	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		path = param.ReplaceAllString(path, "x")
		ct, body := "", ""
		switch {
		case strings.HasPrefix(path, "/oauth2/"):
			ct, body = "application/x-www-form-urlencoded", "token=x"
		case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
			ct, body = "application/json", "{}"
		}
		t.Run(op, func(t *testing.T) {
			r := ts.do(t, method, path, ct, body, "")
			if r.status == http.StatusNotFound && strings.Contains(string(r.body), `"Not Found"`) || r.status == http.StatusMethodNotAllowed {
				t.Errorf("%s: %d %s: the server does not route it", op, r.status, r.body)
			}
		})
	}
}

// TestMethodNotAllowed: a known path with another method is 405 with the
// allowed methods, on the gateway and on httpapi's own routes.
func TestMethodNotAllowed(t *testing.T) {
	ts := startServer(t, "")
	for _, c := range []struct {
		method, path string
		allow        []string
	}{
		{"GET", "/v1/token", []string{"POST"}},
		{"PUT", "/v1/token:validate", []string{"POST"}},
		{"DELETE", "/v1/jwks", []string{"GET"}},
		{"PUT", "/v1/admin/users", []string{"GET", "POST"}},
		{"POST", "/v1/admin/users/abc", []string{"DELETE", "GET", "PATCH"}},
		{"GET", "/v1/admin/keys:rotate", []string{"POST"}},
		{"GET", "/oauth2/token", []string{"POST"}},
		{"POST", "/healthz", []string{"GET", "HEAD"}},
		{"PUT", "/.well-known/jwks.json", []string{"GET", "HEAD"}},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := ts.do(t, c.method, c.path, "", "", "")
			if r.status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d %s, want 405", r.status, r.body)
			}
			var got []string
			for _, m := range strings.Split(r.header.Get("Allow"), ",") {
				got = append(got, strings.TrimSpace(m))
			}
			slices.Sort(got)
			if !slices.Equal(got, c.allow) {
				t.Errorf("Allow %q, want %q", r.header.Get("Allow"), c.allow)
			}
		})
	}
}

// TestTokenRoutesAnswerLikeRFC6749: the REST routes that return tokens
// answer numbers as numbers, leave empty members out and are never cached,
// on success and on error.
func TestTokenRoutesAnswerLikeRFC6749(t *testing.T) {
	ts := startServer(t, "")
	pw := `{"grant_type":"password","username":"admin","password":"` + ts.adminPW + `"}`
	bad := `{"grant_type":"password","username":"admin","password":"wrong"}`
	for _, c := range []struct {
		name, path, body string
		status           int
		members          []string // exactly these members
	}{
		{"v1 password grant", "/v1/token", pw, http.StatusOK, []string{"access_token", "expires_in", "refresh_token", "token_type"}},
		{"v1 wrong password", "/v1/token", bad, http.StatusUnauthorized, []string{"code", "details", "message"}},
		{"v1 unknown grant", "/v1/token", `{"grant_type":"x"}`, http.StatusBadRequest, []string{"code", "details", "message"}},
		{"v1 not JSON", "/v1/token", "grant_type=password", http.StatusUnsupportedMediaType, []string{"code", "details", "message"}},
		{"auth/token", "/auth/token", pw, http.StatusCreated, []string{"access_token"}},
		{"auth/token wrong password", "/auth/token", bad, http.StatusUnauthorized, []string{"detail"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct := "application/json"
			if !strings.HasPrefix(c.body, "{") {
				ct = "application/x-www-form-urlencoded"
			}
			r := ts.do(t, "POST", c.path, ct, c.body, "")
			if r.status != c.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, c.status)
			}
			if cc, p := r.header.Get("Cache-Control"), r.header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
				t.Errorf("Cache-Control %q, Pragma %q; want no-store, no-cache", cc, p)
			}
			m := r.json(t)
			var names []string
			for k, v := range m {
				names = append(names, k)
				if v == "" {
					t.Errorf("member %s is empty: %s", k, r.body)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, c.members) {
				t.Errorf("members %v, want %v", names, c.members)
			}
			if exp, ok := m["expires_in"]; ok {
				if n, isNum := exp.(float64); !isNum || n <= 0 {
					t.Errorf("expires_in %v (%T), want a positive number", exp, exp)
				}
			}
		})
	}
}
