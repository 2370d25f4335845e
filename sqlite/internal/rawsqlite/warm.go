package rawsqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// Read transactions kept across acquisitions.
//
// In WAL mode every statement outside a transaction starts and ends a read
// transaction of its own, and for a point lookup that is about a fifth of
// the cost. A pool of read-only connections can keep one open from one
// Acquire to the next, as long as nothing has been committed since it
// began: then its snapshot is the latest, and a lookup in it sees every
// write committed before the lookup asked, as one in a new transaction
// would.
//
// "Nothing has been committed" is read from the WAL index (the -shm file)
// that every connection to the database shares, whatever its process:
// SQLite increments the change counter of the index header with every
// commit before the commit returns. The counter is read before the kept
// transaction begins, so an equal counter later proves that its snapshot
// holds every commit made up to then.
//
// A kept snapshot must not stop a checkpoint from emptying the WAL: a
// connection keeps a transaction only while the database is quiet (no
// commit between two uses of the connection) and few frames of the WAL
// are still to be copied into the database file, and gives it up after
// warmIdle without use. When a quiet database has more frames than that
// left in its WAL (the writes stopped before the writer's automatic
// checkpoint) and no commit for checkpointEvery, the pool checkpoints it
// itself.

// warmIdle is how long an unused connection keeps its read transaction.
const warmIdle = 20 * time.Millisecond

// warmMaxPending: with more frames than this in the WAL that are not yet
// in the database file, connections read in transactions of their own, so
// that the checkpoint (the writer's automatic one at 1,000 frames, or the
// pool's) finds no reader holding an old snapshot and completes.
const warmMaxPending = 256

// aheadFrames: once this many frames of the WAL are not yet in the database
// file, CheckpointAhead starts a checkpoint in the background. What the
// writer's own checkpoint has left to copy, and to fsync into the database
// file while the writes queued behind it wait, is about this many frames
// plus those committed while the last background checkpoint ran: at a
// million customers, 32 rather than 256 halved the update p99 (see
// BENCHMARKS.md) for a few more, smaller fsyncs in the background.
const aheadFrames = 32

// checkpointEvery is how long a database must go without a commit before
// the pool checkpoints it, and how often it may.
const checkpointEvery = 100 * time.Millisecond

// WAL index header (SQLite's WalIndexHdr, in native byte order), the
// first copy of the two at the start of the -shm file.
const (
	walIndexVersion  = 3007000
	walHdrVersionOff = 0
	walHdrChangeOff  = 8
	walHdrIsInitOff  = 12
	walHdrFramesOff  = 16
	walBackfillOff   = 96 // WalCkptInfo.nBackfill, after the two header copies
	walIndexMapSize  = 4096
)

// KeepReadTransactions lets the pool's connections keep a read
// transaction from one Acquire to the next while their database is
// unchanged (see above). The pool's statements must only read, and the
// database must be in WAL mode. Call it once, before the pool is used; on
// error the pool goes on as before.
func (p *Pool) KeepReadTransactions() error {
	if len(p.all) == 0 {
		return errors.New("rawsqlite: empty pool")
	}
	// The WAL index is named after the database file as SQLite resolved
	// it (symbolic links followed), not after the path the pool was given.
	db, err := p.all[0].filename()
	if err != nil {
		return err
	}
	idx, err := mapWALIndex(db + "-shm")
	if err != nil {
		return fmt.Errorf("rawsqlite: map the WAL index: %w", err)
	}
	if binary.NativeEndian.Uint32(idx[walHdrVersionOff:]) != walIndexVersion || idx[walHdrIsInitOff] != 1 {
		unmapWALIndex(idx)
		return errors.New("rawsqlite: the WAL index is not initialized")
	}
	held := make([]*Conn, 0, len(p.all))
	defer func() {
		for _, c := range held {
			p.conns <- c
		}
	}()
	for range p.all {
		c := <-p.conns
		held = append(held, c)
		if c.begin == nil {
			if c.begin, err = c.prepare("BEGIN"); err != nil {
				unmapWALIndex(idx)
				return err
			}
			if c.commit, err = c.prepare("COMMIT"); err != nil {
				unmapWALIndex(idx)
				return err
			}
		}
	}
	p.walIndex = idx
	return nil
}

// KeepsReadTransactions reports whether KeepReadTransactions took effect.
func (p *Pool) KeepsReadTransactions() bool { return p.walIndex != nil }

// walState returns the WAL index's change counter and how many frames of
// the WAL are not yet copied into the database file.
func (p *Pool) walState() (change, pending uint32) {
	load := func(off int) uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&p.walIndex[off]))) }
	change = load(walHdrChangeOff)
	if frames, backfilled := load(walHdrFramesOff), load(walBackfillOff); frames > backfilled {
		pending = frames - backfilled
	}
	return change, pending
}

