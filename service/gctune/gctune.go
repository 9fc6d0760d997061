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
// GOGC=100 18.5k req/s, peak RSS 48 MiB; GOGC=400 22.7k req/s, 68 MiB.
// There is no maintained library for this (runtime/debug has only the
// fixed percentage and a memory limit, which is a ceiling, not a floor).
package gctune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
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
	// interval is how often Run looks at the live heap: it changes slowly,
	// and one look costs a runtime/metrics read.
	interval = time.Second
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

// Run sets the GC percentage from the live heap now and then every
// interval until ctx ends; headroom 0 leaves the runtime alone. The caller
// decides whether to run it: an operator's GOGC must win.
func Run(ctx context.Context, headroom uint64, log *slog.Logger) {
	if headroom == 0 {
		return
	}
	sample := []metrics.Sample{{Name: liveHeap}}
	current := -1
	tune := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // an unknown metric: leave the runtime as it is
		}
		p := Percent(sample[0].Value.Uint64(), headroom)
		// Only a real change is worth the runtime's locks.
		if current < 0 || p < current*9/10 || p > current*11/10 {
			debug.SetGCPercent(p)
			if current < 0 {
				log.Debug("GC percentage tuned", "percent", p, "headroom_mib", headroom>>20)
			}
			current = p
		}
	}
	tune()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tune()
		}
	}
}
