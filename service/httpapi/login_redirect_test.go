package httpapi

import "testing"

func TestSafeNext(t *testing.T) {
	allowed := []string{"https://app.example.com", "http://127.0.0.1:8793"}
	for _, c := range []struct {
		next, want string
	}{
		{"", "/"},
		{"/", "/"},
		{"/home", "/home"},
		{"/dags?tags=a&x=%2F%2Fok", "/dags?tags=a&x=%2F%2Fok"},
		{"/oauth2/authorize?client_id=c&redirect_uri=https%3A%2F%2Frp.example%2Fcb&state=a%25b", "/oauth2/authorize?client_id=c&redirect_uri=https%3A%2F%2Frp.example%2Fcb&state=a%25b"},
		{"/a/b#frag", "/a/b#frag"},
		{"https://app.example.com/dags", "https://app.example.com/dags"},
		{"HTTPS://APP.example.com/x", "HTTPS://APP.example.com/x"},
		{"http://127.0.0.1:8793/", "http://127.0.0.1:8793/"},
		// Open-redirect attempts.
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{`/\evil.example`, "/"},
		{`\\evil.example`, "/"},
		{`\/evil.example`, "/"},
		{"/\\/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"%2F%2Fevil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"/%2f%2fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%255C%255Cevil.example", "/"},
		{"/%252F/evil.example", "/"},
		{"/%09/evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/%0d%0aSet-Cookie:x=1", "/"},
		{"/ok\r\nLocation: //evil", "/"},
		{"http://evil.example", "/"},
		{"https://evil.example/", "/"},
		{"https://app.example.com.evil.example/", "/"},
		{"https://app.example.com@evil.example/", "/"},
		{"https://user@app.example.com/", "/"},
		{"http://app.example.com/", "/"}, // wrong scheme
		{"https://app.example.com:444/", "/"},
		{"https:app.example.com", "/"},
		{"evil.example", "/"},
		{"relative/path", "/"},
		{"?next=//evil", "/"},
		{"/%zz", "/"},
		{"/" + string(make([]byte, maxNextLength)), "/"},
	} {
		if got := safeNext(c.next, allowed); got != c.want {
			t.Errorf("safeNext(%q) = %q, want %q", c.next, got, c.want)
		}
	}
}

func TestOriginList(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"HTTPS://App.Example.com:8443/", "https://app.example.com:8443", true},
		{" https://a.example , http://localhost:8080 ", "https://a.example,http://localhost:8080", true},
		{"", "", true},
		{"app.example.com", "", false},
		{"https://app.example.com/path", "", false},
		{"https://app.example.com?x", "", false},
		{"https://u@app.example.com", "", false},
		{"ftp://app.example.com", "", false},
	} {
		var l OriginList
		err := l.Set(c.in)
		if (err == nil) != c.ok {
			t.Errorf("Set(%q): err = %v, want ok %v", c.in, err, c.ok)
			continue
		}
		if c.ok && l.String() != c.want {
			t.Errorf("Set(%q) = %q, want %q", c.in, l.String(), c.want)
		}
	}
}

func TestLoginURL(t *testing.T) {
	for _, c := range []struct {
		next  string
		force bool
		want  string
	}{
		{"/", false, "/auth/login"},
		{"/x?a=1", false, "/auth/login?next=%2Fx%3Fa%3D1"},
		{"/", true, "/auth/login?prompt=login"},
	} {
		if got := loginURL(c.next, c.force); got != c.want {
			t.Errorf("loginURL(%q, %v) = %q, want %q", c.next, c.force, got, c.want)
		}
	}
}
