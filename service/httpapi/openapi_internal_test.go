package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/gen/openapi"
)

// TestAPIDocAllowed: a path's methods come from every template it fits;
// variables take one whole segment, a :verb only the last segment's tail.
func TestAPIDocAllowed(t *testing.T) {
	doc, err := loadAPIDoc("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/v1/token", []string{"POST"}},
		{"/v1/token:validate", []string{"POST"}},
		{"/v1/admin/users", []string{"GET", "POST"}},
		{"/v1/admin/users/abc", []string{"DELETE", "GET", "PATCH"}},
		{"/v1/admin/users/abc:disable", []string{"DELETE", "GET", "PATCH", "POST"}}, // {id} also takes "abc:disable"
		{"/v1/admin/users/:disable", []string{"DELETE", "GET", "PATCH"}},            // no id before the verb
		{"/v1/admin/keys:rotate", []string{"POST"}},
		{"/v1/admin/keys/k1:revoke", []string{"POST"}},
		{"/v1/admin/keys/k1:rotate", nil},
		{"/v1/admin/accounts/a1/sessions:revokeAll", []string{"POST"}},
		{"/v1/admin/users/", nil}, // an empty variable
		{"/v1/admin/users/a/b", nil},
		{"/v1/admin", nil},
		{"/", []string{"GET"}},
		{"", []string{"GET"}},
		{"/nope", nil},
		{"//", nil},
	} {
		r := httptest.NewRequest("PUT", "/", nil)
		r.URL.Path = c.path
		if got := doc.allowed(r); !slices.Equal(got, c.want) {
			t.Errorf("allowed(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

// TestAPIDocBody: the served document is the embedded one with the build
// version in info.version and nothing else changed.
func TestAPIDocBody(t *testing.T) {
	doc, err := loadAPIDoc("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	var served, embedded map[string]any
	if err := json.Unmarshal(doc.body, &served); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(openapi.JSON, &embedded); err != nil {
		t.Fatal(err)
	}
	if v := served["info"].(map[string]any)["version"]; v != "1.2.3" {
		t.Errorf("info.version = %v, want 1.2.3", v)
	}
	embedded["info"].(map[string]any)["version"] = "1.2.3"
	a, _ := json.Marshal(served)
	b, _ := json.Marshal(embedded)
	if string(a) != string(b) {
		t.Error("the served document differs from the embedded one beyond info.version")
	}
}

// FuzzAPIDocAllowed: any path gets a sorted list of the document's methods
// without duplicates; nothing panics.
func FuzzAPIDocAllowed(f *testing.F) {
	doc, err := loadAPIDoc("x")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"/v1/admin/users/a:disable", "/", "", "::", "/v1/token:", "/{id}", "/v1/admin/keys/}:revoke"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r := httptest.NewRequest("PUT", "/", nil)
		r.URL.Path = path
		got := doc.allowed(r)
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("allowed(%q) = %q: not sorted or repeated", path, got)
		}
		for _, m := range got {
			if m != strings.ToUpper(m) || m == "" {
				t.Fatalf("allowed(%q) has %q", path, m)
			}
		}
	})
}
