package wstransport

import (
	"net"
	"net/netip"
	"strings"
)

// hostPolicy decides which Host headers a loopback listener answers, the
// defence against DNS rebinding: a web page whose name an attacker points
// at 127.0.0.1 reaches a loopback port as "same origin", so only the Host
// header tells the server the request was meant for someone else.
type hostPolicy struct {
	allowed map[string]bool // extra names, lower case, as configured
}

func newHostPolicy(extra []string) *hostPolicy {
	p := &hostPolicy{allowed: make(map[string]bool, len(extra))}
	for _, h := range extra {
		h = strings.ToLower(h)
		// "[::1]" without a port is compared as the bare address, which is
		// how allows sees a Host's name once its port is split off.
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		p.allowed[h] = true
	}
	return p
}

// allows reports whether host (the request's Host header, with or without
// a port) names this server: "localhost", a loopback address, or a name
// given with --ws-allowed-host, matched exactly (without its port, unless
// the configured name has one). Forwarded headers (X-Forwarded-Host,
// Forwarded) are never consulted.
func (p *hostPolicy) allows(host string) bool {
	if host == "" {
		// Only HTTP/1.0 requests may omit Host (net/http refuses 1.1
		// without one), and browsers always send it, so a request without
		// a Host cannot come from a rebinding page.
		return true
	}
	if len(host) > 255 {
		return false
	}
	host = strings.ToLower(host)
	if p.allowed[host] {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
	}
	if name == "localhost" || p.allowed[name] {
		return true
	}
	addr, err := netip.ParseAddr(name)
	return err == nil && addr.Unmap().IsLoopback()
}
