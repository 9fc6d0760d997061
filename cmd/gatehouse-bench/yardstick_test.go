package main

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// signClaims signs an EdDSA token with sub, client_id and roles.
func signClaims(t *testing.T, k jwk.Key, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject("svc-1").IssuedAt(exp.Add(-time.Hour)).Expiration(exp).
		Claim("client_id", "billing").Claim("roles", []string{"a", "b"}).Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, k))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestYardstickValidateToken checks the yardstick's answers, in this
// process and in a child process of its own.
func TestYardstickValidateToken(t *testing.T) {
	for _, c := range []struct{ withAlg, inProcess bool }{{true, true}, {false, true}, {true, false}} {
		key, jwks := edKeys(t, c.withAlg)
		other, _ := edKeys(t, true)
		y, err := startBare(scYardstickGRPC, jwks, c.inProcess)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := y.stop(); err != nil {
				t.Error(err)
			}
		})
		if ap, err := netip.ParseAddrPort(y.address()); err != nil || !ap.Addr().IsLoopback() {
			t.Fatalf("yardstick listens on %q, want a loopback address", y.address())
		}
		cl := mustPool(t, y.address()).client(0)

		valid := signClaims(t, key, time.Now().Add(time.Hour))
		tampered := valid[:len(valid)-4] + strings.Repeat("A", 4)
		if tampered == valid {
			tampered = valid[:len(valid)-4] + strings.Repeat("B", 4)
		}
		tests := []struct {
			name  string
			token string
			ok    bool
		}{
			{"valid", valid, true},
			{"expired", signClaims(t, key, time.Now().Add(-time.Hour)), false},
			{"other key", signClaims(t, other, time.Now().Add(time.Hour)), false},
			{"tampered signature", tampered, false},
			{"not a JWT", "garbage", false},
		}
		for _, tc := range tests {
			resp, err := cl.ValidateToken(t.Context(), &gatehousev1.ValidateTokenRequest{Token: tc.token})
			if !tc.ok {
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("alg %v, in process %v, %s: err = %v, want UNAUTHENTICATED", c.withAlg, c.inProcess, tc.name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("alg %v, in process %v, %s: %v", c.withAlg, c.inProcess, tc.name, err)
			}
			p := resp.GetPrincipal()
			if p.GetSubject() != "svc-1" || p.GetClientId() != "billing" || !slices.Equal(p.GetRoles(), []string{"a", "b"}) {
				t.Errorf("alg %v, in process %v: principal = %v", c.withAlg, c.inProcess, p)
			}
		}
	}
}

func TestStartYardstickRejectsBadJWKS(t *testing.T) {
	for _, inProcess := range []bool{true, false} {
		for _, raw := range []string{`{}`, `{"keys":[]}`, `not json`} {
			y, err := startBare(scYardstickGRPC, []byte(raw), inProcess)
			if err == nil {
				_ = y.stop()
				t.Errorf("in process %v: startBare(yardstick, %s) succeeded", inProcess, raw)
			} else if !strings.Contains(err.Error(), "JWKS") {
				t.Errorf("in process %v: startBare(yardstick, %s) = %v, want the JWKS named", inProcess, raw, err)
			}
		}
	}
}

