package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
)

// Shutdown ends within the grace period whatever the clients do: 500 idle
// connections (silent TCP, a partial HTTP request, an HTTP/2 preface
// without SETTINGS, an established HTTP/2 connection that never answers)
// do not hold Serve past ShutdownTimeout plus one second, and every one of
// them is closed.
func TestShutdownWithIdleConnections(t *testing.T) {
	const grace = 2 * time.Second
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	_, cfg.MasterKey, _ = secrets.GenerateMasterKey()
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.OpsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Argon2 = secrets.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg.ShutdownTimeout = grace
	level := slog.LevelError
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	app, err := server.Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	grpcLis, httpLis, err := app.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, grpcLis, httpLis) }()
	grpcAddr, httpAddr := grpcLis.Addr().String(), httpLis.Addr().String()

	kinds := []struct {
		name  string
		addr  string
		n     int
		greet string
	}{
		{"silent gRPC", grpcAddr, 150, ""},
		{"HTTP/2 preface only", grpcAddr, 50, http2.ClientPreface},
		{"HTTP/2 preface and SETTINGS", grpcAddr, 50, http2.ClientPreface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"},
		{"silent HTTP", httpAddr, 150, ""},
		{"partial HTTP request", httpAddr, 100, "POST /v1/token HTTP/1.1\r\nHost: gatehouse\r\nContent-Length: 100\r\n\r\n{"},
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, k := range kinds {
		for range k.n {
			c, err := net.DialTimeout("tcp", k.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			conns = append(conns, c)
			if k.greet != "" {
				if _, err := io.WriteString(c, k.greet); err != nil {
					t.Fatalf("%s: %v", k.name, err)
				}
			}
		}
	}
	if len(conns) != 500 {
		t.Fatalf("%d connections, want 500", len(conns))
	}
	// Let the servers accept them and start reading.
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		took := time.Since(start)
		t.Logf("Serve returned after %s (grace %s)", took.Round(time.Millisecond), grace)
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		if took > grace+time.Second {
			t.Errorf("shutdown took %s, more than the grace period %s plus 1s", took, grace)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("Serve did not return within %s of the cancel", grace+10*time.Second)
	}

	// Every connection was closed by the server: a read ends at once.
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := io.Copy(io.Discard, c); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				open++
			}
		}
	}
	if open > 0 {
		t.Errorf("%d of %d connections still open after Serve returned", open, len(conns))
	}
}
