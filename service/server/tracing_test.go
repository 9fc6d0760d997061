package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/service/telemetry"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// withTracing serves with an always-sampling provider that records every
// ended span in memory.
func withTracing(exp *tracetest.InMemoryExporter) serverOption {
	return func(c *server.Config) {
		c.Tracing = telemetry.FromProvider(sdktrace.NewTracerProvider(
			sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample())))
	}
}

// spanTree indexes exported spans by id.
type spanTree map[trace.SpanID]tracetest.SpanStub

func newSpanTree(spans tracetest.SpanStubs) spanTree {
	tree := spanTree{}
	for _, s := range spans {
		tree[s.SpanContext.SpanID()] = s
	}
	return tree
}

// under reports whether s descends from ancestor, following parent links.
func (tree spanTree) under(s tracetest.SpanStub, ancestor trace.SpanID) bool {
	for range len(tree) + 1 {
		p := s.Parent.SpanID()
		if p == ancestor {
			return true
		}
		next, ok := tree[p]
		if !ok {
			return false
		}
		s = next
	}
	return false
}

// find returns the spans named name (a trailing "*" matches a prefix).
func find(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name || (strings.HasSuffix(name, "*") && strings.HasPrefix(s.Name, strings.TrimSuffix(name, "*"))) {
			out = append(out, s)
		}
	}
	return out
}

// waitForSpan waits until a span named name with kind has ended: a server
// span ends after its response went out, so it can trail the client's
// return.
func waitForSpan(t *testing.T, exp *tracetest.InMemoryExporter, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	var found tracetest.SpanStub
	eventually(t, 10*time.Second, "span "+name, func() error {
		for _, s := range find(exp.GetSpans(), name) {
			if s.SpanKind == kind {
				found = s
				return nil
			}
		}
		return fmt.Errorf("no %s span %q among %v", kind, name, names(exp.GetSpans()))
	})
	return found
}

// A password grant makes one trace: the server span (continuing the
// caller's traceparent when there is one) with the database calls, the
// password hash and the signature below it.
func TestTracingPasswordGrant(t *testing.T) {
	const issueToken = "gatehouse.v1.AuthService/IssueToken"
	remote := trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}
	traceparent := fmt.Sprintf("00-%s-%s-01", remote.TraceID, remote.SpanID)
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				name string
				// grant runs the password grant, passing traceparent along
				// when it is not empty.
				grant       func(t *testing.T, ts *testServer, traceparent string)
				traceparent string
				// server is the gRPC server span the grant's work hangs
				// under; the trace's outermost span is the HTTP one for REST.
				server   string
				viaInner bool // REST: HTTP span → gRPC client span → in-process gRPC server span
			}{
				{name: "gRPC", grant: grpcGrant, server: issueToken},
				{name: "gRPC with traceparent", grant: grpcGrant, traceparent: traceparent, server: issueToken},
				{name: "REST", grant: restGrant, server: issueToken, viaInner: true},
				{name: "REST with traceparent", grant: restGrant, traceparent: traceparent, server: issueToken, viaInner: true},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					exp := tracetest.NewInMemoryExporter()
					ts := startServer(t, b.DSN(t), withTracing(exp))
					exp.Reset() // start-up work is not traced, but be sure
					tc.grant(t, ts, tc.traceparent)

					srv := waitForSpan(t, exp, tc.server, trace.SpanKindServer)
					top := srv
					if tc.viaInner {
						// The HTTP span is named "POST" plus the route once
						// the route reaches it (see traceHTTP).
						top = waitForSpan(t, exp, "POST*", trace.SpanKindServer)
					}
					spans := exp.GetSpans()
					tree := newSpanTree(spans)
					tid := top.SpanContext.TraceID()
					if tc.traceparent != "" {
						if tid != remote.TraceID || top.Parent.SpanID() != remote.SpanID || !top.Parent.IsRemote() {
							t.Fatalf("top span %q: trace %s parent %s (remote %v), want trace %s parent %s (remote)",
								top.Name, tid, top.Parent.SpanID(), top.Parent.IsRemote(), remote.TraceID, remote.SpanID)
						}
					} else if top.Parent.IsValid() {
						t.Fatalf("top span %q has a parent %s without an incoming traceparent", top.Name, top.Parent.SpanID())
					}
					if tc.viaInner {
						// The in-process hop continues the HTTP request's trace.
						client := find(spans, issueToken)
						var sawClient bool
						for _, c := range client {
							if c.SpanKind == trace.SpanKindClient && c.Parent.SpanID() == top.SpanContext.SpanID() {
								sawClient = true
								if srv.Parent.SpanID() != c.SpanContext.SpanID() {
									t.Fatalf("in-process server span's parent %s, want the gateway's client span %s", srv.Parent.SpanID(), c.SpanContext.SpanID())
								}
							}
						}
						if !sawClient {
							t.Fatalf("no gRPC client span under the HTTP span %q", top.Name)
						}
					}
					wantSystem := "sqlite"
					if b.Name == "postgres" {
						wantSystem = "postgresql"
					}
					for _, want := range []string{"password.hash", "jwt.sign", "db.query", "db.tx", "db.exec"} {
						got := find(spans, want)
						if len(got) == 0 {
							t.Errorf("no %s span (spans: %v)", want, names(spans))
							continue
						}
						for _, s := range got {
							if s.SpanContext.TraceID() != tid {
								t.Errorf("%s span in trace %s, want %s", want, s.SpanContext.TraceID(), tid)
							}
							if !tree.under(s, srv.SpanContext.SpanID()) {
								t.Errorf("%s span is not under the server span %q", want, srv.Name)
							}
							if strings.HasPrefix(want, "db.") && attr(s, "db.system.name") != wantSystem {
								t.Errorf("%s span db.system.name %q, want %q", want, attr(s, "db.system.name"), wantSystem)
							}
						}
					}
					// Statements inside a transaction hang under its db.tx span.
					for _, tx := range find(spans, "db.tx") {
						for _, s := range find(spans, "db.*") {
							if s.Parent.SpanID() == tx.SpanContext.SpanID() && s.Name == "db.tx" {
								t.Errorf("a db.tx span nested in another")
							}
						}
					}
					// Nothing secret lands in a span.
					for _, s := range spans {
						for _, kv := range s.Attributes {
							if v := kv.Value.Emit(); strings.Contains(v, testAdminPassword) || strings.Contains(v, "eyJ") {
								t.Errorf("span %s attribute %s holds a secret: %q", s.Name, kv.Key, v)
							}
						}
					}
				})
			}
		})
	}
}

