package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/encoding/protojson"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/errs"
)

// internals are fragments of Go parser messages that must never reach a
// client.
var internals = []string{"strconv", "ParseInt", "proto:", "json:", "invalid syntax", "*", "Go value", "protoreflect", "(line "}

func wantNoInternals(t *testing.T, msg string) {
	t.Helper()
	for _, frag := range internals {
		if strings.Contains(msg, frag) {
			t.Errorf("message %q leaks %q", msg, frag)
		}
	}
}

func TestCheckJSONBody(t *testing.T) {
	for _, tc := range []struct {
		name, method, ct, encoding, body string
		required                         bool
		want                             int // 0: accepted; 415
	}{
		{"json", "POST", "application/json", "", `{}`, false, 0},
		{"json utf-8", "POST", "application/json; charset=utf-8", "", `{}`, false, 0},
		{"json UTF-8 upper-case", "POST", "Application/JSON; Charset=UTF-8", "", `{}`, false, 0},
		{"identity encoding", "POST", "application/json", "identity", `{}`, false, 0},
		{"no body, no type", "POST", "", "", ``, false, 0},
		{"GET without body, any type", "GET", "text/plain", "", ``, false, 0},
		{"text/plain", "POST", "text/plain", "", `{}`, false, 415},
		{"text/plain empty body", "POST", "text/plain", "", ``, false, 415},
		{"form", "POST", "application/x-www-form-urlencoded", "", `{}`, false, 415},
		{"multipart", "POST", "multipart/form-data; boundary=x", "", `{}`, false, 415},
		{"no type with body", "POST", "", "", `{}`, false, 415},
		{"no type with body on GET", "GET", "", "", `{}`, false, 415},
		{"other charset", "POST", "application/json; charset=latin1", "", `{}`, false, 415},
		{"other parameter", "POST", "application/json; foo=bar", "", `{}`, false, 415},
		{"json suffix type", "POST", "application/merge-patch+json", "", `{}`, false, 415},
		{"malformed type", "POST", "application/json;;", "", `{}`, false, 415},
		{"gzip", "POST", "application/json", "gzip", `{}`, false, 415},
		{"identity, gzip", "POST", "application/json", "identity, gzip", `{}`, false, 415},
		{"gzip without body", "GET", "", "gzip", ``, false, 415},
		{"required, missing type, empty body", "POST", "", "", ``, true, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/v1/x", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			if tc.encoding != "" {
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			err := checkJSONBody(r, tc.required)
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == 415 && err == nil:
				t.Fatal("accepted")
			}
		})
	}
}

func TestRequireJSONMiddleware(t *testing.T) {
	reached := false
	h := requireJSON(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	for _, tc := range []struct {
		ct, enc string
		want    int
	}{
		{"text/plain", "", 415},
		{"application/json", "gzip", 415},
		{"application/json", "", 200},
	} {
		reached = false
		r := httptest.NewRequest("POST", "/v1/admin/users", strings.NewReader(`{"username":"x"}`))
		r.Header.Set("Content-Type", tc.ct)
		if tc.enc != "" {
			r.Header.Set("Content-Encoding", tc.enc)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want || reached != (tc.want == 200) {
			t.Errorf("%s/%s: status %d, handler reached %v; want %d", tc.ct, tc.enc, w.Code, reached, tc.want)
		}
		if tc.want != 415 {
			continue
		}
		var body struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Message == "" || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("415 body %q (%v), Content-Type %q: want a JSON error", w.Body, err, w.Header().Get("Content-Type"))
		}
		if tc.enc != "" && w.Header().Get("Accept-Encoding") != "identity" {
			t.Errorf("415 for a content coding without Accept-Encoding: identity")
		}
	}
}

func strictMarshaler() strictJSONPb {
	return strictJSONPb{&runtime.JSONPb{UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true}}}
}

func TestStrictDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "" accepted; else a fragment of the error
	}{
		{"object", `{"page_size": 5, "page_token": "x"}`, ""},
		{"JSON names", `{"pageSize": 5}`, ""},
		{"whitespace after", "{\"page_size\": 5}\r\n\t ", ""},
		{"trailing garbage", `{"page_size": 5} xyz`, "data after its JSON value"},
		{"trailing brace", `{"page_size": 5}}`, "data after its JSON value"},
		{"two documents", `{"page_size": 5}{"page_size": 6}`, "data after its JSON value"},
		{"two documents with newline", "{\"page_size\": 5}\n{\"page_size\": 6}", "data after its JSON value"},
		{"array", `[{"page_size": 5}]`, "must be a JSON object"},
		{"string", `"x"`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"truncated", `{"page_size": `, "not valid JSON"},
		{"syntax", `{"page_size" 5}`, "not valid JSON"},
		{"invalid UTF-8", "{\"page_token\": \"\xff\"}", "not valid UTF-8"},
		{"bad integer", `{"page_size": "abc"}`, "field page_size: not an integer"},
		{"bad integer by JSON name", `{"pageSize": true}`, "field page_size: not an integer"},
		{"fractional integer", `{"page_size": 1.5}`, "field page_size: not an integer"},
		{"bad string", `{"page_token": 5}`, "field page_token: not a string"},
		// DiscardUnknown is forced off whatever the options say.
		{"unknown field", `{"page_size": 5, "admin": true}`, `unknown field "admin"`},
		{"duplicate field", `{"page_size": 5, "page_size": 6}`, `field "page_size" is given more than once`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req gatehousev1.ListUsersRequest
			err := strictMarshaler().NewDecoder(strings.NewReader(tc.body)).Decode(&req)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if req.PageSize == 0 {
					t.Errorf("page_size not decoded: %v", &req)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %v", &req)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			wantNoInternals(t, err.Error())
		})
	}
	// An empty body is io.EOF, which the gateway reads as an empty message.
	for _, body := range []string{"", " \n"} {
		var req gatehousev1.ListUsersRequest
		if err := strictMarshaler().NewDecoder(strings.NewReader(body)).Decode(&req); !errors.Is(err, io.EOF) {
			t.Errorf("empty body %q: %v, want io.EOF", body, err)
		}
	}
}

