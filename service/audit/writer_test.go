package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/service/audit"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	st      *store.Store
	w       *audit.Writer
	reg     *prometheus.Registry
	lines   *syncBuffer
	dropped func() float64
}

func newFixture(t *testing.T, b storetest.Backend, opts audit.Options) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), lines: &syncBuffer{}}
	alog := audit.NewLogger(f.lines)
	st, err := store.Open(context.Background(), b.DSN(t), store.WithAuditSink(audit.Sink(alog)), store.WithOpTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	w, err := audit.NewWriter(st, alog, slog.New(slog.NewTextHandler(io.Discard, nil)), f.reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background()) })
	f.w = w
	f.dropped = func() float64 {
		mfs, err := f.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "gatehouse_audit_events_dropped_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("gatehouse_audit_events_dropped_total is not registered")
		return 0
	}
	return f
}

func (f *fixture) events(t *testing.T) []store.AuditEvent {
	t.Helper()
	list, err := f.st.ListAuditEvents(context.Background(), store.AuditFilter{}, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// eventually polls cond for at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWriter(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			t.Run("stores login events", func(t *testing.T) { testStores(t, b) })
			t.Run("flushes on close", func(t *testing.T) { testFlushOnClose(t, b) })
			t.Run("full queue drops and counts", func(t *testing.T) { testQueueFull(t, b) })
			t.Run("failed write drops, counts and still logs", func(t *testing.T) { testWriteFails(t, b) })
		})
	}
}

func testStores(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b, audit.Options{FlushEvery: 50 * time.Millisecond})
	ctx := core.WithRequestInfo(context.Background(), &core.RequestInfo{ID: "req-9", IP: "198.51.100.4"})
	for _, e := range []core.Event{
		{Type: core.EventLoginSucceeded, Kind: core.KindUser, Subject: "u1", Name: "alice", IP: "192.0.2.1"},
		{Type: core.EventLoginFailed, Kind: core.KindUser, Name: "mallory", Reason: core.ReasonBadCredentials},
		{Type: core.EventLoginFailed, Kind: core.KindClient, Name: "svc", IP: "192.0.2.3", Reason: core.ReasonBadCredentials},
		{Type: core.EventLockout, Kind: core.KindUser, Name: "mallory", IP: "192.0.2.2", Detail: map[string]string{"counter": "user"}},
		{Type: core.EventTokenExchanged, Subject: "u1", ClientID: "svc", Detail: map[string]string{"issuer": "https://idp"}},
		{Type: core.EventTokenRevoked, Subject: "u1", ClientID: "svc", Detail: map[string]string{"session": "fam-1"}},
		// Not kept: client logins that succeed, issued and validated tokens.
		{Type: core.EventLoginSucceeded, Kind: core.KindClient, Subject: "c1", Name: "svc"},
		{Type: core.EventTokenIssued, Grant: "password", Subject: "u1"},
		{Type: core.EventTokenValidated, Subject: "u1"},
	} {
		f.w.Observe(ctx, e)
	}
	eventually(t, "six stored events", func() bool { return len(f.events(t)) == 6 })
	want := map[string]store.AuditEvent{
		"login.succeeded": {AuditOrigin: store.AuditOrigin{Actor: "u1", ActorName: "alice", IP: "192.0.2.1", RequestID: "req-9"}, Target: "u1", TargetName: "alice"},
		"login.lockout":   {AuditOrigin: store.AuditOrigin{Actor: store.ActorSystem, IP: "192.0.2.2", RequestID: "req-9"}, TargetName: "mallory"},
		"token.exchanged": {AuditOrigin: store.AuditOrigin{Actor: audit.ActorAnonymous, ActorName: "svc", IP: "198.51.100.4", RequestID: "req-9"}, Target: "u1"},
		"token.revoked":   {AuditOrigin: store.AuditOrigin{Actor: audit.ActorAnonymous, ActorName: "svc", IP: "198.51.100.4", RequestID: "req-9"}, Target: "fam-1"},
	}
	failed := 0
	for _, e := range f.events(t) {
		if e.Time.IsZero() {
			t.Errorf("%s has no time", e.Type)
		}
		if e.Type == "login.failed" {
			failed++
			if e.Actor != audit.ActorAnonymous || e.Detail["reason"] != core.ReasonBadCredentials || e.IP == "" || e.TargetName == "" {
				t.Errorf("login.failed = %+v", e)
			}
			continue
		}
		w, ok := want[e.Type]
		if !ok {
			t.Errorf("unexpected event %+v", e)
			continue
		}
		if e.AuditOrigin != w.AuditOrigin || e.Target != w.Target || e.TargetName != w.TargetName {
			t.Errorf("%s = %+v, want origin %+v target %q/%q", e.Type, e, w.AuditOrigin, w.Target, w.TargetName)
		}
	}
	if failed != 2 {
		t.Errorf("%d login.failed events, want 2 (user and client)", failed)
	}
	// The same six on the JSON audit log.
	eventually(t, "six audit log lines", func() bool { return strings.Count(f.lines.String(), "\n") == 6 })
	for _, line := range strings.Split(strings.TrimSpace(f.lines.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if m["log"] != "audit" || m["type"] == nil || m["actor"] == nil || m["event_id"] == nil {
			t.Errorf("audit line lacks fields: %s", line)
		}
	}
}

