package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sync"
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

// claims are the Idempotency-Key claims of the requests in flight in this
// process. One process serves a SQLite database, so a claim need not be
// written: it lives here, by merchant and keyed hash, until its request
// ends, and the write that holds it stores its record. Were a second
// process to write to the same file, CompleteIdempotentRecord still keeps
// a key to one change: the later write finds the earlier one's record.
type claims struct {
	mu sync.Mutex
	m  map[string]map[string]customerd.IdempotentRecord // by merchant, then keyed hash
}

// get returns the claim on the key, if there is one.
func (c *claims) get(merchantID string, keyHash []byte) (customerd.IdempotentRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[merchantID][string(keyHash)]
	return r, ok
}

// take stores r unless a claim live at now holds its key, which it returns.
func (c *claims) take(r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if held, ok := c.m[r.MerchantID][string(r.KeyHash)]; ok && held.LiveAt(now) {
		return held, false
	}
	if c.m == nil {
		c.m = map[string]map[string]customerd.IdempotentRecord{}
	}
	if c.m[r.MerchantID] == nil {
		c.m[r.MerchantID] = map[string]customerd.IdempotentRecord{}
	}
	c.m[r.MerchantID][string(r.KeyHash)] = r
	return r, true
}

// drop deletes the claim token holds on the key, if it still does.
func (c *claims) drop(merchantID string, keyHash, token []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if held, ok := c.m[merchantID][string(keyHash)]; ok && bytes.Equal(held.Token, token) {
		delete(c.m[merchantID], string(keyHash))
	}
}

// FindIdempotentRecord implements customerd.StoreReader: the claim in
// flight on the key, unless the record stored is that claim's own, done.
func (s *Store) FindIdempotentRecord(ctx context.Context, merchantID string, keyHash []byte) (customerd.IdempotentRecord, error) {
	rec, err := s.storedIdempotentRecord(ctx, merchantID, keyHash)
	if err != nil && customerd.ErrorCode(err) != customerd.ENOTFOUND {
		return rec, err
	}
	if claim, ok := s.claims.get(merchantID, keyHash); ok && (err != nil || !bytes.Equal(rec.Token, claim.Token)) {
		return claim, nil
	}
	return rec, err
}

// storedIdempotentRecord reads the key's record from the database: a
// replay's one read, on the fast pool.
func (s *Store) storedIdempotentRecord(ctx context.Context, merchantID string, keyHash []byte) (customerd.IdempotentRecord, error) {
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
	blob := func(i int) []byte {
		if b := st.Bytes(i); b != nil {
			return append([]byte(nil), b...)
		}
		return nil
	}
	return customerd.IdempotentRecord{MerchantID: merchantID, KeyHash: blob(1), RequestHash: blob(2), Token: blob(3),
		State: string(st.Bytes(4)), LockedUntil: time.Unix(0, st.Int64(5)).UTC(), Expires: time.Unix(0, st.Int64(6)).UTC(),
		CustomerID: string(st.Bytes(7)), Status: int(st.Int64(8)), KeyVersion: uint32(st.Int64(9)), Answer: blob(10)}, nil
}

// ClaimIdempotencyKey implements customerd.Store: the claim is held in
// memory (see claims), and the key's record read once it is, so that a
// record committed before the claim counts.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool, error) {
	if held, ok := s.claims.take(r, now); !ok {
		return held, false, nil
	}
	rec, err := s.storedIdempotentRecord(ctx, r.MerchantID, r.KeyHash)
	switch {
	case err == nil && rec.LiveAt(now):
		s.claims.drop(r.MerchantID, r.KeyHash, r.Token)
		return rec, false, nil
	case err != nil && customerd.ErrorCode(err) != customerd.ENOTFOUND:
		s.claims.drop(r.MerchantID, r.KeyHash, r.Token)
		return customerd.IdempotentRecord{}, false, err
	}
	return r, true, nil
}

// ReleaseIdempotencyKey implements customerd.Store.
func (s *Store) ReleaseIdempotencyKey(_ context.Context, merchantID string, keyHash, token []byte, _ bool) error {
	s.claims.drop(merchantID, keyHash, token)
	return nil
}

// CompleteIdempotentRecord implements customerd.StoreTx: unless another
// claim in memory holds the key, one upsert that takes the place of the
// claim's token or of a record no longer live.
func (t *txn) CompleteIdempotentRecord(ctx context.Context, r customerd.IdempotentRecord, now time.Time) error {
	if held, ok := t.s.claims.get(r.MerchantID, r.KeyHash); ok && held.LiveAt(now) && !bytes.Equal(held.Token, r.Token) {
		return customerd.ErrChanged
	}
	res, err := t.tx.ExecContext(ctx, qCompleteIdem, r.MerchantID, r.KeyHash, r.RequestHash, r.Token, r.LockedUntil.UnixNano(),
		r.Expires.UnixNano(), nullString(r.CustomerID), r.Status, r.KeyVersion, r.Answer, now.UnixNano())
	if err != nil {
		return mapConstraint(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return customerd.ErrChanged
	}
	return nil
}

const qCompleteIdem = `INSERT INTO idempotency_keys (merchant_id, key_hash, request_hash, token, state, locked_until,
		expires, customer_id, status, key_version, answer) VALUES (?1, ?2, ?3, ?4, 'done', ?5, ?6, ?7, ?8, ?9, ?10)
	ON CONFLICT (merchant_id, key_hash) DO UPDATE SET request_hash = excluded.request_hash, token = excluded.token,
		state = 'done', locked_until = excluded.locked_until, expires = excluded.expires,
		customer_id = excluded.customer_id, status = excluded.status, key_version = excluded.key_version,
		answer = excluded.answer
	WHERE idempotency_keys.token = excluded.token
		OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until <= ?11)
		OR (idempotency_keys.state <> 'in_flight' AND idempotency_keys.expires <= ?11)`

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
