package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"modernc.org/sqlite"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/ent"
)

// errUsage marks errors in how the command line was written (exit 2).
var errUsage = errors.New("usage error")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usageErr(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cliError is an error as the operator sees it; Unwrap keeps the cause for
// errors.Is and tests.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// userMessage words err, returned by cmd, as one line for the operator. It
// is the only place that turns errors into text:
//   - a usage error names the help to read;
//   - the core's *errs.Error carries a message meant for callers; its
//     Error() also appends the cause chain, which is where doubled messages
//     (core wraps a validation *errs.Error in another with the same
//     message) and ent/SQL text come from, so only Message is shown;
//   - store conflicts and misses are said in the command's terms;
//   - anything else is its own text without database driver details.
func userMessage(cmd *cobra.Command, err error) string {
	if errors.Is(err, errUsage) {
		return oneLine(err.Error()) + " (see " + commandPath(cmd) + " -h)"
	}
	var e *errs.Error
	if errors.As(err, &e) {
		pub := errs.Public(err)
		switch {
		case pub.Kind == errs.AlreadyExists && store.ConflictField(err) != "":
			field := strings.ReplaceAll(store.ConflictField(err), "_", " ")
			return fmt.Sprintf("a %s with this %s already exists", noun(cmd), field)
		case pub.Kind != errs.Internal:
			return oneLine(pub.Message)
		case e.Err != nil:
			return oneLine(e.Message + ": " + withoutDriverText(e.Err))
		}
		return oneLine(e.Message)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		return noun(cmd) + " already exists"
	case errors.Is(err, store.ErrNotFound):
		return "no such " + noun(cmd)
	}
	return oneLine(withoutDriverText(err))
}

// withoutDriverText is err's text cut before the first ent or SQL driver
// error in its chain: those describe statements and constraints, not what
// the operator did. Connection failures are kept: they say what to fix.
func withoutDriverText(err error) string {
	text := err.Error()
	if d := driverError(err); d != nil {
		if i := strings.Index(text, d.Error()); i > 0 {
			text = text[:i]
		} else {
			return "database error"
		}
	}
	// ent errors formatted with %v lose their type but keep their prefix.
	if i := strings.Index(text, ": ent: "); i > 0 {
		text = text[:i]
	}
	return strings.TrimRight(text, ": ")
}

// driverError returns the outermost ent or SQL driver error in err's chain.
func driverError(err error) error {
	switch err.(type) {
	case nil, *pgconn.ConnectError:
		return nil
	case *ent.ConstraintError, *ent.NotFoundError, *ent.NotSingularError, *ent.ValidationError, *ent.NotLoadedError,
		*sqlite.Error, *pgconn.PgError:
		return err
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return driverError(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if d := driverError(e); d != nil {
				return d
			}
		}
	}
	return nil
}

// noun is what cmd works on ("user", "client", ...), from the annotation
// of its command group.
func noun(cmd *cobra.Command) string {
	for c := cmd; c != nil; c = c.Parent() {
		if n := c.Annotations[annotationNoun]; n != "" {
			return n
		}
	}
	return "record"
}

func commandPath(cmd *cobra.Command) string {
	if cmd == nil {
		return "gatehouse"
	}
	return cmd.CommandPath()
}

// oneLine joins the lines of a multi-line message (pgx reports every
// connection attempt on its own line).
func oneLine(s string) string {
	var b strings.Builder
	for i, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if i > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(strings.TrimSpace(line))
	}
	return b.String()
}
