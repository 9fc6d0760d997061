package store

import (
	"strings"
	"testing"

	"entgo.io/ent/dialect"
)

func TestParseDSN(t *testing.T) {
	const refused = ""
	for _, tc := range []struct {
		in      string
		dialect string // refused: an error
		conn    string // empty: the input
		path    string
	}{
		{"postgres://u:secret@db:5432/gh?sslmode=disable", dialect.Postgres, "", ""},
		{"postgresql://db/gh", dialect.Postgres, "", ""},
		{"POSTGRES://db/gh", dialect.Postgres, "", ""},
		{"host=db.example.com dbname=gatehouse user=gh", dialect.Postgres, "", ""},
		{"dbname=gatehouse", dialect.Postgres, "", ""},
		{"host = db  port=5432 password='a b\\' c' sslmode=require", dialect.Postgres, "", ""},
		{"options=-csearch_path=x host=db", dialect.Postgres, "", ""},
		{"data/gatehouse.db", dialect.SQLite, "", "data/gatehouse.db"},
		{"/var/lib/gatehouse/gh.db", dialect.SQLite, "", "/var/lib/gatehouse/gh.db"},
		{"gh=1.db", refused, "", ""},
		{"dir/a=b.db", dialect.SQLite, "", "dir/a=b.db"},
		{"C:\\gatehouse\\gh.db", dialect.SQLite, "", "C:\\gatehouse\\gh.db"},
		{"sqlite:data/gh.db", dialect.SQLite, "data/gh.db", "data/gh.db"},
		{"sqlite:///var/gh.db", dialect.SQLite, "/var/gh.db", "/var/gh.db"},
		{"sqlite:///var/gh.db?mode=ro", dialect.SQLite, "/var/gh.db?mode=ro", "/var/gh.db"},
		{"file:data/gh.db?cache=shared", dialect.SQLite, "", "data/gh.db"},
		{"", refused, "", ""},
		{"   ", refused, "", ""},
		{"sqlite:", refused, "", ""},
		{"file:", refused, "", ""},
		{"postgres:db/gh", refused, "", ""},
		{"mysql://u:p@db/gh", refused, "", ""},
		{"localhost:5432/gh", refused, "", ""},
		{"host=db dbnmae=gh", refused, "", ""},
		{"server=db database=gh", refused, "", ""},
		{"host=db password='unterminated", refused, "", ""},
		{"host db dbname=gh", refused, "", ""},
		{"my db=1 x.db", refused, "", ""},
	} {
		got, err := ParseDSN(tc.in)
		if tc.dialect == refused {
			if err == nil {
				t.Errorf("ParseDSN(%q) = %+v, want an error", tc.in, got)
				continue
			}
			msg := err.Error()
			if !strings.Contains(msg, "postgres://") || !strings.Contains(msg, "host=") || !strings.Contains(msg, "sqlite:path") {
				t.Errorf("ParseDSN(%q) error does not show the accepted forms: %v", tc.in, err)
			}
			if strings.Contains(tc.in, "p@") && strings.Contains(msg, "u:p@") {
				t.Errorf("ParseDSN(%q) error repeats the URL (it may hold a password): %v", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDSN(%q): %v", tc.in, err)
			continue
		}
		conn := tc.conn
		if conn == "" {
			conn = tc.in
		}
		if got.Dialect != tc.dialect || got.Conn != conn || got.Path != tc.path {
			t.Errorf("ParseDSN(%q) = %+v, want {%s %s %s}", tc.in, got, tc.dialect, conn, tc.path)
		}
		if IsPostgres(tc.in) != (tc.dialect == dialect.Postgres) {
			t.Errorf("IsPostgres(%q) disagrees with ParseDSN", tc.in)
		}
	}
}

func TestDSNSharedFile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"data/gatehouse.db", true},
		{"/var/lib/gatehouse/gh.db", true},
		{"sqlite:data/gh.db", true},
		{"sqlite:///var/gh.db?mode=ro", true},
		{"file:data/gh.db", true},
		{"file:data/gh.db?_pragma=cache_size(-4000)", true},
		{":memory:", false},
		{"sqlite::memory:", false},
		{"file::memory:", false},
		{"file::memory:?cache=shared", false},
		{"file:mem?mode=memory", false},
		{"file:mem?MODE=memory", true}, // SQLite's URI parameters are case-sensitive: a file
		{"file:mem?mode=memory&cache=private", false},
		{"file:data/gh.db?cache=shared", false},
		{"file:/mem.db?vfs=memdb", false},
		{"file:data/gh.db?mode=%zz", false},
		{"postgres://db/gh", false},
	} {
		d, err := ParseDSN(tc.in)
		if err != nil {
			t.Errorf("ParseDSN(%q): %v", tc.in, err)
			continue
		}
		if got := d.sharedFile(); got != tc.want {
			t.Errorf("ParseDSN(%q).sharedFile() = %v, want %v", tc.in, got, tc.want)
		}
	}
}
