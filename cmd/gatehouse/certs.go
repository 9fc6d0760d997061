package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/service/server"
)

// certs runs `gatehouse certs dev`: throw-away certificates for trying TLS
// and mutual TLS locally.
func certs(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "dev" {
		return usageErr("certs takes one subcommand: dev")
	}
	fs := flag.NewFlagSet("certs dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem, client-key.pem into (created if missing)")
	force := fs.Bool("force", false, "overwrite existing files")
	hosts := fs.String("hosts", "", "comma-separated extra DNS names or IP addresses of the server certificate (localhost, 127.0.0.1 and ::1 are always in it)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("certs dev takes no arguments, got %q", fs.Args())
	}
	if *out == "" {
		return usageErr("certs dev needs --out DIR")
	}
	if err := server.WriteDevCerts(*out, *force, splitList(*hosts), time.Now()); err != nil {
		return err
	}
	dir := *out
	p := func(name string) string { return filepath.Join(dir, name) }
	fmt.Fprintf(stdout, `wrote a development CA, a server certificate (localhost, 127.0.0.1, ::1) and a client certificate to %s
(ECDSA P-256, valid 30 days; for local tests only, never for production).

  gatehouse serve --tls-cert %s --tls-key %s [--tls-client-ca %s]
  curl --cacert %s [--cert %s --key %s] https://localhost:8080/healthz
  grpcurl -cacert %s [-cert %s -key %s] localhost:50051 grpc.health.v1.Health/Check
`, dir, p("server.pem"), p("server-key.pem"), p("ca.pem"),
		p("ca.pem"), p("client.pem"), p("client-key.pem"),
		p("ca.pem"), p("client.pem"), p("client-key.pem"))
	return nil
}
