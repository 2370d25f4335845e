package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"customerd"
	"customerd/fieldcrypt"
)

// backgroundWork encrypts the rows left in plaintext by earlier versions,
// then finishes any data-key rotation that was interrupted, in batches that
// queue behind the API's writes like any other write.
func (s *Store) backgroundWork(ctx context.Context, batch int) {
	for !s.plaintextDone.Load() {
		if _, err := s.EncryptPlaintextBatch(ctx, batch); err != nil {
			s.backgroundError(ctx, fmt.Errorf("encrypting plaintext rows: %w", err))
			return
		}
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT merchant_id FROM merchant_keys WHERE purpose = 'data'
		GROUP BY merchant_id HAVING MAX(version) > 1 ORDER BY merchant_id`)
	if err != nil {
		s.backgroundError(ctx, err)
		return
	}
	var rotated []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			s.backgroundError(ctx, err)
			return
		}
		rotated = append(rotated, m)
	}
	rows.Close()
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
	if ctx.Err() != nil || errors.Is(err, errClosed) {
		return // closing
	}
	if s.onBackgroundError != nil {
		s.onBackgroundError(err)
	}
}

// OnBackgroundError registers fn to hear why the background encryption of
// old rows stopped; it resumes on the next Open.
func OnBackgroundError(fn func(error)) Option { return func(o *options) { o.onBackgroundError = fn } }

// PlaintextRemaining returns how many customers of an earlier version are
// still stored in plaintext, waiting for the background encryption. The
// migration is complete once it returns 0 and PlaintextMigrated is true.
func (s *Store) PlaintextRemaining(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers_plaintext`).Scan(&n)
	if s.plaintextGone(err) {
		return 0, nil
	}
	return n, err
}

// EncryptPlaintextBatch encrypts up to n customers stored in plaintext by an
// earlier version, in one write transaction, and returns how many it moved.
// Once none is left it checkpoints the WAL, so that no copy of the plaintext
// pages outlives the migration there either.
func (s *Store) EncryptPlaintextBatch(ctx context.Context, n int) (int, error) {
	moved := 0
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		moved = 0
		rows, err := tx.QueryContext(ctx, `SELECT `+plaintextColumns+` FROM customers_plaintext LIMIT ?`, n)
		if s.plaintextGone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		var batch []*customerd.Customer
		for rows.Next() {
			c, err := scanPlaintext(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rings := map[string]*fieldcrypt.Keyring{}
		for _, c := range batch {
			ring := rings[c.MerchantID]
			if ring == nil {
				if ring, err = s.writeKeyring(ctx, tx, c.MerchantID); err != nil {
					return err
				}
				rings[c.MerchantID] = ring
			}
			if err := s.moveToEncrypted(ctx, tx, ring, c); err != nil {
				return err
			}
		}
		moved = len(batch)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if moved == 0 {
		err = s.scrubPlaintext(ctx)
	}
	return moved, err
}

// PlaintextMigrated reports whether the migration of plaintext rows is
// complete: the table that held them has been dropped.
func (s *Store) PlaintextMigrated() bool { return s.plaintextDone.Load() }

// checkPlaintext, at Open, finds whether rows of an earlier version wait
// to be encrypted; it finishes a migration whose last step was interrupted
// (and, on a new database, drops the empty table at once).
func (s *Store) checkPlaintext(ctx context.Context) error {
	var exists bool
	if err := s.wdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_schema
		WHERE type = 'table' AND name = 'customers_plaintext')`).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		s.plaintextDone.Store(true)
		return nil
	}
	return s.scrubPlaintext(ctx)
}

// vacuumLimit is the largest database that is vacuumed automatically at the
// end of the plaintext migration; VACUUM holds the write lock while it
// rewrites the file, about a second per 100 MiB.
const vacuumLimit = 64 << 20

// scrubPlaintext drops customers_plaintext once it is empty, removing what
// the plaintext rows may have left in the file. secure_delete zeroes deleted
// cells, but a b-tree page rebalanced during the deletes can keep stale
// bytes, and the free space left by earlier versions was never zeroed. So
// the table is dropped (secure_delete zeroes its pages), the file is
// vacuumed when it is small enough, and the WAL is truncated. Another
// process may have done it already.
func (s *Store) scrubPlaintext(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var left bool
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM customers_plaintext)`).Scan(&left)
	if s.plaintextGone(err) || left {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE customers_plaintext`); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.plaintextDone.Store(true)
	if fi, err := os.Stat(s.path); err == nil && fi.Size() <= vacuumLimit {
		if _, err := s.wdb.ExecContext(ctx, `VACUUM`); err != nil {
			return err
		}
	}
	_, err = s.wdb.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// RotateDataKey creates the merchant's next data-key version, which every
// write (of any process on this database) uses from then on. Rows sealed
// with older versions keep opening; ReencryptCustomers moves them to the new
// one. It returns the new version, or ErrNotFound for an unknown merchant.
func (s *Store) RotateDataKey(ctx context.Context, merchantID string) (uint32, error) {
	var version uint32
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Refuse to add a key under a master key that cannot open the
		// merchant's existing ones.
		ring, err := s.writeKeyring(ctx, tx, merchantID)
		if err != nil {
			return err
		}
		version = ring.Active() + 1
		wraps, err := s.vault.NewKey(merchantID, fieldcrypt.PurposeData, version)
		if err != nil {
			return err
		}
		// The next write of this transaction must see the new version.
		delete(s.txVersions.m, merchantID)
		return insertWraps(ctx, tx, wraps)
	})
	return version, err
}

// ReencryptCustomers re-seals, under the newest data key, up to n of the
// merchant's customers that still use an older one, and returns how many it
// rewrote: 0 means the rotation is complete. The blind index does not
// change: the index key never rotates.
func (s *Store) ReencryptCustomers(ctx context.Context, merchantID string, n int) (int, error) {
	done := 0
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		done = 0
		ring, err := s.writeKeyring(ctx, tx, merchantID)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers
			WHERE merchant_id = ? AND key_version < ? LIMIT ?`, merchantID, ring.Active(), n)
		if err != nil {
			return err
		}
		type row struct {
			c  *customerd.Customer
			sc fieldcrypt.SealedCustomer
		}
		var batch []row
		for rows.Next() {
			c, sc, err := scanCustomer(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, row{c, sc})
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
			if _, err := tx.ExecContext(ctx, `UPDATE customers SET key_version = ?, object_reference_id = ?,
				mobile_number = ?, email_address = ?, first_name = ?, last_name = ? WHERE id = ?`,
				sc.KeyVersion, sc.ObjectReferenceID, sc.MobileNumber, nullable(sc.EmailAddress),
				nullable(sc.FirstName), nullable(sc.LastName), r.c.ID); err != nil {
				return err
			}
		}
		done = len(batch)
		return nil
	})
	return done, err
}

