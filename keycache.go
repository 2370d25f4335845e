package customerd

import (
	"context"
	"sync"
	"time"
)

// DefaultKeyCacheTTL is how long a KeyCache trusts a key it has read. A key
// revoked by another process (customerd key revoke) is refused once this has
// passed; the promise to operators is 5 s.
const DefaultKeyCacheTTL = 2 * time.Second

// maxCachedKeys bounds the cache. Only keys that exist are cached, so the
// bound is reached only by a deployment with that many live keys, and then
// the cache starts over rather than growing.
const maxCachedKeys = 10000

// KeyCache is a MerchantStore whose FindAPIKey remembers found keys for a
// short time, so that authenticating a request costs no database query.
// Lookups that fail (no such key, or a store error) are never cached: a key
// created a moment ago works on its first request. Revocations made through
// the cache take effect at once; those made elsewhere within its TTL.
type KeyCache struct {
	MerchantStore
	ttl time.Duration
	now func() time.Time

	mu   sync.RWMutex
	keys map[string]cachedKey
}

type cachedKey struct {
	key     *APIKey
	expires time.Time
}

// NewKeyCache returns a cache in front of s that trusts a key for ttl.
func NewKeyCache(s MerchantStore, ttl time.Duration) *KeyCache {
	return &KeyCache{MerchantStore: s, ttl: ttl, now: time.Now, keys: map[string]cachedKey{}}
}

// FindAPIKey implements MerchantStore. The returned key is shared between
// callers and must not be modified.
func (c *KeyCache) FindAPIKey(ctx context.Context, prefix string) (*APIKey, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.keys[prefix]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.key, nil
	}
	k, err := c.MerchantStore.FindAPIKey(ctx, prefix)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.keys) >= maxCachedKeys {
		clear(c.keys)
	}
	c.keys[prefix] = cachedKey{key: k, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return k, nil
}

// RevokeAPIKey implements MerchantStore and forgets the key at once.
func (c *KeyCache) RevokeAPIKey(ctx context.Context, prefix string, now time.Time) error {
	err := c.MerchantStore.RevokeAPIKey(ctx, prefix, now)
	c.mu.Lock()
	delete(c.keys, prefix)
	c.mu.Unlock()
	return err
}
