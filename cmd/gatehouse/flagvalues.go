package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Typed values of the configuration flags. Their environment variables are
// applied through the same Set after parsing (see options.finish), so that
// a malformed variable is reported like a malformed flag.

type stringFlag struct{ p *string }

func (v stringFlag) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringFlag) Set(s string) error { *v.p = s; return nil }
func (v stringFlag) Type() string       { return "string" }

// intFlag is a whole number >= 0.
type intFlag struct{ p *int }

func (v intFlag) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v intFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("not a whole number >= 0: %q", s)
	}
	*v.p = n
	return nil
}
func (v intFlag) Type() string { return "int" }

type boolFlag struct{ p *bool }

func (v boolFlag) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatBool(*v.p)
}

func (v boolFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not true or false: %q", s)
	}
	*v.p = b
	return nil
}
func (v boolFlag) Type() string     { return "bool" }
func (v boolFlag) IsBoolFlag() bool { return true }

// optionalBool is a tri-state: *p stays nil unless the flag (or its
// variable) is given, so that "not said" can take a default decided later.
type optionalBool struct{ p **bool }

func (v optionalBool) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return strconv.FormatBool(**v.p)
}

func (v optionalBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not true or false: %q", s)
	}
	*v.p = &b
	return nil
}
func (v optionalBool) Type() string     { return "bool" }
func (v optionalBool) IsBoolFlag() bool { return true }

type durationFlag struct{ p *time.Duration }

func (v durationFlag) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration like 15m or 30s: %q", s)
	}
	*v.p = d
	return nil
}
func (v durationFlag) Type() string { return "duration" }

// prefixList is a comma-separated list of CIDR prefixes or addresses.
type prefixList struct{ p *[]netip.Prefix }

func (l prefixList) String() string {
	if l.p == nil {
		return ""
	}
	parts := make([]string, len(*l.p))
	for i, p := range *l.p {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

func (l prefixList) Set(s string) error {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			addr, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return fmt.Errorf("not a CIDR or IP address: %q", part)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, p.Masked())
	}
	*l.p = out
	return nil
}
func (l prefixList) Type() string { return "cidrs" }
