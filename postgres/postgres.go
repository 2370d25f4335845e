// Package postgres is the store of customerd for running many nodes on one
// database, on github.com/jackc/pgx/v5 with its connection pool. It persists
// sealed records (customerd.Store) and nothing else.
//
// Nodes keep no state of their own: every read and write goes to the
// database, so what one node writes the next node reads at once. The SQL is
// kept to what distributed engines on the PostgreSQL wire (CockroachDB,
// YugabyteDB) also run: ids come from the application, there are no
// sequences, advisory locks or LISTEN/NOTIFY, and every write transaction is
// retried on serialization failures and deadlocks, so the store is correct at
// SERIALIZABLE isolation as well as at READ COMMITTED.
//
// Every call is bounded in time. When the database cannot be reached, calls
// fail within a few seconds with customerd.Unavailable, and the pool connects
// afresh once the database is back.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"customerd"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults for Options fields left zero.
const (
	// DefaultConnectTimeout bounds one connection attempt, unless the URL sets
	// connect_timeout.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultOpTimeout bounds one store call, retries included. A request's
	// calls together are bounded by the HTTP layer's own deadline (4.5 s),
	// so a request is answered within 5 s however the database fails.
	DefaultOpTimeout = 3 * time.Second
)

// DefaultMaxConns is the pool size used when none is given: 16, or two
// connections per CPU the process may use where that is more. A node spends
// most of an update waiting on PostgreSQL's WAL flush, which the
// transactions in flight share: with 64 clients, 4 connections reached 0.4
// of the rate 64 connections of pgbench reach, and 16 about 0.6 (see
// BENCHMARKS.md). Sixteen per node, with the 4 of the webhook deliveries,
// keeps four nodes, and the CLI, under PostgreSQL's default max_connections
// of 100.
func DefaultMaxConns() int { return max(16, 2*runtime.GOMAXPROCS(0)) }

// Options tune a Store. The zero value uses the defaults.
type Options struct {
	// MaxConns is the size of the connection pool. Zero keeps pool_max_conns
	// from the URL, or pgxpool's default when the URL has none.
	MaxConns int
	// OpTimeout bounds each store call; zero means DefaultOpTimeout.
	OpTimeout time.Duration
}

// Store implements customerd.Store on a PostgreSQL database.
type Store struct {
	pool      *pgxpool.Pool
	opTimeout time.Duration
	retries   atomic.Int64 // transactions run again after a serialization failure or deadlock
	applied   []string     // the migrations Open applied
}

var _ customerd.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// or postgresql:// URL,
// or a key=value connection string) and applies the embedded migrations.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(min(opts.MaxConns, 1<<30))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	s := &Store{opTimeout: opts.OpTimeout}
	if s.opTimeout <= 0 {
		s.opTimeout = DefaultOpTimeout
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if s.applied, err = migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrations returns the names of the migrations that Open applied (none
// when the schema was current, or another node applied them) and the schema
// version the database is at.
func (s *Store) Migrations() (applied []string, version int) { return s.applied, latestVersion() }

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers and that its schema is current.
func (s *Store) Ping(ctx context.Context) error {
	var v int32
	err := s.read(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	})
	if err != nil {
		return err
	}
	if want := latestVersion(); int(v) < want {
		return fmt.Errorf("postgres: schema version %d, want %d", v, want)
	}
	return nil
}

// read runs a query under the call deadline. Reads are retried after a lost
// connection too: running them again changes nothing.
func (s *Store) read(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, idempotent bool, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	defer cancel()
	n, err := retry(ctx, idempotent, func() error { return fn(ctx) })
	if n > 0 {
		s.retries.Add(int64(n))
	}
	return mapError(err)
}

// Write implements customerd.Store: fn runs in one transaction, which is run
// again from the start after a serialization failure or a deadlock.
func (s *Store) Write(ctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error {
	return s.run(ctx, false, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, txn{tx}) })
	})
}

// storable reports whether s can be compared with a TEXT column at all.
// PostgreSQL rejects invalid UTF-8 and NUL bytes in text; such a lookup key
// (a percent-decoded path segment, say) matches no row.
func storable(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

const customerColumns = `id, merchant_id, key_version, ref_index, object_reference_id, mobile_number,
	mobile_country_code, email_address, first_name, last_name, date_created, last_updated, version,
	mobile_index, email_index`

func scanCustomer(r pgx.Row) (customerd.SealedCustomer, error) {
	var c customerd.SealedCustomer
	var version int32
	err := r.Scan(&c.ID, &c.MerchantID, &version, &c.RefIndex, &c.ObjectReferenceID, &c.MobileNumber,
		&c.MobileCountryCode, &c.EmailAddress, &c.FirstName, &c.LastName, &c.DateCreated, &c.LastUpdated, &c.Version,
		&c.MobileIndex, &c.EmailIndex)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, customerd.ErrNotFound
	}
	c.KeyVersion = uint32(version)
	c.DateCreated, c.LastUpdated = c.DateCreated.UTC(), c.LastUpdated.UTC()
	return c, err
}

