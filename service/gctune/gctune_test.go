package gctune

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name           string
		live, headroom uint64
		want           int
	}{
		{"nothing live yet", 0, 16 * mib, MaxPercent},
		{"tiny heap is capped", 1 * mib, 16 * mib, MaxPercent},
		{"small heap gets the headroom", 4 * mib, 16 * mib, 400},
		{"rounds up", 3 * mib, 16 * mib, 534},
		{"heap as large as the headroom", 16 * mib, 16 * mib, 100},
		{"large heap keeps Go's default", 512 * mib, 16 * mib, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.headroom); got != tc.want {
				t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
			}
		})
	}
}

// gogc reads the runtime's current GC percentage.
func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatal("no /gc/gogc:percent metric")
	}
	return int(s[0].Value.Uint64())
}

// startRun runs Run with headroom from Go's default percentage, and
// returns a function that ends it and fails the test if Run does not
// return; the test's end restores the percentage.
func startRun(t *testing.T, headroom uint64) (stop func()) {
	t.Helper()
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, headroom, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestRunSetsThePercentage: Run sets what Percent says for this process's
// live heap at once, and returns when its context ends.
func TestRunSetsThePercentage(t *testing.T) {
	stop := startRun(t, 1<<40) // far more than this test's heap: the cap applies
	deadline := time.Now().Add(5 * time.Second)
	for gogc(t) != MaxPercent {
		if time.Now().After(deadline) {
			t.Fatalf("GC percentage = %d after 5 s, want %d", gogc(t), MaxPercent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
}

// TestRunWithoutHeadroomLeavesTheRuntimeAlone: headroom 0 is off.
func TestRunWithoutHeadroomLeavesTheRuntimeAlone(t *testing.T) {
	prev := debug.SetGCPercent(137)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	Run(t.Context(), 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := gogc(t); got != 137 {
		t.Errorf("GC percentage = %d, want 137 untouched", got)
	}
}

// TestRunRetunesAfterEveryCollection: when the live heap grows past the
// headroom the next collection brings the percentage down to Go's 100,
// and when it shrinks again the next one raises it; no polling involved.
func TestRunRetunesAfterEveryCollection(t *testing.T) {
	startRun(t, 32<<20)
	waitFor := func(what string, ok func(int) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(gogc(t)) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: GC percentage still %d after 10 s", what, gogc(t))
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("small heap", func(p int) bool { return p > 100 })
	ballast := make([][]byte, 0, 128)
	for range 128 { // 128 MiB live, four times the headroom
		ballast = append(ballast, make([]byte, 1<<20))
	}
	waitFor("large heap", func(p int) bool { return p == 100 })
	runtime.KeepAlive(ballast)
	ballast = nil
	waitFor("heap shrunk again", func(p int) bool { return p > 100 })
}
