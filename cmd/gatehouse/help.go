package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// annotationShared marks the database and logging flags that every
// database command shares; help lists them apart from the command's own.
const annotationShared = "gatehouse.shared"

// usageTemplate is cobra's, with the shared flags in their own section and
// pure groups shown by their subcommands only.
const usageTemplate = `Usage:{{if and .Runnable (not (isGroup .))}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{with flagUsages . false}}

Flags:
{{.}}{{end}}{{with flagUsages . true}}

Database flags:
{{.}}{{end}}{{if .HasAvailableSubCommands}}

Run "{{.CommandPath}} COMMAND -h" for more about a command.{{end}}
`

func init() {
	cobra.AddTemplateFunc("isGroup", func(cmd *cobra.Command) bool { return cmd.Annotations[annotationGroup] != "" })
	cobra.AddTemplateFunc("flagUsages", flagUsages)
}

// helpWidth is where flag descriptions wrap.
const helpWidth = 100

// flagUsages lists cmd's visible flags: the shared ones or its own.
func flagUsages(cmd *cobra.Command, shared bool) string {
	fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Annotations[annotationShared]; ok == shared {
			fs.AddFlag(f)
		}
	})
	return strings.TrimRight(fs.FlagUsagesWrapped(helpWidth), "\n")
}
