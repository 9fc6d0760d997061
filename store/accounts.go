package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/account"
	"github.com/gatehouse/gatehouse/store/ent/federatedlink"
	"github.com/gatehouse/gatehouse/store/ent/predicate"
	"github.com/gatehouse/gatehouse/store/ent/role"
)

// AccountKind tells users from service clients.
type AccountKind string

const (
	KindUser    AccountKind = "user"
	KindService AccountKind = "service"
)

// Account is a user or service client as stored. PasswordHash and SecretHash
// never leave the service layer.
type Account struct {
	ID           string
	Kind         AccountKind
	Username     string // users only
	ClientID     string // service clients only
	Email        string // lower-case; may be empty
	DisplayName  string
	PasswordHash string
	SecretHash   []byte
	Audiences    []string // service clients only; first is the default, empty = server default
	Active       bool
	Roles        []string // sorted
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AccountKey selects one account by exactly one of its unique fields.
type AccountKey struct {
	ID, Username, Email, ClientID string
}

// Change kinds written to the change log.
const (
	ChangeAccount = "account" // subject: account id; created, updated, disabled or deleted
	ChangeKey     = "key"     // subject: kid
)

// CreateAccount inserts a new account with its roles.
func (s *Store) CreateAccount(ctx context.Context, a Account) (Account, error) {
	now := s.clock()
	a.CreatedAt, a.UpdatedAt = now, now
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		roleIDs, err := ensureRoles(ctx, tx, a.Roles)
		if err != nil {
			return err
		}
		c := tx.Account.Create().
			SetID(a.ID).
			SetKind(account.Kind(a.Kind)).
			SetNillableUsername(nonEmpty(a.Username)).
			SetNillableClientID(nonEmpty(a.ClientID)).
			SetNillableEmail(nonEmpty(a.Email)).
			SetDisplayName(a.DisplayName).
			SetPasswordHash(a.PasswordHash).
			SetActive(a.Active).
			SetCreatedAt(now).
			SetUpdatedAt(now).
			AddRoleIDs(roleIDs...)
		if a.SecretHash != nil {
			c.SetSecretHash(a.SecretHash)
		}
		if len(a.Audiences) > 0 {
			c.SetAudiences(a.Audiences)
		}
		if _, err := c.Save(ctx); err != nil {
			return fmt.Errorf("insert account: %w", accountConflict(mapErr(err)))
		}
		return s.appendChange(ctx, tx, ChangeAccount, a.ID)
	})
	if err != nil {
		return Account{}, err
	}
	a.Roles = normaliseRoles(a.Roles)
	return a, nil
}

// GetAccount returns the account selected by key.
func (s *Store) GetAccount(ctx context.Context, key AccountKey) (Account, error) {
	q := s.client.Account.Query().WithRoles()
	switch {
	case key.ID != "":
		q = q.Where(account.ID(key.ID))
	case key.Username != "":
		q = q.Where(account.Username(key.Username))
	case key.Email != "":
		q = q.Where(account.Email(key.Email))
	case key.ClientID != "":
		q = q.Where(account.ClientID(key.ClientID))
	default:
		return Account{}, fmt.Errorf("%w: empty account key", ErrNotFound)
	}
	e, err := q.Only(ctx)
	if err != nil {
		return Account{}, fmt.Errorf("get account: %w", mapErr(err))
	}
	return toAccount(e), nil
}

// ListAccounts returns up to limit accounts of one kind with ids greater than
// after, in id order (ids are time-ordered UUIDv7), for keyset pagination.
func (s *Store) ListAccounts(ctx context.Context, kind AccountKind, after string, limit int) ([]Account, error) {
	q := s.client.Account.Query().WithRoles().Order(ent.Asc(account.FieldID)).Limit(limit)
	if kind != "" {
		q = q.Where(account.KindEQ(account.Kind(kind)))
	}
	if after != "" {
		q = q.Where(account.IDGT(after))
	}
	es, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", mapErr(err))
	}
	out := make([]Account, len(es))
	for i, e := range es {
		out[i] = toAccount(e)
	}
	return out, nil
}

// AllAccountStates returns id, active flag and roles of every account, for
// loading the in-memory view at start.
func (s *Store) AllAccounts(ctx context.Context) ([]Account, error) {
	es, err := s.client.Account.Query().WithRoles().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", mapErr(err))
	}
	out := make([]Account, len(es))
	for i, e := range es {
		out[i] = toAccount(e)
	}
	return out, nil
}

