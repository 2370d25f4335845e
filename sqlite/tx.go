package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"customerd"
	"customerd/sqlite/internal/rawsqlite"
)

// txn is the customerd.StoreTx of one batch of the writer: every write of
// the batch runs in its transaction, each in a savepoint of its own.
type txn struct {
	s  *Store
	tx *sql.Tx
	// versions remembers each merchant's newest data-key version as this
	// transaction has read it. The transaction holds the database's write
	// lock, so no other process can add a version while it runs: one query
	// per merchant and batch is enough.
	versions map[string]uint32
	// targets remembers each merchant's enabled webhook endpoints, read
	// once per batch likewise (see WebhookTargets).
	targets map[string][]customerd.WebhookTarget
}

var _ customerd.StoreTx = (*txn)(nil)

// begin makes t the StoreTx of the transaction tx, forgetting what it
// remembered of the one before.
func (t *txn) begin(s *Store, tx *sql.Tx) {
	t.tx, t.s = tx, s
	if t.versions == nil {
		t.versions, t.targets = map[string]uint32{}, map[string][]customerd.WebhookTarget{}
	}
	clear(t.versions)
	clear(t.targets)
}

// checkKeyVersion returns customerd.ErrStaleKey unless every v is the
// merchant's newest data-key version, and ErrNotFound for a merchant without
// keys.
func (t *txn) checkKeyVersion(ctx context.Context, merchantID string, vs ...uint32) error {
	active, ok := t.versions[merchantID]
	if !ok {
		var newest sql.NullInt64
		if err := t.tx.StmtContext(ctx, t.s.activeVersion).QueryRowContext(ctx, merchantID).Scan(&newest); err != nil {
			return err
		}
		if !newest.Valid {
			return customerd.ErrNotFound
		}
		active = uint32(newest.Int64)
		t.versions[merchantID] = active
	}
	for _, v := range vs {
		if v != active {
			return customerd.ErrStaleKey
		}
	}
	return nil
}

// InsertCustomer implements customerd.StoreTx.
func (t *txn) InsertCustomer(ctx context.Context, c *customerd.SealedCustomer, ev *customerd.SealedEvent) error {
	if err := t.checkKeyVersion(ctx, c.MerchantID, c.KeyVersion, ev.KeyVersion); err != nil {
		return err
	}
	var err error
	if raw := t.s.writer.raw; raw != nil {
		err = insertRaw(ctx, raw.Stmt(rawStoreQueries+rawInsertCustomerSQL), c)
	} else {
		_, err = t.tx.StmtContext(ctx, t.s.insertCustomer).ExecContext(ctx,
			c.ID, c.MerchantID, c.KeyVersion, c.RefIndex, c.ObjectReferenceID, c.MobileNumber,
			c.MobileCountryCode, nullable(c.EmailAddress), nullable(c.FirstName), nullable(c.LastName),
			c.DateCreated.Unix(), c.LastUpdated.Unix(), c.Version, nullable(c.MobileIndex), nullable(c.EmailIndex))
	}
	if err != nil {
		return mapConstraint(err)
	}
	return t.insertEvent(ctx, ev)
}

// insertRaw runs insertCustomerSQL on the writer's raw statement: the
// same statement, without database/sql, whose transaction statements
// (Tx.StmtContext) are each kept until the transaction ends.
func insertRaw(ctx context.Context, st *rawsqlite.Stmt, c *customerd.SealedCustomer) error {
	defer st.Reset()
	for _, err := range [...]error{
		st.BindText(1, c.ID), st.BindText(2, c.MerchantID), st.BindInt64(3, int64(c.KeyVersion)),
		st.BindBlobOrNull(4, c.RefIndex), st.BindBlobOrNull(5, c.ObjectReferenceID), st.BindBlobOrNull(6, c.MobileNumber),
		st.BindText(7, c.MobileCountryCode), st.BindBlobOrNull(8, c.EmailAddress), st.BindBlobOrNull(9, c.FirstName),
		st.BindBlobOrNull(10, c.LastName), st.BindInt64(11, c.DateCreated.Unix()), st.BindInt64(12, c.LastUpdated.Unix()),
		st.BindInt64(13, c.Version), st.BindBlobOrNull(14, c.MobileIndex), st.BindBlobOrNull(15, c.EmailIndex),
	} {
		if err != nil {
			return err
		}
	}
	return st.Exec(ctx)
}

