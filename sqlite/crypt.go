package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"customerd"
	"customerd/fieldcrypt"
)

const (
	qByID  = `SELECT ` + customerColumns + ` FROM customers WHERE id = ? AND merchant_id = ?`
	qByRef = `SELECT ` + customerColumns + ` FROM customers WHERE merchant_id = ? AND ref_index = ?`

	qInsertCustomer = `INSERT INTO customers (` + customerColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qActiveVersion  = `SELECT MAX(version) FROM merchant_keys WHERE merchant_id = ? AND purpose = 'data'`

	selectWraps = `SELECT merchant_id, purpose, version, master_key_id, wrapped FROM merchant_keys WHERE merchant_id = ?`

	// plaintextColumns are the columns of customers_plaintext, the customers
	// table of the versions before encryption.
	plaintextColumns = `id, merchant_id, object_reference_id, mobile_number, mobile_country_code,
	email_address, first_name, last_name, date_created, last_updated`
)

// queryer runs the reads of the customer paths either on the read pool's
// prepared statements or inside a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	byID(ctx context.Context, id, merchantID string) *sql.Row
	byRef(ctx context.Context, merchantID string, index []byte) *sql.Row
	wraps(ctx context.Context, merchantID string) (*sql.Rows, error)
}

type poolReader struct{ s *Store }

func (r poolReader) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.s.rdb.QueryRowContext(ctx, q, args...)
}
func (r poolReader) byID(ctx context.Context, id, m string) *sql.Row {
	return r.s.findByID.QueryRowContext(ctx, id, m)
}
func (r poolReader) byRef(ctx context.Context, m string, index []byte) *sql.Row {
	return r.s.findByRef.QueryRowContext(ctx, m, index)
}
func (r poolReader) wraps(ctx context.Context, m string) (*sql.Rows, error) {
	return r.s.findWraps.QueryContext(ctx, m)
}

type txReader struct{ *sql.Tx }

func (r txReader) byID(ctx context.Context, id, m string) *sql.Row {
	return r.QueryRowContext(ctx, qByID, id, m)
}
func (r txReader) byRef(ctx context.Context, m string, index []byte) *sql.Row {
	return r.QueryRowContext(ctx, qByRef, m, index)
}
func (r txReader) wraps(ctx context.Context, m string) (*sql.Rows, error) {
	return r.QueryContext(ctx, selectWraps, m)
}

func scanWraps(rows *sql.Rows) ([]fieldcrypt.WrappedKey, error) {
	defer rows.Close()
	var out []fieldcrypt.WrappedKey
	for rows.Next() {
		var w fieldcrypt.WrappedKey
		var purpose string
		if err := rows.Scan(&w.MerchantID, &purpose, &w.Version, &w.MasterKeyID, &w.Wrapped); err != nil {
			return nil, err
		}
		w.Purpose = fieldcrypt.Purpose(purpose)
		out = append(out, w)
	}
	return out, rows.Err()
}

func insertWraps(ctx context.Context, tx *sql.Tx, wraps []fieldcrypt.WrappedKey) error {
	now := time.Now().Unix()
	for _, w := range wraps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO merchant_keys (merchant_id, purpose, version, master_key_id, wrapped, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, w.MerchantID, string(w.Purpose), w.Version, w.MasterKeyID, w.Wrapped, now); err != nil {
			return mapConstraint(err)
		}
	}
	return nil
}

