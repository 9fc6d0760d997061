package grpcapi_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/gatehouse/gatehouse/service/grpcapi"
)

// rawCodec sends and receives message bytes as they are, so that a test can
// put anything on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*b = data.Materialize()
	return nil
}

// startGRPC serves grpcapi's server (without a core: no request in these
// tests reaches a gatehouse handler) on a loopback port.
func startGRPC(t *testing.T) string {
	t.Helper()
	hs := health.NewServer()
	gs, err := grpcapi.NewServer(nil, hs, slog.New(slog.DiscardHandler), grpcapi.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-done })
	return lis.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// nestedGroups is depth unknown groups (field 15) opened and closed.
func nestedGroups(depth int) []byte {
	start, end := byte(15<<3|3), byte(15<<3|4)
	return append(bytes.Repeat([]byte{start}, depth), bytes.Repeat([]byte{end}, depth)...)
}

// Undecodable request messages are the client's fault: INVALID_ARGUMENT
// with the reason, never INTERNAL.
func TestCodecMalformedMessageIsInvalidArgument(t *testing.T) {
	cc := dial(t, startGRPC(t))
	cases := []struct {
		name, body, want string
	}{
		{"garbage", "\xff\xff\xff\xff", "cannot parse invalid wire-format data"},
		{"invalid UTF-8 in a string field", "\x0a\x02\xff\xfe", "invalid UTF-8"},
		{"length beyond the message", "\x0a\x64abc", "cannot parse invalid wire-format data"},
		{"truncated varint", "\x10\xff\xff", "cannot parse invalid wire-format data"},
		{"deeply nested groups", string(nestedGroups(20000)), "gatehouse.v1.ValidateTokenRequest"},
		{"end group without start", "\x7c", "cannot parse invalid wire-format data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			in, out := []byte(c.body), []byte(nil)
			err := cc.Invoke(ctx, "/gatehouse.v1.AuthService/ValidateToken", &in, &out, grpc.ForceCodecV2(rawCodec{}))
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %s (%q), want InvalidArgument", st.Code(), st.Message())
			}
			if !strings.Contains(st.Message(), c.want) || !strings.Contains(st.Message(), "ValidateTokenRequest") {
				t.Errorf("message %q does not say %q and name the message type", st.Message(), c.want)
			}
		})
	}
}

// The same holds for the standard services registered beside gatehouse's,
// streaming ones included, and well-formed requests still decode.
func TestCodecStandardServices(t *testing.T) {
	cc := dial(t, startGRPC(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check of a valid request: %v %v", res, err)
	}

	in, out := []byte("\x0a\x02\xff\xfe"), []byte(nil)
	err = cc.Invoke(ctx, "/grpc.health.v1.Health/Check", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("health check with invalid UTF-8: %v, want InvalidArgument", err)
	}

	stream, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true},
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("\xff\xff\xff\xff")
	if err := stream.SendMsg(&garbage); err != nil {
		t.Fatal(err)
	}
	err = stream.RecvMsg(&out)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("reflection stream with garbage: %v, want InvalidArgument", err)
	}
}
