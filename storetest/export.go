package storetest

import (
	"slices"
	"testing"

	"customerd"
)

// testCustomersAfter: an export walks every customer of one merchant, in id
// order, a page at a time, byte for byte, without the erased ones.
func testCustomersAfter(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	var want []customerd.SealedCustomer
	for _, ref := range []string{"e", "a", "d", "b", "c", "gone"} {
		want = append(want, MustInsert(t, s, Row("m1", ref)))
	}
	MustInsert(t, s, Row("m2", "other merchant"))
	gone := want[len(want)-1]
	if err := write(t, s, func(tx customerd.StoreTx) error {
		ev := Event(customerd.EventCustomerDeleted, "m1", gone.ID, 2, 1)
		ev.Personal = nil
		return tx.EraseCustomer(ctx, "m1", gone.ID, 1, ev)
	}); err != nil {
		t.Fatal(err)
	}
	want = want[:len(want)-1]
	slices.SortFunc(want, func(a, b customerd.SealedCustomer) int { return compare(a.ID, b.ID) })

	var got []customerd.SealedCustomer
	after := ""
	for pages := 0; ; pages++ {
		page, err := s.CustomersAfter(ctx, "m1", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 || pages > len(want) {
			t.Fatalf("page %d has %d rows for a limit of 2", pages, len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	if len(got) != len(want) {
		t.Fatalf("walked %d customers, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		same(t, got[i], want[i])
	}
	// A cursor need not be an id that exists: the walk starts after it.
	page, err := s.CustomersAfter(ctx, "m1", want[1].ID+"0", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != len(want)-2 || page[0].ID != want[2].ID {
		t.Fatalf("after %s0: %d rows starting %v", want[1].ID, len(page), page)
	}
	if page, err := s.CustomersAfter(ctx, "nobody", "", 10); err != nil || len(page) != 0 {
		t.Fatalf("a merchant without customers: %v, %v", page, err)
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
