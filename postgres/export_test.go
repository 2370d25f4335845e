package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Retries returns how many times the store has run a write again after a
// serialization failure or deadlock.
func (s *Store) Retries() int64 { return s.retries.Load() }

// Backoff exposes the retry wait for tests.
func Backoff(attempt int) time.Duration { return backoff(attempt) }

// MapError exposes the error classification for tests.
var MapError = mapError

// Retryable exposes the retry decision for tests.
var Retryable = retryable

// MaxAttempts is how many times a transaction is tried at most.
const MaxAttempts = maxAttempts

// MigrateURL opens a pool on dbURL without migrating, migrates, and returns
// the names of the migrations this call applied.
func MigrateURL(ctx context.Context, dbURL string) ([]string, error) {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// Migrations lists the names of the embedded migrations.
func Migrations() []string {
	var names []string
	for _, m := range migrations {
		names = append(names, m.Name)
	}
	return names
}
