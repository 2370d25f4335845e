package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"customerd"
)

// memKeys holds API keys in memory and counts lookups.
type memKeys struct {
	mu      sync.Mutex
	keys    map[string]customerd.APIKey
	lookups int
}

func (m *memKeys) find(_ context.Context, prefix string) (*customerd.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	k, ok := m.keys[prefix]
	if !ok {
		return nil, customerd.ErrNotFound
	}
	return &k, nil
}

func (m *memKeys) add(t testing.TB, merchant string) (string, customerd.APIKey) {
	t.Helper()
	secret, k, err := customerd.NewAPIKey(merchant, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.keys[k.Prefix] = k
	m.mu.Unlock()
	return secret, k
}

// authenticate is Service.Authenticate's use of the cache.
func authenticate(c *keyCache, secret string) (string, error) {
	s := &Service{keys: c}
	return s.Authenticate(context.Background(), secret)
}

func newCacheForTest(ttl time.Duration) (*keyCache, *memKeys, *time.Time) {
	store := &memKeys{keys: map[string]customerd.APIKey{}}
	c := newKeyCache(store.find, ttl)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return clock }
	return c, store, &clock
}

func TestKeyCache(t *testing.T) {
	t.Run("a found key is served from the cache within the TTL", func(t *testing.T) {
		c, store, clock := newCacheForTest(2 * time.Second)
		key, _ := store.add(t, "m1")
		for range 3 {
			if m, err := authenticate(c, key); err != nil || m != "m1" {
				t.Fatalf("Authenticate = %q, %v", m, err)
			}
			*clock = clock.Add(time.Second / 2)
		}
		if store.lookups != 1 {
			t.Fatalf("%d store lookups, want 1", store.lookups)
		}
	})
	t.Run("a wrong secret with a cached prefix is refused", func(t *testing.T) {
		c, store, _ := newCacheForTest(2 * time.Second)
		key, _ := store.add(t, "m1")
		if _, err := authenticate(c, key); err != nil {
			t.Fatal(err)
		}
		wrong := key[:len(key)-1] + "x"
		if _, err := authenticate(c, wrong); customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			t.Fatalf("wrong secret: %v", err)
		}
	})
	t.Run("an unknown prefix is cached as missing within the TTL, as a found key is", func(t *testing.T) {
		c, store, clock := newCacheForTest(2 * time.Second)
		secret, _, err := customerd.NewAPIKey("m1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := authenticate(c, secret); customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
				t.Fatalf("unknown key: %v", err)
			}
			*clock = clock.Add(time.Second / 2)
		}
		// The same path as a key found: no store lookup after the first,
		// so an answer's time does not tell whether the prefix exists.
		if store.lookups != 1 {
			t.Fatalf("%d store lookups for 3 tries of one unknown prefix within the TTL, want 1", store.lookups)
		}
	})
	t.Run("a key created elsewhere behind a cached miss works once the TTL has passed", func(t *testing.T) {
		c, store, clock := newCacheForTest(2 * time.Second)
		secret, k, err := customerd.NewAPIKey("m1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := authenticate(c, secret); customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			t.Fatalf("before creation: %v", err)
		}
		store.keys[k.Prefix] = k // by another process
		*clock = clock.Add(2 * time.Second)
		if m, err := authenticate(c, secret); err != nil || m != "m1" {
			t.Fatalf("after the TTL: %q, %v", m, err)
		}
	})
	t.Run("misses are bounded and never push out keys found", func(t *testing.T) {
		c, store, _ := newCacheForTest(time.Hour)
		key, _ := store.add(t, "m1")
		if _, err := authenticate(c, key); err != nil {
			t.Fatal(err)
		}
		for range maxCachedMisses + 10 {
			secret, _, err := customerd.NewAPIKey("m1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			_, _ = authenticate(c, secret)
		}
		if n := len(c.misses); n > maxCachedMisses {
			t.Fatalf("%d misses cached, bound %d", n, maxCachedMisses)
		}
		before := store.lookups
		if _, err := authenticate(c, key); err != nil || store.lookups != before {
			t.Fatalf("the key in use was pushed out by misses: %v, %d lookups", err, store.lookups-before)
		}
	})
	t.Run("store errors are not cached", func(t *testing.T) {
		failing := true
		lookups := 0
		c := newKeyCache(func(context.Context, string) (*customerd.APIKey, error) {
			lookups++
			if failing {
				return nil, customerd.Unavailable(context.DeadlineExceeded)
			}
			return nil, customerd.ErrNotFound
		}, time.Hour)
		secret, _, _ := customerd.NewAPIKey("m1", time.Now())
		for range 2 {
			if _, err := authenticate(c, secret); customerd.ErrorCode(err) != customerd.EUNAVAILABLE {
				t.Fatalf("store error: %v", err)
			}
		}
		if lookups != 2 {
			t.Fatalf("%d lookups for 2 tries while the store fails, want 2", lookups)
		}
	})
	t.Run("a key revoked elsewhere is refused once the TTL has passed", func(t *testing.T) {
		c, store, clock := newCacheForTest(2 * time.Second)
		key, k := store.add(t, "m1")
		if _, err := authenticate(c, key); err != nil {
			t.Fatal(err)
		}
		k.RevokedAt = *clock // behind the cache's back
		store.keys[k.Prefix] = k
		if _, err := authenticate(c, key); err != nil {
			t.Fatalf("within the TTL the cached key still works: %v", err)
		}
		*clock = clock.Add(2 * time.Second)
		if _, err := authenticate(c, key); customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			t.Fatalf("revoked key after the TTL: %v", err)
		}
	})
	t.Run("a forgotten key is read again", func(t *testing.T) {
		c, store, _ := newCacheForTest(time.Hour)
		key, k := store.add(t, "m1")
		if _, err := authenticate(c, key); err != nil {
			t.Fatal(err)
		}
		k.RevokedAt = time.Now()
		store.keys[k.Prefix] = k
		c.forget(k.Prefix)
		if _, err := authenticate(c, key); customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			t.Fatalf("revoked key: %v", err)
		}
	})
	t.Run("a negative TTL reads the store every time", func(t *testing.T) {
		c, store, _ := newCacheForTest(-1)
		key, _ := store.add(t, "m1")
		for range 3 {
			if _, err := authenticate(c, key); err != nil {
				t.Fatal(err)
			}
		}
		if store.lookups != 3 {
			t.Fatalf("%d lookups, want 3", store.lookups)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	for _, ttl := range []time.Duration{-1, DefaultKeyCacheTTL} {
		name := map[bool]string{true: "cached", false: "store"}[ttl > 0]
		b.Run(name, func(b *testing.B) {
			store := &memKeys{keys: map[string]customerd.APIKey{}}
			secret, _ := store.add(b, "m1")
			c := newKeyCache(store.find, ttl)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := authenticate(c, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
