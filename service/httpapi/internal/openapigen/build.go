package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/service/grpcapi"
)

// protoPackage prefixes the generated operation ids ("AuthService_IssueToken")
// to make gRPC full method names.
const protoPackage = "gatehouse.v1"

// build returns the merged, validated OpenAPI 3 document as indented JSON.
func build(ctx context.Context, swagger, hand []byte) ([]byte, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(swagger, &doc2); err != nil {
		return nil, fmt.Errorf("parse the Swagger 2.0 document: %w", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	if err := secureGatewayOperations(doc); err != nil {
		return nil, err
	}
	markNullable(doc)
	part, err := openapi3.NewLoader().LoadFromData(hand)
	if err != nil {
		return nil, fmt.Errorf("parse the hand-written routes: %w", err)
	}
	if err := merge(doc, part); err != nil {
		return nil, err
	}
	// Round-trip through the loader so that references resolve against the
	// merged document before it is validated.
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	final, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("reload the merged document: %w", err)
	}
	if err := final.Validate(ctx); err != nil {
		return nil, fmt.Errorf("the merged document is not valid OpenAPI 3: %w", err)
	}
	out, err := json.MarshalIndent(final, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return append(out, '\n'), nil
}

// merge adds the hand-written part to the generated document: its info,
// security schemes, headers and responses, its paths (which must be new)
// and its schemas (which replace generated ones of the same name).
func merge(doc, part *openapi3.T) error {
	doc.Info = part.Info
	c, pc := doc.Components, part.Components
	if c == nil {
		c = &openapi3.Components{}
		doc.Components = c
	}
	c.SecuritySchemes = pc.SecuritySchemes
	c.Headers = pc.Headers
	c.Responses = pc.Responses
	if c.Schemas == nil {
		c.Schemas = openapi3.Schemas{}
	}
	for name, s := range pc.Schemas {
		c.Schemas[name] = s
	}
	for path, item := range part.Paths.Map() {
		if doc.Paths.Value(path) != nil {
			return fmt.Errorf("path %s is both generated from proto/ and hand-written", path)
		}
		doc.Paths.Set(path, item)
	}
	return nil
}

// secureGatewayOperations gives every generated operation the security
// requirement of its RPC in the authorization table, and says in its
// description who may call it. An operation whose RPC is not in the table
// is an error, as the gate refuses it.
func secureGatewayOperations(doc *openapi3.T) error {
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			service, rpc, ok := strings.Cut(op.OperationID, "_")
			if !ok {
				return fmt.Errorf("%s %s: operation id %q is not Service_Method", method, path, op.OperationID)
			}
			rule, ok := grpcapi.RuleFor("/" + protoPackage + "." + service + "/" + rpc)
			if !ok {
				return fmt.Errorf("%s %s: %s.%s is not in the authorization table", method, path, service, rpc)
			}
			bearer := openapi3.SecurityRequirement{"bearerAuth": []string{}}
			var note string
			switch rule.Access {
			case grpcapi.Public:
				op.Security = &openapi3.SecurityRequirements{}
			case grpcapi.Authenticated:
				op.Security = &openapi3.SecurityRequirements{bearer}
				note = "Needs a bearer access token."
			case grpcapi.RoleRequired:
				op.Security = &openapi3.SecurityRequirements{bearer}
				note = "Needs a bearer access token of an account with role " + strings.Join(rule.Roles, " or ") + "."
			case grpcapi.ServiceClientOnly:
				// A service client's bearer token, or its credentials in the body.
				op.Security = &openapi3.SecurityRequirements{bearer, {}}
				note = "Needs a service client: its bearer access token, or client_id and client_secret in the body."
			default:
				return fmt.Errorf("%s %s: access %s has no OpenAPI form", method, path, rule.Access)
			}
			if note != "" {
				op.Description = strings.TrimSpace(op.Description + "\n\n" + note)
			}
		}
	}
	return nil
}
