package main

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// fakeLookup resolves only from a fixed table and counts nothing else: the
// guard tests must not depend on the machine's resolver.
func fakeLookup(table map[string][]string) lookupFunc {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		addrs, ok := table[host]
		if !ok {
			return nil, errors.New("no such host")
		}
		out := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = netip.MustParseAddr(a)
		}
		return out, nil
	}
}

var sane = fakeLookup(map[string][]string{
	"localhost":  {"127.0.0.1", "::1"},
	"localhost.": {"127.0.0.1"},
	"LOCALHOST":  {"127.0.0.1"},
})

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host   string
		lookup lookupFunc
		ok     bool
	}{
		{"127.0.0.1", sane, true},
		{"127.255.255.254", sane, true},
		{"127.0.0.53", sane, true},
		{"::1", sane, true},
		{"[::1]", sane, true},
		{"::ffff:127.0.0.1", sane, true},
		{"localhost", sane, true},
		{"LOCALHOST", sane, true},
		{"localhost.", sane, true},
		{"", sane, false},
		{"0.0.0.0", sane, false},
		{"::", sane, false},
		{"128.0.0.1", sane, false},
		{"10.0.0.1", sane, false},
		{"172.16.0.1", sane, false},
		{"192.168.1.10", sane, false},
		{"8.8.8.8", sane, false},
		{"::ffff:10.0.0.1", sane, false},
		{"fe80::1", sane, false},
		{"example.com", sane, false},
		{"localhost.example.com", sane, false},
		{"foo.localhost", sane, false},
		{"127.1", sane, false},      // shorthand IPv4 is not accepted
		{"2130706433", sane, false}, // nor a decimal IPv4
		// "localhost" must resolve to loopback only.
		{"localhost", fakeLookup(map[string][]string{"localhost": {"127.0.0.1", "10.1.2.3"}}), false},
		{"localhost", fakeLookup(map[string][]string{"localhost": {}}), false},
		{"localhost", fakeLookup(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			g := loopbackGuard{lookup: tt.lookup}
			err := g.checkHost(t.Context(), tt.host)
			if (err == nil) != tt.ok {
				t.Fatalf("checkHost(%q) = %v, want ok=%v", tt.host, err, tt.ok)
			}
			// -allow-remote lets everything through.
			g.allowRemote = true
			if err := g.checkHost(t.Context(), tt.host); err != nil {
				t.Errorf("with allowRemote: checkHost(%q) = %v", tt.host, err)
			}
		})
	}
}

func TestCheckGRPCTarget(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
		remote bool // passes with -allow-remote
	}{
		{"localhost:50051", true, true},
		{"127.0.0.1:50051", true, true},
		{"[::1]:50051", true, true},
		{"localhost", true, true},
		{"dns:///localhost:50051", true, true},
		{"dns:///127.0.0.1:50051", true, true},
		{"passthrough:///127.0.0.1:50051", true, true},
		{"unix:/run/gatehouse.sock", true, true},
		{"unix:///run/gatehouse.sock", true, true},
		{"", false, false},
		{"10.0.0.5:50051", false, true},
		{"gatehouse.internal:50051", false, true},
		{"dns:///example.com:443", false, true},
		{"dns://8.8.8.8/localhost:50051", false, false}, // remote DNS server
		{"xds:///gatehouse", false, false},
		{"ipv4:127.0.0.1:1,10.0.0.1:2", false, false},
		{"ipv4:127.0.0.1", false, false},
		{"dns:localhost:50051", false, false},
		{"localhost:http", false, false},
		{"localhost:0", false, false},
		{"localhost:70000", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			g := loopbackGuard{lookup: sane}
			if err := g.checkGRPCTarget(t.Context(), tt.target); (err == nil) != tt.ok {
				t.Errorf("checkGRPCTarget(%q) = %v, want ok=%v", tt.target, err, tt.ok)
			}
			g.allowRemote = true
			if err := g.checkGRPCTarget(t.Context(), tt.target); (err == nil) != tt.remote {
				t.Errorf("allowRemote: checkGRPCTarget(%q) = %v, want ok=%v", tt.target, err, tt.remote)
			}
		})
	}
}

func TestCheckHTTPBase(t *testing.T) {
	tests := []struct {
		base     string
		ok       bool
		wantBase string
	}{
		{"http://localhost:8080", true, "http://localhost:8080"},
		{"http://localhost:8080/", true, "http://localhost:8080"},
		{"http://127.0.0.1:8080/prefix/", true, "http://127.0.0.1:8080/prefix"},
		{"https://[::1]:8443", true, "https://[::1]:8443"},
		{"http://10.0.0.1:8080", false, ""},
		{"http://example.com", false, ""},
		{"http://localhost.evil.example:8080", false, ""},
		{"http://127.0.0.1@example.com/", false, ""}, // user info hides the real host
		{"ftp://localhost", false, ""},
		{"localhost:8080", false, ""},
		{"http://", false, ""},
		{"http://localhost:8080/?q=1", false, ""},
		{"://bad", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			g := loopbackGuard{lookup: sane}
			u, err := g.checkHTTPBase(t.Context(), tt.base)
			if (err == nil) != tt.ok {
				t.Fatalf("checkHTTPBase(%q) = %v, want ok=%v", tt.base, err, tt.ok)
			}
			if tt.ok && u.String() != tt.wantBase {
				t.Errorf("base = %q, want %q", u.String(), tt.wantBase)
			}
		})
	}
}

// TestDialControl checks the dial-time guard directly: Control runs before
// connect, so calling it sends nothing anywhere.
func TestDialControl(t *testing.T) {
	tests := []struct {
		network, address string
		ok               bool
	}{
		{"tcp", "127.0.0.1:50051", true},
		{"tcp4", "127.9.9.9:1", true},
		{"tcp6", "[::1]:8080", true},
		{"unix", "/run/gatehouse.sock", true},
		{"tcp", "10.0.0.1:50051", false},
		{"tcp4", "192.168.0.1:80", false},
		{"tcp6", "[2001:db8::1]:443", false},
		{"tcp", "0.0.0.0:80", false},
		{"tcp", "not-an-address", false},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.address, func(t *testing.T) {
			err := dialControl(false)(t.Context(), tt.network, tt.address, nil)
			if (err == nil) != tt.ok {
				t.Errorf("control(%s, %s) = %v, want ok=%v", tt.network, tt.address, err, tt.ok)
			}
			if err := dialControl(true)(t.Context(), tt.network, tt.address, nil); err != nil {
				t.Errorf("allowRemote: control(%s, %s) = %v", tt.network, tt.address, err)
			}
		})
	}
}
