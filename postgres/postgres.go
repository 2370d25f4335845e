// Package postgres is the store of customerd for running many nodes on one
// database, on github.com/jackc/pgx/v5 with its connection pool.
//
// Nodes keep no state of their own: every read and write goes to the
// database, so what one node writes the next node reads at once. The SQL is
// kept to what distributed engines on the PostgreSQL wire (CockroachDB,
// YugabyteDB) also run: ids come from the application, there are no
// sequences, advisory locks or LISTEN/NOTIFY, and every write is one
// statement that is retried on serialization failures and deadlocks, so the
// store is correct at SERIALIZABLE isolation as well as at READ COMMITTED.
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
	// DefaultOpTimeout bounds one store call, retries included. A request
	// makes at most two calls (the key, then the customer), and when the
	// database hangs the first one fails, so a request is answered within
	// 5 s however the database fails.
	DefaultOpTimeout = 3 * time.Second
)

// DefaultMaxConns is the pool size used when none is given: two connections
// per CPU the process may use, and at least four. Nodes mostly wait on the
// database, so a few more connections than CPUs keep them busy, while N nodes
// times this stays well under PostgreSQL's default max_connections of 100
// for small clusters.
func DefaultMaxConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

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
	if _, err := migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

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

// write runs one write transaction under the call deadline, retrying it on
// serialization failures and deadlocks.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.run(ctx, false, fn)
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

// storable reports whether s can be compared with a TEXT column at all.
// PostgreSQL rejects invalid UTF-8 and NUL bytes in text; such a lookup key
// (a percent-decoded path segment, say) matches no row.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

const customerColumns = `id, merchant_id, object_reference_id, mobile_number, mobile_country_code,
	email_address, first_name, last_name, date_created, last_updated`

// Lookups by "id or reference": the exact id wins over a reference equal to
// it. A key that cannot be a generated id is looked up as a reference only.
const (
	findByIDOrRef = `SELECT ` + customerColumns + ` FROM customers
		WHERE merchant_id = $1 AND (id = $2 OR object_reference_id = $2)
		ORDER BY id = $2 DESC LIMIT 1`
	findByRef = `SELECT ` + customerColumns + ` FROM customers
		WHERE merchant_id = $1 AND object_reference_id = $2`
)

