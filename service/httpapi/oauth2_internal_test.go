package httpapi

import (
	"encoding/base64"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
)

// formRequest is a POST with body, Content-Type and raw query, its body
// capped as the server caps it.
func formRequest(body, contentType, rawQuery string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	r.URL.RawQuery = rawQuery
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodySize)
	return r
}

func isInvalidRequest(err error) bool {
	e := errs.As(err)
	return e.Kind == errs.InvalidArgument && e.OAuthCode == "invalid_request"
}

// FuzzParseOAuthForm: any body, Content-Type and query either parses into
// unique, non-empty, valid UTF-8 parameters that agree with net/url, or
// yields invalid_request; nothing panics.
func FuzzParseOAuthForm(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, seed := range []struct{ body, ct, query string }{
		{"grant_type=password&username=alice&password=pw", form, ""},
		{"grant_type=client_credentials&scope=openid+email", form + "; charset=UTF-8", ""},
		{"grant_type=password&grant_type=password", form, ""},
		{"a=1&a=", form, ""},
		{"a=%zz", form, ""},
		{"%=1", form, ""},
		{"a=%ff", form, ""},
		{"\xff=1", form, ""},
		{"a=1;b=2", form, ""},
		{"&&=&a", form, ""},
		{"token=x", form, "token=y"},
		{`{"grant_type":"password"}`, "application/json", ""},
		{"a=b", form + "; charset=latin1", ""},
		{"a=b", "", ""},
		{strings.Repeat("a=b&", 200), form, ""},
	} {
		f.Add(seed.body, seed.ct, seed.query)
	}
	f.Fuzz(func(t *testing.T, body, contentType, rawQuery string) {
		got, err := parseOAuthForm(formRequest(body, contentType, rawQuery))
		if err != nil {
			if !isInvalidRequest(err) {
				t.Fatalf("error is not invalid_request: %#v", err)
			}
			if d := oauthDescription(errs.As(err).Message); !descriptionOK(d) {
				t.Fatalf("description %q", d)
			}
			return
		}
		for k, v := range got {
			if v == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("bad parameter %q=%q", k, v)
			}
		}
		// Re-encoding and parsing again is the identity.
		vals := url.Values{}
		for k, v := range got {
			vals.Set(k, v)
		}
		again, err := parseForm(vals.Encode())
		if err != nil || !maps.Equal(again, got) {
			t.Fatalf("round trip: %v %v != %v", err, again, got)
		}
		// Where net/url parses the body too, it agrees.
		if std, err := url.ParseQuery(body); err == nil {
			for k, vs := range std {
				var nonEmpty []string
				for _, v := range vs {
					if v != "" {
						nonEmpty = append(nonEmpty, v)
					}
				}
				switch len(nonEmpty) {
				case 0:
					if _, ok := got[k]; ok {
						t.Fatalf("%q: empty in net/url, %q here", k, got[k])
					}
				case 1:
					if got[k] != nonEmpty[0] {
						t.Fatalf("%q: %q in net/url, %q here", k, nonEmpty[0], got[k])
					}
				default:
					t.Fatalf("%q repeated but accepted", k)
				}
			}
		}
	})
}

func TestParseOAuthForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, body, ct, query string
		want                  map[string]string
		errContains           string
	}{
		{"plain", "grant_type=password&username=alice&password=p%40ss+word", form, "", map[string]string{"grant_type": "password", "username": "alice", "password": "p@ss word"}, ""},
		{"charset", "a=b", form + "; charset=utf-8", "", map[string]string{"a": "b"}, ""},
		{"charset upper", "a=b", form + ";charset=UTF-8", "", map[string]string{"a": "b"}, ""},
		{"empty values are omitted", "a=&b=1&a=", form, "", map[string]string{"b": "1"}, ""},
		{"empty body", "", form, "", map[string]string{}, ""},
		{"literal semicolon", "password=a;b", form, "", map[string]string{"password": "a;b"}, ""},
		{"name without value", "flag&a=1", form, "", map[string]string{"a": "1"}, ""},
		{"duplicate", "scope=openid&scope=email", form, "", nil, `parameter "scope" is repeated`},
		{"duplicate encoded name", "scope=openid&sc%6Fpe=email", form, "", nil, `parameter "scope" is repeated`},
		{"query", "a=b", form, "grant_type=password", nil, "URL query"},
		{"json", `{"a":"b"}`, "application/json", "", nil, "x-www-form-urlencoded"},
		{"no content type", "a=b", "", "", nil, "x-www-form-urlencoded"},
		{"bad content type", "a=b", "application/x-www-form-urlencoded; charset", "", nil, "x-www-form-urlencoded"},
		{"other charset", "a=b", form + "; charset=iso-8859-1", "", nil, "charset"},
		{"bad escape", "a=%zz", form, "", nil, "percent-encoding"},
		{"bad escape in name", "%z=1", form, "", nil, "percent-encoding"},
		{"not utf-8 value", "a=%ff%fe", form, "", nil, "UTF-8"},
		{"not utf-8 raw", "a=\xff", form, "", nil, "UTF-8"},
		{"not utf-8 name", "%ff=1", form, "", nil, "UTF-8"},
		{"too many", strings.Repeat("a&", maxFormParams+1), form, "", nil, "more than"},
		{"too large", "a=" + strings.Repeat("b", MaxBodySize), form, "", nil, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOAuthForm(formRequest(tc.body, tc.ct, tc.query))
			if tc.errContains != "" {
				if !isInvalidRequest(err) || !strings.Contains(errs.As(err).Message, tc.errContains) {
					t.Fatalf("err = %v, want invalid_request containing %q", err, tc.errContains)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func testHandlers(t testing.TB) *handlers {
	c, err := core.New(core.DefaultConfig(), core.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return &handlers{core: c}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

func TestClientAuth(t *testing.T) {
	h := testHandlers(t)
	for _, tc := range []struct {
		name        string
		authz       []string
		form        map[string]string
		bearerOK    bool
		want        clientCreds
		wantErrCode string
	}{
		{"none", nil, nil, false, clientCreds{}, ""},
		{"basic", []string{basic("billing", "s3cret")}, nil, false, clientCreds{id: "billing", secret: "s3cret", basic: true}, ""},
		{"basic form-urlencoded", []string{basic("my%3Aclient", "a+b%25c")}, nil, false, clientCreds{id: "my:client", secret: "a b%c", basic: true}, ""},
		{"basic lower-case scheme", []string{"basic " + base64.StdEncoding.EncodeToString([]byte("c:s"))}, nil, false, clientCreds{id: "c", secret: "s", basic: true}, ""},
		{"basic without padding", []string{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("c:s"))}, nil, false, clientCreds{id: "c", secret: "s", basic: true}, ""},
		{"basic with matching client_id", []string{basic("c", "s")}, map[string]string{"client_id": "c"}, false, clientCreds{id: "c", secret: "s", basic: true}, ""},
		{"empty basic is none", []string{basic("", "")}, map[string]string{"client_id": "gatehouse"}, false, clientCreds{}, ""},
		{"basic public default client", []string{basic("gatehouse", "")}, nil, false, clientCreds{basic: true}, ""},
		{"post", nil, map[string]string{"client_id": "c", "client_secret": "s"}, false, clientCreds{id: "c", secret: "s"}, ""},
		{"bare default client id", nil, map[string]string{"client_id": "gatehouse"}, false, clientCreds{}, ""},
		{"bearer", []string{"Bearer abc"}, nil, true, clientCreds{bearer: "abc"}, ""},

		{"both methods", []string{basic("c", "s")}, map[string]string{"client_id": "c", "client_secret": "s"}, false, clientCreds{}, "invalid_request"},
		{"basic and other client_id", []string{basic("c", "s")}, map[string]string{"client_id": "d"}, false, clientCreds{}, "invalid_request"},
		{"bearer and post", []string{"Bearer abc"}, map[string]string{"client_id": "c", "client_secret": "s"}, true, clientCreds{}, "invalid_request"},
		{"two authorization headers", []string{basic("c", "s"), basic("c", "s")}, nil, false, clientCreds{}, "invalid_request"},
		{"secret without id", nil, map[string]string{"client_secret": "s"}, false, clientCreds{}, "invalid_request"},
		{"bare other client id", nil, map[string]string{"client_id": "billing"}, false, clientCreds{}, "invalid_client"},
		{"basic without secret", []string{basic("billing", "")}, nil, false, clientCreds{}, "invalid_client"},
		{"basic without id", []string{basic("", "s")}, nil, false, clientCreds{}, "invalid_client"},
		{"basic not base64", []string{"Basic !!!"}, nil, false, clientCreds{}, "invalid_client"},
		{"basic without colon", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("cs"))}, nil, false, clientCreds{}, "invalid_client"},
		{"basic bad escape", []string{basic("c%zz", "s")}, nil, false, clientCreds{}, "invalid_client"},
		{"basic not utf-8", []string{basic("c%ff", "s")}, nil, false, clientCreds{}, "invalid_client"},
		{"bearer not allowed", []string{"Bearer abc"}, nil, false, clientCreds{}, "invalid_client"},
		{"empty bearer", []string{"Bearer "}, nil, true, clientCreds{}, "invalid_client"},
		{"other scheme", []string{"Digest x"}, nil, true, clientCreds{}, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			for _, a := range tc.authz {
				r.Header.Add("Authorization", a)
			}
			form := tc.form
			if form == nil {
				form = map[string]string{}
			}
			got, err := h.clientAuth(r, form, tc.bearerOK)
			if tc.wantErrCode != "" {
				if err == nil || errs.As(err).OAuthCode != tc.wantErrCode {
					t.Fatalf("got %+v, %v; want %s", got, err, tc.wantErrCode)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzClientAuth: any Authorization header and body yields credentials or
// an invalid_request / invalid_client error; nothing panics.
func FuzzClientAuth(f *testing.F) {
	f.Add(basic("c", "s"), "client_id=c")
	f.Add("Basic Og==", "")
	f.Add("Bearer x", "client_secret=s")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("%ff:%")), "client_id=gatehouse")
	h := testHandlers(f)
	f.Fuzz(func(t *testing.T, authz, body string) {
		form, err := parseForm(body)
		if err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", nil)
		r.Header.Set("Authorization", authz)
		for _, bearerOK := range []bool{false, true} {
			c, err := h.clientAuth(r, form, bearerOK)
			if err != nil {
				if code := errs.As(err).OAuthCode; code != "invalid_request" && code != "invalid_client" {
					t.Fatalf("error %v", err)
				}
				continue
			}
			if c.bearer == "" && (c.secret == "") != (c.id == "") {
				t.Fatalf("half credentials %+v", c)
			}
			if !utf8.ValidString(c.id) || !utf8.ValidString(c.secret) {
				t.Fatalf("credentials not UTF-8: %+v", c)
			}
		}
	})
}

func TestOAuthErrorOf(t *testing.T) {
	for _, tc := range []struct {
		err    *errs.Error
		code   string
		status int
	}{
		{errs.New(errs.InvalidArgument, "x"), "invalid_request", 400},
		{errs.New(errs.InvalidArgument, "x").WithOAuth("unsupported_grant_type"), "unsupported_grant_type", 400},
		{errs.New(errs.InvalidArgument, "x").WithOAuth("invalid_scope"), "invalid_scope", 400},
		{errs.New(errs.Unauthenticated, "x"), "invalid_grant", 400},
		{errs.New(errs.Unauthenticated, "x").WithOAuth("invalid_grant"), "invalid_grant", 400},
		{errs.New(errs.Unauthenticated, "x").WithOAuth("invalid_client"), "invalid_client", 401},
		{errs.New(errs.PermissionDenied, "x"), "unauthorized_client", 400},
		{errs.New(errs.PermissionDenied, "x").WithOAuth("invalid_grant"), "invalid_grant", 400},
		{&errs.Error{Kind: errs.ResourceExhausted, OAuthCode: "invalid_request", RetryAfter: time.Minute}, "invalid_request", 429},
		{errs.New(errs.ResourceExhausted, "x"), "invalid_request", 429},
		{errs.New(errs.NotFound, "x"), "invalid_request", 400},
		{errs.New(errs.Unavailable, "x"), "temporarily_unavailable", 503},
		{errs.New(errs.Internal, "x").WithOAuth("invalid_grant"), "server_error", 500},
		{errs.As(http.ErrHandlerTimeout), "server_error", 500},
	} {
		code, status := oauthErrorOf(tc.err)
		if code != tc.code || status != tc.status {
			t.Errorf("%v: %s %d, want %s %d", tc.err, code, status, tc.code, tc.status)
		}
	}
}

func TestOAuthDescription(t *testing.T) {
	in := "grant_type \"x\\y\" is not supported …\n"
	if got := oauthDescription(in); !descriptionOK(got) {
		t.Fatalf("%q", got)
	}
}

// descriptionOK reports whether s uses only the characters RFC 6749 §5.2
// allows in error_description.
func descriptionOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)) {
			return false
		}
	}
	return true
}

func TestIntrospectionResponse(t *testing.T) {
	if got := introspection(core.Introspection{Active: false, Subject: "x"}); got.Active || got.Sub != "" {
		t.Errorf("inactive = %+v", got)
	}
	if got := introspection(core.Introspection{Active: true, Audience: []string{"a"}}); got.Aud != "a" {
		t.Errorf("single audience = %#v", got.Aud)
	}
	if got := introspection(core.Introspection{Active: true, Audience: []string{"a", "b"}}); len(got.Aud.([]string)) != 2 {
		t.Errorf("audiences = %#v", got.Aud)
	}
	if got := introspection(core.Introspection{Active: true}); got.Aud != nil {
		t.Errorf("no audience = %#v", got.Aud)
	}
}
