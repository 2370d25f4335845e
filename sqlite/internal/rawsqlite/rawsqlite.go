// Package rawsqlite runs prepared statements on SQLite through the C API of
// modernc.org/sqlite/lib, without database/sql.
//
// It exists for the statements on the request path: the two reads of every
// GET (a customer by id and by reference) and the writer's update and
// savepoints. Through database/sql and the driver, each query pays for a
// pooled statement, a goroutine that watches the context, the result's
// column names turned into strings, a C allocation per bound argument and
// one Go value per column. Here a statement is prepared once per
// connection, bound from a C buffer it owns, and its columns are read in
// place.
//
// Open makes a fixed pool of connections of its own, opened read-write
// (the caller's setup pragmas can make them query_only) so that they share
// the writer's WAL index. Borrow prepares statements on a connection that
// database/sql's driver owns, so that they run inside its transactions. A
// connection is used by one goroutine at a time, so pool connections are
// opened without SQLite's per-connection mutex.
//
// A pool of read-only connections can also keep a read transaction open
// from one use to the next while nothing is committed to the database
// (KeepReadTransactions, in warm.go), which saves starting and ending one
// per lookup.
//
// Contexts: a statement that waits for a lock (the only way a point read in
// WAL mode can take long) stops waiting once its context is done; a
// statement that is computing is not interrupted. That suits point
// statements and costs nothing per query, where an interrupting callback
// registered on the context costs allocations on every one.
package rawsqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	lib "modernc.org/sqlite/lib"
)

// argBufSize is the per-statement C buffer that bound arguments are copied
// into. Arguments that do not fit are bound as SQLITE_TRANSIENT, which makes
// SQLite copy them itself.
const argBufSize = 512

// ErrClosed is returned by Acquire once the pool is closed.
var ErrClosed = errors.New("rawsqlite: pool closed")

// Pool is a fixed set of connections to one database, each with the same
// statements prepared.
type Pool struct {
	conns chan *Conn
	all   []*Conn
	done  chan struct{}

	// A wait in Acquire checks its context each time tick is closed (and
	// replaced), every waitCheck while anyone waits, rather than selecting
	// on ctx.Done: a request's context can be lazy (its deadline timer made
	// only when Done is asked for), and waiting for a connection is the
	// common case under load, not the exception. No timer runs while
	// nobody waits.
	tick      atomic.Pointer[chan struct{}]
	waiters   atomic.Int32
	tickTimer rearmer // runs fireTick

	// Read transactions kept across acquisitions: see KeepReadTransactions.
	walIndex       []byte // the start of the database's -shm file, mapped read-only; nil when off
	warmConns      atomic.Int32
	sweepTimer     rearmer       // runs sweep
	lastCheckpoint atomic.Int64  // when the pool last started a checkpoint, Unix ns
	checkpointing  atomic.Bool   // a checkpoint of CheckpointAhead's is running
	seenChange     atomic.Uint32 // the WAL index change counter last seen by startRead
	changedAt      atomic.Int64  // when startRead first saw it, Unix ns
}

// waitCheck is how often a wait for a connection checks its context.
const waitCheck = 20 * time.Millisecond

// Conn is one connection of a Pool, held by one goroutine between Acquire
// and Release.
type Conn struct {
	tls    *libc.TLS
	db     uintptr
	stmts  []*Stmt
	cached map[string]*Stmt // see Prepared

	waitCtx     context.Context // the context of the running statement, for busyHandler
	pendingFree []uintptr       // temporary copies of oversized arguments
	borrowed    bool            // see Borrow: the handle is not ours to close

	// See KeepReadTransactions.
	begin, commit *Stmt
	warm          bool   // inside a read transaction kept from an earlier use
	warmChange    uint32 // the WAL index's change counter read before it began
	lastChange    uint32 // the change counter at the previous use
	used          bool   // lastChange is set
	lastUse       int64  // when the connection was last released warm, in Unix ns
	failed        bool   // a statement failed since Acquire
}

// Stmt is a statement prepared on a Conn.
type Stmt struct {
	c      *Conn
	p      uintptr
	args   uintptr // C buffer of argBufSize bytes
	used   int     // bytes of args used by the bindings so far
	bound  bool    // bound since the last Reset
	active bool    // stepped since the last Reset
}

