package keys

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// Unit and simulation tests of the signing-key state machine (plan,
// planRotate, planRevoke) driven by an explicit fake clock and a fake key
// generator; no store, no crypto.

const day = 24 * time.Hour

// t0 is the fake clock's origin.
var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// testPolicy is the production default (30 d, 2 h) with the retention the
// server derives for 15-minute access tokens.
var testPolicy = Policy{RotationInterval: 30 * day, PublishLead: 2 * time.Hour, RetainRetired: 16 * time.Minute}

var errBoom = errors.New("boom: no entropy")

type keyCall struct {
	state store.KeyState
	at    time.Time
}

// fakeKeyGen is a newKeyFunc that makes keys k1, k2, … and records calls.
type fakeKeyGen struct {
	n     int
	calls []keyCall
	err   error
}

func (f *fakeKeyGen) newKey(state store.KeyState, at time.Time) (store.SigningKey, error) {
	f.calls = append(f.calls, keyCall{state, at})
	if f.err != nil {
		return store.SigningKey{}, f.err
	}
	f.n++
	return store.SigningKey{KID: fmt.Sprintf("k%d", f.n), Alg: "ES256", State: state, ActivatedAt: at}, nil
}

func byKID(kid string) func(store.SigningKey) bool {
	return func(k store.SigningKey) bool { return k.KID == kid }
}

// apply writes changes to keys the way store.ChangeKeys does (creates with
// CreatedAt=now, then updates by kid, then deletes) and returns a new slice.
// It fails the test on changes the store would refuse or that make no sense
// (duplicate kid, unknown kid, one kid touched twice).
func apply(t testing.TB, keys []store.SigningKey, c store.KeyChanges, now time.Time) []store.SigningKey {
	t.Helper()
	out := slices.Clone(keys)
	touched := map[string]bool{}
	touch := func(op, kid string) {
		t.Helper()
		if touched[kid] {
			t.Fatalf("%s: kid %s appears twice in one change set %+v", op, kid, c)
		}
		touched[kid] = true
	}
	for _, k := range c.Create {
		touch("create", k.KID)
		if slices.ContainsFunc(out, byKID(k.KID)) {
			t.Fatalf("create: kid %s already exists", k.KID)
		}
		k.CreatedAt = now
		out = append(out, k)
	}
	for _, k := range c.Update {
		touch("update", k.KID)
		i := slices.IndexFunc(out, byKID(k.KID))
		if i < 0 {
			t.Fatalf("update: unknown kid %s", k.KID)
		}
		k.CreatedAt = out[i].CreatedAt
		out[i] = k
	}
	for _, kid := range c.Delete {
		touch("delete", kid)
		i := slices.IndexFunc(out, byKID(kid))
		if i < 0 {
			t.Fatalf("delete: unknown kid %s", kid)
		}
		out = slices.Delete(out, i, i+1)
	}
	return out
}

func inState(keys []store.SigningKey, s store.KeyState) []store.SigningKey {
	var out []store.SigningKey
	for _, k := range keys {
		if k.State == s {
			out = append(out, k)
		}
	}
	return out
}

// published is what the JWKS serves: every key that is not revoked
// (store.SigningKeys).
func published(keys []store.SigningKey) []string {
	var out []string
	for _, k := range keys {
		if k.State != store.KeyRevoked {
			out = append(out, k.KID)
		}
	}
	slices.Sort(out)
	return out
}

func empty(c store.KeyChanges) bool { return len(c.Create)+len(c.Update)+len(c.Delete) == 0 }

// norm makes change sets comparable: sorted by kid, empty slices nil.
func norm(c store.KeyChanges) store.KeyChanges {
	cmp := func(a, b store.SigningKey) int { return strings.Compare(a.KID, b.KID) }
	c.Create, c.Update, c.Delete = slices.Clone(c.Create), slices.Clone(c.Update), slices.Clone(c.Delete)
	slices.SortFunc(c.Create, cmp)
	slices.SortFunc(c.Update, cmp)
	slices.Sort(c.Delete)
	if len(c.Create) == 0 {
		c.Create = nil
	}
	if len(c.Update) == 0 {
		c.Update = nil
	}
	if len(c.Delete) == 0 {
		c.Delete = nil
	}
	return c
}

func checkChanges(t *testing.T, got, want store.KeyChanges) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("changes:\n got  %+v\n want %+v", g, w)
	}
}

// Key constructors for tables.
func key(kid string, s store.KeyState, created, activated, retired time.Time) store.SigningKey {
	return store.SigningKey{KID: kid, Alg: "ES256", State: s, CreatedAt: created, ActivatedAt: activated, RetiredAt: retired}
}

func activeKey(kid string, activated time.Time) store.SigningKey {
	return key(kid, store.KeyActive, activated, activated, time.Time{})
}

func nextKey(kid string, created, activates time.Time) store.SigningKey {
	return key(kid, store.KeyNext, created, activates, time.Time{})
}

func retiredKey(kid string, activated, retired time.Time) store.SigningKey {
	return key(kid, store.KeyRetired, activated, activated, retired)
}

func revokedKey(kid string, activated, revoked time.Time) store.SigningKey {
	return key(kid, store.KeyRevoked, activated, activated, revoked)
}

func activated(k store.SigningKey, at time.Time) store.SigningKey {
	k.State, k.ActivatedAt = store.KeyActive, at
	return k
}

func retiredAt(k store.SigningKey, at time.Time) store.SigningKey {
	k.State, k.RetiredAt = store.KeyRetired, at
	return k
}

func revokedAt(k store.SigningKey, at time.Time) store.SigningKey {
	k.State, k.RetiredAt = store.KeyRevoked, at
	return k
}

