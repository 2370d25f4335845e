// Package sqlite is the embedded store of customerd, on the pure-Go driver
// modernc.org/sqlite. It persists sealed records (customerd.Store) and
// nothing else. Writes go through one connection and are group-committed
// with synchronous=FULL, so an acknowledged write survives kill -9 and a
// power cut; reads use a pool of read-only connections in WAL mode, and the
// lookups of every GET bypass database/sql (package rawsqlite).
// secure_delete overwrites whatever a write frees, so that no stale
// ciphertext lingers in the file.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"customerd"
	"customerd/sqlite/internal/rawsqlite"
	"customerd/sqlite/internal/stmtcache"

	sqlite3lib "modernc.org/sqlite/lib"
)

// Store implements customerd.Store on one SQLite database file.
type Store struct {
	path   string
	wdb    *sql.DB // the single writer connection
	rdb    *sql.DB // read-only pool
	fast   *rawsqlite.Pool
	writer *writer
	claims claims // Idempotency-Key claims in flight

	// on the read pool
	findByID, findByRef, findKey, listWraps *sql.Stmt
	// on the writer connection: the statements every write runs, prepared
	// once, as preparing costs more CPU than running them
	activeVersion, insertCustomer, updateCustomer, insertEvent, webhookTargets *sql.Stmt

	// cur is the StoreTx of the writer's batch in progress; only the writer
	// goroutine uses it.
	cur txn

	applied []string // the migrations Open applied

	// files are the database file and its WAL as Open found them; lost is
	// set, for good, once one of them is no longer the file at its path.
	files []openedFile
	lost  atomic.Pointer[error]
}

// openedFile is a file of the database as it was when the store opened it.
type openedFile struct {
	path string
	id   fileID
}

var _ customerd.Store = (*Store)(nil)

// Pragmas applied to every connection. synchronous=FULL makes each commit
// fsync the WAL before it returns: that is what makes an acknowledged write
// durable across a power cut (NORMAL would only survive a process crash).
const pragmas = "&_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=secure_delete(1)" + // freed space is zeroed: no stale ciphertext
	"&_pragma=cache_size(-2048)" // see pageCacheNote

// pageCacheNote: each connection (the writer and every reader) has its own
// page cache of 2 MiB of pages. The allocator under modernc.org/sqlite
// rounds each 4 KiB page plus its header up to 8 KiB, so a cache costs about
// twice its nominal size in RSS. With 8 MiB caches the server's RSS was
// 100 MiB at a million customers for the same throughput; the OS page cache
// serves the database's pages either way.

// dsn is the driver's name of the database at path. mode=rw: a
// connection never creates the file (Open does, once), so that a file
// deleted under a running server is not silently replaced by an empty one.
// sqliteDriver is modernc.org/sqlite's database/sql driver.
var sqliteDriver = sync.OnceValue(func() driver.Driver {
	db, _ := sql.Open("sqlite", "") // opens no connection
	defer db.Close()
	return db.Driver()
})

// openDB returns a pool of connections to dsn that keep the statements they
// are given as text prepared (package stmtcache), with the query planner
// stability guarantee on, so that a statement is not prepared again when
// its bindings change.
func openDB(dsn string) *sql.DB {
	return sql.OpenDB(stmtcache.New(sqliteDriver(), dsn, 0, func(dc driver.Conn) error {
		h, err := driverHandle(dc)
		if err != nil {
			return nil // the fallback path: no raw access, no guarantee
		}
		return rawsqlite.EnableQPSG(h)
	}))
}

func dsn(path string, extra string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path) + "?mode=rw&_txlock=immediate" + pragmas + extra
}

// Option configures Open.
type Option func(*options)

type options struct {
	databaseSQLOnly bool // no rawsqlite: the fallback path, for tests
}

