// Package storetest is the conformance suite every customerd.Store must
// pass, as River's riverdrivertest is for its drivers. Each store's tests
// call Run with a constructor for an empty store, so that SQLite and
// PostgreSQL are held to the same answers. The records are sealed in name
// only: a store never looks inside them, and the suite checks that it gives
// back exactly the bytes it was given.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"customerd"
)

// NewStore returns an empty, migrated store. The suite closes it.
type NewStore func(t *testing.T) customerd.Store

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s customerd.Store)
	}{
		{"customer: an inserted row is found by id and by reference index, byte for byte", testInsertFind},
		{"customer: another merchant's row is never found, updated or deleted", testMerchantIsolation},
		{"customer: id and reference index are unique per merchant, the index reusable across merchants", testUnique},
		{"customer: keys that are not valid text match nothing and are no fault", testUnstorableKeys},
		{"customer: a write sealed under a stale data-key version is refused and writes nothing", testStaleKey},
		{"update: writes only the fields it sets, clears with nil, never moves last_updated back, and needs the current version", testUpdate},
		{"update: an unknown customer is not found", testUpdateUnknown},
		{"erase: a tombstone no lookup finds, the reference free, the events' personal parts gone", testErase},
		{"events: numbered per merchant, found, listed with paging, filters and a total", testEvents},
		{"events: concurrent writers' events are numbered without a gap or a duplicate", testConcurrentEventsAreNumberedWithoutGaps},
		{"events: old ones are pruned, and a rotation re-encrypts their personal part", testPruneAndReencryptEvents},
		{"list: pages in date order with offset, cursor and created range, and an exact total", testListPaging},
		{"list: ties on date_created are ordered by id, in both directions", testListTies},
		{"list: a cursor walk sees every customer that existed at its start exactly once while others are written", testListWalkWhileWriting},
		{"list: another merchant's customers are never listed, matched or a cursor", testListMerchantIsolation},
		{"list: exact filters by blind index, alone, combined and with paging, following updates", testListFilters},
		{"list: erased customers are never listed or matched, and their id stays a cursor", testListErased},
		{"leases: one holder at a time, until it expires", testLease},
		{"idempotency: a key is claimed once, completed by its claim, released, expired", testIdempotentRecords},
		{"idempotency: an erasure erases the answers that show the customer", testErasureErasesIdempotentAnswers},
		{"webhooks: endpoints are stored, found, listed, updated, targeted and deleted, per merchant", testWebhookEndpoints},
		{"webhooks: a merchant has at most MaxWebhookEndpoints endpoints", testWebhookEndpointLimit},
		{"webhooks: attempts are numbered, listed newest first to the sub-second, and pruned", testWebhookAttempts},
		{"write: every write of one Write commits, or none does", testAtomicWrite},
		{"write: concurrent writes all commit", testConcurrentWrites},
		{"concurrency: one of 16 racing inserts with one reference index wins", testRacingInserts},
		{"concurrency: concurrent updates of different fields never undo each other, and each makes one event", testConcurrentFieldUpdates},
		{"re-encryption: rows below a key version are listed, and replaced without touching their timestamps", testReencrypt},
		{"keys: wrapped keys are stored, listed in order, unique, and deleted by master key", testWrappedKeys},
		{"keys: merchants and API keys", testMerchantsAndAPIKeys},
		{"export: every customer of a merchant once, a page at a time, without the erased, in an order an import keeps", testCustomersAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// T0 is the fixed clock of the suite.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var ctx = context.Background()

// write runs fn in one Write of s.
func write(t testing.TB, s customerd.Store, fn func(tx customerd.StoreTx) error) error {
	t.Helper()
	return s.Write(ctx, func(_ context.Context, tx customerd.StoreTx) error { return fn(tx) })
}

// MustMerchant inserts a merchant with a data key of version 1 and its index
// key, as the service creates one, wrapped (in name) under master key "mk1".
func MustMerchant(t testing.TB, s customerd.Store, id string) {
	t.Helper()
	err := write(t, s, func(tx customerd.StoreTx) error {
		if err := tx.InsertMerchant(ctx, customerd.Merchant{ID: id, CreatedAt: T0}); err != nil {
			return err
		}
		return tx.InsertWrappedKeys(ctx, []customerd.WrappedKey{wrap(id, customerd.PurposeData, 1, "mk1"),
			wrap(id, customerd.PurposeIndex, 1, "mk1")})
	})
	if err != nil {
		t.Fatalf("merchant %s: %v", id, err)
	}
}

func wrap(merchantID string, p customerd.KeyPurpose, version uint32, master string) customerd.WrappedKey {
	return customerd.WrappedKey{MerchantID: merchantID, Purpose: p, Version: version, MasterKeyID: master,
		Wrapped: fmt.Appendf(nil, "wrapped %s %s v%d under %s", merchantID, p, version, master)}
}

var idSeq struct {
	sync.Mutex
	n int
}

// Row returns a sealed customer of merchant m with reference index ref and
// a fresh id; its "ciphertexts" and other blind indexes name their field and
// the id, so that a mix-up shows.
func Row(m, ref string) customerd.SealedCustomer {
	idSeq.Lock()
	idSeq.n++
	id := fmt.Sprintf("cst_%016d", idSeq.n)
	idSeq.Unlock()
	return customerd.SealedCustomer{ID: id, MerchantID: m, Version: 1, KeyVersion: 1, RefIndex: []byte("index:" + ref),
		MobileIndex: []byte("mobile index of " + id), EmailIndex: []byte("email index of " + id),
		ObjectReferenceID: []byte("sealed ref " + ref), MobileNumber: []byte("sealed mobile of " + id),
		EmailAddress: []byte("sealed email of " + id), FirstName: []byte{0, 1, 2, 0xff}, LastName: nil,
		MobileCountryCode: "91", DateCreated: T0, LastUpdated: T0}
}

// MustInsert inserts c, with its customer.created event, in a Write of its
// own and returns it.
func MustInsert(t testing.TB, s customerd.Store, c customerd.SealedCustomer) customerd.SealedCustomer {
	t.Helper()
	if err := write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &c) }); err != nil {
		t.Fatalf("insert %s: %v", c.ID, err)
	}
	return c
}

