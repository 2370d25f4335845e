package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"customerd"
	"customerd/fieldcrypt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// execer runs a statement on the pool or in a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertWraps(ctx context.Context, q execer, wraps []fieldcrypt.WrappedKey) error {
	now := time.Now().UTC()
	for _, w := range wraps {
		if _, err := q.Exec(ctx, `INSERT INTO merchant_keys (merchant_id, purpose, version, master_key_id, wrapped, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, w.MerchantID, string(w.Purpose), int32(w.Version), w.MasterKeyID, w.Wrapped, now); err != nil {
			return err
		}
	}
	return nil
}

func readWraps(ctx context.Context, q querier, where string, args ...any) ([]fieldcrypt.WrappedKey, error) {
	rows, err := q.Query(ctx, `SELECT merchant_id, purpose, version, master_key_id, wrapped FROM merchant_keys `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fieldcrypt.WrappedKey
	for rows.Next() {
		var w fieldcrypt.WrappedKey
		var purpose string
		var version int32
		if err := rows.Scan(&w.MerchantID, &purpose, &version, &w.MasterKeyID, &w.Wrapped); err != nil {
			return nil, err
		}
		w.Purpose, w.Version = fieldcrypt.Purpose(purpose), uint32(version)
		out = append(out, w)
	}
	return out, rows.Err()
}

// loadKeyringFrom reads and unwraps the merchant's keys; nil, nil for a
// merchant without keys: one that does not exist.
func (s *Store) loadKeyringFrom(ctx context.Context, q querier, merchantID string) (*fieldcrypt.Keyring, error) {
	wraps, err := readWraps(ctx, q, `WHERE merchant_id = $1`, merchantID)
	if err != nil || len(wraps) == 0 {
		return nil, err
	}
	return s.vault.Load(merchantID, wraps)
}

// loadKeyring reads the merchant's keys afresh: ErrNotFound when it has none.
func (s *Store) loadKeyring(ctx context.Context, merchantID string) (*fieldcrypt.Keyring, error) {
	var r *fieldcrypt.Keyring
	err := s.read(ctx, func(ctx context.Context) error {
		var err error
		r, err = s.loadKeyringFrom(ctx, s.pool, merchantID)
		return err
	})
	if err == nil && r == nil {
		err = customerd.ErrNotFound
	}
	return r, err
}

// keyring returns the merchant's keyring, loading it on first use. Keys
// never change once written, so the cache cannot go stale; a newer data-key
// version is noticed by the statements that write (they check it) and by
// reads that meet it.
func (s *Store) keyring(ctx context.Context, merchantID string) (*fieldcrypt.Keyring, error) {
	if r := s.vault.Cached(merchantID); r != nil {
		return r, nil
	}
	return s.loadKeyring(ctx, merchantID)
}

// openRow opens the sealed fields of r, reloading the merchant's keys once
// when the row uses a data-key version created since they were loaded.
func (s *Store) openRow(ctx context.Context, r row) error {
	if r.plain {
		return nil
	}
	ring, err := s.keyring(ctx, r.c.MerchantID)
	if err != nil {
		return err
	}
	err = ring.OpenCustomer(r.c, r.sc)
	if errors.Is(err, fieldcrypt.ErrUnknownVersion) {
		if ring, err = s.loadKeyring(ctx, r.c.MerchantID); err != nil {
			return err
		}
		err = ring.OpenCustomer(r.c, r.sc)
	}
	return err
}

// plaintextGone reports whether err says that customers_plaintext no longer
// exists: another node finished the migration and dropped it.
func (s *Store) plaintextGone(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeUndefinedTable && strings.Contains(pe.Message, "customers_plaintext") {
		s.plaintextDone.Store(true)
		return true
	}
	return false
}

// prepareKeys, at Open, refuses a master key that matches none of the
// database's wraps, gives every merchant without keys (merchants of
// versions before encryption) its keys, and finds whether plaintext rows
// wait to be encrypted.
func (s *Store) prepareKeys(ctx context.Context) error {
	var exists bool
	var ids []string
	err := s.read(ctx, func(ctx context.Context) error {
		if err := s.pool.QueryRow(ctx, `SELECT to_regclass('customers_plaintext') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT master_key_id FROM merchant_keys ORDER BY 1`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	s.plaintextDone.Store(!exists)
	if len(ids) > 0 && !slices.ContainsFunc(s.vault.MasterKeyIDs(), func(id string) bool { return slices.Contains(ids, id) }) {
		return fmt.Errorf("postgres: wrong master key: this database's keys are wrapped under master key %s, but the key given has id %s: %w",
			strings.Join(ids, ", "), strings.Join(s.vault.MasterKeyIDs(), ", "), fieldcrypt.ErrMasterKeyMismatch)
	}
	for attempt := 0; ; attempt++ {
		err := s.write(ctx, func(ctx context.Context) error {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, `SELECT id FROM merchants m
					WHERE NOT EXISTS (SELECT 1 FROM merchant_keys k WHERE k.merchant_id = m.id) ORDER BY id`)
				if err != nil {
					return err
				}
				bare, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				for _, m := range bare {
					wraps, err := s.vault.NewMerchantKeys(m)
					if err != nil {
						return err
					}
					if err := insertWraps(ctx, tx, wraps); err != nil {
						return err
					}
				}
				return nil
			})
		})
		// Another node gave the same merchant keys first: look again.
		if customerd.ErrorCode(err) == customerd.ECONFLICT && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("postgres: create merchant keys: %w", err)
		}
		return nil
	}
}

// backgroundWork encrypts the rows left in plaintext by earlier versions,
// then finishes any data-key rotation that was interrupted, in small
// transactions. Every node runs it; they skip the rows another has locked.
func (s *Store) backgroundWork(ctx context.Context, batch int) {
	for !s.plaintextDone.Load() {
		if _, err := s.EncryptPlaintextBatch(ctx, batch); err != nil {
			s.backgroundError(ctx, fmt.Errorf("encrypting plaintext rows: %w", err))
			return
		}
	}
	var rotated []string
	err := s.read(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT merchant_id FROM merchant_keys WHERE purpose = 'data'
			GROUP BY merchant_id HAVING MAX(version) > 1 ORDER BY merchant_id`)
		if err != nil {
			return err
		}
		rotated, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		s.backgroundError(ctx, err)
		return
	}
	for _, m := range rotated {
		for {
			n, err := s.ReencryptCustomers(ctx, m, batch)
			if err != nil {
				s.backgroundError(ctx, fmt.Errorf("re-encrypting merchant %q: %w", m, err))
				return
			}
			if n == 0 {
				break
			}
		}
	}
}