// Open opens (creating if needed, with mode 0600) the database at path and
// applies the embedded migrations.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	// Create the file ourselves so that it is private to the owner; SQLite
	// gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	wdb := openDB(dsn(path, "&_pragma=temp_store(2)"))
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	applied, err := migrate(ctx, wdb)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	rdb := openDB(dsn(path, "&_pragma=query_only(1)"))
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	if !o.databaseSQLOnly {
		// The lookups of every GET use the fast pool below; this one serves
		// the rarer reads (key-cache misses, keyrings, health checks), so it
		// keeps fewer idle connections, each with its page cache.
		rdb.SetMaxIdleConns(2)
	}
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)

	s := &Store{path: path, wdb: wdb, rdb: rdb, applied: applied}
	if !o.databaseSQLOnly {
		if s.fast, err = openFastReads(path, readers); err != nil {
			s.closeDBs()
			return nil, err
		}
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	rawWrites := []string{rawUpdateSQL: updateSQL, rawInsertEventSQL: insertEventSQL, rawInsertCustomerSQL: insertCustomerSQL}
	if o.databaseSQLOnly {
		rawWrites = nil
	}
	var afterCommit func()
	if s.fast != nil {
		afterCommit = s.fast.CheckpointAhead
	}
	if err := s.watchFiles(); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.writer, err = newWriter(ctx, wdb, s.checkFiles, afterCommit, rawWrites...); err != nil {
		s.closeDBs()
		return nil, err
	}
	return s, nil
}

// watchFiles records which files the open connections use: the database
// and its WAL, which hold every commit. The shared-memory index holds none.
func (s *Store) watchFiles() error {
	for _, path := range []string{s.path, s.path + "-wal"} {
		id, err := statID(path)
		if errors.Is(err, fs.ErrNotExist) && path != s.path {
			continue // no WAL: nothing to watch
		}
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		s.files = append(s.files, openedFile{path: path, id: id})
	}
	return nil
}

// checkFiles returns customerd.Unavailable once the database file or its
// WAL at its path is no longer the file the store opened (by device and
// inode): deleted, or replaced by another. The store's connections still
// write to the file they opened, and what they write there is gone at the
// next start: no write may be acknowledged from then on. It costs a stat
// per file; the writer checks before each group commit and after it, and
// Ping checks too. Once lost, the store stays lost: a file put back at the
// path is not the one the connections use. Restart to use it.
func (s *Store) checkFiles() error {
	if lost := s.lost.Load(); lost != nil {
		return *lost
	}
	for _, f := range s.files {
		id, err := statID(f.path)
		if err == nil && id.same(f.id) {
			continue
		}
		what := "deleted"
		switch {
		case err == nil:
			what = "replaced by another file"
		case !errors.Is(err, fs.ErrNotExist):
			return customerd.Unavailable(fmt.Errorf("sqlite: checking the database file: %w", err))
		}
		lost := customerd.Unavailable(fmt.Errorf("sqlite: %s was %s while this process had it open; "+
			"writes are refused, as they could not be found after a restart: restore the database and restart customerd", f.path, what))
		s.lost.CompareAndSwap(nil, &lost)
		return *s.lost.Load()
	}
	return nil
}

// insertCustomerSQL inserts a row of customerColumns.
const insertCustomerSQL = `INSERT INTO customers (` + customerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const customerColumns = `id, merchant_id, key_version, ref_index, object_reference_id, mobile_number,
	mobile_country_code, email_address, first_name, last_name, date_created, last_updated, version,
	mobile_index, email_index`

