// Package service is customerd's one service, between the HTTP layer (and
// the command line) and the stores. It applies the domain's rules, seals and
// opens personal data with package fieldcrypt, computes blind indexes, and
// makes every change one atomic store write; it also rotates keys and runs
// the background work. The stores below it only persist sealed records
// (customerd.Store), so that each behaviour is written once for every
// database engine.
package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"customerd"
	"customerd/fieldcrypt"
)

// Config is what New needs.
type Config struct {
	Store customerd.Store
	// Vault holds the master keys that wrap the merchants' keys.
	Vault *fieldcrypt.Vault
	// KeyCacheTTL is how long an API key read from the store is trusted
	// before it is read again: 0 means DefaultKeyCacheTTL, a negative
	// value disables the cache.
	KeyCacheTTL time.Duration
	// Now is the clock of timestamps; nil means time.Now.
	Now func() time.Time
	// OnBackgroundError hears why background work failed (it is tried
	// again later, or at the next StartBackground); nil drops the error.
	OnBackgroundError func(error)
	// EventRetention is how long events are kept before the background
	// work deletes them: 0 means DefaultEventRetention, a negative value
	// keeps them for ever.
	EventRetention time.Duration
	// IdempotencyTTL is how long an Idempotency-Key's answer is kept: 0
	// means customerd.DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
	// Deliveries, when set, schedules the webhook deliveries of every
	// change's events in the change's transaction. Without it no webhook
	// is sent (nor can one be resent). Close closes it, when it has a
	// Close method, before the store.
	Deliveries DeliveryQueue
	// WebhookAllowInsecure lets endpoints use http and private or loopback
	// addresses: for development and tests on 127.0.0.1 only.
	WebhookAllowInsecure bool
	// WebhookMaxAge is how long after its event a delivery is retried: 0
	// means DefaultWebhookMaxAge. Events are kept at least this long.
	WebhookMaxAge time.Duration
}

// DefaultEventRetention is how long events are kept: 90 days.
const DefaultEventRetention = 90 * 24 * time.Hour

// Service is the customer service. It is safe for concurrent use.
type Service struct {
	store customerd.Store
	vault *fieldcrypt.Vault
	keys  *keyCache
	now   func() time.Time

	onBackgroundError func(error)
	retention         time.Duration
	idempotencyTTL    time.Duration
	deliveries        DeliveryQueue
	webhookInsecure   bool
	webhookMaxAge     time.Duration
	written           chan struct{} // an event was committed: see eventWritten
	stopBackground    context.CancelFunc
	background        sync.WaitGroup
}

// New returns the service over cfg.Store. It refuses a master key that
// wraps none of the database's keys: customer data could not be read.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Vault == nil {
		return nil, errors.New("service: a store and a vault are required")
	}
	s := &Service{store: cfg.Store, vault: cfg.Vault, now: cfg.Now, onBackgroundError: cfg.OnBackgroundError,
		retention: cfg.EventRetention, idempotencyTTL: cfg.IdempotencyTTL, written: make(chan struct{}, 1), stopBackground: func() {}}
	if s.retention == 0 {
		s.retention = DefaultEventRetention
	}
	s.deliveries, s.webhookInsecure, s.webhookMaxAge = cfg.Deliveries, cfg.WebhookAllowInsecure, cfg.WebhookMaxAge
	if s.webhookMaxAge <= 0 {
		s.webhookMaxAge = DefaultWebhookMaxAge
	}
	if s.idempotencyTTL <= 0 {
		s.idempotencyTTL = customerd.DefaultIdempotencyTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.keys = newKeyCache(cfg.Store.FindAPIKey, cfg.KeyCacheTTL)
	if err := s.checkMasterKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// checkMasterKey fails with fieldcrypt.ErrMasterKeyMismatch when the
// database holds wrapped keys and none is wrapped under a master key of the
// vault.
func (s *Service) checkMasterKey(ctx context.Context) error {
	wraps, err := s.store.ListWrappedKeys(ctx, "")
	if err != nil {
		return err
	}
	var ids []string
	for _, w := range wraps {
		if !slices.Contains(ids, w.MasterKeyID) {
			ids = append(ids, w.MasterKeyID)
		}
	}
	have := s.vault.MasterKeyIDs()
	if len(ids) > 0 && !slices.ContainsFunc(have, func(id string) bool { return slices.Contains(ids, id) }) {
		slices.Sort(ids)
		return fmt.Errorf("wrong master key: this database's keys are wrapped under master key %s, but the key given has id %s: %w",
			strings.Join(ids, ", "), strings.Join(have, ", "), fieldcrypt.ErrMasterKeyMismatch)
	}
	return nil
}

// Close stops the background work and closes the store, and before it the
// delivery queue when that has a Close method.
func (s *Service) Close() error {
	s.stopBackground()
	s.background.Wait()
	if c, ok := s.deliveries.(interface{ Close() }); ok {
		c.Close()
	}
	return s.store.Close()
}

// Ping reports whether the database answers and is migrated.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// Store returns the store under the service, for what only an operator's
// tools read (connection statistics, group-commit counters).
func (s *Service) Store() customerd.Store { return s.store }

// MasterKeyIDs returns the ids of the master keys the service holds, the one
// new keys are wrapped under first: safe to log.
func (s *Service) MasterKeyIDs() []string { return s.vault.MasterKeyIDs() }

// keyring returns the merchant's keys as cached, loading them on first use:
// ErrNotFound for a merchant that has none, one that does not exist.
func (s *Service) keyring(ctx context.Context, merchantID string) (*fieldcrypt.Keyring, error) {
	if r := s.vault.Cached(merchantID); r != nil {
		return r, nil
	}
	return s.loadKeyring(ctx, merchantID)
}

// loadKeyring reads the merchant's keys afresh: a data key created since
// they were cached (a rotation by another process) is in the result.
func (s *Service) loadKeyring(ctx context.Context, merchantID string) (*fieldcrypt.Keyring, error) {
	wraps, err := s.store.ListWrappedKeys(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	if len(wraps) == 0 {
		return nil, customerd.ErrNotFound
	}
	return s.vault.Load(merchantID, wraps)
}

// open decrypts a stored customer, reading the merchant's keys afresh once
// when the row uses a data-key version created since they were cached.
func (s *Service) open(ctx context.Context, row *customerd.SealedCustomer) (*customerd.Customer, error) {
	ring, err := s.keyring(ctx, row.MerchantID)
	if err != nil {
		return nil, err
	}
	c, err := ring.OpenCustomer(row)
	if errors.Is(err, fieldcrypt.ErrUnknownVersion) {
		if ring, err = s.loadKeyring(ctx, row.MerchantID); err != nil {
			return nil, err
		}
		c, err = ring.OpenCustomer(row)
	}
	return c, err
}

// maxStaleRetries bounds how often a write is sealed again after
// customerd.ErrStaleKey: one rotation needs one retry.
const maxStaleRetries = 3
