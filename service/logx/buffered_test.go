package logx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int // writes
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.b.Write(p)
}

func (s *syncBuffer) String() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.n
}

func TestBufferedWriter(t *testing.T) {
	out := &syncBuffer{}
	bw := NewBufferedWriter(out, 4096, time.Hour)
	log := slog.New(FlushAbove(slog.NewTextHandler(bw, nil), bw, slog.LevelWarn))
	for range 10 {
		log.Info("request", "route", "/v1/token")
	}
	if s, _ := out.String(); s != "" {
		t.Fatalf("info lines written before a flush: %q", s)
	}
	log.Warn("database unavailable")
	s, writes := out.String()
	if strings.Count(s, "\n") != 11 || !strings.HasSuffix(s, "msg=\"database unavailable\"\n") || writes != 1 {
		t.Fatalf("after a WARN: %d writes of %q, want the 11 lines in order in one write", writes, s)
	}
	log.With("a", 1).WithGroup("g").Error("boom", "b", 2)
	if s, _ := out.String(); !strings.Contains(s, "a=1 g.b=2") {
		t.Fatalf("WithAttrs/WithGroup lost: %q", s)
	}
	log.Info("last")
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.String(); !strings.HasSuffix(s, "msg=last\n") {
		t.Fatalf("Close did not flush: %q", s)
	}
}

func TestBufferedWriterFlushesPeriodically(t *testing.T) {
	out := &syncBuffer{}
	bw := NewBufferedWriter(out, 4096, 10*time.Millisecond)
	defer bw.Close()
	slog.New(slog.NewTextHandler(bw, nil)).Log(context.Background(), slog.LevelInfo, "tick")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, _ := out.String(); strings.Contains(s, "msg=tick") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written by the periodic flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
