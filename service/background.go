package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"customerd"
)

// How often the background work looks for something to do.
const (
	// numberEvery: events another process committed unnumbered are
	// numbered within this (this process's own, at once).
	numberEvery = 50 * time.Millisecond
	// pruneEvery: old events are deleted this often, by one process at a
	// time (the holder of the lease).
	pruneEvery = 10 * time.Minute
	pruneBatch = 1000
	// pruneLease is how long a process holds the pruning once it took it.
	pruneLease = 2 * pruneEvery
)

// StartBackground starts the background work: numbering committed events
// (PostgreSQL; SQLite numbers them as it writes them), deleting events older
// than the retention and expired Idempotency-Key records, and finishing the
// re-encryption of data-key rotations that were interrupted. serve calls it; short-lived commands do not, since
// their own writes would race with it. Close stops it.
func (s *Service) StartBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	report := func(err error) {
		if err != nil && ctx.Err() == nil && s.onBackgroundError != nil {
			s.onBackgroundError(err)
		}
	}
	s.background.Add(3)
	go func() {
		defer s.background.Done()
		report(s.finishRotations(ctx, 256))
	}()
	go func() {
		defer s.background.Done()
		tick := time.NewTicker(numberEvery)
		defer tick.Stop()
		failing := false // an outage is reported once, not every tick
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.written:
			case <-tick.C:
			}
			err := s.NumberEvents(ctx)
			if err != nil && !failing {
				report(err)
			}
			failing = err != nil
		}
	}()
	go func() {
		defer s.background.Done()
		holder := newHolderID()
		for {
			report(s.pruneEvents(ctx, holder))
			select {
			case <-ctx.Done():
				return
			case <-time.After(pruneEvery):
			}
		}
	}()
}

// newHolderID names this process among those that take leases.
func newHolderID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pruneEvents deletes, if this process holds the pruning lease, every
// merchant's events older than the retention, and the expired
// Idempotency-Key records.
func (s *Service) pruneEvents(ctx context.Context, holder string) error {
	now := s.now()
	var mine bool
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		var err error
		mine, err = tx.TakeLease(ctx, "prune-events", holder, now, now.Add(pruneLease))
		return err
	})
	if err != nil || !mine {
		return err
	}
	if err := s.pruneIdempotentRecords(ctx, now); err != nil {
		return err
	}
	if s.retention < 0 {
		return nil
	}
	merchants, err := s.store.ListMerchants(ctx)
	if err != nil {
		return err
	}
	// An event is kept while its deliveries may still be tried; the
	// attempts go with the events of their time.
	keep := max(s.retention, s.webhookMaxAge+time.Hour)
	for _, m := range merchants {
		if _, err := s.PruneEvents(ctx, m.ID, now.Add(-keep)); err != nil {
			return err
		}
		if err := s.pruneWebhookAttempts(ctx, m.ID, now.Add(-keep)); err != nil {
			return fmt.Errorf("deleting the old webhook attempts of merchant %q: %w", m.ID, err)
		}
	}
	return nil
}

// PruneEvents deletes the merchant's events created before t, in batches,
// and returns how many it deleted.
func (s *Service) PruneEvents(ctx context.Context, merchantID string, before time.Time) (int, error) {
	total := 0
	for {
		n := 0
		err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			var err error
			n, err = tx.DeleteEventsBefore(ctx, merchantID, before, pruneBatch)
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("deleting the old events of merchant %q: %w", merchantID, err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}

// finishRotations re-encrypts, in batches of n, the customers and events of
// every merchant whose data key has rotated and that still use an older
// version. The batches queue behind the API's writes like any other write.
func (s *Service) finishRotations(ctx context.Context, n int) error {
	wraps, err := s.store.ListWrappedKeys(ctx, "")
	if err != nil {
		return err
	}
	var rotated []string
	for _, w := range wraps {
		if w.Purpose == customerd.PurposeData && w.Version > 1 && (len(rotated) == 0 || rotated[len(rotated)-1] != w.MerchantID) {
			rotated = append(rotated, w.MerchantID)
		}
	}
	for _, m := range rotated {
		for {
			customers, events, err := s.Reencrypt(ctx, m, n)
			if err != nil {
				return fmt.Errorf("re-encrypting the data of merchant %q: %w", m, err)
			}
			if customers+events == 0 {
				break
			}
		}
	}
	return nil
}
