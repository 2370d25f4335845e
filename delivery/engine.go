package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// riverEngine is engine over one River driver; TTx is the driver's
// transaction type.
type riverEngine[TTx any] struct {
	client *river.Client[TTx]
	// unwrap is the store transaction's own transaction of the driver.
	unwrap func(customerd.StoreTx) (TTx, bool)
	// pending counts the pending jobs, in SQL of the driver's database.
	pending func(ctx context.Context) (Stats, error)
	onClose func()
	// deferred, when set, hands the deliveries to the store, to schedule
	// with those of the other writes of its batch, and reports whether it
	// took them.
	deferred func(tx customerd.StoreTx, ds []customerd.Delivery) bool
	// complete is river.JobCompleteTx for the driver.
	complete func(ctx context.Context, tx TTx, job *river.Job[batchArgs]) error
}

func (e *riverEngine[TTx]) schedule(ctx context.Context, tx customerd.StoreTx, ds []customerd.Delivery) error {
	if e.deferred != nil && e.deferred(tx, ds) {
		return nil
	}
	return e.insert(ctx, tx, jobsFor(ds))
}

func (e *riverEngine[TTx]) insert(ctx context.Context, tx customerd.StoreTx, params []river.InsertManyParams) error {
	t, ok := e.unwrap(tx)
	if !ok {
		return fmt.Errorf("delivery: a %T is not a transaction of this queue's database", tx)
	}
	_, err := e.client.InsertManyFastTx(ctx, t, params)
	return err
}

func (e *riverEngine[TTx]) completeBatch(ctx context.Context, tx customerd.StoreTx, job *river.Job[batchArgs]) error {
	t, ok := e.unwrap(tx)
	if !ok {
		return fmt.Errorf("delivery: a %T is not a transaction of this queue's database", tx)
	}
	return e.complete(ctx, t, job)
}

func (e *riverEngine[TTx]) start(ctx context.Context) error { return e.client.Start(ctx) }
func (e *riverEngine[TTx]) stop(ctx context.Context) error  { return e.client.Stop(ctx) }
func (e *riverEngine[TTx]) stopAndCancel(ctx context.Context) error {
	return e.client.StopAndCancel(ctx)
}
func (e *riverEngine[TTx]) stats(ctx context.Context) (Stats, error) { return e.pending(ctx) }
func (e *riverEngine[TTx]) close() {
	if e.onClose != nil {
		e.onClose()
	}
}

// pendingStates are the states of the jobs still to run.
const pendingStates = `('available', 'pending', 'retryable', 'running', 'scheduled')`

// migrateRiver brings River's tables up to date in tx.
func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], tx TTx) ([]int, error) {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	res, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("delivery: migrating the job queue's tables: %w", err)
	}
	var versions []int
	for _, v := range res.Versions {
		versions = append(versions, v.Version)
	}
	return versions, nil
}

// SQLiteStore is what the queue needs of the SQLite store (sqlite.Store).
type SQLiteStore interface {
	// WriteDB is the pool of the store's one writer connection: River's
	// writes take turns with the store's on it.
	WriteDB() *sql.DB
	// FlushBatch registers a flush of what the writes of a group commit
	// defer to it: the jobs of a whole batch are inserted in one statement.
	FlushBatch(name string, flush func(ctx context.Context, tx *sql.Tx, items []any) error)
}

// deferredJobs names the queue's batch flush on SQLite.
const deferredJobs = "webhook delivery jobs"