func (s *Store) backgroundError(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // closing
	}
	if s.onBackgroundError != nil {
		s.onBackgroundError(err)
	}
}

// moveRows encrypts the plaintext rows the query selects (and locks) into
// the encrypted table and deletes them from customers_plaintext.
func (s *Store) moveRows(ctx context.Context, tx pgx.Tx, query string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	var batch []row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rings := map[string]*fieldcrypt.Keyring{}
	for _, r := range batch {
		ring := rings[r.c.MerchantID]
		if ring == nil {
			if ring, err = s.loadKeyringFrom(ctx, tx, r.c.MerchantID); err != nil {
				return 0, err
			}
			if ring == nil {
				return 0, fmt.Errorf("merchant %q has no keys; restart a node to create them", r.c.MerchantID)
			}
			rings[r.c.MerchantID] = ring
		}
		sc, err := ring.SealCustomer(r.c)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO customers (`+customerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			r.c.ID, r.c.MerchantID, int32(sc.KeyVersion), sc.RefIndex, sc.ObjectReferenceID, sc.MobileNumber,
			r.c.MobileCountryCode, sc.EmailAddress, sc.FirstName, sc.LastName, r.c.DateCreated, r.c.LastUpdated); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM customers_plaintext WHERE id = $1`, r.c.ID); err != nil {
			return 0, err
		}
	}
	return len(batch), nil
}

// EncryptPlaintextBatch encrypts up to n customers stored in plaintext by an
// earlier version, in one transaction, and returns how many it moved. Once
// none is left it drops the plaintext table.
func (s *Store) EncryptPlaintextBatch(ctx context.Context, n int) (int, error) {
	moved := 0
	err := s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			moved, err = s.moveRows(ctx, tx, `SELECT true, `+plaintextAsSealed+` FROM customers_plaintext
				ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, n)
			return err
		})
	})
	if s.plaintextGone(err) {
		return 0, nil
	}
	if err != nil || moved > 0 {
		return moved, err
	}
	return 0, s.dropPlaintext(ctx)
}

// encryptPlaintextRow moves one customer out of customers_plaintext, for an
// update; another node may have moved it already.
func (s *Store) encryptPlaintextRow(ctx context.Context, id string) error {
	err := s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			_, err := s.moveRows(ctx, tx, `SELECT true, `+plaintextAsSealed+` FROM customers_plaintext
				WHERE id = $1 FOR UPDATE`, id)
			return err
		})
	})
	if s.plaintextGone(err) {
		return nil
	}
	return err
}

// dropPlaintext drops customers_plaintext once it is empty: its files go
// with it. Another node may have dropped it already.
func (s *Store) dropPlaintext(ctx context.Context) error {
	err := s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var left bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM customers_plaintext)`).Scan(&left); err != nil || left {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE customers_plaintext`)
			return err
		})
	})
	if s.plaintextGone(err) {
		return nil
	}
	if err == nil {
		var exists bool
		err = s.read(ctx, func(ctx context.Context) error {
			return s.pool.QueryRow(ctx, `SELECT to_regclass('customers_plaintext') IS NOT NULL`).Scan(&exists)
		})
		if err == nil && !exists {
			s.plaintextDone.Store(true)
		}
	}
	return err
}

// PlaintextRemaining returns how many customers of an earlier version are
// still stored in plaintext, waiting for the background encryption.
func (s *Store) PlaintextRemaining(ctx context.Context) (int, error) {
	var n int64
	err := s.read(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM customers_plaintext`).Scan(&n)
	})
	if s.plaintextGone(err) {
		return 0, nil
	}
	return int(n), err
}

