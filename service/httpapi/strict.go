package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Strict request decoding for the /v1/ gateway and /auth/token:
//   - a body must be declared as application/json (charset utf-8 at most),
//     so that a browser cannot send one cross-site without a CORS preflight
//     (text/plain and form types are "simple" requests);
//   - a Content-Encoding other than identity is refused, as bodies are not
//     decompressed;
//   - exactly one JSON object, nothing after it, unknown fields refused;
//   - errors name the field and what was expected, never parser internals.

// mediaError is a request whose body is of a type or encoding the endpoint
// does not accept: HTTP 415.
type mediaError struct {
	msg      string
	encoding bool // Content-Encoding, rather than Content-Type, is at fault
}

func (e *mediaError) Error() string { return e.msg }

// write answers 415 with body as the JSON error document.
func (e *mediaError) write(w http.ResponseWriter, body any) {
	if e.encoding {
		// RFC 7694 §3: say which content codings are accepted.
		w.Header().Set("Accept-Encoding", "identity")
	}
	writeJSON(w, http.StatusUnsupportedMediaType, body)
}

// checkJSONBody returns a *mediaError unless r's body, if any, is plain
// JSON. A request needs a JSON Content-Type when it has a body, or when it
// declares any Content-Type on a method that carries one; bodyRequired
// makes the Content-Type mandatory in every case.
func checkJSONBody(r *http.Request, bodyRequired bool) *mediaError {
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, coding := range strings.Split(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return &mediaError{msg: "Content-Encoding " + quoteHeader(c) + " is not supported: send the body uncompressed", encoding: true}
			}
		}
	}
	ct := r.Header.Get("Content-Type")
	hasBody := r.ContentLength != 0 // -1: unknown length, so a body
	carriesBody := r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
	if !bodyRequired && !hasBody && (ct == "" || !carriesBody) {
		return nil
	}
	if ct == "" {
		return &mediaError{msg: "the body must be JSON sent with Content-Type: application/json"}
	}
	if !isJSONMediaType(ct) {
		return &mediaError{msg: "Content-Type " + quoteHeader(ct) + " is not supported: send the body as application/json (UTF-8)"}
	}
	return nil
}

// isJSONMediaType accepts application/json with at most a charset=utf-8
// parameter.
func isJSONMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// quoteHeader quotes a client-supplied header value for an error message,
// bounded and printable.
func quoteHeader(v string) string {
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("%q", v)
}

// requireJSON refuses /v1/ requests whose body is not plain JSON with 415,
// in the gateway's error form.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkJSONBody(r, false); err != nil {
			// Refused before routing, so also for the token routes, whose
			// answers are never cached (tokenshape.go).
			noStore(w)
			err.write(w, map[string]any{"code": int(codes.InvalidArgument), "message": err.msg, "details": []any{}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readJSONValue reads one JSON value from r and refuses anything after it.
// An empty (or all-whitespace) body is io.EOF, which the gateway treats as
// an empty request message.
func readJSONValue(r io.Reader) (json.RawMessage, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("the body is larger than %d bytes", tooLarge.Limit)
		}
		return nil, errors.New("the body could not be read")
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return nil, io.EOF
	}
	if !utf8.Valid(body) {
		return nil, errors.New("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("the body is not valid JSON (at byte %d)", syn.Offset)
		}
		return nil, errors.New("the body is not valid JSON (it ends too early)")
	}
	off := dec.InputOffset()
	if rest := bytes.TrimLeft(body[off:], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("the body has data after its JSON value (at byte %d): send exactly one JSON object", int(off)+len(body[off:])-len(rest))
	}
	if raw[0] != '{' {
		return nil, errors.New("the body must be a JSON object")
	}
	return raw, nil
}

// strictJSONPb is the gateway's JSON marshaler with strict decoding:
// exactly one JSON object per body, unknown fields refused (protojson with
// DiscardUnknown false), and errors that name the field.
type strictJSONPb struct {
	*runtime.JSONPb
}

// NewDecoder implements runtime.Marshaler.
func (m strictJSONPb) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		raw, err := readJSONValue(r)
		if err != nil {
			return err
		}
		msg, ok := protoTarget(v)
		if !ok {
			if err := m.JSONPb.Unmarshal(raw, v); err != nil {
				return errors.New("the body does not match the request")
			}
			return nil
		}
		opts := m.UnmarshalOptions
		opts.DiscardUnknown = false
		if err := opts.Unmarshal(raw, msg); err != nil {
			return errors.New(describeProtoJSONError(msg.ProtoReflect().Descriptor(), err))
		}
		return nil
	})
}

