package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCmd probes a gatehouse HTTP endpoint (such as /readyz) and
// succeeds only on 200 OK. Container images without a shell or curl run it
// for their health checks.
func newHealthcheckCmd() *cobra.Command {
	var caFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "healthcheck URL",
		Short:   "Exit 0 when URL (e.g. /readyz) answers 200; for container health checks",
		Example: `  gatehouse healthcheck --cacert /certs/ca.pem https://localhost:8080/readyz`,
		Args:    exactArgs(1, "exactly one URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return probe(cmd.Context(), args[0], caFile, timeout)
		},
	}
	cmd.Flags().StringVar(&caFile, "cacert", "", "PEM bundle of CAs that sign the server certificate (default: the system roots)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "bound of the whole probe")
	return cmd
}

func probe(ctx context.Context, url, caFile string, timeout time.Duration) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Transport: tr, Timeout: timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
