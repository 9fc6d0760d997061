package main

import (
	"testing"

	"github.com/gatehouse/gatehouse/service/gctune"
)

// TestGCHeadroom: serve tunes the GC unless the operator set GOGC, even
// to an empty value or "off".
func TestGCHeadroom(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want uint64
	}{
		{"GOGC unset", map[string]string{"GOMEMLIMIT": "1GiB"}, gctune.DefaultHeadroom},
		{"GOGC set", map[string]string{"GOGC": "100"}, 0},
		{"GOGC off", map[string]string{"GOGC": "off"}, 0},
		{"GOGC empty", map[string]string{"GOGC": ""}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if got := gcHeadroom(lookup); got != tc.want {
				t.Errorf("gcHeadroom = %d, want %d", got, tc.want)
			}
		})
	}
}