func grpcGrant(t *testing.T, ts *testServer, traceparent string) {
	t.Helper()
	ctx := context.Background()
	if traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	if _, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW}); err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
}

func restGrant(t *testing.T, ts *testServer, traceparent string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.baseURL+"/v1/token",
		strings.NewReader(fmt.Sprintf(`{"grant_type":"password","username":"admin","password":%q}`, ts.adminPW)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/token: HTTP %d", res.StatusCode)
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// ValidateToken answered from the verify cache has no jwt.verify span; a
// first validation has one, under the server span.
func TestTracingValidateToken(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	ts := startServer(t, "", withTracing(exp))
	tok := ts.adminToken(t)
	const validate = "gatehouse.v1.AuthService/ValidateToken"
	for i, wantVerify := range []bool{true, false} {
		exp.Reset()
		if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok}); err != nil {
			t.Fatalf("ValidateToken: %v", err)
		}
		srv := waitForSpan(t, exp, validate, trace.SpanKindServer)
		spans := exp.GetSpans()
		verify := find(spans, "jwt.verify")
		if (len(verify) == 1) != wantVerify {
			t.Fatalf("call %d: jwt.verify spans %d, want %v (spans %v)", i+1, len(verify), wantVerify, names(spans))
		}
		if wantVerify && verify[0].Parent.SpanID() != srv.SpanContext.SpanID() {
			t.Fatalf("jwt.verify is not a child of the server span")
		}
		if db := find(spans, "db.*"); len(db) != 0 {
			t.Fatalf("ValidateToken touched the database: %v", names(db))
		}
	}
}

// A trusted issuer's JWKS fetch is a jwks.fetch span naming the issuer and
// the URL (it runs in the background, so it is a trace of its own).
func TestTracingJWKSFetch(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	ts := startServer(t, "", withTracing(exp))
	idp := fakeidp.New(t, fakeidp.WithClock(ts.clock.Now))
	ti := &gatehousev1.TrustedIssuer{Issuer: idp.IssuerV1(), JwksUri: idp.JWKSURI(), Audiences: []string{idp.Audience()}, LinkBy: "username"}
	if _, err := ts.admin.CreateTrustedIssuer(ts.adminCtx(t), &gatehousev1.CreateTrustedIssuerRequest{Issuer: ti}); err != nil {
		t.Fatal(err)
	}
	s := waitForSpan(t, exp, "jwks.fetch", trace.SpanKindClient)
	if got := attr(s, "gatehouse.federation.issuer"); got != ti.Issuer {
		t.Errorf("issuer attribute %q, want %q", got, ti.Issuer)
	}
	if got := attr(s, "url.full"); got != ti.JwksUri {
		t.Errorf("url.full %q, want %q", got, ti.JwksUri)
	}
	if got := attr(s, "http.response.status_code"); got != "200" {
		t.Errorf("status attribute %q, want 200", got)
	}
}
