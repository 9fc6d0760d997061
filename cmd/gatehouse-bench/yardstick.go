package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// yardstickServer is the bare ValidateToken the server is judged against:
// gatehouse.v1.AuthService/ValidateToken answered by jwx alone (jwt.Parse
// against the server's JWKS, signature and exp/nbf/iat checked), with no
// policy, cache or account state. It runs (see bare.go) on an
// ephemeral 127.0.0.1 port and is driven by the same client code as
// validate-grpc, so the two differ only in what answers.
type yardstickServer struct {
	gatehousev1.UnimplementedAuthServiceServer
	opts []jwt.ParseOption
}

// ValidateToken verifies with jwx and returns the token's claims as a
// Principal, or UNAUTHENTICATED.
func (y *yardstickServer) ValidateToken(_ context.Context, req *gatehousev1.ValidateTokenRequest) (*gatehousev1.ValidateTokenResponse, error) {
	tok, err := jwt.ParseString(req.GetToken(), y.opts...)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "invalid token")
	}
	p := &gatehousev1.Principal{Subject: tok.Subject(), Issuer: tok.Issuer(), Audience: tok.Audience(), TokenId: tok.JwtID()}
	if v, ok := tok.Get("client_id"); ok {
		p.ClientId, _ = v.(string)
	}
	if v, ok := tok.Get("roles"); ok {
		if roles, ok := v.([]any); ok {
			for _, r := range roles {
				if s, ok := r.(string); ok {
					p.Roles = append(p.Roles, s)
				}
			}
		}
	}
	return &gatehousev1.ValidateTokenResponse{Principal: p}, nil
}

// yardstick is a running bare AuthService server: the yardstick or the
// gRPC floor.
type yardstick struct {
	addr string
	srv  *grpc.Server
	done chan error
}

// describeYardstick names the yardstick in the report.
const describeYardstick = "jwx/v2 jwt.Parse+validate behind a bare gRPC server"

// whereBare completes a bare server's description with where it runs.
func whereBare(describe string, inProcess bool) string {
	if inProcess {
		return describe + ", inside this process"
	}
	return describe + ", in a child process of its own"
}

// startYardstick serves the yardstick for the keys of jwksJSON on
// 127.0.0.1 (never any other interface) until stop.
func startYardstick(jwksJSON []byte) (*yardstick, error) {
	set, sub, err := parseKeySet(jwksJSON)
	if err != nil {
		return nil, fmt.Errorf("yardstick: %w", err)
	}
	subAny := make([]any, len(sub))
	for i, s := range sub {
		subAny[i] = s
	}
	y, err := startBareAuthServer(&yardstickServer{
		opts: []jwt.ParseOption{jwt.WithKeySet(set, subAny...), jwt.WithValidate(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("yardstick: %w", err)
	}
	return y, nil
}

// startBareAuthServer serves impl as gatehouse.v1.AuthService from a
// grpc.NewServer with no options, on an ephemeral 127.0.0.1 port (never any
// other interface), until stop.
func startBareAuthServer(impl gatehousev1.AuthServiceServer) (*yardstick, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := grpc.NewServer()
	gatehousev1.RegisterAuthServiceServer(srv, impl)
	y := &yardstick{addr: lis.Addr().String(), srv: srv, done: make(chan error, 1)}
	go func() { y.done <- srv.Serve(lis) }()
	return y, nil
}

// stop ends the server and its connections.
func (y *yardstick) stop() error {
	y.srv.Stop()
	if err := <-y.done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// setupYardstick fetches the server's JWKS, starts the yardstick on it and
// connects -conns clients to it. It returns a function that tears all of
// it down, or a skip reason instead of failing the run.
func (b *bench) setupYardstick(ctx context.Context) (stop func(), skip string) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	raw, err := fetchJWKS(ctx, b.rest)
	if err != nil {
		return b.skipBare(scYardstickGRPC, err)
	}
	return b.connectBare(ctx, scYardstickGRPC, raw, &b.yard)
}

// connectBare starts the bare server of scenario name (in a child process
// unless -bare-in-process), connects -conns clients to it and keeps the
// pool in *pool. It returns a function that tears both down, or a skip
// reason instead of failing the run.
func (b *bench) connectBare(ctx context.Context, name string, jwksJSON []byte, pool **grpcPool) (stop func(), skip string) {
	y, err := startBare(name, jwksJSON, b.cfg.bareHere)
	if err != nil {
		return b.skipBare(name, err)
	}
	p, err := newGRPCPool(y.address(), b.cfg.conns, false)
	if err == nil {
		if err = p.waitReady(ctx, dialTimeout+5*time.Second); err != nil {
			p.close()
		}
	}
	if err != nil {
		_ = y.stop()
		return b.skipBare(name, err)
	}
	*pool = p
	b.log.Info(name+" ready", "addr", y.address(), "own_process", !b.cfg.bareHere)
	return func() {
		p.close()
		if err := y.stop(); err != nil {
			b.log.Warn("stopping "+name, "err", err)
		}
		*pool = nil
	}, ""
}

// skipBare logs why the bare server of scenario name could not start and
// returns that as the skip reason.
func (b *bench) skipBare(name string, err error) (func(), string) {
	msg := b.red.clean(name + ": " + err.Error())
	b.log.Error(name+" skipped", "err", msg)
	return nil, msg
}
