package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// normalizeArgs rewrites single-dash long flags, the standard flag
// package's syntax that operators' scripts use (-data-dir X), into pflag's
// --data-dir X. Only names that are long flags of the command being run are
// rewritten, never a flag's value nor anything after "--", so positional
// arguments that start with a dash are left alone.
func normalizeArgs(root *cobra.Command, args []string) []string {
	out := slices.Clone(args)
	cmd, positional := root, false
	for i := 0; i < len(out); i++ {
		a := out[i]
		switch {
		case a == "--":
			return out
		case strings.HasPrefix(a, "--"):
			if f := lookupFlag(cmd, a[2:]); f != nil && takesValue(f, a) {
				i++
			}
		case strings.HasPrefix(a, "-") && len(a) > 2:
			if f := lookupFlag(cmd, a[1:]); f != nil {
				out[i] = "-" + a
				if takesValue(f, a) {
					i++
				}
			}
		case !positional && !strings.HasPrefix(a, "-"):
			if sub := subcommand(cmd, a); sub != nil {
				cmd = sub
			} else {
				positional = true
			}
		}
	}
	return out
}

// lookupFlag finds the long flag named in arg ("data-dir" or "data-dir=X").
func lookupFlag(cmd *cobra.Command, arg string) *pflag.Flag {
	name, _, _ := strings.Cut(arg, "=")
	if len(name) < 2 {
		return nil
	}
	cmd.InitDefaultHelpFlag()
	return cmd.Flags().Lookup(name)
}

// takesValue reports whether the next argument is f's value.
func takesValue(f *pflag.Flag, arg string) bool {
	return f.NoOptDefVal == "" && !strings.Contains(arg, "=")
}

func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

// cmdName is cmd's path without the program name: "users create".
func cmdName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q", cmdName(cmd), args)
	}
	return nil
}

// exactArgs wants n arguments, described by what ("exactly one username").
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s needs %s", cmdName(cmd), what)
		}
		return nil
	}
}

// rangeArgs wants between min and max arguments, described by what.
func rangeArgs(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usageErr("%s needs %s", cmdName(cmd), what)
		}
		return nil
	}
}
