package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealthcheck implements "customerd healthcheck": GET /healthz of the
// server that the same flags and environment configure, and exit 0 on 200.
// It is the container's HEALTHCHECK, since a distroless or scratch image has
// no curl.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "healthcheck [--listen ADDR] [--url URL]", getenv, stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "the server's --listen address; an unspecified host (0.0.0.0, ::) is reached on loopback")
	tlsCert := fs.String("tls-cert", "", "the server's --tls-cert; when set, the check speaks HTTPS")
	target := fs.String("url", "", "URL to check instead of the one derived from --listen and --tls-cert")
	timeout := fs.String("timeout", "3s", "how long to wait for the answer")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	wait, err := time.ParseDuration(*timeout)
	if err != nil || wait <= 0 {
		return fmt.Errorf("--timeout %q: want a duration such as 3s", *timeout)
	}
	u := *target
	if u == "" {
		if u, err = healthURL(*listen, *tlsCert != ""); err != nil {
			return err
		}
	}
	// The check reaches its own server on loopback, whose certificate names
	// the public host: verifying it would test the certificate, not liveness.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: wait}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", u, res.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// healthURL is the /healthz URL of a server listening on addr.
func healthURL(addr string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", nil
}