// OpenSQLite opens the queue in the SQLite database of store. It creates or
// updates River's tables first. work says whether this process delivers
// (serve) or only schedules (the command line).
func OpenSQLite(ctx context.Context, store SQLiteStore, work bool, cfg Config) (*Queue, error) {
	cfg.defaults()
	db := store.WriteDB()
	driver := riversqlite.New(db)
	tx, err := db.BeginTx(ctx, nil) // the DSN's _txlock=immediate: one process migrates at a time
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	migrated, err := migrateRiver(ctx, driver, tx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	e := &riverEngine[*sql.Tx]{
		unwrap: func(tx customerd.StoreTx) (*sql.Tx, bool) {
			t, ok := tx.(interface{ SQLTx() *sql.Tx })
			if !ok {
				return nil, false
			}
			return t.SQLTx(), true
		},
		pending: func(ctx context.Context) (Stats, error) {
			return scanStats(db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM river_job
				WHERE queue = ? AND state IN `+pendingStates, queueName), parseSQLiteTime)
		},
	}
	// The deliveries of a group commit's writes are scheduled together, once
	// the writes have run: one batch job per batch instead of a job per
	// delivery on the API's write path.
	e.deferred = func(tx customerd.StoreTx, ds []customerd.Delivery) bool {
		d, ok := tx.(interface {
			Defer(name string, item any) bool
		})
		if !ok {
			return false
		}
		for _, x := range ds {
			if !d.Defer(deferredJobs, x) {
				return false
			}
		}
		return true
	}
	store.FlushBatch(deferredJobs, func(ctx context.Context, tx *sql.Tx, items []any) error {
		ds := make([]customerd.Delivery, len(items))
		for i, it := range items {
			ds[i] = it.(customerd.Delivery)
		}
		_, err := e.client.InsertManyFastTx(ctx, tx, jobsFor(ds))
		return err
	})
	e.complete = func(ctx context.Context, tx *sql.Tx, job *river.Job[batchArgs]) error {
		_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
		return err
	}
	q := newQueue(cfg, e)
	q.migrated = migrated
	if e.client, err = river.NewClient(driver, q.riverConfig(work, 100*time.Millisecond)); err != nil {
		return nil, err
	}
	return q, nil
}

// OpenPostgres opens the queue in the PostgreSQL database at url, on a pool
// of its own of maxConns connections (the deliveries never take the API's),
// creating or updating River's tables first under the lock the store's
// migrations take, so that nodes starting together migrate once. work: see
// OpenSQLite.
func OpenPostgres(ctx context.Context, url string, maxConns int, work bool, cfg Config) (*Queue, error) {
	cfg.defaults()
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	pcfg.MaxConns = int32(max(2, maxConns))
	if pcfg.ConnConfig.ConnectTimeout == 0 {
		pcfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	driver := riverpgxv5.New(pool)
	migrated, err := migratePostgres(ctx, pool, driver)
	if err != nil {
		pool.Close()
		return nil, err
	}
	e := &riverEngine[pgx.Tx]{
		unwrap: func(tx customerd.StoreTx) (pgx.Tx, bool) {
			t, ok := tx.(interface{ PgxTx() pgx.Tx })
			if !ok {
				return nil, false
			}
			return t.PgxTx(), true
		},
		pending: func(ctx context.Context) (Stats, error) {
			return scanStats(pool.QueryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM river_job
				WHERE queue = $1 AND state IN `+pendingStates, queueName), nil)
		},
		onClose: pool.Close,
		complete: func(ctx context.Context, tx pgx.Tx, job *river.Job[batchArgs]) error {
			_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
			return err
		},
	}
	q := newQueue(cfg, e)
	q.migrated = migrated
	if e.client, err = river.NewClient(driver, q.riverConfig(work, 0)); err != nil {
		pool.Close()
		return nil, err
	}
	return q, nil
}

// migrateLock is the advisory lock under which one node at a time brings
// River's tables up to date: its migrations must each run in a transaction
// of their own (one adds an enum value that the next uses).
const migrateLock = 0x63647276 // "cdrv"

func migratePostgres(ctx context.Context, pool *pgxpool.Pool, driver *riverpgxv5.Driver) ([]int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return nil, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("delivery: migrating the job queue's tables: %w", err)
	}
	var versions []int
	for _, v := range res.Versions {
		versions = append(versions, v.Version)
	}
	return versions, nil
}

type rowScanner interface{ Scan(dest ...any) error }

// scanStats reads a count and the oldest time; parse turns SQLite's text
// time into a time (nil: the driver scans a time itself).
func scanStats(r rowScanner, parse func(string) (time.Time, error)) (Stats, error) {
	var st Stats
	if parse == nil {
		var oldest *time.Time
		if err := r.Scan(&st.Pending, &oldest); err != nil {
			return st, err
		}
		if oldest != nil {
			st.Oldest = oldest.UTC()
		}
		return st, nil
	}
	var oldest sql.NullString
	if err := r.Scan(&st.Pending, &oldest); err != nil {
		return st, err
	}
	if oldest.Valid {
		t, err := parse(oldest.String)
		if err != nil {
			return st, err
		}
		st.Oldest = t
	}
	return st, nil
}

// parseSQLiteTime reads the times River's SQLite driver stores.
func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("delivery: unreadable job time " + s)
}
