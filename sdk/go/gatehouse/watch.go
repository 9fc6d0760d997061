package gatehouse

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// watch follows WatchRevocations until ctx ends, resuming from the last
// cursor after every disconnect (any replica accepts it) with a jittered
// backoff.
func (v *Verifier) watch(ctx context.Context) {
	defer close(v.watchDone)
	backoff := 100 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		got, err := v.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if got {
			backoff = 100 * time.Millisecond
		}
		switch code := status.Code(err); {
		case code == codes.Unauthenticated || code == codes.PermissionDenied:
			// A configuration error (no or wrong service client): every time.
			v.log.Error("gatehouse: revocation stream refused; validating remotely meanwhile", "code", code.String(), "err", err)
		case got:
			// Connections are recycled (max connection age, shutdowns).
			v.log.Info("gatehouse: revocation stream ended; resuming", "code", code.String())
		case !failing:
			v.log.Warn("gatehouse: revocation stream unavailable; retrying", "code", code.String(), "err", err)
		}
		failing = !got
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchOnce runs one stream; got says whether it delivered anything.
func (v *Verifier) watchOnce(ctx context.Context) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cursor := v.revoked.resumeCursor()
	var opts []grpc.CallOption
	if v.opts.WatchCredentials != nil {
		opts = append(opts, grpc.PerRPCCredentials(v.opts.WatchCredentials))
	}
	stream, err := v.client.WatchRevocations(ctx, &gatehousev1.WatchRevocationsRequest{Cursor: cursor}, opts...)
	if err != nil {
		return false, err
	}
	resumed := cursor != ""
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, errors.New("the server ended the stream")
		}
		if err != nil {
			return got, err
		}
		if ev.GetReset_() {
			resumed = false // a snapshot follows: current only at its end
		}
		v.revoked.apply(ev, resumed, v.now())
		got = true
	}
}
