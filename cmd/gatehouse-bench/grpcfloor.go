package main

import (
	"context"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// The gRPC floor: what one unary call over this machine's loopback costs
// the client and a bare grpc-go server together, with nothing verified.
// grpc-floor drives it with validate-grpc's client code, callers,
// connections and tokens, so validate-grpc/grpc-floor says how much of the
// floor gatehouse's own work leaves, and grpc-floor/yardstick-grpc is what
// a server that did no work at all would score against the yardstick. Like
// the yardstick it is grpc.NewServer with Go's defaults; a server tuned
// beyond them (gatehouse runs gRPC stream workers and tunes its GC) can
// come close to it or pass it with cached tokens.

// describeGRPCFloor names the floor in the report.
const describeGRPCFloor = "bare gRPC server answering ValidateToken with a fixed principal, nothing verified"

// grpcFloorServer answers every ValidateToken with the same principal
// without reading the token.
type grpcFloorServer struct {
	gatehousev1.UnimplementedAuthServiceServer
}

// ValidateToken returns a principal shaped like a service token's: the
// answer costs what a real one does to encode and send.
func (grpcFloorServer) ValidateToken(context.Context, *gatehousev1.ValidateTokenRequest) (*gatehousev1.ValidateTokenResponse, error) {
	return &gatehousev1.ValidateTokenResponse{Principal: &gatehousev1.Principal{
		Subject: "bench", Issuer: "http://127.0.0.1", Audience: []string{"gatehouse"}, ClientId: "bench",
		TokenId: "0123456789abcdef0123456789abcdef", Roles: []string{"service"},
	}}, nil
}

// setupGRPCFloor starts the floor and connects -conns clients to it. It
// returns a function that tears both down, or a skip reason instead of
// failing the run.
func (b *bench) setupGRPCFloor(ctx context.Context) (stop func(), skip string) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	return b.connectBare(ctx, scGRPCFloor, nil, &b.grpcFloor)
}

// grpcFloorRatios are the gRPC validate scenarios' rates relative to the
// gRPC floor, and the floor's own rate relative to the yardstick's.
func grpcFloorRatios(results []result) []ratio {
	out := relativeTo(results, scGRPCFloor, scValidateGRPC, scYardstickGRPC)
	if out == nil {
		return nil
	}
	return append(out, relativeTo(results, scYardstickGRPC, scGRPCFloor)...)
}