// Open opens size connections to the database file at path, runs each of
// setup (PRAGMA statements) on every connection and prepares queries on
// each; Conn.Stmt(i) is queries[i]. Waits for locks are bounded by the
// statement's context and by busyTimeout; a busy_timeout in setup has no
// effect.
func Open(path string, size int, setup, queries []string) (*Pool, error) {
	p := &Pool{conns: make(chan *Conn, size), done: make(chan struct{})}
	tick := make(chan struct{})
	p.tick.Store(&tick)
	for range size {
		c, err := open(path, setup, queries)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.all = append(p.all, c)
		p.conns <- c
	}
	return p, nil
}

func open(path string, setup, queries []string) (_ *Conn, err error) {
	c := &Conn{tls: libc.NewTLS()}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	zPath, err := libc.CString(path)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, zPath)
	ppDb := c.tls.Alloc(8)
	defer c.tls.Free(8)
	*(*uintptr)(ptr(ppDb)) = 0
	rc := lib.Xsqlite3_open_v2(c.tls, zPath, ppDb, lib.SQLITE_OPEN_READWRITE|lib.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(ptr(ppDb))
	if rc != lib.SQLITE_OK {
		return nil, c.errorf("open %s", rc, path)
	}
	lib.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	for _, q := range setup {
		if err := c.exec(q); err != nil {
			return nil, err
		}
	}
	if err := c.enableQPSG(); err != nil {
		return nil, err
	}
	// After setup: a busy_timeout pragma would replace the handler.
	busyConns.Store(c.db, c)
	lib.Xsqlite3_busy_handler(c.tls, c.db, cFuncPointer(busyHandler), c.db)
	for _, q := range queries {
		s, err := c.prepare(q)
		if err != nil {
			return nil, err
		}
		c.stmts = append(c.stmts, s)
	}
	return c, nil
}

// Borrow prepares queries on db, a connection handle (sqlite3*) opened and
// owned by someone else, typically modernc.org/sqlite's database/sql
// driver: its statements then run inside that connection's transactions.
// The caller must use the Conn only while it may use the connection, from
// one goroutine at a time, and must call Unborrow before the owner closes
// the connection (or after: SQLite keeps a connection closed with
// sqlite3_close_v2 alive until its last statement is finalized).
func Borrow(db uintptr, queries []string) (*Conn, error) {
	c := &Conn{tls: libc.NewTLS(), db: db, borrowed: true}
	for _, q := range queries {
		s, err := c.prepare(q)
		if err != nil {
			c.close()
			return nil, err
		}
		c.stmts = append(c.stmts, s)
	}
	return c, nil
}

// Handle returns the connection's sqlite3* handle.
func (c *Conn) Handle() uintptr { return c.db }

// Unborrow finalizes the statements of a Conn made by Borrow and leaves the
// connection itself open.
func (c *Conn) Unborrow() { c.close() }

// EnableQPSG turns on the query planner stability guarantee (see
// enableQPSG) on db, a connection handle (sqlite3*) opened by someone else,
// typically modernc.org/sqlite's database/sql driver, before it is used.
func EnableQPSG(db uintptr) error {
	c := &Conn{tls: libc.NewTLS(), db: db, borrowed: true}
	defer c.tls.Close()
	return c.enableQPSG()
}

// enableQPSG turns on SQLite's query planner stability guarantee: a plan
// never depends on the values bound. Without it a statement with an ORDER
// BY is prepared again at its first step after every new binding, which
// cost a list query five times its run.
func (c *Conn) enableQPSG() error {
	const vaSlot = 8 // libc.VaList's stride per argument
	bp := libc.Xmalloc(c.tls, types.Size_t(2*vaSlot))
	if bp == 0 {
		return errors.New("rawsqlite: out of memory")
	}
	defer libc.Xfree(c.tls, bp)
	if rc := lib.Xsqlite3_db_config(c.tls, c.db, lib.SQLITE_DBCONFIG_ENABLE_QPSG, libc.VaList(bp, int32(1), uintptr(0))); rc != lib.SQLITE_OK {
		return c.errorf("enable the query planner stability guarantee", rc)
	}
	return nil
}

