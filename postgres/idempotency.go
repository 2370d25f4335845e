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

// unflushed makes the statement it is joined to commit without waiting for
// its WAL flush (synchronous_commit off, for that transaction only): a
// claim is seen by every node at once, and only the request holding it
// needs it to last. The flush of that request's own commit, later in the
// WAL, makes it durable too.
const unflushed = `(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed`

// ClaimIdempotencyKey implements customerd.Store: one upsert that takes
// over only a record that is no longer live. The primary key decides
// between nodes: of two claims of one key at once, the second waits for the
// first's statement, then finds its claim live.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool, error) {
	if !storable(r.MerchantID) {
		return customerd.IdempotentRecord{}, false, customerd.ErrNotFound
	}
	var claimed bool
	err := s.run(ctx, false, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (merchant_id, key_hash, request_hash, token, state,
			locked_until, expires, customer_id, status, key_version, answer)
			SELECT $1, $2, $3, $4, 'in_flight', $5, $6, NULL, 0, 0, NULL FROM `+unflushed+`
			ON CONFLICT (merchant_id, key_hash) DO UPDATE SET request_hash = EXCLUDED.request_hash, token = EXCLUDED.token,
				state = 'in_flight', locked_until = EXCLUDED.locked_until, expires = EXCLUDED.expires,
				customer_id = NULL, status = 0, key_version = 0, answer = NULL
			WHERE (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= $7)
				OR (idempotency_keys.state <> 'in_flight' AND idempotency_keys.expires <= $7)`,
			r.MerchantID, r.KeyHash, r.RequestHash, r.Token, r.LockedUntil.UTC(), r.Expires.UTC(), now.UTC())
		claimed = tag.RowsAffected() == 1
		return err
	})
	if err != nil || claimed {
		return r, claimed, err
	}
	live, err := s.FindIdempotentRecord(ctx, r.MerchantID, r.KeyHash)
	return live, false, err
}

// ReleaseIdempotencyKey implements customerd.Store: a committed claim was
// replaced by its record in its write's transaction, and needs nothing.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, merchantID string, keyHash, token []byte, committed bool) error {
	if committed || !storable(merchantID) {
		return nil
	}
	return s.run(ctx, true, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys USING `+unflushed+` WHERE merchant_id = $1 AND key_hash = $2
			AND token = $3 AND state = 'in_flight'`, merchantID, keyHash, token)
		return err
	})
}

// CompleteIdempotentRecord implements customerd.StoreTx: one upsert that
// takes the place of the claim's token or of a record no longer live.
func (t txn) CompleteIdempotentRecord(ctx context.Context, r customerd.IdempotentRecord, now time.Time) error {
	tag, err := t.exec(ctx, `INSERT INTO idempotency_keys (merchant_id, key_hash, request_hash, token, state,
		locked_until, expires, customer_id, status, key_version, answer) VALUES ($1, $2, $3, $4, 'done', $5, $6, NULLIF($7, ''), $8, $9, $10)
		ON CONFLICT (merchant_id, key_hash) DO UPDATE SET request_hash = EXCLUDED.request_hash, token = EXCLUDED.token,
			state = 'done', locked_until = EXCLUDED.locked_until, expires = EXCLUDED.expires,
			customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, key_version = EXCLUDED.key_version,
			answer = EXCLUDED.answer
		WHERE idempotency_keys.token = EXCLUDED.token
			OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= $11)
			OR (idempotency_keys.state <> 'in_flight' AND idempotency_keys.expires <= $11)`,
		r.MerchantID, r.KeyHash, r.RequestHash, r.Token, r.LockedUntil.UTC(), r.Expires.UTC(), r.CustomerID,
		int32(r.Status), int32(r.KeyVersion), r.Answer, now.UTC())
	if err == nil && tag.RowsAffected() == 0 {
		return customerd.ErrChanged
	}
	return err
}

// DeleteExpiredIdempotentRecords implements customerd.StoreTx.
func (t txn) DeleteExpiredIdempotentRecords(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := t.exec(ctx, `DELETE FROM idempotency_keys WHERE (merchant_id, key_hash) IN (
		SELECT merchant_id, key_hash FROM idempotency_keys WHERE expires < $1 LIMIT $2)`, now.UTC(), limit)
	return int(tag.RowsAffected()), err
}