func scanCustomer(row pgx.Row) (*customerd.Customer, error) {
	var c customerd.Customer
	var email, first, last *string
	err := row.Scan(&c.ID, &c.MerchantID, &c.ObjectReferenceID, &c.MobileNumber, &c.MobileCountryCode,
		&email, &first, &last, &c.DateCreated, &c.LastUpdated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, customerd.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.EmailAddress, c.FirstName, c.LastName = deref(email), deref(first), deref(last)
	c.DateCreated, c.LastUpdated = c.DateCreated.UTC(), c.LastUpdated.UTC()
	return &c, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nullable stores an unset optional field as NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// looksLikeID reports whether s could be a generated customer id, to skip a
// pointless lookup by id for references.
func looksLikeID(s string) bool { return len(s) == 20 && strings.HasPrefix(s, "cst_") }

// FindCustomer implements customerd.CustomerStore.
func (s *Store) FindCustomer(ctx context.Context, merchantID, idOrRef string) (*customerd.Customer, error) {
	if !storable(idOrRef) || !storable(merchantID) {
		return nil, customerd.ErrNotFound
	}
	query := findByRef
	if looksLikeID(idOrRef) {
		query = findByIDOrRef
	}
	var out *customerd.Customer
	err := s.read(ctx, func(ctx context.Context) error {
		var err error
		out, err = scanCustomer(s.pool.QueryRow(ctx, query, merchantID, idOrRef))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateCustomer implements customerd.CustomerStore. The unique constraint
// on (merchant_id, object_reference_id) decides races between nodes.
func (s *Store) CreateCustomer(ctx context.Context, c *customerd.Customer) error {
	return s.write(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO customers (`+customerColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			c.ID, c.MerchantID, c.ObjectReferenceID, c.MobileNumber, c.MobileCountryCode,
			nullable(c.EmailAddress), nullable(c.FirstName), nullable(c.LastName),
			c.DateCreated.UTC(), c.LastUpdated.UTC())
		return err
	})
}

// updateSet writes only the columns whose flag is set, so one statement
// serves every combination of fields, and two updates of different fields
// never undo each other: each reads the other's committed column values
// inside the UPDATE itself, not from an earlier read.
const updateSet = `UPDATE customers SET
	mobile_number       = CASE WHEN $1::boolean THEN $2::text  ELSE mobile_number END,
	mobile_country_code = CASE WHEN $3::boolean THEN $4::text  ELSE mobile_country_code END,
	email_address       = CASE WHEN $5::boolean THEN $6::text  ELSE email_address END,
	first_name          = CASE WHEN $7::boolean THEN $8::text  ELSE first_name END,
	last_name           = CASE WHEN $9::boolean THEN $10::text ELSE last_name END,
	last_updated        = GREATEST(last_updated, $11::timestamptz)
	WHERE `

const (
	updateByIDOrRef = updateSet + `id = (SELECT id FROM customers
		WHERE merchant_id = $12 AND (id = $13 OR object_reference_id = $13)
		ORDER BY id = $13 DESC LIMIT 1)
	RETURNING ` + customerColumns
	updateByRef = updateSet + `merchant_id = $12 AND object_reference_id = $13
	RETURNING ` + customerColumns
)

// UpdateCustomer implements customerd.CustomerStore.
func (s *Store) UpdateCustomer(ctx context.Context, merchantID, idOrRef string, p customerd.Patch, now time.Time) (*customerd.Customer, error) {
	if p.IsEmpty() {
		return s.FindCustomer(ctx, merchantID, idOrRef)
	}
	if !storable(idOrRef) || !storable(merchantID) {
		return nil, customerd.ErrNotFound
	}
	query := updateByRef
	if looksLikeID(idOrRef) {
		query = updateByIDOrRef
	}
	args := []any{
		p.MobileNumber.Set, p.MobileNumber.Value,
		p.MobileCountryCode.Set, p.MobileCountryCode.Value,
		p.EmailAddress.Set, nullable(p.EmailAddress.Value),
		p.FirstName.Set, nullable(p.FirstName.Value),
		p.LastName.Set, nullable(p.LastName.Value),
		customerd.Timestamp(now), merchantID, idOrRef,
	}
	var out *customerd.Customer
	err := s.write(ctx, func(ctx context.Context) error {
		var err error
		out, err = scanCustomer(s.pool.QueryRow(ctx, query, args...))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateMerchant implements customerd.MerchantStore.
func (s *Store) CreateMerchant(ctx context.Context, m customerd.Merchant) error {
	return s.write(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO merchants (id, created_at) VALUES ($1, $2)`, m.ID, m.CreatedAt.UTC())
		return err
	})
}

// CountMerchants implements customerd.MerchantStore.
func (s *Store) CountMerchants(ctx context.Context) (int, error) {
	var n int64
	err := s.read(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM merchants`).Scan(&n)
	})
	return int(n), err
}

// CreateAPIKey implements customerd.MerchantStore.
func (s *Store) CreateAPIKey(ctx context.Context, k customerd.APIKey) error {
	return s.write(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (prefix, hash, merchant_id, created_at) VALUES ($1, $2, $3, $4)`,
			k.Prefix, k.Hash, k.MerchantID, k.CreatedAt.UTC())
		return err
	})
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

// FindAPIKey implements customerd.MerchantStore. Keys are read from the
// database on every call, never cached, so a revocation made through any
// node (or the CLI) is in force on every node at once.
func (s *Store) FindAPIKey(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	if !storable(prefix) {
		return nil, customerd.ErrNotFound
	}
	var k customerd.APIKey
	err := s.read(ctx, func(ctx context.Context) error {
		var err error
		k, err = scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys implements customerd.MerchantStore.
func (s *Store) ListAPIKeys(ctx context.Context, merchantID string) ([]customerd.APIKey, error) {
	if !storable(merchantID) {
		return nil, customerd.ErrNotFound
	}
	var keys []customerd.APIKey
	err := s.read(ctx, func(ctx context.Context) error {
		keys = nil
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM merchants WHERE id = $1)`, merchantID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return customerd.ErrNotFound
		}
		rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys
			WHERE merchant_id = $1 ORDER BY created_at, prefix`, merchantID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// RevokeAPIKey implements customerd.MerchantStore.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string, now time.Time) error {
	if !storable(prefix) {
		return customerd.ErrNotFound
	}
	return s.write(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE prefix = $2`,
			now.UTC(), prefix)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return customerd.ErrNotFound
		}
		return nil
	})
}
