package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/secrets"
)

func newMasterkeyCmd() *cobra.Command {
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random master key (for GATEHOUSE_MASTER_KEY or --master-key-file)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, text, err := secrets.GenerateMasterKey()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), text)
			return nil
		},
	}
	return newGroup("masterkey", "Master key tools", "", generate)
}
