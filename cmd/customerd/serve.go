package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"customerd"
	"customerd/dashboard"
	"customerd/delivery"
	"customerd/httpapi"
	"customerd/logwriter"
	"customerd/metrics"
	"customerd/postgres"
	"customerd/service"
	"customerd/tlsconfig"
)

// serveFlags are the flags of "customerd serve".
type serveFlags struct {
	listen, db, grace   *string
	tlsCert, tlsKey     *string
	maxConns            *int
	metricsListen       *string
	logFormat, logLevel *string
	limits              func(cfg *httpapi.Config) error
	keys                *masterKeyFlags
	debugListen         *string
	eventRetention      *string
	idempotencyTTL      *string
	webhookRetryBase    *string
	webhookMaxAge       *string
	webhookInsecure     *bool
	webhookWorkers      *int
	webhookRescue       *string
	dashboard           *bool
}

// newServeFlags defines the flags of "customerd serve"; the top-level help
// lists them too.
func newServeFlags(getenv func(string) string, stdout, stderr io.Writer) (*flagSet, *serveFlags) {
	fs := newFlagSet("serve", "serve [flags]", getenv, stdout, stderr)
	f := &serveFlags{
		listen:         fs.String("listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)"),
		db:             fs.String("db", defaultDB, dbUsage),
		grace:          fs.String("shutdown-grace", "10s", "how long SIGTERM waits for in-flight requests"),
		tlsCert:        fs.String("tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS (HTTP/2 and HTTP/1.1); reloaded on SIGHUP"),
		tlsKey:         fs.String("tls-key", "", "TLS private key file (PEM) of --tls-cert"),
		maxConns:       fs.Int("db-max-conns", postgres.DefaultMaxConns(), "PostgreSQL connections per node (16, or 2 per CPU where that is more); unused with SQLite"),
		metricsListen:  fs.String("metrics-listen", "", "serve /metrics on this address (host:port) instead of on --listen"),
		logFormat:      fs.String("log-format", "auto", "log format: json, text, or auto (text on a terminal, json otherwise)"),
		logLevel:       fs.String("log-level", "info", "lowest level logged: debug, info, warn or error"),
		debugListen:    fs.String("debug-listen", "", "loopback address for pprof and write counters (off when empty)"),
		eventRetention: fs.String("event-retention", "2160h", "how long events are kept (90 days by default); 0 keeps them for ever"),
		idempotencyTTL: fs.String("idempotency-ttl", "24h", "how long the answer of a request with an Idempotency-Key is kept for its retries"),
		webhookRetryBase: fs.String("webhook-retry-base", "30s",
			"wait after a webhook delivery's first failure; it doubles with each failure, up to 1h"),
		webhookMaxAge: fs.String("webhook-retry-max-age", "72h", "how long after its event a webhook delivery is retried before it gives up"),
		webhookInsecure: fs.Bool("webhook-allow-insecure", false,
			"let webhook endpoints use http:// and loopback or private addresses: for development and tests on 127.0.0.1 only"),
		webhookWorkers: fs.Int("webhook-workers", 100, "webhook deliveries one node makes at once"),
		webhookRescue: fs.String("webhook-rescue-after", "1m",
			"how long a webhook delivery claimed by a node that stopped (kill -9, a crash) waits before another node makes it (at least 30s)"),
	}
	f.dashboard = fs.Bool("dashboard", true, "serve the merchant dashboard at /dashboard/ on --listen (sign in with an API key)")
	f.limits = limitFlags(fs)
	f.keys = addMasterKeyFlags(fs)
	return fs, f
}