// insert inserts c with its customer.created event.
func insert(tx customerd.StoreTx, c *customerd.SealedCustomer) error {
	return tx.InsertCustomer(ctx, c, Event(customerd.EventCustomerCreated, c.MerchantID, c.ID, c.Version, c.KeyVersion))
}

var eventSeq struct {
	sync.Mutex
	n int
}

// Event returns an event of the customer with this id at this version; its
// "sealed" parts name the event, so that a mix-up shows.
func Event(typ, merchantID, customerID string, version int64, keyVersion uint32) *customerd.SealedEvent {
	eventSeq.Lock()
	eventSeq.n++
	id := fmt.Sprintf("evt_%016d", eventSeq.n)
	eventSeq.Unlock()
	return &customerd.SealedEvent{ID: id, MerchantID: merchantID, CustomerID: customerID, Type: typ, CustomerVersion: version,
		Created: T0, RequestID: "req-" + id, APIKeyPrefix: "cdk_000000000000", Kept: []byte("kept of " + id),
		KeyVersion: keyVersion, Personal: []byte("sealed personal data of " + id)}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := customerd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func same(t testing.TB, got, want customerd.SealedCustomer) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row mismatch\n got %+v\nwant %+v", got, want)
	}
}

func find(t testing.TB, s customerd.Store, m, id string) customerd.SealedCustomer {
	t.Helper()
	got, err := s.FindCustomer(ctx, m, id)
	if err != nil {
		t.Fatalf("find %s: %v", id, err)
	}
	return got
}

func testInsertFind(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "jon"))
	same(t, find(t, s, "m1", c.ID), c)
	got, err := s.FindCustomerByRef(ctx, "m1", []byte("index:jon"))
	if err != nil {
		t.Fatal(err)
	}
	same(t, got, c)
	if got.LastName != nil || got.FirstName == nil {
		t.Fatalf("nil must stay nil and bytes bytes: %+v", got)
	}
	_, err = s.FindCustomerByRef(ctx, "m1", []byte("index:jo"))
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.FindCustomer(ctx, "m1", "cst_0000000000000000")
	wantCode(t, err, customerd.ENOTFOUND)
}

func testMerchantIsolation(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	c := MustInsert(t, s, Row("m1", "ref"))
	_, err := s.FindCustomer(ctx, "m2", c.ID)
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.FindCustomerByRef(ctx, "m2", c.RefIndex)
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = update(t, s, customerd.SealedUpdate{MerchantID: "m2", ID: c.ID, Version: 1, KeyVersion: 1,
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("eve")}, Now: T0})
	wantCode(t, err, customerd.ENOTFOUND)
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error {
		return tx.EraseCustomer(ctx, "m2", c.ID, 1, Event(customerd.EventCustomerDeleted, "m2", c.ID, 2, 1))
	}), customerd.ENOTFOUND)
	same(t, find(t, s, "m1", c.ID), c)
}

func testUnique(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	first := MustInsert(t, s, Row("m1", "dup"))
	dup := Row("m1", "dup")
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &dup) }), customerd.ECONFLICT)
	sameID := Row("m1", "other")
	sameID.ID = first.ID
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &sameID) }), customerd.ECONFLICT)
	MustInsert(t, s, Row("m2", "dup"))
	got, err := s.FindCustomerByRef(ctx, "m1", first.RefIndex)
	if err != nil {
		t.Fatal(err)
	}
	same(t, got, first)
}

