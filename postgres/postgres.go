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
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"customerd"
	"customerd/fieldcrypt"

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

// DefaultMaxConns is the pool size used when none is given: 16, or two
// connections per CPU the process may use where that is more. A node spends
// most of an update waiting on PostgreSQL's WAL flush, which the
// transactions in flight share: with 64 clients, 4 connections reached 0.4
// of the rate 64 connections of pgbench reach, and 16 about 0.6 (see
// BENCHMARKS.md). Sixteen per node keeps five nodes, and the CLI, under
// PostgreSQL's default max_connections of 100.
func DefaultMaxConns() int { return max(16, 2*runtime.GOMAXPROCS(0)) }

// Options tune a Store. The zero value uses the defaults.
type Options struct {
	// MaxConns is the size of the connection pool. Zero keeps pool_max_conns
	// from the URL, or pgxpool's default when the URL has none.
	MaxConns int
	// OpTimeout bounds each store call; zero means DefaultOpTimeout.
	OpTimeout time.Duration
	// Vault holds the master key(s) that encrypt customer data. Required:
	// every node of a deployment must be given the same master key.
	Vault *fieldcrypt.Vault
	// OnBackgroundError hears why the background encryption of rows left
	// in plaintext by earlier versions stopped; it resumes on the next Open.
	OnBackgroundError func(error)
	// NoBackground leaves the background work (encrypting plaintext rows,
	// finishing a data-key rotation) to other processes: short-lived
	// commands set it.
	NoBackground bool
}

// Store implements customerd.Store on a PostgreSQL database.
type Store struct {
	pool      *pgxpool.Pool
	opTimeout time.Duration
	retries   atomic.Int64 // transactions run again after a serialization failure or deadlock

	vault *fieldcrypt.Vault
	// plaintextDone is set once customers_plaintext (rows of versions before
	// encryption) has been emptied and dropped; nothing ever adds rows to it.
	plaintextDone     atomic.Bool
	onBackgroundError func(error)
	stopBackground    context.CancelFunc
	background        sync.WaitGroup
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
	if opts.Vault == nil {
		return nil, errors.New("postgres: a master key is required to encrypt customer data")
	}
	s := &Store{opTimeout: opts.OpTimeout, vault: opts.Vault, onBackgroundError: opts.OnBackgroundError}
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
	if err := s.prepareKeys(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	if !opts.NoBackground {
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			s.backgroundWork(bg, 256)
		}()
	}
	return s, nil
}

