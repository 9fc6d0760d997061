package view

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testView is a view with the given floor and no database.
func testView(floor int64, buffer int) *View {
	v := &View{opts: Options{MaxWatchers: 2, WatchBuffer: buffer}, accounts: map[string]*Account{}, deleted: map[string]time.Time{},
		revoked: newRevocations(), withdrawn: map[string]time.Time{}}
	v.feed.init(buffer, floor)
	return v
}

func ids(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestFeedResume(t *testing.T) {
	at := time.Unix(1000, 0)
	cases := []struct {
		name      string
		cursor    int64
		wantReset bool
		want      []string
	}{
		{"before the feed's base: snapshot", 4, true, nil},
		{"at the base: everything", 5, false, []string{"jti6", "acct6", "jti7"}},
		// Revocations up to the cursor were delivered; account state is
		// always sent again (it was read when this replica applied it).
		{"mid-way: later revocations and all account state", 6, false, []string{"acct6", "jti7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := testView(5, 100)
			v.feed.append(6, Event{Kind: EventTokenRevoked, ID: "jti6", At: at}, Event{Kind: EventAccountDisabled, ID: "acct6", At: at})
			v.feed.setFloor(6)
			v.feed.append(7, Event{Kind: EventTokenRevoked, ID: "jti7", At: at})
			v.feed.setFloor(7)
			sub, snap, reset, err := v.Watch(tc.cursor, true)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if reset != tc.wantReset || (snap != nil) != tc.wantReset {
				t.Fatalf("reset %v, snapshot %v", reset, snap)
			}
			if tc.wantReset {
				return
			}
			got, err := sub.Next(context.Background(), time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); len(g) != len(tc.want) || (len(g) > 0 && g[len(g)-1] != tc.want[len(tc.want)-1]) {
				t.Fatalf("delivered %v, want %v", g, tc.want)
			}
			if c := sub.Cursor(); c != 7 {
				t.Errorf("cursor after catching up = %d, want 7", c)
			}
		})
	}
}

func TestFeedLagClosedAndBound(t *testing.T) {
	v := testView(0, 2)
	sub, snap, _, err := v.Watch(0, false)
	if err != nil || snap == nil {
		t.Fatalf("first watch: %v, %v", snap, err)
	}
	for i := range 3 {
		v.feed.append(int64(i+1), Event{Kind: EventTokenRevoked, ID: "x"})
	}
	if _, err := sub.Next(context.Background(), time.Millisecond); !errors.Is(err, ErrLagged) {
		t.Fatalf("a watcher behind the buffer: %v, want ErrLagged", err)
	}
	if s := v.Resnapshot(sub); s == nil {
		t.Fatal("no snapshot")
	}
	other, _, _, err := v.Watch(0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := v.Watch(0, false); !errors.Is(err, ErrTooManyWatchers) {
		t.Fatalf("third watcher: %v", err)
	}
	other.Close()
	other.Close() // idempotent
	if got, err := sub.Next(context.Background(), 10*time.Millisecond); err != nil || len(got) != 0 {
		t.Fatalf("idle: %v, %v; want a heartbeat (nothing)", got, err)
	}
	done := make(chan error, 1)
	go func() { _, err := sub.Next(context.Background(), time.Minute); done <- err }()
	v.feed.close()
	if err := <-done; !errors.Is(err, ErrWatchClosed) {
		t.Fatalf("after close: %v", err)
	}
}
