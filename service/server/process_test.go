package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// startProcess runs `gatehouse serve` as a separate OS process on the same
// database and master key as ts, and returns an AuthService client for it.
func startProcess(t *testing.T, ts *testServer, extraArgs ...string) gatehousev1.AuthServiceClient {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the gatehouse binary; skipped in -short mode")
	}
	bin := buildBinary(t)
	grpcAddr, httpAddr := loopbackAddr(t), loopbackAddr(t)
	cmd := exec.Command(bin, append([]string{"serve", "--poll-interval", "1s", "--log-level", "warn"}, extraArgs...)...)
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_DATA_DIR="+ts.dataDir,
		"GATEHOUSE_DATABASE_URL="+ts.dsn,
		"GATEHOUSE_MASTER_KEY="+ts.masterKy,
		"GATEHOUSE_GRPC_ADDR="+grpcAddr,
		"GATEHOUSE_HTTP_ADDR="+httpAddr,
		// Every replica serves the issuer the database records.
		"GATEHOUSE_ISSUER="+processIssuer(ts),
		"GATEHOUSE_OPS_ADDR=127.0.0.1:0",
	)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	eventually(t, 20*time.Second, "second process ready", func() error {
		res, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("readyz %d", res.StatusCode)
		}
		return nil
	})
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return gatehousev1.NewAuthServiceClient(conn)
}

// processIssuer is the issuer of ts's server, or the harness default when
// ts only names a database.
func processIssuer(ts *testServer) string {
	if ts.app == nil {
		return server.DefaultConfig().Core.Issuer
	}
	return ts.app.Core().Config().Issuer
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary builds cmd/gatehouse once per test run.
func buildBinary(t *testing.T) string {
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "gatehouse")
		out, err := exec.Command("go", "build", "-o", binary.path, "github.com/gatehouse/gatehouse/cmd/gatehouse").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

func loopbackAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRevocationReachesAnotherProcess: revocations made through one server
// are refused by a second server process on the same database within 5 s.
func TestRevocationReachesAnotherProcess(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ts := startServer(t, b.DSN(t))
			aliceID, _ := seed(t, ts)
			other := startProcess(t, ts)
			ctx := ts.adminCtx(t)
			sessionTok := ts.login(t, "alice", "alice-password", "")
			accessTok := ts.login(t, "alice", "alice-password", "")
			offlineTok := ts.login(t, "alice", "alice-password", "offline_access").RefreshToken
			for _, tok := range []string{sessionTok.AccessToken, accessTok.AccessToken, offlineTok} {
				if _, err := other.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok, AllowOfflineToken: true}); err != nil {
					t.Fatalf("second process before revocation: %v", err)
				}
			}
			refusedWithin := func(what, tok string, revoke func()) {
				revoke()
				took := eventually(t, 5*time.Second, what, func() error {
					_, err := other.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok, AllowOfflineToken: true})
					if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied {
						return nil
					}
					return fmt.Errorf("still accepted (%v)", err)
				})
				t.Logf("%s: refused by the other process after %s", what, took.Round(time.Millisecond))
			}
			refusedWithin("session revoked", sessionTok.AccessToken, func() {
				if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: sessionTok.RefreshToken}); err != nil {
					t.Fatal(err)
				}
			})
			refusedWithin("access token revoked", accessTok.AccessToken, func() {
				if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: accessTok.AccessToken}); err != nil {
					t.Fatal(err)
				}
			})
			refusedWithin("user disabled (offline token)", offlineTok, func() {
				if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: aliceID}); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