// loadKeyring reads and unwraps the merchant's keys. It returns nil, nil for
// a merchant without keys: one that does not exist.
func (s *Store) loadKeyring(ctx context.Context, q queryer, merchantID string) (*fieldcrypt.Keyring, error) {
	rows, err := q.wraps(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	wraps, err := scanWraps(rows)
	if err != nil || len(wraps) == 0 {
		return nil, err
	}
	return s.vault.Load(merchantID, wraps)
}

// keyring returns the merchant's cached keyring, loading it on first use.
func (s *Store) keyring(ctx context.Context, q queryer, merchantID string) (*fieldcrypt.Keyring, error) {
	if r := s.vault.Cached(merchantID); r != nil {
		return r, nil
	}
	return s.loadKeyring(ctx, q, merchantID)
}

// writeKeyring returns the merchant's keyring with its newest data key, as
// the write transaction sees it: a rotation made by another process is
// picked up by the next write after it.
func (s *Store) writeKeyring(ctx context.Context, tx *sql.Tx, merchantID string) (*fieldcrypt.Keyring, error) {
	// The transaction holds the database's write lock, so no other process
	// can add a version while it runs: one query per merchant and
	// transaction is enough. Only the writer goroutine runs this.
	if s.txVersions.tx != tx {
		s.txVersions.tx, s.txVersions.m = tx, map[string]uint32{}
	}
	if v, ok := s.txVersions.m[merchantID]; ok {
		if r := s.vault.Cached(merchantID); r != nil && r.Active() == v {
			return r, nil
		}
	}
	var active sql.NullInt64
	if err := tx.StmtContext(ctx, s.activeVersion).QueryRowContext(ctx, merchantID).Scan(&active); err != nil {
		return nil, err
	}
	if active.Valid {
		s.txVersions.m[merchantID] = uint32(active.Int64)
	}
	if !active.Valid {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM merchants WHERE id = ?)`, merchantID).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			return nil, customerd.ErrNotFound
		}
		// Only a merchant created by an older version while this process
		// ran; the next start creates its keys.
		return nil, fmt.Errorf("sqlite: merchant %q has no data key yet; restart customerd to create it", merchantID)
	}
	if r := s.vault.Cached(merchantID); r != nil && int64(r.Active()) == active.Int64 {
		return r, nil
	}
	r, err := s.loadKeyring(ctx, txReader{tx}, merchantID)
	if err == nil && r == nil {
		err = fmt.Errorf("sqlite: merchant %q has no keys", merchantID)
	}
	return r, err
}

// openCustomer opens the sealed fields of a row into c, reloading the
// merchant's keys once when the row uses a data-key version created since
// they were loaded.
func (s *Store) openCustomer(ctx context.Context, q queryer, c *customerd.Customer, sc fieldcrypt.SealedCustomer) error {
	ring, err := s.keyring(ctx, q, c.MerchantID)
	if err == nil && ring == nil {
		err = fmt.Errorf("sqlite: customer %s of merchant %q: the merchant has no keys", c.ID, c.MerchantID)
	}
	if err != nil {
		return err
	}
	err = ring.OpenCustomer(c, sc)
	if errors.Is(err, fieldcrypt.ErrUnknownVersion) {
		if ring, err = s.loadKeyring(ctx, q, c.MerchantID); err != nil {
			return err
		}
		err = ring.OpenCustomer(c, sc)
	}
	return err
}

// plaintextGone reports whether err says that customers_plaintext no longer
// exists: another process finished the migration and dropped it. SQLite
// gives this error no code of its own, hence the message.
func (s *Store) plaintextGone(err error) bool {
	if err != nil && strings.Contains(err.Error(), "no such table: customers_plaintext") {
		s.plaintextDone.Store(true)
		return true
	}
	return false
}

// scanPlaintext reads a row of customers_plaintext.
func scanPlaintext(r rowScanner) (*customerd.Customer, error) {
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

// moveToEncrypted writes a plaintext row into the encrypted table and deletes
// it from customers_plaintext; secure_delete zeroes the freed bytes.
func (s *Store) moveToEncrypted(ctx context.Context, tx *sql.Tx, ring *fieldcrypt.Keyring, c *customerd.Customer) error {
	sc, err := ring.SealCustomer(c)
	if err != nil {
		return err
	}
	if err := s.insertSealed(ctx, tx, c, sc); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM customers_plaintext WHERE id = ?`, c.ID)
	return err
}

