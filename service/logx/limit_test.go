package logx

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLogger(opts LimitOptions) (*slog.Logger, *bytes.Buffer, *fakeClock) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.Now = clk.now
	h := NewLimitHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), opts)
	return slog.New(h), &buf, clk
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestLimitHandlerRepeatedErrors(t *testing.T) {
	log, buf, clk := newTestLogger(LimitOptions{Interval: 10 * time.Second})
	// 1000 identical failures within one interval, the error text differing
	// only by a port: one line.
	for i := range 1000 {
		log.Error("internal error", "err", fmt.Errorf("read tcp 127.0.0.1:%d->127.0.0.1:5432: connection reset", 40000+i))
	}
	if got := lines(buf); len(got) != 1 || strings.Contains(got[0], "suppressed") {
		t.Fatalf("first interval: want exactly the first line, got %d: %q", len(got), got)
	}
	clk.advance(10 * time.Second)
	log.Error("internal error", "err", errors.New("read tcp 127.0.0.1:1->127.0.0.1:5432: connection reset"))
	got := lines(buf)
	if len(got) != 2 || !strings.Contains(got[1], "suppressed=999") {
		t.Fatalf("after the interval: want a second line with suppressed=999, got %q", got)
	}
	// The count restarts after being reported.
	clk.advance(10 * time.Second)
	log.Error("internal error", "err", errors.New("read tcp 127.0.0.1:2->127.0.0.1:5432: connection reset"))
	if got := lines(buf); len(got) != 3 || strings.Contains(got[2], "suppressed") {
		t.Fatalf("third line: want no suppressed count, got %q", got)
	}
}

func TestLimitHandlerDistinctLinesAndLevels(t *testing.T) {
	log, buf, _ := newTestLogger(LimitOptions{Interval: time.Minute})
	log.Error("internal error", "err", errors.New("disk full"))
	log.Error("internal error", "err", errors.New("permission denied"))
	log.Error("other message", "err", errors.New("disk full"))
	log.Error("locked out", "user", "alice")
	log.Error("locked out", "user", "bob") // another attribute value
	for range 3 {
		log.Warn("locked out", "user", "carol") // below the limited level
		log.Info("request served")
	}
	if got := lines(buf); len(got) != 11 {
		t.Fatalf("want 5 distinct ERROR lines + 6 lines below ERROR, got %d: %q", len(got), got)
	}
	// Loggers derived alike share the limit.
	log.With("component", "x").Error("internal error", "err", errors.New("disk full"))
	log.With("component", "x").Error("internal error", "err", errors.New("disk full"))
	log.WithGroup("g").Error("internal error", "err", errors.New("disk full"))
	log.WithGroup("g").Error("internal error", "err", errors.New("disk full"))
	if got := lines(buf); len(got) != 13 {
		t.Fatalf("want one line per derived logger, got %d: %q", len(got), got)
	}
}

func TestLimitHandlerBoundedKeys(t *testing.T) {
	log, buf, clk := newTestLogger(LimitOptions{Interval: time.Minute, MaxKeys: 8})
	h := log.Handler().(*LimitHandler)
	for i := range 100 {
		log.Error("failure "+strings.Repeat("x", i), "n", i)
	}
	if n := len(h.lim.keys); n > 9 {
		t.Fatalf("limiter remembers %d keys, want at most MaxKeys+1 = 9", n)
	}
	// 8 distinct keys plus one line for the overflow bucket.
	if got := lines(buf); len(got) != 9 {
		t.Fatalf("want 9 lines, got %d", len(got))
	}
	// Once the interval has passed, old keys are swept and new lines pass.
	clk.advance(time.Minute)
	buf.Reset()
	log.Error("a brand new failure")
	if got := lines(buf); len(got) != 1 {
		t.Fatalf("after the interval a new line must pass, got %q", got)
	}
	if n := len(h.lim.keys); n > 9 {
		t.Fatalf("limiter remembers %d keys after sweep", n)
	}
}
