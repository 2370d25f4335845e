package postgres

import (
	"context"
	"fmt"
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

// whyNoWrite tells, after a write that matched no row, why: the merchant's
// data key changed (ErrStaleKey), the customer changed since it was read
// (ErrChanged), or it is not there (ErrNotFound). version < 0 skips the
// customer's version, keyVersion 0 the data key's.
func (t txn) whyNoWrite(ctx context.Context, merchantID, id string, version int64, keyVersion uint32) error {
	var active *int32
	var current *int64
	var erased bool
	err := t.tx.QueryRow(ctx, `SELECT (SELECT MAX(version) FROM merchant_keys WHERE merchant_id = $1 AND purpose = 'data'),
		(SELECT version FROM customers WHERE merchant_id = $1 AND id = $2),
		EXISTS (SELECT 1 FROM customers WHERE merchant_id = $1 AND id = $2 AND erased_at IS NOT NULL)`,
		merchantID, id).Scan(&active, &current, &erased)
	switch {
	case err != nil:
		return mapError(err)
	case active == nil:
		return customerd.ErrNotFound
	case keyVersion != 0 && uint32(*active) != keyVersion:
		return customerd.ErrStaleKey
	case version >= 0 && (current == nil || erased):
		return customerd.ErrNotFound
	case version >= 0:
		return customerd.ErrChanged
	}
	return customerd.ErrNotFound
}

// insertEventFrom is the INSERT of an event whose row the CTE named from
// yields, with the event's fields as $e1… (see eventArgs): the event is
// written only when its change was.
func insertEventFrom(from string, first int) string {
	p := func(i int) string { return fmt.Sprintf("$%d", first+i) }
	return `INSERT INTO events (id, merchant_id, type, customer_id, customer_version, created, request_id,
		api_key_prefix, idempotency_key, kept, key_version, personal)
		SELECT ` + p(0) + `::text, ` + p(1) + `::text, ` + p(2) + `::text, ` + p(3) + `::text, ` + p(4) + `::bigint, ` +
		p(5) + `::timestamptz, ` + p(6) + `::text, ` + p(7) + `::text, ` + p(8) + `::text, ` + p(9) + `::bytea, ` +
		p(10) + `::integer, ` + p(11) + `::bytea FROM ` + from
}

func eventArgs(ev *customerd.SealedEvent) []any {
	return []any{ev.ID, ev.MerchantID, ev.Type, ev.CustomerID, ev.CustomerVersion, ev.Created.UTC(), ev.RequestID,
		ev.APIKeyPrefix, ev.IdempotencyKey, ev.Kept, int32(ev.KeyVersion), ev.Personal}
}

// insertCustomerSQL inserts the customer, provided that its data-key version
// is the merchant's newest, its change to the merchant's count and its event
// with it. The unique constraint on (merchant_id, ref_index) decides races
// between nodes.
var insertCustomerSQL = `WITH c AS (INSERT INTO customers (` + customerColumns + `)
	SELECT $1::text, $2::text, $3::integer, $4::bytea, $5::bytea, $6::bytea, $7::text, $8::bytea, $9::bytea,
		$10::bytea, $11::timestamptz, $12::timestamptz, $13::bigint, $14::bytea, $15::bytea
	WHERE ` + qActiveVersion + ` = $3 RETURNING id),
	n AS (INSERT INTO customer_count_changes (merchant_id, delta) SELECT $2, 1 FROM c)
	` + insertEventFrom("c", 16)

// InsertCustomer implements customerd.StoreTx: one statement.
func (t txn) InsertCustomer(ctx context.Context, c *customerd.SealedCustomer, ev *customerd.SealedEvent) error {
	if !storable(c.MerchantID) {
		return customerd.ErrNotFound
	}
	if ev.KeyVersion != c.KeyVersion {
		return customerd.ErrStaleKey // they cannot both be the newest
	}
	args := append([]any{c.ID, c.MerchantID, int32(c.KeyVersion), c.RefIndex, c.ObjectReferenceID, c.MobileNumber,
		c.MobileCountryCode, c.EmailAddress, c.FirstName, c.LastName, c.DateCreated.UTC(), c.LastUpdated.UTC(), c.Version,
		c.MobileIndex, c.EmailIndex},
		eventArgs(ev)...)
	tag, err := t.exec(ctx, insertCustomerSQL, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return t.whyNoWrite(ctx, c.MerchantID, c.ID, -1, c.KeyVersion)
	}
	return err
}

// updateSQL writes only the columns whose flag is set, a field's blind index
// with it, so one statement serves every combination of fields, provided that the customer is still
// at the version it was read at and the values are sealed under the
// merchant's newest data key; then it appends the event.
var updateSQL = `WITH u AS (UPDATE customers SET
	mobile_number       = CASE WHEN $3::boolean THEN $4::bytea  ELSE mobile_number END,
	mobile_index        = CASE WHEN $3::boolean THEN $16::bytea ELSE mobile_index END,
	mobile_country_code = CASE WHEN $5::boolean THEN $6::text   ELSE mobile_country_code END,
	email_address       = CASE WHEN $7::boolean THEN $8::bytea  ELSE email_address END,
	email_index         = CASE WHEN $7::boolean THEN $17::bytea ELSE email_index END,
	first_name          = CASE WHEN $9::boolean THEN $10::bytea ELSE first_name END,
	last_name           = CASE WHEN $11::boolean THEN $12::bytea ELSE last_name END,
	last_updated        = GREATEST(last_updated, $13::timestamptz),
	version             = version + 1
	WHERE id = $1 AND merchant_id = $2 AND version = $15 AND erased_at IS NULL
	AND ` + qActiveVersion + ` = $14::integer
	RETURNING id) ` + insertEventFrom("u", 18)

// UpdateCustomer implements customerd.StoreTx: one statement.
func (t txn) UpdateCustomer(ctx context.Context, u customerd.SealedUpdate, ev *customerd.SealedEvent) error {
	if !storable(u.MerchantID, u.ID) {
		return customerd.ErrNotFound
	}
	if ev.KeyVersion != u.KeyVersion {
		return customerd.ErrStaleKey
	}
	args := append([]any{u.ID, u.MerchantID,
		u.MobileNumber.Set, u.MobileNumber.Sealed,
		u.MobileCountryCode.Set, u.MobileCountryCode.Value,
		u.EmailAddress.Set, u.EmailAddress.Sealed,
		u.FirstName.Set, u.FirstName.Sealed,
		u.LastName.Set, u.LastName.Sealed,
		u.Now.UTC(), int32(u.KeyVersion), u.Version, u.MobileNumber.Index, u.EmailAddress.Index}, eventArgs(ev)...)
	tag, err := t.exec(ctx, updateSQL, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return t.whyNoWrite(ctx, u.MerchantID, u.ID, u.Version, u.KeyVersion)
	}
	return err
}

// eraseSQL makes the customer a tombstone, deletes the personal part of its
// events, takes it off the merchant's count and appends the erasure's
// event, in one statement. The old row
// versions stay in the table's pages until VACUUM reclaims them
// (SECURITY.md).
var eraseSQL = `WITH c AS (UPDATE customers SET ref_index = NULL, mobile_index = NULL, email_index = NULL,
		object_reference_id = NULL, mobile_number = NULL, email_address = NULL, first_name = NULL, last_name = NULL,
		erased_at = $4, version = version + 1
		WHERE merchant_id = $1 AND id = $2 AND version = $3 AND erased_at IS NULL RETURNING id),
	e AS (UPDATE events SET personal = NULL WHERE merchant_id = $1 AND customer_id IN (SELECT id FROM c)),
	i AS (UPDATE idempotency_keys SET state = 'erased', answer = NULL
		WHERE merchant_id = $1 AND customer_id IN (SELECT id FROM c) AND state = 'done'),
	n AS (INSERT INTO customer_count_changes (merchant_id, delta) SELECT $1, -1 FROM c)
	` + insertEventFrom("c", 5)

// EraseCustomer implements customerd.StoreTx.
func (t txn) EraseCustomer(ctx context.Context, merchantID, id string, version int64, ev *customerd.SealedEvent) error {
	if !storable(merchantID, id) {
		return customerd.ErrNotFound
	}
	tag, err := t.exec(ctx, eraseSQL, append([]any{merchantID, id, version, ev.Created.UTC()}, eventArgs(ev)...)...)
	if err == nil && tag.RowsAffected() == 0 {
		return t.whyNoWrite(ctx, merchantID, id, version, 0) // the erasure seals nothing
	}
	return err
}

// CustomersToReencrypt implements customerd.StoreTx: rows another node is
// rewriting are skipped.
func (t txn) CustomersToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]customerd.SealedCustomer, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+customerColumns+` FROM customers
		WHERE merchant_id = $1 AND key_version < $2 AND erased_at IS NULL ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
		merchantID, int32(below), limit)
	out, err := collect(rows, err, scanCustomer)
	return out, mapError(err)
}

// ReplaceCustomer implements customerd.StoreTx.
func (t txn) ReplaceCustomer(ctx context.Context, c customerd.SealedCustomer) error {
	return t.execOne(ctx, `UPDATE customers SET key_version = $3, ref_index = $4, object_reference_id = $5,
		mobile_number = $6, email_address = $7, first_name = $8, last_name = $9, mobile_index = $10, email_index = $11
		WHERE merchant_id = $1 AND id = $2`,
		c.MerchantID, c.ID, int32(c.KeyVersion), c.RefIndex, c.ObjectReferenceID, c.MobileNumber,
		c.EmailAddress, c.FirstName, c.LastName, c.MobileIndex, c.EmailIndex)
}

// InsertMerchant implements customerd.StoreTx, with the merchant's event
// counter and customer count.
func (t txn) InsertMerchant(ctx context.Context, m customerd.Merchant) error {
	if _, err := t.exec(ctx, `INSERT INTO merchants (id, created_at) VALUES ($1, $2)`, m.ID, m.CreatedAt.UTC()); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO event_counters (merchant_id, last_sequence) VALUES ($1, 0)`, m.ID); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO customer_counts (merchant_id, live) VALUES ($1, 0)`, m.ID)
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