// TestBareProcessEnds: the child is another process, serves until stop
// closes its stdin (as the parent's exit would) and then exits; a child
// that cannot start says why.
func TestBareProcessEnds(t *testing.T) {
	p, err := startBareProcess(scGRPCFloor, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.cmd.Process.Pid == os.Getpid() {
		t.Fatal("the floor runs in this process")
	}
	resp, err := mustPool(t, p.address()).client(0).ValidateToken(t.Context(), &gatehousev1.ValidateTokenRequest{Token: "anything"})
	if err != nil || resp.GetPrincipal().GetSubject() == "" {
		t.Fatalf("floor answered %v, %v", resp, err)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if !p.cmd.ProcessState.Exited() {
		t.Errorf("child state after stop: %v", p.cmd.ProcessState)
	}
	if _, err := startBareProcess("no-such-server", nil); err == nil || !strings.Contains(err.Error(), "no bare server") {
		t.Errorf("unknown kind: err = %v, want the child's complaint", err)
	}
}

// TestRunYardstick drives validate-grpc (the fake server) and
// yardstick-grpc in one run and checks the ratios and goals it prints.
func TestRunYardstick(t *testing.T) {
	tests := []struct {
		name      string
		extra     []string
		wantGoal  string
		everyCall bool
	}{
		{name: "repeated tokens", wantGoal: "validate-grpc/yardstick req/s, repeated tokens"},
		{name: "every call", extra: []string{"-every-call"}, wantGoal: "validate-grpc/yardstick req/s, every call verifies", everyCall: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGatehouse(t)
			var out, errb bytes.Buffer
			args := append([]string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "3", "-d", "150ms", "-tokens", "5", "-conns", "2",
				"-scenarios", "validate-grpc,yardstick-grpc,issue-rest", "-json"}, tc.extra...)
			if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitOK {
				t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
			}
			t.Logf("stdout:\n%s", out.String())
			assertNoLeaks(t, f, out.String(), errb.String())
			for _, want := range []string{"yardstick: jwx/v2", "validate-grpc relative to the jwx yardstick", "p99 ratio",
				"production-speed goals:", tc.wantGoal, "issue-rest req/s", "validate-grpc/yardstick p99"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q", want)
				}
			}
			recs := jsonLines(t, out.String())
			for _, r := range recs["result"] {
				if r["skipped"] != nil || r["ok"].(float64) < 1 || r["errors"].(float64) != 0 {
					t.Errorf("result %v", r)
				}
			}
			var ratios []string
			for _, r := range recs["ratio"] {
				ratios = append(ratios, r["name"].(string))
				if v := r["value"].(float64); v <= 0 {
					t.Errorf("ratio %v = %v", r["name"], v)
				}
			}
			if want := []string{"validate-grpc/yardstick-grpc", "validate-grpc/yardstick-grpc p99"}; !slices.Equal(ratios, want) {
				t.Errorf("ratios = %v, want %v", ratios, want)
			}
			var goals []string
			for _, g := range recs["goal"] {
				goals = append(goals, g["name"].(string))
			}
			if want := []string{"issue-rest req/s", tc.wantGoal, "validate-grpc/yardstick p99"}; !slices.Equal(goals, want) {
				t.Errorf("goals = %v, want %v", goals, want)
			}
			if got := recs["meta"][0]["every_call"]; got != tc.everyCall {
				t.Errorf("meta every_call = %v, want %v", got, tc.everyCall)
			}
		})
	}
}

func TestRunYardstickSkippedWithoutJWKS(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	// Nothing listens at the HTTP base, so the JWKS cannot be fetched.
	args := []string{"-grpc", f.grpcAddr, "-http", "http://127.0.0.1:1", "-c", "1", "-d", "50ms", "-tokens", "1",
		"-scenarios", "yardstick-grpc", "-json"}
	if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstderr:\n%s", code, errb.String())
	}
	recs := jsonLines(t, out.String())
	if len(recs["result"]) != 1 || recs["result"][0]["skipped"] == nil {
		t.Errorf("results = %v, want yardstick-grpc skipped", recs["result"])
	}
	if len(recs["goal"]) != 0 {
		t.Errorf("goals = %v, want none", recs["goal"])
	}
}

func TestEveryCallDefault(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-tokens", "10000"}, false},
		{[]string{"-tokens", "20000"}, true},
		{[]string{"-tokens", "20000", "-every-call=false"}, false},
		{[]string{"-every-call"}, true},
	}
	for _, tc := range tests {
		var errb bytes.Buffer
		cfg, err := parseConfig(tc.args, credsEnv, &errb)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg.everyCall != tc.want {
			t.Errorf("%v: everyCall = %v, want %v", tc.args, cfg.everyCall, tc.want)
		}
		shown := ""
		for _, f := range cfg.shown {
			if f.Name == "every-call" {
				shown = f.Value
			}
		}
		if shown != map[bool]string{true: "true", false: "false"}[tc.want] {
			t.Errorf("%v: report shows -every-call=%q", tc.args, shown)
		}
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", envClientSecret + "=s3cret", envPassword + "=pw", "GOMAXPROCS=2", envBareServer + "=x"})
	if want := []string{"PATH=/bin", "GOMAXPROCS=2"}; !slices.Equal(got, want) {
		t.Errorf("childEnv = %v, want %v", got, want)
	}
}
