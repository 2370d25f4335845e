// Package tlsconfig holds customerd's TLS settings: the server configuration
// (TLS 1.2 minimum, ECDHE with AEAD ciphers only, HTTP/2 and HTTP/1.1), a
// certificate that reloads from its files without dropping connections, and
// self-signed development certificates.
//
// TLS is not optional for Juspay's Node SDK 1.0.0: it always speaks HTTPS,
// whatever scheme its base URL has.
package tlsconfig

import "crypto/tls"

// CipherSuites are the TLS 1.2 suites customerd offers: forward-secret ECDHE
// key exchange with an AEAD cipher, nothing else. TLS 1.3 suites are not
// configurable in Go and are all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, // HTTP/2 requires one of these two
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Server returns the server-side TLS configuration. Every handshake asks
// getCert for the certificate, so a new one applies to new connections while
// established connections keep theirs. ALPN offers HTTP/2 first, then
// HTTP/1.1, which Juspay's Node SDK speaks.
func Server(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   CipherSuites,
		GetCertificate: getCert,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