// created is what the fake generator returns for its n-th key.
func created(n int, s store.KeyState, at time.Time) store.SigningKey {
	return store.SigningKey{KID: fmt.Sprintf("k%d", n), Alg: "ES256", State: s, ActivatedAt: at}
}

// ---------------------------------------------------------------------------
// Policy

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"defaults with derived retention", Policy{30 * day, 2 * time.Hour, 16 * time.Minute}, true},
		{"manual rotation only", Policy{0, 2 * time.Hour, 16 * time.Minute}, true},
		{"no lead", Policy{time.Hour, 0, time.Minute}, true},
		{"interval just above lead", Policy{2*time.Hour + time.Nanosecond, 2 * time.Hour, time.Minute}, true},
		{"interval equal to lead", Policy{2 * time.Hour, 2 * time.Hour, 16 * time.Minute}, false},
		{"interval below lead", Policy{time.Hour, 2 * time.Hour, 16 * time.Minute}, false},
		{"zero retention", Policy{30 * day, 2 * time.Hour, 0}, false},
		{"negative retention", Policy{30 * day, 2 * time.Hour, -time.Minute}, false},
		{"negative lead", Policy{30 * day, -time.Hour, 16 * time.Minute}, false},
		{"negative interval", Policy{-day, 2 * time.Hour, 16 * time.Minute}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.p, err, tt.ok)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// plan, one step at a time

