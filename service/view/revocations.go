package view

import (
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// revocations are the token revocations read from the change log. Entries
// live as long as change-log rows (longer than any access token), and a
// replica that starts later reads them from the retained log.
type revocations struct {
	jtis     map[string]time.Time
	families map[string]time.Time
	// subjects maps an account to the moment all its tokens were revoked:
	// tokens issued at or before it are refused.
	subjects map[string]time.Time
}

func newRevocations() revocations {
	return revocations{
		jtis:     make(map[string]time.Time),
		families: make(map[string]time.Time),
		subjects: make(map[string]time.Time),
	}
}

func (r revocations) apply(c store.Change) {
	switch c.Kind {
	case store.ChangeRevokeJTI:
		r.jtis[c.Subject] = c.CreatedAt
	case store.ChangeRevokeFamily:
		r.families[c.Subject] = c.CreatedAt
	case store.ChangeRevokeSubject:
		if c.CreatedAt.After(r.subjects[c.Subject]) {
			r.subjects[c.Subject] = c.CreatedAt
		}
	}
}

// covers reports whether a token with these claims is revoked. iat has
// second precision, so a token issued in the same second as a revoke-all is
// refused too (the safe side).
func (r revocations) covers(jti, session, subject string, issuedAt time.Time) bool {
	if _, ok := r.jtis[jti]; ok && jti != "" {
		return true
	}
	if _, ok := r.families[session]; ok && session != "" {
		return true
	}
	cutoff, ok := r.subjects[subject]
	return ok && !issuedAt.After(cutoff.Truncate(time.Second))
}

func (r revocations) prune(cutoff time.Time) {
	for _, m := range []map[string]time.Time{r.jtis, r.families, r.subjects} {
		for k, at := range m {
			if at.Before(cutoff) {
				delete(m, k)
			}
		}
	}
}
