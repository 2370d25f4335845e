package rawsqlite

import (
	"context"

	lib "modernc.org/sqlite/lib"
)

// Prepared returns q prepared on c, preparing it on first use: for
// statements whose text is built at run time from a bounded set of shapes
// (the filters and order of a list), which the pool's fixed list cannot
// hold. It is reset by Release like the pool's own statements and kept
// until the connection closes, so the caller bounds how many distinct q
// there are.
func (c *Conn) Prepared(q string) (*Stmt, error) {
	if s, ok := c.cached[q]; ok {
		return s, nil
	}
	s, err := c.prepare(q)
	if err != nil {
		return nil, err
	}
	if c.cached == nil {
		c.cached = map[string]*Stmt{}
	}
	c.cached[q] = s
	return s, nil
}

// Snapshot runs fn so that every statement it runs on c reads one snapshot
// of the database: that of the read transaction c keeps (see
// KeepReadTransactions), or else of one begun before fn and ended after it,
// once c's statements are reset. The statements must only read.
func (c *Conn) Snapshot(ctx context.Context, fn func() error) error {
	if c.warm || c.inTransaction() {
		return fn()
	}
	begin, err := c.Prepared("BEGIN") // deferred: the snapshot is taken by fn's first read
	if err != nil {
		return err
	}
	_, err = begin.Run(ctx)
	begin.Reset()
	if err != nil {
		if c.inTransaction() {
			_ = c.exec("ROLLBACK")
		}
		return err
	}
	err = fn()
	c.resetAll()
	commit, cerr := c.Prepared("COMMIT")
	if cerr == nil {
		_, cerr = commit.Run(context.Background())
		commit.Reset()
	}
	if cerr != nil && c.inTransaction() {
		_ = c.exec("ROLLBACK") // a read transaction: nothing is lost
	}
	if err == nil {
		err = cerr
	}
	return err
}

// resetAll resets every statement of c: the pool's and those of Prepared.
func (c *Conn) resetAll() {
	for _, s := range c.stmts {
		s.Reset()
	}
	for _, s := range c.cached {
		s.Reset()
	}
}

// Reprepares returns how many times SQLite has prepared s again since it
// was first prepared: after a schema change, or a binding its plan
// depended on (which enableQPSG rules out).
func (s *Stmt) Reprepares() int {
	return int(lib.Xsqlite3_stmt_status(s.c.tls, s.p, lib.SQLITE_STMTSTATUS_REPREPARE, 0))
}
