package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"customerd"
)

// An export walks the table in rowid order, which is the order the
// customers were inserted in: the rows of a page share the table's leaves,
// so a page costs a few page reads rather than one per customer (the id
// index is in random order), and an import of the export inserts its rows
// in the same order again, so exporting that copy gives the same file. The
// unary + keeps the planner on the table's b-tree. The cursor customer's
// rowid is looked up first: rows are never deleted, an erasure keeps its
// row, so an id an earlier page returned is always found.
const (
	qExportRowid = `SELECT rowid FROM customers WHERE id = ? AND merchant_id = ?`
	qExportPage  = `SELECT ` + customerColumns + ` FROM customers
	WHERE rowid > ? AND +merchant_id = ? AND erased_at IS NULL ORDER BY rowid LIMIT ?`
)

// errExportCursor is an afterID that names none of the merchant's
// customers.
var errExportCursor = errors.New("sqlite: the export's cursor names no customer of the merchant")

// CustomersAfter implements customerd.StoreReader, in the order the
// customers were inserted. The cursor's position and the page are read
// from one snapshot, on the fast read pool when there is one.
func (s *Store) CustomersAfter(ctx context.Context, merchantID, afterID string, limit int) ([]customerd.SealedCustomer, error) {
	if s.fast == nil {
		return s.customersAfterSQL(ctx, merchantID, afterID, limit)
	}
	conn, err := s.fast.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer s.fast.Release(conn) // which resets the statements
	out := make([]customerd.SealedCustomer, 0, limit)
	err = conn.Snapshot(ctx, func() error {
		var after int64
		if afterID != "" {
			st, row, err := runRaw(ctx, conn, qExportRowid, afterID, merchantID)
			if err != nil {
				return err
			}
			if !row {
				return fmt.Errorf("%w: %s", errExportCursor, afterID)
			}
			after = st.Int64(0)
		}
		st, row, err := runRaw(ctx, conn, qExportPage, after, merchantID, int64(limit))
		for ; err == nil && row; row, err = st.Run(ctx) {
			out = append(out, readRow(st, merchantID, ""))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// customersAfterSQL is CustomersAfter through database/sql, in a read-only
// transaction.
func (s *Store) customersAfterSQL(ctx context.Context, merchantID, afterID string, limit int) ([]customerd.SealedCustomer, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var after int64
	if afterID != "" {
		err := tx.QueryRowContext(ctx, qExportRowid, afterID, merchantID).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s", errExportCursor, afterID)
		}
		if err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, qExportPage, after, merchantID, limit)
	return collect(rows, err, scanCustomer)
}
