package sqlite

import (
	"context"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/sqlite/internal/rawsqlite"
)

// The statements of the fast read pool, by index.
const (
	fastByID  = iota // qByID
	fastByRef        // qByRef
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
	p, err := rawsqlite.Open(path, size, fastSetup, []string{fastByID: qByID, fastByRef: qByRef})
	if err != nil {
		return nil, err
	}
	_ = p.KeepReadTransactions()
	return p, nil
}

// findFast is findCustomer on the fast read pool, for databases without
// plaintext rows: the same lookups (by id when the argument looks like an
// id, then by reference through the blind index), without database/sql.
func (s *Store) findFast(ctx context.Context, merchantID, idOrRef string) (*customerd.Customer, error) {
	if looksLikeID(idOrRef) {
		c, err := s.readFast(ctx, fastByID, merchantID, idOrRef, nil)
		if customerd.ErrorCode(err) != customerd.ENOTFOUND {
			return c, err
		}
	}
	ring, err := s.keyring(ctx, poolReader{s}, merchantID)
	if err != nil || ring == nil {
		if err == nil {
			err = customerd.ErrNotFound
		}
		return nil, err
	}
	return s.readFast(ctx, fastByRef, merchantID, "", ring.BlindIndex(idOrRef))
}

// readFast runs one of the fast pool's statements (by id, or by reference
// index when id is empty), copies the row out of SQLite's memory and opens
// its sealed fields.
func (s *Store) readFast(ctx context.Context, which int, merchantID, id string, refIndex []byte) (*customerd.Customer, error) {
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	st := conn.Stmt(which)
	c, sc, err := scanFast(ctx, st, merchantID, id, refIndex)
	s.fast.Release(conn)
	if err != nil {
		return nil, err
	}
	if err := s.openCustomer(ctx, poolReader{s}, c, sc); err != nil {
		return nil, err
	}
	return c, nil
}

// scanFast binds and runs st and reads its row of customerColumns: every
// byte column is copied into one buffer, since SQLite's copy is gone once
// the statement is reset.
func scanFast(ctx context.Context, st *rawsqlite.Stmt, merchantID, id string, refIndex []byte) (*customerd.Customer, fieldcrypt.SealedCustomer, error) {
	var sc fieldcrypt.SealedCustomer
	var err error
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
		return nil, sc, err
	}
	return scanRow(ctx, st, merchantID, id)
}

// scanRow runs st, whose parameters are bound, and reads the row of
// customerColumns it returns (see scanFast), or customerd.ErrNotFound. The
// row's id is id when that is not empty. st is left to the caller to reset.
func scanRow(ctx context.Context, st *rawsqlite.Stmt, merchantID, id string) (*customerd.Customer, fieldcrypt.SealedCustomer, error) {
	var sc fieldcrypt.SealedCustomer
	row, err := st.Run(ctx)
	if err != nil {
		return nil, sc, err
	}
	if !row {
		return nil, sc, customerd.ErrNotFound
	}
	// Columns, as in customerColumns: 0 id, 1 merchant_id, 2 key_version,
	// 3 ref_index, 4 object_reference_id, 5 mobile_number,
	// 6 mobile_country_code, 7 email_address, 8 first_name, 9 last_name,
	// 10 date_created, 11 last_updated. The id and merchant are those
	// matched (SQLite compares TEXT bytewise), so only a lookup by
	// reference reads the id.
	size := 0
	for _, i := range [...]int{3, 4, 5, 7, 8, 9} { // the columns take copies below
		size += len(st.Bytes(i))
	}
	if id == "" {
		size += len(st.Bytes(0))
	}
	buf := make([]byte, 0, size)
	take := func(i int) []byte {
		b := st.Bytes(i)
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	c := &customerd.Customer{ID: id, MerchantID: merchantID}
	if id == "" {
		c.ID = string(take(0))
	}
	sc.KeyVersion = uint32(st.Int64(2))
	sc.RefIndex = take(3)
	sc.ObjectReferenceID = take(4)
	sc.MobileNumber = take(5)
	c.MobileCountryCode = string(st.Bytes(6))
	sc.EmailAddress = take(7)
	sc.FirstName = take(8)
	sc.LastName = take(9)
	c.DateCreated = time.Unix(st.Int64(10), 0).UTC()
	c.LastUpdated = time.Unix(st.Int64(11), 0).UTC()
	return c, sc, nil
}
