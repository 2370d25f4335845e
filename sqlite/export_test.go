package sqlite

import (
	"context"
	"database/sql"
)

// WritesBypassDatabaseSQL reports whether the writer runs its hot
// statements through rawsqlite (it falls back to database/sql when it
// cannot find the driver connection's handle).
func (s *Store) WritesBypassDatabaseSQL(ctx context.Context) (bool, error) {
	var raw bool
	err := s.writer.do(ctx, func(context.Context, *sql.Tx) error {
		raw = s.writer.raw != nil
		return nil
	})
	return raw, err
}

// DatabaseSQLOnly makes the store run every statement through
// database/sql, as it does when rawsqlite cannot be used.
func DatabaseSQLOnly() Option { return func(o *options) { o.databaseSQLOnly = true } }

// KeepsReadTransactions reports whether the fast read pool keeps read
// transactions between lookups.
func (s *Store) KeepsReadTransactions() bool { return s.fast != nil && s.fast.KeepsReadTransactions() }

// StopGrowing makes the database as full as a full disk would: the writer
// connection may not add a page to the file.
func (s *Store) StopGrowing(ctx context.Context) error {
	_, err := s.wdb.ExecContext(ctx, "PRAGMA max_page_count = 1") // SQLite keeps the current size as the floor
	return err
}

// MapError exposes the error classification for tests.
var MapError = mapError
