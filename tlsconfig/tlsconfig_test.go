package tlsconfig_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"customerd/tlsconfig"
)

// writePair writes a new self-signed pair for hosts into dir and returns the
// file paths and the parsed certificate.
func writePair(t *testing.T, dir string, now time.Time, validFor time.Duration, hosts ...string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	certPEM, keyPEM, err := tlsconfig.SelfSigned(hosts, now, validFor)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, parsePEM(t, certPEM)
}

func parsePEM(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// startServer serves HTTPS on a free port exactly as "customerd serve" does:
// http.Server.ServeTLS with tlsconfig.Server. The handler reports the
// protocol the request arrived with.
func startServer(t *testing.T, r *tlsconfig.Reloader) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: tlsconfig.Server(r.GetCertificate),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			fmt.Fprintf(w, "%s %s", req.Proto, req.TLS.NegotiatedProtocol)
		}),
		ErrorLog: log.New(io.Discard, "", 0), // refused handshakes are expected
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return ln.Addr().String()
}

func newReloader(t *testing.T, certFile, keyFile string) *tlsconfig.Reloader {
	t.Helper()
	r, err := tlsconfig.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func get(t *testing.T, client *http.Client, url string) (proto, body string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Proto, string(b)
}

func TestServesHTTP2AndHTTP1(t *testing.T) {
	certFile, keyFile, cert := writePair(t, t.TempDir(), time.Now(), time.Hour, "localhost", "127.0.0.1")
	addr := startServer(t, newReloader(t, certFile, keyFile))

	h2 := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool(cert)},
		ForceAttemptHTTP2: true,
	}}
	defer h2.CloseIdleConnections()
	if proto, body := get(t, h2, "https://"+addr+"/"); proto != "HTTP/2.0" || body != "HTTP/2.0 h2" {
		t.Errorf("HTTP/2 client: response %s, server saw %q; want HTTP/2.0 over ALPN h2", proto, body)
	}

	// Juspay's Node SDK speaks HTTP/1.1 and offers no ALPN at all.
	for _, alpn := range [][]string{{"http/1.1"}, nil} {
		h1 := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool(cert), NextProtos: alpn},
		}}
		proto, body := get(t, h1, "https://localhost:"+portOf(addr)+"/")
		h1.CloseIdleConnections()
		if want := "HTTP/1.1 " + firstOr(alpn); proto != "HTTP/1.1" || body != want {
			t.Errorf("HTTP/1.1 client offering %q: response %s, server saw %q; want %q", alpn, proto, body, want)
		}
	}
}

func firstOr(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func TestRefusesOldProtocolsAndWeakCiphers(t *testing.T) {
	certFile, keyFile, cert := writePair(t, t.TempDir(), time.Now(), time.Hour, "127.0.0.1")
	addr := startServer(t, newReloader(t, certFile, keyFile))
	dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.RootCAs = pool(cert)
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.0 is refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false},
		{"TLS 1.1 is refused", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 with a CBC cipher is refused", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, false},
		{"TLS 1.2 with ECDHE and AES-GCM is accepted", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 with ECDHE and ChaCha20-Poly1305 is accepted", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.3 is accepted", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := dial(tc.cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("handshake error %v, want success %v", err, tc.ok)
			}
			// The refusal must be the server's alert, not the client's own.
			if !tc.ok && !strings.Contains(err.Error(), "remote error") {
				t.Errorf("handshake failed on the client side: %v", err)
			}
			if tc.ok && st.Version < tls.VersionTLS12 {
				t.Errorf("negotiated version %x", st.Version)
			}
		})
	}
}

func TestConfigOffersOnlyModernSuites(t *testing.T) {
	cfg := tlsconfig.Server(nil)
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.ID] = true
	}
	for _, id := range cfg.CipherSuites {
		name := tls.CipherSuiteName(id)
		if insecure[id] {
			t.Errorf("%s is insecure", name)
		}
		// Only forward-secret, authenticated-encryption suites.
		if !strings.Contains(name, "ECDHE") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20_POLY1305")) {
			t.Errorf("%s is not ECDHE with an AEAD cipher", name)
		}
	}
}

