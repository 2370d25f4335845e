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
		got, ok, err := s.ClaimIdempotencyKey(ctx, r, now)
		if err != nil {
			t.Fatal(err)
		}
		return got, ok
	}
	complete := func(r customerd.IdempotentRecord, now time.Time) error {
		return write(t, s, func(tx customerd.StoreTx) error { return tx.CompleteIdempotentRecord(ctx, r, now) })
	}
	release := func(r customerd.IdempotentRecord, committed bool) {
		t.Helper()
		if err := s.ReleaseIdempotencyKey(ctx, r.MerchantID, r.KeyHash, r.Token, committed); err != nil {
			t.Fatal(err)
		}
	}
	find := func(merchantID string) (customerd.IdempotentRecord, error) {
		return s.FindIdempotentRecord(ctx, merchantID, claim.KeyHash)
	}
	if _, ok := take(claim, T0); !ok {
		t.Fatal("a free key was not claimed")
	}
	got, err := find("m1")
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
	// The write holding the claim stores its record; another request's
	// write cannot while the claim is live.
	done := claim
	done.State, done.Status, done.Answer, done.KeyVersion, done.CustomerID, done.Expires = customerd.IdempotencyDone, 200,
		[]byte("sealed answer"), 1, "cst_0000000000000042", T0.Add(2*time.Hour)
	wrong := done
	wrong.Token, wrong.RequestHash = second.Token, second.RequestHash
	if err := complete(wrong, T0.Add(time.Second)); !errors.Is(err, customerd.ErrChanged) {
		t.Fatalf("completed under another request's claim: %v", err)
	}
	if err := complete(done, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, committed := range []bool{false, true} { // a release by another token changes nothing
		if err := s.ReleaseIdempotencyKey(ctx, "m1", claim.KeyHash, second.Token, committed); err != nil {
			t.Fatal(err)
		}
	}
	release(done, true)
	if got, err := find("m1"); err != nil || !reflect.DeepEqual(got, done) {
		t.Fatalf("after completing:\n got %+v, %v\nwant %+v", got, err, done)
	}
	// Done and not expired: neither claimed nor replaced by another
	// request; expired: claimed afresh.
	if live, ok := take(second, T0.Add(time.Hour)); ok || !reflect.DeepEqual(live, done) {
		t.Fatalf("a done record was claimed before it expired: %+v", live)
	}
	if err := complete(wrong, T0.Add(time.Hour)); !errors.Is(err, customerd.ErrChanged) {
		t.Fatalf("a done record was replaced before it expired: %v", err)
	}
	later := second
	later.LockedUntil, later.Expires = T0.Add(3*time.Hour+15*time.Second), T0.Add(4*time.Hour)
	if fresh, ok := take(later, T0.Add(3*time.Hour)); !ok || !reflect.DeepEqual(fresh, later) {
		t.Fatalf("an expired record was not claimed: %v", ok)
	}
	// Released without a commit, the key is free again.
	release(later, false)
	if rec, err := find("m1"); err == nil && rec.LiveAt(T0.Add(3*time.Hour)) {
		t.Fatalf("a released claim is still live: %+v", rec)
	} else if err != nil && customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatal(err)
	}
	// A claim abandoned (by a crash: never released) holds the key until
	// its LockedUntil, then is taken.
	third := claim
	third.Token, third.LockedUntil, third.Expires = []byte("token three"), T0.Add(4*time.Hour+15*time.Second), T0.Add(5*time.Hour)
	if _, ok := take(third, T0.Add(4*time.Hour)); !ok {
		t.Fatal("a released key was not claimed")
	}
	fourth := third
	fourth.Token, fourth.LockedUntil = []byte("token four"), T0.Add(4*time.Hour+31*time.Second)
	if _, ok := take(fourth, T0.Add(4*time.Hour+10*time.Second)); ok {
		t.Fatal("a live claim was taken")
	}
	if _, ok := take(fourth, T0.Add(4*time.Hour+16*time.Second)); !ok {
		t.Fatal("an abandoned claim was not taken")
	}
	fourthDone := fourth
	fourthDone.State, fourthDone.Status, fourthDone.Answer = customerd.IdempotencyDone, 200, []byte("answer four")
	if err := complete(fourthDone, T0.Add(4*time.Hour+17*time.Second)); err != nil {
		t.Fatal(err)
	}
	release(fourthDone, true)
	theirsDone := theirs
	theirsDone.State, theirsDone.Status, theirsDone.Answer = customerd.IdempotencyDone, 200, []byte("their answer")
	if err := complete(theirsDone, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	release(theirsDone, true)
	// Expired records are deleted; live ones stay.
	var n int
	if err := write(t, s, func(tx customerd.StoreTx) (err error) {
		n, err = tx.DeleteExpiredIdempotentRecords(ctx, T0.Add(2*time.Hour), 10)
		return err
	}); err != nil || n != 1 {
		t.Fatalf("deleted %d expired records, %v; want m2's", n, err)
	}
	_, err = find("m2")
	wantCode(t, err, customerd.ENOTFOUND)
	if got, err := find("m1"); err != nil || !reflect.DeepEqual(got, fourthDone) {
		t.Fatalf("the live record after the deletion:\n got %+v, %v\nwant %+v", got, err, fourthDone)
	}
}

func testErasureErasesIdempotentAnswers(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "ref"))
	other := MustInsert(t, s, Row("m1", "other"))
	for _, r := range []struct {
		key, customer string
	}{{"mine", c.ID}, {"theirs", other.ID}} {
		rec := customerd.IdempotentRecord{MerchantID: "m1", KeyHash: []byte(r.key), RequestHash: []byte("req"), Token: []byte("t"),
			State: customerd.IdempotencyDone, LockedUntil: T0.Add(time.Minute), Expires: T0.Add(time.Hour),
			Status: 200, Answer: []byte("answer showing " + r.customer), KeyVersion: 1, CustomerID: r.customer}
		if err := write(t, s, func(tx customerd.StoreTx) error { return tx.CompleteIdempotentRecord(ctx, rec, T0) }); err != nil {
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
