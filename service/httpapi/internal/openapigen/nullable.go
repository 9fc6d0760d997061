package main

import (
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// markNullable allows null where the gateway's protojson sends or takes it,
// which protoc-gen-openapiv2 does not say:
//   - it sends null for an unset singular message field (EmitUnpopulated),
//     e.g. a Timestamp not yet set;
//   - it takes null for any field of a request body, as the field's default.
//
// Schemas are found by protoc-gen-openapiv2's names: "v1" and the message
// name (nested names joined) for messages, "…Body" for the part of a request
// that the body carries when other fields are in the path.
func markNullable(doc *openapi3.T) {
	protoregistry.GlobalFiles.RangeFilesByPackage(protoPackage, func(fd protoreflect.FileDescriptor) bool {
		markMessages(doc, fd.Messages(), "v1")
		return true
	})
	for name, s := range doc.Components.Schemas {
		if strings.HasSuffix(name, "Body") && s.Value != nil {
			for p, ref := range s.Value.Properties {
				s.Value.Properties[p] = nullable(ref)
			}
		}
	}
}

func markMessages(doc *openapi3.T, msgs protoreflect.MessageDescriptors, prefix string) {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		name := prefix + string(md.Name())
		markMessages(doc, md.Messages(), name)
		s := doc.Components.Schemas[name]
		if s == nil || s.Value == nil {
			continue
		}
		request := strings.HasSuffix(string(md.Name()), "Request")
		fields := md.Fields()
		for j := range fields.Len() {
			f := fields.Get(j)
			ref := s.Value.Properties[string(f.Name())]
			if ref == nil {
				continue
			}
			singularMessage := f.Message() != nil && !f.IsList() && !f.IsMap() && f.ContainingOneof() == nil
			if request || singularMessage {
				s.Value.Properties[string(f.Name())] = nullable(ref)
			}
		}
	}
}

// nullable returns ref allowing null; a reference is wrapped, as OpenAPI
// 3.0 ignores the siblings of $ref.
func nullable(ref *openapi3.SchemaRef) *openapi3.SchemaRef {
	if ref.Ref == "" {
		ref.Value.Nullable = true
		return ref
	}
	return &openapi3.SchemaRef{Value: &openapi3.Schema{AllOf: openapi3.SchemaRefs{ref}, Nullable: true}}
}
