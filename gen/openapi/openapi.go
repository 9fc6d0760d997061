// Package openapi embeds the OpenAPI (Swagger 2.0) document that
// protoc-gen-openapiv2 generates next to this file from proto/. This file is
// the one hand-written file under gen/: buf does not create it and the
// generation check leaves it alone.
package openapi

import _ "embed"

// JSON is the OpenAPI document of the REST API.
//
//go:embed gatehouse.swagger.json
var JSON []byte
