package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready || r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	healthcheck := func(args ...string) error {
		return run(context.Background(), append([]string{"healthcheck"}, args...), strings.NewReader(""), io.Discard, io.Discard)
	}
	if err := healthcheck(srv.URL + "/readyz"); err != nil {
		t.Fatalf("ready server: %v", err)
	}
	// The standard flag package's single-dash form still works.
	if err := healthcheck("-timeout", "2s", srv.URL+"/readyz"); err != nil {
		t.Fatalf("-timeout: %v", err)
	}
	ready = false
	if err := healthcheck(srv.URL + "/readyz"); err == nil {
		t.Fatal("a 503 passed the health check")
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"-cacert", "/nonexistent", srv.URL}, {"--cacert", "/nonexistent", srv.URL}, {"http://127.0.0.1:1/readyz"}} {
		if err := healthcheck(args...); err == nil {
			t.Errorf("healthcheck %q passed", args)
		}
	}
}
