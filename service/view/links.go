package view

import (
	"context"
	"strconv"

	"github.com/gatehouse/gatehouse/store"
)

// links is the view's copy of the federated-link table: which local account
// a trusted issuer's stable subject stands for. Keys are compared exactly:
// subjects are opaque identifiers, never folded.
type links struct {
	byKey map[string]string // issuer id \x00 subject → account id
	byID  map[int64]string  // link id → key, to apply deletions
}

func newLinks() links {
	return links{byKey: make(map[string]string), byID: make(map[int64]string)}
}

func linkKey(issuerID, subject string) string { return issuerID + "\x00" + subject }

func (l links) put(fl store.FederatedLink) {
	k := linkKey(fl.IssuerID, fl.Subject)
	l.byKey[k] = fl.AccountID
	l.byID[fl.ID] = k
}

func (l links) remove(id int64) {
	if k, ok := l.byID[id]; ok {
		delete(l.byKey, k)
		delete(l.byID, id)
	}
}

// LinkedAccount returns the account linked to (issuerID, subject), if the
// link exists and its account is present in the view.
func (v *View) LinkedAccount(issuerID, subject string) (string, Account, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.links.byKey[linkKey(issuerID, subject)]
	if !ok {
		return "", Account{}, false
	}
	a := v.accounts[id]
	if a == nil {
		return "", Account{}, false
	}
	return id, *a, true
}

func (v *View) loadLinks(ctx context.Context) (links, error) {
	all, err := v.store.FederatedLinks(ctx, "")
	if err != nil {
		return links{}, err
	}
	l := newLinks()
	for _, fl := range all {
		l.put(fl)
	}
	return l, nil
}

// refreshLink applies one link change: re-read, or drop when deleted.
func (v *View) refreshLink(ctx context.Context, subject string) error {
	id, err := strconv.ParseInt(subject, 10, 64)
	if err != nil {
		return nil // not a link id: nothing to apply
	}
	fl, err := v.store.FederatedLinkByID(ctx, id)
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case err == nil:
		v.links.remove(id)
		v.links.put(fl)
	case isNotFound(err):
		v.links.remove(id)
	default:
		return err
	}
	return nil
}
