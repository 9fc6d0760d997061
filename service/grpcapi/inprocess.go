package grpcapi

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"
)

// inProcessBuffer is the size of each direction's in-memory buffer.
const inProcessBuffer = 1 << 20

// InProcessListener is the in-memory listener through which the REST
// gateway calls the gRPC server, so that REST goes through the same
// interceptor chain (authorization, logging, recovery) as gRPC clients.
// Its connections carry a peer address of a type only this package can
// make: the gRPC handlers trust the gateway's x-forwarded-for metadata only
// from such a peer, never from an external client.
type InProcessListener struct {
	l *bufconn.Listener
}

// NewInProcessListener returns an in-memory listener.
func NewInProcessListener() *InProcessListener {
	return &InProcessListener{l: bufconn.Listen(inProcessBuffer)}
}

// Accept waits for the next in-process connection.
func (l *InProcessListener) Accept() (net.Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return inProcessConn{c}, nil
}

// Close closes the listener; Dial fails from then on.
func (l *InProcessListener) Close() error { return l.l.Close() }

// Addr is the listener's (in-process) address.
func (l *InProcessListener) Addr() net.Addr { return inProcessAddr{} }

// Dial returns a client connection to the gRPC server serving l; extra
// options come last (the tracing stats handler that carries the REST
// request's trace context to the gRPC side, say).
func (l *InProcessListener) Dial(extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///gatehouse-in-process", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("in-process gRPC connection: %w", err)
	}
	return conn, nil
}

type inProcessConn struct{ net.Conn }

func (inProcessConn) LocalAddr() net.Addr  { return inProcessAddr{} }
func (inProcessConn) RemoteAddr() net.Addr { return inProcessAddr{} }

// inProcessAddr marks the in-process gateway as a peer.
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