func (c *Conn) exec(q string) error {
	z, err := libc.CString(q)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, z)
	if rc := lib.Xsqlite3_exec(c.tls, c.db, z, 0, 0, 0); rc != lib.SQLITE_OK {
		return c.errorf("%s", rc, q)
	}
	return nil
}

func (c *Conn) prepare(q string) (*Stmt, error) {
	z, err := libc.CString(q)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, z)
	pp := c.tls.Alloc(8)
	defer c.tls.Free(8)
	*(*uintptr)(ptr(pp)) = 0
	if rc := lib.Xsqlite3_prepare_v3(c.tls, c.db, z, -1, lib.SQLITE_PREPARE_PERSISTENT, pp, 0); rc != lib.SQLITE_OK {
		return nil, c.errorf("prepare %s", rc, q)
	}
	s := &Stmt{c: c, p: *(*uintptr)(ptr(pp))}
	if s.args = libc.Xmalloc(c.tls, types.Size_t(argBufSize)); s.args == 0 {
		lib.Xsqlite3_finalize(c.tls, s.p)
		return nil, errors.New("rawsqlite: out of memory")
	}
	return s, nil
}

func (c *Conn) close() {
	all := append(c.stmts, c.begin, c.commit)
	for _, s := range c.cached {
		all = append(all, s)
	}
	for _, s := range all {
		if s != nil {
			lib.Xsqlite3_finalize(c.tls, s.p)
			libc.Xfree(c.tls, s.args)
		}
	}
	c.begin, c.commit = nil, nil
	c.stmts, c.cached = nil, nil
	if c.db != 0 && !c.borrowed {
		lib.Xsqlite3_close_v2(c.tls, c.db)
		busyConns.Delete(c.db)
	}
	c.db = 0
	c.tls.Close()
}

// Close closes every connection, waiting for those acquired to be
// released first; Acquire fails with ErrClosed from then on.
func (p *Pool) Close() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	close(p.done)
	for range p.all {
		c := <-p.conns
		c.close()
	}
	if p.walIndex != nil {
		unmapWALIndex(p.walIndex)
	}
	return nil
}

// Acquire takes a connection from the pool, waiting for one until ctx is
// done (noticed within waitCheck). Release must follow every successful
// Acquire.
func (p *Pool) Acquire(ctx context.Context) (*Conn, error) {
	c, err := p.acquire(ctx)
	if err == nil && p.walIndex != nil {
		p.startRead(c)
	}
	return c, err
}

func (p *Pool) acquire(ctx context.Context) (*Conn, error) {
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	select {
	case c := <-p.conns:
		return p.checkOpen(c)
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.waiters.Add(1) == 1 {
		p.tickTimer.start(waitCheck, p.fireTick)
	}
	defer p.waiters.Add(-1)
	for {
		select {
		case c := <-p.conns:
			return p.checkOpen(c)
		case <-*p.tick.Load():
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		case <-p.done:
			return nil, ErrClosed
		}
	}
}

// fireTick closes and replaces p.tick, and runs again after waitCheck
// while Acquire has waiters.
func (p *Pool) fireTick() {
	next := make(chan struct{})
	close(*p.tick.Swap(&next))
	p.tickTimer.next(waitCheck, p.fireTick, func() bool { return p.waiters.Load() > 0 })
}

// rearmer runs a function after a delay, one run at a time, for as long as
// the function asks: start schedules it unless it is scheduled or
// running, and the function ends with next. Both decide under one lock, so
// a start that races the function's end is never lost.
type rearmer struct {
	mu sync.Mutex
	on bool // scheduled or running
}

func (r *rearmer) start(d time.Duration, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		r.on = true
		time.AfterFunc(d, f)
	}
}

// next schedules f again after d if more, evaluated under the lock, says so.
func (r *rearmer) next(d time.Duration, f func(), more func() bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if more() {
		time.AfterFunc(d, f)
	} else {
		r.on = false
	}
}

// checkOpen hands c out unless Close has begun, in which case c goes back
// for Close to take.
func (p *Pool) checkOpen(c *Conn) (*Conn, error) {
	select {
	case <-p.done:
		p.conns <- c
		return nil, ErrClosed
	default:
		return c, nil
	}
}