// runServe implements "customerd serve".
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, f := newServeFlags(getenv, stdout, stderr)
	listen, db, grace, tlsCert, tlsKey, maxConns, keys := f.listen, f.db, f.grace, f.tlsCert, f.tlsKey, f.maxConns, f.keys
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
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
	if err := f.limits(&apiCfg); err != nil {
		return err
	}
	// Records are written from a goroutine of their own, many per system
	// call under load (see package logwriter); everything serve writes to
	// stderr goes through it, so that it stays in order.
	logOut := logwriter.New(stderr)
	defer logOut.Close()
	stderr = logOut
	log, jsonLogs, err := newLogger(stderr, *f.logFormat, *f.logLevel)
	if err != nil {
		return err
	}
	// A server's live heap is small (a few MiB) and its garbage is
	// per-request, so with Go's default GOGC=100 the collector runs dozens
	// of times a second under load. 400 spends less CPU on it for about
	// 12 MiB more memory (see BENCHMARKS.md); GOGC in the environment wins.
	gogc := getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(400)
		gogc = "400"
	}
	log.Info("starting", "version", versionString(), "config", fs.effectiveConfig(), "gogc", gogc)
	certs, err := loadTLS(*tlsCert, *tlsKey)
	if err != nil {
		return err
	}

	if *maxConns < 1 {
		return fmt.Errorf("--db-max-conns %d: want at least 1", *maxConns)
	}
	retention, err := time.ParseDuration(*f.eventRetention)
	if err != nil || retention < 0 {
		return fmt.Errorf("--event-retention %q: want a duration such as 2160h, or 0 to keep events for ever", *f.eventRetention)
	}
	if retention == 0 {
		retention = -1 // the service's "for ever"
	}
	idemTTL, err := time.ParseDuration(*f.idempotencyTTL)
	if err != nil || idemTTL <= 0 {
		return fmt.Errorf("--idempotency-ttl %q: want a positive duration such as 24h", *f.idempotencyTTL)
	}
	retryBase, err := time.ParseDuration(*f.webhookRetryBase)
	if err != nil || retryBase <= 0 {
		return fmt.Errorf("--webhook-retry-base %q: want a positive duration such as 30s", *f.webhookRetryBase)
	}
	maxAge, err := time.ParseDuration(*f.webhookMaxAge)
	if err != nil || maxAge <= 0 {
		return fmt.Errorf("--webhook-retry-max-age %q: want a positive duration such as 72h", *f.webhookMaxAge)
	}
	rescue, err := time.ParseDuration(*f.webhookRescue)
	if err != nil || rescue < 30*time.Second {
		return fmt.Errorf("--webhook-rescue-after %q: want a duration of 30s or more: a delivery may run that long", *f.webhookRescue)
	}
	if *f.webhookWorkers < 1 {
		return fmt.Errorf("--webhook-workers %d: want at least 1", *f.webhookWorkers)
	}
	if *f.webhookInsecure {
		log.Warn("--webhook-allow-insecure: webhook endpoints may use http:// and reach loopback and private addresses; never use it in production")
	}
	m := metrics.New()
	svc, queue, err := openServiceWith(ctx, *db, keys, logWriter{log}, storeOptions{maxConns: *maxConns, background: true,
		eventRetention: retention, idempotencyTTL: idemTTL, deliver: true,
		webhooks: delivery.Config{RetryBase: retryBase, MaxAge: maxAge, Workers: *f.webhookWorkers, RescueAfter: rescue,
			AllowInsecure: *f.webhookInsecure, Logger: log, Metrics: m}})
	if err != nil {
		return err
	}
	defer svc.Close()
	if *f.debugListen != "" {
		stopDebug, err := startDebug(*f.debugListen, svc.Store(), log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	// Nodes of one deployment must log the same id here.
	log.Info("customer data encrypted at rest", "master_key_ids", svc.MasterKeyIDs())

	if src, ok := svc.Store().(metrics.DBStatsSource); ok {
		if err := m.WatchDB(src); err != nil {
			return err
		}
	}
	if err := m.WatchDeliveryQueue(func(ctx context.Context) (int, time.Time, error) {
		st, err := queue.Stats(ctx)
		return st.Pending, st.Oldest, err
	}); err != nil {
		return err
	}
	apiCfg.Metrics = m
	if *f.metricsListen == "" {
		apiCfg.MetricsHandler = m.Handler() // on the public port; see README "Metrics"
	} else {
		stopMetrics, err := serveMetrics(*f.metricsListen, m.Handler(), log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	baseURL := "http://" + addr
	if certs != nil {
		baseURL = "https://" + addr
	}
	dashboardURL := ""
	if *f.dashboard {
		dashboardURL = baseURL + dashboard.Prefix
		apiCfg.Dashboard = &dashboard.Config{}
	}
	if err := firstRun(ctx, svc, baseURL, dashboardURL, stderr, log, jsonLogs); err != nil {
		ln.Close()
		return err
	}

	apiCfg.Service, apiCfg.Logger = svc, log
	if jsonLogs && log.Enabled(ctx, slog.LevelInfo) {
		apiCfg.AccessLog = stderr // the same JSON lines, made without slog (see httpapi.Config)
	}
	// A client that sends its headers slowly is cut off after
	// ReadHeaderTimeout. WriteTimeout exceeds the handlers' 4.5 s database
	// deadline, so a stuck database still gets its 5xx written.
	srv := &http.Server{
		Handler:           httpapi.New(apiCfg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// "OPTIONS *" is answered by the API, in JSON with its headers,
		// rather than by net/http with an empty 200.
		DisableGeneralOptionsHandler: true,
	}
	if certs != nil {
		srv.TLSConfig = tlsconfig.Server(certs.GetCertificate)
		logCertificate(log, "TLS enabled", certs.Leaf())
	}
	defer reloadOnSIGHUP(certs, log)()
	if err := queue.Start(ctx, svc); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- serveHTTP(srv, ln) }()
	listening := []any{"addr", addr, "db", redactDB(*db)}
	if dashboardURL != "" {
		listening = append(listening, "dashboard", dashboardURL)
	}
	log.Info("listening", listening...)

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
	// Deliveries in flight finish within what is left of the grace; the
	// rest are cancelled and tried again by the next process.
	if err := queue.Stop(sctx); err != nil {
		log.Warn("webhook deliveries did not stop cleanly", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}

// firstRun creates the "sandbox" merchant when the database has none, and
// prints its key once, so that a newcomer can call the API, and sign in to
// the dashboard at dashboardURL ("" when it is off), right away. With JSON
// logs the key is in a log record, so that every line stays JSON.
func firstRun(ctx context.Context, svc *service.Service, baseURL, dashboardURL string, stderr io.Writer, log *slog.Logger, jsonLogs bool) error {
	merchants, err := svc.ListMerchants(ctx)
	if err != nil || len(merchants) > 0 {
		return err
	}
	key, err := svc.CreateMerchant(ctx, "sandbox")
	if customerd.ErrorCode(err) == customerd.ECONFLICT {
		return nil // another node created it first
	}
	if err != nil {
		return err
	}
	try := fmt.Sprintf("curl -u %s: %s/customers -d object_reference_id=jon@example.com -d mobile_number=99887766", key, baseURL)
	if jsonLogs {
		attrs := []any{"merchant_id", "sandbox", "api_key", key, "try", try}
		if dashboardURL != "" {
			attrs = append(attrs, "dashboard", dashboardURL)
		}
		log.Warn("first run: created merchant sandbox; its API key is shown once", attrs...)
		return nil
	}
	fmt.Fprintf(stderr, `
customerd: first run: created merchant "sandbox" with API key

    %s

This key is shown once. Try it:

    %s

`, key, try)
	if dashboardURL != "" {
		fmt.Fprintf(stderr, "Or open the dashboard and sign in with the key:\n\n    %s\n\n", dashboardURL)
	}
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
