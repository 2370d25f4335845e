package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"customerd"
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
	// wrapStore, when set, is given the store and returns the one the
	// service uses (import paces its writes on SQLite this way).
	wrapStore func(customerd.Store) customerd.Store
}

// openService opens the store a --db URL names (applying its migrations)
// and the service over it, with the master key the flags give. Warnings (a
// key file created on first run, background work that stopped) go to warn.
func openService(ctx context.Context, dbURL string, keys *masterKeyFlags, warn io.Writer) (*service.Service, error) {
	return openServiceWith(ctx, dbURL, keys, warn, storeOptions{})
}

// openServiceWith is openService with tuning from serve's flags.
func openServiceWith(ctx context.Context, dbURL string, keys *masterKeyFlags, warn io.Writer, opts storeOptions) (*service.Service, error) {
	vault, err := keys.vault()
	if err != nil {
		return nil, err
	}
	var store customerd.Store
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		if vault == nil {
			return nil, fmt.Errorf("PostgreSQL needs the master key that encrypts customer data: give --master-key-file or %s (every node the same key)", masterKeyEnv)
		}
		if store, err = postgres.Open(ctx, dbURL, postgres.Options{MaxConns: opts.maxConns}); err != nil {
			return nil, err
		}
	case strings.HasPrefix(dbURL, "sqlite:"):
		path := sqlitePath(dbURL)
		if path == "" {
			return nil, fmt.Errorf("--db %q: no file path after sqlite:", dbURL)
		}
		if store, err = sqlite.Open(ctx, path); err != nil {
			return nil, err
		}
		if vault == nil {
			vault, err = service.DefaultKeyFiles(path).Vault(ctx, store, func(keyFile string) {
				fmt.Fprintf(warn, `customerd: warning: no master key given; created %s (mode 0600) to encrypt customer data.
  Without this file the data cannot be read: back it up, apart from the database.
  In production supply your own key with --master-key-file or %s.
`, keyFile, masterKeyEnv)
			})
			if err != nil {
				store.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	default:
		return nil, fmt.Errorf("--db: unsupported database URL (want sqlite:PATH or postgres://…)")
	}
	if opts.wrapStore != nil {
		store = opts.wrapStore(store)
	}
	svc, err := service.New(ctx, service.Config{Store: store, Vault: vault, EventRetention: opts.eventRetention,
		OnBackgroundError: func(err error) { fmt.Fprintln(warn, backgroundWarning, err) }})
	if err != nil {
		store.Close()
		return nil, err
	}
	if opts.background {
		svc.StartBackground()
	}
	return svc, nil
}
