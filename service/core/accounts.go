package core

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
)

var (
	usernamePattern = namePattern{regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]*$`), 128}
	// No ':' in new client ids: HTTP Basic joins id and secret with one,
	// and clients that do not form-encode the id (Python requests and
	// requests-oauthlib) could not authenticate such a client. Ids made
	// before this rule keep working: lookups do not check the pattern.
	clientIDPattern = namePattern{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`), 128}
	rolePattern     = namePattern{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`), 128}
)

// namePattern is an ASCII name's shape and its longest length. The bound
// is not written into the expression: a repetition such as {0,127} compiles
// to 127 copies of its class, and these patterns took 390 KiB of memory
// and 3 ms at every start that way.
type namePattern struct {
	re  *regexp.Regexp
	max int // bytes, which are characters for these ASCII classes
}

// MatchString tells whether s has the shape and is at most max long.
func (p namePattern) MatchString(s string) bool {
	return len(s) <= p.max && p.re.MatchString(s)
}

// ClientSecretPrefix marks gatehouse client secrets so that secret scanners
// can recognise leaked ones.
const ClientSecretPrefix = "ghcs_"

var errBadCredentials = errs.New(errs.Unauthenticated, "invalid username or password").WithOAuth("invalid_grant")

// authenticateUser checks a username and password. Unknown users and users
// without a password cost the same argon2id work as a wrong password, and
// count against the same throttles, so neither answer nor timing tells which
// names exist. The attempt is counted (reserved) in one locked step before
// any hashing, and a locked-out attempt is refused there; a correct password
// gives the reservation back (see throttle.go).
func (s *Service) authenticateUser(ctx context.Context, username, password, ip string) (store.Account, error) {
	a, err := s.checkUser(ctx, username, password, ip)
	s.observeLogin(ctx, KindUser, username, ip, a.ID, err)
	return a, err
}

func (s *Service) checkUser(ctx context.Context, username, password, ip string) (store.Account, error) {
	username = lookupUsername(username)
	counters := s.userCounters(username, ip)
	leave, err := s.gate.enter(ctx, counters[0].Key) // the pair counter (attemptgate.go)
	if err != nil {
		return store.Account{}, err
	}
	defer leave()
	if err := s.reserveAttempt(ctx, KindUser, username, counters); err != nil {
		return store.Account{}, err
	}
	a, err := s.store.GetAccount(ctx, store.AccountKey{Username: username})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Account{}, errs.Wrap(errs.Internal, err, "could not read the account")
	}
	if err != nil || a.Kind != store.KindUser || a.PasswordHash == "" {
		if err := s.hashing.do(ctx, func() { s.pw.VerifyDummy(password) }); err != nil {
			return store.Account{}, err
		}
		return store.Account{}, errBadCredentials // counted by the reservation
	}
	var ok, rehash bool
	if herr := s.hashing.do(ctx, func() { ok, rehash, err = s.pw.Verify(a.PasswordHash, password) }); herr != nil {
		return store.Account{}, herr
	}
	if err != nil {
		s.log.Error("stored password hash is unreadable", "account", a.ID, "err", err)
		return store.Account{}, errBadCredentials
	}
	if !ok {
		return store.Account{}, errBadCredentials // counted by the reservation
	}
	s.releaseAttempt(ctx, counters)
	if !a.Active {
		return store.Account{}, errs.New(errs.PermissionDenied, "the account is disabled").WithOAuth("invalid_grant").WithReason(ReasonDisabled)
	}
	if rehash {
		s.rehashPassword(ctx, a.ID, password)
	}
	return a, nil
}

// rehashPassword upgrades a hash made with older parameters. Failure only
// costs the upgrade, so it is logged, not returned.
func (s *Service) rehashPassword(ctx context.Context, id, password string) {
	var hash string
	var err error
	if herr := s.hashing.do(ctx, func() { hash, err = s.pw.Hash(password) }); herr != nil {
		err = herr
	}
	if err == nil {
		_, err = s.store.UpdateAccount(ctx, id, func(a *store.Account) error {
			a.PasswordHash = hash
			return nil
		})
	}
	if err != nil {
		s.log.Warn("could not upgrade a password hash", "account", id, "err", err)
	}
}

var errBadClient = errs.New(errs.Unauthenticated, "invalid client credentials").WithOAuth("invalid_client")

// AuthenticateClient checks a service client's id and secret, for endpoints
// that authenticate clients themselves (introspection). ip is the caller's
// address for the per-IP throttle ("" when unknown).
func (s *Service) AuthenticateClient(ctx context.Context, clientID, secret, ip string) (store.Account, error) {
	return s.authenticateClient(ctx, clientID, secret, ip)
}

// authenticateClient checks a service client's id and secret.
func (s *Service) authenticateClient(ctx context.Context, clientID, secret, ip string) (store.Account, error) {
	a, err := s.checkClient(ctx, clientID, secret, ip)
	s.observeLogin(ctx, KindClient, clientID, ip, a.ID, err)
	return a, err
}

func (s *Service) checkClient(ctx context.Context, clientID, secret, ip string) (store.Account, error) {
	if clientID == "" || secret == "" {
		return store.Account{}, errs.New(errs.InvalidArgument, "client_id and client_secret are required").WithOAuth("invalid_request")
	}
	counters := s.clientCounters(clientID, ip)
	// Client secrets are random 256-bit values: there is nothing to guess,
	// so the secret is checked first and only a wrong one is counted. (Users'
	// passwords are counted before argon2 instead: see authenticateUser.)
	// Counting correct attempts in flight would lock out a busy client.
	var a store.Account
	var err error
	good := false
	if len(clientID) <= 128 && len(secret) <= 256 {
		if id, va, ok := s.view.Client(clientID); ok && s.secrets.Equal(secret, va.SecretHash) {
			// A right secret is answered from the view alone, without
			// the database: refused while the view knows a lockout of
			// the (client, IP) pair counter or the client counter. The
			// IP counter's lockout does not apply: a right 256-bit
			// secret is not a guess.
			keys := make([]string, 0, len(counters))
			for _, c := range counters {
				if !strings.HasPrefix(c.Key, keyIP) {
					keys = append(keys, c.Key)
				}
			}
			now := s.now().UTC()
			if until := s.view.LockedUntil(now, keys...); !until.IsZero() {
				return store.Account{}, tooManyAttempts(until.Sub(now))
			}
			if !va.Active {
				return store.Account{}, errs.New(errs.PermissionDenied, "the client is disabled").WithOAuth("unauthorized_client").WithReason(ReasonDisabled)
			}
			return storeAccount(id, va), nil // a service client (view.Client), active
		}
		// Not in the view (created on another replica within the last poll
		// interval), or a wrong secret (maybe rotated there meanwhile): the
		// database decides, and a wrong secret is reserved and counted below.
		a, err = s.store.GetAccount(ctx, store.AccountKey{ClientID: clientID})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Account{}, errs.Wrap(errs.Internal, err, "could not read the client")
		}
		// Unknown clients run the same comparison as known ones.
		good = s.secrets.Equal(secret, a.SecretHash) && err == nil && a.Kind == store.KindService && a.ID != ""
	}
	if !good {
		if err := s.reserveAttempt(ctx, KindClient, clientID, counters); err != nil {
			return store.Account{}, err // locked out
		}
		return store.Account{}, errBadClient // counted
	}
	now := s.now().UTC()
	var trust time.Time
	if s.cfg.TrustedPairTTL > 0 {
		trust = now.Add(s.cfg.TrustedPairTTL)
	}
	until, clean, err := s.store.CheckAttempt(ctx, now, counters, trust)
	if err != nil {
		return store.Account{}, errs.Wrap(errs.Unavailable, err, "the login throttle is unavailable; try again later")
	}
	if !until.IsZero() {
		return store.Account{}, tooManyAttempts(until.Sub(now))
	}
	if !clean {
		if err := s.store.RecordSuccess(ctx, now, counters, trust); err != nil {
			s.log.Warn("could not record a client's successful authentication", "err", err)
		}
	}
	if !a.Active {
		return store.Account{}, errs.New(errs.PermissionDenied, "the client is disabled").WithOAuth("unauthorized_client").WithReason(ReasonDisabled)
	}
	return a, nil
}

// Caller authenticates the bearer token of an API call.
func (s *Service) Caller(ctx context.Context, bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, errs.New(errs.Unauthenticated, "a bearer token is required")
	}
	p, err := s.ValidateToken(ctx, bearer, ValidateOptions{Audience: s.cfg.Audience})
	if errs.KindOf(err) == errs.InvalidArgument {
		// A malformed credential is still a failed authentication.
		return Principal{}, errs.Wrap(errs.Unauthenticated, err, "invalid bearer token")
	}
	return p, err
}

// ServiceClientOf returns the service client a principal stands for, or
// PERMISSION_DENIED if it is not a service client.
func (s *Service) ServiceClientOf(ctx context.Context, p Principal) (store.Account, error) {
	if p.Kind != store.KindService {
		return store.Account{}, errs.New(errs.PermissionDenied, "only service clients may call this").WithOAuth("unauthorized_client")
	}
	return s.getAccount(ctx, store.AccountKey{ID: p.Subject}, store.KindService)
}

// LookupAccount returns the account selected by exactly one field of key.
// Authorization (role admin or user-lookup) is the gRPC gate's.
func (s *Service) LookupAccount(ctx context.Context, key store.AccountKey) (store.Account, error) {
	n := 0
	for _, v := range []string{key.ID, key.Username, key.Email, key.ClientID} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return store.Account{}, errs.New(errs.InvalidArgument, "give exactly one of id, username, email, client_id")
	}
	if key.Username != "" {
		key.Username = lookupUsername(key.Username)
	}
	if key.Email != "" {
		key.Email = lookupEmail(key.Email)
	}
	return s.getAccount(ctx, key, "")
}

// getAccount reads an account, optionally requiring a kind.
func (s *Service) getAccount(ctx context.Context, key store.AccountKey, kind store.AccountKind) (store.Account, error) {
	for _, v := range []string{key.ID, key.Username, key.Email, key.ClientID} {
		if !utf8.ValidString(v) || len(v) > 320 {
			return store.Account{}, errs.New(errs.InvalidArgument, "the account selector is not valid UTF-8 or too long")
		}
	}
	a, err := s.store.GetAccount(ctx, key)
	if errors.Is(err, store.ErrNotFound) || (err == nil && kind != "" && a.Kind != kind) {
		return store.Account{}, errs.New(errs.NotFound, "no such %s", kindNoun(kind))
	}
	if err != nil {
		return store.Account{}, errs.Wrap(errs.Internal, err, "could not read the account")
	}
	return a, nil
}

func kindNoun(k store.AccountKind) string {
	switch k {
	case store.KindUser:
		return "user"
	case store.KindService:
		return "service client"
	}
	return "account"
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Username, Email, DisplayName, Password string
	Roles                                  []string
}

// CreateUser adds a user. Like every core function it trusts its caller:
// the gRPC gate (service/grpcapi/authz.go) decides who may call it over the
// API; the CLI acts with database access.
func (s *Service) CreateUser(ctx context.Context, u NewUser) (store.Account, error) {
	a := store.Account{Kind: store.KindUser, Active: true, DisplayName: u.DisplayName}
	var err error
	if a.Username, err = normaliseUsername(u.Username); err != nil {
		return store.Account{}, err
	}
	if a.Email, err = normaliseEmail(u.Email); err != nil {
		return store.Account{}, err
	}
	if a.Roles, err = checkRoles(u.Roles); err != nil {
		return store.Account{}, err
	}
	if err := checkDisplayName(u.DisplayName); err != nil {
		return store.Account{}, err
	}
	if u.Password != "" {
		if a.PasswordHash, err = s.hashPassword(ctx, u.Password); err != nil {
			return store.Account{}, err
		}
	}
	return s.insertAccount(ctx, a)
}

// NewClient is what CreateServiceClient needs.
type NewClient struct {
	ClientID, DisplayName string
	Roles                 []string
	// Audiences the client may request tokens for, the first being the
	// default; empty: the server's audience.
	Audiences []string
}

// CreateServiceClient adds a service client and returns its secret, which is
// not stored and cannot be shown again.
func (s *Service) CreateServiceClient(ctx context.Context, c NewClient) (store.Account, string, error) {
	a := store.Account{Kind: store.KindService, Active: true, DisplayName: c.DisplayName, ClientID: c.ClientID}
	var err error
	if a.ClientID == "" {
		a.ClientID = "svc-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	} else if !clientIDPattern.MatchString(a.ClientID) {
		return store.Account{}, "", errs.New(errs.InvalidArgument, "client_id must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit (no ':', which HTTP Basic authentication cannot carry in a client id)")
	}
	if a.Roles, err = checkRoles(c.Roles); err != nil {
		return store.Account{}, "", err
	}
	if err := checkDisplayName(c.DisplayName); err != nil {
		return store.Account{}, "", err
	}
	if a.Audiences, err = checkAudiences(c.Audiences); err != nil {
		return store.Account{}, "", err
	}
	secret, err := secrets.RandomToken(ClientSecretPrefix)
	if err != nil {
		return store.Account{}, "", errs.Wrap(errs.Internal, err, "could not generate a secret")
	}
	a.SecretHash = s.secrets.Hash(secret)
	a, err = s.insertAccount(ctx, a)
	if err != nil {
		return store.Account{}, "", err
	}
	return a, secret, nil
}

func (s *Service) insertAccount(ctx context.Context, a store.Account) (store.Account, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return store.Account{}, errs.Wrap(errs.Internal, err, "could not make an id")
	}
	a.ID = id.String()
	detail := map[string]string{"roles": strings.Join(sortedSet(a.Roles), ",")}
	if len(a.Audiences) > 0 {
		detail["audiences"] = strings.Join(a.Audiences, ",")
	}
	a, err = s.store.CreateAccount(audited(ctx, accountEvent(a, store.AuditCreated, detail)), a)
	if errors.Is(err, store.ErrConflict) {
		return store.Account{}, errs.Wrap(errs.AlreadyExists, err, "%s is taken", takenField(a, err))
	}
	if err != nil {
		return store.Account{}, errs.Wrap(errs.Internal, err, "could not store the account")
	}
	s.syncView(ctx)
	return a, nil
}

// takenField names the unique field a conflict is about.
func takenField(a store.Account, err error) string {
	if f := store.ConflictField(err); f != "" {
		return f
	}
	switch {
	case a.Kind == store.KindService:
		return "client_id"
	case a.Email != "":
		return "username or email"
	}
	return "username"
}

func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	if err := secrets.ValidatePassword(pw); err != nil {
		return "", errs.Wrap(errs.InvalidArgument, err, "%s", errs.As(err).Message)
	}
	var h string
	var err error
	if herr := s.hashing.do(ctx, func() { h, err = s.pw.Hash(pw) }); herr != nil {
		return "", herr
	}
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "could not hash the password")
	}
	return h, nil
}

// maxNameInput bounds the input handed to PRECIS and IDNA; canonical names
// are far shorter (128 bytes for usernames, 320 for emails).
const maxNameInput = 1024

// CanonicalUsername returns the form a username is stored, looked up and
// compared in: the RFC 8265 UsernameCaseMapped profile (width mapping of
// full-width letters, NFC, case folding; spaces, controls and unassigned
// characters refused), which must then satisfy gatehouse's own policy of
// lower-case ASCII letters, digits, '.', '_', '@' and '-'. So "Alice" and
// full-width "Ａｌｉｃｅ" are "alice", the Kelvin sign U+212A is the letter k
// (canonically equivalent), while "ADMİN" (U+0130) becomes "admi̇n" with a
// combining dot and is refused rather than turned into "admin".
func CanonicalUsername(u string) (string, error) {
	const policy = "username must be 1-128 characters of letters a-z, digits, '.', '_', '@' or '-', starting with a letter or digit"
	if u == "" || len(u) > maxNameInput || !utf8.ValidString(u) {
		return "", errs.New(errs.InvalidArgument, policy)
	}
	c, err := precis.UsernameCaseMapped.String(u)
	if err != nil {
		return "", errs.Wrap(errs.InvalidArgument, err, "username is not a valid RFC 8265 username (no spaces, control or unassigned characters); %s", policy)
	}
	if mix := mixedScripts(c); mix != "" {
		return "", errs.New(errs.InvalidArgument, "username mixes %s letters", mix)
	}
	if !usernamePattern.MatchString(c) {
		return "", errs.New(errs.InvalidArgument, policy)
	}
	return c, nil
}

// CanonicalEmail returns the form an email address is stored and looked up
// in: the local part as given except that ASCII letters are lower-cased (so
// that Alice@ and alice@ stay one address for uniqueness, lookups and
// federated matching; no Unicode case mapping, which would fold look-alikes
// such as U+0130 into ASCII), the domain lower-cased, checked and converted
// to ASCII by IDNA (UTS #46 lookup profile, punycode for non-ASCII labels).
// A local part or domain label that mixes Latin, Greek and Cyrillic letters
// is refused as a look-alike. "" stays "".
func CanonicalEmail(e string) (string, error) {
	if e == "" {
		return "", nil
	}
	errPlain := errs.New(errs.InvalidArgument, "email must be a plain address like name@example.com")
	if len(e) > maxNameInput || !utf8.ValidString(e) {
		return "", errPlain
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", errPlain
	}
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:at], e[at+1:]
	if mix := mixedScripts(local); mix != "" {
		return "", errs.New(errs.InvalidArgument, "email local part mixes %s letters", mix)
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || ascii == "" || strings.HasSuffix(ascii, ".") {
		return "", errs.Wrap(errs.InvalidArgument, err, "email domain is not a valid domain name")
	}
	uni, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return "", errs.Wrap(errs.InvalidArgument, err, "email domain is not a valid domain name")
	}
	for _, label := range strings.Split(uni, ".") {
		if mix := mixedScripts(label); mix != "" {
			return "", errs.New(errs.InvalidArgument, "email domain label %q mixes %s letters", label, mix)
		}
	}
	out := asciiLower(local) + "@" + ascii
	if len(out) > 320 {
		return "", errs.New(errs.InvalidArgument, "email must be at most 320 bytes (with the domain in ASCII form)")
	}
	return out, nil
}

// asciiLower lower-cases the ASCII letters of s and leaves every other
// character as it is.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// mixedScripts names the scripts s mixes among Latin, Greek and Cyrillic
// (the usual sources of look-alike letters), or returns "".
func mixedScripts(s string) string {
	var names []string
	for _, sc := range []struct {
		name  string
		table *unicode.RangeTable
	}{{"Latin", unicode.Latin}, {"Greek", unicode.Greek}, {"Cyrillic", unicode.Cyrillic}} {
		if strings.IndexFunc(s, func(r rune) bool { return unicode.Is(sc.table, r) }) >= 0 {
			names = append(names, sc.name)
		}
	}
	if len(names) < 2 {
		return ""
	}
	return strings.Join(names, " and ")
}

// lookupUsername is the username to look an account up by: the canonical
// form, or for a name that has none the input itself, which then matches no
// stored (canonical) name.
func lookupUsername(u string) string {
	if c, err := CanonicalUsername(u); err == nil {
		return c
	}
	return u
}

// lookupEmail is lookupUsername for email addresses.
func lookupEmail(e string) string {
	if c, err := CanonicalEmail(e); err == nil {
		return c
	}
	return e
}

// CanonicaliseStoredNames brings stored usernames and emails written under
// older rules to their canonical form (see store.CanonicaliseNames: it never
// merges two accounts, it logs a WARN with both ids instead). Idempotent and
// safe for replicas starting together.
func CanonicaliseStoredNames(ctx context.Context, st *store.Store, log *slog.Logger) error {
	if _, err := st.CanonicaliseNames(ctx, store.NameRules{Username: CanonicalUsername, Email: CanonicalEmail}, log); err != nil {
		return fmt.Errorf("canonicalise stored account names: %w", err)
	}
	return nil
}

func normaliseUsername(u string) (string, error) { return CanonicalUsername(u) }

func normaliseEmail(e string) (string, error) { return CanonicalEmail(e) }

func checkRoles(roles []string) ([]string, error) {
	if len(roles) > 100 {
		return nil, errs.New(errs.InvalidArgument, "at most 100 roles")
	}
	for _, r := range roles {
		if !rolePattern.MatchString(r) {
			return nil, errs.New(errs.InvalidArgument, "role %q must be 1-128 characters of letters, digits, '.', '_', ':', '/' or '-'", truncate(r))
		}
	}
	return roles, nil
}

func checkDisplayName(n string) error {
	if !utf8.ValidString(n) || len(n) > 256 || strings.ContainsAny(n, "\x00\r\n") {
		return errs.New(errs.InvalidArgument, "display_name must be valid UTF-8, one line, at most 256 bytes")
	}
	return nil
}

// Page is one page of a list.
type Page struct {
	Accounts []store.Account
	Next     string // opaque; empty on the last page
}

// ListAccounts pages through the accounts of one kind.
func (s *Service) ListAccounts(ctx context.Context, kind store.AccountKind, size int, token string) (Page, error) {
	switch {
	case size < 0 || size > 500:
		return Page{}, errs.New(errs.InvalidArgument, "page_size must be between 0 and 500")
	case size == 0:
		size = 50
	}
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || uuid.Validate(string(b)) != nil {
			return Page{}, errs.New(errs.InvalidArgument, "page_token is not one this server issued")
		}
		after = string(b)
	}
	list, err := s.store.ListAccounts(ctx, kind, after, size+1)
	if err != nil {
		return Page{}, errs.Wrap(errs.Internal, err, "could not list accounts")
	}
	p := Page{Accounts: list}
	if len(list) > size {
		p.Accounts = list[:size]
		p.Next = base64.RawURLEncoding.EncodeToString([]byte(list[size-1].ID))
	}
	return p, nil
}

// GetAccount returns one account of kind by id.
func (s *Service) GetAccount(ctx context.Context, kind store.AccountKind, id string) (store.Account, error) {
	if id == "" {
		return store.Account{}, errs.New(errs.InvalidArgument, "id is required")
	}
	return s.getAccount(ctx, store.AccountKey{ID: id}, kind)
}

// AccountUpdate names the fields to change; nil leaves a field as it is.
type AccountUpdate struct {
	Email       *string
	DisplayName *string
	Active      *bool
	Password    *string
	Roles       *[]string
	// Audiences replaces a service client's allowed audiences (empty: the
	// server's audience).
	Audiences *[]string
}

// UpdateAccount changes an account of kind ("" for either).
func (s *Service) UpdateAccount(ctx context.Context, kind store.AccountKind, id string, u AccountUpdate) (store.Account, error) {
	if id == "" {
		return store.Account{}, errs.New(errs.InvalidArgument, "id is required")
	}
	var err error
	var email, hash string
	if u.Email != nil {
		if email, err = normaliseEmail(*u.Email); err != nil {
			return store.Account{}, err
		}
	}
	if u.DisplayName != nil {
		if err := checkDisplayName(*u.DisplayName); err != nil {
			return store.Account{}, err
		}
	}
	if u.Roles != nil {
		if _, err := checkRoles(*u.Roles); err != nil {
			return store.Account{}, err
		}
	}
	if u.Password != nil {
		if hash, err = s.hashPassword(ctx, *u.Password); err != nil {
			return store.Account{}, err
		}
	}
	var audiences []string
	if u.Audiences != nil {
		if audiences, err = checkAudiences(*u.Audiences); err != nil {
			return store.Account{}, err
		}
	}
	errWrongKind := errs.New(errs.NotFound, "no such %s", kindNoun(kind))
	actx := audited(ctx)
	a, err := s.store.UpdateAccount(actx, id, func(a *store.Account) error {
		if kind != "" && a.Kind != kind {
			return errWrongKind
		}
		before := cloneAccount(*a)
		defer func() { store.AddAudit(actx, accountChangeEvents(before, *a)...) }()
		if u.Email != nil {
			a.Email = email
		}
		if u.DisplayName != nil {
			a.DisplayName = *u.DisplayName
		}
		if u.Active != nil {
			a.Active = *u.Active
		}
		if u.Password != nil {
			if a.Kind != store.KindUser {
				return errs.New(errs.InvalidArgument, "only users have passwords")
			}
			a.PasswordHash = hash
		}
		if u.Roles != nil {
			a.Roles = *u.Roles
		}
		if u.Audiences != nil {
			if a.Kind != store.KindService {
				return errs.New(errs.InvalidArgument, "only service clients have audiences")
			}
			a.Audiences = audiences
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Account{}, errs.New(errs.NotFound, "no such %s", kindNoun(kind))
	case errors.Is(err, store.ErrConflict):
		return store.Account{}, errs.Wrap(errs.AlreadyExists, err, "email is taken")
	case err != nil:
		var e *errs.Error
		if errors.As(err, &e) {
			return store.Account{}, e
		}
		return store.Account{}, errs.Wrap(errs.Internal, err, "could not update the account")
	}
	s.syncView(ctx)
	if u.Password != nil {
		// A password reset lifts the account's login lockouts.
		if _, err := s.clearLocks(ctx, a); err != nil {
			return store.Account{}, errs.Wrap(errs.Unavailable, err, "the password was changed but the account's lockouts could not be lifted; try again")
		}
	}
	return a, nil
}

// DeleteAccount removes an account of kind ("" for either).
func (s *Service) DeleteAccount(ctx context.Context, kind store.AccountKind, id string) error {
	if id == "" {
		return errs.New(errs.InvalidArgument, "id is required")
	}
	a, err := s.getAccount(ctx, store.AccountKey{ID: id}, kind)
	if err != nil {
		return err
	}
	if err := s.store.DeleteAccount(audited(ctx, accountEvent(a, store.AuditDeleted, nil)), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errs.New(errs.NotFound, "no such account")
		}
		return errs.Wrap(errs.Internal, err, "could not delete the account")
	}
	s.syncView(ctx)
	return nil
}

// FindAccount returns an account by username or client id, for the CLI.
func (s *Service) FindAccount(ctx context.Context, kind store.AccountKind, name string) (store.Account, error) {
	key := store.AccountKey{Username: lookupUsername(name)}
	if kind == store.KindService {
		key = store.AccountKey{ClientID: name}
	}
	return s.getAccount(ctx, key, kind)
}

// CountAccounts returns the number of accounts, for first-start bootstrap.
func (s *Service) CountAccounts(ctx context.Context) (int, error) {
	return s.store.CountAccounts(ctx)
}
