package jose

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf8"
)

// members iterates over the top-level members of a JSON object without
// decoding values. It is only used on input json.Valid accepted, yet every
// step is bounds-checked so that a disagreement can only end the iteration
// with failed set, never panic.
type members struct {
	data   []byte
	pos    int
	count  int
	failed bool
}

// newMembers starts iterating over data, reporting false if data is not an
// object.
func newMembers(data []byte) (members, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return members{}, false
	}
	return members{data: data, pos: i + 1}, true
}

// next returns the raw (still quoted) name and raw value of the next member.
// It reports false at the end of the object or when the input is malformed.
func (m *members) next() (key, val []byte, ok bool) {
	d := m.data
	i := skipSpace(d, m.pos)
	if i >= len(d) {
		m.failed = true
		return nil, nil, false
	}
	if d[i] == '}' {
		return nil, nil, false
	}
	if m.count > 0 {
		if d[i] != ',' {
			m.failed = true
			return nil, nil, false
		}
		i = skipSpace(d, i+1)
	}
	end := skipString(d, i)
	if end < 0 {
		m.failed = true
		return nil, nil, false
	}
	key = d[i:end]
	i = skipSpace(d, end)
	if i >= len(d) || d[i] != ':' {
		m.failed = true
		return nil, nil, false
	}
	i = skipSpace(d, i+1)
	end = skipValue(d, i)
	if end < 0 {
		m.failed = true
		return nil, nil, false
	}
	m.pos = end
	m.count++
	return key, d[i:end], true
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at d[i], or -1.
func skipString(d []byte, i int) int {
	if i >= len(d) || d[i] != '"' {
		return -1
	}
	for i++; i < len(d); {
		switch d[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1
		default:
			i++
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at d[i], or -1.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				if i = skipString(d, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default: // number, true, false, null
		for ; i < len(d); i++ {
			switch d[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return i
	}
}

var errNotString = errors.New("not a JSON string")

// jsonString returns the contents of the raw JSON string v. Escapes are rare
// in JOSE, so only then does it pay for encoding/json.
func jsonString(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, errNotString
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, errNotString
	}
	return []byte(s), nil
}

// memberSet detects duplicate member names. Names are compared with
// bytes.EqualFold because encoding/json, which callers use to decode claims,
// matches names case-insensitively: {"sub":"a","SUB":"b"} would otherwise
// mean different things to different readers. Small objects are checked
// pairwise without allocating; large ones switch to a map so that an
// attacker cannot make this quadratic.
type memberSet struct {
	small [16][]byte
	n     int
	large map[string]struct{}
}

// add records name and reports false if an equal name was already seen.
func (s *memberSet) add(name []byte) bool {
	if s.large == nil {
		for _, k := range s.small[:s.n] {
			if bytes.EqualFold(k, name) {
				return false
			}
		}
		if s.n < len(s.small) {
			s.small[s.n] = name
			s.n++
			return true
		}
		s.large = make(map[string]struct{}, 4*len(s.small))
		for _, k := range s.small {
			s.large[foldName(k)] = struct{}{}
		}
	}
	f := foldName(name)
	if _, dup := s.large[f]; dup {
		return false
	}
	s.large[f] = struct{}{}
	return true
}

// foldName maps every rune to the smallest rune of its simple case-folding
// orbit, so foldName(a) == foldName(b) exactly when bytes.EqualFold(a, b).
func foldName(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, r := range string(b) {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		out = utf8.AppendRune(out, low)
	}
	return string(out)
}
