package main

import (
	"context"
	"fmt"
	"strings"

	"customerd"
	"customerd/postgres"
	"customerd/sqlite"
)

// defaultDB is the embedded default: a SQLite file in the working directory.
const defaultDB = "sqlite:customerd.db"

const dbUsage = "database URL: sqlite:PATH (embedded, the default) or postgres://…"

// storeOptions tune the stores that have something to tune.
type storeOptions struct {
	maxConns int // PostgreSQL connection pool size; 0 keeps the default
}

// openStore opens the store a --db URL names and applies its migrations.
func openStore(ctx context.Context, dbURL string) (customerd.Store, error) {
	return openStoreWith(ctx, dbURL, storeOptions{})
}

// openStoreWith is openStore with tuning from serve's flags.
func openStoreWith(ctx context.Context, dbURL string, opts storeOptions) (customerd.Store, error) {
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return postgres.Open(ctx, dbURL, postgres.Options{MaxConns: opts.maxConns})
	case strings.HasPrefix(dbURL, "sqlite:"):
		path := strings.TrimPrefix(dbURL, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path and sqlite://rel/path
		if path == "" {
			return nil, fmt.Errorf("--db %q: no file path after sqlite:", dbURL)
		}
		return sqlite.Open(ctx, path)
	}
	return nil, fmt.Errorf("--db: unsupported database URL (want sqlite:PATH or postgres://…)")
}
