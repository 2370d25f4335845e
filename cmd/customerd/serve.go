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
)

// runServe implements "customerd serve".
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]", getenv, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	db := fs.String("db", defaultDB, dbUsage)
	grace := fs.String("shutdown-grace", "10s", "how long SIGTERM waits for in-flight requests")
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
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	store, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	if err := firstRun(ctx, store, addr, stderr); err != nil {
		ln.Close()
		return err
	}

	srv := &http.Server{
		Handler:           httpapi.New(httpapi.Config{Store: store, Logger: log}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", addr, "db", redactDB(*db))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", graceDur.String())
	sctx, cancel := context.WithTimeout(context.Background(), graceDur)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// firstRun creates the "sandbox" merchant when the database has none, and
// prints its key once, so that a newcomer can call the API right away.
func firstRun(ctx context.Context, store customerd.Store, addr string, stderr io.Writer) error {
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

    curl -u %s: http://%s/customers -d object_reference_id=jon@example.com -d mobile_number=99887766

`, key, key, addr)
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
