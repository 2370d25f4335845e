package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"customerd"
)

// BulkInserter is implemented by stores that can insert many customers in
// one transaction. The seeder uses it when the store has it; it is not part
// of customerd.Store because the API never needs it.
type BulkInserter interface {
	InsertCustomers(ctx context.Context, cs []*customerd.Customer) error
}

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
func Seed(ctx context.Context, s customerd.Store, cfg SeedConfig) (string, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	now := time.Now()
	key, err := customerd.CreateMerchant(ctx, s, cfg.MerchantID, now)
	if customerd.ErrorCode(err) == customerd.ECONFLICT {
		key, err = customerd.CreateAPIKey(ctx, s, cfg.MerchantID, now)
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
		if err := insert(ctx, s, batch); err != nil {
			return "", fmt.Errorf("seeding customers up to %d: %w", i, err)
		}
		if cfg.Progress != nil {
			cfg.Progress(i)
		}
	}
	return key, nil
}

// insert writes one batch: in one transaction when the store can, else as
// concurrent creates that the store's group commit batches.
func insert(ctx context.Context, s customerd.Store, batch []*customerd.Customer) error {
	if b, ok := s.(BulkInserter); ok {
		return b.InsertCustomers(ctx, batch)
	}
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan *customerd.Customer)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				if err := s.CreateCustomer(ctx, c); err != nil && customerd.ErrorCode(err) != customerd.ECONFLICT {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, c := range batch {
		select {
		case next <- c:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errs:
	default:
	}
	return err
}
