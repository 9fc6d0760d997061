package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDependencies: the server binary links no package whose only
// use would be loading the OpenAPI document into a model; each of them is
// resident memory of every idle server (the document is checked against
// kin-openapi by the tests instead).
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
		for _, banned := range []string{"github.com/getkin/kin-openapi/", "github.com/gorilla/mux", "go.yaml.in/yaml/", "github.com/santhosh-tekuri/jsonschema/"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("the gatehouse binary links %s", pkg)
			}
		}
	}
}