// rewrapAll wraps, under to, every merchant key that has no wrap under it
// yet, and returns how many it wrapped.
func (s *Store) rewrapAll(ctx context.Context, tx *sql.Tx, to *fieldcrypt.MasterKey) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT merchant_id, purpose, version, master_key_id, wrapped FROM merchant_keys
		ORDER BY merchant_id, purpose, version`)
	if err != nil {
		return 0, err
	}
	all, err := scanWraps(rows)
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
// keeping the existing wraps, so that processes on the old key and processes
// on the new key both work. It rewrites no customer row, is safe to run
// again, and returns how many wraps it added.
func (s *Store) RewrapKeys(ctx context.Context, to *fieldcrypt.MasterKey) (int, error) {
	n := 0
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = s.rewrapAll(ctx, tx, to)
		return err
	})
	return n, err
}

// RetireMasterKeys ends a master-key rotation: it wraps under the primary
// master key whatever lacks a wrap under it (keys created meanwhile by
// processes on the old key), then deletes every wrap under any other master
// key. Run it once no process uses an old key any more. It returns how many
// wraps it deleted.
func (s *Store) RetireMasterKeys(ctx context.Context) (int, error) {
	var deleted int64
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.rewrapAll(ctx, tx, s.vault.Primary()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM merchant_keys WHERE master_key_id <> ?`, s.vault.Primary().ID())
		if err != nil {
			return err
		}
		deleted, err = res.RowsAffected()
		return err
	})
	return int(deleted), err
}

// MasterKeyUsage returns, for each master key id, how many merchant keys are
// wrapped under it.
func (s *Store) MasterKeyUsage(ctx context.Context) (map[string]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT master_key_id, COUNT(*) FROM merchant_keys GROUP BY master_key_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// MasterKeyIDs returns the ids of the master keys this store was opened
// with, the one new keys are wrapped under first: safe to log.
func (s *Store) MasterKeyIDs() []string { return s.vault.MasterKeyIDs() }