func TestStrictDecoderFieldBody(t *testing.T) {
	// A body bound to one field ("body: issuer") decodes through a pointer
	// to the message pointer, with the same strictness.
	var req gatehousev1.CreateTrustedIssuerRequest
	if err := strictMarshaler().NewDecoder(strings.NewReader(`{"issuer":"https://idp.example","leeway_seconds":"30"}`)).Decode(&req.Issuer); err != nil {
		t.Fatal(err)
	}
	if req.Issuer.GetIssuer() != "https://idp.example" || req.Issuer.GetLeewaySeconds() != 30 {
		t.Errorf("decoded %v", req.Issuer)
	}
	req.Issuer = nil
	err := strictMarshaler().NewDecoder(strings.NewReader(`{"leeway_seconds":"soon"}`)).Decode(&req.Issuer)
	if err == nil || err.Error() != "field leeway_seconds: not an integer" {
		t.Errorf("error %v, want field leeway_seconds: not an integer", err)
	}
	err = strictMarshaler().NewDecoder(strings.NewReader(`{"jit_provisioning":"yes"}{}`)).Decode(&req.Issuer)
	if err == nil || !strings.Contains(err.Error(), "data after its JSON value") {
		t.Errorf("error %v, want trailing data refused", err)
	}
}

func TestStrictQueryParser(t *testing.T) {
	p := &strictQueryParser{}
	for _, tc := range []struct {
		query, want string
	}{
		{"page_size=20&page_token=abc", ""},
		{"pageSize=20", ""},
		{"unrelated=1", ""},
		{"page_size=abc", "field page_size: not an integer"},
		{"pageSize=1e3", "field page_size: not an integer"},
		{"page_size=99999999999", "field page_size: not an integer"},
		{"page_size=1&page_size=2", "page_size is given more than once"},
		{"page_size=1&pageSize=2", "page_size is given more than once"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			values, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			var req gatehousev1.ListUsersRequest
			err = p.Parse(&req, values, &utilities.DoubleArray{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			wantNoInternals(t, err.Error())
		})
	}
}

func TestAuthTokenDecoding(t *testing.T) {
	h := &handlers{}
	for _, tc := range []struct {
		name, ct, enc, body string
		want                int
		detail              string
	}{
		{"form", "application/x-www-form-urlencoded", "", "username=a&password=b", 415, "application/json"},
		{"text/plain", "text/plain", "", `{"username":"a","password":"b"}`, 415, "application/json"},
		{"no type", "", "", `{"username":"a","password":"b"}`, 415, "application/json"},
		{"gzip", "application/json", "gzip", `{"username":"a","password":"b"}`, 415, "Content-Encoding"},
		{"trailing garbage", "application/json", "", `{"username":"a","password":"b"} x`, 400, "data after its JSON value"},
		{"trailing brace", "application/json", "", `{"username":"a","password":"b"}}`, 400, "data after its JSON value"},
		{"two documents", "application/json", "", `{"username":"a"}{"password":"b"}`, 400, "data after its JSON value"},
		{"number for a string", "application/json", "", `{"username":5}`, 400, "field username: not a string"},
		{"unknown field", "application/json", "", `{"user":"a"}`, 400, `unknown field "user"`},
		{"empty", "application/json", "", ``, 400, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/auth/token", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			if tc.enc != "" {
				r.Header.Set("Content-Encoding", tc.enc)
			}
			w := httptest.NewRecorder()
			h.authToken(w, r)
			var body struct {
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tc.want || !strings.Contains(body.Detail, tc.detail) {
				t.Errorf("status %d detail %q, want %d with %q", w.Code, body.Detail, tc.want, tc.detail)
			}
			wantNoInternals(t, body.Detail)
		})
	}
	// Decode errors stay InvalidArgument for the core's mapping.
	r := httptest.NewRequest(http.MethodPost, "/auth/token", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "text/plain")
	if _, err := decodeAuthTokenRequest(r); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("kind %v, want InvalidArgument", errs.KindOf(err))
	}
}

func TestDescribeProtoJSONError(t *testing.T) {
	md := (&gatehousev1.ListUsersRequest{}).ProtoReflect().Descriptor()
	// protobuf randomly uses U+00A0 or a space after "proto:".
	for _, sep := range []string{" ", "\u00a0"} {
		for in, want := range map[string]string{
			"proto:" + sep + `(line 1:15): invalid value for int32 field pageSize: "abc"`: "field page_size: not an integer",
			"proto:" + sep + `(line 1:2): unknown field "x"`:                              `unknown field "x"`,
			"proto:" + sep + `(line 1:2): duplicate field "page_size"`:                    `field "page_size" is given more than once`,
			"proto:" + sep + `syntax error (line 1:2): unexpected token`:                  "the body does not match the request",
			"something else entirely":                                                     "the body does not match the request",
		} {
			if got := describeProtoJSONError(md, errors.New(in)); got != want {
				t.Errorf("describe(%q) = %q, want %q", in, got, want)
			}
		}
	}
}