// PlaintextMigrated reports whether the migration of plaintext rows is
// complete: the table that held them has been dropped.
func (s *Store) PlaintextMigrated() bool { return s.plaintextDone.Load() }

// RotateDataKey creates the merchant's next data-key version, which every
// write of every node uses from then on (each write checks it is sealing
// under the newest version). Rows sealed with older versions keep opening;
// ReencryptCustomers moves them to the new one. It returns the new version,
// or ErrNotFound for an unknown merchant.
func (s *Store) RotateDataKey(ctx context.Context, merchantID string) (uint32, error) {
	if !storable(merchantID) {
		return 0, customerd.ErrNotFound
	}
	var version uint32
	err := s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Refuse to add a key under a master key that cannot open the
			// merchant's existing ones.
			ring, err := s.loadKeyringFrom(ctx, tx, merchantID)
			if err != nil {
				return err
			}
			if ring == nil {
				return customerd.ErrNotFound
			}
			version = ring.Active() + 1
			wraps, err := s.vault.NewKey(merchantID, fieldcrypt.PurposeData, version)
			if err != nil {
				return err
			}
			return insertWraps(ctx, tx, wraps)
		})
	})
	return version, err
}

// ReencryptCustomers re-seals, under the newest data key, up to n of the
// merchant's customers that still use an older one, and returns how many it
// rewrote: 0 means none is left that another node is not rewriting. The
// blind index does not change: the index key never rotates.
func (s *Store) ReencryptCustomers(ctx context.Context, merchantID string, n int) (int, error) {
	done := 0
	err := s.write(ctx, func(ctx context.Context) error {
		done = 0
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			ring, err := s.loadKeyringFrom(ctx, tx, merchantID)
			if err != nil || ring == nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT false, `+customerColumns+` FROM customers
				WHERE merchant_id = $1 AND key_version < $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
				merchantID, int32(ring.Active()), n)
			if err != nil {
				return err
			}
			var batch []row
			for rows.Next() {
				r, err := scanRow(rows)
				if err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range batch {
				if err := ring.OpenCustomer(r.c, r.sc); err != nil {
					return err
				}
				sc, err := ring.SealCustomer(r.c)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE customers SET key_version = $1, object_reference_id = $2,
					mobile_number = $3, email_address = $4, first_name = $5, last_name = $6 WHERE id = $7`,
					int32(sc.KeyVersion), sc.ObjectReferenceID, sc.MobileNumber, sc.EmailAddress,
					sc.FirstName, sc.LastName, r.c.ID); err != nil {
					return err
				}
			}
			done = len(batch)
			return nil
		})
	})
	return done, err
}

// rewrapAll wraps, under to, every merchant key without a wrap under it.
func (s *Store) rewrapAll(ctx context.Context, tx pgx.Tx, to *fieldcrypt.MasterKey) (int, error) {
	all, err := readWraps(ctx, tx, `ORDER BY merchant_id, purpose, version FOR UPDATE`)
	if err != nil {
		return 0, err
	}
	added, err := s.vault.RewrapMissing(all, to)
	if err != nil {
		return 0, err
	}
	return len(added), insertWraps(ctx, tx, added)
}

// RewrapKeys wraps every merchant key under the master key to as well,
// keeping the existing wraps, so that nodes on the old key and nodes on the
// new key both work. It rewrites no customer row, is safe to run again, and
// returns how many wraps it added.
func (s *Store) RewrapKeys(ctx context.Context, to *fieldcrypt.MasterKey) (int, error) {
	n := 0
	err := s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			n, err = s.rewrapAll(ctx, tx, to)
			return err
		})
	})
	return n, err
}

// RetireMasterKeys ends a master-key rotation: it wraps under the primary
// master key whatever lacks a wrap under it (keys created meanwhile by nodes
// on the old key), then deletes every wrap under any other master key. Run
// it once no node uses an old key any more. It returns how many wraps it
// deleted.
func (s *Store) RetireMasterKeys(ctx context.Context) (int, error) {
	var deleted int64
	err := s.write(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := s.rewrapAll(ctx, tx, s.vault.Primary()); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM merchant_keys WHERE master_key_id <> $1`, s.vault.Primary().ID())
			deleted = tag.RowsAffected()
			return err
		})
	})
	return int(deleted), err
}

// MasterKeyUsage returns, for each master key id, how many merchant keys are
// wrapped under it.
func (s *Store) MasterKeyUsage(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.read(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := s.pool.Query(ctx, `SELECT master_key_id, COUNT(*) FROM merchant_keys GROUP BY master_key_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			out[id] = int(n)
		}
		return rows.Err()
	})
	return out, err
}

// MasterKeyIDs returns the ids of the master keys this store was opened
// with, the one new keys are wrapped under first: safe to log.
func (s *Store) MasterKeyIDs() []string { return s.vault.MasterKeyIDs() }
