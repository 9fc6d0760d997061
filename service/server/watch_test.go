package server_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
)

// watcher is a service client allowed to watch revocations.
func (ts *testServer) watcher(t testing.TB, id string) (token, secret string) {
	t.Helper()
	c, err := ts.admin.CreateServiceClient(ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: id, Roles: []string{"greeter"}})
	if err != nil {
		t.Fatalf("create client %s: %v", id, err)
	}
	res, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: id, ClientSecret: c.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return res.AccessToken, c.ClientSecret
}

// revocationStream reads one WatchRevocations stream in the background.
type revocationStream struct {
	events chan *gatehousev1.RevocationEvent
	done   chan error
}

func (ts *testServer) watch(t testing.TB, token, cursor string) *revocationStream {
	t.Helper()
	ctx, cancel := context.WithCancel(bearer(context.Background(), token))
	t.Cleanup(cancel)
	st, err := ts.auth.WatchRevocations(ctx, &gatehousev1.WatchRevocationsRequest{Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	rs := &revocationStream{events: make(chan *gatehousev1.RevocationEvent, 1000), done: make(chan error, 1)}
	go func() {
		for {
			ev, err := st.Recv()
			if err != nil {
				rs.done <- err
				return
			}
			rs.events <- ev
		}
	}()
	return rs
}

// next returns the next event that is not a heartbeat.
func (rs *revocationStream) next(t testing.TB) *gatehousev1.RevocationEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-rs.events:
			if ev.Kind != gatehousev1.RevocationEvent_KIND_HEARTBEAT {
				return ev
			}
		case err := <-rs.done:
			t.Fatalf("stream ended: %v", err)
		case <-timeout:
			t.Fatal("no revocation event within 10s")
		}
	}
}

// until reads events until one of kind about id arrives, returning it.
func (rs *revocationStream) until(t testing.TB, kind gatehousev1.RevocationEvent_Kind, id string) *gatehousev1.RevocationEvent {
	t.Helper()
	for {
		if ev := rs.next(t); ev.Kind == kind && (id == "" || ev.Id == id) {
			return ev
		}
	}
}

// snapshot reads a snapshot up to its end.
func (rs *revocationStream) snapshot(t testing.TB) (events []*gatehousev1.RevocationEvent, end *gatehousev1.RevocationEvent) {
	t.Helper()
	for i := 0; ; i++ {
		ev := rs.next(t)
		if i == 0 && !ev.Reset_ {
			t.Errorf("first snapshot event %v: reset not set", ev)
		}
		if ev.Kind == gatehousev1.RevocationEvent_KIND_SNAPSHOT_END {
			if ev.Cursor == "" {
				t.Error("snapshot end without a cursor")
			}
			return events, ev
		}
		if ev.Cursor != "" {
			t.Errorf("snapshot event %v carries a cursor", ev)
		}
		events = append(events, ev)
	}
}

func hasEvent(evs []*gatehousev1.RevocationEvent, kind gatehousev1.RevocationEvent_Kind, id string) bool {
	for _, ev := range evs {
		if ev.Kind == kind && ev.Id == id {
			return true
		}
	}
	return false
}

func TestWatchRevocations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		watchToken, _ := ts.watcher(t, "watcher")
		u, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "erin", Password: "erin-password"})
		if err != nil {
			t.Fatal(err)
		}
		id := u.Id
		before := ts.login(t, "erin", "erin-password", "")
		bv, err := ts.validate(before.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: before.AccessToken}); err != nil {
			t.Fatal(err)
		}

		// A snapshot holds what was revoked before the stream opened.
		rs := ts.watch(t, watchToken, "")
		snap, end := rs.snapshot(t)
		if !hasEvent(snap, gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED, bv.Principal.TokenId) {
			t.Fatalf("snapshot %v lacks the revoked jti", snap)
		}
		for _, ev := range snap {
			if ev.Kind == gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED && !ev.ExpireTime.AsTime().After(bv.Principal.ExpiresAt.AsTime().Add(-time.Second)) {
				t.Errorf("revoked jti expires %v, before the token (%v)", ev.ExpireTime.AsTime(), bv.Principal.ExpiresAt.AsTime())
			}
		}

		// Then every change, live, each with a cursor.
		live := []struct {
			name string
			do   func() error
			kind gatehousev1.RevocationEvent_Kind
		}{
			{"disable", func() error { _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: id}); return err }, gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED},
			{"enable", func() error { _, err := ts.admin.EnableUser(ctx, &gatehousev1.EnableUserRequest{Id: id}); return err }, gatehousev1.RevocationEvent_KIND_ACCOUNT_ENABLED},
			{"revoke all", func() error {
				_, err := ts.admin.RevokeAllSessions(ctx, &gatehousev1.RevokeAllSessionsRequest{Id: id})
				return err
			}, gatehousev1.RevocationEvent_KIND_SUBJECT_REVOKED},
			{"delete", func() error { _, err := ts.admin.DeleteUser(ctx, &gatehousev1.DeleteUserRequest{Id: id}); return err }, gatehousev1.RevocationEvent_KIND_ACCOUNT_DELETED},
		}
		for _, tc := range live {
			if err := tc.do(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			ev := rs.until(t, tc.kind, id)
			if ev.Cursor == "" {
				t.Errorf("%s: event without a cursor", tc.name)
			}
			if tc.kind == gatehousev1.RevocationEvent_KIND_SUBJECT_REVOKED && ev.RevokedBefore == nil {
				t.Errorf("%s: no revoked_before", tc.name)
			}
		}

		// A replica started later cannot resume from a cursor older than
		// its load: it answers with a reset snapshot.
		r2 := ts.replica(t)
		stale := r2.watch(t, watchToken, end.Cursor)
		if snap, _ := stale.snapshot(t); !hasEvent(snap, gatehousev1.RevocationEvent_KIND_ACCOUNT_DELETED, id) {
			t.Errorf("reset snapshot %v lacks the deleted account", snap)
		}

		// A cursor from replica A is resumed on replica B: what followed it
		// is replayed, without a snapshot.
		v, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "gus", Password: "gus-password"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: v.Id}); err != nil {
			t.Fatal(err)
		}
		disabled := rs.until(t, gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED, v.Id)
		if _, err := ts.admin.EnableUser(ctx, &gatehousev1.EnableUserRequest{Id: v.Id}); err != nil {
			t.Fatal(err)
		}
		gus := ts.login(t, "gus", "gus-password", "")
		gv, err := ts.validate(gus.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: gus.AccessToken}); err != nil {
			t.Fatal(err)
		}
		// Replica B may have applied the disable and the enable in one poll:
		// it reports the state it read (enabled), and the revocation.
		rb := r2.watch(t, watchToken, disabled.Cursor)
		for _, want := range []struct {
			kind gatehousev1.RevocationEvent_Kind
			id   string
		}{{gatehousev1.RevocationEvent_KIND_ACCOUNT_ENABLED, v.Id}, {gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED, gv.Principal.TokenId}} {
			if ev := rb.until(t, want.kind, want.id); ev.Reset_ {
				t.Fatalf("resumed on the other replica with a snapshot: %v", ev)
			}
		}
	})
}

