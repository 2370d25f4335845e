package customerd

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"
)

// Merchant owns customers and API keys. Its id is chosen by the operator.
type Merchant struct {
	ID        string
	CreatedAt time.Time
}

// ValidateMerchantID checks an operator-chosen merchant id: 1–64 characters
// of ASCII letters, digits, '-', '_' and '.'.
func ValidateMerchantID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("merchant id must be 1-64 characters long")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isASCIIAlnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Errorf("merchant id may contain only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// API key format: "cdk_" followed by 40 lowercase hex characters (160 bits
// from crypto/rand). The first KeyPrefixLen characters are stored in clear to
// find the key and to show it; the whole key is stored only as a SHA-256 hash.
const (
	keyScheme    = "cdk_"
	keyRandBytes = 20
	KeyLen       = len(keyScheme) + 2*keyRandBytes
	KeyPrefixLen = len(keyScheme) + 12
)

// APIKey is the stored form of a merchant's API key: never the key itself.
type APIKey struct {
	Prefix     string
	Hash       []byte // SHA-256 of the full key
	MerchantID string
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while the key is active
}

// Revoked reports whether the key has been revoked.
func (k *APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// NewAPIKey returns a new key for merchantID: the secret to show once, and
// its stored form.
func NewAPIKey(merchantID string, now time.Time) (secret string, key APIKey, err error) {
	var b [keyRandBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", APIKey{}, err
	}
	secret = keyScheme + hex.EncodeToString(b[:])
	return secret, APIKey{
		Prefix:     secret[:KeyPrefixLen],
		Hash:       HashAPIKey(secret),
		MerchantID: merchantID,
		CreatedAt:  Timestamp(now),
	}, nil
}

// HashAPIKey returns the stored hash of a key. A fast hash is right here: keys
// carry 160 random bits, so they cannot be guessed from their hash.
func HashAPIKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// APIKeyPrefix returns the part of a presented key used to look it up, or
// false when the key is not of customerd's format.
func APIKeyPrefix(secret string) (string, bool) {
	if len(secret) != KeyLen || secret[:len(keyScheme)] != keyScheme {
		return "", false
	}
	return secret[:KeyPrefixLen], true
}

// RedactKey returns what may be logged of a presented key: its prefix at most.
func RedactKey(secret string) string {
	if p, ok := APIKeyPrefix(secret); ok {
		return p + "…"
	}
	return "(malformed)"
}

// dummyHash is compared against when no key matches, so that an unknown key
// and a wrong key take the same path.
var dummyHash = HashAPIKey(keyScheme + "0000000000000000000000000000000000000000")

// CheckAPIKey returns nil when secret is the key stored as k, and
// ErrUnauthorized when it is not, when k is revoked, or when no key was found
// (k nil). The hash comparison runs in constant time, and runs even when no
// key was found, so that an unknown key and a wrong one take the same time.
func CheckAPIKey(k *APIKey, secret string) error {
	want := dummyHash
	if k != nil {
		want = k.Hash
	}
	match := subtle.ConstantTimeCompare(HashAPIKey(secret), want) == 1
	if k == nil || !match || k.Revoked() {
		return ErrUnauthorized
	}
	return nil
}
