package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

func newUsersCmd() *cobra.Command {
	return newGroup("users", "Manage user accounts", "user",
		newUsersCreateCmd(),
		newListAccountsCmd(store.KindUser),
		newAccountActionCmd(store.KindUser, "disable", "Disable a user: no logins, no token refresh"),
		newAccountActionCmd(store.KindUser, "enable", "Enable a disabled user"),
		newAccountActionCmd(store.KindUser, "delete", "Delete a user"),
		newAccountActionCmd(store.KindUser, "set-password", "Set a user's password (from standard input or a terminal prompt)"),
		newAccountActionCmd(store.KindUser, "unlock", "Clear a user's login lockouts"),
	)
}

func newClientsCmd() *cobra.Command {
	return newGroup("clients", "Manage service clients (client credentials grant)", "client",
		newClientsCreateCmd(),
		newListAccountsCmd(store.KindService),
		newSetAudiencesCmd(),
		newClientsUpdateCmd(),
		newAccountActionCmd(store.KindService, "disable", "Disable a client"),
		newAccountActionCmd(store.KindService, "delete", "Delete a client"),
		newAccountActionCmd(store.KindService, "unlock", "Clear a client's authentication lockouts"),
	)
}

func newUsersCreateCmd() *cobra.Command {
	var username, email, displayName, roles string
	var noPassword bool
	cmd := &cobra.Command{
		Use:   "create --username NAME",
		Short: "Create a user; the password is read from standard input or prompted for",
		Example: `  echo "$PASSWORD" | gatehouse users create --username alice --email alice@example.com --roles viewer,editor
  gatehouse users create --username robot --no-password`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&username, "username", "", "login name (required)")
	cmd.Flags().StringVar(&email, "email", "", "email address")
	cmd.Flags().StringVar(&displayName, "display-name", "", "display name")
	cmd.Flags().StringVar(&roles, "roles", "", "comma-separated roles")
	cmd.Flags().BoolVar(&noPassword, "no-password", false, "create the user without a password (cannot use the password grant)")
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if username == "" {
			return usageErr("users create needs --username")
		}
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			u := core.NewUser{Username: username, Email: email, DisplayName: displayName, Roles: splitList(roles)}
			if !noPassword {
				var err error
				if u.Password, err = readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), "Password for "+username); err != nil {
					return err
				}
			}
			a, err := app.Core().CreateUser(ctx, u)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s (id %s)\n", a.Username, a.ID)
			return nil
		})
	}
	return cmd
}

func newClientsCreateCmd() *cobra.Command {
	var clientID, displayName, roles, audiences string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a service client; prints its id and secret once",
		Example: `  gatehouse clients create --client-id etl --roles writer --audiences https://api.example.com
  gatehouse clients create --client-id webapp --first-party --grant-types authorization_code,refresh_token \
      --redirect-uri https://app.example.com/callback --post-logout-redirect-uri https://app.example.com/`,
		Args: noArgs,
	}
	of := addOAuthFlags(cmd)
	cmd.Flags().StringVar(&clientID, "client-id", "", "client id (generated when empty)")
	cmd.Flags().StringVar(&displayName, "display-name", "", "display name")
	cmd.Flags().StringVar(&roles, "roles", "", "comma-separated roles")
	cmd.Flags().StringVar(&audiences, "audiences", "", "comma-separated audiences the client may request tokens for, the first being the default (default: the server's --audience)")
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			a, secret, err := app.Core().CreateServiceClient(ctx, core.NewClient{ClientID: clientID, DisplayName: displayName, Roles: splitList(roles), Audiences: splitList(audiences)})
			if err != nil {
				return err
			}
			if of.changed(cmd) {
				// Not one transaction with the creation: a refused setting
				// leaves the client created without OAuth settings.
				set, err := of.apply(cmd, store.OAuthClientSettings{})
				if err != nil {
					return err
				}
				if _, err := app.Core().SetClientOAuthSettings(ctx, a.ID, set); err != nil {
					return fmt.Errorf("client %s was created, but its OAuth settings were refused (fix them with `gatehouse clients update`): %w", a.ClientID, err)
				}
				if set.Public {
					secret = ""
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client_id=%s\n", a.ClientID)
			if secret != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "client_secret=%s\n", secret)
				fmt.Fprintln(cmd.ErrOrStderr(), "The secret is shown only this once; store it now.")
			}
			return nil
		})
	}
	return cmd
}

