package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

// revisions keeps Atlas's migration history in revisionsTable, through the
// transaction the migration runs in (Atlas's own implementation belongs to
// its CLI and is not importable).
type revisions struct {
	q       querier
	dialect string
}

var _ atlasmigrate.RevisionReadWriter = (*revisions)(nil)

func (r *revisions) Ident() *atlasmigrate.TableIdent {
	return &atlasmigrate.TableIdent{Name: revisionsTable}
}

// create makes the table; its shape never changes.
func (r *revisions) create(ctx context.Context) error {
	_, err := r.q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+revisionsTable+` (
		version text NOT NULL PRIMARY KEY,
		description text NOT NULL,
		type bigint NOT NULL,
		applied bigint NOT NULL,
		total bigint NOT NULL,
		executed_at text NOT NULL,
		execution_time bigint NOT NULL,
		error text NOT NULL,
		error_stmt text NOT NULL,
		hash text NOT NULL,
		partial_hashes text NOT NULL,
		operator_version text NOT NULL)`)
	if err != nil {
		return fmt.Errorf("create %s: %w", revisionsTable, err)
	}
	return nil
}

const revisionColumns = "version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version"

func (r *revisions) ReadRevisions(ctx context.Context) ([]*atlasmigrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT "+revisionColumns+" FROM "+revisionsTable+" ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var revs []*atlasmigrate.Revision
	for rows.Next() {
		rev, err := scanRevision(rows)
		if err != nil {
			return nil, err
		}
		revs = append(revs, rev)
	}
	return revs, rows.Err()
}

func (r *revisions) ReadRevision(ctx context.Context, version string) (*atlasmigrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, r.bind("SELECT "+revisionColumns+" FROM "+revisionsTable+" WHERE version = $1"), version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, atlasmigrate.ErrRevisionNotExist
	}
	return scanRevision(rows)
}

func (r *revisions) WriteRevision(ctx context.Context, rev *atlasmigrate.Revision) error {
	partial, err := json.Marshal(rev.PartialHashes)
	if err != nil {
		return err
	}
	_, err = r.q.ExecContext(ctx, r.bind(`INSERT INTO `+revisionsTable+` (`+revisionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (version) DO UPDATE SET description = excluded.description, type = excluded.type,
		applied = excluded.applied, total = excluded.total, executed_at = excluded.executed_at,
		execution_time = excluded.execution_time, error = excluded.error, error_stmt = excluded.error_stmt,
		hash = excluded.hash, partial_hashes = excluded.partial_hashes, operator_version = excluded.operator_version`),
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total, rev.ExecutedAt.UTC().Format(time.RFC3339Nano),
		int64(rev.ExecutionTime), rev.Error, rev.ErrorStmt, rev.Hash, string(partial), rev.OperatorVersion)
	return err
}

func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.q.ExecContext(ctx, r.bind("DELETE FROM "+revisionsTable+" WHERE version = $1"), version)
	return err
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// bind turns PostgreSQL's $N placeholders into SQLite's numbered ?N.
func (r *revisions) bind(q string) string {
	if r.dialect == dialect.Postgres {
		return q
	}
	return placeholder.ReplaceAllString(q, "?$1")
}

func scanRevision(rows *sql.Rows) (*atlasmigrate.Revision, error) {
	var (
		rev              atlasmigrate.Revision
		typ, execTime    int64
		executed, hashes string
	)
	if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &executed, &execTime,
		&rev.Error, &rev.ErrorStmt, &rev.Hash, &hashes, &rev.OperatorVersion); err != nil {
		return nil, err
	}
	rev.Type, rev.ExecutionTime = atlasmigrate.RevisionType(typ), time.Duration(execTime)
	var err error
	if rev.ExecutedAt, err = time.Parse(time.RFC3339Nano, executed); err != nil {
		return nil, errors.New("revisions: malformed executed_at")
	}
	if err := json.Unmarshal([]byte(hashes), &rev.PartialHashes); err != nil {
		return nil, errors.New("revisions: malformed partial_hashes")
	}
	return &rev, nil
}
