//go:build unix

package sqlite

// A side-by-side measurement of the statements that bench/wrk.sh's get and
// update run, through the project's binding (package rawsqlite, on
// modernc.org/sqlite) and through github.com/ncruces/go-sqlite3, a
// maintained library with the same direct access to prepared statements
// (issue 15). It lives in package sqlite so that both run the store's own
// statement texts (qByID, updateSQL, insertEventSQL) on the store's own
// schema (its migrations), not copies that could drift.
//
//	go test ./sqlite -run '^$' -bench BindingCompare -cpu 2 -count 10 -benchtime 1s > results.txt
//	awk -f bench/binding-ratios.awk results.txt
//
// Each library gets its own copy of one database (10,000 customers, or
// CUSTOMERD_COMPARE_CUSTOMERS), with rows of the sizes a seeded database
// holds, and the same per-connection pragmas as the store. The
// sub-benchmarks of one library and the other alternate in each run, and
// which goes first alternates from one run to the next, so that a noisy
// machine weighs on both alike. Besides ns/op each reports cpu-ns/op, the
// process's user+system CPU time per operation (getrusage), which is the
// number to set against the server's CPU µs/request in BENCHMARKS.md.
//
// ncruces and modernc connections never share a file here: ncruces locks
// with OFD locks in its own VFS, modernc with SQLite's unix VFS, and
// whether the two mix in one process was not part of this measurement.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"customerd/sqlite/internal/rawsqlite"

	ncruces "github.com/ncruces/go-sqlite3"
)

// Byte lengths of a row of `customerd-load seed` and of the event of one
// wrk update (mobile_number and first_name), as stored.
const (
	cmpMerchant   = "load"
	cmpRefIndex   = 32
	cmpBlindIndex = 32 // mobile_index, email_index
	cmpRef        = 41 // object_reference_id, mean
	cmpMobile     = 42
	cmpEmail      = 52 // mean
	cmpFirst      = 37 // mean; the wrk update's is 37 too
	cmpLast       = 44 // mean
	cmpCreatedKep = 80 // kept of customer.created
	cmpCreatedPer = 182
	cmpUpdatedKep = 185 // kept of customer.updated
	cmpUpdatedPer = 245
	cmpGroup      = 16 // writes per commit under load (BENCHMARKS.md: 16.2)
)

// The writer connection's pragmas (see pragmas and Open), as statements,
// and the read pool's (fastSetup). busy_timeout is set by each library's
// own call.
var cmpWriterSetup = []string{
	"PRAGMA journal_mode = WAL",
	"PRAGMA synchronous = FULL",
	"PRAGMA foreign_keys = 1",
	"PRAGMA secure_delete = 1",
	"PRAGMA cache_size = -2048",
	"PRAGMA temp_store = 2",
}

// cmpTemplate is the database both libraries get a copy of.
type cmpTemplate struct {
	path string
	ids  []string
	err  error
}

var (
	cmpOnce sync.Once
	cmpTmpl cmpTemplate
	cmpDir  string
	cmpDBs  sync.Map // library name -> *cmpDB
	cmpRuns atomic.Int64
)

// cmpDB is one library's copy of the template, kept for the process so
// that its writes accumulate alike for both libraries.
type cmpDB struct {
	path     string
	ids      []string
	versions []int64 // each customer's version, as the updates leave it
	events   int64   // events inserted, for their ids
}

func cmpCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("CUSTOMERD_COMPARE_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.Reader, b)
	return b
}

