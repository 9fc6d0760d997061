package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/gatehouse/gatehouse/service/errs"
)

// codeOf is the one mapping from core error kinds to gRPC codes.
func codeOf(k errs.Kind) codes.Code {
	switch k {
	case errs.InvalidArgument:
		return codes.InvalidArgument
	case errs.Unauthenticated:
		return codes.Unauthenticated
	case errs.PermissionDenied:
		return codes.PermissionDenied
	case errs.NotFound:
		return codes.NotFound
	case errs.AlreadyExists:
		return codes.AlreadyExists
	case errs.ResourceExhausted:
		return codes.ResourceExhausted
	case errs.Unavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// toStatus turns a core error into a gRPC status error. Internal details are
// logged, not sent. A database outage is UNAVAILABLE with a RetryInfo.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, "request canceled")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	e := errs.Public(err)
	switch {
	case e.Kind == errs.Internal:
		log.ErrorContext(ctx, "internal error", "err", err)
	case errs.IsOutage(err):
		// Repeats are rate-limited by the process's log handler.
		log.ErrorContext(ctx, "database unavailable; answering UNAVAILABLE", "err", err)
	}
	st := status.New(codeOf(e.Kind), e.Message)
	if e.RetryAfter > 0 {
		// The standard way to say "retry after" in gRPC (google.rpc.RetryInfo).
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)}); err == nil {
			st = withInfo
		}
	}
	return st.Err()
}
