package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

// openApp opens the database for a CLI command.
func openApp(ctx context.Context, o *options, stderr io.Writer) (*server.App, error) {
	log, err := o.logger(stderr)
	if err != nil {
		return nil, err
	}
	return server.Open(ctx, o.cfg, log)
}

func users(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("users needs a subcommand: create, list, disable, enable, delete, set-password, unlock")
	}
	sub, args := args[0], args[1:]
	var o options
	fs := newFlagSet("users "+sub, &o, false, stderr)
	var username, email, displayName, roles string
	var noPassword bool
	if sub == "create" {
		fs.StringVar(&username, "username", "", "login name (required)")
		fs.StringVar(&email, "email", "", "email address")
		fs.StringVar(&displayName, "display-name", "", "display name")
		fs.StringVar(&roles, "roles", "", "comma-separated roles")
		fs.BoolVar(&noPassword, "no-password", false, "create the user without a password (cannot use the password grant)")
	}
	if err := o.parse(fs, args); err != nil {
		return err
	}
	app, err := openApp(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	c := app.Core()
	switch sub {
	case "create":
		if username == "" || fs.NArg() > 0 {
			return usageErr("users create needs --username and no arguments")
		}
		u := core.NewUser{Username: username, Email: email, DisplayName: displayName, Roles: splitList(roles)}
		if !noPassword {
			if u.Password, err = readPassword(stdin, stderr, "Password for "+username); err != nil {
				return err
			}
		}
		a, err := c.CreateUser(ctx, u)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (id %s)\n", a.Username, a.ID)
		return nil
	case "list":
		return listAccounts(ctx, c, store.KindUser, stdout)
	case "disable", "enable", "delete", "set-password", "unlock":
		if fs.NArg() != 1 {
			return usageErr("users %s needs exactly one username", sub)
		}
		a, err := c.FindAccount(ctx, store.KindUser, fs.Arg(0))
		if err != nil {
			return err
		}
		return changeAccount(ctx, c, a, sub, stdin, stdout, stderr)
	}
	return usageErr("unknown users subcommand %q", sub)
}

func clients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("clients needs a subcommand: create, list, set-audiences, disable, delete, unlock")
	}
	sub, args := args[0], args[1:]
	var o options
	fs := newFlagSet("clients "+sub, &o, false, stderr)
	var clientID, displayName, roles, audiences string
	if sub == "create" {
		fs.StringVar(&clientID, "client-id", "", "client id (generated when empty)")
		fs.StringVar(&displayName, "display-name", "", "display name")
		fs.StringVar(&roles, "roles", "", "comma-separated roles")
		fs.StringVar(&audiences, "audiences", "", "comma-separated audiences the client may request tokens for, the first being the default (default: the server's --audience)")
	}
	if err := o.parse(fs, args); err != nil {
		return err
	}
	app, err := openApp(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	c := app.Core()
	switch sub {
	case "create":
		if fs.NArg() > 0 {
			return usageErr("clients create takes no arguments")
		}
		a, secret, err := c.CreateServiceClient(ctx, core.NewClient{ClientID: clientID, DisplayName: displayName, Roles: splitList(roles), Audiences: splitList(audiences)})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client_id=%s\nclient_secret=%s\n", a.ClientID, secret)
		fmt.Fprintln(stderr, "The secret is shown only this once; store it now.")
		return nil
	case "list":
		return listAccounts(ctx, c, store.KindService, stdout)
	case "set-audiences":
		// An empty or absent list resets the client to the server's audience.
		if fs.NArg() < 1 || fs.NArg() > 2 {
			return usageErr("clients set-audiences needs a client id and a comma-separated list of audiences (empty: the server's audience)")
		}
		a, err := c.FindAccount(ctx, store.KindService, fs.Arg(0))
		if err != nil {
			return err
		}
		list := splitList(fs.Arg(1))
		if list == nil {
			list = []string{}
		}
		a, err = c.UpdateAccount(ctx, store.KindService, a.ID, core.AccountUpdate{Audiences: &list})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: audiences %s\n", a.ClientID, clientAudiences(a))
		return nil
	case "disable", "delete", "unlock":
		if fs.NArg() != 1 {
			return usageErr("clients %s needs exactly one client id", sub)
		}
		a, err := c.FindAccount(ctx, store.KindService, fs.Arg(0))
		if err != nil {
			return err
		}
		return changeAccount(ctx, c, a, sub, nil, stdout, stderr)
	}
	return usageErr("unknown clients subcommand %q", sub)
}

func sessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("sessions needs a subcommand: list, revoke, revoke-all")
	}
	sub, args := args[0], args[1:]
	var o options
	fs := newFlagSet("sessions "+sub, &o, false, stderr)
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if sub != "list" && sub != "revoke" && sub != "revoke-all" {
		return usageErr("unknown sessions subcommand %q", sub)
	}
	if fs.NArg() != 1 {
		return usageErr("sessions %s needs exactly one argument", sub)
	}
	app, err := openApp(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	c := app.Core()
	if sub == "revoke" {
		if err := c.RevokeSession(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked session %s\n", fs.Arg(0))
		return nil
	}
	a, err := c.FindAccount(ctx, store.KindUser, fs.Arg(0))
	if err != nil {
		return err
	}
	if sub == "revoke-all" {
		n, err := c.RevokeAllSessions(ctx, a.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d sessions of %s and every access token issued to it so far\n", n, a.Username)
		return nil
	}
	list, err := c.ListSessions(ctx, a.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tCLIENT\tSCOPE\tOFFLINE\tCREATED\tLAST USED\tEXPIRES")
	for _, s := range list {
		expires := "never"
		if !s.ExpiresAt.IsZero() {
			expires = s.ExpiresAt.Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\t%s\n", s.ID, s.ClientID, s.Scope, s.Offline, s.CreatedAt.Format(time.DateTime), s.LastUsedAt.Format(time.DateTime), expires)
	}
	return tw.Flush()
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

func masterkey(args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "generate" {
		return usageErr("masterkey takes one subcommand: generate")
	}
	_, text, err := secrets.GenerateMasterKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, text)
	return nil
}
