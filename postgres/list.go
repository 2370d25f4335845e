package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5"
)

// ListCustomers implements customerd.StoreReader. A page is a range of one
// index, in the list's order: customers_listed without a filter, else the
// index of a filter's blind index (the reference's unique one,
// customers_by_mobile, customers_by_email), and a cursor is a position in
// it. The page and its total are read in one REPEATABLE READ transaction,
// so that they agree. The total is the page's own length when the page ends
// the list; otherwise, without a filter it is the merchant's customer_counts
// row plus its changes not folded yet (a few rows: see NumberEvents), and
// with one a count of the filter's index range: a few rows for an
// exact-match filter, and for a created range alone as many as it holds.
func (s *Store) ListCustomers(ctx context.Context, merchantID string, q customerd.CustomerQuery) ([]customerd.SealedCustomer, int, bool, error) {
	if !storable(merchantID, q.StartingAfter) {
		if q.StartingAfter != "" {
			return nil, 0, false, customerd.ErrBadCursor
		}
		return nil, 0, false, nil
	}
	var customers []customerd.SealedCustomer
	var total int
	var more bool
	err := s.read(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			where, args := customerFilter(merchantID, q)
			page, pageArgs := where, args
			dir, cmp := "DESC", "<"
			if q.Ascending {
				dir, cmp = "ASC", ">"
			}
			if q.StartingAfter != "" {
				// Erased customers keep their place: a tombstone is a cursor too.
				var created time.Time
				err := tx.QueryRow(ctx, `SELECT date_created FROM customers WHERE merchant_id = $1 AND id = $2`,
					merchantID, q.StartingAfter).Scan(&created)
				if errors.Is(err, pgx.ErrNoRows) {
					return customerd.ErrBadCursor
				}
				if err != nil {
					return err
				}
				pageArgs = append(slices.Clip(args), created, q.StartingAfter)
				page += fmt.Sprintf(` AND (date_created, id) %s ($%d, $%d)`, cmp, len(pageArgs)-1, len(pageArgs))
			}
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s FROM customers WHERE %s
				ORDER BY date_created %s, id %s LIMIT %d OFFSET %d`, customerColumns, page, dir, dir, q.Limit+1, q.Offset), pageArgs...)
			if customers, err = collect(rows, err, scanCustomer); err != nil {
				return err
			}
			if more = len(customers) > q.Limit; more {
				customers = customers[:q.Limit]
			}
			var ok bool
			if total, ok = q.TotalOf(len(customers), more); ok {
				return nil
			}
			if !q.Filtered() {
				return tx.QueryRow(ctx, `SELECT live + COALESCE((SELECT SUM(delta) FROM customer_count_changes WHERE merchant_id = $1), 0)
					FROM customer_counts WHERE merchant_id = $1`, merchantID).Scan(&total)
			}
			return tx.QueryRow(ctx, `SELECT COUNT(*) FROM customers WHERE `+where, args...).Scan(&total)
		})
	})
	if err != nil {
		return nil, 0, false, err
	}
	return customers, total, more, nil
}

// customerFilter is the WHERE clause, and its arguments, of the customers q
// selects, paging aside.
func customerFilter(merchantID string, q customerd.CustomerQuery) (string, []any) {
	where := []string{"merchant_id = $1"}
	args := []any{merchantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	for _, f := range [...]struct {
		column string
		index  []byte
	}{{"ref_index", q.RefIndex}, {"mobile_index", q.MobileIndex}, {"email_index", q.EmailIndex}} {
		if f.index != nil {
			add(f.column+" = $%d", f.index)
		}
	}
	if len(where) == 1 {
		// A tombstone's blind indexes are NULL, so that a filter never
		// matches one (and its count reads the filter's index alone).
		where = append(where, "erased_at IS NULL")
	}
	if !q.CreatedAfter.IsZero() {
		add("date_created >= $%d", q.CreatedAfter)
	}
	if !q.CreatedBefore.IsZero() {
		add("date_created < $%d", q.CreatedBefore)
	}
	return strings.Join(where, " AND "), args
}
