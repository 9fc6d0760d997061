package store

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"entgo.io/ent/dialect"
)

// DSN is a classified --database-url.
type DSN struct {
	// Dialect is dialect.Postgres or dialect.SQLite.
	Dialect string
	// Conn is what the driver opens: the PostgreSQL URL or keyword string
	// as given, or the SQLite file path or "file:" URI.
	Conn string
	// Path is the SQLite database file (without "file:" and query); empty
	// for PostgreSQL.
	Path string
}

// dsnForms is the part of every classification error that shows what is
// accepted.
const dsnForms = "use postgres://user@host:5432/db?sslmode=verify-full (or postgresql://..., or a keyword string like \"host=db.example.com dbname=gatehouse user=gatehouse\") for PostgreSQL, or a file path, sqlite:path or file:path for SQLite"

// libpqKeywords are the connection parameters of a libpq keyword/value
// string (PostgreSQL documentation, "Parameter Key Words").
var libpqKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "password": true,
	"passfile": true, "require_auth": true, "channel_binding": true, "connect_timeout": true,
	"client_encoding": true, "options": true, "application_name": true, "fallback_application_name": true,
	"keepalives": true, "keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
	"tcp_user_timeout": true, "replication": true, "gssencmode": true, "sslmode": true, "requiressl": true,
	"sslnegotiation": true, "sslcompression": true, "sslcert": true, "sslkey": true, "sslpassword": true,
	"sslcertmode": true, "sslrootcert": true, "sslcrl": true, "sslcrldir": true, "sslsni": true,
	"requirepeer": true, "ssl_min_protocol_version": true, "ssl_max_protocol_version": true,
	"krbsrvname": true, "gsslib": true, "gssdelegation": true, "service": true,
	"target_session_attrs": true, "load_balance_hosts": true, "min_read_buffer_size": true,
	"statement_cache_capacity": true, "default_query_exec_mode": true, "pool_max_conns": true,
}

var (
	// urlScheme matches a URL scheme of two or more characters (a single
	// letter is a Windows drive, "C:\...").
	urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)
	// keywordLike matches a first token that looks like key=value.
	keywordLike = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*\s*=`)
)

// ParseDSN classifies a database location: postgres:// and postgresql://
// URLs and libpq keyword strings are PostgreSQL; sqlite: and file: URLs and
// plain paths are SQLite. Anything else that could be read more than one
// way (an unknown scheme, key=value text that is not a valid keyword string)
// is refused. Errors never repeat the value: it may hold a password.
func ParseDSN(s string) (DSN, error) {
	if strings.TrimSpace(s) == "" {
		return DSN{}, errors.New("the database URL is empty: " + dsnForms)
	}
	if m := urlScheme.FindStringSubmatch(s); m != nil {
		switch strings.ToLower(m[1]) {
		case "postgres", "postgresql":
			if !strings.HasPrefix(s[len(m[0]):], "//") {
				return DSN{}, fmt.Errorf("the database URL has scheme %s: but no //host part: %s", m[1], dsnForms)
			}
			return DSN{Dialect: dialect.Postgres, Conn: s}, nil
		case "sqlite":
			rest := s[len(m[0]):]
			// sqlite:///abs/path, sqlite://rel/path and sqlite:path.
			rest = strings.TrimPrefix(rest, "//")
			path, _, _ := strings.Cut(rest, "?")
			if path == "" {
				return DSN{}, errors.New("the sqlite: database URL names no file: " + dsnForms)
			}
			return DSN{Dialect: dialect.SQLite, Conn: rest, Path: path}, nil
		case "file":
			path, _, _ := strings.Cut(strings.TrimPrefix(s[len(m[0]):], "//"), "?")
			if path == "" {
				return DSN{}, errors.New("the file: database URL names no file: " + dsnForms)
			}
			return DSN{Dialect: dialect.SQLite, Conn: s, Path: path}, nil
		default:
			return DSN{}, fmt.Errorf("the database URL has the unsupported scheme %q: %s", m[1], dsnForms)
		}
	}
	if keywordLike.MatchString(s) {
		if err := checkKeywordDSN(s); err != nil {
			return DSN{}, fmt.Errorf("the database URL looks like a PostgreSQL keyword string but %w: %s", err, dsnForms)
		}
		return DSN{Dialect: dialect.Postgres, Conn: s}, nil
	}
	if strings.Contains(s, "=") && strings.ContainsAny(s, " \t\r\n") {
		return DSN{}, errors.New("the database URL is neither a PostgreSQL keyword string nor a file path: " + dsnForms)
	}
	return DSN{Dialect: dialect.SQLite, Conn: s, Path: s}, nil
}

// sharedFile reports whether d is a SQLite database file that every new
// connection opens as the same database with its own cache, so that reader
// connections can work beside the writer (readers.go). Not so: an in-memory
// database (":memory:", mode=memory), which a second connection would see as
// another, empty one; an empty path (a private temporary database per
// connection); a shared cache, whose connections take table locks on each
// other instead of reading WAL snapshots, and fail with SQLITE_LOCKED without
// waiting; and a VFS chosen in the DSN (memdb, ...), whose sharing we cannot
// tell.
func (d DSN) sharedFile() bool {
	if d.Dialect != dialect.SQLite || d.Path == "" || strings.HasPrefix(d.Path, ":memory:") {
		return false
	}
	_, query, _ := strings.Cut(d.Conn, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return false // the driver will make sense of it, or refuse it
	}
	return !strings.EqualFold(params.Get("mode"), "memory") &&
		!strings.EqualFold(params.Get("cache"), "shared") &&
		params.Get("vfs") == ""
}

// checkKeywordDSN checks that s is a libpq keyword/value string whose every
// key is a libpq connection parameter: key = value pairs separated by
// whitespace, a value single-quoted (with \' and \\) or without spaces.
func checkKeywordDSN(s string) error {
	i, n := 0, 0
	skip := func() {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
	}
	for {
		skip()
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && !strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
		key := s[start:i]
		skip()
		if i == len(s) || s[i] != '=' {
			return fmt.Errorf("parameter %d has no =value", n+1)
		}
		if !libpqKeywords[key] {
			return fmt.Errorf("%q is not a PostgreSQL connection parameter", key)
		}
		i++
		skip()
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					i += 2
					continue
				}
				if s[i] == '\'' {
					closed = true
					i++
					break
				}
				i++
			}
			if !closed {
				return fmt.Errorf("the value of %s has no closing quote", key)
			}
		} else {
			for i < len(s) && !strings.ContainsRune(" \t\r\n", rune(s[i])) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				i++
			}
		}
		n++
	}
	return nil
}