// resolveForWrite returns the id of the customer idOrRef names, as
// FindCustomer finds it. A customer still in plaintext is encrypted first,
// so that the update writes to the encrypted table.
func (s *Store) resolveForWrite(ctx context.Context, tx *sql.Tx, ring *fieldcrypt.Keyring, merchantID, idOrRef string) (string, error) {
	withPlaintext := !s.plaintextDone.Load()
	fromPlaintext := func(where string, args ...any) (string, error) {
		c, err := scanPlaintext(tx.QueryRowContext(ctx, `SELECT `+plaintextColumns+` FROM customers_plaintext WHERE `+where, args...))
		if s.plaintextGone(err) {
			return "", customerd.ErrNotFound
		}
		if err != nil {
			return "", err
		}
		return c.ID, s.moveToEncrypted(ctx, tx, ring, c)
	}
	var id string
	if looksLikeID(idOrRef) {
		err := tx.StmtContext(ctx, s.resolveID).QueryRowContext(ctx, idOrRef, merchantID).Scan(&id)
		if !errors.Is(err, sql.ErrNoRows) {
			return id, err
		}
		if withPlaintext {
			id, err := fromPlaintext(`id = ? AND merchant_id = ?`, idOrRef, merchantID)
			if customerd.ErrorCode(err) != customerd.ENOTFOUND {
				return id, err
			}
		}
	}
	err := tx.StmtContext(ctx, s.resolveRef).QueryRowContext(ctx, merchantID, ring.BlindIndex(idOrRef)).Scan(&id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	if withPlaintext {
		return fromPlaintext(`merchant_id = ? AND object_reference_id = ?`, merchantID, idOrRef)
	}
	return "", customerd.ErrNotFound
}

// defaultVault reads the key file beside the database, creating it when the
// database has no keys yet.
func defaultVault(ctx context.Context, db *sql.DB, path string, onCreated func(string)) (*fieldcrypt.Vault, error) {
	kp := KeyFilePath(path)
	k, err := fieldcrypt.ReadMasterKeyFile(kp)
	if err == nil {
		// During a master-key rotation of the default key file, the old key
		// stays accepted until the rotation is retired.
		prev, err := fieldcrypt.ReadMasterKeyFile(PreviousKeyFilePath(path))
		switch {
		case err == nil:
			return fieldcrypt.NewVault(k, prev), nil
		case errors.Is(err, fs.ErrNotExist):
			return fieldcrypt.NewVault(k), nil
		default:
			return nil, err
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM merchant_keys`).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, fmt.Errorf("sqlite: %s holds encrypted data but its master key file %s is missing; supply the master key it was created with", path, kp)
	}
	if k, err = fieldcrypt.GenerateMasterKey(); err != nil {
		return nil, err
	}
	switch err := fieldcrypt.WriteMasterKeyFile(kp, k); {
	case errors.Is(err, fs.ErrExist): // another process created it first
		if k, err = fieldcrypt.ReadMasterKeyFile(kp); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("sqlite: create master key file: %w", err)
	case onCreated != nil:
		onCreated(kp)
	}
	return fieldcrypt.NewVault(k), nil
}

// prepareKeys refuses a master key that matches none of the database's
// wraps, then gives every merchant without keys (merchants of versions
// before encryption) its keys.
func prepareKeys(ctx context.Context, db *sql.DB, v *fieldcrypt.Vault) error {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT master_key_id FROM merchant_keys ORDER BY 1`)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(ids) > 0 && !slices.ContainsFunc(v.MasterKeyIDs(), func(id string) bool { return slices.Contains(ids, id) }) {
		return fmt.Errorf("sqlite: wrong master key: this database's keys are wrapped under master key %s, but the key given has id %s: %w",
			strings.Join(ids, ", "), strings.Join(v.MasterKeyIDs(), ", "), fieldcrypt.ErrMasterKeyMismatch)
	}

	tx, err := db.BeginTx(ctx, nil) // immediate: two processes starting at once do this once
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err = tx.QueryContext(ctx, `SELECT id FROM merchants WHERE id NOT IN (SELECT merchant_id FROM merchant_keys)`)
	if err != nil {
		return err
	}
	var bare []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		bare = append(bare, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range bare {
		wraps, err := v.NewMerchantKeys(m)
		if err != nil {
			return err
		}
		if err := insertWraps(ctx, tx, wraps); err != nil {
			return err
		}
	}
	return tx.Commit()
}
