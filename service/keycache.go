package service

import (
	"context"
	"sync"
	"time"

	"customerd"
)

// DefaultKeyCacheTTL is how long the service trusts an API key it has read.
// A key revoked by another process (customerd key revoke, another node) is
// refused once this has passed; the promise to operators is 5 s.
const DefaultKeyCacheTTL = 2 * time.Second

// maxCachedKeys bounds the cache. Only keys that exist are cached, so the
// bound is reached only by a deployment with that many live keys, and then
// the cache starts over rather than growing.
const maxCachedKeys = 10000

// keyCache remembers API keys found for a short time, so that authenticating
// a request costs no database query. Lookups that fail (no such key, or a
// store error) are never cached: a key created a moment ago works on its
// first request.
type keyCache struct {
	lookup func(ctx context.Context, prefix string) (*customerd.APIKey, error)
	ttl    time.Duration // not positive: no caching
	now    func() time.Time

	mu   sync.RWMutex
	keys map[string]cachedKey
}

type cachedKey struct {
	key     *customerd.APIKey
	expires time.Time
}

func newKeyCache(lookup func(context.Context, string) (*customerd.APIKey, error), ttl time.Duration) *keyCache {
	if ttl == 0 {
		ttl = DefaultKeyCacheTTL
	}
	return &keyCache{lookup: lookup, ttl: ttl, now: time.Now, keys: map[string]cachedKey{}}
}

// find returns the key with this prefix. The key returned is shared between
// callers and must not be modified.
func (c *keyCache) find(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	if c.ttl < 0 {
		return c.lookup(ctx, prefix)
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.keys[prefix]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.key, nil
	}
	k, err := c.lookup(ctx, prefix)
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

// forget drops the key with this prefix, after it was revoked.
func (c *keyCache) forget(prefix string) {
	c.mu.Lock()
	delete(c.keys, prefix)
	c.mu.Unlock()
}
