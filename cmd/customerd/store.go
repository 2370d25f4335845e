package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"customerd"
	"customerd/postgres"
	"customerd/sqlite"
)

// defaultDB is the embedded default: a SQLite file in the working directory.
const defaultDB = "sqlite:customerd.db"

const dbUsage = "database URL: sqlite:PATH (embedded, the default) or postgres://…"

const backgroundWarning = "customerd: warning: encrypting old rows stopped; it resumes on the next start:"

// logWriter turns the store's warnings into warning records of the
// server's structured log.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(strings.TrimPrefix(string(p), "customerd: warning: "))
	w.log.Warn(strings.ReplaceAll(msg, "\n  ", " "))
	return len(p), nil
}

// storeOptions tune the stores that have something to tune.
type storeOptions struct {
	maxConns int // PostgreSQL connection pool size; 0 keeps the default
	// background runs the store's background work: encrypting rows left in
	// plaintext and finishing data-key rotations. Only serve, which runs
	// long enough to finish it, asks for it.
	background bool
}

// openStore opens the store a --db URL names, with the master key the flags
// give, and applies its migrations. Warnings (a key file created on first
// run, background encryption that stopped) go to warn.
func openStore(ctx context.Context, dbURL string, keys *masterKeyFlags, warn io.Writer) (customerd.Store, error) {
	return openStoreWith(ctx, dbURL, keys, warn, storeOptions{})
}

// openStoreWith is openStore with tuning from serve's flags.
func openStoreWith(ctx context.Context, dbURL string, keys *masterKeyFlags, warn io.Writer, opts storeOptions) (customerd.Store, error) {
	vault, err := keys.vault()
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		if vault == nil {
			return nil, fmt.Errorf("PostgreSQL needs the master key that encrypts customer data: give --master-key-file or %s (every node the same key)", masterKeyEnv)
		}
		return postgres.Open(ctx, dbURL, postgres.Options{MaxConns: opts.maxConns, Vault: vault,
			NoBackground:      !opts.background,
			OnBackgroundError: func(err error) { fmt.Fprintln(warn, backgroundWarning, err) }})
	case strings.HasPrefix(dbURL, "sqlite:"):
		path := sqlitePath(dbURL)
		if path == "" {
			return nil, fmt.Errorf("--db %q: no file path after sqlite:", dbURL)
		}
		sopts := []sqlite.Option{sqlite.OnBackgroundError(func(err error) { fmt.Fprintln(warn, backgroundWarning, err) })}
		if !opts.background {
			sopts = append(sopts, sqlite.NoBackground())
		}
		if vault != nil {
			sopts = append(sopts, sqlite.WithVault(vault))
		} else {
			sopts = append(sopts, sqlite.OnKeyFileCreated(func(keyFile string) {
				fmt.Fprintf(warn, `customerd: warning: no master key given; created %s (mode 0600) to encrypt customer data.
  Without this file the data cannot be read: back it up, apart from the database.
  In production supply your own key with --master-key-file or %s.
`, keyFile, masterKeyEnv)
			}))
		}
		return sqlite.Open(ctx, path, sopts...)
	}
	return nil, fmt.Errorf("--db: unsupported database URL (want sqlite:PATH or postgres://…)")
}
