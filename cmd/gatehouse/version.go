package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/buildinfo"
)

// version prints the module version and the VCS revision the binary was
// built from, as the Go toolchain recorded them.
func version(stdout io.Writer) error {
	info, ok := buildinfo.Read()
	if !ok {
		_, err := fmt.Fprintln(stdout, "gatehouse (no build information)")
		return err
	}
	line := "gatehouse " + info.Version
	if info.Revision != "" {
		dirty := ""
		if info.Modified {
			dirty = ", modified"
		}
		line += fmt.Sprintf(" (revision %s%s, %s)", info.Revision, dirty, info.Time)
	}
	_, err := fmt.Fprintf(stdout, "%s %s\n", line, info.Go)
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
