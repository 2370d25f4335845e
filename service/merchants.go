package service

import (
	"context"
	"errors"

	"customerd"
)

// errPrefixTaken is a new API key whose prefix another key has: so rare
// (48 random bits) that trying again with a new key is the whole answer.
var errPrefixTaken = errors.New("API key prefix taken")

// maxKeyAttempts bounds the tries at an API key prefix no key has.
const maxKeyAttempts = 4

// CreateMerchant creates a merchant with its encryption keys and its first
// API key, in one transaction, and returns the key: the only time it is
// shown. An id in use is ECONFLICT, a malformed one EINVALID.
func (s *Service) CreateMerchant(ctx context.Context, id string) (string, error) {
	if err := customerd.ValidateMerchantID(id); err != nil {
		return "", &customerd.Error{Code: customerd.EINVALID, Message: err.Error()}
	}
	wraps, err := s.vault.NewMerchantKeys(id)
	if err != nil {
		return "", err
	}
	now := customerd.Timestamp(s.now())
	return s.newAPIKey(ctx, id, func(ctx context.Context, tx customerd.StoreTx) error {
		if err := tx.InsertMerchant(ctx, customerd.Merchant{ID: id, CreatedAt: now}); err != nil {
			return err
		}
		return tx.InsertWrappedKeys(ctx, wraps)
	})
}

// CreateAPIKey makes another API key for an existing merchant and returns
// it; ENOTFOUND when the merchant does not exist. The key works at once,
// in this process and every other.
func (s *Service) CreateAPIKey(ctx context.Context, merchantID string) (string, error) {
	return s.newAPIKey(ctx, merchantID, nil)
}

// newAPIKey stores a new key of the merchant, in one transaction with what
// before writes (when not nil), and returns the key.
func (s *Service) newAPIKey(ctx context.Context, merchantID string, before func(context.Context, customerd.StoreTx) error) (string, error) {
	for attempt := 1; ; attempt++ {
		secret, k, err := customerd.NewAPIKey(merchantID, s.now())
		if err != nil {
			return "", err
		}
		err = s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			if before != nil {
				if err := before(ctx, tx); err != nil {
					return err
				}
			}
			if err := tx.InsertAPIKey(ctx, k); customerd.ErrorCode(err) == customerd.ECONFLICT {
				return errPrefixTaken
			} else if err != nil {
				return err
			}
			return nil
		})
		if errors.Is(err, errPrefixTaken) && attempt < maxKeyAttempts {
			continue
		}
		if err != nil {
			return "", err
		}
		// Works at once here, even if its prefix was presented and found
		// missing a moment ago.
		s.keys.forget(k.Prefix)
		return secret, nil
	}
}

// ListMerchants returns every merchant, in id order.
func (s *Service) ListMerchants(ctx context.Context) ([]customerd.Merchant, error) {
	return s.store.ListMerchants(ctx)
}

// ListAPIKeys returns the merchant's keys (their stored form: prefix and
// hash, never the key), oldest first; ENOTFOUND for an unknown merchant.
func (s *Service) ListAPIKeys(ctx context.Context, merchantID string) ([]customerd.APIKey, error) {
	return s.store.ListAPIKeys(ctx, merchantID)
}

// RevokeAPIKey revokes a key given in full or by its prefix; ENOTFOUND when
// no key has that prefix. This service refuses the key at once; other
// processes within their key cache's TTL.
func (s *Service) RevokeAPIKey(ctx context.Context, keyOrPrefix string) error {
	prefix := keyOrPrefix
	if p, ok := customerd.APIKeyPrefix(keyOrPrefix); ok {
		prefix = p
	}
	now := customerd.Timestamp(s.now())
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		return tx.RevokeAPIKey(ctx, prefix, now)
	})
	s.keys.forget(prefix)
	return err
}

// KeyMerchant returns the merchant of the live API key with this public
// prefix, through the same key cache as Authenticate: for a session that
// checked the key's secret once and keeps only its prefix, so that a
// revoked key ends the session within the cache's TTL. An unknown or
// revoked prefix is EUNAUTHORIZED.
func (s *Service) KeyMerchant(ctx context.Context, prefix string) (string, error) {
	k, err := s.keys.find(ctx, prefix)
	switch {
	case customerd.ErrorCode(err) == customerd.ENOTFOUND:
		return "", customerd.ErrUnauthorized
	case err != nil:
		return "", err
	case k.Revoked():
		return "", customerd.ErrUnauthorized
	}
	return k.MerchantID, nil
}

// Authenticate returns the merchant whose API key secret is. An unknown,
// malformed or revoked key is EUNAUTHORIZED, and takes the same path as a
// wrong one: the hash comparison runs, in constant time, either way.
func (s *Service) Authenticate(ctx context.Context, secret string) (string, error) {
	var stored *customerd.APIKey
	if prefix, ok := customerd.APIKeyPrefix(secret); ok {
		k, err := s.keys.find(ctx, prefix)
		switch {
		case err == nil:
			stored = k
		case customerd.ErrorCode(err) != customerd.ENOTFOUND:
			return "", err
		}
	}
	if err := customerd.CheckAPIKey(stored, secret); err != nil {
		return "", err
	}
	return stored.MerchantID, nil
}