// Path segments are percent-decoded, so a lookup key may hold invalid UTF-8
// or NUL bytes, which some databases refuse in text.
func testUnstorableKeys(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustInsert(t, s, Row("m1", "ref"))
	for _, key := range []string{"\xff\xfe", "ref\x00", "cst_\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		_, err := s.FindCustomer(ctx, "m1", key)
		wantCode(t, err, customerd.ENOTFOUND)
		_, err = s.FindCustomer(ctx, key, key)
		wantCode(t, err, customerd.ENOTFOUND)
		_, err = update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: key, Version: 1, KeyVersion: 1, Now: T0,
			FirstName: customerd.SealedValue{Set: true, Sealed: []byte("x")}})
		wantCode(t, err, customerd.ENOTFOUND)
		_, err = s.FindEvent(ctx, "m1", key)
		wantCode(t, err, customerd.ENOTFOUND)
		if _, _, _, err := s.ListEvents(ctx, "m1", customerd.EventQuery{Page: customerd.Page{Limit: 10}, CustomerID: key}); err != nil {
			t.Fatalf("events of %q: %v", key, err)
		}
		_, err = s.FindAPIKey(ctx, "cdk_"+key)
		wantCode(t, err, customerd.ENOTFOUND)
		wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return tx.RevokeAPIKey(ctx, "cdk_"+key, T0) }), customerd.ENOTFOUND)
		_, err = s.ListAPIKeys(ctx, key)
		wantCode(t, err, customerd.ENOTFOUND)
	}
}

func testStaleKey(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "ref"))
	if err := write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertWrappedKeys(ctx, []customerd.WrappedKey{wrap("m1", customerd.PurposeData, 2, "mk1")})
	}); err != nil {
		t.Fatal(err)
	}
	stale := Row("m1", "new")
	err := write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &stale) })
	if !errors.Is(err, customerd.ErrStaleKey) {
		t.Fatalf("insert under v1 after v2 exists: %v, want ErrStaleKey", err)
	}
	_, err = s.FindCustomer(ctx, "m1", stale.ID)
	wantCode(t, err, customerd.ENOTFOUND)
	up := customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: 1, KeyVersion: 1, Now: T0.Add(time.Hour),
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("stale")}}
	err = write(t, s, func(tx customerd.StoreTx) error { return updateTx(tx, up) })
	if !errors.Is(err, customerd.ErrStaleKey) {
		t.Fatalf("update under v1 after v2 exists: %v, want ErrStaleKey", err)
	}
	same(t, find(t, s, "m1", c.ID), c)
	// Under the newest version both go through.
	stale.KeyVersion, up.KeyVersion = 2, 2
	MustInsert(t, s, stale)
	if err := write(t, s, func(tx customerd.StoreTx) error { return updateTx(tx, up) }); err != nil {
		t.Fatal(err)
	}
	// A merchant without keys has no customers to write.
	orphan := Row("nobody", "x")
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &orphan) }), customerd.ENOTFOUND)
	// An event sealed under another version than the row is refused too.
	mixed := Row("m1", "mixed")
	mixed.KeyVersion = 2
	err = write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertCustomer(ctx, &mixed, Event(customerd.EventCustomerCreated, "m1", mixed.ID, 1, 1))
	})
	if !errors.Is(err, customerd.ErrStaleKey) {
		t.Fatalf("an event sealed under v1 with a row under v2: %v, want ErrStaleKey", err)
	}
}

// update applies u, with its customer.updated event, in a Write of its own
// and returns the row as it is then.
func update(t testing.TB, s customerd.Store, u customerd.SealedUpdate) (customerd.SealedCustomer, error) {
	t.Helper()
	err := write(t, s, func(tx customerd.StoreTx) error { return updateTx(tx, u) })
	if err != nil {
		return customerd.SealedCustomer{}, err
	}
	return s.FindCustomer(ctx, u.MerchantID, u.ID)
}

// updateTx applies u with its customer.updated event.
func updateTx(tx customerd.StoreTx, u customerd.SealedUpdate) error {
	return tx.UpdateCustomer(ctx, u, Event(customerd.EventCustomerUpdated, u.MerchantID, u.ID, u.Version+1, u.KeyVersion))
}

func testUpdate(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "ref"))
	later := T0.Add(90 * time.Second)
	got, err := update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: 1, KeyVersion: 1, Now: later,
		MobileNumber: customerd.SealedValue{Set: true, Sealed: []byte("new mobile"), Index: []byte("new mobile index")},
		EmailAddress: customerd.SealedValue{Set: true}, // clears, the index too
		LastName:     customerd.SealedValue{Set: true, Sealed: []byte("new last")},
		// FirstName not set: kept
		MobileCountryCode: customerd.Value{Set: true, Value: "65"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.MobileNumber, want.EmailAddress, want.LastName = []byte("new mobile"), nil, []byte("new last")
	want.MobileIndex, want.EmailIndex = []byte("new mobile index"), nil
	want.MobileCountryCode, want.LastUpdated, want.Version = "65", later, 2
	same(t, got, want)
	// A clock that steps back never moves last_updated back.
	got, err = update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: 2, KeyVersion: 1, Now: T0,
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("F")}})
	if err != nil {
		t.Fatal(err)
	}
	want.FirstName, want.Version = []byte("F"), 3
	same(t, got, want)
	// An update made from a version that is no longer current writes
	// nothing.
	_, err = update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: 2, KeyVersion: 1, Now: later,
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("late")}})
	if !errors.Is(err, customerd.ErrChanged) {
		t.Fatalf("an update from version 2 at version 3: %v, want ErrChanged", err)
	}
	same(t, find(t, s, "m1", c.ID), want)
}

func testUpdateUnknown(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	_, err := update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: "cst_nothere00000000", Version: 1, KeyVersion: 1, Now: T0,
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("x")}})
	wantCode(t, err, customerd.ENOTFOUND)
}

