package postgres

import (
	"context"
	"errors"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5"
)

const idemColumns = `merchant_id, key_hash, request_hash, token, state, locked_until, expires,
	COALESCE(customer_id, ''), status, key_version, answer`

const qIdemByKey = `SELECT ` + idemColumns + ` FROM idempotency_keys WHERE merchant_id = $1 AND key_hash = $2`

func scanIdem(r pgx.Row) (customerd.IdempotentRecord, error) {
	var rec customerd.IdempotentRecord
	var status, keyVersion int32
	err := r.Scan(&rec.MerchantID, &rec.KeyHash, &rec.RequestHash, &rec.Token, &rec.State, &rec.LockedUntil, &rec.Expires,
		&rec.CustomerID, &status, &keyVersion, &rec.Answer)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, customerd.ErrNotFound
	}
	rec.Status, rec.KeyVersion = int(status), uint32(keyVersion)
	rec.LockedUntil, rec.Expires = rec.LockedUntil.UTC(), rec.Expires.UTC()
	return rec, err
}

// FindIdempotentRecord implements customerd.StoreReader.
func (s *Store) FindIdempotentRecord(ctx context.Context, merchantID string, keyHash []byte) (customerd.IdempotentRecord, error) {
	if !storable(merchantID) {
		return customerd.IdempotentRecord{}, customerd.ErrNotFound
	}
	return queryRow(s, ctx, scanIdem, qIdemByKey, merchantID, keyHash)
}

// ClaimIdempotentRecord implements customerd.StoreTx. The primary key
// decides between nodes: of two claims of one key at once, the second waits
// for the first's transaction, then finds its record live.
func (t txn) ClaimIdempotentRecord(ctx context.Context, r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool, error) {
	if !storable(r.MerchantID) {
		return customerd.IdempotentRecord{}, false, customerd.ErrNotFound
	}
	tag, err := t.exec(ctx, `INSERT INTO idempotency_keys (merchant_id, key_hash, request_hash, token, state,
		locked_until, expires, customer_id, status, key_version, answer) VALUES ($1, $2, $3, $4, 'in_flight', $5, $6, NULL, 0, 0, NULL)
		ON CONFLICT (merchant_id, key_hash) DO UPDATE SET request_hash = EXCLUDED.request_hash, token = EXCLUDED.token,
			state = 'in_flight', locked_until = EXCLUDED.locked_until, expires = EXCLUDED.expires,
			customer_id = NULL, status = 0, key_version = 0, answer = NULL
		WHERE (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= $7)
			OR (idempotency_keys.state <> 'in_flight' AND idempotency_keys.expires <= $7)`,
		r.MerchantID, r.KeyHash, r.RequestHash, r.Token, r.LockedUntil.UTC(), r.Expires.UTC(), now.UTC())
	if err != nil {
		return customerd.IdempotentRecord{}, false, err
	}
	if tag.RowsAffected() == 1 {
		return r, true, nil
	}
	live, err := scanIdem(t.tx.QueryRow(ctx, qIdemByKey, r.MerchantID, r.KeyHash))
	return live, false, mapError(err)
}

// CompleteIdempotentRecord implements customerd.StoreTx.
func (t txn) CompleteIdempotentRecord(ctx context.Context, r customerd.IdempotentRecord) error {
	tag, err := t.exec(ctx, `UPDATE idempotency_keys SET state = 'done', status = $4, answer = $5, key_version = $6,
		customer_id = NULLIF($7, ''), expires = $8 WHERE merchant_id = $1 AND key_hash = $2 AND token = $3 AND state = 'in_flight'`,
		r.MerchantID, r.KeyHash, r.Token, int32(r.Status), r.Answer, int32(r.KeyVersion), r.CustomerID, r.Expires.UTC())
	if err == nil && tag.RowsAffected() == 0 {
		return customerd.ErrChanged
	}
	return err
}

// ReleaseIdempotentRecord implements customerd.StoreTx.
func (t txn) ReleaseIdempotentRecord(ctx context.Context, merchantID string, keyHash, token []byte) error {
	_, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key_hash = $2 AND token = $3
		AND state = 'in_flight'`, merchantID, keyHash, token)
	return err
}

// DeleteExpiredIdempotentRecords implements customerd.StoreTx.
func (t txn) DeleteExpiredIdempotentRecords(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE (merchant_id, key_hash) IN (
		SELECT merchant_id, key_hash FROM idempotency_keys WHERE expires < $1 LIMIT $2)`, now.UTC(), limit)
	return int(tag.RowsAffected()), err
}
