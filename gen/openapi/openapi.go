// Package openapi embeds gatehouse.openapi.json, the OpenAPI 3 document of
// the REST API, which service/httpapi/internal/openapigen writes next to this
// file (from the Swagger 2.0 file protoc-gen-openapiv2 generates from proto/,
// and the hand-written service/httpapi/openapi_routes.yaml). This file is the
// one hand-written file under gen/: no generator creates it and the
// generation check leaves it alone.
package openapi

import _ "embed"

// JSON is the OpenAPI 3 document of the REST API; its info.version is a
// placeholder that the server replaces with its build version.
//
//go:embed gatehouse.openapi.json
var JSON []byte