func testErase(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "ref"))
	keep := MustInsert(t, s, Row("m1", "keep"))
	if _, err := update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: 1, KeyVersion: 1, Now: T0.Add(time.Minute),
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("second name")}}); err != nil {
		t.Fatal(err)
	}
	erase := func(version int64) error {
		return write(t, s, func(tx customerd.StoreTx) error {
			ev := Event(customerd.EventCustomerDeleted, "m1", c.ID, version+1, 1)
			ev.Personal = nil
			return tx.EraseCustomer(ctx, "m1", c.ID, version, ev)
		})
	}
	if err := erase(1); !errors.Is(err, customerd.ErrChanged) {
		t.Fatalf("an erasure made from version 1 at version 2: %v, want ErrChanged", err)
	}
	if err := erase(2); err != nil {
		t.Fatal(err)
	}
	_, err := s.FindCustomer(ctx, "m1", c.ID)
	wantCode(t, err, customerd.ENOTFOUND)
	_, err = s.FindCustomerByRef(ctx, "m1", c.RefIndex)
	wantCode(t, err, customerd.ENOTFOUND)
	wantCode(t, erase(3), customerd.ENOTFOUND)
	_, err = update(t, s, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: 3, KeyVersion: 1, Now: T0,
		FirstName: customerd.SealedValue{Set: true, Sealed: []byte("x")}})
	wantCode(t, err, customerd.ENOTFOUND)
	// The id stays taken; the reference is free again.
	sameID := Row("m1", "other")
	sameID.ID = c.ID
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &sameID) }), customerd.ECONFLICT)
	again := MustInsert(t, s, Row("m1", "ref"))
	same(t, find(t, s, "m1", keep.ID), keep)
	// The erased customer's events keep everything but their personal part.
	events := allEvents(t, s, "m1")
	var mine []customerd.SealedEvent
	for _, e := range events {
		if e.CustomerID == c.ID {
			mine = append(mine, e)
		} else if e.Personal == nil {
			t.Fatalf("another customer's event lost its personal data: %+v", e)
		}
	}
	if len(mine) != 3 || mine[0].Type != customerd.EventCustomerCreated || mine[1].Type != customerd.EventCustomerUpdated ||
		mine[2].Type != customerd.EventCustomerDeleted {
		t.Fatalf("events of the erased customer: %+v", mine)
	}
	for _, e := range mine {
		if e.Personal != nil || len(e.Kept) == 0 || e.RequestID == "" || e.APIKeyPrefix == "" {
			t.Fatalf("after the erasure: %+v", e)
		}
	}
	if err := s.PurgeFreed(ctx); err != nil {
		t.Fatal(err)
	}
	same(t, find(t, s, "m1", again.ID), again)
}

