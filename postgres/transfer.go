package postgres

import (
	"context"

	"customerd"
)

// CustomersAfter implements customerd.StoreReader. It walks the primary key;
// every id is "cst_" and [a-z0-9], which every collation orders as bytes.
func (s *Store) CustomersAfter(ctx context.Context, merchantID, afterID string, limit int) ([]customerd.SealedCustomer, error) {
	if !storable(merchantID, afterID) {
		return nil, nil
	}
	return queryRows(s, ctx, scanCustomer, `SELECT `+customerColumns+` FROM customers
		WHERE merchant_id = $1 AND id > $2 AND erased_at IS NULL ORDER BY id LIMIT $3`, merchantID, afterID, limit)
}