// startRead readies c, just acquired, for its reads: it keeps c's read
// transaction if nothing was committed since it began, and else ends it;
// and it begins one to keep when the database was quiet since c's previous
// use and the WAL is short.
func (p *Pool) startRead(c *Conn) {
	change, pending := p.walState()
	now := time.Now().UnixNano()
	if p.seenChange.Load() != change {
		p.seenChange.Store(change)
		p.changedAt.Store(now)
	}
	if c.warm {
		if change == c.warmChange {
			return
		}
		p.endRead(c)
	}
	quiet := c.used && change == c.lastChange
	c.used, c.lastChange = true, change
	if !quiet {
		return // this use reads in transactions of its own
	}
	if pending > warmMaxPending {
		// Writes going on leave checkpoints to the writer; a database
		// quiet for checkpointEvery gets one from the pool.
		if now-p.changedAt.Load() >= int64(checkpointEvery) {
			p.startCheckpoint(now)
		}
		return
	}
	// BEGIN is deferred: the snapshot is taken by the first read, after
	// change was read.
	_, err := c.begin.Run(context.Background())
	c.begin.Reset()
	switch {
	case err == nil:
		c.warm, c.warmChange = true, change
		p.warmConns.Add(1)
	case c.inTransaction():
		_ = c.exec("ROLLBACK")
	}
	c.failed = false
}

// endRead ends c's kept read transaction.
func (p *Pool) endRead(c *Conn) {
	c.resetAll()
	_, err := c.commit.Run(context.Background())
	c.commit.Reset()
	if err != nil && c.inTransaction() {
		_ = c.exec("ROLLBACK") // a read transaction: nothing is lost
	}
	c.warm = false
	p.warmConns.Add(-1)
}

// filename returns the database file's full path as SQLite resolved it.
func (c *Conn) filename() (string, error) {
	z, err := libc.CString("main")
	if err != nil {
		return "", err
	}
	defer libc.Xfree(c.tls, z)
	name := libc.GoString(lib.Xsqlite3_db_filename(c.tls, c.db, z))
	if name == "" {
		return "", errors.New("rawsqlite: the database has no file name")
	}
	return name, nil
}

func (c *Conn) inTransaction() bool { return lib.Xsqlite3_get_autocommit(c.tls, c.db) == 0 }

// startCheckpoint checkpoints the database on a connection of the pool,
// in the background, unless it did less than checkpointEvery ago.
func (p *Pool) startCheckpoint(now int64) {
	last := p.lastCheckpoint.Load()
	if now-last < int64(checkpointEvery) || !p.lastCheckpoint.CompareAndSwap(last, now) {
		return
	}
	go p.checkpoint()
}

// checkpoint runs a passive checkpoint on a connection of the pool: it
// copies what no reader still needs, and waits for nobody.
func (p *Pool) checkpoint() {
	c, err := p.acquire(context.Background())
	if err != nil {
		return
	}
	if c.warm { // its own snapshot would hold the checkpoint back
		p.endRead(c)
	}
	_ = c.exec("PRAGMA wal_checkpoint(PASSIVE)")
	p.Release(c)
}

// CheckpointAhead is for the writer to call after each commit: when
// aheadFrames frames or more of the WAL are not yet in the database file,
// and no checkpoint of CheckpointAhead's is running, it starts a passive
// checkpoint on a connection of the pool, in the background.
//
// The writer's automatic checkpoint (at 1,000 frames) runs inside its
// commit, so the writes queued behind that commit wait for it: for a large
// database, whose changed pages are scattered, that was the longest wait
// of a write. Checkpointing ahead copies most frames while the writer goes
// on; its own checkpoint then has little left to copy, and completes, so
// the WAL restarts from its beginning as before. A no-op without the WAL
// index (see KeepReadTransactions).
func (p *Pool) CheckpointAhead() {
	if p.walIndex == nil {
		return
	}
	if _, pending := p.walState(); pending < aheadFrames || !p.checkpointing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.checkpointing.Store(false)
		p.checkpoint()
	}()
}

// sweep ends the kept read transactions of the connections that are free
// and were not used for warmIdle, and runs again while any is kept.
func (p *Pool) sweep() {
	now := time.Now().UnixNano()
	var held []*Conn
take:
	for {
		select {
		case c := <-p.conns:
			held = append(held, c)
		default:
			break take
		}
	}
	for _, c := range held {
		if c.warm && now-c.lastUse >= int64(warmIdle) {
			p.endRead(c)
		}
	}
	for _, c := range held {
		p.conns <- c
	}
	p.sweepTimer.next(warmIdle, p.sweep, func() bool {
		select {
		case <-p.done:
			return false
		default:
			return p.warmConns.Load() > 0
		}
	})
}
