package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"customerd/sqlite/internal/rawsqlite"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 256

// writeOp is one write waiting for the group commit.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}
}

// writer serializes every write through one connection and commits them in
// groups: the writes that queued while the previous commit was syncing share
// the next transaction and its single fsync. Each write runs inside its own
// savepoint, so one failing write (a duplicate reference, say) rolls back
// alone. A write is acknowledged only after its transaction has committed.
type writer struct {
	db *sql.DB
	// The savepoint statements run around every write of a batch: prepared
	// once, as parsing them again for each write cost more than running them.
	savepoint, release, rollbackTo *sql.Stmt

	// raw holds rawQueries prepared on the connection of the batch being
	// committed (see attachRaw), nil when that connection's handle cannot
	// be had. Only the writer goroutine uses it, during commit.
	rawQueries []string
	raw        *rawsqlite.Conn

	// check runs before each group commit and after it: while it fails,
	// no write is run, and a commit it fails after is reported failed, as
	// the commit cannot be relied on (see Store.checkFiles).
	check func() error

	// afterCommit, when not nil, runs on the writer goroutine after each
	// commit (see rawsqlite.Pool.CheckpointAhead).
	afterCommit func()

	// flushers are the batch flushes registered with Store.FlushBatch, by
	// name; deferred holds the items the writes of the batch in progress
	// gave them (see txn.Defer). Only the writer goroutine uses deferred.
	flushers map[string]func(ctx context.Context, tx *sql.Tx, items []any) error
	deferred []deferredItem

	ops  chan *writeOp
	quit chan struct{}
	wg   sync.WaitGroup

	mu       sync.RWMutex // held for reading while enqueuing, for writing by close
	isClosed bool

	commits, writes, largest atomic.Uint64 // see WriteStats
}

// WriteStats counts the group commits of a Store since it was opened.
// Writes/Commits is the mean batch size: how many writes shared one fsync.
type WriteStats struct {
	Commits      uint64 // transactions committed
	Writes       uint64 // writes in them, failed ones included
	LargestBatch uint64
}

func (w *writer) stats() WriteStats {
	return WriteStats{Commits: w.commits.Load(), Writes: w.writes.Load(), LargestBatch: w.largest.Load()}
}

var errClosed = errors.New("sqlite: store is closed")

// The statements the writer prepares on its connection through rawsqlite:
// its savepoints, then the Store's (see newWriter).
const (
	rawSavepoint = iota
	rawRelease
	rawRollbackTo
	rawStoreQueries // the first of the Store's
)

// newWriter starts the writer of db, which has one connection. The writes
// may run storeQueries on that connection through rawsqlite, without
// database/sql: during a write, w.raw.Stmt(rawStoreQueries+i) is
// storeQueries[i], when w.raw is not nil. Without storeQueries, every
// statement goes through database/sql. check and afterCommit may be nil.
func newWriter(ctx context.Context, db *sql.DB, check func() error, afterCommit func(), storeQueries ...string) (*writer, error) {
	if check == nil {
		check = func() error { return nil }
	}
	w := &writer{db: db, check: check, afterCommit: afterCommit, ops: make(chan *writeOp, maxBatch), quit: make(chan struct{})}
	if len(storeQueries) > 0 {
		w.rawQueries = append([]string{rawSavepoint: "SAVEPOINT w", rawRelease: "RELEASE w", rawRollbackTo: "ROLLBACK TO w"}, storeQueries...)
	}
	var err error
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{{&w.savepoint, "SAVEPOINT w"}, {&w.release, "RELEASE w"}, {&w.rollbackTo, "ROLLBACK TO w"}} {
		if *p.st, err = db.PrepareContext(ctx, p.sql); err != nil {
			w.closeStmts()
			return nil, err
		}
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

func (w *writer) closeStmts() {
	for _, st := range []*sql.Stmt{w.savepoint, w.release, w.rollbackTo} {
		if st != nil {
			st.Close()
		}
	}
}

// do runs fn in a write transaction and returns once that transaction has
// committed (or failed). fn must not keep tx.
func (w *writer) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan struct{})}
	w.mu.RLock()
	if w.isClosed {
		w.mu.RUnlock()
		return errClosed
	}
	// The queue has room in the common case: try without ctx.Done, which
	// costs a lazy request context its timer.
	select {
	case w.ops <- op:
		w.mu.RUnlock()
	default:
		select {
		case w.ops <- op:
			w.mu.RUnlock()
		case <-ctx.Done():
			w.mu.RUnlock()
			return ctx.Err()
		}
	}
	// Wait for the outcome even if ctx ends: the write may already be in a
	// transaction, and the caller must not report failure for a committed write.
	<-op.done
	return op.err
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-w.ops:
			batch = append(batch[:0], op)
		case <-w.quit:
			// Drain what was queued before close so no caller waits forever.
			for {
				select {
				case op := <-w.ops:
					w.commit([]*writeOp{op})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		w.commit(batch)
	}
}

