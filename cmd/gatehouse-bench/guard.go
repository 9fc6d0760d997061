package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// errNotLoopback marks a target refused by the loopback guard.
var errNotLoopback = errors.New("not a loopback address")

// lookupFunc resolves a host name; net.DefaultResolver.LookupNetIP in
// production, a fake in tests.
type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// loopbackGuard decides whether a target may be loaded. Without allowRemote
// only 127.0.0.0/8, ::1 and the name "localhost" (when it resolves to
// loopback addresses only) pass.
type loopbackGuard struct {
	allowRemote bool
	lookup      lookupFunc
}

// checkHost checks one host name or IP literal (brackets and a zone are
// tolerated).
func (g loopbackGuard) checkHost(ctx context.Context, host string) error {
	if g.allowRemote {
		return nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if h == "" {
		return fmt.Errorf("empty host: %w", errNotLoopback)
	}
	if addr, err := netip.ParseAddr(h); err == nil {
		if !addr.IsLoopback() {
			return fmt.Errorf("host %s: %w (only 127.0.0.0/8, ::1 and localhost; pass -allow-remote to override)", h, errNotLoopback)
		}
		return nil
	}
	if !strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") {
		return fmt.Errorf("host %q: %w (only 127.0.0.0/8, ::1 and localhost; pass -allow-remote to override)", h, errNotLoopback)
	}
	// "localhost" is only as good as the resolver: insist that every
	// address it maps to is loopback.
	addrs, err := g.lookup(ctx, "ip", h)
	if err != nil {
		return fmt.Errorf("resolve %q: %w", h, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("resolve %q: no addresses", h)
	}
	for _, a := range addrs {
		if !a.IsLoopback() {
			return fmt.Errorf("host %q resolves to %s: %w", h, a, errNotLoopback)
		}
	}
	return nil
}

// checkGRPCTarget checks a gRPC target string. Accepted forms: host:port,
// dns:///host:port, passthrough:///host:port and unix:PATH / unix://PATH
// (always local). Other schemes, and a dns authority (a remote DNS server),
// are refused whatever -allow-remote says.
func (g loopbackGuard) checkGRPCTarget(ctx context.Context, target string) error {
	if target == "" {
		return errors.New("empty gRPC target")
	}
	if strings.HasPrefix(target, "unix:") {
		return nil
	}
	endpoint := target
	if scheme, rest, ok := strings.Cut(target, "://"); ok {
		switch scheme {
		case "dns", "passthrough":
		default:
			return fmt.Errorf("gRPC target %q: unsupported scheme %q (use host:port, dns:///host:port, passthrough:///host:port or unix:PATH)", target, scheme)
		}
		authority, ep, found := strings.Cut(rest, "/")
		if !found || authority != "" {
			return fmt.Errorf("gRPC target %q: a resolver authority is not supported (use %s:///host:port)", target, scheme)
		}
		endpoint = ep
	}
	host, port, err := net.SplitHostPort(endpoint)
	switch {
	case err != nil && strings.Contains(endpoint, ":"):
		// e.g. "ipv4:a:1,b:2" or "dns:host:port": an opaque-form target
		// gRPC would hand to another resolver.
		return fmt.Errorf("gRPC target %q: want host:port (%w)", target, err)
	case err != nil:
		// No port: gRPC would default to 443; check the whole endpoint.
		host = endpoint
	default:
		if n, perr := strconv.ParseUint(port, 10, 16); perr != nil || n == 0 {
			return fmt.Errorf("gRPC target %q: port %q is not a number in 1-65535", target, port)
		}
	}
	if err := g.checkHost(ctx, host); err != nil {
		return fmt.Errorf("gRPC target %q: %w", target, err)
	}
	return nil
}

// checkHTTPBase parses and checks the REST base URL.
func (g loopbackGuard) checkHTTPBase(ctx context.Context, base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("HTTP base %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("HTTP base %q: scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("HTTP base %q: missing host", base)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("HTTP base %q: must not carry user info, a query or a fragment", base)
	}
	if err := g.checkHost(ctx, u.Hostname()); err != nil {
		return nil, fmt.Errorf("HTTP base %q: %w", base, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// dialControl is the last line of defence: a net.Dialer ControlContext that
// runs after name resolution and before connect, and refuses any
// non-loopback IP unless remote targets are allowed. It also covers HTTP
// redirects and whatever a resolver returns.
func dialControl(allowRemote bool) func(ctx context.Context, network, address string, c syscall.RawConn) error {
	return func(_ context.Context, network, address string, _ syscall.RawConn) error {
		if allowRemote {
			return nil
		}
		switch network {
		case "unix", "unixgram", "unixpacket":
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("dial %s %s: %w", network, address, err)
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("dial %s %s: %w", network, address, err)
		}
		if !addr.IsLoopback() {
			return fmt.Errorf("refusing to dial %s: %w (pass -allow-remote to override)", address, errNotLoopback)
		}
		return nil
	}
}