func TestReloadSwapsCertificateAndKeepsConnections(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := writePair(t, dir, time.Now(), time.Hour, "127.0.0.1")
	r := newReloader(t, certFile, keyFile)
	addr := startServer(t, r)

	// A keep-alive HTTP/1.1 connection made before the reload.
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(first), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldReader := bufio.NewReader(old)
	roundTrip(t, old, oldReader)

	_, _, second := writePair(t, dir, time.Now(), time.Hour, "127.0.0.1")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := r.Leaf().SerialNumber; got.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after Reload the leaf is serial %x, want the new %x", got, second.SerialNumber)
	}
	if got := servedSerial(t, addr, second); got.Cmp(second.SerialNumber) != 0 {
		t.Errorf("new connection got serial %x, want the new %x", got, second.SerialNumber)
	}
	// The old connection keeps working over its old session.
	roundTrip(t, old, oldReader)
	if got := old.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(first.SerialNumber) != 0 {
		t.Errorf("old connection now shows serial %x", got)
	}
}

func roundTrip(t *testing.T, c net.Conn, rd *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "HTTP/1.1 http/1.1" {
		t.Fatalf("keep-alive request: %d %q", resp.StatusCode, b)
	}
}

// servedSerial makes a new connection that trusts only want and returns the
// serial number of the certificate the server presents.
func servedSerial(t *testing.T, addr string, want *x509.Certificate) *big.Int {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(want)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestReloadKeepsCurrentPairOnError(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, good := writePair(t, dir, time.Now(), time.Hour, "127.0.0.1")
	r := newReloader(t, certFile, keyFile)
	goodKey, _ := os.ReadFile(keyFile)
	goodCert, _ := os.ReadFile(certFile)
	otherCert, otherKey, err := tlsconfig.SelfSigned([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey, err := tlsconfig.SelfSigned([]string{"127.0.0.1"}, time.Now().Add(-48*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cert, key  []byte
		removeCert bool
	}{
		{"certificate file missing", nil, goodKey, true},
		{"certificate file is not PEM", []byte("garbage"), goodKey, false},
		{"key does not match the certificate", otherCert, goodKey, false},
		{"key file is of another pair", goodCert, otherKey, false},
		{"certificate has expired", expiredCert, expiredKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.removeCert {
				os.Remove(certFile)
			} else if err := os.WriteFile(certFile, tc.cert, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyFile, tc.key, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := r.Reload(); err == nil {
				t.Fatal("Reload succeeded, want an error")
			}
			got, err := r.GetCertificate(nil)
			if err != nil || got.Leaf.SerialNumber.Cmp(good.SerialNumber) != 0 {
				t.Fatalf("after a failed reload the served certificate changed (%v)", err)
			}
		})
	}
	if _, err := tlsconfig.NewReloader(certFile, keyFile); err == nil {
		t.Error("NewReloader accepted an expired certificate")
	}
}

func TestSelfSignedVerifiesForItsHosts(t *testing.T) {
	now := time.Now()
	certPEM, keyPEM, err := tlsconfig.SelfSigned([]string{"localhost", " 127.0.0.1", "::1", "dev.example.test", ""}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert := parsePEM(t, certPEM)
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("certificate and key do not form a pair: %v", err)
	}
	if cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", cert.PublicKeyAlgorithm)
	}
	opts := x509.VerifyOptions{Roots: pool(cert), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "dev.example.test"} {
		opts.DNSName = host
		if _, err := cert.Verify(opts); err != nil {
			t.Errorf("does not verify for %s: %v", host, err)
		}
	}
	if len(cert.IPAddresses) != 2 || len(cert.DNSNames) != 2 {
		t.Errorf("SANs: IPs %v, DNS %v; want IPs as IP SANs and names as DNS SANs", cert.IPAddresses, cert.DNSNames)
	}
	for _, host := range []string{"example.com", "127.0.0.2"} {
		opts.DNSName = host
		if _, err := cert.Verify(opts); err == nil {
			t.Errorf("verifies for %s, which it was not made for", host)
		}
	}
	opts.DNSName = "localhost"
	opts.CurrentTime = now.Add(25 * time.Hour)
	if _, err := cert.Verify(opts); err == nil {
		t.Error("verifies after its validity")
	}
	if _, _, err := tlsconfig.SelfSigned([]string{" ", ""}, now, time.Hour); err == nil {
		t.Error("SelfSigned without hosts succeeded")
	}
}
