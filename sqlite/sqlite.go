// Package sqlite is the embedded store of customerd, on the pure-Go driver
// modernc.org/sqlite. Writes go through one connection and are group-committed
// with synchronous=FULL, so an acknowledged write survives kill -9 and a power
// cut; reads use a pool of read-only connections in WAL mode. Customers'
// personal fields are stored encrypted (package fieldcrypt), and
// secure_delete overwrites whatever a write frees, so no plaintext lingers in
// the file.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/sqlite/internal/rawsqlite"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// Store implements customerd.Store on one SQLite database file.
type Store struct {
	path   string
	wdb    *sql.DB // the single writer connection
	rdb    *sql.DB // read-only pool
	fast   *rawsqlite.Pool
	writer *writer

	findByID  *sql.Stmt
	findByRef *sql.Stmt
	findKey   *sql.Stmt
	findWraps *sql.Stmt

	// on the writer connection
	activeVersion, insertCustomer, resolveID, resolveRef, updateCustomer *sql.Stmt

	// txVersions remembers, for the write transaction in progress, the
	// newest data-key version of each merchant it has used (see
	// writeKeyring). Only the writer goroutine uses it.
	txVersions struct {
		tx *sql.Tx
		m  map[string]uint32
	}

	vault *fieldcrypt.Vault
	// plaintextDone is set once customers_plaintext (rows of versions before
	// encryption) has been emptied and dropped; nothing ever adds rows to it.
	plaintextDone atomic.Bool

	onBackgroundError func(error)
	stopBackground    context.CancelFunc
	background        sync.WaitGroup
}

var _ customerd.Store = (*Store)(nil)

// Pragmas applied to every connection. synchronous=FULL makes each commit
// fsync the WAL before it returns: that is what makes an acknowledged write
// durable across a power cut (NORMAL would only survive a process crash).
const pragmas = "&_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=secure_delete(1)" + // freed space is zeroed: no stale plaintext or ciphertext
	"&_pragma=cache_size(-2048)" // see pageCacheNote

// pageCacheNote: each connection (the writer and every reader) has its own
// page cache of 2 MiB of pages. The allocator under modernc.org/sqlite
// rounds each 4 KiB page plus its header up to 8 KiB, so a cache costs about
// twice its nominal size in RSS. With 8 MiB caches the server's RSS was
// 100 MiB at a million customers for the same throughput; the OS page cache
// serves the database's pages either way.

func dsn(path string, extra string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path) + "?_txlock=immediate" + pragmas + extra
}

// Option configures Open.
type Option func(*options)

type options struct {
	vault             *fieldcrypt.Vault
	onKeyCreated      func(path string)
	noBackground      bool
	migrationBatch    int
	onBackgroundError func(error)
	databaseSQLOnly   bool // no rawsqlite: the fallback path, for tests
}

// NoBackground keeps Open from starting the background work (encrypting
// rows left in plaintext by earlier versions, finishing a data-key
// rotation). Short-lived commands use it: the server does that work, and a
// command's own copy would race with what the command itself does.
func NoBackground() Option { return func(o *options) { o.noBackground = true } }

// WithVault makes the store encrypt with the vault's master keys. Without
// it, Open uses the key file beside the database (see Open).
func WithVault(v *fieldcrypt.Vault) Option { return func(o *options) { o.vault = v } }

// OnKeyFileCreated registers fn to be called with the path of the key file
// when Open had to create one, so that the caller can warn about it.
func OnKeyFileCreated(fn func(path string)) Option { return func(o *options) { o.onKeyCreated = fn } }

// KeyFilePath is the default master key file of the database at dbPath.
func KeyFilePath(dbPath string) string { return dbPath + ".key" }

// PreviousKeyFilePath is where a rotation of the default key file keeps the
// old master key until the rotation is retired; while it exists, Open
// without WithVault accepts that key too and wraps new keys under both.
func PreviousKeyFilePath(dbPath string) string { return dbPath + ".key.old" }

