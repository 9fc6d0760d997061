package server

import (
	"github.com/gatehouse/gatehouse/service/grpcapi"
)

// gatewayConn is the REST gateway's in-process connection to the services,
// built like the public gRPC server (the same interceptor chain, so the
// same authorization gate) without its metrics: the HTTP layer counts REST
// calls.
func (a *App) gatewayConn() *grpcapi.Direct {
	return grpcapi.NewDirect(a.core, a.log, []grpcapi.Option{grpcapi.WithAccessLog(a.cfg.AccessLog)}, a.gatewayTracing()...)
}
