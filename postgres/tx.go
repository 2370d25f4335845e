package postgres

import (
	"context"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// txn is the customerd.StoreTx of one Write: a pgx transaction. Every
// operation maps its errors, so that the service sees ErrConflict and
// ErrNotFound where they happen.
type txn struct{ tx pgx.Tx }

var _ customerd.StoreTx = txn{}

func (t txn) exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.tx.Exec(ctx, q, args...)
	return tag, mapError(err)
}

// execOne is exec for a statement that must change one row: ErrNotFound
// when it changed none.
func (t txn) execOne(ctx context.Context, q string, args ...any) error {
	tag, err := t.exec(ctx, q, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return customerd.ErrNotFound
	}
	return err
}

// qActiveVersion is the merchant's newest data-key version: a write sealed
// under another one is refused (customerd.ErrStaleKey).
const qActiveVersion = `(SELECT MAX(version) FROM merchant_keys WHERE merchant_id = $2 AND purpose = 'data')`

// staleOrMissing tells, after a write that the check of qActiveVersion may
// have refused, whether the key version was stale or the row was missing.
func (t txn) staleOrMissing(ctx context.Context, merchantID string, version uint32) error {
	var active *int32
	if err := t.tx.QueryRow(ctx, `SELECT MAX(version) FROM merchant_keys WHERE merchant_id = $1 AND purpose = 'data'`,
		merchantID).Scan(&active); err != nil {
		return mapError(err)
	}
	if active != nil && uint32(*active) != version {
		return customerd.ErrStaleKey
	}
	return customerd.ErrNotFound
}

// InsertCustomer implements customerd.StoreTx. The unique constraint on
// (merchant_id, ref_index) decides races between nodes.
func (t txn) InsertCustomer(ctx context.Context, c *customerd.SealedCustomer) error {
	if !storable(c.MerchantID) {
		return customerd.ErrNotFound
	}
	tag, err := t.exec(ctx, `INSERT INTO customers (`+customerColumns+`)
		SELECT $1::text, $2::text, $3::integer, $4::bytea, $5::bytea, $6::bytea, $7::text, $8::bytea, $9::bytea,
			$10::bytea, $11::timestamptz, $12::timestamptz
		WHERE `+qActiveVersion+` = $3`,
		c.ID, c.MerchantID, int32(c.KeyVersion), c.RefIndex, c.ObjectReferenceID, c.MobileNumber,
		c.MobileCountryCode, c.EmailAddress, c.FirstName, c.LastName, c.DateCreated.UTC(), c.LastUpdated.UTC())
	if err == nil && tag.RowsAffected() == 0 {
		return t.staleOrMissing(ctx, c.MerchantID, c.KeyVersion)
	}
	return err
}

// updateSQL writes only the columns whose flag is set, so one statement
// serves every combination of fields, and two updates of different fields
// never undo each other: each reads the other's committed column values
// inside the UPDATE itself, not from an earlier read.
const updateSQL = `UPDATE customers SET
	mobile_number       = CASE WHEN $3::boolean THEN $4::bytea  ELSE mobile_number END,
	mobile_country_code = CASE WHEN $5::boolean THEN $6::text   ELSE mobile_country_code END,
	email_address       = CASE WHEN $7::boolean THEN $8::bytea  ELSE email_address END,
	first_name          = CASE WHEN $9::boolean THEN $10::bytea ELSE first_name END,
	last_name           = CASE WHEN $11::boolean THEN $12::bytea ELSE last_name END,
	last_updated        = GREATEST(last_updated, $13::timestamptz)
	WHERE id = $1 AND merchant_id = $2 AND ` + qActiveVersion + ` = $14::integer
	RETURNING ` + customerColumns

// UpdateCustomer implements customerd.StoreTx.
func (t txn) UpdateCustomer(ctx context.Context, u customerd.SealedUpdate) (customerd.SealedCustomer, error) {
	if !storable(u.MerchantID, u.ID) {
		return customerd.SealedCustomer{}, customerd.ErrNotFound
	}
	row, err := scanCustomer(t.tx.QueryRow(ctx, updateSQL, u.ID, u.MerchantID,
		u.MobileNumber.Set, u.MobileNumber.Sealed,
		u.MobileCountryCode.Set, u.MobileCountryCode.Value,
		u.EmailAddress.Set, u.EmailAddress.Sealed,
		u.FirstName.Set, u.FirstName.Sealed,
		u.LastName.Set, u.LastName.Sealed,
		u.Now.UTC(), int32(u.KeyVersion)))
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return row, t.staleOrMissing(ctx, u.MerchantID, u.KeyVersion)
	}
	return row, mapError(err)
}