func TestWatchRevocationsRefusals(t *testing.T) {
	ts := startServer(t, "", func(c *server.Config) { c.View.MaxWatchers = 2 })
	watchToken, _ := ts.watcher(t, "watcher")
	user := ts.token(t, "admin", ts.adminPW)
	cases := []struct {
		name   string
		token  string
		cursor string
		want   codes.Code
	}{
		{"no token", "", "", codes.Unauthenticated},
		{"a user", user, "", codes.PermissionDenied},
		{"a cursor of no gatehouse", watchToken, "bm90LWEtY3Vyc29y", codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.token != "" {
				ctx = bearer(ctx, tc.token)
			}
			st, err := ts.auth.WatchRevocations(ctx, &gatehousev1.WatchRevocationsRequest{Cursor: tc.cursor})
			if err == nil {
				_, err = st.Recv()
			}
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		for range 2 {
			ts.watch(t, watchToken, "").snapshot(t)
		}
		st, err := ts.auth.WatchRevocations(bearer(context.Background(), watchToken), &gatehousev1.WatchRevocationsRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("third watcher: %v, want ResourceExhausted", err)
		}
	})
}

func TestWatchRevocationsHeartbeatAndResume(t *testing.T) {
	ts := startServer(t, "", func(c *server.Config) { c.View.WatchHeartbeat = 100 * time.Millisecond })
	watchToken, _ := ts.watcher(t, "watcher")
	rs := ts.watch(t, watchToken, "")
	_, end := rs.snapshot(t)
	select {
	case ev := <-rs.events:
		if ev.Kind != gatehousev1.RevocationEvent_KIND_HEARTBEAT || ev.Cursor == "" {
			t.Fatalf("idle stream sent %v, want a heartbeat with a cursor", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}

	// Changes after a cursor are replayed to a stream resumed from it.
	u, err := ts.admin.CreateUser(ts.adminCtx(t), &gatehousev1.CreateUserRequest{Username: "fay", Password: "fay-password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.DisableUser(ts.adminCtx(t), &gatehousev1.DisableUserRequest{Id: u.Id}); err != nil {
		t.Fatal(err)
	}
	resumed := ts.watch(t, watchToken, end.Cursor)
	ev := resumed.until(t, gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED, u.Id)
	if ev.Reset_ {
		t.Fatalf("resumed stream restarted from a snapshot: %v", ev)
	}
}

// TestWatchRevocationsEndsOnShutdown: an open stream does not hold up the
// graceful stop; the client hears UNAVAILABLE and resumes elsewhere.
func TestWatchRevocationsEndsOnShutdown(t *testing.T) {
	ts, stop := startStoppable(t)
	watchToken, _ := ts.watcher(t, "watcher")
	rs := ts.watch(t, watchToken, "")
	rs.snapshot(t)
	start := time.Now()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case err := <-rs.done:
		if c := status.Code(err); c != codes.Unavailable {
			t.Errorf("stream ended with %v, want Unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after shutdown began")
	}
	<-stopped
	t.Logf("server stopped in %s with a watcher open", time.Since(start))
}

// startStoppable is a server the test stops itself (startServer's stops at
// the test's end).
func startStoppable(t *testing.T) (ts *testServer, stop func()) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.MasterKey = t.TempDir(), ""
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.OpsAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.AuditLog = io.Discard
	cfg.Argon2 = secrets.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg.View.PollInterval = 200 * time.Millisecond
	cfg.ShutdownTimeout = 30 * time.Second // longer than the test waits: the stream must end by itself
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	app, err := server.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Bootstrap(ctx, testAdminPassword); err != nil {
		t.Fatal(err)
	}
	gl, hl, err := app.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, gl, hl) }()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts = &testServer{app: app, clock: &clock{}, conn: conn, adminPW: testAdminPassword,
		auth: gatehousev1.NewAuthServiceClient(conn), admin: gatehousev1.NewAdminServiceClient(conn)}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			conn.Close()
			app.Close()
		})
	}
	t.Cleanup(stop)
	return ts, stop
}
