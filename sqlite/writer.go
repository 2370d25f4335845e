package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
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
	ops                            chan *writeOp
	quit                           chan struct{}
	wg                             sync.WaitGroup

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

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	w := &writer{db: db, ops: make(chan *writeOp, maxBatch), quit: make(chan struct{})}
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
	select {
	case w.ops <- op:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
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
	// The transaction outlives any one request: it is not tied to a caller's ctx.
	tx, err := w.db.BeginTx(context.Background(), nil)
	if err != nil {
		for _, op := range batch {
			op.err = err
		}
		return
	}
	ok := 0
	for _, op := range batch {
		if op.ctx.Err() != nil {
			op.err = op.ctx.Err()
			continue
		}
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
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		for _, op := range batch {
			if op.err == nil {
				op.err = err
			}
		}
		return
	}
	w.commits.Add(1)
	w.writes.Add(uint64(len(batch)))
	if n := uint64(len(batch)); n > w.largest.Load() {
		w.largest.Store(n) // only the writer goroutine stores
	}
}

func (w *writer) runInSavepoint(ctx context.Context, op *writeOp, tx *sql.Tx) error {
	if _, err := tx.Stmt(w.savepoint).Exec(); err != nil {
		return err
	}
	err := op.fn(ctx, tx)
	if err != nil {
		if _, rbErr := tx.Stmt(w.rollbackTo).Exec(); rbErr != nil {
			return errors.Join(err, rbErr)
		}
	}
	if _, relErr := tx.Stmt(w.release).Exec(); relErr != nil && err == nil {
		return relErr
	}
	return err
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
	w.closeStmts()
}
