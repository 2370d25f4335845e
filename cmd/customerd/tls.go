package main

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"customerd/tlsconfig"
)

var errTLSPair = errors.New("--tls-cert and --tls-key go together: give both or neither")

// loadTLS loads the certificate of "serve --tls-cert --tls-key"; it returns
// nil when neither flag is given.
func loadTLS(certFile, keyFile string) (*tlsconfig.Reloader, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		return nil, errTLSPair
	}
	return tlsconfig.NewReloader(certFile, keyFile)
}

// serveHTTP serves ln with srv, over TLS when srv has a TLS configuration.
func serveHTTP(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig.GetCertificate
	}
	return srv.Serve(ln)
}

// reloadOnSIGHUP reloads the certificate and key from their files on every
// SIGHUP, until stop is called. A pair that fails to load is logged and the
// current one stays in service; open connections are never dropped. Without
// TLS (certs is nil) SIGHUP is logged and otherwise ignored, so that the
// signal an operator sends to rotate certificates never stops a server.
func reloadOnSIGHUP(certs *tlsconfig.Reloader, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if certs == nil {
					log.Info("SIGHUP ignored: serving without TLS, nothing to reload")
					continue
				}
				if err := certs.Reload(); err != nil {
					log.Error("TLS certificate reload failed; keeping the current certificate", "error", err.Error())
					continue
				}
				logCertificate(log, "TLS certificate reloaded", certs.Leaf())
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

func logCertificate(log *slog.Logger, msg string, leaf *x509.Certificate) {
	ips := make([]string, len(leaf.IPAddresses))
	for i, ip := range leaf.IPAddresses {
		ips[i] = ip.String()
	}
	log.Info(msg, "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames, "ip_addresses", ips,
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}
