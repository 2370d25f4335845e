// Package stmtcache wraps a database/sql driver's connections with a cache
// of prepared statements, keyed by their SQL. Queries and executions that
// database/sql hands the connection as text (every call on a *sql.DB or
// *sql.Tx that is not a *sql.Stmt) then run on a statement prepared once
// per connection instead of being parsed again each time. For SQLite,
// whose parser costs more than running most short statements, this is
// what keeps a library's queries (River's, say) cheap.
//
// A cached statement serves one call at a time: while its rows are open, the
// same SQL on the same connection is prepared afresh, as without the cache.
package stmtcache

import (
	"context"
	"database/sql/driver"
	"reflect"
)

// Connector opens connections of a driver, each wrapped with a cache of
// prepared statements.
type Connector struct {
	drv    driver.Driver
	name   string
	size   int
	onOpen func(driver.Conn) error
}

// New returns a Connector of drv's connections to name, each caching up to
// size statements (64 when size is 0). onOpen, when not nil, runs on each
// new connection of the driver before it is used.
func New(drv driver.Driver, name string, size int, onOpen func(driver.Conn) error) *Connector {
	if size <= 0 {
		size = 64
	}
	return &Connector{drv: drv, name: name, size: size, onOpen: onOpen}
}

var _ driver.Connector = (*Connector)(nil)

// Connect implements driver.Connector.
func (c *Connector) Connect(context.Context) (driver.Conn, error) {
	dc, err := c.drv.Open(c.name)
	if err != nil {
		return nil, err
	}
	if c.onOpen != nil {
		if err := c.onOpen(dc); err != nil {
			dc.Close()
			return nil, err
		}
	}
	return &Conn{inner: dc, size: c.size, stmts: map[string]*entry{}}, nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return c.drv }

// innerConn is what the wrapped connection must implement: modernc.org/sqlite's
// connections do.
type innerConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
}

// Conn is a driver connection with a statement cache.
type Conn struct {
	inner driver.Conn
	size  int
	stmts map[string]*entry
	clock uint64
}

type entry struct {
	st   driver.Stmt
	busy bool   // its rows are open
	used uint64 // Conn.clock at its last use, for eviction
}

var (
	_ driver.Conn               = (*Conn)(nil)
	_ driver.ConnPrepareContext = (*Conn)(nil)
	_ driver.ConnBeginTx        = (*Conn)(nil)
	_ driver.ExecerContext      = (*Conn)(nil)
	_ driver.QueryerContext     = (*Conn)(nil)
	_ driver.Pinger             = (*Conn)(nil)
	_ driver.SessionResetter    = (*Conn)(nil)
	_ driver.Validator          = (*Conn)(nil)
)

// Unwrap returns the driver's own connection.
func (c *Conn) Unwrap() driver.Conn { return c.inner }

func (c *Conn) ic() innerConn { return c.inner.(innerConn) }

// Prepare implements driver.Conn: a statement the caller owns, not cached.
func (c *Conn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

// PrepareContext implements driver.ConnPrepareContext.
func (c *Conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.ic().PrepareContext(ctx, query)
}

// Begin implements driver.Conn.
func (c *Conn) Begin() (driver.Tx, error) {
	return c.ic().BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx.
func (c *Conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.ic().BeginTx(ctx, opts)
}

// Close finalizes the cached statements and closes the connection.
func (c *Conn) Close() error {
	for q, e := range c.stmts {
		e.st.Close()
		delete(c.stmts, q)
	}
	return c.inner.Close()
}

// Ping implements driver.Pinger.
func (c *Conn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ResetSession implements driver.SessionResetter.
func (c *Conn) ResetSession(ctx context.Context) error {
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *Conn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// cached returns the free cached statement of query, preparing it when it
// is not cached, or nil when it is in use or cannot be prepared (the
// caller then runs the query uncached, which reports any error itself).
func (c *Conn) cached(ctx context.Context, query string) *entry {
	c.clock++
	if e, ok := c.stmts[query]; ok {
		if e.busy {
			return nil
		}
		e.used = c.clock
		return e
	}
	if len(c.stmts) >= c.size && !c.evict() {
		return nil
	}
	st, err := c.ic().PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if _, ok := st.(driver.StmtQueryContext); !ok {
		st.Close()
		return nil
	}
	if _, ok := st.(driver.StmtExecContext); !ok {
		st.Close()
		return nil
	}
	e := &entry{st: st, used: c.clock}
	c.stmts[query] = e
	return e
}

// evict drops the least recently used statement not in use, and reports
// whether there was one.
func (c *Conn) evict() bool {
	var oldest string
	var found *entry
	for q, e := range c.stmts {
		if !e.busy && (found == nil || e.used < found.used) {
			oldest, found = q, e
		}
	}
	if found == nil {
		return false
	}
	found.st.Close()
	delete(c.stmts, oldest)
	return true
}

// ExecContext implements driver.ExecerContext on the cached statement.
func (c *Conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e := c.cached(ctx, query)
	if e == nil {
		return c.ic().ExecContext(ctx, query, args)
	}
	e.busy = true
	defer func() { e.busy = false }()
	return e.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext on the cached statement,
// which is free again once the rows are closed.
func (c *Conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	e := c.cached(ctx, query)
	if e == nil {
		return c.ic().QueryContext(ctx, query, args)
	}
	e.busy = true
	rows, err := e.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		e.busy = false
		return nil, err
	}
	return &Rows{Rows: rows, e: e}, nil
}

// Rows are the rows of a cached statement: closing them frees it. The
// column-type methods pass through to the driver's rows.
type Rows struct {
	driver.Rows
	e *entry
}

// Close implements driver.Rows.
func (r *Rows) Close() error {
	err := r.Rows.Close()
	r.e.busy = false
	return err
}

// ColumnTypeDatabaseTypeName implements driver.RowsColumnTypeDatabaseTypeName.
func (r *Rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// ColumnTypeLength implements driver.RowsColumnTypeLength.
func (r *Rows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

// ColumnTypeNullable implements driver.RowsColumnTypeNullable.
func (r *Rows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

// ColumnTypePrecisionScale implements driver.RowsColumnTypePrecisionScale.
func (r *Rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

// ColumnTypeScanType implements driver.RowsColumnTypeScanType.
func (r *Rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