// buildTemplate makes the database: the store's schema by its migrations,
// one merchant with a data key, n customers and their customer.created
// events, then checkpointed into one file.
func buildTemplate(dir string, n int) (cmpTemplate, error) {
	ctx := context.Background()
	path := filepath.Join(dir, "template.db")
	s, err := Open(ctx, path)
	if err != nil {
		return cmpTemplate{}, err
	}
	defer s.Close()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return cmpTemplate{}, err
	}
	defer tx.Rollback()
	now := time.Now().Unix()
	if _, err := tx.Exec(`INSERT INTO merchants (id, created_at) VALUES (?, ?)`, cmpMerchant, now); err != nil {
		return cmpTemplate{}, err
	}
	if _, err := tx.Exec(`INSERT INTO merchant_keys (merchant_id, purpose, version, master_key_id, wrapped, created_at)
		VALUES (?, 'data', 1, '99f12fe2ba31fb23', ?, ?)`, cmpMerchant, randBytes(60), now); err != nil {
		return cmpTemplate{}, err
	}
	insC, err := tx.Prepare(`INSERT INTO customers (` + customerColumns + `) VALUES (?, ?, 1, ?, ?, ?, '91', ?, ?, ?, ?, ?, 1, ?, ?)`)
	if err != nil {
		return cmpTemplate{}, err
	}
	insE, err := tx.Prepare(`INSERT INTO events (` + eventColumns + `) VALUES (?, ?, ?, 'customer.created', ?, 1, ?, 'seed', '', '', ?, 1, ?)`)
	if err != nil {
		return cmpTemplate{}, err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("cst_%016x", rng.Uint64()) // random order, as real ids
		if _, err := insC.Exec(ids[i], cmpMerchant, randBytes(cmpRefIndex), randBytes(cmpRef), randBytes(cmpMobile),
			randBytes(cmpEmail), randBytes(cmpFirst), randBytes(cmpLast), now, now,
			randBytes(cmpBlindIndex), randBytes(cmpBlindIndex)); err != nil {
			return cmpTemplate{}, err
		}
		if _, err := insE.Exec(fmt.Sprintf("evt_%016x", rng.Uint64()), cmpMerchant, i+1, ids[i], now,
			randBytes(cmpCreatedKep), randBytes(cmpCreatedPer)); err != nil {
			return cmpTemplate{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return cmpTemplate{}, err
	}
	if _, err := s.wdb.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return cmpTemplate{}, err
	}
	return cmpTemplate{path: path, ids: ids}, nil
}

// libDB returns lib's copy of the template, made on first use.
func libDB(tb testing.TB, lib string) *cmpDB {
	tb.Helper()
	cmpOnce.Do(func() {
		var err error
		if cmpDir, err = os.MkdirTemp("", "customerd-bindings-"); err == nil {
			cmpTmpl, err = buildTemplate(cmpDir, cmpCustomers())
		}
		cmpTmpl.err = err
	})
	if cmpTmpl.err != nil {
		tb.Skipf("no database to compare on: %v", cmpTmpl.err)
	}
	if v, ok := cmpDBs.Load(lib); ok {
		return v.(*cmpDB)
	}
	path := filepath.Join(cmpDir, lib+".db")
	src, err := os.ReadFile(cmpTmpl.path)
	if err != nil {
		tb.Skipf("copy the database: %v", err)
	}
	if err := os.WriteFile(path, src, 0o600); err != nil {
		tb.Skipf("copy the database: %v", err)
	}
	db := &cmpDB{path: path, ids: cmpTmpl.ids, versions: make([]int64, len(cmpTmpl.ids))}
	for i := range db.versions {
		db.versions[i] = 1
	}
	v, _ := cmpDBs.LoadOrStore(lib, db)
	return v.(*cmpDB)
}

// TestMain removes the compared databases, which outlive any one
// benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	if cmpDir != "" {
		os.RemoveAll(cmpDir)
	}
	os.Exit(code)
}

