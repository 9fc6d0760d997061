package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func TestClaimProfilesRoundTrip(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := openAuditStore(t, b)
			airflow := store.ClaimProfile{
				Audience: "https://airflow.example.com", Subject: "username", Builtin: "airflow",
				Claims: []store.ProfileClaim{
					{Name: "role", Source: "role", RoleOrder: []string{"Admin", "Op", "User", "Viewer", "Public"}},
					{Name: "tenant", Source: "constant", Value: "acme"},
				},
				VisibleRoles: []string{"Admin", "Viewer"},
			}
			long := store.ClaimProfile{Audience: strings.Repeat("é", 200), Subject: "id"}
			steps := []struct {
				name        string
				in          store.ClaimProfile
				wantCreated bool
			}{
				{"create", airflow, true},
				{"create without claims", long, true},
				{"replace", store.ClaimProfile{Audience: airflow.Audience, Subject: "id", Claims: []store.ProfileClaim{{Name: "mail", Source: "email"}}}, false},
			}
			before, err := s.LastChangeSeq(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range steps {
				s.advance(time.Minute)
				out, created, err := s.PutClaimProfile(ctx, st.in)
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if created != st.wantCreated {
					t.Errorf("%s: created = %v, want %v", st.name, created, st.wantCreated)
				}
				got, err := s.ClaimProfile(ctx, st.in.Audience)
				if err != nil {
					t.Fatalf("%s: get: %v", st.name, err)
				}
				if !got.CreatedAt.Equal(out.CreatedAt) || !got.UpdatedAt.Equal(out.UpdatedAt) {
					t.Errorf("%s: times %v/%v, Put said %v/%v", st.name, got.CreatedAt, got.UpdatedAt, out.CreatedAt, out.UpdatedAt)
				}
				if got.Subject != st.in.Subject || got.Builtin != st.in.Builtin || len(got.Claims) != len(st.in.Claims) ||
					!slices.Equal(got.VisibleRoles, nonNil(st.in.VisibleRoles)) {
					t.Errorf("%s: got %+v, want %+v", st.name, got, st.in)
				}
				for i, c := range st.in.Claims {
					if g := got.Claims[i]; g.Name != c.Name || g.Source != c.Source || g.Value != c.Value || !slices.Equal(g.RoleOrder, c.RoleOrder) {
						t.Errorf("%s: claim %d = %+v, want %+v", st.name, i, g, c)
					}
				}
				if !st.wantCreated && !got.UpdatedAt.After(got.CreatedAt) {
					t.Errorf("%s: replacing kept updated_at %v (created %v)", st.name, got.UpdatedAt, got.CreatedAt)
				}
			}
			list, err := s.ClaimProfiles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].Audience != airflow.Audience {
				t.Fatalf("list = %+v, want 2 ordered by audience", list)
			}
			if err := s.DeleteClaimProfile(ctx, airflow.Audience); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteClaimProfile(ctx, airflow.Audience); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("second delete: %v, want ErrNotFound", err)
			}
			if _, err := s.ClaimProfile(ctx, airflow.Audience); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("get after delete: %v, want ErrNotFound", err)
			}
			// Every write told the replicas: three puts and one delete.
			changes, err := s.ChangesAfter(ctx, before, 100)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for _, c := range changes {
				if c.Kind == store.ChangeProfile {
					n++
					if len(c.Subject) > 128 {
						t.Errorf("change subject is %d bytes", len(c.Subject))
					}
				}
			}
			if n != 4 {
				t.Errorf("%d claim-profile changes, want 4", n)
			}
		})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