// commit runs a batch in one transaction.
func (w *writer) commit(batch []*writeOp) {
	defer func() {
		for _, op := range batch {
			close(op.done)
		}
	}()
	failAll := func(err error) {
		for _, op := range batch {
			if op.err == nil {
				op.err = err
			}
		}
	}
	if err := w.check(); err != nil {
		failAll(err)
		return
	}
	// The transaction outlives any one request: it is not tied to a caller's
	// ctx. It runs on a connection held for the whole batch, so that the
	// raw statements prepared on it run inside the transaction.
	conn, err := w.db.Conn(context.Background())
	if err != nil {
		failAll(err)
		return
	}
	defer conn.Close()
	w.attachRaw(conn)
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(err)
		return
	}
	ok := 0
	w.deferred = w.deferred[:0]
	for _, op := range batch {
		if op.ctx.Err() != nil {
			op.err = op.ctx.Err()
			continue
		}
		mark := len(w.deferred)
		// A cancelled context would make the driver interrupt the statement,
		// and an interrupted write rolls back the whole shared transaction,
		// taking the other writes of the batch with it. Once a write has
		// started it runs to the end; the check above skips abandoned ones.
		ctx := context.WithoutCancel(op.ctx)
		if len(batch) == 1 {
			op.err = op.fn(ctx, tx)
		} else {
			op.err = w.runInSavepoint(ctx, op, tx)
		}
		if op.err == nil {
			ok++
		} else {
			clear(w.deferred[mark:])
			w.deferred = w.deferred[:mark] // rolled back with its write
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		return
	}
	if err := w.flush(tx); err != nil {
		_ = tx.Rollback()
		failAll(err)
		return
	}
	if err := tx.Commit(); err != nil {
		failAll(err)
		return
	}
	// The file may have gone while the batch ran: then the commit went to
	// a file that is not at the path any more.
	if err := w.check(); err != nil {
		failAll(err)
		return
	}
	w.commits.Add(1)
	w.writes.Add(uint64(len(batch)))
	if n := uint64(len(batch)); n > w.largest.Load() {
		w.largest.Store(n) // only the writer goroutine stores
	}
	if w.afterCommit != nil {
		w.afterCommit()
	}
}

// deferredItem is one thing a write of the batch left for a flush.
type deferredItem struct {
	flush string
	item  any
}

// flush hands each registered flush the items the batch's committed writes
// deferred to it, in their order, in the batch's transaction: one call per
// flush and batch, however many writes the batch holds.
func (w *writer) flush(tx *sql.Tx) error {
	if len(w.deferred) == 0 {
		return nil
	}
	byFlush := map[string][]any{}
	var order []string
	for _, d := range w.deferred {
		if _, seen := byFlush[d.flush]; !seen {
			order = append(order, d.flush)
		}
		byFlush[d.flush] = append(byFlush[d.flush], d.item)
	}
	clear(w.deferred)
	w.deferred = w.deferred[:0]
	for _, name := range order {
		if err := w.flushers[name](context.Background(), tx, byFlush[name]); err != nil {
			return fmt.Errorf("sqlite: flushing %s: %w", name, err)
		}
	}
	return nil
}

func (w *writer) runInSavepoint(ctx context.Context, op *writeOp, tx *sql.Tx) error {
	if err := w.exec(ctx, tx, rawSavepoint, w.savepoint); err != nil {
		return err
	}
	err := op.fn(ctx, tx)
	if err != nil {
		if rbErr := w.exec(ctx, tx, rawRollbackTo, w.rollbackTo); rbErr != nil {
			return errors.Join(err, rbErr)
		}
	}
	if relErr := w.exec(ctx, tx, rawRelease, w.release); relErr != nil && err == nil {
		return relErr
	}
	return err
}

// exec runs one of the savepoint statements: the raw one when attached.
func (w *writer) exec(ctx context.Context, tx *sql.Tx, raw int, st *sql.Stmt) error {
	if w.raw != nil {
		return w.raw.Stmt(raw).Exec(ctx)
	}
	_, err := tx.StmtContext(ctx, st).ExecContext(ctx)
	return err
}

// attachRaw makes w.raw the raw statements of conn, preparing them again
// when database/sql has replaced the connection since the last batch (the
// statements of the old one are then finalized, which also frees it if it
// was closed). When the handle cannot be had, w.raw is nil and every
// statement goes through database/sql.
func (w *writer) attachRaw(conn *sql.Conn) {
	if w.rawQueries == nil {
		return
	}
	var h uintptr
	err := conn.Raw(func(dc any) error {
		var err error
		h, err = driverHandle(dc)
		return err
	})
	if w.raw != nil && (err != nil || w.raw.Handle() != h) {
		w.raw.Unborrow()
		w.raw = nil
	}
	if err != nil || w.raw != nil {
		return
	}
	w.raw, _ = rawsqlite.Borrow(h, w.rawQueries)
}

// driverHandle returns the sqlite3* handle of a modernc.org/sqlite driver
// connection, which keeps it in its unexported field db. Reading it
// through reflection (reading, never writing) is the one place that knows
// the driver's insides; the store's tests fail if it stops finding it.
func driverHandle(dc any) (uintptr, error) {
	if w, ok := dc.(interface{ Unwrap() driver.Conn }); ok {
		dc = w.Unwrap() // the statement cache's connection
	}
	v := reflect.ValueOf(dc)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("db"); f.IsValid() && f.Kind() == reflect.Uintptr && f.Uint() != 0 {
			return uintptr(f.Uint()), nil
		}
	}
	return 0, fmt.Errorf("sqlite: no connection handle in the driver's %T", dc)
}

// close stops the writer after the queued writes have been committed.
func (w *writer) close() {
	w.mu.Lock()
	if !w.isClosed {
		w.isClosed = true
		close(w.quit)
	}
	w.mu.Unlock()
	w.wg.Wait()
	if w.raw != nil {
		w.raw.Unborrow()
		w.raw = nil
	}
	w.closeStmts()
}