// TestBindingCompareReadsAlike checks that the two libraries' get paths,
// as the benchmark runs them, read the same bytes of the same rows.
func TestBindingCompareReadsAlike(t *testing.T) {
	tmpl, err := buildTemplate(t.TempDir(), 20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	read := func(st func(int) []byte) []byte {
		var out []byte
		for _, i := range cmpByteCols {
			out = append(out, st(i)...)
		}
		return append(out, st(6)...)
	}
	want := map[string][]byte{}
	p, err := rawsqlite.Open(tmpl.path, 1, fastSetup, []string{qByID})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range tmpl.ids {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := c.Stmt(0)
		_ = st.BindText(1, id)
		_ = st.BindText(2, cmpMerchant)
		if row, err := st.Run(ctx); err != nil || !row {
			t.Fatalf("rawsqlite %s: %v %v", id, row, err)
		}
		want[id] = read(st.Bytes)
		p.Release(c)
	}
	p.Close()
	np, err := openNcruces(tmpl.path, 1, fastSetup, []string{qByID})
	if err != nil {
		t.Fatal(err)
	}
	defer np.close()
	st := np.all[0].stmts[0]
	for _, id := range tmpl.ids {
		_ = st.BindText(1, id)
		_ = st.BindText(2, cmpMerchant)
		if !st.Step() {
			t.Fatalf("ncruces %s: %v", id, st.Err())
		}
		if got := read(st.ColumnRawBlob); string(got) != string(want[id]) || len(got) < 300 {
			t.Fatalf("%s: ncruces read %d bytes, rawsqlite %d", id, len(got), len(want[id]))
		}
		ncReset(st)
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// measureCPU reports the process's CPU time per operation of the timed
// part of b, which begins when it is called.
func measureCPU(b *testing.B) func() {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuNanos()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
	}
}

// bstr is a string over the bytes of b, for a binding that both libraries
// copy before returning.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// The columns of customerColumns that readRow copies, and the rest.
var (
	cmpByteCols = [...]int{3, 4, 5, 7, 8, 9, 13, 14}
	cmpIntCols  = [...]int{2, 10, 11, 12}
)

func BenchmarkBindingCompare(b *testing.B) {
	libs := []string{"rawsqlite", "ncruces"}
	if cmpRuns.Add(1)%2 == 0 {
		libs[0], libs[1] = libs[1], libs[0]
	}
	getters := map[string][]struct {
		name string
		run  func(*testing.B, *cmpDB)
	}{
		"rawsqlite": {
			{"get/rawsqlite-kept", func(b *testing.B, db *cmpDB) { benchGetRaw(b, db, true) }},
			{"get/rawsqlite", func(b *testing.B, db *cmpDB) { benchGetRaw(b, db, false) }},
		},
		"ncruces": {
			{"get/ncruces-kept", func(b *testing.B, db *cmpDB) { benchGetNcruces(b, db, true) }},
			{"get/ncruces", func(b *testing.B, db *cmpDB) { benchGetNcruces(b, db, false) }},
		},
	}
	for _, lib := range libs {
		for _, g := range getters[lib] {
			b.Run(g.name, func(b *testing.B) { g.run(b, libDB(b, lib)) })
		}
	}
	for _, group := range []int{1, cmpGroup} {
		for _, lib := range libs {
			b.Run(fmt.Sprintf("update-%d/%s", group, lib), func(b *testing.B) {
				db := libDB(b, lib)
				if lib == "ncruces" {
					benchUpdateNcruces(b, db, group)
				} else {
					benchUpdateRaw(b, db, group)
				}
			})
		}
	}
}

// readerPoolSize is the store's read pool size (see Open).
func readerPoolSize() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

func benchGetRaw(b *testing.B, db *cmpDB, keep bool) {
	p, err := rawsqlite.Open(db.path, readerPoolSize(), fastSetup, []string{qByID})
	if err != nil {
		b.Skipf("rawsqlite: %v", err)
	}
	defer p.Close()
	if keep {
		if err := p.KeepReadTransactions(); err != nil {
			b.Skipf("rawsqlite: %v", err)
		}
	}
	ctx := context.Background()
	var seed atomic.Uint64
	done := measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := mrand.New(mrand.NewPCG(seed.Add(1), 7))
		buf := make([]byte, 0, 1024)
		var sum int64
		for pb.Next() {
			id := db.ids[rng.IntN(len(db.ids))]
			c, err := p.Acquire(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			st := c.Stmt(0)
			err = st.BindText(1, id)
			if err == nil {
				err = st.BindText(2, cmpMerchant)
			}
			row := false
			if err == nil {
				row, err = st.Run(ctx)
			}
			if err != nil || !row {
				p.Release(c)
				b.Errorf("get %s: row %v, %v", id, row, err)
				return
			}
			buf = buf[:0]
			for _, i := range cmpByteCols {
				buf = append(buf, st.Bytes(i)...)
			}
			buf = append(buf, st.Bytes(6)...)
			for _, i := range cmpIntCols {
				sum += st.Int64(i)
			}
			p.Release(c)
		}
		_ = sum
	})
	done()
}

// ncPool is a fixed pool of ncruces connections with the read statement
// prepared, handed out through a channel as rawsqlite's pool is.
type ncPool struct {
	conns chan *ncConn
	all   []*ncConn
}

type ncConn struct {
	c     *ncruces.Conn
	stmts []*ncruces.Stmt

	// Kept read transactions, as rawsqlite's warm.go keeps them (see
	// ncKeeper).
	begin, commit     *ncruces.Stmt
	warm, used        bool
	warmChange, lastC uint32
	lastUse           int64
}

// ncKeeper does for an ncruces pool the bookkeeping of rawsqlite's
// KeepReadTransactions on each acquisition and release: the WAL index's
// change counter and pending frames read from the mapped -shm file (which
// ncruces's VFS maps and updates as SQLite's own does), the clock, a
// BEGIN kept while nothing was committed, and the sweeper's lock. It is
// what porting warm.go would cost, without its sweeps and checkpoints,
// which a read-only benchmark does not trigger.
type ncKeeper struct {
	idx        []byte
	seenChange atomic.Uint32
	changedAt  atomic.Int64
	sweepMu    sync.Mutex
	sweepOn    bool
}

func (k *ncKeeper) load(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&k.idx[off])))
}