// updateSQL writes only the columns whose flag is set, a field's blind
// index with it: one statement serves every combination of fields. New values are sealed under the newest data
// key, which is never older than the row's key_version, so key_version stays
// a lower bound of the versions in the row. It returns a row when it wrote.
const updateSQL = `UPDATE customers SET
	mobile_number       = CASE WHEN ?1 THEN ?2  ELSE mobile_number END,
	mobile_index        = CASE WHEN ?1 THEN ?15 ELSE mobile_index END,
	mobile_country_code = CASE WHEN ?3 THEN ?4  ELSE mobile_country_code END,
	email_address       = CASE WHEN ?5 THEN ?6  ELSE email_address END,
	email_index         = CASE WHEN ?5 THEN ?16 ELSE email_index END,
	first_name          = CASE WHEN ?7 THEN ?8  ELSE first_name END,
	last_name           = CASE WHEN ?9 THEN ?10 ELSE last_name END,
	last_updated        = MAX(last_updated, ?11),
	version             = version + 1
	WHERE merchant_id = ?12 AND id = ?13 AND version = ?14 AND erased_at IS NULL RETURNING version`

// The writer's raw statements, by index (see newWriter).
const (
	rawUpdateSQL = iota
	rawInsertEventSQL
	rawInsertCustomerSQL
)

// UpdateCustomer implements customerd.StoreTx. It runs updateSQL and
// insertEventSQL on the writer's connection without database/sql when it can
// (see newWriter): the same statements, in the same transaction.
func (t *txn) UpdateCustomer(ctx context.Context, u customerd.SealedUpdate, ev *customerd.SealedEvent) error {
	if err := t.checkKeyVersion(ctx, u.MerchantID, u.KeyVersion, ev.KeyVersion); err != nil {
		return err
	}
	var wrote bool
	if raw := t.s.writer.raw; raw != nil {
		var err error
		if wrote, err = updateRaw(ctx, raw.Stmt(rawStoreQueries+rawUpdateSQL), u); err != nil {
			return err
		}
	} else {
		var v int64
		err := t.tx.StmtContext(ctx, t.s.updateCustomer).QueryRowContext(ctx,
			u.MobileNumber.Set, nullable(u.MobileNumber.Sealed),
			u.MobileCountryCode.Set, u.MobileCountryCode.Value,
			u.EmailAddress.Set, nullable(u.EmailAddress.Sealed),
			u.FirstName.Set, nullable(u.FirstName.Sealed),
			u.LastName.Set, nullable(u.LastName.Sealed),
			u.Now.Unix(), u.MerchantID, u.ID, u.Version,
			nullable(u.MobileNumber.Index), nullable(u.EmailAddress.Index)).Scan(&v)
		switch {
		case err == nil:
			wrote = true
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	if !wrote {
		return t.changedOrMissing(ctx, u.MerchantID, u.ID)
	}
	return t.insertEvent(ctx, ev)
}

func updateRaw(ctx context.Context, st *rawsqlite.Stmt, u customerd.SealedUpdate) (bool, error) {
	defer st.Reset()
	for _, err := range [...]error{
		st.BindBool(1, u.MobileNumber.Set), st.BindBlobOrNull(2, u.MobileNumber.Sealed),
		st.BindBool(3, u.MobileCountryCode.Set), st.BindText(4, u.MobileCountryCode.Value),
		st.BindBool(5, u.EmailAddress.Set), st.BindBlobOrNull(6, u.EmailAddress.Sealed),
		st.BindBool(7, u.FirstName.Set), st.BindBlobOrNull(8, u.FirstName.Sealed),
		st.BindBool(9, u.LastName.Set), st.BindBlobOrNull(10, u.LastName.Sealed),
		st.BindInt64(11, u.Now.Unix()), st.BindText(12, u.MerchantID), st.BindText(13, u.ID), st.BindInt64(14, u.Version),
		st.BindBlobOrNull(15, u.MobileNumber.Index), st.BindBlobOrNull(16, u.EmailAddress.Index),
	} {
		if err != nil {
			return false, err
		}
	}
	return st.Run(ctx)
}

// changedOrMissing tells, after a write that matched no row, whether the
// customer changed since it was read or is not there at all.
func (t *txn) changedOrMissing(ctx context.Context, merchantID, id string) error {
	var erased sql.NullInt64
	err := t.tx.QueryRowContext(ctx, `SELECT erased_at FROM customers WHERE merchant_id = ? AND id = ?`, merchantID, id).Scan(&erased)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && erased.Valid:
		return customerd.ErrNotFound
	case err != nil:
		return err
	}
	return customerd.ErrChanged
}

// EraseCustomer implements customerd.StoreTx. secure_delete zeroes the
// bytes the erasure frees; PurgeFreed then removes the WAL's older copies.
func (t *txn) EraseCustomer(ctx context.Context, merchantID, id string, version int64, ev *customerd.SealedEvent) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE customers SET ref_index = NULL, mobile_index = NULL, email_index = NULL,
		object_reference_id = NULL, mobile_number = NULL, email_address = NULL, first_name = NULL, last_name = NULL,
		erased_at = ?, version = version + 1
		WHERE merchant_id = ? AND id = ? AND version = ? AND erased_at IS NULL`, ev.Created.Unix(), merchantID, id, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return t.changedOrMissing(ctx, merchantID, id)
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE events SET personal = NULL WHERE merchant_id = ? AND customer_id = ?`,
		merchantID, id); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = 'erased', answer = NULL
		WHERE merchant_id = ? AND customer_id = ? AND state = 'done'`, merchantID, id); err != nil {
		return err
	}
	return t.insertEvent(ctx, ev)
}

// affectOne turns an Exec that changed no row into customerd.ErrNotFound.
func (t *txn) affectOne(res sql.Result, err error) error {
	if err != nil {
		return mapConstraint(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return customerd.ErrNotFound
	}
	return nil
}

// CustomersToReencrypt implements customerd.StoreTx. The writer's
// transaction holds the database's write lock: nothing else changes them.
// Tombstones have nothing sealed left.
func (t *txn) CustomersToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]customerd.SealedCustomer, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers
		WHERE merchant_id = ? AND key_version < ? AND erased_at IS NULL LIMIT ?`, merchantID, below, limit)
	return collect(rows, err, scanCustomer)
}

