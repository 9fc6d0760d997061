package core

import (
	"context"
	"runtime"

	"github.com/gatehouse/gatehouse/service/errs"
)

// hashSlots bounds how many argon2id computations run at once. Each one
// takes ~19 MiB and tens of milliseconds of a core; unbounded, a burst of
// logins (or an attacker) could exhaust memory. Waiters queue until a slot is
// free or their request is cancelled.
type hashSlots chan struct{}

func newHashSlots() hashSlots { return make(hashSlots, 2*runtime.GOMAXPROCS(0)) }

// do runs fn in a slot.
func (h hashSlots) do(ctx context.Context, fn func()) error {
	select {
	case h <- struct{}{}:
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, ctx.Err(), "the server is busy, try again")
	}
	defer func() { <-h }()
	fn()
	return nil
}
