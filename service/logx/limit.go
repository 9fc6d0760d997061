// Package logx holds gatehouse's additions to log/slog.
//
// LimitHandler rate-limits repeated log lines: during an outage every failed
// request would otherwise log the same ERROR, drowning the one line that
// matters and costing I/O when the server is already struggling.
package logx

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of LimitOptions.
const (
	DefaultInterval = 10 * time.Second
	DefaultMaxKeys  = 1024
)

// LimitOptions tune NewLimitHandler.
type LimitOptions struct {
	// Level is the lowest level that is limited (nil: slog.LevelError);
	// records below it (audit WARNs such as lockouts) pass unchanged.
	Level slog.Leveler
	// Interval is the least time between two records with the same key
	// (default 10 s).
	Interval time.Duration
	// MaxKeys bounds the keys remembered (default 1024); when more distinct
	// lines arrive within an interval, the excess shares one key.
	MaxKeys int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// limiter is the state shared by a LimitHandler and those derived from it.
type limiter struct {
	opts LimitOptions
	mu   sync.Mutex
	keys map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time // when a record of the key was last written
	suppressed int       // records dropped since then
}

// overflowKey is the shared key of lines beyond MaxKeys.
const overflowKey = "\x00overflow"

// allow reports whether a record with key may be written now and, if so,
// how many were suppressed since the last one written.
func (l *limiter) allow(key string) (ok bool, suppressed int) {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.opts.MaxKeys {
			l.sweep(now)
		}
		if len(l.keys) >= l.opts.MaxKeys {
			key = overflowKey
			e = l.keys[key]
		}
	}
	if e == nil {
		l.keys[key] = &limitEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.opts.Interval {
		e.suppressed++
		return false, 0
	}
	suppressed = e.suppressed
	e.last, e.suppressed = now, 0
	return true, suppressed
}

// sweep forgets keys whose interval has passed without suppressions owed.
// The overflow key is never forgotten, so the map stays within MaxKeys+1.
func (l *limiter) sweep(now time.Time) {
	for k, e := range l.keys {
		if k != overflowKey && now.Sub(e.last) >= l.opts.Interval && e.suppressed == 0 {
			delete(l.keys, k)
		}
	}
	if len(l.keys) < l.opts.MaxKeys {
		return
	}
	// Still full of keys owing a count: drop those whose interval has passed
	// rather than grow; their counts are lost, which a log limiter may
	// afford. Keys still within their interval stay, and new ones overflow.
	for k, e := range l.keys {
		if k != overflowKey && now.Sub(e.last) >= l.opts.Interval {
			delete(l.keys, k)
		}
	}
}

// LimitHandler is a slog.Handler that writes the first record of a kind at
// once, then at most one per interval, with a "suppressed" attribute
// counting the records dropped in between. A record's kind is its level,
// message and attributes with digits blanked (so that changing ports,
// timestamps or counts do not make every line unique).
type LimitHandler struct {
	next  slog.Handler
	lim   *limiter
	attrs string // the attributes given to WithAttrs and WithGroup
}

// NewLimitHandler wraps next.
func NewLimitHandler(next slog.Handler, opts LimitOptions) *LimitHandler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Level == nil {
		opts.Level = slog.LevelError
	}
	return &LimitHandler{next: next, lim: &limiter{opts: opts, keys: make(map[string]*limitEntry)}}
}

// Enabled implements slog.Handler.
func (h *LimitHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *LimitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.lim.opts.Level.Level() {
		return h.next.Handle(ctx, r)
	}
	ok, suppressed := h.lim.allow(h.key(r))
	if !ok {
		return nil
	}
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

// key is what makes two records "the same line".
func (h *LimitHandler) key(r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(0)
	b.WriteString(r.Message)
	b.WriteByte(0)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, a)
		return b.Len() < maxKeyLen
	})
	return blankDigits(b.String(), maxKeyLen)
}

// maxKeyLen caps the part of a record that makes its key.
const maxKeyLen = 512

func writeAttr(b *strings.Builder, a slog.Attr) {
	b.WriteByte(0)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.String())
}

// blankDigits replaces runs of digits with '#' and caps the length.
func blankDigits(s string, limit int) string {
	var b strings.Builder
	inDigits := false
	for _, c := range s {
		if b.Len() >= limit {
			break
		}
		if c >= '0' && c <= '9' {
			if !inDigits {
				b.WriteByte('#')
			}
			inDigits = true
			continue
		}
		inDigits = false
		b.WriteRune(c)
	}
	return b.String()
}

// WithAttrs implements slog.Handler; the derived handler shares the limit.
func (h *LimitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		if b.Len() >= maxKeyLen {
			break
		}
		writeAttr(&b, a)
	}
	c.attrs = b.String()
	return &c
}

// WithGroup implements slog.Handler; the derived handler shares the limit.
func (h *LimitHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.attrs += "\x00[" + name + "]"
	return &c
}
