//go:build soak

package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestSoak is the long chaos run, built only with `-tags soak`:
//
//	GATEHOUSE_TEST_POSTGRES=... GATEHOUSE_SOAK_DURATION=10m GATEHOUSE_SOAK_REPORT=/tmp/soak.md \
//	  go test -tags soak -run TestSoak -timeout 30m ./service/server/
//
// A `gatehouse serve` process on PostgreSQL (behind a loopback proxy the
// test owns) takes a mixed load — validations, password and refresh grants,
// client credentials — while the test kills it with SIGKILL and restarts it
// several times and cuts the database once. It counts requests and errors,
// samples the process's RSS, and measures the restart and outage-recovery
// times. Errors are only allowed inside those planned disruptions, and
// ValidateToken must keep answering during the database outage.
func TestSoak(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("the soak runs on PostgreSQL: set %s", storetest.EnvPostgres)
	}
	duration := 10 * time.Minute
	if v := os.Getenv("GATEHOUSE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			t.Fatalf("GATEHOUSE_SOAK_DURATION=%q: want a duration of at least 1m", v)
		}
		duration = d
	}
	dsn := storetest.PostgresDSN(t)
	_, target := viaProxy(t, dsn, "")
	proxy := newCutProxy(t, target)
	proxied, _ := viaProxy(t, dsn, proxy.addr)
	ts := startServer(t, proxied)
	_, secret := seed(t, ts)
	// One user per worker, as real users log in: a login that a SIGKILL cuts
	// off after its attempt was counted stays counted (until the throttle
	// window ends), so one user in eight parallel loops would be locked out
	// by the kills themselves.
	const workers = 8
	for w := range workers {
		if _, err := ts.admin.CreateUser(ts.adminCtx(t), &gatehousev1.CreateUserRequest{Username: soakUser(w), Email: soakUser(w) + "@example.com", Password: "soak-password-1", Roles: []string{"viewer"}}); err != nil {
			t.Fatal(err)
		}
	}

	p := &soakProcess{t: t, ts: ts, dsn: proxied, grpcAddr: loopbackAddr(t), httpAddr: loopbackAddr(t)}
	p.start()
	t.Cleanup(p.stop)
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	auth := gatehousev1.NewAuthServiceClient(conn)

	var (
		st       soakStats
		disrupt  atomic.Bool // a planned disruption is under way
		outage   atomic.Bool // the database is cut
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		deadline = time.Now().Add(duration)
	)
	for w := range workers {
		wg.Go(func() { soakWorker(auth, secret, w, stop, &st, &disrupt, &outage) })
	}
	wg.Go(func() { p.sampleRSS(stop, &st) })

	// Chaos: SIGKILL and restart every fifth of the run; one database cut
	// of 10 s in the middle.
	every := duration / 5
	cutAt := time.Now().Add(duration / 2)
	cut := false
	for next := time.Now().Add(every); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		switch {
		case !cut && time.Now().After(cutAt):
			cut = true
			disrupt.Store(true)
			outage.Store(true)
			proxy.cut()
			time.Sleep(10 * time.Second)
			proxy.restore(t)
			restored := time.Now()
			eventually(t, 60*time.Second, "issuance after the outage", func() error {
				_, err := auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: soakUser(0), Password: "soak-password-1"})
				return err
			})
			st.outageRecovery = time.Since(restored)
			outage.Store(false)
			time.Sleep(time.Second)
			disrupt.Store(false)
		case time.Now().After(next) && time.Now().Add(every/2).Before(deadline):
			next = next.Add(every)
			disrupt.Store(true)
			took := p.killAndRestart()
			st.mu.Lock()
			st.restarts = append(st.restarts, took)
			st.mu.Unlock()
			time.Sleep(2 * time.Second) // let clients reconnect
			disrupt.Store(false)
		}
	}
	close(stop)
	wg.Wait()

	report := st.report(duration)
	t.Log("\n" + report)
	if path := os.Getenv("GATEHOUSE_SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if st.unexpected.Load() > 0 {
		t.Errorf("%d errors outside the planned disruptions (first: %s)", st.unexpected.Load(), st.firstUnexpected.Load())
	}
	if st.validateFailedInOutage.Load() > 0 {
		t.Errorf("%d validations failed while only the database was down", st.validateFailedInOutage.Load())
	}
	if st.rssMax > 300<<20 {
		t.Errorf("RSS reached %d MiB", st.rssMax>>20)
	}
	if st.outageRecovery > 15*time.Second {
		t.Errorf("issuance recovered %s after the database came back", st.outageRecovery)
	}
}

// soakStats are the figures of a soak run.
type soakStats struct {
	requests, errors, unexpected, inOutage, validateFailedInOutage atomic.Int64
	firstUnexpected                                                atomic.Value

	mu             sync.Mutex
	byOp           map[string]int64
	rssMin, rssMax int64
	restarts       []time.Duration
	outageRecovery time.Duration
}

func (s *soakStats) count(op string) {
	s.requests.Add(1)
	s.mu.Lock()
	if s.byOp == nil {
		s.byOp = map[string]int64{}
	}
	s.byOp[op]++
	s.mu.Unlock()
}

