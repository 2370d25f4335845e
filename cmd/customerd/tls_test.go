package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tlsLog is a stderr that tests can read while the server writes to it.
type tlsLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *tlsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *tlsLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tlsWaitFor polls until cond holds or fails the test after 10 s.
func tlsWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsListenAddr returns the address of the "listening" log line, or "".
func tlsListenAddr(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			return rec.Addr
		}
	}
	return ""
}

func tlsReadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tlsCertCreate(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"cert", "create", "--out", dir}, args...)
	if err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("cert create: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

func TestCertCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	out := tlsCertCreate(t, dir, "--host", "localhost,127.0.0.1,::1,api.dev.test")
	certPath, keyPath := filepath.Join(dir, "customerd.crt"), filepath.Join(dir, "customerd.key")

	for path, want := range map[string]os.FileMode{keyPath: 0o600, certPath: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
	if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
		t.Fatalf("the files do not form a key pair: %v", err)
	}
	cert := tlsReadCert(t, certPath)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "api.dev.test"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("certificate does not verify for %s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"}); err == nil {
		t.Error("certificate verifies for a host it was not made for")
	}
	for _, want := range []string{"NODE_EXTRA_CA_CERTS=" + certPath, "--tls-cert " + certPath, "--tls-key " + keyPath, "curl --cacert"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// An existing key is never overwritten.
	before, _ := os.ReadFile(keyPath)
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"cert", "create", "--out", dir}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second cert create into the same directory: %v, want an 'already exists' error", err)
	}
	if after, _ := os.ReadFile(keyPath); !bytes.Equal(before, after) {
		t.Error("the existing key was overwritten")
	}
}

func TestCertCreateDefaultsToLocalhost(t *testing.T) {
	dir := t.TempDir()
	tlsCertCreate(t, dir)
	cert := tlsReadCert(t, filepath.Join(dir, "customerd.crt"))
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "localhost" ||
		len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("default SANs: DNS %v, IP %v; want localhost and 127.0.0.1", cert.DNSNames, cert.IPAddresses)
	}
}

func TestServeTLSFlagsGoTogether(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	for _, args := range [][]string{
		{"serve", "--db", db, "--tls-cert", "c.crt"},
		{"serve", "--db", db, "--tls-key", "c.key"},
	} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err != errTLSPair {
			t.Errorf("%v: %v, want %v", args, err, errTLSPair)
		}
	}
	// The environment counts as giving a flag.
	env := map[string]string{"CUSTOMERD_TLS_KEY": "c.key"}
	err := run(context.Background(), []string{"serve", "--db", db, "--tls-cert", "c.crt"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == errTLSPair || err == nil || !strings.Contains(err.Error(), "c.crt") {
		t.Errorf("cert from a flag and key from the environment: %v, want an error loading c.crt", err)
	}
}

// TestServeTLSReloadsOnSIGHUP runs "serve" in-process over TLS, rotates the
// certificate files and sends the process SIGHUP.
func TestServeTLSReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "tls")
	tlsCertCreate(t, certDir, "--host", "127.0.0.1")
	certPath, keyPath := filepath.Join(certDir, "customerd.crt"), filepath.Join(certDir, "customerd.key")
	first := tlsReadCert(t, certPath)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &tlsLog{}
	done := make(chan error, 1)
	env := map[string]string{"CUSTOMERD_TLS_CERT": certPath, "CUSTOMERD_TLS_KEY": keyPath}
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "c.db")},
			func(k string) string { return env[k] }, io.Discard, stderr)
	}()
	tlsWaitFor(t, "the listening line", func() bool { return tlsListenAddr(stderr.String()) != "" })
	addr := tlsListenAddr(stderr.String())

	// get asks over a fresh connection that trusts only want, and returns the
	// protocol and the serial of the certificate the server presented.
	get := func(want *x509.Certificate, http2 bool) (string, string) {
		t.Helper()
		roots := x509.NewCertPool()
		roots.AddCert(want)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: http2}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /healthz: %d", resp.StatusCode)
		}
		return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if proto, serial := get(first, true); proto != "HTTP/2.0" || serial != first.SerialNumber.String() {
		t.Fatalf("before reload: %s with serial %s; want HTTP/2.0 with %s", proto, serial, first.SerialNumber)
	}
	if proto, _ := get(first, false); proto != "HTTP/1.1" {
		t.Fatalf("HTTP/1.1 client got %s", proto)
	}

	// Rotate: a new pair into the same paths, then SIGHUP.
	for _, p := range []string{certPath, keyPath} {
		os.Remove(p)
	}
	tlsCertCreate(t, certDir, "--host", "127.0.0.1")
	second := tlsReadCert(t, certPath)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tlsWaitFor(t, "the reload log line", func() bool { return strings.Contains(stderr.String(), `"msg":"TLS certificate reloaded"`) })
	if _, serial := get(second, true); serial != second.SerialNumber.String() {
		t.Fatalf("after SIGHUP the server presents serial %s, want the new %s", serial, second.SerialNumber)
	}

	// A broken pair is refused and the current one stays in service.
	if err := os.WriteFile(certPath, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tlsWaitFor(t, "the reload error", func() bool { return strings.Contains(stderr.String(), `"msg":"TLS certificate reload failed`) })
	if _, serial := get(second, false); serial != second.SerialNumber.String() {
		t.Fatalf("after a failed reload the server presents serial %s, want %s", serial, second.SerialNumber)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// Without TLS there is nothing to reload, and SIGHUP must not stop the server.
func TestServeWithoutTLSIgnoresSIGHUP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &tlsLog{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(t.TempDir(), "c.db")},
			func(string) string { return "" }, io.Discard, stderr)
	}()
	tlsWaitFor(t, "the listening line", func() bool { return tlsListenAddr(stderr.String()) != "" })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tlsWaitFor(t, "the SIGHUP log line", func() bool { return strings.Contains(stderr.String(), `"msg":"SIGHUP ignored`) })
	resp, err := http.Get("http://" + tlsListenAddr(stderr.String()) + "/healthz")
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after SIGHUP: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}
