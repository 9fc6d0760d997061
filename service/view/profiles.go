package view

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// profiles are the claim profiles by audience. The map is replaced whole,
// never changed, so readers need no lock: profiles are few and change
// rarely, and every change reloads them all.
type profiles = map[string]store.ClaimProfile

// ClaimProfile returns the claim profile of an audience, if it has one.
// Token issuance reads it here rather than from the database.
func (v *View) ClaimProfile(audience string) (store.ClaimProfile, bool) {
	m := v.profiles.Load()
	if m == nil {
		return store.ClaimProfile{}, false
	}
	p, ok := (*m)[audience]
	return p, ok
}

// loadProfiles reads every claim profile and swaps them in.
func (v *View) loadProfiles(ctx context.Context) error {
	list, err := v.store.ClaimProfiles(ctx)
	if err != nil {
		return fmt.Errorf("load claim profiles: %w", err)
	}
	m := make(profiles, len(list))
	for _, p := range list {
		m[p.Audience] = p
	}
	v.profiles.Store(&m)
	return nil
}
