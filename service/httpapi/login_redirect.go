package httpapi

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// maxNextLength bounds the next parameter (an OIDC authorization request
// included).
const maxNextLength = 4096

// safeNext returns where a browser may be sent after sign-in or logout:
// next when it is a path on this server or a URL on one of the allowed
// origins, else "/". A path must start with exactly one '/' (not "//" or
// "/\", which browsers read as another host), and no control character or
// backslash may hide in it, at any level of percent-decoding.
func safeNext(next string, allowedOrigins []string) string {
	if next == "" || len(next) > maxNextLength {
		return "/"
	}
	if isLocalPath(next) {
		return next
	}
	if o, ok := originOf(next); ok && slices.Contains(allowedOrigins, o) && !hasHiddenControl(next) {
		return next
	}
	return "/"
}

// isLocalPath reports whether next is a path-absolute reference to this
// server. Its path must keep that shape once percent-decoded too (up to
// three times, for double encodings that an application might decode
// again); the query may hold anything encoded (an OIDC redirect_uri).
func isLocalPath(next string) bool {
	if hasHiddenControl(next) {
		return false
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	p := next
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	for i := range 4 {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) || hasHiddenControl(p) {
			return false
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return i > 0 // a raw path must decode; a decoded one may hold a literal %
		}
		if d == p {
			break
		}
		p = d
	}
	return true
}

// hasHiddenControl reports control characters (browsers drop tabs and
// newlines from URLs, so "/\t/evil" becomes "//evil") or backslashes
// (read as '/').
func hasHiddenControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl) || strings.ContainsRune(s, '\\')
}

// originOf returns the origin (scheme://host[:port], lower-cased) of an
// absolute http(s) URL without user information.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// OriginList is the --allowed-redirect-origins flag: origins (scheme, host
// and optional port, nothing else) that next may name after sign-in and
// logout besides this server's own paths. It implements pflag.Value.
type OriginList []string

// String implements pflag.Value.
func (l *OriginList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// Set implements pflag.Value: a comma-separated list.
func (l *OriginList) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		o, err := ParseOrigin(part)
		if err != nil {
			return err
		}
		out = append(out, o)
	}
	*l = out
	return nil
}

// Type implements pflag.Value.
func (l *OriginList) Type() string { return "origins" }

// ParseOrigin checks and normalises one origin such as https://app.example.com.
func ParseOrigin(s string) (string, error) {
	o, ok := originOf(s)
	u, _ := url.Parse(s)
	if !ok || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("not an origin like https://app.example.com: %q", s)
	}
	return o, nil
}