// Open opens (creating if needed, with mode 0600) the database at path and
// applies the embedded migrations.
//
// Without WithVault, the master key is read from KeyFilePath(path) (and the
// old one from PreviousKeyFilePath(path), if present); when
// that file does not exist and the database holds no keys yet, a new key is
// generated into it (mode 0600). A database that holds keys but whose key
// file is missing is an error, never a new key.
//
// Rows left in plaintext by earlier versions are encrypted in the
// background, in batches, while the store serves them.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{migrationBatch: 256}
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

	wdb, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	vault := o.vault
	if vault == nil {
		if vault, err = defaultVault(ctx, wdb, path, o.onKeyCreated); err != nil {
			wdb.Close()
			return nil, err
		}
	}
	if err := prepareKeys(ctx, wdb, vault); err != nil {
		wdb.Close()
		return nil, err
	}

	rdb, err := sql.Open("sqlite", dsn(path, "&_pragma=query_only(1)"))
	if err != nil {
		wdb.Close()
		return nil, err
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	if !o.databaseSQLOnly {
		// The lookups of every GET use the fast pool below; this one
		// serves the rarer reads (key-cache misses, keyrings, health
		// checks, lookups while plaintext rows remain), so it keeps
		// fewer idle connections, each with its page cache.
		rdb.SetMaxIdleConns(2)
	}
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)

	s := &Store{path: path, wdb: wdb, rdb: rdb, vault: vault, onBackgroundError: o.onBackgroundError}
	// The reads of every GET bypass database/sql: see package rawsqlite.
	if !o.databaseSQLOnly {
		if s.fast, err = openFastReads(path, readers); err != nil {
			s.closeDBs()
			return nil, err
		}
	}
	if err := s.checkPlaintext(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	rawWrites := []string{rawUpdateSQL: updateSQL}
	if o.databaseSQLOnly {
		rawWrites = nil
	}
	var afterCommit func()
	if s.fast != nil {
		afterCommit = s.fast.CheckpointAhead
	}
	if s.writer, err = newWriter(ctx, wdb, afterCommit, rawWrites...); err != nil {
		s.closeDBs()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	if !o.noBackground {
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			s.backgroundWork(bg, o.migrationBatch)
		}()
	}
	return s, nil
}

const customerColumns = `id, merchant_id, key_version, ref_index, object_reference_id, mobile_number,
	mobile_country_code, email_address, first_name, last_name, date_created, last_updated`

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.rdb.PrepareContext(ctx, q)
		return st
	}
	s.findByID = prep(qByID)
	s.findByRef = prep(qByRef)
	s.findKey = prep(`SELECT prefix, hash, merchant_id, created_at, revoked_at FROM api_keys WHERE prefix = ?`)
	s.findWraps = prep(selectWraps)
	if err != nil {
		return err
	}
	// Statements every write runs, prepared once on the writer connection:
	// preparing costs more CPU than running them.
	wprep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.wdb.PrepareContext(ctx, q)
		return st
	}
	s.activeVersion = wprep(qActiveVersion)
	s.insertCustomer = wprep(qInsertCustomer)
	s.resolveID = wprep(`SELECT id FROM customers WHERE id = ? AND merchant_id = ?`)
	s.resolveRef = wprep(`SELECT id FROM customers WHERE merchant_id = ? AND ref_index = ?`)
	s.updateCustomer = wprep(updateSQL)
	return err
}

