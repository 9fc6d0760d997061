// Command greeter runs the example service protected by the gatehouse SDK
// and calls it once as a service client.
//
//	GATEHOUSE_CLIENT_SECRET=ghcs_... go run ./sdk/go/example/cmd/greeter \
//	  -issuer http://localhost:8080 -gatehouse localhost:50051 -client-id billing
//
// The client needs role "greeter" (gatehouse clients create --client-id
// billing --roles greeter) and a token for the audience given with
// -audience (default: gatehouse's).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse/gatehouse/sdk/go/example/greeter"
	"github.com/gatehouse/gatehouse/sdk/go/gatehouse"
)

func main() {
	issuer := flag.String("issuer", "http://localhost:8080", "gatehouse's issuer (public URL)")
	addr := flag.String("gatehouse", "localhost:50051", "gatehouse's gRPC address")
	audience := flag.String("audience", "gatehouse", "the audience this service accepts")
	clientID := flag.String("client-id", "", "the service client calling the greeter")
	listen := flag.String("listen", "127.0.0.1:0", "the greeter's address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *issuer, *addr, *audience, *clientID, os.Getenv("GATEHOUSE_CLIENT_SECRET"), *listen); err != nil {
		slog.Error("greeter", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, issuer, addr, audience, clientID, secret, listen string) error {
	// Loopback plaintext for the example; use TLS between hosts.
	tokens := gatehouse.ClientCredentials(ctx, gatehouse.ClientCredentialsConfig{Issuer: issuer, ClientID: clientID, ClientSecret: secret, Audience: audience})
	creds := gatehouse.PerRPCCredentials(tokens, true)
	gh, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to gatehouse: %w", err)
	}
	defer gh.Close()
	v, err := gatehouse.NewVerifier(gatehouse.Options{Issuer: issuer, Audience: audience, Conn: gh, WatchCredentials: creds})
	if err != nil {
		return err
	}
	defer v.Close()
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := greeter.NewServer(v)
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := v.WaitCurrent(ctx); err != nil {
		return fmt.Errorf("revocation state: %w", err)
	}
	msg, err := greeter.Hello(ctx, conn, "world")
	if err != nil {
		return err
	}
	fmt.Println(msg)
	return nil
}
