package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"customerd"
	"customerd/delivery"
	"customerd/postgres"
	"customerd/service"
	"customerd/sqlite"
)

// defaultDB is the embedded default: a SQLite file in the working directory.
const defaultDB = "sqlite:customerd.db"

const dbUsage = "database URL: sqlite:PATH (embedded, the default) or postgres://…"

const backgroundWarning = "customerd: warning: background work failed; it is tried again:"

// logWriter turns warnings into warning records of the server's structured
// log.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(strings.TrimPrefix(string(p), "customerd: warning: "))
	w.log.Warn(strings.ReplaceAll(msg, "\n  ", " "))
	return len(p), nil
}

// storeOptions tune the stores that have something to tune.
type storeOptions struct {
	maxConns int // PostgreSQL connection pool size; 0 keeps the default
	// background runs the service's background work (numbering and
	// pruning events, finishing data-key rotations). Only serve, which runs
	// long enough, asks for it.
	background     bool
	eventRetention time.Duration // see service.Config
	idempotencyTTL time.Duration // see service.Config
	// deliver makes this process send webhooks (serve); every process
	// schedules them, in the transactions of the changes it makes.
	deliver  bool
	webhooks delivery.Config
	// wrapStore, when set, is given the store and returns the one the
	// service uses (import paces its writes on SQLite this way).
	wrapStore func(customerd.Store) customerd.Store
}

// deliveryConns is the size of the PostgreSQL pool of the webhook
// deliveries, apart from the API's (--db-max-conns).
const deliveryConns = 4

// openService opens the store a --db URL names (applying its migrations)
// and the service over it, with the master key the flags give. Warnings (a
// key file created on first run, background work that stopped) go to warn.
func openService(ctx context.Context, dbURL string, keys *masterKeyFlags, warn io.Writer) (*service.Service, error) {
	svc, _, err := openServiceWith(ctx, dbURL, keys, warn, storeOptions{})
	return svc, err
}

// openServiceWith is openService with tuning from serve's flags. It also
// returns the webhook delivery queue the service schedules on, which it
// closes when it is closed; with opts.deliver the queue delivers once
// started (Queue.Start).
func openServiceWith(ctx context.Context, dbURL string, keys *masterKeyFlags, warn io.Writer, opts storeOptions) (*service.Service, *delivery.Queue, error) {
	vault, err := keys.vault()
	if err != nil {
		return nil, nil, err
	}
	var queue *delivery.Queue
	var store customerd.Store
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		if vault == nil {
			return nil, nil, fmt.Errorf("PostgreSQL needs the master key that encrypts customer data: give --master-key-file or %s (every node the same key)", masterKeyEnv)
		}
		if store, err = postgres.Open(ctx, dbURL, postgres.Options{MaxConns: opts.maxConns}); err != nil {
			return nil, nil, err
		}
		if queue, err = delivery.OpenPostgres(ctx, dbURL, deliveryConns, opts.deliver, opts.webhooks); err != nil {
			store.Close()
			return nil, nil, err
		}
	case strings.HasPrefix(dbURL, "sqlite:"):
		path := sqlitePath(dbURL)
		if path == "" {
			return nil, nil, fmt.Errorf("--db %q: no file path after sqlite:", dbURL)
		}
		if err := refuseMissingDatabase(path); err != nil {
			return nil, nil, err
		}
		lite, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, nil, err
		}
		store = lite
		if queue, err = delivery.OpenSQLite(ctx, lite, opts.deliver, opts.webhooks); err != nil {
			store.Close()
			return nil, nil, err
		}
		if vault == nil {
			vault, err = service.DefaultKeyFiles(path).Vault(ctx, store, func(keyFile string) {
				fmt.Fprintf(warn, `customerd: warning: no master key given; created %s (mode 0600) to encrypt customer data.
  Without this file the data cannot be read: back it up, apart from the database.
  In production supply your own key with --master-key-file or %s.
`, keyFile, masterKeyEnv)
			})
			if err != nil {
				queue.Close()
				store.Close()
				return nil, nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	default:
		return nil, nil, fmt.Errorf("--db: unsupported database URL (want sqlite:PATH or postgres://…)")
	}
	if opts.wrapStore != nil {
		store = opts.wrapStore(store)
	}
	svc, err := service.New(ctx, service.Config{Store: store, Vault: vault, EventRetention: opts.eventRetention,
		IdempotencyTTL: opts.idempotencyTTL, Deliveries: queue, WebhookAllowInsecure: opts.webhooks.AllowInsecure,
		WebhookMaxAge:     opts.webhooks.MaxAge,
		OnBackgroundError: func(err error) { fmt.Fprintln(warn, backgroundWarning, err) }})
	if err != nil {
		queue.Close()
		store.Close()
		return nil, nil, err
	}
	if opts.background {
		svc.StartBackground()
	}
	return svc, queue, nil
}

// refuseMissingDatabase returns an error when no database file is at path
// but a file of an earlier run is beside it: the default master key file or
// its previous key, or SQLite's -wal or -shm file. The database was then
// deleted or moved, and creating one would silently make a first run of it:
// a new sandbox merchant, and every earlier key refused.
func refuseMissingDatabase(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or an error that opening it reports
	}
	keys := service.DefaultKeyFiles(path)
	var traces []string
	for _, p := range []string{keys.Current, keys.Previous, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			traces = append(traces, p)
		}
	}
	if len(traces) == 0 {
		return nil
	}
	list := strings.Join(traces, ", ")
	return fmt.Errorf("the database %s does not exist, but files of an earlier run are beside it (%s): "+
		"it was deleted or moved. Restore it; to start a new database there instead, first remove %s", path, list, list)
}