// newSetAudiencesCmd is `clients set-audiences`; an empty or absent list
// resets the client to the server's audience.
func newSetAudiencesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "set-audiences ID_OR_CLIENT_ID [A,B]",
		Short:   "Set the token audiences a client may request (none: the server's)",
		Example: `  gatehouse clients set-audiences etl https://api.example.com,reports`,
		Args:    rangeArgs(1, 2, "a client id and a comma-separated list of audiences (empty: the server's audience)"),
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			a, err := c.FindAccount(ctx, store.KindService, args[0])
			if err != nil {
				return err
			}
			list := []string{}
			if len(args) == 2 {
				list = append(list, splitList(args[1])...)
			}
			if a, err = c.UpdateAccount(ctx, store.KindService, a.ID, core.AccountUpdate{Audiences: &list}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: audiences %s\n", a.ClientID, clientAudiences(a))
			return nil
		})
	}
	return cmd
}

func newListAccountsCmd(kind store.AccountKind) *cobra.Command {
	short := "List users"
	if kind == store.KindService {
		short = "List service clients"
	}
	cmd := &cobra.Command{Use: "list", Short: short, Args: noArgs}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			return listAccounts(ctx, app.Core(), kind, cmd.OutOrStdout())
		})
	}
	return cmd
}

// newAccountActionCmd is `users|clients ACTION NAME`.
func newAccountActionCmd(kind store.AccountKind, action, short string) *cobra.Command {
	arg, what := "USERNAME", "exactly one username"
	if kind == store.KindService {
		arg, what = "CLIENT_ID", "exactly one client id"
	}
	cmd := &cobra.Command{Use: action + " " + arg, Short: short, Args: exactArgs(1, what)}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			a, err := c.FindAccount(ctx, kind, args[0])
			if err != nil {
				return err
			}
			return changeAccount(ctx, c, a, action, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		})
	}
	return cmd
}

