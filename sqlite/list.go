package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"customerd"
)

// ListCustomers implements customerd.StoreReader. A page is a range of one
// index, in the list's order: customers_listed without a filter, else the
// index of a filter's blind index (the reference's unique one,
// customers_by_mobile, customers_by_email), and a cursor is a position in
// it. The total is the page's own length when the page ends the list;
// otherwise, without a filter it is the merchant's row of customer_counts,
// and with one a count of the filter's index range: a few rows for an
// exact-match filter, and for a created range alone as many as it holds.
func (s *Store) ListCustomers(ctx context.Context, merchantID string, q customerd.CustomerQuery) ([]customerd.SealedCustomer, int, bool, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot for the page and its total
	if err != nil {
		return nil, 0, false, err
	}
	defer tx.Rollback()
	where, args := customerFilter(merchantID, q)
	page, pageArgs := where, args
	dir, cmp := "DESC", "<"
	if q.Ascending {
		dir, cmp = "ASC", ">"
	}
	if q.StartingAfter != "" {
		// Erased customers keep their place: a tombstone is a cursor too.
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT date_created FROM customers WHERE id = ? AND merchant_id = ?`,
			q.StartingAfter, merchantID).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, false, customerd.ErrBadCursor
		}
		if err != nil {
			return nil, 0, false, err
		}
		page += ` AND (date_created, id) ` + cmp + ` (?, ?)`
		pageArgs = append(slices.Clip(args), created, q.StartingAfter)
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM customers WHERE %s
		ORDER BY date_created %s, id %s LIMIT %d OFFSET %d`, customerColumns, page, dir, dir, q.Limit+1, q.Offset), pageArgs...)
	customers, err := collect(rows, err, scanCustomer)
	if err != nil {
		return nil, 0, false, err
	}
	more := len(customers) > q.Limit
	if more {
		customers = customers[:q.Limit]
	}
	total, ok := q.TotalOf(len(customers), more)
	switch {
	case ok:
	case !q.Filtered():
		err = tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT live FROM customer_counts WHERE merchant_id = ?), 0)`,
			merchantID).Scan(&total)
	default:
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE `+where, args...).Scan(&total)
	}
	if err != nil {
		return nil, 0, false, err
	}
	return customers, total, more, nil
}

// customerFilter is the WHERE clause, and its arguments, of the customers q
// selects, paging aside.
func customerFilter(merchantID string, q customerd.CustomerQuery) (string, []any) {
	where := []string{"merchant_id = ?"}
	args := []any{merchantID}
	for _, f := range [...]struct {
		column string
		index  []byte
	}{{"ref_index", q.RefIndex}, {"mobile_index", q.MobileIndex}, {"email_index", q.EmailIndex}} {
		if f.index != nil {
			where, args = append(where, f.column+" = ?"), append(args, f.index)
		}
	}
	if len(where) == 1 {
		// A tombstone's blind indexes are NULL, so that a filter never
		// matches one (and its count reads the filter's index alone).
		where = append(where, "erased_at IS NULL")
	}
	if !q.CreatedAfter.IsZero() {
		where, args = append(where, "date_created >= ?"), append(args, q.CreatedAfter.Unix())
	}
	if !q.CreatedBefore.IsZero() {
		where, args = append(where, "date_created < ?"), append(args, q.CreatedBefore.Unix())
	}
	return strings.Join(where, " AND "), args
}
