package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"time"

	"customerd"
	"customerd/fieldcrypt"
)

// Domains of the keyed hashes and sealed values of Idempotency-Key records.
const (
	domainIdempotencyKey     = "idempotency key"
	domainIdempotentRequest  = "idempotent request"
	fieldIdempotentAnswer    = "idempotent answer"
	idempotencyClaimDuration = 15 * time.Second
)

// Errors of BeginIdempotent.
var (
	errKeyReused = &customerd.Error{Code: customerd.EKEYREUSED,
		Message: "this Idempotency-Key was used for another request (method, path or body)"}
	errKeyInUse = &customerd.Error{Code: customerd.EKEYINUSE,
		Message: "a request with this Idempotency-Key is still running"}
	errAnswerErased = &customerd.Error{Code: customerd.ENOTFOUND,
		Message: "the customer this Idempotency-Key's request changed is erased, and its answer with it"}
)

// BeginIdempotent starts a write made under the merchant's Idempotency-Key
// key. request is the request's canonical form (its method, path and body,
// as the HTTP layer defines it); it is compared by a keyed hash and never
// stored. It returns one of:
//   - a claim on the key: the write runs with it in its Caller, stores its
//     answer in its own transaction (see customerd.Idempotency), and the
//     caller calls Release if the write does not succeed;
//   - the stored answer of the key's first request, to give again, when that
//     request succeeded and was this one;
//   - an EKEYREUSED error when the key was used for another request, an
//     EKEYINUSE error while a request with the key is running (on any
//     node), and ENOTFOUND when the customer its request changed has been
//     erased since.
//
// A key is free again once its record expires (Config.IdempotencyTTL), and
// after a crash once the claim's 15 s have passed: by then no request that
// held it can still commit (a request's store deadline is 4.5 s).
func (s *Service) BeginIdempotent(ctx context.Context, merchantID, key string, request []byte) (*customerd.Idempotency, *customerd.StoredAnswer, error) {
	ring, err := s.keyring(ctx, merchantID)
	if err != nil {
		return nil, nil, err
	}
	keyHash := ring.KeyedHash(domainIdempotencyKey, []byte(key))
	requestHash := ring.KeyedHash(domainIdempotentRequest, request)
	now := s.now()
	rec, err := s.store.FindIdempotentRecord(ctx, merchantID, keyHash)
	switch {
	case err == nil && rec.LiveAt(now):
		answer, err := s.answerOf(ctx, rec, requestHash)
		return nil, answer, err
	case err != nil && customerd.ErrorCode(err) != customerd.ENOTFOUND:
		return nil, nil, err
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, nil, err
	}
	claim := customerd.IdempotentRecord{MerchantID: merchantID, KeyHash: keyHash, RequestHash: requestHash, Token: token,
		State: customerd.IdempotencyInFlight, LockedUntil: now.Add(idempotencyClaimDuration), Expires: now.Add(s.idempotencyTTL)}
	rec, claimed, err := s.store.ClaimIdempotencyKey(ctx, claim, now)
	if err != nil {
		return nil, nil, err
	}
	if !claimed {
		answer, err := s.answerOf(ctx, rec, requestHash)
		return nil, answer, err
	}
	return &customerd.Idempotency{MerchantID: merchantID, KeyHash: keyHash, RequestHash: requestHash, Token: token,
		LockedUntil: claim.LockedUntil}, nil, nil
}

// answerOf is what a live record answers a request with this keyed hash.
func (s *Service) answerOf(ctx context.Context, r customerd.IdempotentRecord, requestHash []byte) (*customerd.StoredAnswer, error) {
	switch {
	case r.State == customerd.IdempotencyInFlight:
		return nil, errKeyInUse // whatever its body, as Stripe answers
	case !bytes.Equal(r.RequestHash, requestHash):
		return nil, errKeyReused
	case r.State == customerd.IdempotencyErased:
		return nil, errAnswerErased
	}
	body, err := s.openSealed(ctx, r.MerchantID, string(r.KeyHash), fieldIdempotentAnswer, r.Answer)
	if err != nil {
		return nil, err
	}
	return &customerd.StoredAnswer{Status: r.Status, Body: []byte(body)}, nil
}

// Release ends the claim of a write when its request is done, however it
// ended: after a write that did not succeed the key is free again, and a
// retry runs afresh; after one that did, the key's record holds it.
func (s *Service) Release(ctx context.Context, idem *customerd.Idempotency) error {
	if idem == nil {
		return nil
	}
	return s.store.ReleaseIdempotencyKey(ctx, idem.MerchantID, idem.KeyHash, idem.Token, idem.Answer != nil)
}

// commit runs change, a write of a customer with its events (or of a
// webhook endpoint, without), as one store write with what the change
// brings along: the webhook deliveries of its events, and, when the caller
// holds an Idempotency-Key, the answer its result renders, sealed,
// completing the key's record in the same transaction. customerID is the
// customer the answer shows, so that its erasure erases the answer too.
func (s *Service) commit(ctx context.Context, caller customerd.Caller, ring *fieldcrypt.Keyring, result any, customerID string,
	events []*customerd.SealedEvent, change func(ctx context.Context, tx customerd.StoreTx) error) error {
	idem := caller.Idempotency
	var answer customerd.IdempotentRecord
	var body []byte
	var now time.Time
	if idem != nil {
		var err error
		if body, err = idem.Render(result); err != nil {
			return err
		}
		sealed, err := ring.Seal(string(idem.KeyHash), fieldIdempotentAnswer, string(body))
		if err != nil {
			return err
		}
		now = s.now()
		answer = customerd.IdempotentRecord{MerchantID: caller.MerchantID, KeyHash: idem.KeyHash, RequestHash: idem.RequestHash,
			Token: idem.Token, State: customerd.IdempotencyDone, LockedUntil: idem.LockedUntil, Status: 200, Answer: sealed,
			KeyVersion: ring.Active(), CustomerID: customerID, Expires: now.Add(s.idempotencyTTL)}
	}
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		// The key's record first: of two writes with one key, the key
		// decides which commits, whatever else they change.
		if idem != nil {
			if err := tx.CompleteIdempotentRecord(ctx, answer, now); errors.Is(err, customerd.ErrChanged) {
				return errKeyInUse // another request holds the key or has its record: this change must not commit
			} else if err != nil {
				return err
			}
		}
		if err := change(ctx, tx); err != nil {
			return err
		}
		// Last, so that nothing after it can fail the write: a store may
		// insert the deliveries with those of other writes at its commit.
		if caller.NoDeliveries {
			return nil
		}
		return s.scheduleDeliveries(ctx, tx, caller.MerchantID, events)
	})
	if err != nil {
		return err
	}
	if idem != nil {
		idem.Answer = body
	}
	s.eventWritten()
	return nil
}

// pruneIdempotentRecords deletes the expired records, in batches.
func (s *Service) pruneIdempotentRecords(ctx context.Context, now time.Time) error {
	for {
		n := 0
		err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			var err error
			n, err = tx.DeleteExpiredIdempotentRecords(ctx, now, pruneBatch)
			return err
		})
		if err != nil || n < pruneBatch {
			return err
		}
	}
}
