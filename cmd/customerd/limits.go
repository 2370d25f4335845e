package main

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"customerd/httpapi"
)

// limitFlags registers the abuse-limit flags of "serve". The function it
// returns reads them, once parsed, into cfg.
func limitFlags(fs *flagSet) func(cfg *httpapi.Config) error {
	rateLimit := fs.String("rate-limit", "0", "requests per second one API key may make on average, per node (0, the default, disables)")
	rateBurst := fs.Int("rate-burst", 200, "requests one API key may make at once, per node")
	authFails := fs.Int("auth-fail-limit", 60, "failed authentications one client address may make in any --auth-fail-window, per node, before it gets 429 (0 disables)")
	authWindow := fs.String("auth-fail-window", "1m", "the sliding window of --auth-fail-limit")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs (or addresses) of proxies whose X-Forwarded-For is believed")
	return func(cfg *httpapi.Config) error {
		r, err := strconv.ParseFloat(*rateLimit, 64)
		if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return fmt.Errorf("--rate-limit %q: want a number of requests per second, 0 to disable", *rateLimit)
		}
		if r > 0 && *rateBurst < 1 {
			return fmt.Errorf("--rate-burst %d: want at least 1 while --rate-limit is on", *rateBurst)
		}
		if *authFails < 0 {
			return fmt.Errorf("--auth-fail-limit %d: want a count, 0 to disable", *authFails)
		}
		window, err := time.ParseDuration(*authWindow)
		if err != nil || window <= 0 {
			return fmt.Errorf("--auth-fail-window %q: want a duration such as 1m", *authWindow)
		}
		trusted, err := parsePrefixes(*proxies)
		if err != nil {
			return fmt.Errorf("--trusted-proxies: %w", err)
		}
		cfg.RateLimit, cfg.RateBurst = r, *rateBurst
		cfg.AuthFailures, cfg.AuthFailWindow = *authFails, window
		cfg.TrustedProxies = trusted
		return nil
	}
}

// parsePrefixes reads "10.0.0.0/8, 192.0.2.7, fd00::/8": a bare address is
// a prefix of one address.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