const (
	// An erased customer's reference index is NULL: only a lookup by id
	// needs to skip tombstones.
	qByID  = `SELECT ` + customerColumns + ` FROM customers WHERE id = ? AND merchant_id = ? AND erased_at IS NULL`
	qByRef = `SELECT ` + customerColumns + ` FROM customers WHERE merchant_id = ? AND ref_index = ?`

	keyColumns  = `prefix, hash, merchant_id, created_at, revoked_at`
	wrapColumns = `merchant_id, purpose, version, master_key_id, wrapped`
	// qWraps lists one merchant's wrapped keys, or every merchant's for ''.
	qWraps = `SELECT ` + wrapColumns + ` FROM merchant_keys WHERE ?1 = '' OR merchant_id = ?1
		ORDER BY merchant_id, purpose, version, master_key_id`
)

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(db *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		return st
	}
	s.findByID = prep(s.rdb, qByID)
	s.findByRef = prep(s.rdb, qByRef)
	s.findKey = prep(s.rdb, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = ?`)
	s.listWraps = prep(s.rdb, qWraps)
	s.activeVersion = prep(s.wdb, `SELECT MAX(version) FROM merchant_keys WHERE merchant_id = ? AND purpose = 'data'`)
	s.insertCustomer = prep(s.wdb, insertCustomerSQL)
	s.updateCustomer = prep(s.wdb, updateSQL)
	s.insertEvent = prep(s.wdb, insertEventSQL)
	s.webhookTargets = prep(s.wdb, qWebhookTargets)
	return err
}

func (s *Store) closeDBs() {
	for _, st := range []*sql.Stmt{s.findByID, s.findByRef, s.findKey, s.listWraps,
		s.activeVersion, s.insertCustomer, s.updateCustomer, s.insertEvent, s.webhookTargets} {
		if st != nil {
			st.Close()
		}
	}
	if s.fast != nil {
		s.fast.Close()
	}
	if s.rdb != nil {
		s.rdb.Close()
	}
	s.wdb.Close()
}

// Close commits the queued writes and closes the database.
func (s *Store) Close() error {
	s.writer.close()
	s.closeDBs()
	return nil
}

// Migrations returns the names of the migrations that Open applied (none
// when the schema was current) and the schema version the database is at.
func (s *Store) Migrations() (applied []string, version int) { return s.applied, latestVersion() }

// Ping checks that the database file is still the one opened, that the
// database answers and that its schema is current.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkFiles(); err != nil {
		return err
	}
	var v int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return mapError(err)
	}
	if want := latestVersion(); v < want {
		return fmt.Errorf("sqlite: schema version %d, want %d", v, want)
	}
	return nil
}

// WriteDB returns the pool of the writer connection, for the job queue
// that shares the database: its writes take turns with the Store's. It is
// closed with the Store.
func (s *Store) WriteDB() *sql.DB { return s.wdb }

// DBStats returns the statistics of the two connection pools: "write", the
// single writer connection, and "read", the read-only pool. The metrics
// package exports them.
func (s *Store) DBStats() map[string]sql.DBStats {
	return map[string]sql.DBStats{"write": s.wdb.Stats(), "read": s.rdb.Stats()}
}

// WriteStats returns the group-commit counters of the store's writer.
func (s *Store) WriteStats() WriteStats { return s.writer.stats() }

type rowScanner interface{ Scan(dest ...any) error }

// scanCustomer reads a row of customerColumns.
func scanCustomer(r rowScanner) (customerd.SealedCustomer, error) {
	var c customerd.SealedCustomer
	var created, updated int64
	err := r.Scan(&c.ID, &c.MerchantID, &c.KeyVersion, &c.RefIndex, &c.ObjectReferenceID, &c.MobileNumber,
		&c.MobileCountryCode, &c.EmailAddress, &c.FirstName, &c.LastName, &created, &updated, &c.Version,
		&c.MobileIndex, &c.EmailIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return c, customerd.ErrNotFound
	}
	c.DateCreated = time.Unix(created, 0).UTC()
	c.LastUpdated = time.Unix(updated, 0).UTC()
	return c, err
}

// FindCustomer implements customerd.StoreReader.
func (s *Store) FindCustomer(ctx context.Context, merchantID, id string) (c customerd.SealedCustomer, err error) {
	if s.fast != nil {
		c, err = s.readFast(ctx, fastByID, merchantID, id, nil)
	} else {
		c, err = scanCustomer(s.findByID.QueryRowContext(ctx, id, merchantID))
	}
	return c, mapError(err)
}

// FindCustomerByRef implements customerd.StoreReader.
func (s *Store) FindCustomerByRef(ctx context.Context, merchantID string, refIndex []byte) (c customerd.SealedCustomer, err error) {
	if s.fast != nil {
		c, err = s.readFast(ctx, fastByRef, merchantID, "", refIndex)
	} else {
		c, err = scanCustomer(s.findByRef.QueryRowContext(ctx, merchantID, refIndex))
	}
	return c, mapError(err)
}

func scanKey(r rowScanner) (customerd.APIKey, error) {
	var k customerd.APIKey
	var created int64
	var revoked sql.NullInt64
	err := r.Scan(&k.Prefix, &k.Hash, &k.MerchantID, &created, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return k, customerd.ErrNotFound
	}
	k.CreatedAt = time.Unix(created, 0).UTC()
	if revoked.Valid {
		k.RevokedAt = time.Unix(revoked.Int64, 0).UTC()
	}
	return k, err
}

// FindAPIKey implements customerd.StoreReader.
func (s *Store) FindAPIKey(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	k, err := scanKey(s.findKey.QueryRowContext(ctx, prefix))
	if err != nil {
		return nil, mapError(err)
	}
	return &k, nil
}

// collect reads every row of rows with scan.
func collect[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapError(err)
		}
		out = append(out, v)
	}
	return out, mapError(rows.Err())
}

// ListAPIKeys implements customerd.StoreReader.
func (s *Store) ListAPIKeys(ctx context.Context, merchantID string) ([]customerd.APIKey, error) {
	var exists bool
	if err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM merchants WHERE id = ?)`, merchantID).Scan(&exists); err != nil {
		return nil, mapError(err)
	}
	if !exists {
		return nil, customerd.ErrNotFound
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE merchant_id = ? ORDER BY created_at, rowid`, merchantID)
	return collect(rows, err, scanKey)
}

// ListMerchants implements customerd.StoreReader.
func (s *Store) ListMerchants(ctx context.Context) ([]customerd.Merchant, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, created_at FROM merchants ORDER BY id`)
	return collect(rows, err, func(r rowScanner) (customerd.Merchant, error) {
		var m customerd.Merchant
		var created int64
		err := r.Scan(&m.ID, &created)
		m.CreatedAt = time.Unix(created, 0).UTC()
		return m, err
	})
}

