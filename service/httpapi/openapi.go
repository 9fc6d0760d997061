package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/gen/openapi"
	"github.com/gatehouse/gatehouse/service/buildinfo"
)

// apiDoc is the OpenAPI document as served (GET /openapi.json), and its
// path templates, which tell a 405 which methods a path allows.
//
// The document is generated, checked against kin-openapi by the tests and
// only read here, so the server does not load it into kin-openapi's model:
// that model, its YAML and JSON-schema packages and gorilla/mux cost the
// server 5.4 MiB of idle RSS (47.9 → 42.5 MiB, measured on one machine), for
// a version stamp and a lookup of 46 templates whose only syntax is literal
// segments, whole-segment {variables} and a trailing :verb.
type apiDoc struct {
	body   []byte
	routes []apiRoute
}

// apiRoute is one path of the document: its template split into segments
// ("{x}" for a variable), the :verb of its last segment, and its methods.
type apiRoute struct {
	segments []string
	verb     string
	methods  []string
}

// loadAPIDoc reads the embedded document, stamps version into info.version
// and collects the methods of every path.
func loadAPIDoc(version string) (*apiDoc, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(doc["info"], &info); err != nil {
		return nil, fmt.Errorf("load the OpenAPI document's info: %w", err)
	}
	v, err := json.Marshal(version)
	if err != nil {
		return nil, fmt.Errorf("encode the OpenAPI version: %w", err)
	}
	info["version"] = v
	if doc["info"], err = json.Marshal(info); err != nil {
		return nil, fmt.Errorf("encode the OpenAPI document's info: %w", err)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the OpenAPI document: %w", err)
	}
	var paths map[string]map[string]json.RawMessage
	if err := json.Unmarshal(doc["paths"], &paths); err != nil {
		return nil, fmt.Errorf("load the OpenAPI document's paths: %w", err)
	}
	d := &apiDoc{body: body}
	for template, item := range paths {
		r := parseRoute(template)
		for m := range item {
			if operationMethods[m] {
				r.methods = append(r.methods, strings.ToUpper(m))
			}
		}
		d.routes = append(d.routes, r)
	}
	return d, nil
}

// operationMethods are the keys of an OpenAPI path item that are operations
// (the others are summary, parameters and the like).
var operationMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// parseRoute splits an OpenAPI path template such as
// /v1/admin/users/{id}:disable into its segments and verb.
func parseRoute(template string) apiRoute {
	segments := strings.Split(strings.TrimPrefix(template, "/"), "/")
	last := segments[len(segments)-1]
	var verb string
	if i := strings.LastIndexByte(last, ':'); i >= 0 && i > strings.LastIndexByte(last, '}') {
		segments[len(segments)-1], verb = last[:i], last[i+1:]
	}
	return apiRoute{segments: segments, verb: verb}
}

// matches tells whether path (its segments, without the leading slash)
// fits the template: literal segments equal, a {variable} any non-empty
// segment, and the verb, if any, after the last segment's last ':'.
func (r apiRoute) matches(segments []string) bool {
	if len(segments) != len(r.segments) {
		return false
	}
	if r.verb != "" {
		last := segments[len(segments)-1]
		head, ok := strings.CutSuffix(last, ":"+r.verb)
		if !ok {
			return false
		}
		segments = append(segments[:len(segments)-1:len(segments)-1], head)
	}
	for i, want := range r.segments {
		got := segments[i]
		if strings.HasPrefix(want, "{") && strings.HasSuffix(want, "}") {
			if got == "" {
				return false
			}
		} else if got != want {
			return false
		}
	}
	return true
}

func newAPIDoc() (*apiDoc, error) {
	return loadAPIDoc(buildinfo.Version())
}

func (d *apiDoc) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(d.body)
}

// allowed lists the methods the document has for r's path, sorted; nil when
// it has none.
func (d *apiDoc) allowed(r *http.Request) []string {
	segments := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var out []string
	for _, route := range d.routes {
		if route.matches(segments) {
			out = append(out, route.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
