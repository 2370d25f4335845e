package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"customerd/migration"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations are the embedded schema changes, in order.
var migrations = migration.MustLoad(migrationFS, "migrations")

func latestVersion() int { return migrations[len(migrations)-1].Version }

// migrate applies the pending migrations, each in its own IMMEDIATE
// transaction, so that two processes starting at once apply each exactly
// once, and returns the names of those this call applied.
func migrate(ctx context.Context, db *sql.DB) ([]string, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return nil, fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	// A migration that copies a table builds its indexes again: their
	// sorts spill to temporary files, where the writer's temporary storage
	// is otherwise memory, so that the memory of a migration does not grow
	// with the database.
	if _, err := db.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer db.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`) // the writer's own (see Open)
	var applied []string
	for _, m := range migrations {
		done, err := applyOne(ctx, db, m)
		if err != nil {
			return applied, fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if done {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}

// applyOne applies m unless it is applied already, and reports whether it did.
func applyOne(ctx context.Context, db *sql.DB, m migration.Migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil) // _txlock=immediate: takes the write lock now
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil || n > 0 {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().Unix()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
