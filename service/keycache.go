package service

import (
	"context"
	"sync"
	"time"

	"customerd"
)

// DefaultKeyCacheTTL is how long the service trusts an API key lookup it
// has made, found or not. A key revoked by another process (customerd key
// revoke, another node) is refused once this has passed; the promise to
// operators is 5 s.
const DefaultKeyCacheTTL = 2 * time.Second

// maxCachedKeys bounds the keys found that the cache holds, and
// maxCachedMisses the prefixes found to have no key. Each map starts over
// when full rather than growing; misses, which any client can make up, have
// a map of their own so that they never push out the keys in use.
const (
	maxCachedKeys   = 10000
	maxCachedMisses = 10000
)

// keyCache remembers API key lookups for a short time, so that
// authenticating a request costs no database query. Lookups that find no
// key are remembered too, for the same time: otherwise a request for an
// unknown prefix would take a database query that one for a cached key does
// not, and its answer's time would tell whether the prefix exists. A new
// key's prefix is random and unknown until the key is made, so no process
// can have it remembered as missing before then, and the process that makes
// it forgets the prefix anyway (Service.CreateAPIKey). Store errors are
// never remembered.
type keyCache struct {
	lookup func(ctx context.Context, prefix string) (*customerd.APIKey, error)
	ttl    time.Duration // not positive: no caching
	now    func() time.Time

	mu     sync.RWMutex
	keys   map[string]cachedKey
	misses map[string]time.Time // prefix → when the miss expires
}

type cachedKey struct {
	key     *customerd.APIKey
	expires time.Time
}

func newKeyCache(lookup func(context.Context, string) (*customerd.APIKey, error), ttl time.Duration) *keyCache {
	if ttl == 0 {
		ttl = DefaultKeyCacheTTL
	}
	return &keyCache{lookup: lookup, ttl: ttl, now: time.Now, keys: map[string]cachedKey{}, misses: map[string]time.Time{}}
}

// find returns the key with this prefix, or customerd.ErrNotFound. The key
// returned is shared between callers and must not be modified.
func (c *keyCache) find(ctx context.Context, prefix string) (*customerd.APIKey, error) {
	if c.ttl < 0 {
		return c.lookup(ctx, prefix)
	}
	now := c.now()
	c.mu.RLock()
	e, hit := c.keys[prefix]
	missExpires, missed := c.misses[prefix]
	c.mu.RUnlock()
	switch {
	case hit && now.Before(e.expires):
		return e.key, nil
	case missed && now.Before(missExpires):
		return nil, customerd.ErrNotFound
	}
	k, err := c.lookup(ctx, prefix)
	switch {
	case err == nil:
		c.mu.Lock()
		if len(c.keys) >= maxCachedKeys {
			clear(c.keys)
		}
		c.keys[prefix] = cachedKey{key: k, expires: now.Add(c.ttl)}
		delete(c.misses, prefix)
		c.mu.Unlock()
		return k, nil
	case customerd.ErrorCode(err) == customerd.ENOTFOUND:
		c.mu.Lock()
		if len(c.misses) >= maxCachedMisses {
			clear(c.misses)
		}
		c.misses[prefix] = now.Add(c.ttl)
		delete(c.keys, prefix)
		c.mu.Unlock()
	}
	return nil, err
}

// forget drops what the cache knows of this prefix: after its key was
// revoked, or made.
func (c *keyCache) forget(prefix string) {
	c.mu.Lock()
	delete(c.keys, prefix)
	delete(c.misses, prefix)
	c.mu.Unlock()
}
