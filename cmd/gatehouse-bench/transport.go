package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

const dialTimeout = 5 * time.Second

// newDialer returns a net.Dialer whose Control refuses non-loopback
// addresses unless allowRemote.
func newDialer(allowRemote bool) *net.Dialer {
	return &net.Dialer{
		Timeout:        dialTimeout,
		KeepAlive:      30 * time.Second,
		ControlContext: dialControl(allowRemote),
	}
}

// grpcPool is a fixed set of ClientConns; worker w uses conn w mod K, so the
// callers are spread round-robin over the connections.
type grpcPool struct {
	conns   []*grpc.ClientConn
	clients []gatehousev1.AuthServiceClient
}

// newGRPCPool creates k plaintext connections to target. It does not
// connect yet; see waitReady.
func newGRPCPool(target string, k int, allowRemote bool) (*grpcPool, error) {
	d := newDialer(allowRemote)
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		// With a custom dialer gRPC hands over unix targets as
		// "unix:PATH" or "unix://PATH".
		if path, ok := strings.CutPrefix(addr, "unix://"); ok {
			return d.DialContext(ctx, "unix", path)
		}
		if path, ok := strings.CutPrefix(addr, "unix:"); ok {
			return d.DialContext(ctx, "unix", path)
		}
		return d.DialContext(ctx, "tcp", addr)
	}
	p := &grpcPool{}
	for i := range k {
		cc, err := grpc.NewClient(target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(dial),
			grpc.WithNoProxy(),
			grpc.WithUserAgent("gatehouse-bench"),
		)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("gRPC client %d for %q: %w", i, target, err)
		}
		p.conns = append(p.conns, cc)
		p.clients = append(p.clients, gatehousev1.NewAuthServiceClient(cc))
	}
	return p, nil
}

// client returns the client worker w uses.
func (p *grpcPool) client(w int) gatehousev1.AuthServiceClient {
	return p.clients[w%len(p.clients)]
}

// waitReady connects every conn and waits until all are READY, so that
// connection set-up is not measured as call latency.
func (p *grpcPool) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i, cc := range p.conns {
		cc.Connect()
		for {
			s := cc.GetState()
			if s == connectivity.Ready {
				break
			}
			if s == connectivity.TransientFailure {
				// Fail fast (e.g. connection refused) rather than sit
				// through gRPC's reconnect backoff.
				return fmt.Errorf("cannot connect to gRPC target %s (connection %d): %s", cc.CanonicalTarget(), i, s)
			}
			if !cc.WaitForStateChange(ctx, s) {
				return fmt.Errorf("cannot connect to gRPC target %s (connection %d, state %s): %w", cc.CanonicalTarget(), i, s, context.Cause(ctx))
			}
		}
	}
	return nil
}

func (p *grpcPool) close() {
	for _, cc := range p.conns {
		_ = cc.Close() // only fails if already closed
	}
}

// newHTTPClient returns a client for c concurrent callers: no proxy, no
// redirects, keep-alive pool large enough for every caller, and the
// loopback-only dialer.
func newHTTPClient(c int, allowRemote bool) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil, // never route through an environment proxy
		DialContext:           newDialer(allowRemote).DialContext,
		MaxIdleConns:          2 * c,
		MaxIdleConnsPerHost:   c + c/4 + 1,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   dialTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &http.Client{
		Transport: tr,
		// A benchmark measures the first answer; a redirect is a non-200.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