func TestPlan(t *testing.T) {
	now := t0.Add(100 * day)
	p := testPolicy
	lead, ival, keep := p.PublishLead, p.RotationInterval, p.RetainRetired
	old := now.Add(-ival - day)

	tests := []struct {
		name      string
		keys      []store.SigningKey
		p         Policy
		want      store.KeyChanges
		wantCalls []keyCall
	}{
		{
			name:      "bootstrap: no keys makes an active key now",
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyActive, now)}},
			wantCalls: []keyCall{{store.KeyActive, now}},
		},
		{
			name: "fresh active key: nothing to do",
			keys: []store.SigningKey{activeKey("a", now.Add(-day))},
		},
		{
			name: "active key one instant before the successor is due",
			keys: []store.SigningKey{activeKey("a", now.Add(-(ival-lead)+time.Nanosecond))},
		},
		{
			name:      "successor due: published now, activates PublishLead later at the planned time",
			keys:      []store.SigningKey{activeKey("a", now.Add(-(ival - lead)))},
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyNext, now.Add(lead))}},
			wantCalls: []keyCall{{store.KeyNext, now.Add(lead)}},
		},
		{
			name:      "late tick (active long overdue): successor still gets the full lead",
			keys:      []store.SigningKey{activeKey("a", now.Add(-ival-10*day))},
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyNext, now.Add(lead))}},
			wantCalls: []keyCall{{store.KeyNext, now.Add(lead)}},
		},
		{
			name: "successor published, not yet due",
			keys: []store.SigningKey{activeKey("a", now.Add(-ival+time.Hour)), nextKey("n", now.Add(-time.Hour), now.Add(time.Hour))},
		},
		{
			name: "successor due: it becomes active now, the old one is retired now",
			keys: []store.SigningKey{activeKey("a", now.Add(-ival)), nextKey("n", now.Add(-lead), now)},
			want: store.KeyChanges{Update: []store.SigningKey{
				retiredAt(activeKey("a", now.Add(-ival)), now),
				activated(nextKey("n", now.Add(-lead), now), now),
			}},
		},
		{
			name: "successor overdue: activated with the actual time",
			keys: []store.SigningKey{activeKey("a", old), nextKey("n", old, now.Add(-5*time.Hour))},
			want: store.KeyChanges{Update: []store.SigningKey{
				retiredAt(activeKey("a", old), now),
				activated(nextKey("n", old, now.Add(-5*time.Hour)), now),
			}},
		},
		{
			name: "RotationInterval 0: an ancient active key is never rotated",
			keys: []store.SigningKey{activeKey("a", now.Add(-1000*day))},
			p:    Policy{RetainRetired: keep, PublishLead: lead},
		},
		{
			name:      "RotationInterval 0: bootstrap still happens",
			p:         Policy{RetainRetired: keep, PublishLead: lead},
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyActive, now)}},
			wantCalls: []keyCall{{store.KeyActive, now}},
		},
		{
			name: "two active keys (legacy), newer first: the older is retired",
			keys: []store.SigningKey{activeKey("new", now.Add(-day)), activeKey("old", now.Add(-2*day))},
			want: store.KeyChanges{Update: []store.SigningKey{retiredAt(activeKey("old", now.Add(-2*day)), now)}},
		},
		{
			name: "two active keys (legacy), older first: the older is retired",
			keys: []store.SigningKey{activeKey("old", now.Add(-2*day)), activeKey("new", now.Add(-day))},
			want: store.KeyChanges{Update: []store.SigningKey{retiredAt(activeKey("old", now.Add(-2*day)), now)}},
		},
		{
			name: "three active keys (legacy): all but the newest retired",
			keys: []store.SigningKey{activeKey("a", now.Add(-3*day)), activeKey("c", now.Add(-day)), activeKey("b", now.Add(-2*day))},
			want: store.KeyChanges{Update: []store.SigningKey{
				retiredAt(activeKey("a", now.Add(-3*day)), now),
				retiredAt(activeKey("b", now.Add(-2*day)), now),
			}},
		},
		{
			name: "two active keys (legacy), newest due: older retired and successor published",
			keys: []store.SigningKey{activeKey("old", old.Add(-day)), activeKey("new", old)},
			want: store.KeyChanges{
				Update: []store.SigningKey{retiredAt(activeKey("old", old.Add(-day)), now)},
				Create: []store.SigningKey{created(1, store.KeyNext, now.Add(lead))},
			},
			wantCalls: []keyCall{{store.KeyNext, now.Add(lead)}},
		},
		{
			name: "no active but a next key: the next signs at once",
			keys: []store.SigningKey{revokedKey("r", old, now.Add(-time.Minute)), nextKey("n", now.Add(-time.Minute), now.Add(time.Hour))},
			want: store.KeyChanges{Update: []store.SigningKey{activated(nextKey("n", now.Add(-time.Minute), now.Add(time.Hour)), now)}},
		},
		{
			name: "no active and two next keys: the earliest planned signs",
			keys: []store.SigningKey{nextKey("late", now, now.Add(2*time.Hour)), nextKey("early", now, now.Add(time.Hour))},
			want: store.KeyChanges{Update: []store.SigningKey{activated(nextKey("early", now, now.Add(time.Hour)), now)}},
		},
		{
			name: "retired and revoked keys within retention stay",
			keys: []store.SigningKey{
				activeKey("a", now.Add(-day)),
				retiredKey("ret", old, now.Add(-keep+time.Nanosecond)),
				revokedKey("rev", old, now.Add(-keep+time.Nanosecond)),
			},
		},
		{
			name: "retired and revoked keys are deleted once RetainRetired has passed",
			keys: []store.SigningKey{
				activeKey("a", now.Add(-day)),
				retiredKey("ret", old, now.Add(-keep)),
				revokedKey("rev", old, now.Add(-keep-day)),
			},
			want: store.KeyChanges{Delete: []string{"ret", "rev"}},
		},
		{
			name: "a retired key without RetiredAt is kept",
			keys: []store.SigningKey{activeKey("a", now.Add(-day)), retiredKey("ret", old, time.Time{})},
		},
		{
			name: "only expired revoked keys: deleted and a new active key made",
			keys: []store.SigningKey{revokedKey("rev", old, now.Add(-keep))},
			want: store.KeyChanges{
				Create: []store.SigningKey{created(1, store.KeyActive, now)},
				Delete: []string{"rev"},
			},
			wantCalls: []keyCall{{store.KeyActive, now}},
		},
		{
			name:      "all revoked within retention, no next: a new active key now",
			keys:      []store.SigningKey{revokedKey("rev", old, now.Add(-time.Minute))},
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyActive, now)}},
			wantCalls: []keyCall{{store.KeyActive, now}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := p
			if tt.p != (Policy{}) {
				pol = tt.p
			}
			in := slices.Clone(tt.keys)
			gen := &fakeKeyGen{}
			got, err := plan(tt.keys, now, pol, gen.newKey)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			checkChanges(t, got, tt.want)
			if !reflect.DeepEqual(gen.calls, tt.wantCalls) {
				t.Errorf("newKey calls = %+v, want %+v", gen.calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(tt.keys, in) {
				t.Errorf("plan modified its input:\n got  %+v\n was  %+v", tt.keys, in)
			}
			// Idempotent: once applied, the same instant asks for nothing more.
			after := apply(t, tt.keys, got, now)
			again, err := plan(after, now, pol, gen.newKey)
			if err != nil || !empty(again) {
				t.Errorf("plan after applying = %+v, %v; want no changes", again, err)
			}
			if n := len(inState(after, store.KeyActive)); n != 1 {
				t.Errorf("%d active keys after applying, want 1: %+v", n, after)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// planRotate

func TestPlanRotate(t *testing.T) {
	now := t0.Add(10 * day)
	lead := testPolicy.PublishLead
	a := activeKey("a", now.Add(-5*day))
	n := nextKey("n", now.Add(-time.Hour), now.Add(time.Hour))

	tests := []struct {
		name      string
		keys      []store.SigningKey
		immediate bool
		want      store.KeyChanges
		wantCalls []keyCall
		wantSigns string // kid active after applying
	}{
		{
			name:      "scheduled, no next: a next key activating after the publish lead",
			keys:      []store.SigningKey{a},
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyNext, now.Add(lead))}},
			wantCalls: []keyCall{{store.KeyNext, now.Add(lead)}},
			wantSigns: "a",
		},
		{
			name:      "scheduled, next exists: no-op",
			keys:      []store.SigningKey{a, n},
			wantSigns: "a",
		},
		{
			name:      "scheduled, two next keys: no-op",
			keys:      []store.SigningKey{a, n, nextKey("n2", now, now.Add(3*time.Hour))},
			wantSigns: "a",
		},
		{
			name:      "immediate with next: the next signs now, the old key retires now",
			keys:      []store.SigningKey{a, n},
			immediate: true,
			want:      store.KeyChanges{Update: []store.SigningKey{activated(n, now), retiredAt(a, now)}},
			wantSigns: "n",
		},
		{
			name:      "immediate with two next keys: the earliest planned is promoted",
			keys:      []store.SigningKey{a, nextKey("n2", now, now.Add(3*time.Hour)), n},
			immediate: true,
			want:      store.KeyChanges{Update: []store.SigningKey{activated(n, now), retiredAt(a, now)}},
			wantSigns: "n",
		},
		{
			name:      "immediate without next: a new active key now, the old key retires now",
			keys:      []store.SigningKey{retiredKey("r", now.Add(-40*day), now.Add(-time.Minute)), a},
			immediate: true,
			want: store.KeyChanges{
				Create: []store.SigningKey{created(1, store.KeyActive, now)},
				Update: []store.SigningKey{retiredAt(a, now)},
			},
			wantCalls: []keyCall{{store.KeyActive, now}},
			wantSigns: "k1",
		},
		{
			name:      "immediate with no keys at all: a new active key",
			immediate: true,
			want:      store.KeyChanges{Create: []store.SigningKey{created(1, store.KeyActive, now)}},
			wantCalls: []keyCall{{store.KeyActive, now}},
			wantSigns: "k1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.keys)
			gen := &fakeKeyGen{}
			got, err := planRotate(tt.keys, now, testPolicy, tt.immediate, gen.newKey)
			if err != nil {
				t.Fatalf("planRotate: %v", err)
			}
			checkChanges(t, got, tt.want)
			if !reflect.DeepEqual(gen.calls, tt.wantCalls) {
				t.Errorf("newKey calls = %+v, want %+v", gen.calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(tt.keys, in) {
				t.Errorf("planRotate modified its input")
			}
			after := apply(t, tt.keys, got, now)
			act := inState(after, store.KeyActive)
			if len(act) != 1 || act[0].KID != tt.wantSigns {
				t.Errorf("active keys after applying = %+v, want only %s", act, tt.wantSigns)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// planRevoke

func TestPlanRevoke(t *testing.T) {
	now := t0.Add(10 * day)
	keep := testPolicy.RetainRetired
	a := activeKey("a", now.Add(-5*day))
	n := nextKey("n", now.Add(-time.Hour), now.Add(time.Hour))
	r := retiredKey("r", now.Add(-35*day), now.Add(-5*time.Minute))
	expired := retiredKey("x", now.Add(-65*day), now.Add(-keep-time.Hour))

	tests := []struct {
		name          string
		keys          []store.SigningKey
		kid           string
		want          store.KeyChanges
		wantCalls     []keyCall
		wantSigns     string   // kid active after applying
		wantPublished []string // JWKS after applying (non-revoked kids)
	}{
		{
			name:          "active with a published next: revoked now, the next signs now",
			keys:          []store.SigningKey{r, a, n},
			kid:           "a",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(a, now), activated(n, now)}},
			wantSigns:     "n",
			wantPublished: []string{"n", "r"},
		},
		{
			name:          "active without next: revoked now, a new key signs now",
			keys:          []store.SigningKey{r, a},
			kid:           "a",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(a, now)}, Create: []store.SigningKey{created(1, store.KeyActive, now)}},
			wantCalls:     []keyCall{{store.KeyActive, now}},
			wantSigns:     "k1",
			wantPublished: []string{"k1", "r"},
		},
		{
			name:          "active with two next keys: the earliest planned is promoted",
			keys:          []store.SigningKey{a, nextKey("n2", now, now.Add(5*time.Hour)), n},
			kid:           "a",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(a, now), activated(n, now)}},
			wantSigns:     "n",
			wantPublished: []string{"n", "n2"},
		},
		{
			name:          "active, expired retired key around: deletion is left to the scheduled step",
			keys:          []store.SigningKey{expired, a},
			kid:           "a",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(a, now)}, Create: []store.SigningKey{created(1, store.KeyActive, now)}},
			wantCalls:     []keyCall{{store.KeyActive, now}},
			wantSigns:     "k1",
			wantPublished: []string{"k1", "x"},
		},
		{
			name:          "active with a legacy second active key: the other one keeps signing",
			keys:          []store.SigningKey{activeKey("old", now.Add(-6*day)), a},
			kid:           "a",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(a, now)}},
			wantSigns:     "old",
			wantPublished: []string{"old"},
		},
		{
			name:          "next key: only it is revoked",
			keys:          []store.SigningKey{a, n},
			kid:           "n",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(n, now)}},
			wantSigns:     "a",
			wantPublished: []string{"a"},
		},
		{
			name:          "retired key: revoked, retention restarts now",
			keys:          []store.SigningKey{r, a},
			kid:           "r",
			want:          store.KeyChanges{Update: []store.SigningKey{revokedAt(r, now)}},
			wantSigns:     "a",
			wantPublished: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.keys)
			gen := &fakeKeyGen{}
			got, err := planRevoke(tt.keys, tt.kid, now, testPolicy, gen.newKey)
			if err != nil {
				t.Fatalf("planRevoke: %v", err)
			}
			checkChanges(t, got, tt.want)
			if !reflect.DeepEqual(gen.calls, tt.wantCalls) {
				t.Errorf("newKey calls = %+v, want %+v", gen.calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(tt.keys, in) {
				t.Errorf("planRevoke modified its input")
			}
			after := apply(t, tt.keys, got, now)
			if act := inState(after, store.KeyActive); len(act) != 1 || act[0].KID != tt.wantSigns {
				t.Errorf("active keys after applying = %+v, want only %s", act, tt.wantSigns)
			}
			if got := published(after); !slices.Equal(got, tt.wantPublished) {
				t.Errorf("published (JWKS) kids = %v, want %v", got, tt.wantPublished)
			}
			i := slices.IndexFunc(after, byKID(tt.kid))
			if rk := after[i]; rk.State != store.KeyRevoked || !rk.RetiredAt.Equal(now) {
				t.Errorf("revoked key = %+v, want state revoked, RetiredAt %v", rk, now)
			}

			// The revoked row stays (refused, not in the JWKS) for
			// RetainRetired, then the scheduled step deletes it.
			gen = &fakeKeyGen{n: 100}
			for _, tc := range []struct {
				at      time.Time
				deleted bool
			}{{now, false}, {now.Add(keep - time.Nanosecond), false}, {now.Add(keep), true}} {
				c, err := plan(after, tc.at, testPolicy, gen.newKey)
				if err != nil {
					t.Fatalf("plan at %v: %v", tc.at, err)
				}
				if got := slices.Contains(c.Delete, tt.kid); got != tc.deleted {
					t.Errorf("plan at revocation+%v deletes %s: %v, want %v (changes %+v)", tc.at.Sub(now), tt.kid, got, tc.deleted, c)
				}
			}
		})
	}
}