func (k *ncKeeper) acquire(c *ncConn) {
	change := k.load(8)
	if frames, backfilled := k.load(16), k.load(96); frames > backfilled && frames-backfilled > 256 {
		change = ^change // too much pending: read without keeping (never, here)
	}
	now := time.Now().UnixNano()
	if k.seenChange.Load() != change {
		k.seenChange.Store(change)
		k.changedAt.Store(now)
	}
	if c.warm {
		if change == c.warmChange {
			return
		}
		_ = c.commit.Exec()
		c.warm = false
	}
	quiet := c.used && change == c.lastC
	c.used, c.lastC = true, change
	if quiet && c.begin.Exec() == nil {
		c.warm, c.warmChange = true, change
	}
}

func (k *ncKeeper) release(c *ncConn) {
	if c.warm {
		c.lastUse = time.Now().UnixNano()
		k.sweepMu.Lock()
		k.sweepOn = true
		k.sweepMu.Unlock()
	}
}

func openNcruces(path string, size int, setup, queries []string) (*ncPool, error) {
	p := &ncPool{conns: make(chan *ncConn, size)}
	for range size {
		c, err := ncruces.OpenFlags(path, ncruces.OPEN_READWRITE)
		if err != nil {
			p.close()
			return nil, err
		}
		nc := &ncConn{c: c}
		p.all = append(p.all, nc)
		if err := c.BusyTimeout(10 * time.Second); err != nil {
			p.close()
			return nil, err
		}
		if _, err := c.Config(ncruces.DBCONFIG_ENABLE_QPSG, true); err != nil {
			p.close()
			return nil, err
		}
		for _, q := range setup {
			if err := c.Exec(q); err != nil {
				p.close()
				return nil, fmt.Errorf("%s: %w", q, err)
			}
		}
		for _, q := range queries {
			st, _, err := c.PrepareFlags(q, ncruces.PREPARE_PERSISTENT)
			if err != nil {
				p.close()
				return nil, fmt.Errorf("prepare %s: %w", q, err)
			}
			nc.stmts = append(nc.stmts, st)
		}
		p.conns <- nc
	}
	return p, nil
}

// keepNcruces prepares the statements of kept read transactions on p's
// connections and maps the WAL index of the database at path.
func keepNcruces(p *ncPool, path string) (*ncKeeper, error) {
	for _, c := range p.all {
		var err error
		if c.begin, _, err = c.c.Prepare("BEGIN"); err != nil {
			return nil, err
		}
		if c.commit, _, err = c.c.Prepare("COMMIT"); err != nil {
			return nil, err
		}
		c.stmts = append(c.stmts, c.begin, c.commit) // closed with the rest
	}
	f, err := os.Open(path + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &ncKeeper{idx: idx}, nil
}

func (p *ncPool) close() {
	for _, c := range p.all {
		if c.warm {
			_ = c.commit.Exec()
		}
		for _, st := range c.stmts {
			st.Close()
		}
		c.c.Close()
	}
}

// reset is what rawsqlite's Release does to a statement.
func ncReset(st *ncruces.Stmt) {
	_ = st.Reset()
	_ = st.ClearBindings()
}

func benchGetNcruces(b *testing.B, db *cmpDB, keep bool) {
	p, err := openNcruces(db.path, readerPoolSize(), fastSetup, []string{qByID})
	if err != nil {
		b.Skipf("ncruces: %v", err)
	}
	defer p.close()
	var k *ncKeeper
	if keep {
		if k, err = keepNcruces(p, db.path); err != nil {
			b.Skipf("ncruces: %v", err)
		}
		defer syscall.Munmap(k.idx)
	}
	var seed atomic.Uint64
	done := measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := mrand.New(mrand.NewPCG(seed.Add(1), 7))
		buf := make([]byte, 0, 1024)
		var sum int64
		for pb.Next() {
			id := db.ids[rng.IntN(len(db.ids))]
			c := <-p.conns
			if k != nil {
				k.acquire(c)
			}
			st := c.stmts[0]
			err := st.BindText(1, id)
			if err == nil {
				err = st.BindText(2, cmpMerchant)
			}
			row := err == nil && st.Step()
			if !row {
				if err == nil {
					err = st.Err()
				}
				ncReset(st)
				p.conns <- c
				b.Errorf("get %s: row %v, %v", id, row, err)
				return
			}
			buf = buf[:0]
			for _, i := range cmpByteCols {
				buf = append(buf, st.ColumnRawBlob(i)...)
			}
			buf = append(buf, st.ColumnRawText(6)...)
			for _, i := range cmpIntCols {
				sum += st.ColumnInt64(i)
			}
			ncReset(st)
			if k != nil {
				k.release(c)
			}
			p.conns <- c
		}
		_ = sum
	})
	done()
	if k != nil {
		warm := 0
		for _, c := range p.all {
			if c.warm {
				warm++
			}
		}
		if warm == 0 && b.N > 2*len(p.all) {
			b.Error("no connection kept a read transaction")
		}
	}
}

