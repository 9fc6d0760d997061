package httpapi

// The REST routes that return tokens answer like RFC 6749 §5.1, as
// /oauth2/token does: expires_in a JSON number (proto3 JSON would send the
// int64 as a string), empty members left out, and Cache-Control: no-store
// with Pragma: no-cache on success and error alike. The OpenAPI document
// describes this shape (openapi_routes.yaml, v1IssueTokenResponse).

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// issueTokenResponseName is the message every token-returning RPC answers.
var issueTokenResponseName = (&gatehousev1.IssueTokenResponse{}).ProtoReflect().Descriptor().FullName()

// Marshal implements runtime.Marshaler: a token response in the RFC 6749
// shape, any other message as proto3 JSON.
func (m strictJSONPb) Marshal(v any) ([]byte, error) {
	if res, ok := v.(*gatehousev1.IssueTokenResponse); ok {
		return json.Marshal(tokenResponse{
			AccessToken:     res.GetAccessToken(),
			TokenType:       res.GetTokenType(),
			ExpiresIn:       res.GetExpiresIn(),
			RefreshToken:    res.GetRefreshToken(),
			Scope:           res.GetScope(),
			IssuedTokenType: res.GetIssuedTokenType(),
		})
	}
	return m.JSONPb.Marshal(v)
}

// noStoreTokens is the gateway's forward-response hook for token answers.
func noStoreTokens(w http.ResponseWriter, msg proto.Message) {
	if _, ok := msg.(*gatehousev1.IssueTokenResponse); ok {
		noStore(w)
	}
}

// returnsToken reports whether the RPC a gateway call was routed to answers
// with tokens, so that its errors are not cached either.
func returnsToken(ctx context.Context) bool {
	method, ok := runtime.RPCMethod(ctx) // "/gatehouse.v1.AuthService/IssueToken"
	if !ok {
		return false
	}
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(method, "/"), "/", "."))
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return false
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	return ok && md.Output().FullName() == issueTokenResponseName
}
