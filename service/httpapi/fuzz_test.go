package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/service/errs"
)

// FuzzDecodeAuthTokenRequest: any body either decodes or yields an
// InvalidArgument error; nothing panics.
func FuzzDecodeAuthTokenRequest(f *testing.F) {
	for _, seed := range []string{
		`{"username":"alice","password":"pw"}`,
		`{"grant_type":"client_credentials","client_id":"c","client_secret":"s"}`,
		`{"username":`, `[]`, `null`, `{"a":1}`, "{\"username\":\"\xff\"}", `{}{}`, ``,
		`{"username":"\u0000"}`, `{"username":1e999}`,
	} {
		f.Add(seed, "application/json")
	}
	f.Add(`username=a`, "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/auth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodySize)
		_, err := decodeAuthTokenRequest(r)
		if err != nil && errs.KindOf(err) != errs.InvalidArgument {
			t.Fatalf("decode error of kind %v: %v", errs.KindOf(err), err)
		}
	})
}

func TestEtagMatches(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`*`, true},
		{`"abd"`, false},
		{``, false},
	} {
		if got := etagMatches(tc.header, `"abc"`); got != tc.want {
			t.Errorf("etagMatches(%q) = %v", tc.header, got)
		}
	}
}