// DeleteCustomer implements customerd.StoreTx. The row's old version stays
// in the table's pages until VACUUM reclaims it (SECURITY.md).
func (t txn) DeleteCustomer(ctx context.Context, merchantID, id string) error {
	if !storable(merchantID, id) {
		return customerd.ErrNotFound
	}
	return t.execOne(ctx, `DELETE FROM customers WHERE merchant_id = $1 AND id = $2`, merchantID, id)
}

// CustomersToReencrypt implements customerd.StoreTx: rows another node is
// rewriting are skipped.
func (t txn) CustomersToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]customerd.SealedCustomer, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+customerColumns+` FROM customers
		WHERE merchant_id = $1 AND key_version < $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
		merchantID, int32(below), limit)
	out, err := collect(rows, err, scanCustomer)
	return out, mapError(err)
}

// ReplaceCustomer implements customerd.StoreTx.
func (t txn) ReplaceCustomer(ctx context.Context, c customerd.SealedCustomer) error {
	return t.execOne(ctx, `UPDATE customers SET key_version = $3, ref_index = $4, object_reference_id = $5,
		mobile_number = $6, email_address = $7, first_name = $8, last_name = $9 WHERE merchant_id = $1 AND id = $2`,
		c.MerchantID, c.ID, int32(c.KeyVersion), c.RefIndex, c.ObjectReferenceID, c.MobileNumber,
		c.EmailAddress, c.FirstName, c.LastName)
}

// InsertMerchant implements customerd.StoreTx.
func (t txn) InsertMerchant(ctx context.Context, m customerd.Merchant) error {
	_, err := t.exec(ctx, `INSERT INTO merchants (id, created_at) VALUES ($1, $2)`, m.ID, m.CreatedAt.UTC())
	return err
}

// InsertAPIKey implements customerd.StoreTx.
func (t txn) InsertAPIKey(ctx context.Context, k customerd.APIKey) error {
	if !storable(k.MerchantID) {
		return customerd.ErrNotFound
	}
	_, err := t.exec(ctx, `INSERT INTO api_keys (prefix, hash, merchant_id, created_at) VALUES ($1, $2, $3, $4)`,
		k.Prefix, k.Hash, k.MerchantID, k.CreatedAt.UTC())
	return err
}

// RevokeAPIKey implements customerd.StoreTx.
func (t txn) RevokeAPIKey(ctx context.Context, prefix string, at time.Time) error {
	if !storable(prefix) {
		return customerd.ErrNotFound
	}
	return t.execOne(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE prefix = $2`, at.UTC(), prefix)
}

// ListWrappedKeys implements customerd.StoreTx: the rows read are locked
// until the transaction ends, so that two rotations take turns.
func (t txn) ListWrappedKeys(ctx context.Context, merchantID string) ([]customerd.WrappedKey, error) {
	if !storable(merchantID) {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, qWraps+` FOR UPDATE`, merchantID)
	out, err := collect(rows, err, scanWrap)
	return out, mapError(err)
}

// InsertWrappedKeys implements customerd.StoreTx.
func (t txn) InsertWrappedKeys(ctx context.Context, keys []customerd.WrappedKey) error {
	for _, w := range keys {
		if _, err := t.exec(ctx, `INSERT INTO merchant_keys (merchant_id, purpose, version, master_key_id, wrapped, created_at)
			VALUES ($1, $2, $3, $4, $5, now())`, w.MerchantID, string(w.Purpose), int32(w.Version), w.MasterKeyID, w.Wrapped); err != nil {
			return err
		}
	}
	return nil
}

// DeleteWrappedKeys implements customerd.StoreTx.
func (t txn) DeleteWrappedKeys(ctx context.Context, keepMasterKeyID string) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM merchant_keys WHERE master_key_id <> $1`, keepMasterKeyID)
	return int(tag.RowsAffected()), err
}