// The writer's statements, by index: what a batch of the store's writer
// runs around and in UpdateCustomer (tx.go, writer.go, events.go).
const (
	wBegin = iota // database/sql's BeginTx with _txlock=immediate
	wCommit
	wSavepoint // around each write of a batch of more than one
	wRelease
	wActiveVersion // checkKeyVersion: once per merchant and batch
	wUpdate
	wInsertEvent
)

var cmpWriterQueries = []string{
	wBegin:         "BEGIN IMMEDIATE",
	wCommit:        "COMMIT",
	wSavepoint:     "SAVEPOINT w",
	wRelease:       "RELEASE w",
	wActiveVersion: `SELECT MAX(version) FROM merchant_keys WHERE merchant_id = ? AND purpose = 'data'`,
	wUpdate:        updateSQL,
	wInsertEvent:   insertEventSQL,
}

// cmpWrite is the content of one wrk update: two fields sealed anew, the
// mobile number's blind index, and its customer.updated event.
type cmpWrite struct {
	mobile, mobileIndex, first, kept, personal []byte
	eventID                                    []byte
	requestID, keyPrefix                       string
}

func newCmpWrite() *cmpWrite {
	return &cmpWrite{mobile: randBytes(cmpMobile), mobileIndex: randBytes(cmpBlindIndex), first: randBytes(cmpFirst),
		kept: randBytes(cmpUpdatedKep), personal: randBytes(cmpUpdatedPer), eventID: make([]byte, 0, 32),
		requestID: "12a2d173f9b85a875f125e5b4460579f", keyPrefix: "cdk_869e25f51698"}
}

// next changes the sealed bytes, as a new seal would, and numbers the
// event.
func (w *cmpWrite) next(db *cmpDB) {
	db.events++
	for _, b := range [][]byte{w.mobile, w.mobileIndex, w.first} {
		b[0]++
		b[len(b)/2]++
	}
	w.eventID = strconv.AppendInt(append(w.eventID[:0], "evt_u"...), db.events, 36)
}

func benchUpdateRaw(b *testing.B, db *cmpDB, group int) {
	p, err := rawsqlite.Open(db.path, 1, cmpWriterSetup, cmpWriterQueries)
	if err != nil {
		b.Skipf("rawsqlite: %v", err)
	}
	defer p.Close()
	ctx := context.Background()
	c, err := p.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Release(c)
	rng := mrand.New(mrand.NewPCG(uint64(cmpRuns.Load()), 11))
	w := newCmpWrite()
	run := func(i int) error { // one write in the batch's transaction
		w.next(db)
		k := rng.IntN(len(db.ids))
		id := db.ids[k]
		now := time.Now().Unix()
		st := c.Stmt(wUpdate)
		for _, err := range [...]error{
			st.BindBool(1, true), st.BindBlob(2, w.mobile),
			st.BindBool(3, false), st.BindText(4, ""),
			st.BindBool(5, false), st.BindNull(6),
			st.BindBool(7, true), st.BindBlob(8, w.first),
			st.BindBool(9, false), st.BindNull(10),
			st.BindInt64(11, now), st.BindText(12, cmpMerchant), st.BindText(13, id), st.BindInt64(14, db.versions[k]),
			st.BindBlob(15, w.mobileIndex), st.BindNull(16),
		} {
			if err != nil {
				return err
			}
		}
		row, err := st.Run(ctx)
		if err != nil || !row {
			st.Reset()
			return fmt.Errorf("update %s at version %d: row %v, %v", id, db.versions[k], row, err)
		}
		db.versions[k] = st.Int64(0)
		st.Reset()
		ev := c.Stmt(wInsertEvent)
		for _, err := range [...]error{
			ev.BindText(1, bstr(w.eventID)), ev.BindText(2, cmpMerchant), ev.BindText(3, "customer.updated"), ev.BindText(4, id),
			ev.BindInt64(5, db.versions[k]), ev.BindInt64(6, now), ev.BindText(7, w.requestID),
			ev.BindText(8, w.keyPrefix), ev.BindText(9, ""), ev.BindBlob(10, w.kept),
			ev.BindInt64(11, 1), ev.BindBlob(12, w.personal),
		} {
			if err != nil {
				return err
			}
		}
		return ev.Exec(ctx)
	}
	exec := func(i int) error { return c.Stmt(i).Exec(ctx) }
	groupCommits(b, group, exec, func() error {
		av := c.Stmt(wActiveVersion)
		defer av.Reset()
		if err := av.BindText(1, cmpMerchant); err != nil {
			return err
		}
		if row, err := av.Run(ctx); err != nil || !row || av.Int64(0) != 1 {
			return fmt.Errorf("active version: %v %v", row, err)
		}
		return nil
	}, run)
}