func changeAccount(ctx context.Context, c *core.Service, a store.Account, action string, stdin io.Reader, stdout, stderr io.Writer) error {
	var u core.AccountUpdate
	switch action {
	case "delete":
		if err := c.DeleteAccount(ctx, a.Kind, a.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", accountName(a))
		return nil
	case "disable", "enable":
		active := action == "enable"
		u.Active = &active
	case "unlock":
		n, err := c.UnlockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: unlocked (%d lockout counters cleared)\n", accountName(a), n)
		return nil
	case "set-password":
		pw, err := readPassword(stdin, stderr, "New password for "+a.Username)
		if err != nil {
			return err
		}
		u.Password = &pw
	}
	if _, err := c.UpdateAccount(ctx, a.Kind, a.ID, u); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s done\n", accountName(a), action)
	return nil
}

func listAccounts(ctx context.Context, c *core.Service, kind store.AccountKind, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if kind == store.KindService {
		fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tACTIVE\tROLES\tAUDIENCES\tCREATED")
	} else {
		fmt.Fprintln(tw, "ID\tNAME\tEMAIL\tACTIVE\tROLES\tCREATED")
	}
	token := ""
	for {
		page, err := c.ListAccounts(ctx, kind, 500, token)
		if err != nil {
			return err
		}
		for _, a := range page.Accounts {
			created := a.CreatedAt.Format("2006-01-02 15:04:05Z")
			if kind == store.KindService {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\t%s\n", a.ID, accountName(a), a.Email, a.Active, strings.Join(a.Roles, ","), clientAudiences(a), created)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", a.ID, accountName(a), a.Email, a.Active, strings.Join(a.Roles, ","), created)
		}
		if token = page.Next; token == "" {
			break
		}
	}
	return tw.Flush()
}

// clientAudiences shows a service client's allowed audiences; "(default)"
// stands for the server's --audience.
func clientAudiences(a store.Account) string {
	if len(a.Audiences) == 0 {
		return "(default)"
	}
	return strings.Join(a.Audiences, ",")
}

func accountName(a store.Account) string {
	if a.Kind == store.KindService {
		return a.ClientID
	}
	return a.Username
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readPassword prompts twice without echo on a terminal, or reads one line
// from a pipe. Passwords never come from flags, which other users can see.
func readPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "%s: ", prompt)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Repeat: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords do not match")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input (pipe it in, or run on a terminal)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// oauthFlags are the OAuth 2.0 / OIDC client settings of `clients create`
// and `clients update`.
type oauthFlags struct {
	redirectURIs, postLogoutURIs []string
	grantTypes                   string
	public, firstParty           bool
	idTokenAlg                   string
}

var oauthFlagNames = []string{"redirect-uri", "post-logout-redirect-uri", "grant-types", "public", "first-party", "id-token-alg"}

func addOAuthFlags(cmd *cobra.Command) *oauthFlags {
	f := &oauthFlags{}
	cmd.Flags().StringArrayVar(&f.redirectURIs, "redirect-uri", nil, "redirect URI of the authorization code flow, matched exactly (repeatable; https, or http on localhost)")
	cmd.Flags().StringArrayVar(&f.postLogoutURIs, "post-logout-redirect-uri", nil, "where RP-initiated logout may return to (repeatable)")
	cmd.Flags().StringVar(&f.grantTypes, "grant-types", "", "comma-separated grants the client may use: authorization_code, refresh_token, client_credentials, password, token-exchange (empty: every grant but authorization_code)")
	cmd.Flags().BoolVar(&f.public, "public", false, "public client: no secret (the secret is removed), PKCE required")
	cmd.Flags().BoolVar(&f.firstParty, "first-party", false, "first-party client: no consent asked (only these may use the authorization endpoint)")
	cmd.Flags().StringVar(&f.idTokenAlg, "id-token-alg", "", "id_token_signed_response_alg: RS256 (default), ES256 or EdDSA")
	return f
}

// changed reports whether any OAuth flag was given.
func (f *oauthFlags) changed(cmd *cobra.Command) bool {
	for _, n := range oauthFlagNames {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// apply returns cur with the given flags applied.
func (f *oauthFlags) apply(cmd *cobra.Command, cur store.OAuthClientSettings) (store.OAuthClientSettings, error) {
	fl := cmd.Flags()
	if fl.Changed("redirect-uri") {
		cur.RedirectURIs = nonEmptyList(f.redirectURIs)
	}
	if fl.Changed("post-logout-redirect-uri") {
		cur.PostLogoutRedirectURIs = nonEmptyList(f.postLogoutURIs)
	}
	if fl.Changed("grant-types") {
		cur.GrantTypes = nil
		for _, g := range splitList(f.grantTypes) {
			if g == "token-exchange" {
				g = core.GrantTokenExchange
			}
			cur.GrantTypes = append(cur.GrantTypes, g)
		}
	}
	if fl.Changed("public") {
		cur.Public = f.public
	}
	if fl.Changed("first-party") {
		cur.FirstParty = f.firstParty
	}
	if fl.Changed("id-token-alg") {
		cur.IDTokenAlg = f.idTokenAlg
	}
	return cur, nil
}

// nonEmptyList drops empty values, so that --redirect-uri "" clears the list.
func nonEmptyList(in []string) []string {
	var out []string
	for _, v := range in {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// newClientsUpdateCmd is `clients update`: changes the OAuth settings given.
func newClientsUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID_OR_CLIENT_ID",
		Short: "Change a client's OAuth 2.0 / OpenID Connect settings (only the flags given)",
		Example: `  gatehouse clients update webapp --redirect-uri https://app.example.com/callback --redirect-uri http://localhost:8000/callback
  gatehouse clients update cli --public --grant-types authorization_code,refresh_token`,
		Args: rangeArgs(1, 1, "a client id"),
	}
	of := addOAuthFlags(cmd)
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !of.changed(cmd) {
			return usageErr("clients update needs at least one of --%s", strings.Join(oauthFlagNames, ", --"))
		}
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			a, err := c.FindAccount(ctx, store.KindService, args[0])
			if err != nil {
				return err
			}
			cur, err := c.GetClientOAuthSettings(ctx, a.ID)
			if err != nil {
				return err
			}
			set, err := of.apply(cmd, cur.OAuthClientSettings)
			if err != nil {
				return err
			}
			got, err := c.SetClientOAuthSettings(ctx, a.ID, set)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: redirect_uris=%s post_logout_redirect_uris=%s grant_types=%s public=%v first_party=%v id_token_alg=%s\n",
				got.ClientID, strings.Join(got.RedirectURIs, ","), strings.Join(got.PostLogoutRedirectURIs, ","),
				strings.Join(got.GrantTypes, ","), got.Public, got.FirstParty, cmp.Or(got.IDTokenAlg, "RS256"))
			return nil
		})
	}
	return cmd
}
