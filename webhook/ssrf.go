package webhook

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// Address ranges that ForbiddenAddr names beyond what netip.Addr's own
// predicates cover.
var (
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")     // RFC 1122 "this host on this network"
	sharedCGNAT = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 carrier-grade NAT
	reservedV4  = netip.MustParsePrefix("240.0.0.0/4")   // RFC 1112 reserved, never routed
	v4Compat    = netip.MustParsePrefix("::/96")         // RFC 4291 deprecated IPv4-compatible
	uniqueLocal = netip.MustParsePrefix("fc00::/7")      // RFC 4193
	nat64       = netip.MustParsePrefix("64:ff9b::/96")  // RFC 6052, an IPv4 address inside
	broadcast   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// ForbiddenAddr reports whether a webhook may not connect to ip, and why in
// one word: "loopback", "private" (RFC 1918), "link-local" (169.254.0.0/16,
// which holds cloud metadata services, and fe80::/10), "unique-local"
// (fc00::/7), "unspecified" (0.0.0.0, ::), "this-network" (0.0.0.0/8),
// "cgnat" (100.64.0.0/10), "multicast", "broadcast" (255.255.255.255),
// "reserved" (240.0.0.0/4, and the deprecated IPv4-compatible ::/96) or
// "invalid" (the zero Addr).
//
// An IPv4 address written as IPv6, IPv4-mapped (::ffff:10.0.0.1) or behind
// the NAT64 prefix (64:ff9b::10.0.0.1), is judged as the IPv4 address.
func ForbiddenAddr(ip netip.Addr) (reason string, forbidden bool) {
	if !ip.IsValid() {
		return "invalid", true
	}
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified", true
	case ip.IsLoopback():
		return "loopback", true
	case thisNetwork.Contains(ip):
		return "this-network", true
	case uniqueLocal.Contains(ip): // before IsPrivate, which includes it
		return "unique-local", true
	case ip.IsPrivate():
		return "private", true
	case ip.IsLinkLocalUnicast():
		return "link-local", true
	case ip.IsMulticast():
		return "multicast", true
	case ip == broadcast:
		return "broadcast", true
	case sharedCGNAT.Contains(ip):
		return "cgnat", true
	case reservedV4.Contains(ip), v4Compat.Contains(ip):
		return "reserved", true
	}
	return "", false
}

// URLError is why CheckURL refused a webhook url. Reason is one sentence
// for the API client who sent the url, such as "url must use https"; it
// never repeats the url, whose query may hold a token.
type URLError struct {
	// Reason is the whole message, e.g. "url resolves to a private
	// address (10.0.0.1)".
	Reason string
}

// Error returns Reason.
func (e *URLError) Error() string { return e.Reason }

// CheckURL decides whether raw may be a webhook endpoint's url, when one is
// created or changed. raw must be an absolute http(s) url with a host, no
// user name or password and no fragment; its scheme must be https unless
// allowInsecure. Its host, a name or a literal address, must resolve with
// resolver (nil means net.DefaultResolver); unless allowInsecure, none of
// its addresses may be ForbiddenAddr. The Sender checks every address again
// as it connects, since DNS can change its answer after this check.
//
// A refusal is a *URLError. If ctx ends during the lookup, CheckURL returns
// ctx.Err() instead: that says nothing about the url.
func CheckURL(ctx context.Context, raw string, allowInsecure bool, resolver *net.Resolver) error {
	u, err := parseEndpointURL(raw, allowInsecure)
	if err != nil {
		return err
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = resolver.LookupNetIP(ctx, "ip", host)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || len(addrs) == 0 {
			return &URLError{"url host does not resolve"}
		}
	}
	if allowInsecure {
		return nil
	}
	for _, ip := range addrs {
		if reason, bad := ForbiddenAddr(ip); bad {
			return &URLError{"url resolves to " + article(reason) + " " + reason + " address (" + ip.WithZone("").Unmap().String() + ")"}
		}
	}
	return nil
}

// parseEndpointURL checks what can be checked of a url without DNS: what
// CheckURL checks at creation and Send again before each attempt.
func parseEndpointURL(raw string, allowInsecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil, &URLError{"url is not a valid URL"}
	}
	switch {
	case !u.IsAbs():
		return nil, &URLError{"url must be absolute, like https://example.com/webhooks"}
	case u.Scheme != "https" && !(allowInsecure && u.Scheme == "http"):
		if allowInsecure {
			return nil, &URLError{"url must use http or https"}
		}
		return nil, &URLError{"url must use https"}
	case u.Opaque != "" || u.Hostname() == "":
		return nil, &URLError{"url must have a host"}
	case u.User != nil:
		return nil, &URLError{"url must not contain a user name or password"}
	case strings.Contains(raw, "#"): // also an empty fragment, which u.Fragment does not show
		return nil, &URLError{"url must not have a fragment"}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, &URLError{"url has an invalid port"}
		}
	}
	return u, nil
}

// article is "a" or "an" before one of ForbiddenAddr's reasons.
func article(reason string) string {
	switch reason {
	case "unspecified", "invalid":
		return "an"
	}
	return "a"
}

// refusedAddrError is a connection that refuseForbidden stopped.
type refusedAddrError struct {
	addr, reason string
}

func (e *refusedAddrError) Error() string {
	return "refused address " + e.addr + " (" + e.reason + ")"
}

// refuseForbidden is the Sender's net.Dialer Control hook. It runs after
// DNS, for every address a connection is attempted to, so a name that
// resolved to a public address at creation and to a private one now (DNS
// rebinding) is refused here.
func refuseForbidden(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedAddrError{address, "unparsable"}
	}
	if reason, bad := ForbiddenAddr(ap.Addr()); bad {
		return &refusedAddrError{ap.Addr().WithZone("").Unmap().String(), reason}
	}
	return nil
}