func TestPlanRevokeNotFound(t *testing.T) {
	now := t0.Add(10 * day)
	keys := []store.SigningKey{
		activeKey("a", now.Add(-day)),
		revokedKey("rev", now.Add(-40*day), now.Add(-time.Minute)),
	}
	for _, kid := range []string{"nope", "rev", ""} {
		t.Run(kid, func(t *testing.T) {
			gen := &fakeKeyGen{}
			c, err := planRevoke(keys, kid, now, testPolicy, gen.newKey)
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("planRevoke(%q) error = %v, want one wrapping store.ErrNotFound", kid, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", kid)) {
				t.Errorf("error %q does not name the kid", err)
			}
			if !empty(c) || len(gen.calls) != 0 {
				t.Errorf("changes %+v, newKey calls %v; want none", c, gen.calls)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// newKey errors

func TestNewKeyErrorsPropagate(t *testing.T) {
	now := t0.Add(100 * day)
	a := activeKey("a", now.Add(-5*day))
	due := activeKey("a", now.Add(-testPolicy.RotationInterval))
	n := nextKey("n", now.Add(-time.Hour), now.Add(time.Hour))
	tests := []struct {
		name    string
		run     func(newKeyFunc) (store.KeyChanges, error)
		wantErr bool
	}{
		{"plan bootstrap", func(f newKeyFunc) (store.KeyChanges, error) { return plan(nil, now, testPolicy, f) }, true},
		{"plan successor, with an expired key to delete", func(f newKeyFunc) (store.KeyChanges, error) {
			return plan([]store.SigningKey{retiredKey("x", now.Add(-60*day), now.Add(-day)), due}, now, testPolicy, f)
		}, true},
		{"plan with nothing to create", func(f newKeyFunc) (store.KeyChanges, error) {
			return plan([]store.SigningKey{a}, now, testPolicy, f)
		}, false},
		{"planRotate scheduled", func(f newKeyFunc) (store.KeyChanges, error) {
			return planRotate([]store.SigningKey{a}, now, testPolicy, false, f)
		}, true},
		{"planRotate immediate without next", func(f newKeyFunc) (store.KeyChanges, error) {
			return planRotate([]store.SigningKey{a}, now, testPolicy, true, f)
		}, true},
		{"planRotate immediate with next", func(f newKeyFunc) (store.KeyChanges, error) {
			return planRotate([]store.SigningKey{a, n}, now, testPolicy, true, f)
		}, false},
		{"planRevoke active without next", func(f newKeyFunc) (store.KeyChanges, error) {
			return planRevoke([]store.SigningKey{a}, "a", now, testPolicy, f)
		}, true},
		{"planRevoke active with next", func(f newKeyFunc) (store.KeyChanges, error) {
			return planRevoke([]store.SigningKey{a, n}, "a", now, testPolicy, f)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := &fakeKeyGen{err: errBoom}
			c, err := tt.run(gen.newKey)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("unexpected error %v (no key was needed)", err)
				}
				return
			}
			if !errors.Is(err, errBoom) {
				t.Fatalf("error = %v, want the newKey error", err)
			}
			if !empty(c) {
				t.Errorf("changes on error = %+v, want none (nothing half-applied)", c)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Simulated time

// lifecycle checks the state machine's invariants over a run of steps.
type lifecycle struct {
	p           Policy
	maxStep     time.Duration
	nextSince   map[string]time.Time // when each key was published as next
	retiredAt   map[string]time.Time // when each key was retired or revoked
	activations []time.Time          // when each key started signing (by plan)
	createdAct  int                  // keys created directly in state active
}

func newLifecycle(p Policy, maxStep time.Duration) *lifecycle {
	return &lifecycle{p: p, maxStep: maxStep, nextSince: map[string]time.Time{}, retiredAt: map[string]time.Time{}}
}

// observe checks one transition prev → cur at now. byPlan: the change came
// from the scheduled step (plan), not from an operator (planRotate,
// planRevoke: emergency paths, exempt from the publish lead).
func (l *lifecycle) observe(t *testing.T, prev, cur []store.SigningKey, now time.Time, byPlan bool, what string) {
	t.Helper()
	at := fmt.Sprintf("%s at t0+%v", what, now.Sub(t0))
	prevM := map[string]store.SigningKey{}
	for _, k := range prev {
		prevM[k.KID] = k
	}
	prevActive := len(inState(prev, store.KeyActive))
	newlyActive := 0
	for _, k := range cur {
		old, existed := prevM[k.KID]
		if existed && old.State == store.KeyActive || k.State != store.KeyActive {
			continue
		}
		newlyActive++
		if !k.ActivatedAt.Equal(now) {
			t.Fatalf("%s: %s became active with ActivatedAt %v, want now", at, k.KID, k.ActivatedAt)
		}
	}
	for _, k := range cur {
		old, existed := prevM[k.KID]
		delete(prevM, k.KID)
		switch {
		case !existed:
			switch k.State {
			case store.KeyNext:
				l.nextSince[k.KID] = now
				if d := k.ActivatedAt.Sub(now); d < l.p.PublishLead {
					t.Fatalf("%s: next key %s planned to sign %v after publication, less than the lead %v", at, k.KID, d, l.p.PublishLead)
				}
			case store.KeyActive:
				l.createdAct++
				if byPlan && prevActive > 0 {
					t.Fatalf("%s: scheduled step created active key %s unpublished while a key was signing", at, k.KID)
				}
				if byPlan {
					l.activations = append(l.activations, now)
				}
			default:
				t.Fatalf("%s: key %s created in state %s", at, k.KID, k.State)
			}
		case old.State == k.State:
			if !reflect.DeepEqual(old, k) {
				t.Fatalf("%s: key %s changed without a state change:\n was %+v\n now %+v", at, k.KID, old, k)
			}
		case old.State == store.KeyNext && k.State == store.KeyActive:
			if byPlan && prevActive > 0 {
				if since := now.Sub(l.nextSince[k.KID]); since < l.p.PublishLead {
					t.Fatalf("%s: %s signs after being published only %v (lead %v)", at, k.KID, since, l.p.PublishLead)
				}
				if now.Before(old.ActivatedAt) || now.Sub(old.ActivatedAt) >= l.maxStep {
					t.Fatalf("%s: %s activated at %v, not within one step after its planned %v", at, k.KID, now, old.ActivatedAt)
				}
			}
			if byPlan {
				l.activations = append(l.activations, now)
			}
		case (old.State == store.KeyActive || old.State == store.KeyNext || old.State == store.KeyRetired) && k.State == store.KeyRevoked,
			old.State == store.KeyActive && k.State == store.KeyRetired:
			if !k.RetiredAt.Equal(now) {
				t.Fatalf("%s: %s %s with RetiredAt %v, want now", at, k.KID, k.State, k.RetiredAt)
			}
			if k.State == store.KeyRetired && newlyActive == 0 {
				t.Fatalf("%s: %s retired without a successor starting to sign", at, k.KID)
			}
			l.retiredAt[k.KID] = now
		default:
			t.Fatalf("%s: key %s went %s → %s", at, k.KID, old.State, k.State)
		}
	}
	for kid, old := range prevM { // deleted
		if old.State != store.KeyRetired && old.State != store.KeyRevoked {
			t.Fatalf("%s: %s deleted in state %s", at, kid, old.State)
		}
		if !byPlan {
			t.Fatalf("%s: operator action deleted %s", at, kid)
		}
		since := now.Sub(l.retiredAt[kid])
		if since < l.p.RetainRetired || since >= l.p.RetainRetired+l.maxStep {
			t.Fatalf("%s: %s deleted %v after retirement, want within one step after %v", at, kid, since, l.p.RetainRetired)
		}
	}

	// State invariants.
	if n := len(inState(cur, store.KeyActive)); n != 1 {
		t.Fatalf("%s: %d active keys, want exactly 1: %+v", at, n, cur)
	}
	if n := len(inState(cur, store.KeyNext)); n > 1 {
		t.Fatalf("%s: %d next keys, want at most 1: %+v", at, n, cur)
	}
	if pub := published(cur); len(pub) > 3 {
		t.Fatalf("%s: %d published keys %v, want at most 3", at, len(pub), pub)
	}
	for _, k := range cur {
		if k.State == store.KeyRetired || k.State == store.KeyRevoked {
			if d := now.Sub(k.RetiredAt); d >= l.p.RetainRetired {
				t.Fatalf("%s: %s still stored %v after retirement (retention %v)", at, k.KID, d, l.p.RetainRetired)
			}
		}
		if byPlan && k.State == store.KeyNext && !now.Before(k.ActivatedAt) {
			t.Fatalf("%s: next key %s was due at t0+%v but the scheduled step did not activate it", at, k.KID, k.ActivatedAt.Sub(t0))
		}
	}
}

// simOp is an operator action during a simulation, run after the scheduled
// step at the first step at or after t0+at.
type simOp struct {
	at    time.Duration
	name  string
	run   func(keys []store.SigningKey, now time.Time, p Policy, f newKeyFunc) (store.KeyChanges, error)
	check func(t *testing.T, before []store.SigningKey, c store.KeyChanges, err error, now time.Time)
}

type simResult struct {
	l    *lifecycle
	gen  *fakeKeyGen
	keys []store.SigningKey
}

// simulate starts from no keys at start and runs plan (then any due ops) at
// every step until end, checking the invariants and idempotence each time.
func simulate(t *testing.T, p Policy, start, end time.Time, steps []time.Duration, ops []simOp) simResult {
	t.Helper()
	maxStep := slices.Max(steps)
	l := newLifecycle(p, maxStep)
	gen := &fakeKeyGen{}
	var keys []store.SigningKey
	now := start
	for i := 0; !now.After(end); i++ {
		in := slices.Clone(keys)
		c, err := plan(keys, now, p, gen.newKey)
		if err != nil {
			t.Fatalf("plan at t0+%v: %v", now.Sub(t0), err)
		}
		if !reflect.DeepEqual(keys, in) {
			t.Fatalf("plan at t0+%v modified its input", now.Sub(t0))
		}
		after := apply(t, keys, c, now)
		l.observe(t, keys, after, now, true, "tick")
		keys = after

		calls := len(gen.calls)
		again, err := plan(keys, now, p, gen.newKey)
		if err != nil || !empty(again) || len(gen.calls) != calls {
			t.Fatalf("plan not idempotent at t0+%v: second call gave %+v, %v (keys %+v)", now.Sub(t0), again, err, keys)
		}

		for len(ops) > 0 && !now.Before(t0.Add(ops[0].at)) {
			op := ops[0]
			ops = ops[1:]
			c, err := op.run(keys, now, p, gen.newKey)
			op.check(t, keys, c, err, now)
			if err != nil {
				continue
			}
			after := apply(t, keys, c, now)
			l.observe(t, keys, after, now, false, op.name)
			keys = after
		}
		now = now.Add(steps[i%len(steps)])
	}
	if len(ops) > 0 {
		t.Fatalf("%d operator actions not run", len(ops))
	}
	return simResult{l: l, gen: gen, keys: keys}
}

func TestPlanSimulation(t *testing.T) {
	tests := []struct {
		name   string
		p      Policy
		start  time.Time
		length time.Duration
		steps  []time.Duration
		// wantKeys is how many keys are made over the run (0: don't check).
		wantKeys int
		// exact: every rotation exactly RotationInterval after the previous one.
		exact bool
	}{
		{"30d/2h/16m every 10 min", testPolicy, t0, 100 * day, []time.Duration{10 * time.Minute}, 4, true},
		{"every 7 min from an odd start", testPolicy, t0.Add(3*time.Minute + 17*time.Second), 100 * day, []time.Duration{7 * time.Minute}, 4, false},
		{"irregular ticks", testPolicy, t0, 100 * day, []time.Duration{time.Minute, 10 * time.Minute, 3 * time.Minute, 17 * time.Minute, 9 * time.Minute}, 4, false},
		{"hourly ticks, 3 h retention", Policy{30 * day, 2 * time.Hour, 3 * time.Hour}, t0, 100 * day, []time.Duration{time.Hour}, 4, true},
		{"default check interval (1 min)", testPolicy, t0, 65 * day, []time.Duration{time.Minute}, 3, true},
		{"short interval 3 h", Policy{3 * time.Hour, 2 * time.Hour, 16 * time.Minute}, t0, 5 * day, []time.Duration{10 * time.Minute}, 41, true},
		{"RotationInterval 0: only bootstrap", Policy{0, 2 * time.Hour, 16 * time.Minute}, t0, 100 * day, []time.Duration{10 * time.Minute}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); err != nil {
				t.Fatalf("policy: %v", err)
			}
			end := tt.start.Add(tt.length)
			res := simulate(t, tt.p, tt.start, end, tt.steps, nil)
			l, gen := res.l, res.gen
			maxStep := slices.Max(tt.steps)

			if l.createdAct != 1 {
				t.Errorf("%d keys created directly active, want only the first", l.createdAct)
			}
			if len(gen.calls) == 0 || gen.calls[0] != (keyCall{store.KeyActive, tt.start}) {
				t.Fatalf("first newKey call = %+v, want active at the start", gen.calls)
			}
			for _, c := range gen.calls[1:] {
				if c.state != store.KeyNext {
					t.Errorf("later newKey call %+v, want only next keys", c)
				}
			}
			if tt.wantKeys > 0 && gen.n != tt.wantKeys {
				t.Errorf("%d keys made, want %d", gen.n, tt.wantKeys)
			}

			acts := l.activations
			if tt.p.RotationInterval == 0 {
				if len(acts) != 1 || len(res.keys) != 1 || res.keys[0].KID != "k1" {
					t.Errorf("without rotation: activations %v, keys %+v; want k1 alone", acts, res.keys)
				}
				return
			}
			for i := 1; i < len(acts); i++ {
				gap := acts[i].Sub(acts[i-1])
				if tt.exact && gap != tt.p.RotationInterval {
					t.Errorf("rotation %d after %v, want exactly %v", i, gap, tt.p.RotationInterval)
				}
				// Publication waits for a tick (≤ 1 step late), activation
				// for another (≤ 1 step late).
				if gap < tt.p.RotationInterval || gap >= tt.p.RotationInterval+2*maxStep {
					t.Errorf("rotation %d after %v, want within [%v, %v)", i, gap, tt.p.RotationInterval, tt.p.RotationInterval+2*maxStep)
				}
			}
			if since := end.Sub(acts[len(acts)-1]); since >= tt.p.RotationInterval+2*maxStep {
				t.Errorf("last rotation %v before the end: rotation stopped", since)
			}
		})
	}
}

// TestPlanSimulationOutage: ticks stop for longer than the rotation interval;
// on resumption the overdue key is not switched unpublished: the successor
// is published first and signs after the full lead.
func TestPlanSimulationOutage(t *testing.T) {
	p := testPolicy
	l := newLifecycle(p, 45*day)
	gen := &fakeKeyGen{}
	var keys []store.SigningKey
	tick := func(now time.Time) store.KeyChanges {
		t.Helper()
		c, err := plan(keys, now, p, gen.newKey)
		if err != nil {
			t.Fatal(err)
		}
		after := apply(t, keys, c, now)
		l.observe(t, keys, after, now, true, "tick")
		keys = after
		return c
	}
	tick(t0)
	back := t0.Add(45 * day)
	c := tick(back)
	if len(c.Create) != 1 || c.Create[0].State != store.KeyNext || !c.Create[0].ActivatedAt.Equal(back.Add(p.PublishLead)) || len(c.Update) != 0 {
		t.Fatalf("first tick after the outage = %+v, want only a next key activating at +lead", c)
	}
	tick(back.Add(p.PublishLead - time.Minute))
	if k := inState(keys, store.KeyActive); k[0].KID != "k1" {
		t.Fatalf("switched before the lead: %+v", keys)
	}
	tick(back.Add(p.PublishLead))
	if k := inState(keys, store.KeyActive); k[0].KID != "k2" {
		t.Fatalf("not switched after the lead: %+v", keys)
	}
}

// TestPlanSimulationWithOperators mixes operator rotations and revocations
// into the scheduled steps and checks the invariants throughout.
func TestPlanSimulationWithOperators(t *testing.T) {
	rotate := func(immediate bool) func([]store.SigningKey, time.Time, Policy, newKeyFunc) (store.KeyChanges, error) {
		return func(keys []store.SigningKey, now time.Time, p Policy, f newKeyFunc) (store.KeyChanges, error) {
			return planRotate(keys, now, p, immediate, f)
		}
	}
	revoke := func(pick func([]store.SigningKey) string) func([]store.SigningKey, time.Time, Policy, newKeyFunc) (store.KeyChanges, error) {
		return func(keys []store.SigningKey, now time.Time, p Policy, f newKeyFunc) (store.KeyChanges, error) {
			return planRevoke(keys, pick(keys), now, p, f)
		}
	}
	the := func(s store.KeyState) func([]store.SigningKey) string {
		return func(keys []store.SigningKey) string {
			if k := inState(keys, s); len(k) > 0 {
				return k[0].KID
			}
			return "none in state " + string(s)
		}
	}
	kid := func(s string) func([]store.SigningKey) string { return func([]store.SigningKey) string { return s } }
	ok := func(creates, updates int) func(*testing.T, []store.SigningKey, store.KeyChanges, error, time.Time) {
		return func(t *testing.T, _ []store.SigningKey, c store.KeyChanges, err error, now time.Time) {
			t.Helper()
			if err != nil || len(c.Create) != creates || len(c.Update) != updates || len(c.Delete) != 0 {
				t.Fatalf("at t0+%v: changes %+v, %v; want %d creates, %d updates", now.Sub(t0), c, err, creates, updates)
			}
		}
	}
	notFound := func(t *testing.T, _ []store.SigningKey, c store.KeyChanges, err error, now time.Time) {
		t.Helper()
		if !errors.Is(err, store.ErrNotFound) || !empty(c) {
			t.Fatalf("at t0+%v: %+v, %v; want ErrNotFound", now.Sub(t0), c, err)
		}
	}
	h := time.Hour
	ops := []simOp{
		{5 * day, "scheduled rotate", rotate(false), ok(1, 0)},
		{5*day + h, "scheduled rotate again (no-op)", rotate(false), ok(0, 0)},
		{12 * day, "immediate rotate, no next", rotate(true), ok(1, 1)},
		{20 * day, "scheduled rotate", rotate(false), ok(1, 0)},
		{20*day + 30*time.Minute, "immediate rotate with next", rotate(true), ok(0, 2)},
		{40 * day, "revoke active, no next", revoke(the(store.KeyActive)), ok(1, 1)},
		{50 * day, "scheduled rotate", rotate(false), ok(1, 0)},
		{50*day + h, "revoke active with next", revoke(the(store.KeyActive)), ok(0, 2)},
		{60 * day, "scheduled rotate", rotate(false), ok(1, 0)},
		{60*day + 30*time.Minute, "revoke next", revoke(the(store.KeyNext)), ok(0, 1)},
		{60*day + 40*time.Minute, "revoke revoked", revoke(the(store.KeyRevoked)), notFound},
		{60*day + 40*time.Minute, "revoke unknown", revoke(kid("nope")), notFound},
		{70 * day, "immediate rotate, no next", rotate(true), ok(1, 1)},
		{70*day + 10*time.Minute, "revoke retired", revoke(the(store.KeyRetired)), ok(0, 1)},
	}
	tests := []struct {
		name string
		p    Policy
	}{
		{"30d rotation", testPolicy},
		// Manual rotation only: the operator's scheduled rotations must
		// still take over after the lead.
		{"RotationInterval 0", Policy{0, 2 * time.Hour, 16 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			simulate(t, tt.p, t0, t0.Add(100*day), []time.Duration{10 * time.Minute}, slices.Clone(ops))
		})
	}
}

// TestPlanManualRotationWithoutAutomaticRotation: with RotationInterval 0
// ("only manual rotation") a scheduled (non-immediate) rotation publishes a
// next key; the scheduled step must switch to it once its publish lead has
// passed, as planRotate's documentation promises.
func TestPlanManualRotationWithoutAutomaticRotation(t *testing.T) {
	p := Policy{RotationInterval: 0, PublishLead: 2 * time.Hour, RetainRetired: 16 * time.Minute}
	gen := &fakeKeyGen{}
	keys := apply(t, nil, must(plan(nil, t0, p, gen.newKey)), t0)
	rot := t0.Add(3 * day)
	keys = apply(t, keys, must(planRotate(keys, rot, p, false, gen.newKey)), rot)
	var switched time.Time
	for now := rot; now.Before(rot.Add(day)); now = now.Add(10 * time.Minute) {
		c := must(plan(keys, now, p, gen.newKey))
		keys = apply(t, keys, c, now)
		if a := inState(keys, store.KeyActive); switched.IsZero() && len(a) == 1 && a[0].KID == "k2" {
			switched = now
		}
	}
	if !switched.Equal(rot.Add(p.PublishLead)) {
		t.Errorf("BUG in plan: with RotationInterval 0 (manual rotation only) the next key published by "+
			"planRotate(immediate=false) at t0+%v, planned to sign at t0+%v, was never activated (switched at %v); "+
			"keys a day later: %+v. plan returns early on RotationInterval <= 0 before its \"next key due\" case, "+
			"so a scheduled manual rotation stays next forever and re-running it reports \"already scheduled\"",
			rot.Sub(t0), rot.Add(p.PublishLead).Sub(t0), switched, keys)
	}
}

func must(c store.KeyChanges, err error) store.KeyChanges {
	if err != nil {
		panic(err)
	}
	return c
}
