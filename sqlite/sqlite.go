// Package sqlite is the embedded store of customerd, on the pure-Go driver
// modernc.org/sqlite. Writes go through one connection and are group-committed
// with synchronous=FULL, so an acknowledged write survives kill -9 and a power
// cut; reads use a pool of read-only connections in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"customerd"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// Store implements customerd.Store on one SQLite database file.
type Store struct {
	path   string
	wdb    *sql.DB // the single writer connection
	rdb    *sql.DB // read-only pool
	writer *writer

	findByID  *sql.Stmt
	findByRef *sql.Stmt
	findKey   *sql.Stmt
}

var _ customerd.Store = (*Store)(nil)

// Pragmas applied to every connection. synchronous=FULL makes each commit
// fsync the WAL before it returns: that is what makes an acknowledged write
// durable across a power cut (NORMAL would only survive a process crash).
const pragmas = "&_pragma=busy_timeout(10000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=cache_size(-8192)" // 8 MiB page cache per connection

func dsn(path string, extra string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path) + "?_txlock=immediate" + pragmas + extra
}

// Open opens (creating if needed, with mode 0600) the database at path and
// applies the embedded migrations.
func Open(ctx context.Context, path string) (*Store, error) {
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

	rdb, err := sql.Open("sqlite", dsn(path, "&_pragma=query_only(1)"))
	if err != nil {
		wdb.Close()
		return nil, err
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)

	s := &Store{path: path, wdb: wdb, rdb: rdb}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.writer = newWriter(wdb)
	return s, nil
}

const customerColumns = `id, merchant_id, object_reference_id, mobile_number, mobile_country_code,
	email_address, first_name, last_name, date_created, last_updated`

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
	s.findByID = prep(`SELECT ` + customerColumns + ` FROM customers WHERE id = ? AND merchant_id = ?`)
	s.findByRef = prep(`SELECT ` + customerColumns + ` FROM customers WHERE merchant_id = ? AND object_reference_id = ?`)
	s.findKey = prep(`SELECT prefix, hash, merchant_id, created_at, revoked_at FROM api_keys WHERE prefix = ?`)
	return err
}

func (s *Store) closeDBs() {
	for _, st := range []*sql.Stmt{s.findByID, s.findByRef, s.findKey} {
		if st != nil {
			st.Close()
		}
	}
	if s.rdb != nil {
		s.rdb.Close()
	}
	s.wdb.Close()
}

// Close commits queued writes and closes the database.
func (s *Store) Close() error {
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

func scanCustomer(r rowScanner) (*customerd.Customer, error) {
	var c customerd.Customer
	var email, first, last sql.NullString
	var created, updated int64
	err := r.Scan(&c.ID, &c.MerchantID, &c.ObjectReferenceID, &c.MobileNumber, &c.MobileCountryCode,
		&email, &first, &last, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, customerd.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.EmailAddress, c.FirstName, c.LastName = email.String, first.String, last.String
	c.DateCreated = time.Unix(created, 0).UTC()
	c.LastUpdated = time.Unix(updated, 0).UTC()
	return &c, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// looksLikeID reports whether s could be a generated customer id, to skip a
// pointless lookup by id for references.
func looksLikeID(s string) bool { return len(s) == 20 && strings.HasPrefix(s, "cst_") }

// FindCustomer implements customerd.CustomerStore.
func (s *Store) FindCustomer(ctx context.Context, merchantID, idOrRef string) (*customerd.Customer, error) {
	if looksLikeID(idOrRef) {
		c, err := scanCustomer(s.findByID.QueryRowContext(ctx, idOrRef, merchantID))
		if customerd.ErrorCode(err) != customerd.ENOTFOUND {
			return c, err
		}
	}
	return scanCustomer(s.findByRef.QueryRowContext(ctx, merchantID, idOrRef))
}

// CreateCustomer implements customerd.CustomerStore.
func (s *Store) CreateCustomer(ctx context.Context, c *customerd.Customer) error {
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO customers (`+customerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.MerchantID, c.ObjectReferenceID, c.MobileNumber, c.MobileCountryCode,
			nullable(c.EmailAddress), nullable(c.FirstName), nullable(c.LastName),
			c.DateCreated.Unix(), c.LastUpdated.Unix())
		return mapConstraint(err)
	})
}

// updateSQL writes only the columns whose flag is set: one statement serves
// every combination of fields. Writes are serialized by the writer, so there
// is no read-modify-write race.
const updateSQL = `UPDATE customers SET
	mobile_number       = CASE WHEN ?1 THEN ?2  ELSE mobile_number END,
	mobile_country_code = CASE WHEN ?3 THEN ?4  ELSE mobile_country_code END,
	email_address       = CASE WHEN ?5 THEN ?6  ELSE email_address END,
	first_name          = CASE WHEN ?7 THEN ?8  ELSE first_name END,
	last_name           = CASE WHEN ?9 THEN ?10 ELSE last_name END,
	last_updated        = MAX(last_updated, ?11)
	WHERE merchant_id = ?12 AND `

// UpdateCustomer implements customerd.CustomerStore.
func (s *Store) UpdateCustomer(ctx context.Context, merchantID, idOrRef string, p customerd.Patch, now time.Time) (*customerd.Customer, error) {
	if p.IsEmpty() {
		return s.FindCustomer(ctx, merchantID, idOrRef)
	}
	args := []any{
		p.MobileNumber.Set, p.MobileNumber.Value,
		p.MobileCountryCode.Set, p.MobileCountryCode.Value,
		p.EmailAddress.Set, nullable(p.EmailAddress.Value),
		p.FirstName.Set, nullable(p.FirstName.Value),
		p.LastName.Set, nullable(p.LastName.Value),
		customerd.Timestamp(now).Unix(), merchantID, idOrRef,
	}
	var out *customerd.Customer
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if looksLikeID(idOrRef) {
			out, err = scanCustomer(tx.QueryRowContext(ctx, updateSQL+`id = ?13 RETURNING `+customerColumns, args...))
			if customerd.ErrorCode(err) != customerd.ENOTFOUND {
				return err
			}
		}
		out, err = scanCustomer(tx.QueryRowContext(ctx, updateSQL+`object_reference_id = ?13 RETURNING `+customerColumns, args...))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
func (s *Store) CreateMerchant(ctx context.Context, m customerd.Merchant) error {
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, created_at) VALUES (?, ?)`, m.ID, m.CreatedAt.Unix())
		return mapConstraint(err)
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