// Release resets the connection's statements (ending any read
// transaction) and returns it to the pool.
func (p *Pool) Release(c *Conn) {
	c.resetAll()
	if c.warm {
		if c.failed {
			p.endRead(c)
		} else {
			c.lastUse = time.Now().UnixNano()
			p.sweepTimer.start(warmIdle, p.sweep)
		}
	}
	c.failed = false
	p.conns <- c
}

// Stmt returns the i-th prepared query of the pool.
func (c *Conn) Stmt(i int) *Stmt { return c.stmts[i] }

// Run steps s once under ctx: it binds nothing itself (see BindText and
// BindBlob) and reports whether a row is available; the row's columns are
// readable until Reset. A wait for a lock ends when ctx is done, and Run
// then returns ctx.Err().
func (s *Stmt) Run(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c := s.c
	c.waitCtx = ctx
	s.active = true
	rc := lib.Xsqlite3_step(c.tls, s.p)
	c.waitCtx = nil
	switch rc {
	case lib.SQLITE_ROW:
		return true, nil
	case lib.SQLITE_DONE:
		return false, nil
	}
	c.failed = true
	if err := ctx.Err(); err != nil && rc&0xff == lib.SQLITE_BUSY {
		return false, err
	}
	return false, c.errorf("step", rc)
}

// busyTimeout bounds a wait for a lock whatever the context says, as
// PRAGMA busy_timeout does (which busyHandler replaces).
const busyTimeout = 10 * time.Second

// busyConns maps a database handle to its Conn, for busyHandler.
var busyConns sync.Map

// busyHandler is the SQLite busy handler of every connection: it sleeps
// with SQLite's own back-off, up to busyTimeout, and gives up as soon as the
// running statement's context is done. It runs on the goroutine that
// called sqlite3_step.
func busyHandler(_ *libc.TLS, db uintptr, count int32) int32 {
	delays := [...]time.Duration{1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100}
	var waited time.Duration
	for i := range min(int(count), len(delays)) {
		waited += delays[i] * time.Millisecond
	}
	if n := int(count) - len(delays); n > 0 {
		waited += time.Duration(n) * delays[len(delays)-1] * time.Millisecond
	}
	d := delays[min(int(count), len(delays)-1)] * time.Millisecond
	if waited+d > busyTimeout {
		return 0
	}
	var ctx context.Context
	if v, ok := busyConns.Load(db); ok {
		ctx = v.(*Conn).waitCtx
	}
	if ctx == nil || ctx.Done() == nil {
		time.Sleep(d)
		return 1
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0
	case <-t.C:
		return 1
	}
}

// cFuncPointer returns the C function pointer of the Go function f, in the
// representation modernc.org/libc expects (golang.org/s/go11func).
func cFuncPointer[T any](f T) uintptr { return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f})) }

// BindText binds v to the 1-based parameter i.
func (s *Stmt) BindText(i int, v string) error {
	p, destructor := s.copyArg(unsafe.StringData(v), len(v))
	return s.check(lib.Xsqlite3_bind_text(s.c.tls, s.p, int32(i), p, int32(len(v)), destructor))
}

// BindBlob binds v to the 1-based parameter i.
func (s *Stmt) BindBlob(i int, v []byte) error {
	p, destructor := s.copyArg(unsafe.SliceData(v), len(v))
	return s.check(lib.Xsqlite3_bind_blob(s.c.tls, s.p, int32(i), p, int32(len(v)), destructor))
}

// BindBlobOrNull binds v to the 1-based parameter i, or NULL when v is
// nil: an optional field that is not set.
func (s *Stmt) BindBlobOrNull(i int, v []byte) error {
	if v == nil {
		return s.BindNull(i)
	}
	return s.BindBlob(i, v)
}

// BindInt64 binds v to the 1-based parameter i.
func (s *Stmt) BindInt64(i int, v int64) error {
	s.bound = true
	return s.check(lib.Xsqlite3_bind_int64(s.c.tls, s.p, int32(i), v))
}

// BindNull binds NULL to the 1-based parameter i.
func (s *Stmt) BindNull(i int) error {
	s.bound = true
	return s.check(lib.Xsqlite3_bind_null(s.c.tls, s.p, int32(i)))
}