func scanWrap(r rowScanner) (customerd.WrappedKey, error) {
	var w customerd.WrappedKey
	err := r.Scan(&w.MerchantID, &w.Purpose, &w.Version, &w.MasterKeyID, &w.Wrapped)
	return w, err
}

// ListWrappedKeys implements customerd.StoreReader.
func (s *Store) ListWrappedKeys(ctx context.Context, merchantID string) ([]customerd.WrappedKey, error) {
	rows, err := s.listWraps.QueryContext(ctx, merchantID)
	return collect(rows, err, scanWrap)
}

// Write implements customerd.Store: fn runs on the writer goroutine, in a
// savepoint of the batch's transaction, which commits with its group.
func (s *Store) Write(ctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error {
	return mapError(s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if s.cur.tx != tx { // the first write of a new batch
			s.cur.begin(s, tx)
		}
		return fn(ctx, &s.cur)
	}))
}

// nullable stores an unset optional field (nil ciphertext) as NULL.
func nullable(v []byte) any {
	if v == nil {
		return nil
	}
	return v
}

// mapConstraint turns unique violations into customerd.ErrConflict and a
// missing merchant into customerd.ErrNotFound.
func mapConstraint(err error) error {
	switch resultCode(err) {
	case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return customerd.ErrConflict
	case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
		return customerd.ErrNotFound
	}
	return err
}
