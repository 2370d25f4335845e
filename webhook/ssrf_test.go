package webhook

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestForbiddenAddr(t *testing.T) {
	cases := []struct {
		ip, reason string // reason "": allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"169.254.0.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "unique-local"},
		{"fd12:3456::1", "unique-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"100.64.0.1", "cgnat"},
		{"100.127.255.255", "cgnat"},
		{"240.0.0.1", "reserved"},
		{"::7f00:1", "reserved"}, // IPv4-compatible ::127.0.0.1
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"64:ff9b::a00:1", "private"}, // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", "loopback"},

		{"93.184.216.34", ""},
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"::ffff:93.184.216.34", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"100.63.255.255", ""},   // just below CGNAT
		{"100.128.0.0", ""},      // just above CGNAT
		{"172.15.255.255", ""},   // just below 172.16/12
		{"172.32.0.0", ""},       // just above 172.16/12
		{"169.253.255.255", ""},
		{"1.0.0.0", ""},
		{"223.255.255.255", ""},
	}
	for _, c := range cases {
		reason, bad := ForbiddenAddr(netip.MustParseAddr(c.ip))
		if bad != (c.reason != "") || reason != c.reason {
			t.Errorf("ForbiddenAddr(%s) = %q, %v; want %q, %v", c.ip, reason, bad, c.reason, c.reason != "")
		}
	}
	if reason, bad := ForbiddenAddr(netip.Addr{}); !bad || reason != "invalid" {
		t.Errorf("ForbiddenAddr(zero Addr) = %q, %v; want invalid, true", reason, bad)
	}
}

func TestCheckURL(t *testing.T) {
	cases := []struct {
		name     string
		url      string
		insecure bool
		want     string // "": accepted; else the whole message, or its start when it ends in "…"
	}{
		{"https with a public literal address is accepted", "https://93.184.216.34/hooks?token=x", false, ""},
		{"a port is fine", "https://93.184.216.34:8443/hooks", false, ""},
		{"public IPv6 literal is accepted", "https://[2606:4700:4700::1111]/", false, ""},
		{"scheme case does not matter", "HTTPS://93.184.216.34/", false, ""},

		{"http needs --webhook-allow-insecure", "http://93.184.216.34/", false, "url must use https"},
		{"other schemes are refused", "ftp://93.184.216.34/", false, "url must use https"},
		{"loopback literal", "https://127.0.0.1/", false, "url resolves to a loopback address (127.0.0.1)"},
		{"private literal", "https://10.0.0.1/", false, "url resolves to a private address (10.0.0.1)"},
		{"metadata service", "https://169.254.169.254/latest/meta-data/", false, "url resolves to a link-local address (169.254.169.254)"},
		{"IPv6 loopback", "https://[::1]:8443/", false, "url resolves to a loopback address (::1)"},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/", false, "url resolves to a loopback address (127.0.0.1)"},
		{"unspecified", "https://0.0.0.0/", false, "url resolves to an unspecified address (0.0.0.0)"},
		{"CGNAT", "https://100.64.1.2/", false, "url resolves to a cgnat address (100.64.1.2)"},
		{"a name resolving to loopback", "https://localhost/", false, "url resolves to a loopback address (…"},
		{"a name that does not resolve", "https://customerd-test.invalid/hooks", false, "url host does not resolve"},

		{"empty", "", false, "url is not a valid URL"},
		{"unparsable", "https://exa mple.com/", false, "url is not a valid URL"},
		{"relative", "/webhooks", false, "url must be absolute, like https://example.com/webhooks"},
		{"no host", "https:///webhooks", false, "url must have a host"},
		{"opaque", "https:example.com", false, "url must have a host"},
		{"user and password", "https://user:pass@93.184.216.34/", false, "url must not contain a user name or password"},
		{"user only", "https://user@93.184.216.34/", false, "url must not contain a user name or password"},
		{"fragment", "https://93.184.216.34/#part", false, "url must not have a fragment"},
		{"empty fragment", "https://93.184.216.34/#", false, "url must not have a fragment"},
		{"port 0", "https://93.184.216.34:0/", false, "url has an invalid port"},
		{"port too large", "https://93.184.216.34:70000/", false, "url has an invalid port"},

		{"insecure allows http", "http://93.184.216.34/", true, ""},
		{"insecure allows loopback over http", "http://127.0.0.1:4242/hooks", true, ""},
		{"insecure allows private over https", "https://10.0.0.1/", true, ""},
		{"insecure allows a name resolving to loopback", "http://localhost:4242/", true, ""},
		{"insecure still needs a host that resolves", "http://customerd-test.invalid/", true, "url host does not resolve"},
		{"insecure still refuses other schemes", "ftp://127.0.0.1/", true, "url must use http or https"},
		{"insecure still refuses a user name", "http://u@127.0.0.1/", true, "url must not contain a user name or password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckURL(context.Background(), c.url, c.insecure, nil)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", c.url, err)
				}
				return
			}
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("CheckURL(%q) = %v (%T), want a *URLError", c.url, err, err)
			}
			if prefix, ok := strings.CutSuffix(c.want, "…"); ok {
				if !strings.HasPrefix(ue.Error(), prefix) {
					t.Fatalf("CheckURL(%q) = %q, want it to start with %q", c.url, ue.Error(), prefix)
				}
			} else if ue.Error() != c.want {
				t.Fatalf("CheckURL(%q) = %q, want %q", c.url, ue.Error(), c.want)
			}
		})
	}
}

func TestCheckURLNeverEchoesTheURL(t *testing.T) {
	for _, raw := range []string{
		"http://93.184.216.34/?token=s3cr3t",
		"https://user:s3cr3t@93.184.216.34/",
		"https://s3cr3t.invalid/",
		"https://93.184.216.34/#s3cr3t",
		"https://93.184.216.34/s3cr3t%zz",
	} {
		err := CheckURL(context.Background(), raw, false, nil)
		if err == nil {
			t.Errorf("CheckURL(%q) accepted it", raw)
		} else if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("CheckURL(%q) = %q repeats the url", raw, err)
		}
	}
}

func TestCheckURLReturnsTheContextsError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := CheckURL(ctx, "https://example.com/", false, nil)
	var ue *URLError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
		t.Fatalf("CheckURL with a canceled context = %v (%T), want context.Canceled", err, err)
	}
}

func TestRefuseForbiddenAtConnect(t *testing.T) {
	cases := []struct{ address, want string }{
		{"127.0.0.1:443", "refused address 127.0.0.1 (loopback)"},
		{"[::1]:443", "refused address ::1 (loopback)"},
		{"[::ffff:10.0.0.1]:443", "refused address 10.0.0.1 (private)"},
		{"[fe80::1%eth0]:443", "refused address fe80::1 (link-local)"},
		{"169.254.169.254:80", "refused address 169.254.169.254 (link-local)"},
		{"93.184.216.34:443", ""},
		{"[2606:4700:4700::1111]:443", ""},
	}
	for _, c := range cases {
		err := refuseForbidden("tcp", c.address, nil)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("refuseForbidden(%s) = %q, want %q", c.address, got, c.want)
		}
	}
}
