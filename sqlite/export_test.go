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
