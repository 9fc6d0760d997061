// Package buildinfo reads the version the Go toolchain recorded in the
// binary (runtime/debug.ReadBuildInfo), for `gatehouse --version` and the
// info.version of the served OpenAPI document.
package buildinfo

import (
	"runtime/debug"
)

// Info is what the toolchain recorded.
type Info struct {
	// Version is the main module's version: a tag, a pseudo-version
	// (go build stamps one from VCS since Go 1.24), or "(devel)".
	Version  string
	Revision string // vcs.revision, when built in a checkout
	Time     string // vcs.time
	Modified bool   // vcs.modified: built from a tree with local changes
	Go       string // the Go version
}

// Read returns the build information; false when the binary has none.
func Read() (Info, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)"}, false
	}
	in := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in, true
}

// Version is a one-word version: the module version, or for a devel build
// with VCS information "(devel)+" and the short revision (".dirty" when
// modified).
func Version() string {
	in, _ := Read()
	if in.Version != "(devel)" || in.Revision == "" {
		return in.Version
	}
	v := in.Version + "+" + in.Revision[:min(12, len(in.Revision))]
	if in.Modified {
		v += ".dirty"
	}
	return v
}