func (s *Store) closeDBs() {
	for _, st := range []*sql.Stmt{s.findByID, s.findByRef, s.findKey, s.findWraps,
		s.activeVersion, s.insertCustomer, s.resolveID, s.resolveRef, s.updateCustomer} {
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

// Close stops the background re-encryption, commits queued writes and
// closes the database.
func (s *Store) Close() error {
	s.stopBackground()
	s.background.Wait()
	s.writer.close()
	s.closeDBs()
	return nil
}

// Ping checks that the database answers and that its schema is current.
func (s *Store) Ping(ctx context.Context) error {
	var v int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return err
	}
	if want := latestVersion(); v < want {
		return fmt.Errorf("sqlite: schema version %d, want %d", v, want)
	}
	return nil
}

// DBStats returns the statistics of the two connection pools: "write", the
// single writer connection, and "read", the read-only pool. The metrics
// package exports them.
func (s *Store) DBStats() map[string]sql.DBStats {
	return map[string]sql.DBStats{"write": s.wdb.Stats(), "read": s.rdb.Stats()}
}

type rowScanner interface{ Scan(dest ...any) error }

// scanCustomer reads a row of customerColumns: the customer with its
// personal fields still sealed.
func scanCustomer(r rowScanner) (*customerd.Customer, fieldcrypt.SealedCustomer, error) {
	var c customerd.Customer
	var sc fieldcrypt.SealedCustomer
	var created, updated int64
	err := r.Scan(&c.ID, &c.MerchantID, &sc.KeyVersion, &sc.RefIndex, &sc.ObjectReferenceID, &sc.MobileNumber,
		&c.MobileCountryCode, &sc.EmailAddress, &sc.FirstName, &sc.LastName, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sc, customerd.ErrNotFound
	}
	if err != nil {
		return nil, sc, err
	}
	c.DateCreated = time.Unix(created, 0).UTC()
	c.LastUpdated = time.Unix(updated, 0).UTC()
	return &c, sc, nil
}

// readCustomer scans a row and opens its sealed fields.
func (s *Store) readCustomer(ctx context.Context, q queryer, r rowScanner) (*customerd.Customer, error) {
	c, sc, err := scanCustomer(r)
	if err != nil {
		return nil, err
	}
	if err := s.openCustomer(ctx, q, c, sc); err != nil {
		return nil, err
	}
	return c, nil
}

// nullable stores an unset optional field (or its nil ciphertext) as NULL.
func nullable[T string | []byte](v T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

// looksLikeID reports whether s could be a generated customer id, to skip a
// pointless lookup by id for references.
func looksLikeID(s string) bool { return len(s) == 20 && strings.HasPrefix(s, "cst_") }

// FindCustomer implements customerd.CustomerStore.
func (s *Store) FindCustomer(ctx context.Context, merchantID, idOrRef string) (*customerd.Customer, error) {
	if !s.plaintextDone.Load() {
		// While plaintext rows are being moved, look in both tables in one
		// snapshot, so that a row moving between them is not missed.
		tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		c, err := s.findCustomer(ctx, txReader{tx}, merchantID, idOrRef, true)
		if !s.plaintextGone(err) {
			return c, err
		}
	}
	if s.fast == nil {
		return s.findCustomer(ctx, poolReader{s}, merchantID, idOrRef, false)
	}
	return s.findFast(ctx, merchantID, idOrRef)
}

// findCustomer looks for an id match first, then a reference match, in the
// encrypted table and, when withPlaintext, in customers_plaintext.
func (s *Store) findCustomer(ctx context.Context, q queryer, merchantID, idOrRef string, withPlaintext bool) (*customerd.Customer, error) {
	if looksLikeID(idOrRef) {
		c, err := s.readCustomer(ctx, q, q.byID(ctx, idOrRef, merchantID))
		if customerd.ErrorCode(err) != customerd.ENOTFOUND {
			return c, err
		}
		if withPlaintext {
			c, err := scanPlaintext(q.QueryRowContext(ctx, `SELECT `+plaintextColumns+
				` FROM customers_plaintext WHERE id = ? AND merchant_id = ?`, idOrRef, merchantID))
			if customerd.ErrorCode(err) != customerd.ENOTFOUND {
				return c, err
			}
		}
	}
	ring, err := s.keyring(ctx, q, merchantID)
	if err != nil {
		return nil, err
	}
	if ring != nil {
		c, err := s.readCustomer(ctx, q, q.byRef(ctx, merchantID, ring.BlindIndex(idOrRef)))
		if customerd.ErrorCode(err) != customerd.ENOTFOUND {
			return c, err
		}
	}
	if withPlaintext {
		return scanPlaintext(q.QueryRowContext(ctx, `SELECT `+plaintextColumns+
			` FROM customers_plaintext WHERE merchant_id = ? AND object_reference_id = ?`, merchantID, idOrRef))
	}
	return nil, customerd.ErrNotFound
}

// CreateCustomer implements customerd.CustomerStore.
func (s *Store) CreateCustomer(ctx context.Context, c *customerd.Customer) error {
	// Seal before queueing, so that the serialized writer only checks that
	// the data key used is still the newest (it almost always is).
	var sealed *fieldcrypt.SealedCustomer
	if ring := s.vault.Cached(c.MerchantID); ring != nil {
		sc, err := ring.SealCustomer(c)
		if err != nil {
			return err
		}
		sealed = &sc
	}
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.createInTx(ctx, tx, c, sealed)
	})
}

