package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/server"
)

func newCertsCmd() *cobra.Command {
	return newGroup("certs", "Throw-away certificates for trying TLS and mutual TLS locally", "", newCertsDevCmd())
}

// newCertsDevCmd writes a development CA, a localhost server and a client
// certificate.
func newCertsDevCmd() *cobra.Command {
	var out, hosts string
	var force bool
	cmd := &cobra.Command{
		Use:     "dev --out DIR",
		Short:   "Write a throw-away CA, a localhost server and a client certificate",
		Example: `  gatehouse certs dev --out ./certs --hosts gatehouse.test,10.0.0.7`,
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem, client-key.pem into (created if missing)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	cmd.Flags().StringVar(&hosts, "hosts", "", "comma-separated extra DNS names or IP addresses of the server certificate (localhost, 127.0.0.1 and ::1 are always in it)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if out == "" {
			return usageErr("certs dev needs --out DIR")
		}
		if err := server.WriteDevCerts(out, force, splitList(hosts), time.Now()); err != nil {
			return err
		}
		p := func(name string) string { return filepath.Join(out, name) }
		fmt.Fprintf(cmd.OutOrStdout(), `wrote a development CA, a server certificate (localhost, 127.0.0.1, ::1) and a client certificate to %s
(ECDSA P-256, valid 30 days; for local tests only, never for production).

  gatehouse serve --tls-cert %s --tls-key %s [--tls-client-ca %s]
  curl --cacert %s [--cert %s --key %s] https://localhost:8080/healthz
  grpcurl -cacert %s [-cert %s -key %s] localhost:50051 grpc.health.v1.Health/Check
`, out, p("server.pem"), p("server-key.pem"), p("ca.pem"),
			p("ca.pem"), p("client.pem"), p("client-key.pem"),
			p("ca.pem"), p("client.pem"), p("client-key.pem"))
		return nil
	}
	return cmd
}
