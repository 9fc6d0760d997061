package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/gatehouse/gatehouse/service/grpcapi"
)

// gatewayConn starts a gRPC server built like the public one (same
// services, limits and interceptor chain, so the same authorization gate)
// on an in-memory listener, and returns a connection to it for the REST
// gateway. It is a server of its own so that it needs none of the public
// listener's transport security and keeps answering REST calls in flight
// while the public gRPC server drains; it stops when ctx ends, which Serve
// cancels after the HTTP server has stopped.
func (a *App) gatewayConn(ctx context.Context, hs *health.Server) (*grpc.ClientConn, error) {
	srv, err := a.newGRPCServer(hs, false, a.grpcServerTracing())
	if err != nil {
		return nil, fmt.Errorf("in-process gRPC server: %w", err)
	}
	lis := grpcapi.NewInProcessListener()
	conn, err := lis.Dial(a.gatewayTracing())
	if err != nil {
		lis.Close()
		return nil, err
	}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			a.log.Error("in-process gRPC server for the REST gateway stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		conn.Close()
		srv.Stop()
	}()
	return conn, nil
}