func testEvents(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	var created []customerd.SealedCustomer
	for i := range 5 {
		created = append(created, MustInsert(t, s, Row("m1", fmt.Sprint("r", i))))
	}
	other := MustInsert(t, s, Row("m2", "r"))
	u := customerd.SealedUpdate{MerchantID: "m1", ID: created[0].ID, Version: 1, KeyVersion: 1, Now: T0,
		LastName: customerd.SealedValue{Set: true, Sealed: []byte("L")}}
	if _, err := update(t, s, u); err != nil {
		t.Fatal(err)
	}
	all := allEvents(t, s, "m1")
	if len(all) != 6 {
		t.Fatalf("%d events, want 6", len(all))
	}
	for i, e := range all {
		if e.Sequence != int64(i+1) || e.MerchantID != "m1" || string(e.Kept) != "kept of "+e.ID ||
			string(e.Personal) != "sealed personal data of "+e.ID || !e.Created.Equal(T0) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	got, err := s.FindEvent(ctx, "m1", all[5].ID)
	if err != nil || !reflect.DeepEqual(got, all[5]) {
		t.Fatalf("find: %+v, %v", got, err)
	}
	// Another merchant's log is its own, numbered from 1.
	_, err = s.FindEvent(ctx, "m2", all[0].ID)
	wantCode(t, err, customerd.ENOTFOUND)
	if theirs := allEvents(t, s, "m2"); len(theirs) != 1 || theirs[0].Sequence != 1 || theirs[0].CustomerID != other.ID {
		t.Fatalf("m2's log: %+v", theirs)
	}
	list := func(q customerd.EventQuery) ([]customerd.SealedEvent, int, bool) {
		t.Helper()
		events, total, more, err := s.ListEvents(ctx, "m1", q)
		if err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		return events, total, more
	}
	seqs := func(events []customerd.SealedEvent) (out []int64) {
		for _, e := range events {
			out = append(out, e.Sequence)
		}
		return out
	}
	// Newest first by default; offset; a cursor in either order.
	page, total, more := list(customerd.EventQuery{Page: customerd.Page{Limit: 2}})
	if fmt.Sprint(seqs(page)) != "[6 5]" || total != 6 || !more {
		t.Fatalf("first page %v, total %d, more %v", seqs(page), total, more)
	}
	page, total, more = list(customerd.EventQuery{Page: customerd.Page{Limit: 4, Offset: 4}})
	if fmt.Sprint(seqs(page)) != "[2 1]" || more || total != 6 {
		t.Fatalf("offset 4: %v, more %v, total %d", seqs(page), more, total)
	}
	page, total, more = list(customerd.EventQuery{Page: customerd.Page{Limit: 10, StartingAfter: all[3].ID}})
	if fmt.Sprint(seqs(page)) != "[3 2 1]" || more || total != 6 {
		t.Fatalf("after 4, newest first: %v, total %d", seqs(page), total)
	}
	page, total, _ = list(customerd.EventQuery{Page: customerd.Page{Limit: 10, StartingAfter: all[3].ID, Ascending: true}})
	if fmt.Sprint(seqs(page)) != "[5 6]" || total != 6 {
		t.Fatalf("after 4, oldest first: %v, total %d", seqs(page), total)
	}
	// Filters: type, customer, created range; the total counts them.
	page, total, _ = list(customerd.EventQuery{Page: customerd.Page{Limit: 10}, Type: customerd.EventCustomerUpdated})
	if len(page) != 1 || total != 1 || page[0].Sequence != 6 {
		t.Fatalf("updates: %v, total %d", seqs(page), total)
	}
	page, total, _ = list(customerd.EventQuery{Page: customerd.Page{Limit: 10, Ascending: true}, CustomerID: created[0].ID})
	if fmt.Sprint(seqs(page)) != "[1 6]" || total != 2 {
		t.Fatalf("one customer's: %v, total %d", seqs(page), total)
	}
	if page, total, _ = list(customerd.EventQuery{Page: customerd.Page{Limit: 10, CreatedAfter: T0.Add(time.Second)}}); len(page) != 0 || total != 0 {
		t.Fatalf("created after T0+1s: %v", seqs(page))
	}
	if page, _, _ = list(customerd.EventQuery{Page: customerd.Page{Limit: 10, CreatedAfter: T0, CreatedBefore: T0.Add(time.Second)}}); len(page) != 6 {
		t.Fatalf("created in [T0, T0+1s): %v", seqs(page))
	}
	// A cursor that is no event of this merchant's log is refused.
	for _, bad := range []string{other.ID, "evt_0000000000000000", "evt_\xff"} {
		_, _, _, err := s.ListEvents(ctx, "m1", customerd.EventQuery{Page: customerd.Page{Limit: 1, StartingAfter: bad}})
		if err != customerd.ErrBadCursor {
			t.Fatalf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
	theirs := allEvents(t, s, "m2")
	if _, _, _, err := s.ListEvents(ctx, "m1", customerd.EventQuery{Page: customerd.Page{Limit: 1, StartingAfter: theirs[0].ID}}); err != customerd.ErrBadCursor {
		t.Fatalf("another merchant's event as a cursor: %v", err)
	}
}

func testConcurrentEventsAreNumberedWithoutGaps(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	stop := make(chan struct{})
	numbered := make(chan struct{})
	go func() { // numbering while the writes go on, as the background does
		defer close(numbered)
		for {
			select {
			case <-stop:
				return
			default:
				numberAll(t, s)
			}
		}
	}()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				MustInsert(t, s, Row("m1", fmt.Sprint(time.Now().UnixNano())))
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-numbered
	events := allEvents(t, s, "m1")
	if len(events) != writers*each {
		t.Fatalf("%d events, want %d", len(events), writers*each)
	}
	for i, e := range events {
		if e.Sequence != int64(i+1) {
			t.Fatalf("event %d has number %d: a gap or a duplicate", i, e.Sequence)
		}
	}
}

func testPruneAndReencryptEvents(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	old := Event(customerd.EventCustomerCreated, "m1", "cst_0000000000000001", 1, 1)
	old.Created = T0.Add(-time.Hour)
	c := Row("m1", "a")
	c.ID = "cst_0000000000000001"
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.InsertCustomer(ctx, &c, old) }); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		MustInsert(t, s, Row("m1", fmt.Sprint("b", i)))
	}
	numberAll(t, s)
	var n int
	if err := write(t, s, func(tx customerd.StoreTx) (err error) { n, err = tx.DeleteEventsBefore(ctx, "m1", T0, 10); return err }); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the one older event", n, err)
	}
	if events := allEvents(t, s, "m1"); len(events) != 3 || events[0].Sequence != 2 {
		t.Fatalf("after pruning: %+v", events)
	}
	if err := write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertWrappedKeys(ctx, []customerd.WrappedKey{wrap("m1", customerd.PurposeData, 2, "mk1")})
	}); err != nil {
		t.Fatal(err)
	}
	for round := 0; ; round++ {
		var n int
		if err := write(t, s, func(tx customerd.StoreTx) error {
			events, err := tx.EventsToReencrypt(ctx, "m1", 2, 2)
			for _, e := range events {
				e.KeyVersion, e.Personal = 2, append([]byte("v2 "), e.Personal...)
				if err := tx.ReplaceEventPersonal(ctx, e); err != nil {
					return err
				}
			}
			n = len(events)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if round > 3 {
			t.Fatal("re-encryption of events does not end")
		}
	}
	for _, e := range allEvents(t, s, "m1") {
		if e.KeyVersion != 2 || string(e.Personal) != "v2 sealed personal data of "+e.ID {
			t.Fatalf("after re-encryption: %+v", e)
		}
	}
}

func testLease(t *testing.T, s customerd.Store) {
	take := func(holder string, now time.Time) bool {
		t.Helper()
		var ok bool
		if err := write(t, s, func(tx customerd.StoreTx) (err error) {
			ok, err = tx.TakeLease(ctx, "job", holder, now, now.Add(time.Minute))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("a", T0) {
		t.Fatal("a free lease was not taken")
	}
	if take("b", T0.Add(30*time.Second)) {
		t.Fatal("a lease held by another was taken")
	}
	if !take("a", T0.Add(30*time.Second)) {
		t.Fatal("the holder could not renew its lease")
	}
	if !take("b", T0.Add(91*time.Second)) {
		t.Fatal("an expired lease was not taken")
	}
}

func testAtomicWrite(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	taken := MustInsert(t, s, Row("m1", "taken"))
	a, b, dup := Row("m1", "a"), Row("m1", "b"), Row("m1", "taken")
	err := write(t, s, func(tx customerd.StoreTx) error {
		for _, c := range []*customerd.SealedCustomer{&a, &b, &dup} {
			if err := insert(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	wantCode(t, err, customerd.ECONFLICT)
	for _, c := range []customerd.SealedCustomer{a, b} {
		_, err := s.FindCustomer(ctx, "m1", c.ID)
		wantCode(t, err, customerd.ENOTFOUND)
	}
	// An error of the caller's own rolls back too, and is returned as it is.
	mine := errors.New("changed my mind")
	err = write(t, s, func(tx customerd.StoreTx) error {
		if err := updateTx(tx, customerd.SealedUpdate{MerchantID: "m1", ID: taken.ID, Version: 1, KeyVersion: 1, Now: T0,
			FirstName: customerd.SealedValue{Set: true, Sealed: []byte("never")}}); err != nil {
			return err
		}
		if err := insert(tx, &a); err != nil {
			return err
		}
		return mine
	})
	if err != mine {
		t.Fatalf("Write returned %v, want the callback's own error", err)
	}
	same(t, find(t, s, "m1", taken.ID), taken)
	_, err = s.FindCustomer(ctx, "m1", a.ID)
	wantCode(t, err, customerd.ENOTFOUND)
	if events := allEvents(t, s, "m1"); len(events) != 1 {
		t.Fatalf("%d events after writes rolled back, want the one of the customer that exists", len(events))
	}
	// And a Write that succeeds commits all of its writes.
	if err := write(t, s, func(tx customerd.StoreTx) error {
		if err := insert(tx, &a); err != nil {
			return err
		}
		return insert(tx, &b)
	}); err != nil {
		t.Fatal(err)
	}
	same(t, find(t, s, "m1", a.ID), a)
	same(t, find(t, s, "m1", b.ID), b)
}

func testConcurrentWrites(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	const n = 64
	rows := make([]customerd.SealedCustomer, n)
	var wg sync.WaitGroup
	for i := range rows {
		rows[i] = Row("m1", fmt.Sprint("c", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &rows[i]) }); err != nil {
				t.Errorf("insert %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for _, c := range rows {
		same(t, find(t, s, "m1", c.ID), c)
	}
}

func testRacingInserts(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := Row("m1", "racer")
			<-start
			errs[i] = write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &c) })
		}()
	}
	close(start)
	wg.Wait()
	wins, conflicts := 0, 0
	for _, err := range errs {
		switch customerd.ErrorCode(err) {
		case "":
			wins++
		case customerd.ECONFLICT:
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("wins=%d conflicts=%d, want 1 and %d", wins, conflicts, n-1)
	}
}

func testConcurrentFieldUpdates(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	c := MustInsert(t, s, Row("m1", "ref"))
	const rounds = 20
	set := func(i int) customerd.SealedValue { return customerd.SealedValue{Set: true, Sealed: fmt.Append(nil, i)} }
	indexed := func(i int) customerd.SealedValue {
		return customerd.SealedValue{Set: true, Sealed: fmt.Append(nil, i), Index: fmt.Append(nil, "index ", i)}
	}
	fields := []func(u *customerd.SealedUpdate, i int){
		func(u *customerd.SealedUpdate, i int) { u.FirstName = set(i) },
		func(u *customerd.SealedUpdate, i int) { u.LastName = set(i) },
		func(u *customerd.SealedUpdate, i int) { u.MobileNumber = indexed(i) },
		func(u *customerd.SealedUpdate, i int) { u.EmailAddress = indexed(i) },
		func(u *customerd.SealedUpdate, i int) {
			u.MobileCountryCode = customerd.Value{Set: true, Value: fmt.Sprint(i)}
		},
	}
	var wg sync.WaitGroup
	for _, f := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= rounds; {
				// Made from the customer as read, as the service does: a
				// write that another came before is made again.
				cur, err := s.FindCustomer(ctx, "m1", c.ID)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				u := customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: cur.Version, KeyVersion: 1, Now: T0}
				f(&u, i)
				switch err := write(t, s, func(tx customerd.StoreTx) error { return updateTx(tx, u) }); {
				case errors.Is(err, customerd.ErrChanged):
				case err != nil:
					t.Errorf("update: %v", err)
					return
				default:
					i++
				}
			}
		}()
	}
	wg.Wait()
	want := c
	last := fmt.Append(nil, rounds)
	want.FirstName, want.LastName, want.MobileNumber, want.EmailAddress = last, last, last, last
	want.MobileIndex, want.EmailIndex = fmt.Append(nil, "index ", rounds), fmt.Append(nil, "index ", rounds)
	want.MobileCountryCode, want.Version = fmt.Sprint(rounds), 1+int64(len(fields)*rounds)
	same(t, find(t, s, "m1", c.ID), want)
	// One event per committed write, numbered in the order of the versions.
	events := allEvents(t, s, "m1")
	if len(events) != 1+len(fields)*rounds {
		t.Fatalf("%d events, want %d", len(events), 1+len(fields)*rounds)
	}
	for i, e := range events {
		if e.Sequence != int64(i+1) || e.CustomerVersion != int64(i+1) {
			t.Fatalf("event %d: sequence %d, customer version %d", i, e.Sequence, e.CustomerVersion)
		}
	}
}

// numberAll numbers every unnumbered event of the store, as the service's
// background work does.
func numberAll(t testing.TB, s customerd.Store) {
	t.Helper()
	merchants, err := s.MerchantsWithUnnumberedEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range merchants {
		for {
			var n int
			if err := write(t, s, func(tx customerd.StoreTx) (err error) { n, err = tx.NumberEvents(ctx, m, 1000, true); return err }); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}
}

// allEvents numbers what is unnumbered and returns every event of the
// merchant, oldest first, read a page of 7 at a time.
func allEvents(t testing.TB, s customerd.Store, merchantID string) []customerd.SealedEvent {
	t.Helper()
	numberAll(t, s)
	var out []customerd.SealedEvent
	q := customerd.EventQuery{Page: customerd.Page{Limit: 7, Ascending: true}}
	for {
		page, total, more, err := s.ListEvents(ctx, merchantID, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if total < len(out) || more != (total > len(out)) {
			t.Fatalf("after %d events: total %d, has_more %v", len(out), total, more)
		}
		if !more {
			return out
		}
		q.StartingAfter = page[len(page)-1].ID
	}
}

func testReencrypt(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	var old []customerd.SealedCustomer
	for i := range 5 {
		old = append(old, MustInsert(t, s, Row("m1", fmt.Sprint("r", i))))
	}
	other := MustInsert(t, s, Row("m2", "r"))
	if err := write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertWrappedKeys(ctx, []customerd.WrappedKey{wrap("m1", customerd.PurposeData, 2, "mk1")})
	}); err != nil {
		t.Fatal(err)
	}
	fresh := Row("m1", "fresh")
	fresh.KeyVersion = 2
	MustInsert(t, s, fresh)
	seen := map[string]bool{}
	for round := 0; ; round++ {
		var n int
		err := write(t, s, func(tx customerd.StoreTx) error {
			rows, err := tx.CustomersToReencrypt(ctx, "m1", 2, 2)
			if err != nil {
				return err
			}
			n = len(rows)
			for _, r := range rows {
				if r.KeyVersion >= 2 || r.MerchantID != "m1" || seen[r.ID] {
					return fmt.Errorf("listed %+v", r)
				}
				seen[r.ID] = true
				r.KeyVersion = 2
				r.ObjectReferenceID, r.MobileNumber = append([]byte("v2 "), r.ObjectReferenceID...), []byte("v2 mobile")
				r.EmailAddress, r.FirstName, r.LastName = nil, []byte("v2 first"), []byte("v2 last")
				r.MobileIndex, r.EmailIndex = []byte("v2 mobile index"), nil
				r.MobileCountryCode, r.LastUpdated = "1", T0.Add(time.Hour) // not to be written
				if err := tx.ReplaceCustomer(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if n > 2 || round > 5 {
			t.Fatalf("round %d listed %d rows with a limit of 2", round, n)
		}
	}
	if len(seen) != len(old) {
		t.Fatalf("re-encrypted %d rows, want %d", len(seen), len(old))
	}
	for _, c := range old {
		want := c
		want.KeyVersion = 2
		want.ObjectReferenceID, want.MobileNumber = append([]byte("v2 "), c.ObjectReferenceID...), []byte("v2 mobile")
		want.EmailAddress, want.FirstName, want.LastName = nil, []byte("v2 first"), []byte("v2 last")
		want.MobileIndex, want.EmailIndex = []byte("v2 mobile index"), nil
		same(t, find(t, s, "m1", c.ID), want)
	}
	same(t, find(t, s, "m2", other.ID), other)
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return tx.ReplaceCustomer(ctx, Row("m1", "ghost")) }), customerd.ENOTFOUND)
}

func testWrappedKeys(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m2")
	MustMerchant(t, s, "m1")
	extra := []customerd.WrappedKey{wrap("m1", customerd.PurposeData, 2, "mk1"), wrap("m1", customerd.PurposeData, 1, "mk0"),
		wrap("m1", customerd.PurposeIndex, 1, "mk0")}
	if err := write(t, s, func(tx customerd.StoreTx) error { return tx.InsertWrappedKeys(ctx, extra) }); err != nil {
		t.Fatal(err)
	}
	wantM1 := []customerd.WrappedKey{wrap("m1", customerd.PurposeData, 1, "mk0"), wrap("m1", customerd.PurposeData, 1, "mk1"),
		wrap("m1", customerd.PurposeData, 2, "mk1"), wrap("m1", customerd.PurposeIndex, 1, "mk0"), wrap("m1", customerd.PurposeIndex, 1, "mk1")}
	wantM2 := []customerd.WrappedKey{wrap("m2", customerd.PurposeData, 1, "mk1"), wrap("m2", customerd.PurposeIndex, 1, "mk1")}
	equal := func(a, b []customerd.WrappedKey) bool { return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b) }
	check := func(merchantID string, want []customerd.WrappedKey) {
		t.Helper()
		got, err := s.ListWrappedKeys(ctx, merchantID)
		if err != nil || !equal(got, want) {
			t.Fatalf("wrapped keys of %q:\n got %+v, %v\nwant %+v", merchantID, got, err, want)
		}
		err = write(t, s, func(tx customerd.StoreTx) error {
			got, err := tx.ListWrappedKeys(ctx, merchantID)
			if err == nil && !equal(got, want) {
				err = fmt.Errorf("in a transaction: %+v", got)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("m1", wantM1)
	check("", append(wantM1, wantM2...))
	check("nobody", nil)
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return tx.InsertWrappedKeys(ctx, extra[:1]) }), customerd.ECONFLICT)
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertWrappedKeys(ctx, []customerd.WrappedKey{wrap("nobody", customerd.PurposeData, 1, "mk1")})
	}), customerd.ENOTFOUND)
	var n int
	if err := write(t, s, func(tx customerd.StoreTx) (err error) { n, err = tx.DeleteWrappedKeys(ctx, "mk1"); return err }); err != nil || n != 2 {
		t.Fatalf("delete wraps under other master keys: %d, %v; want 2", n, err)
	}
	check("m1", []customerd.WrappedKey{wantM1[1], wantM1[2], wantM1[4]})
}

