// Package gctune keeps a small heap from being collected tens of times a
// second under load, without letting a large heap grow more than Go's
// default would allow.
//
// Go's default (GOGC=100) starts a collection whenever the heap has grown
// by as much as survived the last one. gatehouse keeps little alive (about
// 5 MiB with a small directory) and allocates a few KiB per call, so under
// load it collected about 35 times a second, and the collector took 14 %
// of the server's CPU on cached ValidateToken calls. A fixed higher GOGC
// would fix that but multiply the memory of a replica with a large
// directory. Run instead raises the percentage only as far as needed to
// give the heap a fixed headroom (DefaultHeadroom) and never lowers it
// below Go's 100, so it costs at most that headroom over the default.
//
// Measured with 16 callers on 2 cores (validate-grpc, cached tokens):
// GOGC=100 18.5k req/s, peak RSS 48 MiB; GOGC=400 22.7k req/s, 68 MiB;
// in another run GOGC=100 21.2k against 26.2k tuned.
// There is no maintained library for this (runtime/debug has only the
// fixed percentage and a memory limit, which is a ceiling, not a floor).
package gctune

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

const (
	// DefaultHeadroom is how much the heap may grow between collections at
	// least.
	DefaultHeadroom = 16 << 20
	// MaxPercent bounds the percentage Run sets, so that a heap that is
	// nearly empty (right after start) does not get an absurd value.
	MaxPercent = 800
	// defaultPercent is Go's own default, the least Run sets.
	defaultPercent = 100
)

// liveHeap is the runtime metric of the heap that survived the last
// collection.
const liveHeap = "/gc/heap/live:bytes"

// Percent is the GOGC percentage that lets a heap of live bytes grow by at
// least headroom before the next collection: Go's 100 when that already
// does, at most MaxPercent.
func Percent(live, headroom uint64) int {
	if live == 0 {
		return MaxPercent
	}
	p := (headroom*100 + live - 1) / live
	return int(min(max(p, defaultPercent), MaxPercent))
}

// Run sets the GC percentage from the live heap now and again after every
// collection, until ctx ends; headroom 0 leaves the runtime alone. Tuning
// after each collection (a cleanup on an object dropped for the purpose
// runs once the collector has found it unreachable) keeps the promise of
// the package doc at every cycle: a heap that has just grown large is
// collected at Go's 100 from its next cycle on, with no polling in
// between. The caller decides whether to run it: an operator's GOGC must
// win.
func Run(ctx context.Context, headroom uint64, log *slog.Logger) {
	if headroom == 0 {
		return
	}
	t := &tuner{headroom: headroom, current: -1, sample: []metrics.Sample{{Name: liveHeap}}}
	t.tune()
	log.Debug("GC percentage tuned after every collection", "percent", t.current, "headroom_mib", headroom>>20)
	t.arm(ctx)
	<-ctx.Done()
}

// tuner is Run's state, used by one goroutine at a time: Run's before it
// arms the first cleanup, then the runtime's cleanup goroutine.
type tuner struct {
	headroom uint64
	current  int
	sample   []metrics.Sample
}

// sentinel is the object whose cleanup marks the end of a collection. It
// holds a pointer and is bigger than 16 bytes so that it is never batched
// with other objects by the tiny allocator, which would delay its cleanup.
type sentinel struct {
	_ *byte
	_ [16]byte
}

// arm drops a new sentinel whose cleanup tunes and arms the next one,
// unless ctx has ended.
func (t *tuner) arm(ctx context.Context) {
	runtime.AddCleanup(new(sentinel), func(struct{}) {
		if ctx.Err() != nil {
			return
		}
		t.tune()
		t.arm(ctx)
	}, struct{}{})
}

// tune sets the percentage for the live heap the last collection left.
func (t *tuner) tune() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return // an unknown metric: leave the runtime as it is
	}
	// Setting the percentage takes the heap lock for a moment, without
	// stopping the world: cheap enough once per collection.
	if p := Percent(t.sample[0].Value.Uint64(), t.headroom); p != t.current {
		debug.SetGCPercent(p)
		t.current = p
	}
}
