package customerd

import (
	"strings"
	"testing"
	"time"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNewAPIKey(t *testing.T) {
	secret, k, err := NewAPIKey("m", mustTime("2026-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != KeyLen || !strings.HasPrefix(secret, "cdk_") || strings.Trim(secret[4:], "0123456789abcdef") != "" {
		t.Fatalf("secret %q", secret)
	}
	if k.Prefix != secret[:KeyPrefixLen] || string(k.Hash) != string(HashAPIKey(secret)) || strings.Contains(string(k.Hash), secret) {
		t.Fatalf("stored key %+v", k)
	}
	if p, ok := APIKeyPrefix(secret); !ok || p != k.Prefix {
		t.Fatalf("prefix %q %v", p, ok)
	}
	if r := RedactKey(secret); strings.Contains(r, secret[KeyPrefixLen:]) {
		t.Fatalf("redacted key leaks the secret: %q", r)
	}
	other, _, _ := NewAPIKey("m", time.Now())
	if other == secret {
		t.Fatal("two keys are equal")
	}
}

func TestValidateMerchantID(t *testing.T) {
	for _, ok := range []string{"sandbox", "acme-1", "a_b.c", strings.Repeat("m", 64)} {
		if err := ValidateMerchantID(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "ä", strings.Repeat("m", 65)} {
		if ValidateMerchantID(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckAPIKey(t *testing.T) {
	secret, k, err := NewAPIKey("m1", mustTime("2026-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAPIKey(&k, secret); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	wrong := secret[:len(secret)-1] + "0"
	if wrong == secret {
		wrong = secret[:len(secret)-1] + "1"
	}
	revoked := k
	revoked.RevokedAt = mustTime("2026-01-02T00:00:00Z")
	for name, tc := range map[string]struct {
		k      *APIKey
		secret string
	}{
		"a wrong secret with the right prefix": {&k, wrong},
		"no key found":                         {nil, secret},
		"a revoked key":                        {&revoked, secret},
		"an empty secret":                      {&k, ""},
	} {
		if err := CheckAPIKey(tc.k, tc.secret); ErrorCode(err) != EUNAUTHORIZED {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
}
