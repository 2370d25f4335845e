package sqlite

import (
	"context"

	"customerd"
)

// qCustomersAfter walks the primary key: ids sort bytewise. The unary +
// keeps the planner off the (merchant_id, ref_index) index, with which each
// page would read and sort every customer of the merchant.
const qCustomersAfter = `SELECT ` + customerColumns + ` FROM customers
	WHERE id > ? AND +merchant_id = ? AND erased_at IS NULL ORDER BY id LIMIT ?`

// CustomersAfter implements customerd.StoreReader.
func (s *Store) CustomersAfter(ctx context.Context, merchantID, afterID string, limit int) ([]customerd.SealedCustomer, error) {
	rows, err := s.rdb.QueryContext(ctx, qCustomersAfter, afterID, merchantID, limit)
	return collect(rows, err, scanCustomer)
}
