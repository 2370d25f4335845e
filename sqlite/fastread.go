package sqlite

import (
	"context"
	"time"

	"customerd"
	"customerd/sqlite/internal/rawsqlite"
)

// The statements of the fast read pool, by index.
const (
	fastByID  = iota // qByID
	fastByRef        // qByRef
	fastIdem         // qIdemByKey
	fastEvent        // qEventByID
)

// fastSetup is run on every connection of the fast read pool: the
// per-connection pragmas of the database/sql read pool, but busy_timeout,
// which rawsqlite's context-aware busy handler replaces (with the same 10 s).
var fastSetup = []string{
	"PRAGMA cache_size = -2048", // see pageCacheNote
	"PRAGMA query_only = 1",
}

// openFastReads opens the fast read pool. Its connections keep a read
// transaction between lookups while nothing is committed (see
// rawsqlite.Pool.KeepReadTransactions), which saves starting and ending one
// per lookup; where the WAL index cannot be mapped they read as before.
func openFastReads(path string, size int) (*rawsqlite.Pool, error) {
	p, err := rawsqlite.Open(path, size, fastSetup, []string{fastByID: qByID, fastByRef: qByRef, fastIdem: qIdemByKey,
		fastEvent: qEventByID})
	if err != nil {
		return nil, err
	}
	_ = p.KeepReadTransactions()
	return p, nil
}

// readFast runs one of the fast pool's statements: by id, or by reference
// index when id is empty.
func (s *Store) readFast(ctx context.Context, which int, merchantID, id string, refIndex []byte) (customerd.SealedCustomer, error) {
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return customerd.SealedCustomer{}, err
	}
	defer s.fast.Release(conn) // which resets st
	st := conn.Stmt(which)
	if id != "" {
		if err = st.BindText(1, id); err == nil {
			err = st.BindText(2, merchantID)
		}
	} else {
		if err = st.BindText(1, merchantID); err == nil {
			err = st.BindBlob(2, refIndex)
		}
	}
	if err != nil {
		return customerd.SealedCustomer{}, err
	}
	return scanRow(ctx, st, merchantID, id)
}

// scanRow runs st, whose parameters are bound, and reads the row of
// customerColumns it returns, or customerd.ErrNotFound. Every byte column is
// copied into one buffer, since SQLite's copy is gone once the statement is
// reset. The row's id is id when that is not empty. st is left to the
// caller to reset.
func scanRow(ctx context.Context, st *rawsqlite.Stmt, merchantID, id string) (customerd.SealedCustomer, error) {
	row, err := st.Run(ctx)
	if err != nil || !row {
		if err == nil {
			err = customerd.ErrNotFound
		}
		return customerd.SealedCustomer{}, err
	}
	return readRow(st, merchantID, id), nil
}

// readRow reads the current row of st, of customerColumns, as scanRow
// does.
func readRow(st *rawsqlite.Stmt, merchantID, id string) customerd.SealedCustomer {
	// Columns, as in customerColumns: 0 id, 1 merchant_id, 2 key_version,
	// 3 ref_index, 4 object_reference_id, 5 mobile_number,
	// 6 mobile_country_code, 7 email_address, 8 first_name, 9 last_name,
	// 10 date_created, 11 last_updated, 12 version, 13 mobile_index,
	// 14 email_index. The id and merchant are those
	// matched (SQLite compares TEXT bytewise), so only a lookup by
	// reference reads the id.
	const (
		cID = iota
		cRefIndex
		cRef
		cMobile
		cEmail
		cFirst
		cLast
		cMobileIndex
		cEmailIndex
		nCopied
	)
	copied := [nCopied]int{cID: 0, cRefIndex: 3, cRef: 4, cMobile: 5, cEmail: 7, cFirst: 8, cLast: 9, cMobileIndex: 13, cEmailIndex: 14}
	// Each column's bytes are asked for once: every call into SQLite costs.
	var cols [nCopied][]byte
	size := 0
	for j, i := range copied {
		if j == cID && id != "" {
			continue
		}
		cols[j] = st.Bytes(i)
		size += len(cols[j])
	}
	buf := make([]byte, 0, size)
	take := func(j int) []byte {
		b := cols[j]
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	c := customerd.SealedCustomer{ID: id, MerchantID: merchantID}
	if id == "" {
		c.ID = string(take(cID))
	}
	c.KeyVersion = uint32(st.Int64(2))
	c.RefIndex = take(cRefIndex)
	c.ObjectReferenceID = take(cRef)
	c.MobileNumber = take(cMobile)
	c.MobileCountryCode = string(st.Bytes(6))
	c.EmailAddress = take(cEmail)
	c.FirstName = take(cFirst)
	c.LastName = take(cLast)
	c.MobileIndex = take(cMobileIndex)
	c.EmailIndex = take(cEmailIndex)
	c.DateCreated = time.Unix(st.Int64(10), 0).UTC()
	c.LastUpdated = time.Unix(st.Int64(11), 0).UTC()
	c.Version = st.Int64(12)
	return c
}

// findEventFast is FindEvent on the fast read pool.
func (s *Store) findEventFast(ctx context.Context, merchantID, id string) (customerd.SealedEvent, error) {
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return customerd.SealedEvent{}, err
	}
	defer s.fast.Release(conn) // which resets st
	st := conn.Stmt(fastEvent)
	if err = st.BindText(1, id); err == nil {
		err = st.BindText(2, merchantID)
	}
	if err != nil {
		return customerd.SealedEvent{}, err
	}
	row, err := st.Run(ctx)
	if err != nil || !row {
		if err == nil {
			err = customerd.ErrNotFound
		}
		return customerd.SealedEvent{}, err
	}
	return readEvent(st, merchantID, id), nil
}

// readEvent reads the current row of st, of eventColumns, copying its
// bytes. The row's id is id when that is not empty.
func readEvent(st *rawsqlite.Stmt, merchantID, id string) customerd.SealedEvent {
	// Columns as in eventColumns: 0 id, 1 merchant_id, 2 sequence, 3 type,
	// 4 customer_id, 5 customer_version, 6 created, 7 request_id,
	// 8 api_key_prefix, 9 idempotency_key, 10 kept, 11 key_version,
	// 12 personal. The merchant is the one matched.
	text := func(i int) string { return string(st.Bytes(i)) }
	if id == "" {
		id = text(0)
	}
	e := customerd.SealedEvent{ID: id, MerchantID: merchantID, Sequence: st.Int64(2), Type: text(3), CustomerID: text(4),
		CustomerVersion: st.Int64(5), Created: time.Unix(st.Int64(6), 0).UTC(), RequestID: text(7), APIKeyPrefix: text(8),
		IdempotencyKey: text(9), Kept: append([]byte(nil), st.Bytes(10)...), KeyVersion: uint32(st.Int64(11))}
	if !st.IsNull(12) {
		e.Personal = append([]byte(nil), st.Bytes(12)...)
	}
	return e
}