// createInTx inserts c in the write transaction tx, sealed with the
// merchant's newest data key (sealed, when given and still current, is used
// as it is).
func (s *Store) createInTx(ctx context.Context, tx *sql.Tx, c *customerd.Customer, sealed *fieldcrypt.SealedCustomer) error {
	ring, err := s.writeKeyring(ctx, tx, c.MerchantID)
	if err != nil {
		return err
	}
	if !s.plaintextDone.Load() {
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM customers_plaintext
			WHERE merchant_id = ? AND object_reference_id = ?)`, c.MerchantID, c.ObjectReferenceID).Scan(&taken); err != nil && !s.plaintextGone(err) {
			return err
		}
		if taken {
			return customerd.ErrConflict
		}
	}
	if sealed == nil || sealed.KeyVersion != ring.Active() {
		sc, err := ring.SealCustomer(c)
		if err != nil {
			return err
		}
		sealed = &sc
	}
	return s.insertSealed(ctx, tx, c, *sealed)
}

// InsertCustomers inserts many customers in one durable transaction, for
// bulk loading (the load harness seeds with it); the API path uses
// CreateCustomer. A duplicate fails the whole batch with ErrConflict.
func (s *Store) InsertCustomers(ctx context.Context, cs []*customerd.Customer) error {
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, c := range cs {
			if err := s.createInTx(ctx, tx, c, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteStats returns the group-commit counters of the store's writer.
func (s *Store) WriteStats() WriteStats { return s.writer.stats() }

// insertSealed inserts the row of c, whose personal fields are sealed in sc.
func (s *Store) insertSealed(ctx context.Context, tx *sql.Tx, c *customerd.Customer, sc fieldcrypt.SealedCustomer) error {
	_, err := tx.StmtContext(ctx, s.insertCustomer).ExecContext(ctx,
		c.ID, c.MerchantID, sc.KeyVersion, sc.RefIndex, sc.ObjectReferenceID, sc.MobileNumber,
		c.MobileCountryCode, nullable(sc.EmailAddress), nullable(sc.FirstName), nullable(sc.LastName),
		c.DateCreated.Unix(), c.LastUpdated.Unix())
	return mapConstraint(err)
}

// updateSQL writes only the columns whose flag is set: one statement serves
// every combination of fields. Writes are serialized by the writer, so there
// is no read-modify-write race. New values are sealed under the active data
// key, which is never older than the row's key_version, so key_version stays
// a lower bound of the versions in the row.
const updateSQL = `UPDATE customers SET
	mobile_number       = CASE WHEN ?1 THEN ?2  ELSE mobile_number END,
	mobile_country_code = CASE WHEN ?3 THEN ?4  ELSE mobile_country_code END,
	email_address       = CASE WHEN ?5 THEN ?6  ELSE email_address END,
	first_name          = CASE WHEN ?7 THEN ?8  ELSE first_name END,
	last_name           = CASE WHEN ?9 THEN ?10 ELSE last_name END,
	last_updated        = MAX(last_updated, ?11)
	WHERE merchant_id = ?12 AND id = ?13 RETURNING ` + customerColumns

// UpdateCustomer implements customerd.CustomerStore.
//
// The writer goroutine is the one serial stage of every write, so the patch
// is sealed before it is queued when that needs no transaction (the
// merchant's keyring is cached and the argument looks like an id: the
// common case). The updated row is still opened inside the transaction, so
// that an update whose row cannot be read back is rolled back rather than
// committed and reported as failed.
func (s *Store) UpdateCustomer(ctx context.Context, merchantID, idOrRef string, p customerd.Patch, now time.Time) (*customerd.Customer, error) {
	if p.IsEmpty() {
		return s.FindCustomer(ctx, merchantID, idOrRef)
	}
	byID := looksLikeID(idOrRef)
	var early *sealedPatch
	if ring := s.vault.Cached(merchantID); ring != nil && byID {
		v, err := sealPatch(ring, idOrRef, p)
		if err != nil {
			return nil, err
		}
		early = &v
	}
	var out *customerd.Customer
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ring, err := s.writeKeyring(ctx, tx, merchantID)
		if err != nil {
			return err
		}
		// The customer id is part of every field's associated data, so it
		// must be known before sealing. Something shaped like an id is
		// first tried as one by the update itself, which matches no row
		// when there is no such id: the common case costs no separate
		// lookup, and a reference that looks like an id is resolved below
		// as before.
		if byID {
			v := early
			if v == nil || v.version != ring.Active() { // sealed under a key rotated since
				sv, err := sealPatch(ring, idOrRef, p)
				if err != nil {
					return err
				}
				v = &sv
			}
			out, err = s.updateInTx(ctx, tx, merchantID, idOrRef, p, *v, now)
			if customerd.ErrorCode(err) != customerd.ENOTFOUND {
				return err
			}
		}
		id, err := s.resolveForWrite(ctx, tx, ring, merchantID, idOrRef)
		if err != nil {
			return err
		}
		v, err := sealPatch(ring, id, p)
		if err != nil {
			return err
		}
		out, err = s.updateInTx(ctx, tx, merchantID, id, p, v, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sealedPatch holds the personal fields of a patch sealed for one customer
// under data-key version; a field the patch leaves alone is nil.
type sealedPatch struct {
	version                    uint32
	mobile, email, first, last any
}

func sealPatch(ring *fieldcrypt.Keyring, id string, p customerd.Patch) (sealedPatch, error) {
	v := sealedPatch{version: ring.Active()}
	for _, f := range []struct {
		field string
		v     customerd.Value
		dst   *any
	}{
		{customerd.FieldMobileNumber, p.MobileNumber, &v.mobile},
		{customerd.FieldEmailAddress, p.EmailAddress, &v.email},
		{customerd.FieldFirstName, p.FirstName, &v.first},
		{customerd.FieldLastName, p.LastName, &v.last},
	} {
		if !f.v.Set {
			continue
		}
		b, err := ring.SealField(id, f.field, f.v.Value)
		if err != nil {
			return sealedPatch{}, err
		}
		*f.dst = nullable(b)
	}
	return v, nil
}

// updateInTx applies p, sealed as v, to the customer id of merchantID in the
// write transaction tx and returns the customer as updated; ErrNotFound when
// there is no such row, in which case nothing was written.
func (s *Store) updateInTx(ctx context.Context, tx *sql.Tx, merchantID, id string, p customerd.Patch, v sealedPatch, now time.Time) (*customerd.Customer, error) {
	if raw := s.writer.raw; raw != nil {
		return s.updateRaw(ctx, tx, raw.Stmt(rawStoreQueries+rawUpdateSQL), merchantID, id, p, v, now)
	}
	return s.readCustomer(ctx, txReader{tx}, tx.StmtContext(ctx, s.updateCustomer).QueryRowContext(ctx,
		p.MobileNumber.Set, v.mobile,
		p.MobileCountryCode.Set, p.MobileCountryCode.Value,
		p.EmailAddress.Set, v.email,
		p.FirstName.Set, v.first,
		p.LastName.Set, v.last,
		customerd.Timestamp(now).Unix(), merchantID, id))
}

// rawUpdateSQL is the index of updateSQL among the writer's raw statements.
const rawUpdateSQL = 0

// updateRaw runs updateSQL on the writer's connection without database/sql
// (see newWriter), with the arguments updateInTx prepared: the same
// statement, in the same transaction.
func (s *Store) updateRaw(ctx context.Context, tx *sql.Tx, st *rawsqlite.Stmt, merchantID, id string, p customerd.Patch,
	v sealedPatch, now time.Time) (*customerd.Customer, error) {
	defer st.Reset()
	bindSealed := func(i int, v any) error {
		if b, ok := v.([]byte); ok {
			return st.BindBlob(i, b)
		}
		return st.BindNull(i)
	}
	for _, err := range []error{
		st.BindBool(1, p.MobileNumber.Set), bindSealed(2, v.mobile),
		st.BindBool(3, p.MobileCountryCode.Set), st.BindText(4, p.MobileCountryCode.Value),
		st.BindBool(5, p.EmailAddress.Set), bindSealed(6, v.email),
		st.BindBool(7, p.FirstName.Set), bindSealed(8, v.first),
		st.BindBool(9, p.LastName.Set), bindSealed(10, v.last),
		st.BindInt64(11, customerd.Timestamp(now).Unix()), st.BindText(12, merchantID), st.BindText(13, id),
	} {
		if err != nil {
			return nil, err
		}
	}
	c, sc, err := scanRow(ctx, st, merchantID, id)
	st.Reset()
	if err != nil {
		return nil, err
	}
	if err := s.openCustomer(ctx, txReader{tx}, c, sc); err != nil {
		return nil, err
	}
	return c, nil
}

// mapConstraint turns unique violations into customerd.ErrConflict.
func mapConstraint(err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return customerd.ErrConflict
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return customerd.ErrNotFound
		}
	}
	return err
}

// CreateMerchant implements customerd.MerchantStore.
// The merchant's keys are created with it, in the same transaction.
func (s *Store) CreateMerchant(ctx context.Context, m customerd.Merchant) error {
	wraps, err := s.vault.NewMerchantKeys(m.ID)
	if err != nil {
		return err
	}
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, created_at) VALUES (?, ?)`, m.ID, m.CreatedAt.Unix())
		if err != nil {
			return mapConstraint(err)
		}
		return insertWraps(ctx, tx, wraps)
	})
}

