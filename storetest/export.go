package storetest

import (
	"fmt"
	"slices"
	"testing"

	"customerd"
)

// testCustomersAfter: an export walks every customer of one merchant, once
// each, a page at a time, byte for byte, without the erased ones; and
// customers inserted in id order are walked in that order, the one order
// every store keeps (SQLite its insertion order, PostgreSQL id order), so
// that an export imported into an empty store exports the same again.
func testCustomersAfter(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	var want []customerd.SealedCustomer
	for i, ref := range []string{"e", "a", "d", "b", "c", "gone"} {
		c := Row("m1", ref)
		c.ID = fmt.Sprintf("cst_walk%012d", 100-i) // against id order
		want = append(want, MustInsert(t, s, c))
		if i == 2 {
			MustInsert(t, s, Row("m2", "other merchant"))
		}
	}
	gone := want[len(want)-1]
	if err := write(t, s, func(tx customerd.StoreTx) error {
		ev := Event(customerd.EventCustomerDeleted, "m1", gone.ID, 2, 1)
		ev.Personal = nil
		return tx.EraseCustomer(ctx, "m1", gone.ID, 1, ev)
	}); err != nil {
		t.Fatal(err)
	}
	want = want[:len(want)-1]
	byID := func(a, b customerd.SealedCustomer) int { return compare(a.ID, b.ID) }

	got := walkCustomers(t, s, "m1", 2)
	if len(got) != len(want) {
		t.Fatalf("walked %d customers, want %d: %+v", len(got), len(want), got)
	}
	slices.SortFunc(got, byID)
	slices.SortFunc(want, byID)
	for i := range want {
		same(t, got[i], want[i])
	}
	if page, err := s.CustomersAfter(ctx, "nobody", "", 10); err != nil || len(page) != 0 {
		t.Fatalf("a merchant without customers: %v, %v", page, err)
	}

	// Rows inserted in id order, as an import of an export inserts them,
	// are walked in id order.
	MustMerchant(t, s, "m3")
	var ordered []customerd.SealedCustomer
	for i, ref := range []string{"p", "q", "r", "s", "t"} {
		c := Row("m3", ref)
		c.ID = fmt.Sprintf("cst_walk%012d", 200+i)
		ordered = append(ordered, MustInsert(t, s, c))
	}
	got = walkCustomers(t, s, "m3", 2)
	if len(got) != len(ordered) {
		t.Fatalf("walked %d customers, want %d", len(got), len(ordered))
	}
	for i := range ordered {
		same(t, got[i], ordered[i])
	}
}

// walkCustomers walks every customer of the merchant with CustomersAfter,
// pages of size at a time.
func walkCustomers(t *testing.T, s customerd.Store, merchantID string, size int) []customerd.SealedCustomer {
	t.Helper()
	var got []customerd.SealedCustomer
	after := ""
	for pages := 0; ; pages++ {
		page, err := s.CustomersAfter(ctx, merchantID, after, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > size || pages > 100 {
			t.Fatalf("page %d has %d rows for a limit of %d", pages, len(page), size)
		}
		if len(page) == 0 {
			return got
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
