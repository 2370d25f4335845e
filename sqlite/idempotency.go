package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"customerd"
)

const idemColumns = `merchant_id, key_hash, request_hash, token, state, locked_until, expires,
	COALESCE(customer_id, ''), status, key_version, answer`

const qIdemByKey = `SELECT ` + idemColumns + ` FROM idempotency_keys WHERE merchant_id = ? AND key_hash = ?`

func scanIdem(r rowScanner) (customerd.IdempotentRecord, error) {
	var rec customerd.IdempotentRecord
	var locked, expires int64
	err := r.Scan(&rec.MerchantID, &rec.KeyHash, &rec.RequestHash, &rec.Token, &rec.State, &locked, &expires,
		&rec.CustomerID, &rec.Status, &rec.KeyVersion, &rec.Answer)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, customerd.ErrNotFound
	}
	rec.LockedUntil, rec.Expires = time.Unix(0, locked).UTC(), time.Unix(0, expires).UTC()
	return rec, err
}

// FindIdempotentRecord implements customerd.StoreReader: a replay's one
// read, on the fast pool.
func (s *Store) FindIdempotentRecord(ctx context.Context, merchantID string, keyHash []byte) (customerd.IdempotentRecord, error) {
	if s.fast == nil {
		return scanIdem(s.rdb.QueryRowContext(ctx, qIdemByKey, merchantID, keyHash))
	}
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return customerd.IdempotentRecord{}, err
	}
	defer s.fast.Release(conn)
	st := conn.Stmt(fastIdem)
	if err := st.BindText(1, merchantID); err != nil {
		return customerd.IdempotentRecord{}, err
	}
	if err := st.BindBlob(2, keyHash); err != nil {
		return customerd.IdempotentRecord{}, err
	}
	row, err := st.Run(ctx)
	if err != nil || !row {
		if err == nil {
			err = customerd.ErrNotFound
		}
		return customerd.IdempotentRecord{}, err
	}
	bytes := func(i int) []byte {
		if b := st.Bytes(i); b != nil {
			return append([]byte(nil), b...)
		}
		return nil
	}
	return customerd.IdempotentRecord{MerchantID: merchantID, KeyHash: bytes(1), RequestHash: bytes(2), Token: bytes(3),
		State: string(st.Bytes(4)), LockedUntil: time.Unix(0, st.Int64(5)).UTC(), Expires: time.Unix(0, st.Int64(6)).UTC(),
		CustomerID: string(st.Bytes(7)), Status: int(st.Int64(8)), KeyVersion: uint32(st.Int64(9)), Answer: bytes(10)}, nil
}

// ClaimIdempotentRecord implements customerd.StoreTx: one upsert that
// takes over only a record that is no longer live.
func (t *txn) ClaimIdempotentRecord(ctx context.Context, r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO idempotency_keys (merchant_id, key_hash, request_hash, token, state,
		locked_until, expires, customer_id, status, key_version, answer) VALUES (?1, ?2, ?3, ?4, 'in_flight', ?5, ?6, NULL, 0, 0, NULL)
		ON CONFLICT (merchant_id, key_hash) DO UPDATE SET request_hash = excluded.request_hash, token = excluded.token,
			state = 'in_flight', locked_until = excluded.locked_until, expires = excluded.expires,
			customer_id = NULL, status = 0, key_version = 0, answer = NULL
		WHERE (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= ?7)
			OR (idempotency_keys.state <> 'in_flight' AND idempotency_keys.expires <= ?7)`,
		r.MerchantID, r.KeyHash, r.RequestHash, r.Token, r.LockedUntil.UnixNano(), r.Expires.UnixNano(), now.UnixNano())
	if err != nil {
		return customerd.IdempotentRecord{}, false, mapConstraint(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return r, true, nil
	}
	live, err := scanIdem(t.tx.QueryRowContext(ctx, qIdemByKey, r.MerchantID, r.KeyHash))
	return live, false, err
}

// CompleteIdempotentRecord implements customerd.StoreTx.
func (t *txn) CompleteIdempotentRecord(ctx context.Context, r customerd.IdempotentRecord) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE idempotency_keys SET state = 'done', status = ?, answer = ?, key_version = ?,
		customer_id = ?, expires = ? WHERE merchant_id = ? AND key_hash = ? AND token = ? AND state = 'in_flight'`,
		r.Status, r.Answer, r.KeyVersion, nullString(r.CustomerID), r.Expires.UnixNano(), r.MerchantID, r.KeyHash, r.Token)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return customerd.ErrChanged
	}
	return nil
}

// ReleaseIdempotentRecord implements customerd.StoreTx.
func (t *txn) ReleaseIdempotentRecord(ctx context.Context, merchantID string, keyHash, token []byte) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE merchant_id = ? AND key_hash = ? AND token = ?
		AND state = 'in_flight'`, merchantID, keyHash, token)
	return err
}

// DeleteExpiredIdempotentRecords implements customerd.StoreTx.
func (t *txn) DeleteExpiredIdempotentRecords(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (merchant_id, key_hash) IN (
		SELECT merchant_id, key_hash FROM idempotency_keys WHERE expires < ? LIMIT ?)`, now.UnixNano(), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
