package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Command annotations: annotationNoun names what a group's commands work on
// (for error messages); annotationGroup marks commands that only hold
// subcommands.
const (
	annotationNoun  = "gatehouse.noun"
	annotationGroup = "gatehouse.group"
)

// newRootCmd builds the whole command tree. It is built anew for every run
// so that flag values never leak from one run (or test) into the next.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := newGroup("gatehouse", "", "")
	root.SetIn(stdin)
	root.SetOut(stdout) // before the completion command, which keeps it
	root.SetErr(stderr)
	root.Short = "Authentication service: issues and validates JWTs, publishes a JWKS"
	root.Long = `gatehouse — authentication service: issues and validates JWTs, publishes a JWKS.

Passwords are read from standard input (one line) or prompted for on a terminal,
never taken from flags. Only serve runs the signing-key schedule; other commands
change keys only through keys rotate|revoke. Every database flag (and every serve
flag) can also be set through its environment variable: --data-dir is
GATEHOUSE_DATA_DIR; a flag on the command line wins over the variable. Flags may
come before or after the arguments.`
	root.Example = `  gatehouse serve --data-dir /var/lib/gatehouse
  echo "$PASSWORD" | gatehouse users create --username alice --roles viewer
  gatehouse users disable alice --data-dir /var/lib/gatehouse
  gatehouse keys rotate --now
  gatehouse completion bash > /etc/bash_completion.d/gatehouse`
	// The root is not a pure group: it also answers --version.
	root.FParseErrWhitelist.UnknownFlags = false
	root.SilenceErrors, root.SilenceUsage = true, true
	showVersion := root.Flags().Bool("version", false, "print the module version, VCS revision and Go version")
	needCommand := root.RunE
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if *showVersion {
			return version(cmd.OutOrStdout())
		}
		return needCommand(cmd, args)
	}
	root.AddCommand(
		newServeCmd(),
		newUsersCmd(),
		newClientsCmd(),
		newSessionsCmd(),
		newKeysCmd(),
		newIssuersCmd(),
		newProfilesCmd(),
		newAuditCmd(),
		newMigrateCmd(),
		newMasterkeyCmd(),
		newCertsCmd(),
		newHealthcheckCmd(),
		newVersionCmd(),
	)
	// Cobra's completion command, made a group like the others.
	root.InitDefaultCompletionCmd()
	if c := subcommand(root, "completion"); c != nil {
		c.Args, c.RunE = subcommandArgs, needSubcommand
		c.Annotations = map[string]string{annotationGroup: "true"}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	root.SetUsageTemplate(usageTemplate)
	return root
}

// newGroup returns a command that holds subcommands. Bare, or with an
// unknown subcommand, it is a usage error naming the valid ones.
func newGroup(use, short, noun string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:         use,
		Short:       short,
		Args:        subcommandArgs,
		RunE:        needSubcommand,
		Annotations: map[string]string{annotationGroup: "true"},
	}
	if noun != "" {
		g.Annotations[annotationNoun] = noun
	}
	// `users frobnicate --data-dir X` should complain about frobnicate,
	// not about a flag that belongs to the subcommands.
	g.FParseErrWhitelist.UnknownFlags = true
	g.AddCommand(subs...)
	return g
}

func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	what := "command"
	if cmd.HasParent() {
		what = cmdName(cmd) + " subcommand"
	}
	msg := fmt.Sprintf("unknown %s %q (valid: %s)", what, args[0], strings.Join(subcommandNames(cmd), ", "))
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + s[0] + "?"
	}
	return usageErr("%s", msg)
}

func needSubcommand(cmd *cobra.Command, _ []string) error {
	if !cmd.HasParent() {
		return usageErr("no command given (one of %s)", strings.Join(subcommandNames(cmd), ", "))
	}
	return usageErr("%s needs a subcommand: %s", cmdName(cmd), strings.Join(subcommandNames(cmd), ", "))
}

func subcommandNames(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" {
			names = append(names, c.Name())
		}
	}
	return names
}
