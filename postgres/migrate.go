package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"customerd/migration"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations are the embedded schema changes, in order.
var migrations = migration.MustLoad(migrationFS, "migrations")

func latestVersion() int { return migrations[len(migrations)-1].Version }

// migrateTimeout bounds a whole migration run, waiting for another node's
// run included.
const migrateTimeout = 2 * time.Minute

// migrate applies the pending migrations and returns the names of those this
// call applied.
//
// Several nodes may start at once against an empty database. Exactly one of
// them migrates: it takes an ACCESS EXCLUSIVE lock on schema_migrations in the
// migration transaction, and the others block on that lock (or on reading the
// table) until it commits, then find nothing left to do. A table lock is used
// rather than an advisory lock because distributed engines on the PostgreSQL
// wire do not all have advisory locks. When nothing is pending no lock is
// taken at all, so an already-migrated database never waits.
func migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	applied, err := appliedVersions(ctx, pool)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeUndefinedTable {
		// A fresh database. Checking first means that a node whose role may
		// not create tables still starts on a database that is migrated.
		if err := createMigrationsTable(ctx, pool); err != nil {
			return nil, fmt.Errorf("postgres: create schema_migrations: %w", mapError(err))
		}
		applied, err = appliedVersions(ctx, pool)
	}
	if err != nil {
		err = mapError(err)
		return nil, fmt.Errorf("postgres: read schema_migrations: %w", err)
	}
	if len(pending(applied)) == 0 {
		return nil, nil
	}
	var names []string
	err = retryTx(ctx, func() error {
		names = nil
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if _, err := tx.Exec(ctx, `LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range pending(applied) {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
				m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			names = append(names, m.Name)
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", mapError(err))
	}
	return names, nil
}

// createMigrationsTable creates schema_migrations if it is missing. Two
// sessions running CREATE TABLE IF NOT EXISTS at the same moment can both
// miss the other's table, and the loser fails on the catalog's unique index
// (as a duplicate key, table or row type); running it again then finds the
// table.
func createMigrationsTable(ctx context.Context, pool *pgxpool.Pool) error {
	const ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER     NOT NULL PRIMARY KEY,
		name       TEXT        NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL)`
	var err error
	for range 5 {
		_, err = pool.Exec(ctx, ddl)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != codeUniqueViolation && pe.Code != codeDuplicateTable && pe.Code != codeDuplicateObject) {
			return err
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return err
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rows, err := q.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[int(v)] = true
	}
	return applied, nil
}

func pending(applied map[int]bool) []migration.Migration {
	var out []migration.Migration
	for _, m := range migrations {
		if !applied[m.Version] {
			out = append(out, m)
		}
	}
	return out
}