// ReplaceCustomer implements customerd.StoreTx.
func (t *txn) ReplaceCustomer(ctx context.Context, c customerd.SealedCustomer) error {
	return t.affectOne(t.tx.ExecContext(ctx, `UPDATE customers SET key_version = ?, ref_index = ?,
		mobile_index = ?, email_index = ?,
		object_reference_id = ?, mobile_number = ?, email_address = ?, first_name = ?, last_name = ?
		WHERE merchant_id = ? AND id = ?`,
		c.KeyVersion, c.RefIndex, nullable(c.MobileIndex), nullable(c.EmailIndex), c.ObjectReferenceID, c.MobileNumber,
		nullable(c.EmailAddress), nullable(c.FirstName), nullable(c.LastName), c.MerchantID, c.ID))
}

// InsertMerchant implements customerd.StoreTx.
func (t *txn) InsertMerchant(ctx context.Context, m customerd.Merchant) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO merchants (id, created_at) VALUES (?, ?)`, m.ID, m.CreatedAt.Unix())
	return mapConstraint(err)
}

// InsertAPIKey implements customerd.StoreTx.
func (t *txn) InsertAPIKey(ctx context.Context, k customerd.APIKey) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO api_keys (prefix, hash, merchant_id, created_at) VALUES (?, ?, ?, ?)`,
		k.Prefix, k.Hash, k.MerchantID, k.CreatedAt.Unix())
	return mapConstraint(err)
}

// RevokeAPIKey implements customerd.StoreTx.
func (t *txn) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) error {
	return t.affectOne(t.tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE prefix = ?`,
		at.Unix(), prefix))
}

// ListWrappedKeys implements customerd.StoreTx.
func (t *txn) ListWrappedKeys(ctx context.Context, merchantID string) ([]customerd.WrappedKey, error) {
	rows, err := t.tx.QueryContext(ctx, qWraps, merchantID)
	return collect(rows, err, scanWrap)
}

// InsertWrappedKeys implements customerd.StoreTx.
func (t *txn) InsertWrappedKeys(ctx context.Context, keys []customerd.WrappedKey) error {
	now := time.Now().Unix()
	for _, w := range keys {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO merchant_keys (`+wrapColumns+`, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, w.MerchantID, string(w.Purpose), w.Version, w.MasterKeyID, w.Wrapped, now); err != nil {
			return mapConstraint(err)
		}
		delete(t.versions, w.MerchantID) // a new version: read it again
	}
	return nil
}

// DeleteWrappedKeys implements customerd.StoreTx.
func (t *txn) DeleteWrappedKeys(ctx context.Context, keepMasterKeyID string) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM merchant_keys WHERE master_key_id <> ?`, keepMasterKeyID)
	if err != nil {
		return 0, err
	}
	clear(t.versions)
	n, err := res.RowsAffected()
	return int(n), err
}
