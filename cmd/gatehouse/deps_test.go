package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDependencies: the server binary links no package it has no use
// for at run time, since each is resident memory of every idle server: none
// that would load the OpenAPI document into a model (the tests check the
// document against kin-openapi instead), and no OpenTelemetry metrics or
// logs SDK (gatehouse exports traces only; metrics are Prometheus').
func TestBinaryDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the binary's packages")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/getkin/kin-openapi/", "github.com/gorilla/mux", "go.yaml.in/yaml/", "github.com/santhosh-tekuri/jsonschema/",
			"go.opentelemetry.io/otel/sdk/metric", "go.opentelemetry.io/otel/sdk/log", "go.opentelemetry.io/contrib/exporters/autoexport"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("the gatehouse binary links %s", pkg)
			}
		}
	}
}