func testFlushOnClose(t *testing.T, b storetest.Backend) {
	// A long interval: only Close can write the partial batch.
	f := newFixture(t, b, audit.Options{FlushEvery: time.Hour})
	for range 3 {
		f.w.Observe(context.Background(), core.Event{Type: core.EventLoginFailed, Kind: core.KindUser, Name: "bob"})
	}
	if err := f.w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.events(t)); n != 3 {
		t.Errorf("%d events stored after Close, want 3", n)
	}
	f.w.Observe(context.Background(), core.Event{Type: core.EventLoginFailed, Kind: core.KindUser, Name: "bob"})
	if d := f.dropped(); d != 1 {
		t.Errorf("dropped = %v after an event past Close, want 1", d)
	}
}

func testQueueFull(t *testing.T, b storetest.Backend) {
	const queue, sent = 4, 50
	f := newFixture(t, b, audit.Options{QueueSize: queue, BatchSize: 1, FlushEvery: time.Hour, WriteTimeout: 30 * time.Second})
	// Hold every connection the store may use, so that the writer's first
	// insert waits and the queue fills up behind it.
	pool := f.st.Pool()
	pool.SetMaxOpenConns(1)
	conn, err := pool.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for range sent {
		f.w.Observe(context.Background(), core.Event{Type: core.EventLoginFailed, Kind: core.KindUser, Name: "bob"})
	}
	if d := f.dropped(); d < sent-queue-1 {
		t.Errorf("dropped = %v with the writer stuck, want at least %d", d, sent-queue-1)
	}
	conn.Close()
	if err := f.w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored := len(f.events(t))
	if d := f.dropped(); stored+int(d) != sent || stored == 0 {
		t.Errorf("stored %d + dropped %v != %d sent", stored, d, sent)
	}
}

func testWriteFails(t *testing.T, b storetest.Backend) {
	f := newFixture(t, b, audit.Options{FlushEvery: 20 * time.Millisecond})
	f.st.Close()
	f.w.Observe(context.Background(), core.Event{Type: core.EventLoginFailed, Kind: core.KindUser, Name: "carol", Reason: core.ReasonBadCredentials})
	eventually(t, "the dropped counter", func() bool { return f.dropped() == 1 })
	if !strings.Contains(f.lines.String(), `"target_name":"carol"`) {
		t.Errorf("the unstored event is not on the audit log: %q", f.lines.String())
	}
}

// TestWriterQueueCostsLittleIdle: the default queue of 10,000 events is not
// allocated up front (it was 1.5 MiB of every idle server's memory).
func TestWriterQueueCostsLittleIdle(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w, err := audit.NewWriter(nil, slog.New(slog.DiscardHandler), slog.New(slog.DiscardHandler), nil, audit.Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("NewWriter allocated %d KiB, want at most 256 KiB", n>>10)
	}
}

// TestWriterIgnoresUnkeptEventsFreely: events the trail does not keep
// (a client's successful login, on every client_credentials grant and
// introspection) cost Observe no allocation.
func TestWriterIgnoresUnkeptEventsFreely(t *testing.T) {
	w, err := audit.NewWriter(nil, slog.New(slog.DiscardHandler), slog.New(slog.DiscardHandler), nil, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	ctx := core.WithRequestInfo(context.Background(), &core.RequestInfo{ID: "r", IP: "192.0.2.1"})
	for _, e := range []core.Event{
		{Type: core.EventLoginSucceeded, Kind: core.KindClient, Name: "etl", Detail: map[string]string{"x": "y"}},
		{Type: core.EventTokenIssued, Kind: core.KindClient, Grant: "client_credentials"},
	} {
		if n := testing.AllocsPerRun(100, func() { w.Observe(ctx, e) }); n != 0 {
			t.Errorf("Observe(%s, %s) allocates %.0f times, want 0", e.Type, e.Kind, n)
		}
	}
}
