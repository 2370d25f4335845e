package loadtest

import (
	"context"
	"fmt"
	"time"

	"customerd"
	"customerd/service"
)

// SeedConfig says what Seed writes.
type SeedConfig struct {
	MerchantID string
	Customers  int // synthetic customers 0..Customers-1
	BatchSize  int // customers per transaction; 0 means 5000
	// Progress, if set, is called after each batch with the number done.
	Progress func(done int)
}

// Seed makes sure the merchant exists and has a fresh API key, inserts the
// synthetic customers the store does not have yet (seeding is resumable:
// a customer already present is skipped) and returns the key.
func Seed(ctx context.Context, s *service.Service, cfg SeedConfig) (string, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	now := time.Now()
	key, err := s.CreateMerchant(ctx, cfg.MerchantID)
	if customerd.ErrorCode(err) == customerd.ECONFLICT {
		key, err = s.CreateAPIKey(ctx, cfg.MerchantID)
	}
	if err != nil {
		return "", err
	}
	// Resume after the last customer that is present: seeding goes in index
	// order, so everything before it is there too.
	start := 0
	for lo, hi := 0, cfg.Customers; lo < hi; {
		mid := (lo + hi) / 2
		_, err := s.FindCustomer(ctx, cfg.MerchantID, CustomerID(mid))
		switch customerd.ErrorCode(err) {
		case "":
			lo, start = mid+1, mid+1
		case customerd.ENOTFOUND:
			hi = mid
		default:
			return "", err
		}
	}
	batch := make([]*customerd.Customer, 0, cfg.BatchSize)
	for i := start; i < cfg.Customers; {
		batch = batch[:0]
		for ; i < cfg.Customers && len(batch) < cfg.BatchSize; i++ {
			batch = append(batch, Customer(cfg.MerchantID, i, now))
		}
		if err := s.InsertCustomers(ctx, customerd.Caller{MerchantID: cfg.MerchantID, RequestID: "seed"}, batch...); err != nil {
			return "", fmt.Errorf("seeding customers up to %d: %w", i, err)
		}
		if cfg.Progress != nil {
			cfg.Progress(i)
		}
	}
	return key, nil
}