// protoTarget returns the message a decode target stands for: v itself,
// or for a pointer to a message pointer (a body bound to one field of the
// request, "body: \"issuer\"") the message it points to, allocated.
func protoTarget(v any) (proto.Message, bool) {
	if msg, ok := v.(proto.Message); ok {
		return msg, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Pointer {
		return nil, false
	}
	elem := rv.Elem()
	if elem.IsNil() {
		elem.Set(reflect.New(elem.Type().Elem()))
	}
	msg, ok := elem.Interface().(proto.Message)
	return msg, ok
}

var (
	// protojson errors: "proto: (line 1:15): invalid value for int32 field pageSize: \"abc\"".
	// The space after "proto:" is randomly U+00A0 (protobuf discourages
	// parsing its messages; these patterns fall back to a generic message).
	protoErrHead    = regexp.MustCompile(`^proto:[\s\x{00a0}]*(?:syntax error[\s\x{00a0}]*)?(?:\(line \d+:\d+\):[\s\x{00a0}]*)?`)
	protoBadValue   = regexp.MustCompile(`^invalid value for (\w+) field (\w+): `)
	protoUnknown    = regexp.MustCompile(`^unknown field "?([^"]*)"?`)
	protoDuplicate  = regexp.MustCompile(`^duplicate field "?([^"]*)"?`)
	protoOneofTwice = regexp.MustCompile(`^error parsing "?([^",]*)"?, oneof .* is already set`)
)

// describeProtoJSONError turns a protojson error into a message that names
// the field (by its proto name, as responses use) and what it must be.
func describeProtoJSONError(md protoreflect.MessageDescriptor, err error) string {
	msg := protoErrHead.ReplaceAllString(err.Error(), "")
	if m := protoBadValue.FindStringSubmatch(msg); m != nil {
		name := m[2]
		if fd := findField(md, name); fd != nil {
			return "field " + string(fd.Name()) + ": " + expectation(fd)
		}
		return "field " + name + ": " + expectationOfKind(m[1])
	}
	if m := protoUnknown.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown field %q", truncateField(m[1]))
	}
	if m := protoDuplicate.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("field %q is given more than once", truncateField(m[1]))
	}
	if m := protoOneofTwice.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("field %q conflicts with another field already given (only one of them may be set)", truncateField(m[1]))
	}
	return "the body does not match the request"
}

func truncateField(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// findField looks a field up by proto or JSON name, in md and the messages
// it contains (one level), since protojson names only the innermost field.
func findField(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	seen := map[protoreflect.FullName]bool{}
	var find func(md protoreflect.MessageDescriptor, depth int) protoreflect.FieldDescriptor
	find = func(md protoreflect.MessageDescriptor, depth int) protoreflect.FieldDescriptor {
		if seen[md.FullName()] || depth > 3 {
			return nil
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		if fd := fields.ByJSONName(name); fd != nil {
			return fd
		}
		if fd := fields.ByTextName(name); fd != nil {
			return fd
		}
		for i := 0; i < fields.Len(); i++ {
			if sub := fields.Get(i).Message(); sub != nil {
				if fd := find(sub, depth+1); fd != nil {
					return fd
				}
			}
		}
		return nil
	}
	return find(md, 0)
}

// expectation says what a field's value must be.
func expectation(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "not an object"
	}
	if fd.IsList() {
		return "not a list of " + strings.TrimPrefix(expectationOfKind(fd.Kind().String()), "not ")
	}
	if fd.Kind() == protoreflect.MessageKind {
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			return "not an RFC 3339 timestamp"
		case "google.protobuf.Duration":
			return `not a duration in seconds like "1.5s"`
		}
	}
	return expectationOfKind(fd.Kind().String())
}

func expectationOfKind(kind string) string {
	switch kind {
	case "int32", "int64", "sint32", "sint64", "sfixed32", "sfixed64":
		return "not an integer"
	case "uint32", "uint64", "fixed32", "fixed64":
		return "not a non-negative integer"
	case "float", "double":
		return "not a number"
	case "bool":
		return "not a boolean (true or false)"
	case "string":
		return "not a string"
	case "bytes":
		return "not base64-encoded bytes"
	case "enum":
		return "not one of the allowed values"
	case "message", "group":
		return "not an object"
	}
	return "not a valid value"
}

// queryParserOnce guards the gateway's process-wide query parser setting.
var queryParserOnce sync.Once

// strictQueryParser is the gateway's query parser with errors that name
// the parameter and what it must be, instead of strconv internals.
type strictQueryParser struct {
	runtime.DefaultQueryParser
}

// Parse implements runtime.QueryParameterParser.
func (p *strictQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	err := p.DefaultQueryParser.Parse(msg, values, filter)
	if err == nil {
		return nil
	}
	return errors.New(describeQueryError(msg.ProtoReflect().Descriptor(), err))
}

var (
	queryFieldErr = regexp.MustCompile(`^(?:parsing (?:field|list|map key|map value)|duplicate field|too many values for field|field) "([^"]*)"`)
	queryOneofErr = regexp.MustCompile(`^field already set for oneof`)
)

// describeQueryError rewrites a query parameter error of the gateway.
func describeQueryError(md protoreflect.MessageDescriptor, err error) string {
	msg := err.Error()
	m := queryFieldErr.FindStringSubmatch(msg)
	switch {
	case m == nil && queryOneofErr.MatchString(msg):
		return "query parameters set two fields of which only one may be given"
	case m == nil:
		return "a query parameter is not valid for this request"
	case strings.HasPrefix(msg, "duplicate field"), strings.HasPrefix(msg, "too many values"):
		return fmt.Sprintf("query parameter %s is given more than once", truncateField(m[1]))
	case strings.HasPrefix(msg, "field "):
		return fmt.Sprintf("query parameter %s is not a map", truncateField(m[1]))
	}
	name := m[1]
	if fd := findField(md, name); fd != nil {
		if fd.IsList() || fd.IsMap() {
			return "field " + string(fd.Name()) + ": " + expectationOfKind(fd.Kind().String())
		}
		return "field " + string(fd.Name()) + ": " + expectation(fd)
	}
	return "field " + truncateField(name) + ": not a valid value"
}
