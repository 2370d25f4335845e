package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// runHealthcheck implements "customerd healthcheck": GET /healthz of the
// server that the same flags and environment configure, and exit 0 on 200.
// It is the container's HEALTHCHECK, since a distroless or scratch image has
// no curl.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "healthcheck [--listen ADDR] [--tls-cert FILE] [--url URL] [--insecure-skip-verify]", getenv, stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "the server's --listen address; an unspecified host (0.0.0.0, ::) is reached on loopback")
	tlsCert := fs.String("tls-cert", "", "the server's --tls-cert; when set, the check speaks HTTPS, and an https --url is trusted if it presents this certificate (or one it signed)")
	target := fs.String("url", "", "URL to check instead of the one derived from --listen and --tls-cert; an https URL's certificate is verified")
	insecure := fs.Bool("insecure-skip-verify", false, "accept any certificate from an https --url, unverified")
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
	tlsConf := &tls.Config{}
	switch {
	case u == "":
		if u, err = healthURL(*listen, *tlsCert != ""); err != nil {
			return err
		}
		// The check reaches its own server on loopback, whose certificate
		// names the public host: verifying it would test the certificate,
		// not liveness.
		tlsConf.InsecureSkipVerify = true
	case *insecure:
		tlsConf.InsecureSkipVerify = true
	case *tlsCert != "":
		if tlsConf.RootCAs, err = certPool(*tlsCert); err != nil {
			return err
		}
	}
	tr := &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: wait}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	var unverified *tls.CertificateVerificationError
	if errors.As(err, &unverified) {
		var wrongName x509.HostnameError
		if errors.As(unverified.Err, &wrongName) {
			return fmt.Errorf("healthcheck: %s: %v; use a URL with a name the certificate is for, or --insecure-skip-verify", u, unverified.Err)
		}
		return fmt.Errorf("healthcheck: %s: %v; pass --tls-cert with the certificate to trust, or --insecure-skip-verify", u, unverified.Err)
	}
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	res.Body.Close()
	// What Go's server answers to plain HTTP on a TLS port.
	if res.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("Client sent an HTTP request to an HTTPS server")) {
		if *target == "" {
			return fmt.Errorf("healthcheck: %s: the server speaks HTTPS: pass --tls-cert (the server's certificate file)", u)
		}
		return fmt.Errorf("healthcheck: %s: the server speaks HTTPS: use an https:// URL", u)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", u, res.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// certPool returns the certificates of a PEM file, to be trusted as roots.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-cert %s: no PEM certificate in the file", file)
	}
	return pool, nil
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
