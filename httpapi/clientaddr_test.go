package httpapi

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"peer is the client", "203.0.113.7:5000", nil, trusted, "203.0.113.7"},
		{"header from an untrusted peer is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, trusted, "203.0.113.7"},
		{"no trusted proxies configured", "10.0.0.1:5000", []string{"198.51.100.1"}, nil, "10.0.0.1"},
		{"one trusted proxy", "10.0.0.1:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"spoofed entries left of the real hop", "10.0.0.1:5000", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.1:5000", []string{"198.51.100.1, 10.0.0.2", "10.0.0.3"}, trusted, "198.51.100.1"},
		{"all hops trusted", "10.0.0.1:5000", []string{"10.0.0.5, 10.0.0.2"}, trusted, "10.0.0.5"},
		{"trusted proxy without the header", "10.0.0.1:5000", nil, trusted, "10.0.0.1"},
		{"garbage hop stops at the last trusted one", "10.0.0.1:5000", []string{"198.51.100.1, garbage, 10.0.0.2"}, trusted, "10.0.0.2"},
		{"hop with a port", "10.0.0.1:5000", []string{"198.51.100.1:4711"}, trusted, "198.51.100.1"},
		{"IPv6 hop with a port", "10.0.0.1:5000", []string{"[2001:db8::1]:4711"}, trusted, "2001:db8::1"},
		{"IPv4-mapped IPv6 peer", "[::ffff:203.0.113.7]:5000", nil, trusted, "203.0.113.7"},
		{"IPv6 trusted proxy", "[fd00::1]:5000", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
		{"unparseable peer", "@", nil, trusted, "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, tc.trusted).String(); got != tc.want {
				t.Fatalf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	a := clientKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := clientKey(netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	c := clientKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Fatalf("keys %s %s %s: want one per /64", a, b, c)
	}
	if k := clientKey(netip.MustParseAddr("192.0.2.1")); k != "192.0.2.1" {
		t.Fatalf("IPv4 key %s", k)
	}
	if k := clientKey(netip.Addr{}); k != "unknown" {
		t.Fatalf("unknown address key %s", k)
	}
}
