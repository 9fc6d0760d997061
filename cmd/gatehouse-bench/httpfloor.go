package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// The HTTP floor: what this machine's loopback HTTP/1.1 costs, so that the
// REST scenarios' rates can be read against it. A bare net/http server in
// the tool's process (127.0.0.1, ephemeral port) parses a form body, as
// gatehouse's OAuth endpoints do, and answers a fixed small JSON object; the
// http-floor scenario drives it with the same client code, callers and
// bodies as introspect-rest. No authorization server can answer faster over
// the same transport, so introspect-rest/http-floor says how much of the
// floor gatehouse's own work leaves; the absolute rates say more about the
// machine (its system-call cost above all) than about the server.

// describeHTTPFloor names the floor in the report.
const describeHTTPFloor = "bare net/http server in this process: parse the form, answer {\"active\":true}"

// floorBody is the floor's answer, shaped like a short introspection.
var floorBody = []byte(`{"active":true}`)

// httpFloor is a running floor server.
type httpFloor struct {
	srv  *http.Server
	base *url.URL
	done chan error
}

// startHTTPFloor serves the floor on 127.0.0.1 (never any other interface).
func startHTTPFloor() (*httpFloor, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("http floor: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(floorBody)
	})
	f := &httpFloor{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		base: &url.URL{Scheme: "http", Host: lis.Addr().String()},
		done: make(chan error, 1),
	}
	go func() { f.done <- f.srv.Serve(lis) }()
	return f, nil
}

// stop ends the server and its connections.
func (f *httpFloor) stop(ctx context.Context) error {
	if err := f.srv.Shutdown(ctx); err != nil {
		_ = f.srv.Close()
	}
	if err := <-f.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http floor: serve: %w", err)
	}
	return nil
}

// setupHTTPFloor starts the floor and a REST client for it like the one
// the REST scenarios use. It returns the teardown, or a skip reason.
func (b *bench) setupHTTPFloor() (stop func(), skip string) {
	f, err := startHTTPFloor()
	if err != nil {
		b.log.Error(scHTTPFloor+" skipped", "err", err)
		return nil, err.Error()
	}
	hc := newHTTPClient(b.cfg.concurrency, false)
	b.floor = &restClient{hc: hc, base: f.base}
	b.log.Info("http floor ready", "addr", f.base.Host)
	return func() {
		hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.stop(ctx); err != nil {
			b.log.Warn("stopping the http floor", "err", err)
		}
		b.floor = nil
	}, ""
}

// floorRatios are the REST scenarios' rates relative to the HTTP floor's.
func floorRatios(results []result) []ratio {
	return relativeTo(results, scHTTPFloor, scIntrospectREST, scOAuth2Token, scIssueREST, scValidateREST)
}

// relativeTo is each of the scenarios names that ran, its rate relative to
// that of floor; nothing when floor did not run or measured nothing.
func relativeTo(results []result, floor string, names ...string) []ratio {
	f, ok := ran(results, floor)
	if !ok || f.rps() <= 0 {
		return nil
	}
	var out []ratio
	for _, name := range names {
		if r, ok := ran(results, name); ok {
			out = append(out, ratio{Name: name + "/" + floor, Value: r.rps() / f.rps()})
		}
	}
	return out
}
