package customerd

import (
	"context"
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

// MerchantStore persists merchants and their API keys.
type MerchantStore interface {
	// CreateMerchant inserts m; ErrConflict if the id exists.
	CreateMerchant(ctx context.Context, m Merchant) error
	// CountMerchants returns how many merchants exist.
	CountMerchants(ctx context.Context) (int, error)
	// CreateAPIKey stores k; ErrNotFound if its merchant does not exist,
	// ErrConflict if its prefix is already taken.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// FindAPIKey returns the key with this prefix, revoked or not; ErrNotFound
	// if there is none.
	FindAPIKey(ctx context.Context, prefix string) (*APIKey, error)
	// ListAPIKeys returns the merchant's keys, oldest first; ErrNotFound if
	// the merchant does not exist.
	ListAPIKeys(ctx context.Context, merchantID string) ([]APIKey, error)
	// RevokeAPIKey marks the key with this prefix revoked at now (a key
	// already revoked keeps its first revocation time); ErrNotFound if none.
	RevokeAPIKey(ctx context.Context, prefix string, now time.Time) error
}

// Store is everything the server persists.
type Store interface {
	CustomerStore
	MerchantStore
	// Ping reports whether the database answers and is migrated.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// dummyHash is compared against when no key matches, so that an unknown key
// and a wrong key take the same path.
var dummyHash = HashAPIKey(keyScheme + "0000000000000000000000000000000000000000")

// Authenticate returns the merchant id that the presented key belongs to. An
// unknown, malformed or revoked key is ErrUnauthorized; the hash comparison
// runs in constant time and runs even when no key matched.
func Authenticate(ctx context.Context, keys MerchantStore, secret string) (string, error) {
	presented := HashAPIKey(secret)
	prefix, ok := APIKeyPrefix(secret)
	var stored *APIKey
	if ok {
		k, err := keys.FindAPIKey(ctx, prefix)
		switch {
		case err == nil:
			stored = k
		case ErrorCode(err) != ENOTFOUND:
			return "", err
		}
	}
	want := dummyHash
	if stored != nil {
		want = stored.Hash
	}
	match := subtle.ConstantTimeCompare(presented, want) == 1
	if stored == nil || !match || stored.Revoked() {
		return "", ErrUnauthorized
	}
	return stored.MerchantID, nil
}

// CreateMerchant creates a merchant and its first key, returning the key.
func CreateMerchant(ctx context.Context, s MerchantStore, id string, now time.Time) (string, error) {
	if err := ValidateMerchantID(id); err != nil {
		return "", &Error{Code: EINVALID, Message: err.Error()}
	}
	if err := s.CreateMerchant(ctx, Merchant{ID: id, CreatedAt: Timestamp(now)}); err != nil {
		return "", err
	}
	return CreateAPIKey(ctx, s, id, now)
}

// CreateAPIKey makes and stores a new key for an existing merchant and
// returns the secret, retrying on the (unlikely) prefix collision.
func CreateAPIKey(ctx context.Context, s MerchantStore, merchantID string, now time.Time) (string, error) {
	for attempt := 0; ; attempt++ {
		secret, k, err := NewAPIKey(merchantID, now)
		if err != nil {
			return "", err
		}
		err = s.CreateAPIKey(ctx, k)
		if ErrorCode(err) == ECONFLICT && attempt < 3 {
			continue
		}
		if err != nil {
			return "", err
		}
		return secret, nil
	}
}

// RevokeAPIKey revokes a key given in full or by its prefix.
func RevokeAPIKey(ctx context.Context, s MerchantStore, keyOrPrefix string, now time.Time) error {
	prefix := keyOrPrefix
	if p, ok := APIKeyPrefix(keyOrPrefix); ok {
		prefix = p
	}
	return s.RevokeAPIKey(ctx, prefix, Timestamp(now))
}
