package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"customerd"

	sqlite3lib "modernc.org/sqlite/lib"
)

// A first import into an empty database is written in one transaction in
// which the indexes of customers and events are built once the rows are
// in. Row by row, each customer and its event add an entry at a random
// place in seven indexes (the ids, the reference's and the blind indexes'
// keys, the events' customers), so once the indexes outgrow the page cache
// every row dirties about seven pages, each written to the WAL at commit
// and again by the checkpoint. Built at the end, each index is one sort
// and one sequential write.
//
// The indexes dropped are read from the schema itself (sqlite_master), so
// they are rebuilt exactly as the migrations made them. The one kept is
// events' (merchant_id, sequence), which numbers each new event.

// ErrBulkNotEmpty is returned by BulkLoad when the database holds
// customers already: a bulk load is only for an empty one.
var ErrBulkNotEmpty = errors.New("sqlite: the database holds customers already")

// ErrBulkShared is returned by BulkLoad when another process has the
// database open: a bulk load holds the write lock until it ends, which a
// server on the same file cannot wait for.
var ErrBulkShared = errors.New("sqlite: another process has the database open")

// ErrBulkRepeats is returned by BulkLoad when the rows it loaded repeat a
// key that must be unique (a customer's id, or a merchant's reference):
// nothing is written, and the rows have to be loaded one batch at a time,
// where each repeat is found and resolved.
var ErrBulkRepeats = errors.New("sqlite: the loaded rows repeat a unique key")

// errBulkWriteFailed marks the error of a write that ended a bulk load.
var errBulkWriteFailed = errors.New("sqlite: a write of the bulk load failed, and nothing was written")

// qBulkIndexes lists the indexes a bulk load drops and builds at its end.
const qBulkIndexes = `SELECT name, sql FROM sqlite_master WHERE type = 'index'
	AND tbl_name IN ('customers', 'events') AND sql IS NOT NULL
	ORDER BY tbl_name, name`

// WriteFunc is the signature of Store.Write.
type WriteFunc func(ctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error

// BulkLoad runs body with a write function that works as Write does, except
// that every write it runs shares one transaction, which commits when body
// has returned nil, after the indexes of customers and events are built
// again. A write that fails ends the load: it and every later write return
// its error, and so does BulkLoad, having written nothing. Until then
// nothing body writes is visible or durable, and the write lock is held: an
// error from body, a cancelled ctx, or a crash leaves the database as it
// was. It refuses (ErrBulkNotEmpty, ErrBulkShared) before writing anything
// unless the database holds no customer and no other process has it open,
// and returns ErrBulkRepeats, having written nothing, when the rows repeat
// a unique key. building, when not nil, is called as the indexes start to
// be built.
func (s *Store) BulkLoad(ctx context.Context, body func(ctx context.Context, write WriteFunc) error, building func()) error {
	shared, err := openElsewhere(s.path)
	if err != nil {
		return err
	}
	if shared {
		return ErrBulkShared
	}
	// The sorts of CREATE INDEX use a second thread, and spill to
	// temporary files (set below, before the builds), not to memory as the
	// writer's temporary storage otherwise does. Both are set back once the
	// load has ended.
	if _, err := s.wdb.ExecContext(ctx, `PRAGMA threads = 2`); err != nil {
		return err
	}
	defer func() {
		_, _ = s.wdb.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`)
		_, _ = s.wdb.ExecContext(context.WithoutCancel(ctx), `PRAGMA threads = 0`)
	}()
	err = s.writer.do(ctx, func(_ context.Context, tx *sql.Tx) error {
		var any int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM customers)`).Scan(&any); err != nil {
			return err
		}
		if any != 0 {
			return ErrBulkNotEmpty
		}
		indexes, err := dropIndexes(ctx, tx)
		if err != nil {
			return err
		}
		s.cur.begin(s, tx)
		// A write does not run in a savepoint of its own, as in Write: a
		// savepoint's journal grows with every page the load changes and
		// is walked again as each statement ends, which cost a fifth of
		// the load. A write that fails ends the load instead, with nothing
		// written; the unique keys, the cause of most failed writes, are
		// not checked before the end.
		var mu sync.Mutex
		var failed error
		write := func(wctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error {
			mu.Lock()
			defer mu.Unlock()
			if failed != nil {
				return failed
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(context.WithoutCancel(wctx), &s.cur); err != nil {
				failed = fmt.Errorf("%w: %w", errBulkWriteFailed, mapError(err))
				if customerd.ErrorCode(err) == customerd.ECONFLICT {
					// A key the load keeps checking: the rows are to be
					// loaded a batch at a time, where conflicts resolve.
					failed = ErrBulkRepeats
				}
				return failed
			}
			return nil
		}
		if err := body(ctx, write); err != nil {
			return err
		}
		mu.Lock() // no write of body's may still be running
		defer mu.Unlock()
		if failed != nil {
			return failed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if building != nil {
			building()
		}
		// The commit makes the WAL durable, more than a gigabyte for a
		// million rows: it is flushed now, while the indexes are built on
		// the CPUs, so that little is left for the commit to wait for.
		flushed := make(chan struct{})
		go func() {
			defer close(flushed)
			// SQLite locks no byte of the WAL, so a descriptor of this
			// process's own may be opened and closed on it. A failure is
			// the commit's own sync's to report.
			_ = syncFile(s.path + "-wal")
		}()
		defer func() { <-flushed }()
		if _, err := tx.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
			return err
		}
		for _, ix := range indexes {
			if _, err := tx.ExecContext(ctx, ix.sql); err != nil {
				if resultCode(err) == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE {
					return ErrBulkRepeats
				}
				return fmt.Errorf("sqlite: building %s: %w", ix.name, err)
			}
		}
		return nil
	})
	// The writer's next batch starts a new transaction: s.cur is set again
	// by its first write.
	return mapError(err)
}

type schemaIndex struct{ name, sql string }

// dropIndexes drops the indexes of customers and events that the schema
// declares, and returns their definitions.
func dropIndexes(ctx context.Context, tx *sql.Tx) ([]schemaIndex, error) {
	rows, err := tx.QueryContext(ctx, qBulkIndexes)
	if err != nil {
		return nil, err
	}
	var indexes []schemaIndex
	for rows.Next() {
		var ix schemaIndex
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return nil, err
		}
		indexes = append(indexes, ix)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+ix.name+`"`); err != nil {
			return nil, err
		}
	}
	return indexes, nil
}
