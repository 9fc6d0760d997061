package gatehouse

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

func TestRevocationsRefuse(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	later := timestamppb.New(now.Add(time.Hour))
	ev := func(kind gatehousev1.RevocationEvent_Kind, id string) *gatehousev1.RevocationEvent {
		return &gatehousev1.RevocationEvent{Kind: kind, Id: id, ExpireTime: later}
	}
	token := claims{Subject: "acct", ID: "jti", SessionID: "sid", IssuedAt: now.Unix()}
	cases := []struct {
		name   string
		events []*gatehousev1.RevocationEvent
		want   bool
	}{
		{"nothing", nil, false},
		{"its jti", []*gatehousev1.RevocationEvent{ev(gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED, "jti")}, true},
		{"another jti", []*gatehousev1.RevocationEvent{ev(gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED, "other")}, false},
		{"its session", []*gatehousev1.RevocationEvent{ev(gatehousev1.RevocationEvent_KIND_SESSION_REVOKED, "sid")}, true},
		{"its key", []*gatehousev1.RevocationEvent{ev(gatehousev1.RevocationEvent_KIND_KEY_REVOKED, "kid")}, true},
		{"account disabled", []*gatehousev1.RevocationEvent{ev(gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED, "acct")}, true},
		{"disabled then enabled", []*gatehousev1.RevocationEvent{
			ev(gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED, "acct"), ev(gatehousev1.RevocationEvent_KIND_ACCOUNT_ENABLED, "acct")}, false},
		{"account deleted", []*gatehousev1.RevocationEvent{ev(gatehousev1.RevocationEvent_KIND_ACCOUNT_DELETED, "acct")}, true},
		{"subject cut-off at iat", []*gatehousev1.RevocationEvent{{Kind: gatehousev1.RevocationEvent_KIND_SUBJECT_REVOKED, Id: "acct", ExpireTime: later, RevokedBefore: timestamppb.New(now)}}, true},
		{"subject cut-off before iat", []*gatehousev1.RevocationEvent{{Kind: gatehousev1.RevocationEvent_KIND_SUBJECT_REVOKED, Id: "acct", ExpireTime: later, RevokedBefore: timestamppb.New(now.Add(-time.Second))}}, false},
		{"reset drops earlier state", []*gatehousev1.RevocationEvent{
			ev(gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED, "jti"), {Kind: gatehousev1.RevocationEvent_KIND_SNAPSHOT_END, Reset_: true, Cursor: "c"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRevocations()
			for _, e := range tc.events {
				r.apply(e, false, now)
			}
			if got := r.revoked(&token, "kid") != ""; got != tc.want {
				t.Fatalf("revoked = %v, want %v", got, tc.want)
			}
			// A token shaped by a claim profile (sub = username) names its
			// account in uid: the same events apply to it.
			profiled := token
			profiled.Subject, profiled.AccountID = "alice", "acct"
			if got := r.revoked(&profiled, "kid") != ""; got != tc.want {
				t.Fatalf("profiled token: revoked = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRevocationsCurrent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := newRevocations()
	if r.current(now, time.Minute) {
		t.Fatal("current before any event")
	}
	r.apply(&gatehousev1.RevocationEvent{Kind: gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED, Id: "a", Reset_: true}, false, now)
	if r.current(now, time.Minute) {
		t.Fatal("current in the middle of a snapshot")
	}
	r.apply(&gatehousev1.RevocationEvent{Kind: gatehousev1.RevocationEvent_KIND_SNAPSHOT_END, Cursor: "c1"}, false, now)
	if !r.current(now, time.Minute) || r.resumeCursor() != "c1" {
		t.Fatal("not current after the snapshot")
	}
	if r.current(now.Add(2*time.Minute), time.Minute) {
		t.Fatal("still current after a silence longer than staleAfter")
	}
	r.apply(&gatehousev1.RevocationEvent{Kind: gatehousev1.RevocationEvent_KIND_HEARTBEAT, Cursor: "c2"}, false, now.Add(2*time.Minute))
	if !r.current(now.Add(2*time.Minute), time.Minute) || r.resumeCursor() != "c2" {
		t.Fatal("a heartbeat did not make the state current")
	}
}
