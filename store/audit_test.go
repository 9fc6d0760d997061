package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// auditStore is a store on a settable clock that records what its audit
// sink hears.
type auditStore struct {
	*store.Store
	now  atomic.Int64 // unix microseconds
	mu   sync.Mutex
	sunk []store.AuditEvent
}

func openAuditStore(t *testing.T, b storetest.Backend) *auditStore {
	t.Helper()
	as := &auditStore{}
	as.now.Store(rtAt(0).UnixMicro())
	s, err := store.Open(context.Background(), b.DSN(t),
		store.WithClock(func() time.Time { return time.UnixMicro(as.now.Load()) }),
		store.WithAuditSink(func(_ context.Context, evs []store.AuditEvent) {
			as.mu.Lock()
			defer as.mu.Unlock()
			as.sunk = append(as.sunk, evs...)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	as.Store = s
	return as
}

func (as *auditStore) advance(d time.Duration) { as.now.Add(d.Microseconds()) }

func (as *auditStore) sunkTypes() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	var out []string
	for _, e := range as.sunk {
		out = append(out, e.Type)
	}
	return out
}

// all lists every stored event, newest first.
func (as *auditStore) all(t *testing.T) []store.AuditEvent {
	t.Helper()
	list, err := as.ListAuditEvents(context.Background(), store.AuditFilter{}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func types(list []store.AuditEvent) string {
	var out []string
	for _, e := range list {
		out = append(out, e.Type)
	}
	return strings.Join(out, " ")
}

func TestAudit(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				fn   func(t *testing.T, as *auditStore)
			}{
				{"written with the change", testAuditWithChange},
				{"a failed change leaves no event", testAuditFailedChange},
				{"events belong to one transaction", testAuditOneTransaction},
				{"key changes", testAuditKeys},
				{"list filters and pages", testAuditList},
				{"prune", testAuditPrune},
				{"long values are cut", testAuditCut},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, openAuditStore(t, b)) })
			}
		})
	}
}

var origin = store.AuditOrigin{Actor: "admin-id", ActorName: "admin", IP: "192.0.2.7", RequestID: "req-1"}

func testAuditWithChange(t *testing.T, as *auditStore) {
	ctx := store.WithAuditOrigin(context.Background(), origin)
	ev := store.AuditEvent{Type: "user.created", Target: "u1", TargetName: "alice", Detail: map[string]string{"roles": "a,b"}}
	if _, err := as.CreateAccount(store.WithAudit(ctx, ev), user("u1", "alice", "a", "b")); err != nil {
		t.Fatal(err)
	}
	list := as.all(t)
	if len(list) != 1 {
		t.Fatalf("events = %+v, want one", list)
	}
	got := list[0]
	if got.ID == 0 || !got.Time.Equal(rtAt(0)) || got.Type != "user.created" || got.AuditOrigin != origin ||
		got.Target != "u1" || got.TargetName != "alice" || got.Detail["roles"] != "a,b" {
		t.Errorf("event = %+v", got)
	}
	if s := as.sunkTypes(); fmt.Sprint(s) != "[user.created]" {
		t.Errorf("sink heard %v", s)
	}
	// Without an origin the actor is the system.
	if _, err := as.CreateAccount(store.WithAudit(context.Background(), ev), user("u2", "bob")); err != nil {
		t.Fatal(err)
	}
	if got := as.all(t)[0]; got.Actor != store.ActorSystem || got.IP != "" || got.RequestID != "" {
		t.Errorf("event without origin = %+v", got)
	}
}

