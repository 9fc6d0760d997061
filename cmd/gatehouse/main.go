// Command gatehouse runs the gatehouse authentication service and manages
// its database from the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `gatehouse — authentication service: issues and validates JWTs, publishes a JWKS.

Usage:
  gatehouse serve [flags]                      run the gRPC and HTTP servers
  gatehouse users create --username NAME [--email E] [--display-name N] [--roles r1,r2] [--no-password]
  gatehouse users list
  gatehouse users disable|enable|delete NAME
  gatehouse users set-password NAME
  gatehouse users unlock NAME
  gatehouse clients create [--client-id ID] [--display-name N] [--roles r1,r2]
  gatehouse clients list
  gatehouse clients disable|delete CLIENT_ID
  gatehouse clients unlock CLIENT_ID
  gatehouse clients set-audiences ID_OR_CLIENT_ID [A,B]   allowed token audiences (none: the server's)
  gatehouse sessions list USERNAME             live sessions and offline tokens (metadata only)
  gatehouse sessions revoke SESSION_ID
  gatehouse sessions revoke-all USERNAME       end every session and access token of the user
  gatehouse keys list                          signing keys and their states
  gatehouse keys rotate [--now]                publish a successor (signs after the lead time; --now: at once)
  gatehouse keys revoke KID                    withdraw a key at once (leak); its tokens are refused
  gatehouse keys rewrap                        re-seal all keys under GATEHOUSE_MASTER_KEY (old key in
                                               GATEHOUSE_MASTER_KEY_PREVIOUS)
  gatehouse keys policy                        the key policy stored in the database (every server uses it)
  gatehouse keys policy set [--signing-alg A] [--rsa-bits N] [--key-rotation-interval D] [--key-publish-lead D]
  gatehouse issuers add --issuer URL --audience A[,B] [--jwks-uri URL] [--algs RS256,ES256] [--leeway 60s]
      [--required-claims C,..] [--identity-claims C,..] [--group-claims C,..] [--map GROUP=ROLE1,ROLE2]...
      [--jit] [--link-by none|verified_email|username|upn] [--exchange-clients ID,..]
                                               trust a company IdP's tokens (Entra ID, Keycloak, ...)
  gatehouse issuers list                       trusted issuers
  gatehouse issuers link ISSUER SUBJECT USERNAME|CLIENT_ID|ID   link an IdP identity to a local account
  gatehouse issuers unlink ISSUER SUBJECT      remove that link
  gatehouse issuers links ISSUER               the issuer's links
  gatehouse issuers update ID|ISSUER [flags]   change only the given settings (flags as for add)
  gatehouse issuers remove ID|ISSUER           stop trusting an issuer
  gatehouse healthcheck [-cacert FILE] URL     exit 0 when URL (e.g. /readyz) answers 200; for container health checks
  gatehouse --version                          module version, VCS revision and Go version
  gatehouse masterkey generate                 print a new random master key
  gatehouse certs dev --out DIR [--hosts H1,H2] [--force]
                                               write a throw-away CA, a localhost server and a client
                                               certificate for trying TLS and mutual TLS locally

Passwords are read from standard input (one line) or prompted for on a terminal,
never taken from flags. Only serve runs the signing-key schedule; other commands
change keys only through keys rotate|revoke. Every command accepts the database flags; run
"gatehouse serve -h" for all flags and their environment variables.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s (see gatehouse -h)", errUsage, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErr("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "users":
		return users(ctx, rest, stdin, stdout, stderr)
	case "clients":
		return clients(ctx, rest, stdout, stderr)
	case "sessions":
		return sessions(ctx, rest, stdout, stderr)
	case "keys":
		return signingKeys(ctx, rest, stdout, stderr)
	case "issuers":
		return issuers(ctx, rest, stdout, stderr)
	case "masterkey":
		return masterkey(rest, stdout)
	case "certs":
		return certs(rest, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, rest)
	case "--version", "version":
		return version(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageErr("unknown command %q", cmd)
}
