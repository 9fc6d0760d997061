package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{arg}, strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "gatehouse ") || !strings.Contains(out.String(), "go1.") {
			t.Errorf("%s printed %q", arg, out.String())
		}
	}
}
