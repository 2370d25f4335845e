package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"customerd"
)

func testIdempotentRecords(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	claim := customerd.IdempotentRecord{MerchantID: "m1", KeyHash: []byte("key one"), RequestHash: []byte("request one"),
		Token: []byte("token one"), State: customerd.IdempotencyInFlight, LockedUntil: T0.Add(15 * time.Second), Expires: T0.Add(time.Hour)}
	take := func(r customerd.IdempotentRecord, now time.Time) (customerd.IdempotentRecord, bool) {
		t.Helper()
		var got customerd.IdempotentRecord
		var ok bool
		if err := write(t, s, func(tx customerd.StoreTx) (err error) {
			got, ok, err = tx.ClaimIdempotentRecord(ctx, r, now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got, ok
	}
	if _, ok := take(claim, T0); !ok {
		t.Fatal("a free key was not claimed")
	}
	got, err := s.FindIdempotentRecord(ctx, "m1", claim.KeyHash)
	if err != nil || !reflect.DeepEqual(got, claim) {
		t.Fatalf("find:\n got %+v, %v\nwant %+v", got, err, claim)
	}
	// A live claim is not taken, by any request; the other merchant's key is
	// its own.
	second := claim
	second.Token, second.RequestHash = []byte("token two"), []byte("request two")
	if live, ok := take(second, T0.Add(time.Second)); ok || !reflect.DeepEqual(live, claim) {
		t.Fatalf("a live claim was taken: %v, %+v", ok, live)
	}
	theirs := second
	theirs.MerchantID = "m2"
	if _, ok := take(theirs, T0); !ok {
		t.Fatal("another merchant's key with the same hash was not claimed")
	}
	// Completing needs the claim's token; it stores the answer.
	done := claim
	done.Status, done.Answer, done.KeyVersion, done.CustomerID, done.Expires = 200, []byte("sealed answer"), 1, "cst_0000000000000042", T0.Add(2*time.Hour)
	wrong := done
	wrong.Token = []byte("token two")
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.CompleteIdempotentRecord(ctx, wrong) }); !errors.Is(err, customerd.ErrChanged) {
		t.Fatalf("completed with another token: %v", err)
	}
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.CompleteIdempotentRecord(ctx, done) }); err != nil {
		t.Fatal(err)
	}
	done.State = customerd.IdempotencyDone
	if got, err := s.FindIdempotentRecord(ctx, "m1", claim.KeyHash); err != nil || !reflect.DeepEqual(got, done) {
		t.Fatalf("after completing:\n got %+v, %v\nwant %+v", got, err, done)
	}
	// Done and not expired: not taken; expired: taken afresh.
	if _, ok := take(second, T0.Add(time.Hour)); ok {
		t.Fatal("a done record was taken before it expired")
	}
	if fresh, ok := take(second, T0.Add(3*time.Hour)); !ok || !reflect.DeepEqual(fresh, second) {
		t.Fatalf("an expired record was not taken: %v", ok)
	}
	// An abandoned claim (its LockedUntil passed) is taken.
	third := claim
	third.Token, third.LockedUntil, third.Expires = []byte("token three"), T0.Add(4*time.Hour), T0.Add(5*time.Hour)
	if _, ok := take(third, T0.Add(3*time.Hour+16*time.Second)); !ok {
		t.Fatal("an abandoned claim was not taken")
	}
	// Released with its token only.
	if err := write(t, s, func(tx customerd.StoreTx) error {
		return tx.ReleaseIdempotentRecord(ctx, "m1", claim.KeyHash, []byte("token two"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindIdempotentRecord(ctx, "m1", claim.KeyHash); err != nil {
		t.Fatal("released with another claim's token")
	}
	if err := write(t, s, func(tx customerd.StoreTx) error {
		return tx.ReleaseIdempotentRecord(ctx, "m1", claim.KeyHash, third.Token)
	}); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindIdempotentRecord(ctx, "m1", claim.KeyHash)
	wantCode(t, err, customerd.ENOTFOUND)
	// Expired records are deleted; live ones stay.
	var n int
	if err := write(t, s, func(tx customerd.StoreTx) (err error) {
		n, err = tx.DeleteExpiredIdempotentRecords(ctx, T0.Add(2*time.Hour), 10)
		return err
	}); err != nil || n != 1 {
		t.Fatalf("deleted %d expired records, %v; want m2's", n, err)
	}
	_, err = s.FindIdempotentRecord(ctx, "m2", claim.KeyHash)
	wantCode(t, err, customerd.ENOTFOUND)
}

func testErasureErasesIdempotentAnswers(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "ref"))
	other := MustInsert(t, s, Row("m1", "other"))
	for _, r := range []struct {
		key, customer string
	}{{"mine", c.ID}, {"theirs", other.ID}} {
		rec := customerd.IdempotentRecord{MerchantID: "m1", KeyHash: []byte(r.key), RequestHash: []byte("req"), Token: []byte("t"),
			State: customerd.IdempotencyInFlight, LockedUntil: T0.Add(time.Minute), Expires: T0.Add(time.Hour)}
		err := write(t, s, func(tx customerd.StoreTx) error {
			if _, _, err := tx.ClaimIdempotentRecord(ctx, rec, T0); err != nil {
				return err
			}
			rec.Status, rec.Answer, rec.KeyVersion, rec.CustomerID = 200, []byte("answer showing "+r.customer), 1, r.customer
			return tx.CompleteIdempotentRecord(ctx, rec)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := write(t, s, func(tx customerd.StoreTx) error {
		ev := Event(customerd.EventCustomerDeleted, "m1", c.ID, 2, 1)
		ev.Personal = nil
		return tx.EraseCustomer(ctx, "m1", c.ID, 1, ev)
	}); err != nil {
		t.Fatal(err)
	}
	mine, err := s.FindIdempotentRecord(ctx, "m1", []byte("mine"))
	if err != nil || mine.State != customerd.IdempotencyErased || mine.Answer != nil || string(mine.RequestHash) != "req" {
		t.Fatalf("the erased customer's answer: %+v, %v", mine, err)
	}
	theirs, err := s.FindIdempotentRecord(ctx, "m1", []byte("theirs"))
	if err != nil || theirs.State != customerd.IdempotencyDone || string(theirs.Answer) != "answer showing "+other.ID {
		t.Fatalf("another customer's answer: %+v, %v", theirs, err)
	}
}