// UpdateAccount applies fn to the account inside a transaction and stores the
// result; fn may change everything but ID, Kind and CreatedAt. An error from
// fn aborts the update unchanged.
func (s *Store) UpdateAccount(ctx context.Context, id string, fn func(a *Account) error) (Account, error) {
	var out Account
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		q := tx.Account.Query().Where(account.ID(id))
		if s.dialect == dialect.Postgres {
			// Row lock: concurrent read-modify-write cycles must not lose
			// updates. SQLite transactions are already serial (BEGIN IMMEDIATE).
			q = q.ForUpdate()
		}
		e, err := q.Only(ctx)
		if err != nil {
			return fmt.Errorf("get account: %w", mapErr(err))
		}
		e.Edges.Roles, err = e.QueryRoles().All(ctx)
		if err != nil {
			return fmt.Errorf("get account: %w", mapErr(err))
		}
		a := toAccount(e)
		if err := fn(&a); err != nil {
			return err
		}
		a.ID, a.Kind, a.CreatedAt = e.ID, AccountKind(e.Kind), e.CreatedAt
		a.UpdatedAt = s.clock()
		a.Roles = normaliseRoles(a.Roles)
		u := tx.Account.UpdateOneID(id).
			SetDisplayName(a.DisplayName).
			SetPasswordHash(a.PasswordHash).
			SetActive(a.Active).
			SetUpdatedAt(a.UpdatedAt)
		if a.Email == "" {
			u.ClearEmail()
		} else {
			u.SetEmail(a.Email)
		}
		if a.Username == "" {
			u.ClearUsername()
		} else {
			u.SetUsername(a.Username)
		}
		if a.SecretHash == nil {
			u.ClearSecretHash()
		} else {
			u.SetSecretHash(a.SecretHash)
		}
		if len(a.Audiences) == 0 {
			u.ClearAudiences()
		} else {
			u.SetAudiences(a.Audiences)
		}
		if !slices.Equal(a.Roles, toAccount(e).Roles) {
			roleIDs, err := ensureRoles(ctx, tx, a.Roles)
			if err != nil {
				return err
			}
			u.ClearRoles().AddRoleIDs(roleIDs...)
		}
		if _, err := u.Save(ctx); err != nil {
			return fmt.Errorf("update account: %w", accountConflict(mapErr(err)))
		}
		out = a
		return s.appendChange(ctx, tx, ChangeAccount, id)
	})
	return out, err
}

// DeleteAccount removes an account; its tokens stop validating once every
// replica has read the change log entry.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *ent.Tx) error {
		if err := tx.Account.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete account: %w", mapErr(err))
		}
		// Its federated identities become free to link again.
		if err := s.deleteLinks(ctx, tx, federatedlink.AccountID(id)); err != nil {
			return err
		}
		return s.appendChange(ctx, tx, ChangeAccount, id)
	})
}

// CountAccounts returns how many accounts exist.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	n, err := s.client.Account.Query().Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count accounts: %w", mapErr(err))
	}
	return n, nil
}