// queryRow reads one row with scan under the call deadline.
func queryRow[T any](s *Store, ctx context.Context, scan func(pgx.Row) (T, error), q string, args ...any) (T, error) {
	var out T
	err := s.read(ctx, func(ctx context.Context) error {
		var err error
		out, err = scan(s.pool.QueryRow(ctx, q, args...))
		return err
	})
	return out, err
}

// queryRows reads every row with scan under the call deadline.
func queryRows[T any](s *Store, ctx context.Context, scan func(pgx.Row) (T, error), q string, args ...any) ([]T, error) {
	var out []T
	err := s.read(ctx, func(ctx context.Context) error {
		var err error
		rows, err := s.pool.Query(ctx, q, args...)
		out, err = collect(rows, err, scan)
		return err
	})
	return out, err
}

// collect reads every row of a query with scan.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// FindCustomer implements customerd.StoreReader.
func (s *Store) FindCustomer(ctx context.Context, merchantID, id string) (customerd.SealedCustomer, error) {
	if !storable(merchantID, id) {
		return customerd.SealedCustomer{}, customerd.ErrNotFound
	}
	return queryRow(s, ctx, scanCustomer, `SELECT `+customerColumns+` FROM customers
		WHERE merchant_id = $1 AND id = $2 AND erased_at IS NULL`, merchantID, id)
}

// FindCustomerByRef implements customerd.StoreReader.
func (s *Store) FindCustomerByRef(ctx context.Context, merchantID string, refIndex []byte) (customerd.SealedCustomer, error) {
	if !storable(merchantID) {
		return customerd.SealedCustomer{}, customerd.ErrNotFound
	}
	return queryRow(s, ctx, scanCustomer, `SELECT `+customerColumns+` FROM customers WHERE merchant_id = $1 AND ref_index = $2`,
		merchantID, refIndex)
}

const keyColumns = `prefix, hash, merchant_id, created_at, revoked_at`

func scanKey(row pgx.Row) (customerd.APIKey, error) {
	var k customerd.APIKey
	var revoked *time.Time
	err := row.Scan(&k.Prefix, &k.Hash, &k.MerchantID, &k.CreatedAt, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, customerd.ErrNotFound
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if revoked != nil {
		k.RevokedAt = revoked.UTC()
	}
	return k, err
}

// FindAPIKey implements customerd.StoreReader. Keys are read from the
// database on every call, never cached here.
func (s *Store) FindAPIKey(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	if !storable(prefix) {
		return nil, customerd.ErrNotFound
	}
	k, err := queryRow(s, ctx, scanKey, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = $1`, prefix)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys implements customerd.StoreReader.
func (s *Store) ListAPIKeys(ctx context.Context, merchantID string) ([]customerd.APIKey, error) {
	if !storable(merchantID) {
		return nil, customerd.ErrNotFound
	}
	exists, err := queryRow(s, ctx, scanOne[bool], `SELECT EXISTS (SELECT 1 FROM merchants WHERE id = $1)`, merchantID)
	if err != nil || !exists {
		if err == nil {
			err = customerd.ErrNotFound
		}
		return nil, err
	}
	return queryRows(s, ctx, scanKey, `SELECT `+keyColumns+` FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, prefix`, merchantID)
}

// scanOne reads a row of one column.
func scanOne[T any](r pgx.Row) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}

// ListMerchants implements customerd.StoreReader.
func (s *Store) ListMerchants(ctx context.Context) ([]customerd.Merchant, error) {
	return queryRows(s, ctx, func(r pgx.Row) (customerd.Merchant, error) {
		var m customerd.Merchant
		err := r.Scan(&m.ID, &m.CreatedAt)
		m.CreatedAt = m.CreatedAt.UTC()
		return m, err
	}, `SELECT id, created_at FROM merchants ORDER BY id`)
}

// qWraps lists one merchant's wrapped keys, or every merchant's for ”.
const qWraps = `SELECT merchant_id, purpose, version, master_key_id, wrapped FROM merchant_keys
	WHERE $1 = '' OR merchant_id = $1 ORDER BY merchant_id, purpose, version, master_key_id`

func scanWrap(r pgx.Row) (customerd.WrappedKey, error) {
	var w customerd.WrappedKey
	var version int32
	err := r.Scan(&w.MerchantID, &w.Purpose, &version, &w.MasterKeyID, &w.Wrapped)
	w.Version = uint32(version)
	return w, err
}

// ListWrappedKeys implements customerd.StoreReader.
func (s *Store) ListWrappedKeys(ctx context.Context, merchantID string) ([]customerd.WrappedKey, error) {
	if !storable(merchantID) {
		return nil, nil
	}
	return queryRows(s, ctx, scanWrap, qWraps, merchantID)
}
