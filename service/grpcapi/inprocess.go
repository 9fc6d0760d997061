package grpcapi

import (
	"context"

	"google.golang.org/grpc/peer"
)

// inProcessAddr is the peer address of the REST gateway's calls (Direct).
// Only this package can make one: the gRPC handlers trust the gateway's
// x-forwarded-for metadata only from such a peer, never from an external
// client.
type inProcessAddr struct{}

func (inProcessAddr) Network() string { return "in-process" }
func (inProcessAddr) String() string  { return "in-process-gateway" }

// fromInProcess reports whether the call came through the in-process
// gateway connection.
func fromInProcess(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.Addr.(inProcessAddr)
	return ok
}