// CountMerchants implements customerd.MerchantStore.
func (s *Store) CountMerchants(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants`).Scan(&n)
	return n, err
}

// CreateAPIKey implements customerd.MerchantStore.
func (s *Store) CreateAPIKey(ctx context.Context, k customerd.APIKey) error {
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (prefix, hash, merchant_id, created_at) VALUES (?, ?, ?, ?)`,
			k.Prefix, k.Hash, k.MerchantID, k.CreatedAt.Unix())
		return mapConstraint(err)
	})
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

// FindAPIKey implements customerd.MerchantStore.
func (s *Store) FindAPIKey(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	k, err := scanKey(s.findKey.QueryRowContext(ctx, prefix))
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys implements customerd.MerchantStore.
func (s *Store) ListAPIKeys(ctx context.Context, merchantID string) ([]customerd.APIKey, error) {
	var exists int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchants WHERE id = ?`, merchantID).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, customerd.ErrNotFound
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT prefix, hash, merchant_id, created_at, revoked_at FROM api_keys
		WHERE merchant_id = ? ORDER BY created_at, rowid`, merchantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []customerd.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// RevokeAPIKey implements customerd.MerchantStore.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, now time.Time) error {
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE prefix = ?`, now.Unix(), prefix)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return customerd.ErrNotFound
		}
		return nil
	})
}