// Close stops the background re-encryption and closes every connection of
// the pool.
func (s *Store) Close() error {
	s.stopBackground()
	s.background.Wait()
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

const customerColumns = `id, merchant_id, key_version, ref_index, object_reference_id, mobile_number,
	mobile_country_code, email_address, first_name, last_name, date_created, last_updated`

// plaintextAsSealed reads a row of customers_plaintext (earlier versions) in
// the shape of customerColumns, its text as bytes, for one UNION with the
// encrypted table: one statement sees both tables in one snapshot, so a
// row moving between them is never missed.
const plaintextAsSealed = `id, merchant_id, 0, NULL::bytea, convert_to(object_reference_id, 'UTF8'),
	convert_to(mobile_number, 'UTF8'), mobile_country_code, convert_to(email_address, 'UTF8'),
	convert_to(first_name, 'UTF8'), convert_to(last_name, 'UTF8'), date_created, last_updated`

// Lookups by "id or reference": the exact id wins over a reference equal to
// it. A key that cannot be a generated id is looked up as a reference only.
// $1 is the merchant; then the id or reference and its blind index, or the
// blind index alone.
const (
	findByIDOrRef = `SELECT false, ` + customerColumns + ` FROM customers
		WHERE merchant_id = $1 AND (id = $2 OR ref_index = $3)
		ORDER BY id = $2 DESC LIMIT 1`
	findByRef = `SELECT false, ` + customerColumns + ` FROM customers
		WHERE merchant_id = $1 AND ref_index = $2`
	findByIDOrRefWithPlaintext = `SELECT * FROM (
		SELECT false AS plain, ` + customerColumns + ` FROM customers
			WHERE merchant_id = $1 AND (id = $2 OR ref_index = $3)
		UNION ALL
		SELECT true, ` + plaintextAsSealed + ` FROM customers_plaintext
			WHERE merchant_id = $1 AND (id = $2 OR object_reference_id = $2)
		) u ORDER BY id = $2 DESC LIMIT 1`
	findByRefWithPlaintext = `SELECT false, ` + customerColumns + ` FROM customers
			WHERE merchant_id = $1 AND ref_index = $3
		UNION ALL
		SELECT true, ` + plaintextAsSealed + ` FROM customers_plaintext
			WHERE merchant_id = $1 AND object_reference_id = $2
		LIMIT 1`
)

// row is a customer as read: plaintext (a row of an earlier version) or
// with its personal fields still sealed.
type row struct {
	c     *customerd.Customer
	sc    fieldcrypt.SealedCustomer
	plain bool
}

func scanRow(r pgx.Row) (row, error) {
	var c customerd.Customer
	var sc fieldcrypt.SealedCustomer
	var plain bool
	var version int32
	err := r.Scan(&plain, &c.ID, &c.MerchantID, &version, &sc.RefIndex, &sc.ObjectReferenceID, &sc.MobileNumber,
		&c.MobileCountryCode, &sc.EmailAddress, &sc.FirstName, &sc.LastName, &c.DateCreated, &c.LastUpdated)
	if errors.Is(err, pgx.ErrNoRows) {
		return row{}, customerd.ErrNotFound
	}
	if err != nil {
		return row{}, err
	}
	sc.KeyVersion = uint32(version)
	c.DateCreated, c.LastUpdated = c.DateCreated.UTC(), c.LastUpdated.UTC()
	if plain {
		c.ObjectReferenceID, c.MobileNumber = string(sc.ObjectReferenceID), string(sc.MobileNumber)
		c.EmailAddress, c.FirstName, c.LastName = string(sc.EmailAddress), string(sc.FirstName), string(sc.LastName)
	}
	return row{c: &c, sc: sc, plain: plain}, nil
}

// looksLikeID reports whether s could be a generated customer id, to skip a
// pointless lookup by id for references.
func looksLikeID(s string) bool { return len(s) == 20 && strings.HasPrefix(s, "cst_") }

// FindCustomer implements customerd.CustomerStore.
func (s *Store) FindCustomer(ctx context.Context, merchantID, idOrRef string) (*customerd.Customer, error) {
	if !storable(idOrRef) || !storable(merchantID) {
		return nil, customerd.ErrNotFound
	}
	ring, err := s.keyring(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	r, err := s.findRow(ctx, ring, merchantID, idOrRef)
	if err != nil {
		return nil, err
	}
	if err := s.openRow(ctx, r); err != nil {
		return nil, err
	}
	return r.c, nil
}

// findRow finds the customer as FindCustomer does, without opening it.
func (s *Store) findRow(ctx context.Context, ring *fieldcrypt.Keyring, merchantID, idOrRef string) (row, error) {
	var out row
	err := s.read(ctx, func(ctx context.Context) error {
		withPlaintext := !s.plaintextDone.Load()
		find := func(withPlaintext bool) (row, error) {
			index := ring.BlindIndex(idOrRef)
			switch {
			case looksLikeID(idOrRef) && withPlaintext:
				return scanRow(s.pool.QueryRow(ctx, findByIDOrRefWithPlaintext, merchantID, idOrRef, index))
			case looksLikeID(idOrRef):
				return scanRow(s.pool.QueryRow(ctx, findByIDOrRef, merchantID, idOrRef, index))
			case withPlaintext:
				return scanRow(s.pool.QueryRow(ctx, findByRefWithPlaintext, merchantID, idOrRef, index))
			}
			return scanRow(s.pool.QueryRow(ctx, findByRef, merchantID, index))
		}
		var err error
		out, err = find(withPlaintext)
		if withPlaintext && s.plaintextGone(err) {
			out, err = find(false)
		}
		return err
	})
	return out, err
}

// insertSealed inserts a customer whose personal fields are sealed in sc,
// provided that sc's data-key version is still the merchant's newest and,
// while plaintext rows remain, that no plaintext row has its reference. It
// reports whether it inserted.
func (s *Store) insertSealed(ctx context.Context, q execer, c *customerd.Customer, sc fieldcrypt.SealedCustomer, withPlaintext bool) (bool, error) {
	query := `INSERT INTO customers (` + customerColumns + `)
		SELECT $1::text, $2::text, $3::integer, $4::bytea, $5::bytea, $6::bytea, $7::text, $8::bytea, $9::bytea,
			$10::bytea, $11::timestamptz, $12::timestamptz
		WHERE (SELECT MAX(version) FROM merchant_keys WHERE merchant_id = $2 AND purpose = 'data') = $3`
	args := []any{c.ID, c.MerchantID, int32(sc.KeyVersion), sc.RefIndex, sc.ObjectReferenceID, sc.MobileNumber,
		c.MobileCountryCode, sc.EmailAddress, sc.FirstName, sc.LastName, c.DateCreated.UTC(), c.LastUpdated.UTC()}
	if withPlaintext {
		query += ` AND NOT EXISTS (SELECT 1 FROM customers_plaintext WHERE merchant_id = $2 AND object_reference_id = $13)`
		args = append(args, c.ObjectReferenceID)
	}
	tag, err := q.Exec(ctx, query, args...)
	return tag.RowsAffected() == 1, err
}

// CreateCustomer implements customerd.CustomerStore. The unique constraint
// on (merchant_id, ref_index) decides races between nodes.
func (s *Store) CreateCustomer(ctx context.Context, c *customerd.Customer) error {
	if !storable(c.MerchantID) {
		return customerd.ErrNotFound
	}
	ring, err := s.keyring(ctx, c.MerchantID)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		sc, err := ring.SealCustomer(c)
		if err != nil {
			return err
		}
		var inserted bool
		err = s.write(ctx, func(ctx context.Context) error {
			withPlaintext := !s.plaintextDone.Load()
			var err error
			inserted, err = s.insertSealed(ctx, s.pool, c, sc, withPlaintext)
			if withPlaintext && s.plaintextGone(err) {
				inserted, err = s.insertSealed(ctx, s.pool, c, sc, false)
			}
			return err
		})
		if err != nil || inserted {
			return err
		}
		// Nothing inserted: a newer data key exists (seal again under it),
		// or a plaintext row holds the reference.
		fresh, err := s.loadKeyring(ctx, c.MerchantID)
		if err != nil {
			return err
		}
		if fresh.Active() == ring.Active() || attempt >= 3 {
			return customerd.ErrConflict
		}
		ring = fresh
	}
}

// updateSet writes only the columns whose flag is set, so one statement
// serves every combination of fields, and two updates of different fields
// never undo each other: each reads the other's committed column values
// inside the UPDATE itself, not from an earlier read. New values are sealed
// under the data-key version $14, which the statement checks is still the
// newest; it is never older than the row's key_version.
const updateSet = `UPDATE customers SET
	mobile_number       = CASE WHEN $1::boolean THEN $2::bytea  ELSE mobile_number END,
	mobile_country_code = CASE WHEN $3::boolean THEN $4::text   ELSE mobile_country_code END,
	email_address       = CASE WHEN $5::boolean THEN $6::bytea  ELSE email_address END,
	first_name          = CASE WHEN $7::boolean THEN $8::bytea  ELSE first_name END,
	last_name           = CASE WHEN $9::boolean THEN $10::bytea ELSE last_name END,
	last_updated        = GREATEST(last_updated, $11::timestamptz)
	WHERE merchant_id = $12 AND id = $13
	AND (SELECT MAX(version) FROM merchant_keys WHERE merchant_id = $12 AND purpose = 'data') = $14::integer
	RETURNING false, ` + customerColumns

// UpdateCustomer implements customerd.CustomerStore. The customer id is part
// of every field's associated data, so a reference is resolved to its id
// first; ids and references never change and customers are never deleted,
// so the id found stays right.
func (s *Store) UpdateCustomer(ctx context.Context, merchantID, idOrRef string, p customerd.Patch, now time.Time) (*customerd.Customer, error) {
	if p.IsEmpty() {
		return s.FindCustomer(ctx, merchantID, idOrRef)
	}
	if !storable(idOrRef) || !storable(merchantID) {
		return nil, customerd.ErrNotFound
	}
	ring, err := s.keyring(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	// An id is tried directly: the id match wins anyway, and the update
	// then takes one statement. A reference (or anything while plaintext
	// rows remain) is resolved to its id first.
	id, resolved := idOrRef, false
	resolve := func() error {
		target, err := s.findRow(ctx, ring, merchantID, idOrRef)
		if err != nil {
			return err
		}
		id, resolved = target.c.ID, true
		if target.plain {
			return s.encryptPlaintextRow(ctx, id)
		}
		return nil
	}
	if !looksLikeID(idOrRef) || !s.plaintextDone.Load() {
		if err := resolve(); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		var fields [4]any
		for i, f := range []struct {
			name string
			v    customerd.Value
		}{
			{customerd.FieldMobileNumber, p.MobileNumber},
			{customerd.FieldEmailAddress, p.EmailAddress},
			{customerd.FieldFirstName, p.FirstName},
			{customerd.FieldLastName, p.LastName},
		} {
			if f.v.Set {
				b, err := ring.SealField(id, f.name, f.v.Value)
				if err != nil {
					return nil, err
				}
				fields[i] = b
			}
		}
		var r row
		err := s.write(ctx, func(ctx context.Context) error {
			var err error
			r, err = scanRow(s.pool.QueryRow(ctx, updateSet,
				p.MobileNumber.Set, fields[0],
				p.MobileCountryCode.Set, p.MobileCountryCode.Value,
				p.EmailAddress.Set, fields[1],
				p.FirstName.Set, fields[2],
				p.LastName.Set, fields[3],
				customerd.Timestamp(now), merchantID, id, int32(ring.Active())))
			return err
		})
		if customerd.ErrorCode(err) == customerd.ENOTFOUND && !resolved {
			// Not a customer id: look the value up as a reference.
			if err := resolve(); err != nil {
				return nil, err
			}
			continue
		}
		if customerd.ErrorCode(err) == customerd.ENOTFOUND && attempt < 3 {
			// The row exists: a newer data key must have appeared.
			if ring, err = s.loadKeyring(ctx, merchantID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := s.openRow(ctx, r); err != nil {
			return nil, err
		}
		return r.c, nil
	}
}

// CreateMerchant implements customerd.MerchantStore.
// The merchant's keys are created with it, in the same transaction.
func (s *Store) CreateMerchant(ctx context.Context, m customerd.Merchant) error {
	wraps, err := s.vault.NewMerchantKeys(m.ID)
	if err != nil {
		return err
	}
	return s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO merchants (id, created_at) VALUES ($1, $2)`, m.ID, m.CreatedAt.UTC()); err != nil {
				return err
			}
			return insertWraps(ctx, tx, wraps)
		})
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
