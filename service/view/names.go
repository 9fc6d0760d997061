package view

import "strings"

// nameIndex finds accounts by their unique names, for mapping identities of
// federated tokens to local accounts without a database read.
type nameIndex map[string]string // "field\x00value" → account id

func newNameIndex() nameIndex { return make(nameIndex) }

func nameKey(field, value string) string {
	if field != "client_id" {
		value = strings.ToLower(value)
	}
	return field + "\x00" + value
}

func (n nameIndex) put(id string, a *Account) {
	for field, value := range a.names() {
		n[nameKey(field, value)] = id
	}
}

func (n nameIndex) remove(id string, a *Account) {
	for field, value := range a.names() {
		if k := nameKey(field, value); n[k] == id {
			delete(n, k)
		}
	}
}

func (n nameIndex) get(field, value string) (string, bool) {
	id, ok := n[nameKey(field, value)]
	return id, ok
}

func (a *Account) names() map[string]string {
	out := make(map[string]string, 3)
	if a.Username != "" {
		out["username"] = a.Username
	}
	if a.Email != "" {
		out["email"] = a.Email
	}
	if a.ClientID != "" {
		out["client_id"] = a.ClientID
	}
	return out
}
