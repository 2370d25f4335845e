package service_test

import (
	"errors"
	"testing"
	"testing/cryptotest"
	"time"

	"customerd"
)

func asError(err error, target **customerd.Error) bool { return errors.As(err, target) }

func TestMerchantsAndKeys(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, clk := withClock(t, db)
		if ms, err := svc.ListMerchants(ctx); err != nil || len(ms) != 0 {
			t.Fatalf("merchants of an empty database: %v, %v", ms, err)
		}
		secret := mustMerchant(t, svc, "m1")
		_, err := svc.CreateMerchant(ctx, "m1")
		wantCode(t, err, customerd.ECONFLICT)
		_, err = svc.CreateMerchant(ctx, "bad id!")
		wantCode(t, err, customerd.EINVALID)
		_, err = svc.CreateAPIKey(ctx, "nobody")
		wantCode(t, err, customerd.ENOTFOUND)
		clk.advance(time.Second)
		second, err := svc.CreateAPIKey(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if ms, err := svc.ListMerchants(ctx); err != nil || len(ms) != 1 || ms[0].ID != "m1" || !ms[0].CreatedAt.Equal(T0) {
			t.Fatalf("merchants: %+v, %v", ms, err)
		}
		keys, err := svc.ListAPIKeys(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].Prefix != secret[:customerd.KeyPrefixLen] || keys[1].Prefix != second[:customerd.KeyPrefixLen] {
			t.Fatalf("keys = %+v", keys)
		}
		for _, k := range keys {
			if k.Revoked() || k.MerchantID != "m1" {
				t.Fatalf("fresh key %+v", k)
			}
		}
		_, err = svc.ListAPIKeys(ctx, "nobody")
		wantCode(t, err, customerd.ENOTFOUND)

		// Revoking by the whole key and then by its prefix keeps the first
		// revocation's time.
		clk.advance(time.Minute)
		if err := svc.RevokeAPIKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Hour)
		if err := svc.RevokeAPIKey(ctx, secret[:customerd.KeyPrefixLen]); err != nil {
			t.Fatal(err)
		}
		keys, _ = svc.ListAPIKeys(ctx, "m1")
		if !keys[0].RevokedAt.Equal(T0.Add(time.Second+time.Minute)) || keys[1].Revoked() {
			t.Fatalf("after revoking the first key: %+v", keys)
		}
		wantCode(t, svc.RevokeAPIKey(ctx, "cdk_nothere"), customerd.ENOTFOUND)
		wantCode(t, svc.RevokeAPIKey(ctx, "cdk_\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), customerd.ENOTFOUND)
	})
}

func TestAuthenticateAcceptsActiveKeysOnly(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		secret := mustMerchant(t, svc, "m1")
		if got, err := svc.Authenticate(ctx, secret); err != nil || got != "m1" {
			t.Fatalf("authenticate = %q, %v", got, err)
		}
		forged := secret[:customerd.KeyPrefixLen] + "0000000000000000000000000000"
		for _, bad := range []string{"", "nope", forged, secret + "x", secret[:len(secret)-1],
			"cdk_\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff0000000000000000000000000000"} {
			_, err := svc.Authenticate(ctx, bad)
			wantCode(t, err, customerd.EUNAUTHORIZED)
		}
		if err := svc.RevokeAPIKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// Refused at once by the service that revoked it, cache or not.
		_, err := svc.Authenticate(ctx, secret)
		wantCode(t, err, customerd.EUNAUTHORIZED)
	})
}

// A session that keeps only its key's prefix learns the key's merchant
// from it while the key lives, and is refused once it is revoked.
func TestKeyMerchantFollowsTheKeysLife(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		secret := mustMerchant(t, svc, "m1")
		other := mustMerchant(t, svc, "m2")
		prefix := secret[:customerd.KeyPrefixLen]
		if got, err := svc.KeyMerchant(ctx, prefix); err != nil || got != "m1" {
			t.Fatalf("merchant of the live key = %q, %v", got, err)
		}
		_, err := svc.KeyMerchant(ctx, "cdk_nothere00")
		wantCode(t, err, customerd.EUNAUTHORIZED)
		if err := svc.RevokeAPIKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
		_, err = svc.KeyMerchant(ctx, prefix)
		wantCode(t, err, customerd.EUNAUTHORIZED)
		if got, err := svc.KeyMerchant(ctx, other[:customerd.KeyPrefixLen]); err != nil || got != "m2" {
			t.Fatalf("another merchant's key after the revocation = %q, %v", got, err)
		}
	})
}

// TestAKeyWorksAtOnceInTheProcessThatMadeIt: lookups that find no key are
// cached, but a key this service makes works on its first request even
// when its prefix was presented, and found missing, a moment before.
func TestAKeyWorksAtOnceInTheProcessThatMadeIt(t *testing.T) {
	svc, _ := withClock(t, sqliteDatabase(t))
	mustMerchant(t, svc, "m1")
	const seed = 22
	// The key that the next CreateAPIKey will make, under this seed...
	cryptotest.SetGlobalRandom(t, seed)
	next, _, err := customerd.NewAPIKey("m1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, next); customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
		t.Fatalf("before it exists: %v", err)
	}
	// ...is made.
	cryptotest.SetGlobalRandom(t, seed)
	key, err := svc.CreateAPIKey(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if key != next {
		t.Fatalf("the seeded key is %s…, the one made %s…: the test proves nothing", next[:16], key[:16])
	}
	if m, err := svc.Authenticate(ctx, key); err != nil || m != "m1" {
		t.Fatalf("a key just made: %q, %v", m, err)
	}
}
