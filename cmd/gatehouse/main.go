// Command gatehouse runs the gatehouse authentication service and manages
// its database from the command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// run executes one command line. Its error is already worded for the
// operator (see userMessage) and still wraps the cause for errors.Is.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(normalizeArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	return &cliError{msg: userMessage(cmd, err), err: err}
}

// report prints err as the one line the operator sees and returns the exit
// status: 0 on success, 2 for a usage error, 1 for anything else.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "gatehouse:", err)
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}