func testAuditFailedChange(t *testing.T, as *auditStore) {
	ctx := context.Background()
	if _, err := as.CreateAccount(ctx, user("u1", "alice")); err != nil {
		t.Fatal(err)
	}
	ev := store.AuditEvent{Type: "user.created", Target: "u2"}
	for name, change := range map[string]func() error{
		"conflict": func() error {
			_, err := as.CreateAccount(store.WithAudit(ctx, ev), user("u2", "alice"))
			return err
		},
		"callback refuses after adding": func() error {
			actx := store.WithAudit(ctx)
			_, err := as.UpdateAccount(actx, "u1", func(a *store.Account) error {
				store.AddAudit(actx, store.AuditEvent{Type: "user.disabled", Target: "u1"})
				return errors.New("refused")
			})
			return err
		},
		"missing row": func() error { return as.DeleteAccount(store.WithAudit(ctx, ev), "nope") },
	} {
		if err := change(); err == nil {
			t.Errorf("%s: succeeded", name)
		}
	}
	if list := as.all(t); len(list) != 0 {
		t.Errorf("events after failed changes: %v", types(list))
	}
	if s := as.sunkTypes(); len(s) != 0 {
		t.Errorf("sink heard %v", s)
	}
}

func testAuditOneTransaction(t *testing.T, as *auditStore) {
	ctx := store.WithAudit(context.Background(), store.AuditEvent{Type: "user.created", Target: "u1"})
	if _, err := as.CreateAccount(ctx, user("u1", "alice")); err != nil {
		t.Fatal(err)
	}
	// A second transaction under the same context writes nothing again.
	if _, err := as.UpdateAccount(ctx, "u1", func(a *store.Account) error { a.DisplayName = "A"; return nil }); err != nil {
		t.Fatal(err)
	}
	// AddAudit inside the callback joins its transaction.
	actx := store.WithAudit(context.Background())
	if _, err := as.UpdateAccount(actx, "u1", func(a *store.Account) error {
		a.Active = false
		store.AddAudit(actx, store.AuditEvent{Type: "user.disabled", Target: "u1"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := types(as.all(t)); got != "user.disabled user.created" {
		t.Errorf("events = %q", got)
	}
	if store.AddAudit(context.Background(), store.AuditEvent{Type: "x"}) {
		t.Error("AddAudit without a batch reported true")
	}
}

func testAuditKeys(t *testing.T, as *auditStore) {
	ctx := context.Background()
	step := func(ctx context.Context, setting string, c store.KeyChanges, value []byte) {
		t.Helper()
		if err := as.ChangeKeysWith(ctx, setting, func([]store.SigningKey, []byte) (store.KeyChanges, []byte, error) {
			return c, value, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	k1 := store.SigningKey{KID: "k1", Alg: "ES256", State: store.KeyNext, PublicJWK: []byte("{}"), PrivateSealed: []byte("s")}
	step(ctx, "key-policy", store.KeyChanges{Create: []store.SigningKey{k1}}, []byte("sealed-policy"))
	k1.State = store.KeyActive
	step(store.WithAuditOrigin(ctx, origin), "", store.KeyChanges{Update: []store.SigningKey{k1}}, nil)
	k1.PrivateSealed = []byte("resealed") // same state: not a lifecycle step
	step(ctx, "", store.KeyChanges{Update: []store.SigningKey{k1}}, nil)
	k1.State = store.KeyRetired
	step(ctx, "", store.KeyChanges{Update: []store.SigningKey{k1}}, nil)
	k1.State = store.KeyRevoked
	step(ctx, "", store.KeyChanges{Update: []store.SigningKey{k1}}, nil)
	step(ctx, "", store.KeyChanges{Delete: []string{"k1"}}, nil)
	step(ctx, "key-policy", store.KeyChanges{}, nil) // a read: nothing

	list := as.all(t)
	if got := types(list); got != "key.removed key.revoked key.retired key.activated key.created key.policy_changed" {
		t.Fatalf("events = %q", got)
	}
	for _, e := range list {
		wantActor := store.ActorSystem
		if e.Type == "key.activated" {
			wantActor = origin.Actor
		}
		if e.Actor != wantActor {
			t.Errorf("%s actor = %q, want %q", e.Type, e.Actor, wantActor)
		}
		if e.Type != "key.policy_changed" && e.Target != "k1" {
			t.Errorf("%s target = %q", e.Type, e.Target)
		}
		for k, v := range e.Detail {
			if strings.Contains(v, "sealed") {
				t.Errorf("%s detail %s = %q holds key material", e.Type, k, v)
			}
		}
	}
	if e := list[3]; e.Detail["from"] != "next" || e.Detail["state"] != "active" {
		t.Errorf("activation detail = %v", e.Detail)
	}
}

func testAuditList(t *testing.T, as *auditStore) {
	ctx := context.Background()
	// Seven events one minute apart: actors a/b, targets t0..t2, two types.
	for i := range 7 {
		e := store.AuditEvent{
			Type:        []string{"user.created", "login.failed"}[i%2],
			AuditOrigin: store.AuditOrigin{Actor: []string{"a", "b"}[i%2]},
			Target:      fmt.Sprintf("t%d", i%3),
		}
		if err := as.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		as.advance(time.Minute)
	}
	ids := func(list []store.AuditEvent) string {
		var out []string
		for _, e := range list {
			out = append(out, e.Target+"@"+e.Time.Sub(rtAt(0)).String())
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want string
	}{
		{"all, newest first", store.AuditFilter{}, "t0@6m0s t2@5m0s t1@4m0s t0@3m0s t2@2m0s t1@1m0s t0@0s"},
		{"since inclusive", store.AuditFilter{Since: rtAt(5 * time.Minute)}, "t0@6m0s t2@5m0s"},
		{"until exclusive", store.AuditFilter{Until: rtAt(2 * time.Minute)}, "t1@1m0s t0@0s"},
		{"range", store.AuditFilter{Since: rtAt(2 * time.Minute), Until: rtAt(4 * time.Minute)}, "t0@3m0s t2@2m0s"},
		{"actor", store.AuditFilter{Actor: "b"}, "t2@5m0s t0@3m0s t1@1m0s"},
		{"target", store.AuditFilter{Target: "t0"}, "t0@6m0s t0@3m0s t0@0s"},
		{"type", store.AuditFilter{Type: "user.created"}, "t0@6m0s t1@4m0s t2@2m0s t0@0s"},
		{"combined", store.AuditFilter{Type: "user.created", Target: "t0", Since: rtAt(time.Minute)}, "t0@6m0s"},
		{"no match", store.AuditFilter{Actor: "c"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := as.ListAuditEvents(ctx, tc.f, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(list); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Keyset pages of three: the cursor is the last id of a page.
	var pages []string
	before := int64(0)
	for {
		list, err := as.ListAuditEvents(ctx, store.AuditFilter{}, before, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		pages = append(pages, ids(list))
		before = list[len(list)-1].ID
	}
	if got := strings.Join(pages, " | "); got != "t0@6m0s t2@5m0s t1@4m0s | t0@3m0s t2@2m0s t1@1m0s | t0@0s" {
		t.Errorf("pages = %q", got)
	}
}

func testAuditPrune(t *testing.T, as *auditStore) {
	ctx := context.Background()
	for range 3 {
		if err := as.AppendAudit(ctx, store.AuditEvent{Type: "login.failed"}); err != nil {
			t.Fatal(err)
		}
		as.advance(24 * time.Hour)
	}
	n, err := as.PruneAuditEvents(ctx, rtAt(36*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	if list := as.all(t); len(list) != 1 || !list[0].Time.Equal(rtAt(48*time.Hour)) {
		t.Errorf("left %+v", list)
	}
}

func testAuditCut(t *testing.T, as *auditStore) {
	long := strings.Repeat("é", 400) // 800 bytes
	detail := map[string]string{"v": long}
	for i := range 40 {
		detail[fmt.Sprintf("k%02d", i)] = "x"
	}
	e := store.AuditEvent{Type: "login.failed", AuditOrigin: store.AuditOrigin{Actor: "anonymous", ActorName: long}, TargetName: long, Detail: detail}
	if err := as.AppendAudit(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got := as.all(t)[0]
	if len(got.ActorName) > 320 || len(got.TargetName) > 512 || !strings.HasPrefix(long, got.ActorName) || len(got.Detail) > 32 {
		t.Errorf("not cut to the column bounds: actor_name %d, target_name %d bytes, %d detail entries", len(got.ActorName), len(got.TargetName), len(got.Detail))
	}
}
