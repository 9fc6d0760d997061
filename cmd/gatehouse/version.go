package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version prints the module version and the VCS revision the binary was
// built from, as the Go toolchain recorded them.
func version(stdout io.Writer) error {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		_, err := fmt.Fprintln(stdout, "gatehouse (no build information)")
		return err
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	line := "gatehouse " + v
	var rev, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev != "" {
		line += fmt.Sprintf(" (revision %s%s, %s)", rev, dirty, when)
	}
	_, err := fmt.Fprintf(stdout, "%s %s\n", line, info.GoVersion)
	return err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version, VCS revision and Go version (also: gatehouse --version)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return version(cmd.OutOrStdout()) },
	}
}
