package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	ctx := context.Background()
	if err := healthcheck(ctx, []string{srv.URL + "/readyz"}); err != nil {
		t.Fatalf("ready server: %v", err)
	}
	ready = false
	if err := healthcheck(ctx, []string{srv.URL + "/readyz"}); err == nil {
		t.Fatal("a 503 passed the health check")
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"-cacert", "/nonexistent", srv.URL}, {"http://127.0.0.1:1/readyz"}} {
		if err := healthcheck(ctx, args); err == nil {
			t.Errorf("healthcheck %q passed", args)
		}
	}
}
