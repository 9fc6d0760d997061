package telemetry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync/atomic"
)

// RequestIDHeader is the HTTP header, and in lower case the gRPC metadata
// key, of the request id, both incoming and echoed in the response.
const RequestIDHeader = "X-Request-Id"

// RequestIDKey is RequestIDHeader as gRPC metadata keys are spelt.
const RequestIDKey = "x-request-id"

// maxRequestIDLen bounds an accepted incoming request id.
const maxRequestIDLen = 64

// RequestID returns incoming when it is a sane request id (1 to 64 of
// [A-Za-z0-9._-], so that it cannot forge log lines or carry much data),
// else a new random one.
func RequestID(incoming string) string {
	if validRequestID(incoming) {
		return incoming
	}
	return NewRequestID()
}

// NewRequestID returns a new request id of 16 characters: 8 random bytes
// drawn once per process and a counter, base64url-encoded. Request ids need
// to be unique, not unpredictable (they are no credential), and a read of
// crypto/rand per request was a measurable part of ValidateToken's cost.
func NewRequestID() string {
	var b [12]byte
	copy(b[:], requestIDPrefix[:])
	binary.BigEndian.PutUint32(b[8:], requestIDCounter.Add(1))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

var (
	// requestIDPrefix tells this process's ids from other replicas' and
	// earlier runs'; the counter tells them apart within the process (it
	// wraps after 4 billion requests, long after the prefix made them
	// distinguishable in any log window).
	requestIDPrefix  = func() (p [8]byte) { rand.Read(p[:]); return p }()
	requestIDCounter atomic.Uint32
)

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ActorKey is the response metadata key in which the in-process gRPC server
// tells the REST gateway which account the gate authenticated, for the HTTP
// access log. It is never sent to a gRPC client.
const ActorKey = "x-gatehouse-actor"
