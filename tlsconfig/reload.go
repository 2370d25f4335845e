package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Reloader serves a certificate and key read from two PEM files, and reads
// them again on Reload. The current pair is swapped atomically: handshakes in
// progress and established connections are not disturbed, and a pair that
// fails to load leaves the previous one in service.
type Reloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewReloader loads the pair from certFile and keyFile. It fails when they
// cannot be read, do not match, or the certificate has expired.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again and, when they hold a valid pair, serves it
// from the next handshake on. On error the previous pair stays in service.
func (r *Reloader) Reload() error {
	c, err := load(r.certFile, r.keyFile, time.Now())
	if err != nil {
		return err
	}
	r.cert.Store(c)
	return nil
}

// GetCertificate returns the current certificate; it is the
// tls.Config.GetCertificate of the server.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Leaf returns the parsed leaf of the current certificate, for logging.
func (r *Reloader) Leaf() *x509.Certificate {
	return r.cert.Load().Leaf
}

func load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil { // filled in by LoadX509KeyPair since Go 1.23
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", certFile, err)
		}
	}
	if now.After(c.Leaf.NotAfter) {
		return nil, fmt.Errorf("TLS certificate %s expired on %s", certFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &c, nil
}