// ensureRoles returns the ids of the named roles, creating missing ones.
func ensureRoles(ctx context.Context, tx *ent.Tx, names []string) ([]int, error) {
	names = normaliseRoles(names)
	if len(names) == 0 {
		return nil, nil
	}
	existing, err := tx.Role.Query().Where(role.NameIn(names...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load roles: %w", mapErr(err))
	}
	ids := make([]int, 0, len(names))
	have := make(map[string]bool, len(existing))
	for _, r := range existing {
		have[r.Name] = true
		ids = append(ids, r.ID)
	}
	for _, n := range names {
		if have[n] {
			continue
		}
		// Upsert: two transactions creating the same new role at once must
		// both succeed (the second waits for the first and reuses its row).
		id, err := tx.Role.Create().SetName(n).OnConflictColumns(role.FieldName).Ignore().ID(ctx)
		if err != nil {
			return nil, fmt.Errorf("create role %q: %w", n, mapErr(err))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func normaliseRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}

func toAccount(e *ent.Account) Account {
	a := Account{
		ID:           e.ID,
		Kind:         AccountKind(e.Kind),
		DisplayName:  e.DisplayName,
		PasswordHash: e.PasswordHash,
		SecretHash:   e.SecretHash,
		Audiences:    slices.Clone(e.Audiences),
		Active:       e.Active,
		CreatedAt:    e.CreatedAt.UTC(),
		UpdatedAt:    e.UpdatedAt.UTC(),
		Roles:        make([]string, 0, len(e.Edges.Roles)),
	}
	if e.Username != nil {
		a.Username = *e.Username
	}
	if e.ClientID != nil {
		a.ClientID = *e.ClientID
	}
	if e.Email != nil {
		a.Email = *e.Email
	}
	for _, r := range e.Edges.Roles {
		a.Roles = append(a.Roles, r.Name)
	}
	slices.Sort(a.Roles)
	return a
}

// ConflictField names the unique account field ("username", "email" or
// "client_id") that an ErrConflict from CreateAccount or UpdateAccount is
// about, or returns "" when it cannot tell.
func ConflictField(err error) string {
	var ce *accountConflictError
	if errors.As(err, &ce) {
		return ce.field
	}
	return ""
}

type accountConflictError struct {
	field string
	err   error
}

func (e *accountConflictError) Error() string { return e.field + ": " + e.err.Error() }
func (e *accountConflictError) Unwrap() error { return e.err }

// accountConflict attaches the name of the violated unique field to a
// conflict. Both databases name it in the message: SQLite as the column
// ("accounts.email"), PostgreSQL as the index ("account_email").
func accountConflict(err error) error {
	if !errors.Is(err, ErrConflict) {
		return err
	}
	msg := err.Error()
	for _, f := range []string{account.FieldEmail, account.FieldClientID, account.FieldUsername} {
		if strings.Contains(msg, "accounts."+f) || strings.Contains(msg, "account_"+f) {
			return &accountConflictError{field: f, err: err}
		}
	}
	return err
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// NameRules give the canonical form of a stored username or email, or an
// error when a value has none.
type NameRules struct {
	Username func(string) (string, error)
	Email    func(string) (string, error)
}

// CanonicaliseNames rewrites stored usernames and emails that differ from
// their canonical form (rows written before the current rules, or by hand).
// Each rewrite is one conditional UPDATE (unchanged since read) with its
// change-log entry in one transaction, so replicas that start together
// cannot lose or double an update, and running it again changes nothing.
// Two accounts whose names share a canonical form are never merged: both
// are left as they are and a WARN names their ids, for an administrator to
// rename or delete one. A value without a canonical form is left and logged
// too. It returns how many values were rewritten.
func (s *Store) CanonicaliseNames(ctx context.Context, rules NameRules, log *slog.Logger) (int, error) {
	rows, err := s.client.Account.Query().
		Select(account.FieldID, account.FieldUsername, account.FieldEmail).
		Order(ent.Asc(account.FieldID)).
		All(ctx)
	if err != nil {
		return 0, fmt.Errorf("load account names: %w", mapErr(err))
	}
	type fix struct {
		id, field, old, canon string
	}
	var fixes []fix
	// owners maps field+canonical form to the ids whose stored value has
	// that canonical form; more than one id is a collision.
	owners := map[string][]string{}
	for _, r := range rows {
		for _, f := range []struct {
			field string
			value *string
			rule  func(string) (string, error)
		}{{account.FieldUsername, r.Username, rules.Username}, {account.FieldEmail, r.Email, rules.Email}} {
			if f.value == nil || *f.value == "" || f.rule == nil {
				continue
			}
			canon, err := f.rule(*f.value)
			if err != nil {
				log.WarnContext(ctx, "stored account name has no canonical form; left unchanged",
					"account", r.ID, "field", f.field, "value", *f.value, "err", err)
				continue
			}
			owners[f.field+"\x00"+canon] = append(owners[f.field+"\x00"+canon], r.ID)
			if canon != *f.value {
				fixes = append(fixes, fix{r.ID, f.field, *f.value, canon})
			}
		}
	}
	changed := 0
	warned := map[string]bool{}
	for _, fx := range fixes {
		if ids := owners[fx.field+"\x00"+fx.canon]; len(ids) > 1 {
			if warned[fx.field+"\x00"+fx.canon] {
				continue
			}
			warned[fx.field+"\x00"+fx.canon] = true
			log.WarnContext(ctx, "accounts share a canonical name; not merged, left unchanged: rename or delete one",
				"field", fx.field, "canonical", fx.canon, "accounts", ids)
			continue
		}
		n, err := s.rewriteName(ctx, fx.id, fx.field, fx.old, fx.canon)
		switch {
		case errors.Is(err, ErrConflict):
			// Taken since we read (a new account, or another replica).
			other, _ := s.client.Account.Query().Where(nameIs(fx.field, fx.canon)).OnlyID(ctx)
			log.WarnContext(ctx, "accounts share a canonical name; not merged, left unchanged: rename or delete one",
				"field", fx.field, "canonical", fx.canon, "accounts", []string{fx.id, other})
		case err != nil:
			return changed, err
		case n > 0:
			changed++
			log.InfoContext(ctx, "canonicalised a stored account name", "account", fx.id, "field", fx.field, "from", fx.old, "to", fx.canon)
		}
	}
	return changed, nil
}

// rewriteName sets one name field of one account from old to canon if it
// still holds old, and logs the change; it returns the rows changed (0 or 1).
func (s *Store) rewriteName(ctx context.Context, id, field, old, canon string) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		u := tx.Account.Update().Where(account.ID(id), nameIs(field, old)).SetUpdatedAt(s.clock())
		if field == account.FieldEmail {
			u.SetEmail(canon)
		} else {
			u.SetUsername(canon)
		}
		var err error
		if n, err = u.Save(ctx); err != nil {
			return fmt.Errorf("canonicalise %s of account %s: %w", field, id, mapErr(err))
		}
		if n == 0 {
			return nil
		}
		return s.appendChange(ctx, tx, ChangeAccount, id)
	})
	return n, err
}

func nameIs(field, v string) predicate.Account {
	if field == account.FieldEmail {
		return account.Email(v)
	}
	return account.Username(v)
}
