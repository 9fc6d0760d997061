package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// maxMessageDepth bounds the nesting of a request's messages. gatehouse's
// messages are a few levels deep; protobuf's default (10,000) only lets a
// small request burn stack and CPU. (Unknown groups are bounded by protobuf
// itself.)
const maxMessageDepth = 32

// codec is the server's gRPC codec: protobuf, as grpc-go's default codec,
// with a bounded nesting depth, and a request that does not decode answered
// with INVALID_ARGUMENT. grpc-go itself answers a codec error with INTERNAL
// ("failed to unmarshal the received message"), which says "server bug" to
// clients, alerting and retry policies when the bytes were the client's,
// and it writes that status before the handler sees the error.
//
// So the verdict travels to the handler inside a decodeTarget: the handler
// wrappers installed by registrar pass one to grpc's receive path instead of
// the bare request message; the codec decodes into the message it carries,
// keeps the error there and reports success to grpc; the wrapper then fails
// the call with INVALID_ARGUMENT before the handler runs. The codec answers
// a bare message (a caller other than the wrappers) with the error itself,
// so no path can mistake a failed decode for an empty request. Nothing is
// global: the codec is a server option, not a registered codec.
type codec struct {
	base encoding.CodecV2
	opts proto.UnmarshalOptions
}

func newCodec() (*codec, error) {
	base := encoding.GetCodecV2("proto")
	if base == nil {
		return nil, errors.New("grpc proto codec is not registered")
	}
	return &codec{base: base, opts: proto.UnmarshalOptions{RecursionLimit: maxMessageDepth}}, nil
}

// Name is the content subtype the codec answers to.
func (c *codec) Name() string { return c.base.Name() }

// Marshal encodes answers exactly as grpc's protobuf codec does.
func (c *codec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

// Unmarshal decodes a request; v is a decodeTarget when it comes through a
// handler wrapper, or the message itself.
func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	t, ok := v.(*decodeTarget)
	if !ok {
		return c.unmarshal(data, v)
	}
	if err := c.unmarshal(data, t.msg); err != nil && t.err == nil {
		t.err = err
	}
	return nil
}

func (c *codec) unmarshal(data mem.BufferSlice, v any) error {
	var m proto.Message
	switch v := v.(type) {
	case protoadapt.MessageV2:
		m = v
	case protoadapt.MessageV1:
		m = protoadapt.MessageV2Of(v)
	default:
		return fmt.Errorf("cannot decode into %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := c.opts.Unmarshal(buf.ReadOnlyData(), m); err != nil {
		return &decodeError{msg: string(m.ProtoReflect().Descriptor().FullName()), err: err}
	}
	return nil
}

// decodeError is a request that is not a valid message of its type.
type decodeError struct {
	msg string // full name of the expected message
	err error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("request is not a valid %s message: %v", e.msg, e.err)
}

func (e *decodeError) Unwrap() error { return e.err }

// decodeTarget carries a request message through grpc's receive path to the
// codec, and the codec's error back.
type decodeTarget struct {
	msg any
	err error
}

// receive reads one request message with recv (a unary handler's dec or a
// stream's RecvMsg); a message the codec could not decode fails the call
// with INVALID_ARGUMENT and the reason.
func receive(recv func(any) error, m any) error {
	t := &decodeTarget{msg: m}
	err := recv(t)
	if t.err != nil {
		if pm, ok := m.(protoadapt.MessageV2); ok {
			proto.Reset(pm)
		}
		return status.Error(codes.InvalidArgument, t.err.Error())
	}
	return err
}

// registrar registers services with handlers that receive requests through
// receive. Every service of the server is registered through it.
type registrar struct{ *grpc.Server }

// RegisterService registers a copy of sd whose handlers decode through the
// codec's decodeTarget.
func (r registrar) RegisterService(sd *grpc.ServiceDesc, impl any) {
	d := *sd
	d.Methods = make([]grpc.MethodDesc, len(sd.Methods))
	for i, md := range sd.Methods {
		h := md.Handler
		md.Handler = func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(m any) error { return receive(dec, m) }, in)
		}
		d.Methods[i] = md
	}
	d.Streams = make([]grpc.StreamDesc, len(sd.Streams))
	for i, s := range sd.Streams {
		h := s.Handler
		s.Handler = func(srv any, stream grpc.ServerStream) error {
			return h(srv, decodingStream{stream})
		}
		d.Streams[i] = s
	}
	r.Server.RegisterService(&d, impl)
}

// decodingStream is a server stream whose RecvMsg answers a malformed
// message with INVALID_ARGUMENT.
type decodingStream struct{ grpc.ServerStream }

func (s decodingStream) RecvMsg(m any) error { return receive(s.ServerStream.RecvMsg, m) }