// BindBool binds v as 1 or 0.
func (s *Stmt) BindBool(i int, v bool) error {
	n := int64(0)
	if v {
		n = 1
	}
	return s.BindInt64(i, n)
}

// Exec runs s to completion, for statements that return no rows, and
// resets it.
func (s *Stmt) Exec(ctx context.Context) error {
	defer s.Reset()
	for {
		row, err := s.Run(ctx)
		if err != nil || !row {
			return err
		}
	}
}

// sqliteTransient is SQLITE_TRANSIENT, ((sqlite3_destructor_type)-1).
const sqliteTransient = ^uintptr(0)

// copyArg copies n bytes at src into the statement's argument buffer and
// returns their C address with SQLITE_STATIC (0). Arguments that do not fit
// are copied into a temporary C allocation bound as SQLITE_TRANSIENT, freed
// by check once SQLite has made its own copy.
func (s *Stmt) copyArg(src *byte, n int) (uintptr, uintptr) {
	s.bound = true
	if n == 0 {
		// A zero-length value, not NULL: any valid address will do.
		return s.args, 0
	}
	if s.used+n <= argBufSize {
		dst := s.args + uintptr(s.used)
		copy(unsafe.Slice((*byte)(ptr(dst)), n), unsafe.Slice(src, n))
		s.used += n
		return dst, 0
	}
	tmp := libc.Xmalloc(s.c.tls, types.Size_t(n))
	if tmp == 0 {
		return 0, sqliteTransient
	}
	copy(unsafe.Slice((*byte)(ptr(tmp)), n), unsafe.Slice(src, n))
	s.c.pendingFree = append(s.c.pendingFree, tmp)
	return tmp, sqliteTransient
}

func (s *Stmt) check(rc int32) error {
	for _, p := range s.c.pendingFree {
		libc.Xfree(s.c.tls, p)
	}
	s.c.pendingFree = s.c.pendingFree[:0]
	if rc != lib.SQLITE_OK {
		return s.c.errorf("bind", rc)
	}
	return nil
}

// Reset ends the statement's run (and with it the read transaction) and
// clears its bindings.
func (s *Stmt) Reset() {
	if s.active {
		lib.Xsqlite3_reset(s.c.tls, s.p)
		s.active = false
	}
	if s.bound {
		lib.Xsqlite3_clear_bindings(s.c.tls, s.p)
		s.used, s.bound = 0, false
	}
}

// IsNull reports whether column i (0-based) of the current row is NULL.
func (s *Stmt) IsNull(i int) bool {
	return lib.Xsqlite3_column_type(s.c.tls, s.p, int32(i)) == lib.SQLITE_NULL
}

// Int64 returns column i of the current row as an integer.
func (s *Stmt) Int64(i int) int64 { return lib.Xsqlite3_column_int64(s.c.tls, s.p, int32(i)) }

// Bytes returns column i of the current row as bytes, nil for NULL or
// empty. The slice points into SQLite's memory: it is valid only until the
// next Run or Reset of s, and must not be modified.
func (s *Stmt) Bytes(i int) []byte {
	p := lib.Xsqlite3_column_blob(s.c.tls, s.p, int32(i))
	n := lib.Xsqlite3_column_bytes(s.c.tls, s.p, int32(i))
	if p == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(ptr(p)), int(n))
}

func (c *Conn) errorf(format string, rc int32, args ...any) error {
	msg := "unknown error"
	if c.db != 0 {
		msg = libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db))
	} else {
		msg = libc.GoString(lib.Xsqlite3_errstr(c.tls, rc))
	}
	return &Error{Code: int(rc), Msg: fmt.Sprintf(format, args...) + ": " + msg}
}

// Error is an error reported by SQLite.
type Error struct {
	Code int    // the (extended) result code
	Msg  string // the operation and SQLite's message
}

func (e *Error) Error() string { return fmt.Sprintf("sqlite: %s (%d)", e.Msg, e.Code) }

// ptr turns an address of C memory (allocated by libc, never by Go) into a
// pointer. The memory does not move and is not collected by Go.
func ptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
