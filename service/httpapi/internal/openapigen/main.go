// Command openapigen writes gen/openapi/gatehouse.openapi.json, the one
// OpenAPI 3 document of gatehouse's REST API: the Swagger 2.0 file that
// protoc-gen-openapiv2 makes from proto/ (the /v1/ gateway routes),
// converted with kin-openapi, merged with service/httpapi/openapi_routes.yaml
// (the routes httpapi serves itself), and given each gateway operation's
// security requirement from the authorization table (grpcapi.RuleFor), so
// that the document cannot disagree with the gate. .ci/generate runs it
// after buf, from the module root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

func main() {
	in := flag.String("swagger", "gen/openapi/gatehouse.swagger.json", "the Swagger 2.0 file of protoc-gen-openapiv2")
	routes := flag.String("routes", "service/httpapi/openapi_routes.yaml", "the hand-written OpenAPI 3 part")
	out := flag.String("out", "gen/openapi/gatehouse.openapi.json", "the document to write")
	flag.Parse()
	if err := run(context.Background(), *in, *routes, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapigen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, in, routes, out string) error {
	swagger, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	hand, err := os.ReadFile(routes)
	if err != nil {
		return err
	}
	doc, err := build(ctx, swagger, hand)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