func testMerchantsAndAPIKeys(t *testing.T, s customerd.Store) {
	if ms, err := s.ListMerchants(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("merchants of an empty store: %v, %v", ms, err)
	}
	MustMerchant(t, s, "m2")
	MustMerchant(t, s, "m1")
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error {
		return tx.InsertMerchant(ctx, customerd.Merchant{ID: "m1", CreatedAt: T0})
	}), customerd.ECONFLICT)
	ms, err := s.ListMerchants(ctx)
	if err != nil || !reflect.DeepEqual(ms, []customerd.Merchant{{ID: "m1", CreatedAt: T0}, {ID: "m2", CreatedAt: T0}}) {
		t.Fatalf("merchants: %+v, %v", ms, err)
	}
	k1 := customerd.APIKey{Prefix: "cdk_000000000001", Hash: []byte("hash one"), MerchantID: "m1", CreatedAt: T0}
	k2 := customerd.APIKey{Prefix: "cdk_000000000000", Hash: []byte("hash two"), MerchantID: "m1", CreatedAt: T0.Add(time.Second)}
	for _, k := range []customerd.APIKey{k1, k2} {
		if err := write(t, s, func(tx customerd.StoreTx) error { return tx.InsertAPIKey(ctx, k) }); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return tx.InsertAPIKey(ctx, k1) }), customerd.ECONFLICT)
	orphan := customerd.APIKey{Prefix: "cdk_00000000000f", Hash: []byte("h"), MerchantID: "nobody", CreatedAt: T0}
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return tx.InsertAPIKey(ctx, orphan) }), customerd.ENOTFOUND)
	keys, err := s.ListAPIKeys(ctx, "m1")
	if err != nil || !reflect.DeepEqual(keys, []customerd.APIKey{k1, k2}) {
		t.Fatalf("keys, oldest first: %+v, %v", keys, err)
	}
	if keys, err := s.ListAPIKeys(ctx, "m2"); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a merchant without any: %+v, %v", keys, err)
	}
	_, err = s.ListAPIKeys(ctx, "nobody")
	wantCode(t, err, customerd.ENOTFOUND)
	revoke := func(at time.Time) error {
		return write(t, s, func(tx customerd.StoreTx) error { return tx.RevokeAPIKey(ctx, k1.Prefix, at) })
	}
	if err := revoke(T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := revoke(T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindAPIKey(ctx, k1.Prefix)
	if err != nil || !got.RevokedAt.Equal(T0.Add(time.Minute)) || string(got.Hash) != "hash one" || got.MerchantID != "m1" {
		t.Fatalf("revoked key %+v, %v: want the first revocation time kept", got, err)
	}
	wantCode(t, write(t, s, func(tx customerd.StoreTx) error { return tx.RevokeAPIKey(ctx, "cdk_nothere", T0) }), customerd.ENOTFOUND)
	_, err = s.FindAPIKey(ctx, "cdk_nothere")
	wantCode(t, err, customerd.ENOTFOUND)
}
