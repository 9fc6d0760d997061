package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/gatehouse/gatehouse/gen/openapi"
	"github.com/gatehouse/gatehouse/service/buildinfo"
)

// apiDoc is the OpenAPI document as served (GET /openapi.json), and its
// routes, which also tell a 405 which methods a path allows.
type apiDoc struct {
	body    []byte
	doc     *openapi3.T
	routes  routers.Router
	methods []string // every method the document uses
}

// loadAPIDoc parses the embedded document and stamps version into
// info.version.
func loadAPIDoc(ctx context.Context, version string) (*apiDoc, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(openapi.JSON)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	doc.Info.Version = version
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode the OpenAPI document: %w", err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	d := &apiDoc{body: body, doc: doc, routes: r}
	for _, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if !slices.Contains(d.methods, m) {
				d.methods = append(d.methods, m)
			}
		}
	}
	slices.Sort(d.methods)
	return d, nil
}

func newAPIDoc(ctx context.Context) (*apiDoc, error) {
	return loadAPIDoc(ctx, buildinfo.Version())
}

func (d *apiDoc) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(d.body)
}

// allowed lists the methods the document has for r's path, sorted; nil when
// it has none.
func (d *apiDoc) allowed(r *http.Request) []string {
	var out []string
	for _, m := range d.methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := d.routes.FindRoute(probe); err == nil {
			out = append(out, m)
		} else if !errors.Is(err, routers.ErrMethodNotAllowed) && !errors.Is(err, routers.ErrPathNotFound) {
			return nil
		}
	}
	return out
}