func (s *soakStats) report(d time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| duration | %s |\n", d)
	fmt.Fprintf(&b, "| requests | %d (%s) |\n", s.requests.Load(), s.opsLine())
	fmt.Fprintf(&b, "| errors inside planned disruptions | %d |\n", s.errors.Load())
	fmt.Fprintf(&b, "| errors outside them | %d |\n", s.unexpected.Load())
	fmt.Fprintf(&b, "| requests during the database cut / validations failed then | %d / %d |\n", s.inOutage.Load(), s.validateFailedInOutage.Load())
	fmt.Fprintf(&b, "| RSS min / max | %d MiB / %d MiB |\n", s.rssMin>>20, s.rssMax>>20)
	rs := make([]string, len(s.restarts))
	for i, r := range s.restarts {
		rs[i] = r.Round(10 * time.Millisecond).String()
	}
	fmt.Fprintf(&b, "| kill -9 cycles (time to ready) | %d (%s) |\n", len(s.restarts), strings.Join(rs, ", "))
	fmt.Fprintf(&b, "| issuance after a 10 s database cut | %s after the database returned |\n", s.outageRecovery.Round(10*time.Millisecond))
	return b.String()
}

func (s *soakStats) opsLine() string {
	ops := make([]string, 0, len(s.byOp))
	for op, n := range s.byOp {
		ops = append(ops, fmt.Sprintf("%s %d", op, n))
	}
	slices.Sort(ops)
	return strings.Join(ops, ", ")
}

func soakUser(w int) string { return fmt.Sprintf("soak%d", w) }

// soakWorker sends a mix of calls until stop: mostly validations, some
// password + refresh grants and client-credentials grants.
func soakWorker(auth gatehousev1.AuthServiceClient, secret string, w int, stop chan struct{}, st *soakStats, disrupt, outage *atomic.Bool) {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	var token, refresh string
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		op, err := "", error(nil)
		switch n := rng.IntN(100); {
		case token == "" || n < 5:
			op = "password"
			var res *gatehousev1.IssueTokenResponse
			if res, err = auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: soakUser(w), Password: "soak-password-1"}); err == nil {
				token, refresh = res.AccessToken, res.RefreshToken
			}
		case n < 10 && refresh != "":
			op = "refresh"
			var res *gatehousev1.IssueTokenResponse
			if res, err = auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: refresh}); err == nil {
				token, refresh = res.AccessToken, res.RefreshToken
			} else {
				refresh = "" // a lost answer: log in again rather than replay
			}
		case n < 15:
			op = "client_credentials"
			_, err = auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret})
		default:
			op = "validate"
			_, err = auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: token})
		}
		cancel()
		st.count(op)
		inOutage := outage.Load()
		if inOutage {
			st.inOutage.Add(1)
		}
		if err == nil {
			continue
		}
		if inOutage && op == "validate" && !disruptedByKill(err) {
			st.validateFailedInOutage.Add(1)
		}
		if disrupt.Load() {
			st.errors.Add(1)
			if op == "validate" && status.Code(err) == codes.Unauthenticated {
				token = "" // the session may have ended with a lost refresh
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if st.unexpected.Add(1) == 1 {
			st.firstUnexpected.Store(op + ": " + err.Error())
		}
		token = ""
	}
}

// disruptedByKill reports errors of the transport (the process is down),
// which are not ValidateToken's own answers.
func disruptedByKill(err error) bool {
	c := status.Code(err)
	return c == codes.Unavailable && !strings.Contains(err.Error(), "database")
}

// soakProcess is the `gatehouse serve` process the soak kills.
type soakProcess struct {
	t                  *testing.T
	ts                 *testServer
	dsn                string
	grpcAddr, httpAddr string
	mu                 sync.Mutex
	cmd                *exec.Cmd
}

func (p *soakProcess) start() {
	p.t.Helper()
	cmd := exec.Command(buildBinary(p.t), "serve", "--poll-interval", "1s", "--log-level", "error")
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_DATA_DIR="+p.ts.dataDir,
		"GATEHOUSE_DATABASE_URL="+p.dsn,
		"GATEHOUSE_MASTER_KEY="+p.ts.masterKy,
		"GATEHOUSE_GRPC_ADDR="+p.grpcAddr,
		"GATEHOUSE_HTTP_ADDR="+p.httpAddr,
		"GATEHOUSE_ISSUER="+processIssuer(p.ts),
		"GATEHOUSE_OPS_ADDR=127.0.0.1:0",
	)
	cmd.Stdout, cmd.Stderr = testWriter{p.t}, testWriter{p.t}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	eventually(p.t, 30*time.Second, "soak process ready", func() error {
		res, err := http.Get("http://" + p.httpAddr + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
}

func (p *soakProcess) killAndRestart() time.Duration {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	began := time.Now()
	p.start()
	return time.Since(began)
}

func (p *soakProcess) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
}

// sampleRSS reads the process's resident set every 5 s.
func (p *soakProcess) sampleRSS(stop chan struct{}, st *soakStats) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		pid := p.cmd.Process.Pid
		p.mu.Unlock()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					continue
				}
				st.mu.Lock()
				if st.rssMin == 0 || kb<<10 < st.rssMin {
					st.rssMin = kb << 10
				}
				st.rssMax = max(st.rssMax, kb<<10)
				st.mu.Unlock()
			}
		}
	}
}
