package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
)

// The sign-in pages are server-rendered HTML with one embedded stylesheet:
// no script runs on them, and the Content-Security-Policy says so.
//
//go:embed web
var webFS embed.FS

// webPages holds the parsed templates and the fixed headers of the pages.
type webPages struct {
	login, home, message *template.Template
	css                  []byte
	cssETag              string
	csp                  string
	// cspWith is csp with more origins allowed as form targets.
	cspWith func(origins ...string) string
	// crossOrigin refuses cross-origin form posts by Sec-Fetch-Site and
	// Origin (Go's CSRF protection); the form tokens (csrf.go) are the
	// second line for clients that send neither.
	crossOrigin    *http.CrossOriginProtection
	deny           http.Handler // the 403 page of a cross-origin post
	allowedOrigins []string
	log            *slog.Logger
}

// pageData is what the templates show.
type pageData struct {
	Title    string
	Error    string // the role=alert region
	Username string
	Next     string
	CSRF     string
}

func newWebPages(allowedOrigins []string, log *slog.Logger) *webPages {
	parse := func(name string) *template.Template {
		return template.Must(template.ParseFS(webFS, "web/page.html", "web/"+name))
	}
	css, err := webFS.ReadFile("web/login.css")
	if err != nil {
		panic("httpapi: embedded stylesheet missing: " + err.Error()) // a build defect
	}
	sum := sha256.Sum256(css)
	// form-action also covers the redirect that answers a form post, so
	// the origins next may lead to are listed beside 'self'.
	formAction := strings.Join(append([]string{"'self'"}, allowedOrigins...), " ")
	cspWith := func(origins ...string) string {
		fa := formAction
		if len(origins) > 0 {
			fa += " " + strings.Join(origins, " ")
		}
		return "default-src 'none'; style-src 'self'; form-action " + fa + "; frame-ancestors 'none'; base-uri 'none'"
	}
	p := &webPages{
		login:          parse("login.html"),
		home:           parse("home.html"),
		message:        parse("message.html"),
		css:            css,
		cssETag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		csp:            cspWith(),
		cspWith:        cspWith,
		crossOrigin:    http.NewCrossOriginProtection(),
		allowedOrigins: allowedOrigins,
		log:            log,
	}
	p.deny = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.render(w, http.StatusForbidden, p.message, pageData{
			Title: "Request refused",
			Error: "This form was sent from another site, so it was refused. Open the sign-in page of this site and try again.",
		})
	})
	p.crossOrigin.SetDenyHandler(p.deny)
	return p
}

// pageHeaders are the security headers of every HTML page. A page may
// have set its own CSP before (renderWithOrigins); it is kept.
func (p *webPages) pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", p.csp)
	}
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	noStore(w)
}

// render writes a page; it is executed into a buffer first so that a
// template error is a clean 500.
func (p *webPages) render(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "page", d); err != nil {
		p.log.Error("rendering a sign-in page", "template", t.Name(), "err", err)
		p.pageHeaders(w)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// loginStylesheet serves the pages' stylesheet (style-src 'self').
func (h *handlers) loginStylesheet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("ETag", h.web.cssETag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if etagMatches(r.Header.Get("If-None-Match"), h.web.cssETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Write(h.web.css)
}
