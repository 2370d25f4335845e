package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"customerd"
	"customerd/httpapi"
	"customerd/postgres"
	"customerd/tlsconfig"
)

// runServe implements "customerd serve".
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]", getenv, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	db := fs.String("db", defaultDB, dbUsage)
	grace := fs.String("shutdown-grace", "10s", "how long SIGTERM waits for in-flight requests")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS (HTTP/2 and HTTP/1.1); reloaded on SIGHUP")
	tlsKey := fs.String("tls-key", "", "TLS private key file (PEM) of --tls-cert")
	maxConns := fs.Int("db-max-conns", postgres.DefaultMaxConns(), "PostgreSQL connections per node (2 per CPU, at least 4); unused with SQLite")
	limits := limitFlags(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return errUsage
	}
	if len(pos) != 0 {
		fs.Usage()
		return errUsage
	}
	graceDur, err := time.ParseDuration(*grace)
	if err != nil || graceDur < 0 {
		return fmt.Errorf("--shutdown-grace %q: want a duration such as 10s", *grace)
	}
	var apiCfg httpapi.Config
	if err := limits(&apiCfg); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	certs, err := loadTLS(*tlsCert, *tlsKey)
	if err != nil {
		return err
	}

	if *maxConns < 1 {
		return fmt.Errorf("--db-max-conns %d: want at least 1", *maxConns)
	}
	store, err := openStoreWith(ctx, *db, storeOptions{maxConns: *maxConns})
	if err != nil {
		return err
	}
	defer store.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	baseURL := "http://" + addr
	if certs != nil {
		baseURL = "https://" + addr
	}
	if err := firstRun(ctx, store, baseURL, stderr); err != nil {
		ln.Close()
		return err
	}

	apiCfg.Store, apiCfg.Logger = store, log
	// A client that sends its headers slowly is cut off after
	// ReadHeaderTimeout. WriteTimeout exceeds the handlers' 10 s database
	// deadline, so a stuck database still gets its 5xx written.
	srv := &http.Server{
		Handler:           httpapi.New(apiCfg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if certs != nil {
		srv.TLSConfig = tlsconfig.Server(certs.GetCertificate)
		logCertificate(log, "TLS enabled", certs.Leaf())
	}
	defer reloadOnSIGHUP(certs, log)()
	errc := make(chan error, 1)
	go func() { errc <- serveHTTP(srv, ln) }()
	log.Info("listening", "addr", addr, "db", redactDB(*db))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", graceDur.String())
	sctx, cancel := context.WithTimeout(context.Background(), graceDur)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Grace is over: cut what is left, then close the database.
		log.Warn("shutdown grace expired; closing the remaining connections")
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// firstRun creates the "sandbox" merchant when the database has none, and
// prints its key once, so that a newcomer can call the API right away.
func firstRun(ctx context.Context, store customerd.Store, baseURL string, stderr io.Writer) error {
	n, err := store.CountMerchants(ctx)
	if err != nil || n > 0 {
		return err
	}
	key, err := customerd.CreateMerchant(ctx, store, "sandbox", time.Now())
	if customerd.ErrorCode(err) == customerd.ECONFLICT {
		return nil // another node created it first
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, `
customerd: first run: created merchant "sandbox" with API key

    %s

This key is shown once. Try it:

    curl -u %s: %s/customers -d object_reference_id=jon@example.com -d mobile_number=99887766

`, key, key, baseURL)
	return nil
}

// redactDB hides a password in a database URL before it is logged.
func redactDB(db string) string {
	if u, err := parseURL(db); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = urlUserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return db
}
