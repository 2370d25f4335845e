package customerd

import (
	"context"
	"sync"
	"testing"
	"time"
)

// memKeys is a MerchantStore of API keys in memory that counts lookups.
type memKeys struct {
	MerchantStore
	mu      sync.Mutex
	keys    map[string]APIKey
	lookups int
}

func (m *memKeys) FindAPIKey(_ context.Context, prefix string) (*APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	k, ok := m.keys[prefix]
	if !ok {
		return nil, ErrNotFound
	}
	return &k, nil
}

func (m *memKeys) RevokeAPIKey(_ context.Context, prefix string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[prefix]
	if !ok {
		return ErrNotFound
	}
	k.RevokedAt = now
	m.keys[prefix] = k
	return nil
}

func (m *memKeys) add(t *testing.T, merchant string) string {
	t.Helper()
	secret, k, err := NewAPIKey(merchant, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.keys[k.Prefix] = k
	m.mu.Unlock()
	return secret
}

func newCacheForTest(ttl time.Duration) (*KeyCache, *memKeys, *time.Time) {
	store := &memKeys{keys: map[string]APIKey{}}
	c := NewKeyCache(store, ttl)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return clock }
	return c, store, &clock
}

func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	t.Run("a found key is served from the cache within the TTL", func(t *testing.T) {
		c, store, _ := newCacheForTest(2 * time.Second)
		key := store.add(t, "m1")
		for range 3 {
			if m, err := Authenticate(ctx, c, key); err != nil || m != "m1" {
				t.Fatalf("Authenticate = %q, %v", m, err)
			}
		}
		if store.lookups != 1 {
			t.Fatalf("%d store lookups, want 1", store.lookups)
		}
	})
	t.Run("a wrong secret with a cached prefix is refused", func(t *testing.T) {
		c, store, _ := newCacheForTest(2 * time.Second)
		key := store.add(t, "m1")
		if _, err := Authenticate(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		wrong := key[:len(key)-1] + "x"
		if key[len(key)-1] == 'x' {
			wrong = key[:len(key)-1] + "y"
		}
		if _, err := Authenticate(ctx, c, wrong); ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("wrong secret: %v", err)
		}
	})
	t.Run("an unknown key is not cached, so a key created next works at once", func(t *testing.T) {
		c, store, _ := newCacheForTest(2 * time.Second)
		secret, k, err := NewAPIKey("m1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Authenticate(ctx, c, secret); ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("before creation: %v", err)
		}
		store.keys[k.Prefix] = k
		if m, err := Authenticate(ctx, c, secret); err != nil || m != "m1" {
			t.Fatalf("after creation: %q, %v", m, err)
		}
	})
	t.Run("a key revoked elsewhere is refused once the TTL has passed", func(t *testing.T) {
		c, store, clock := newCacheForTest(2 * time.Second)
		key := store.add(t, "m1")
		if _, err := Authenticate(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		p, _ := APIKeyPrefix(key)
		if err := store.RevokeAPIKey(ctx, p, *clock); err != nil { // behind the cache's back
			t.Fatal(err)
		}
		*clock = clock.Add(2 * time.Second)
		if _, err := Authenticate(ctx, c, key); ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("revoked key after the TTL: %v", err)
		}
	})
	t.Run("a key revoked through the cache is refused at once", func(t *testing.T) {
		c, store, clock := newCacheForTest(time.Hour)
		key := store.add(t, "m1")
		if _, err := Authenticate(ctx, c, key); err != nil {
			t.Fatal(err)
		}
		if err := RevokeAPIKey(ctx, c, key, *clock); err != nil {
			t.Fatal(err)
		}
		if _, err := Authenticate(ctx, c, key); ErrorCode(err) != EUNAUTHORIZED {
			t.Fatalf("revoked key: %v", err)
		}
	})
}