func benchUpdateNcruces(b *testing.B, db *cmpDB, group int) {
	p, err := openNcruces(db.path, 1, cmpWriterSetup, cmpWriterQueries)
	if err != nil {
		b.Skipf("ncruces: %v", err)
	}
	defer p.close()
	c := <-p.conns
	defer func() { p.conns <- c }()
	rng := mrand.New(mrand.NewPCG(uint64(cmpRuns.Load()), 11))
	w := newCmpWrite()
	run := func(i int) error {
		w.next(db)
		k := rng.IntN(len(db.ids))
		id := db.ids[k]
		now := time.Now().Unix()
		st := c.stmts[wUpdate]
		for _, err := range [...]error{
			st.BindBool(1, true), st.BindBlob(2, w.mobile),
			st.BindBool(3, false), st.BindText(4, ""),
			st.BindBool(5, false), st.BindNull(6),
			st.BindBool(7, true), st.BindBlob(8, w.first),
			st.BindBool(9, false), st.BindNull(10),
			st.BindInt64(11, now), st.BindText(12, cmpMerchant), st.BindText(13, id), st.BindInt64(14, db.versions[k]),
			st.BindBlob(15, w.mobileIndex), st.BindNull(16),
		} {
			if err != nil {
				return err
			}
		}
		if !st.Step() {
			err := st.Err()
			ncReset(st)
			return fmt.Errorf("update %s at version %d: no row, %v", id, db.versions[k], err)
		}
		db.versions[k] = st.ColumnInt64(0)
		ncReset(st)
		ev := c.stmts[wInsertEvent]
		for _, err := range [...]error{
			ev.BindText(1, bstr(w.eventID)), ev.BindText(2, cmpMerchant), ev.BindText(3, "customer.updated"), ev.BindText(4, id),
			ev.BindInt64(5, db.versions[k]), ev.BindInt64(6, now), ev.BindText(7, w.requestID),
			ev.BindText(8, w.keyPrefix), ev.BindText(9, ""), ev.BindBlob(10, w.kept),
			ev.BindInt64(11, 1), ev.BindBlob(12, w.personal),
		} {
			if err != nil {
				return err
			}
		}
		err := ev.Exec()
		_ = ev.ClearBindings()
		return err
	}
	exec := func(i int) error { return c.stmts[i].Exec() }
	groupCommits(b, group, exec, func() error {
		av := c.stmts[wActiveVersion]
		defer ncReset(av)
		if err := av.BindText(1, cmpMerchant); err != nil {
			return err
		}
		if !av.Step() || av.ColumnInt64(0) != 1 {
			return fmt.Errorf("active version: %v", av.Err())
		}
		return nil
	}, run)
}

// groupCommits makes b.N writes with run, group of them to a transaction,
// each in a savepoint of its own when there are several, as the store's
// writer does; each transaction first reads the active key version with
// version. Its CPU is measured.
func groupCommits(b *testing.B, group int, exec func(stmt int) error, version func() error, run func(i int) error) {
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	done := measureCPU(b)
	for i := 0; i < b.N; {
		must(exec(wBegin))
		must(version())
		for j := 0; j < group && i < b.N; j, i = j+1, i+1 {
			if group > 1 {
				must(exec(wSavepoint))
			}
			must(run(i))
			if group > 1 {
				must(exec(wRelease))
			}
		}
		must(exec(wCommit))
	}
	done()
}
