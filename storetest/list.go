package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
)

// rowAt is Row created (and last updated) at t.
func rowAt(m, ref string, t time.Time) customerd.SealedCustomer {
	c := Row(m, ref)
	c.DateCreated, c.LastUpdated = t, t
	return c
}

// listOrder sorts customers as a list orders them: by date_created, ties by
// id, ascending.
func listOrder(cs []customerd.SealedCustomer) []customerd.SealedCustomer {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b customerd.SealedCustomer) int {
		return cmp.Or(a.DateCreated.Compare(b.DateCreated), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func ids(cs []customerd.SealedCustomer) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// reversed returns a reversed copy of ss.
func reversed[T any](ss []T) []T {
	out := slices.Clone(ss)
	slices.Reverse(out)
	return out
}

// listPage is one ListCustomers call that must succeed.
func listPage(t testing.TB, s customerd.Store, m string, q customerd.CustomerQuery) ([]customerd.SealedCustomer, int, bool) {
	t.Helper()
	page, total, more, err := s.ListCustomers(ctx, m, q)
	if err != nil {
		t.Fatalf("list %+v: %v", q, err)
	}
	if len(page) > q.Limit {
		t.Fatalf("list %+v: %d customers, more than the limit", q, len(page))
	}
	return page, total, more
}

// walk reads every page of q with the cursor, limit at a time, and returns
// the customers in the order read. Every page must report the same total,
// and has_more exactly when another page follows.
func walk(t testing.TB, s customerd.Store, m string, q customerd.CustomerQuery) ([]customerd.SealedCustomer, int) {
	t.Helper()
	var out []customerd.SealedCustomer
	firstTotal := -1
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("a walk of %d pages does not end: the cursor does not move on", pages)
		}
		page, total, more := listPage(t, s, m, q)
		if firstTotal < 0 {
			firstTotal = total
		} else if total != firstTotal {
			t.Fatalf("the total moved from %d to %d during a walk with no writes", firstTotal, total)
		}
		out = append(out, page...)
		if more != (len(out) < total) {
			t.Fatalf("after %d of %d customers: has_more %v", len(out), total, more)
		}
		if !more {
			return out, total
		}
		q.StartingAfter = page[len(page)-1].ID
	}
}

func wantIDs(t testing.TB, what string, got []customerd.SealedCustomer, want []string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, g, want)
	}
}

func testListPaging(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	if page, total, more := listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10}}); len(page) != 0 || total != 0 || more {
		t.Fatalf("a merchant without customers: %d customers, total %d, more %v", len(page), total, more)
	}
	var all []customerd.SealedCustomer
	for i := range 7 {
		all = append(all, MustInsert(t, s, rowAt("m1", fmt.Sprint("p", i), T0.Add(time.Duration(i)*time.Second))))
	}
	asc := ids(all) // created a second apart, in this order
	desc := reversed(asc)
	// Newest first by default; the rows come back byte for byte.
	page, total, more := listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 3}})
	wantIDs(t, "first page", page, desc[:3])
	if total != 7 || !more {
		t.Fatalf("first page: total %d, more %v; want 7 and true", total, more)
	}
	same(t, page[0], all[6])
	// Offset skips matching customers; one past the end is empty, with the
	// total still right.
	page, total, more = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 3, Offset: 5}})
	wantIDs(t, "offset 5", page, desc[5:])
	if total != 7 || more {
		t.Fatalf("offset 5: total %d, more %v", total, more)
	}
	for _, offset := range []int{7, 100} {
		page, total, more = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 3, Offset: offset}})
		if len(page) != 0 || total != 7 || more {
			t.Fatalf("offset %d: %v, total %d, more %v", offset, ids(page), total, more)
		}
	}
	// A cursor, in either order.
	page, _, more = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 2, StartingAfter: asc[3]}})
	wantIDs(t, "after the 4th, newest first", page, desc[4:6])
	if !more {
		t.Fatal("after the 4th, newest first: a page follows")
	}
	page, _, more = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 5, StartingAfter: asc[3], Ascending: true}})
	wantIDs(t, "after the 4th, oldest first", page, asc[4:])
	if more {
		t.Fatal("after the 4th, oldest first: the last page")
	}
	page, total, more = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 5, StartingAfter: asc[0]}})
	if len(page) != 0 || total != 7 || more {
		t.Fatalf("after the oldest, newest first: %v, total %d, more %v", ids(page), total, more)
	}
	// Walks, both ways, with every page size.
	for limit := 1; limit <= 8; limit++ {
		got, _ := walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: limit}})
		wantIDs(t, fmt.Sprintf("walk newest first by %d", limit), got, desc)
		got, _ = walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: limit, Ascending: true}})
		wantIDs(t, fmt.Sprintf("walk oldest first by %d", limit), got, asc)
	}
	// The created range: after inclusive, before exclusive; the total counts it.
	rng := customerd.Page{Limit: 2, CreatedAfter: T0.Add(2 * time.Second), CreatedBefore: T0.Add(5 * time.Second)}
	page, total, more = listPage(t, s, "m1", customerd.CustomerQuery{Page: rng})
	wantIDs(t, "created in [T0+2s, T0+5s)", page, []string{asc[4], asc[3]})
	if total != 3 || !more {
		t.Fatalf("created in [T0+2s, T0+5s): total %d, more %v", total, more)
	}
	got, total := walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 1, Ascending: true,
		CreatedAfter: T0.Add(5 * time.Second)}})
	wantIDs(t, "created from T0+5s", got, asc[5:])
	if total != 2 {
		t.Fatalf("created from T0+5s: total %d", total)
	}
	// The total of a list without a filter keeps up with writes (on
	// PostgreSQL before and after the background folds the count).
	for i := range 3 {
		MustInsert(t, s, rowAt("m1", fmt.Sprint("q", i), T0.Add(time.Hour)))
	}
	if _, total, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 1}}); total != 10 {
		t.Fatalf("total after 3 more creates: %d, want 10", total)
	}
	numberAll(t, s)
	if _, total, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 1}}); total != 10 {
		t.Fatalf("total after the events were numbered: %d, want 10", total)
	}
}

func testListTies(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	// Ids inserted in an order that is neither their order nor its reverse,
	// half of them at one second and the other half at the next.
	var all []customerd.SealedCustomer
	for n, i := range rand.New(rand.NewPCG(1, 2)).Perm(24) {
		c := rowAt("m1", fmt.Sprint("tie", i), T0.Add(time.Duration(n%2)*time.Second))
		c.ID = fmt.Sprintf("cst_%c%015d", "0az9"[i%4], i)
		all = append(all, MustInsert(t, s, c))
	}
	asc := ids(listOrder(all))
	for _, limit := range []int{1, 5, 24} {
		got, total := walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: limit, Ascending: true}})
		wantIDs(t, "oldest first", got, asc)
		if total != len(all) {
			t.Fatalf("total %d, want %d", total, len(all))
		}
		got, _ = walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: limit}})
		wantIDs(t, "newest first", got, reversed(asc))
	}
	// A cursor inside a run of ties continues within it, by id.
	page, _, _ := listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 3, StartingAfter: asc[4], Ascending: true}})
	wantIDs(t, "after the 5th, oldest first", page, asc[5:8])
	page, _, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 3, StartingAfter: asc[4]}})
	wantIDs(t, "after the 5th, newest first", page, reversed(asc[1:4]))
}

func testListWalkWhileWriting(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	// 120 customers over 12 seconds: runs of ten ties.
	var before []customerd.SealedCustomer
	for i := range 120 {
		before = append(before, rowAt("m1", fmt.Sprint("w", i), T0.Add(time.Duration(i/10)*time.Second)))
	}
	if err := write(t, s, func(tx customerd.StoreTx) error {
		for i := range before {
			if err := insert(tx, &before[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, ascending := range []bool{false, true} {
		stop := make(chan struct{})
		var writers sync.WaitGroup
		var created, updated atomic.Int64
		// Creates land everywhere in the order: before, inside and after
		// the walk's position, inside runs of ties too.
		for w := range 2 {
			writers.Add(1)
			go func() {
				defer writers.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					c := rowAt("m1", fmt.Sprint("new", ascending, w, n), T0.Add(time.Duration(rng.IntN(14)-1)*time.Second))
					if err := write(t, s, func(tx customerd.StoreTx) error { return insert(tx, &c) }); err != nil {
						t.Errorf("create while walking: %v", err)
						return
					}
					created.Add(1)
				}
			}()
		}
		// Updates of the customers being walked, as the service makes them.
		writers.Add(1)
		go func() {
			defer writers.Done()
			rng := rand.New(rand.NewPCG(3, 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := before[rng.IntN(len(before))]
				cur, err := s.FindCustomer(ctx, "m1", c.ID)
				if err != nil {
					t.Errorf("read while walking: %v", err)
					return
				}
				u := customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: cur.Version, KeyVersion: 1,
					Now: T0.Add(time.Hour), FirstName: customerd.SealedValue{Set: true, Sealed: []byte("moved")}}
				switch err := write(t, s, func(tx customerd.StoreTx) error { return updateTx(tx, u) }); {
				case errors.Is(err, customerd.ErrChanged):
				case err != nil:
					t.Errorf("update while walking: %v", err)
					return
				default:
					updated.Add(1)
				}
			}
		}()
		seen := map[string]int{}
		q := customerd.CustomerQuery{Page: customerd.Page{Limit: 7, Ascending: ascending}}
		pages := 0
		for {
			if pages > 1000 {
				close(stop)
				writers.Wait()
				t.Fatalf("ascending=%v: a walk of %d pages does not end", ascending, pages)
			}
			page, _, more, err := s.ListCustomers(ctx, "m1", q)
			if err != nil {
				close(stop)
				writers.Wait()
				t.Fatal(err)
			}
			for _, c := range page {
				seen[c.ID]++
			}
			if pages++; !more {
				break
			}
			q.StartingAfter = page[len(page)-1].ID
			// Between two pages, at least one create and one update commit.
			c0, u0 := created.Load(), updated.Load()
			for deadline := time.Now().Add(10 * time.Second); created.Load() == c0 || updated.Load() == u0; time.Sleep(100 * time.Microsecond) {
				if time.Now().After(deadline) {
					close(stop)
					writers.Wait()
					t.Fatalf("ascending=%v: no create and update committed within 10 s", ascending)
				}
			}
		}
		close(stop)
		writers.Wait()
		for _, c := range before {
			if seen[c.ID] != 1 {
				t.Fatalf("ascending=%v: %s seen %d times", ascending, c.ID, seen[c.ID])
			}
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("ascending=%v: %s seen %d times", ascending, id, n)
			}
		}
		if pages < 10 {
			t.Fatalf("ascending=%v: a walk of %d pages is too short to interleave with the writes", ascending, pages)
		}
	}
}

func testListMerchantIsolation(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	MustMerchant(t, s, "m2")
	mine := MustInsert(t, s, Row("m1", "shared"))
	theirs := Row("m2", "shared") // the same index bytes, another merchant
	theirs.MobileIndex, theirs.EmailIndex = mine.MobileIndex, mine.EmailIndex
	MustInsert(t, s, theirs)
	MustInsert(t, s, Row("m2", "other"))
	got, total := walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10}})
	wantIDs(t, "m1's list", got, []string{mine.ID})
	if total != 1 {
		t.Fatalf("m1's total: %d", total)
	}
	if _, total = walk(t, s, "m2", customerd.CustomerQuery{Page: customerd.Page{Limit: 1}}); total != 2 {
		t.Fatalf("m2's total: %d", total)
	}
	for _, q := range []customerd.CustomerQuery{{RefIndex: mine.RefIndex}, {MobileIndex: mine.MobileIndex}, {EmailIndex: mine.EmailIndex}} {
		q.Limit = 10
		got, total := walk(t, s, "m1", q)
		wantIDs(t, fmt.Sprintf("m1 filtered by %+v", q), got, []string{mine.ID})
		if total != 1 {
			t.Fatalf("m1 filtered by %+v: total %d", q, total)
		}
	}
	// Another merchant's customer, one that does not exist and a key that
	// is no text at all are no cursor of this list; the answer does not
	// tell them apart.
	for _, bad := range []string{theirs.ID, "cst_0000000000000000", "cst_\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0", "cst_\x00"} {
		for _, ascending := range []bool{false, true} {
			_, _, _, err := s.ListCustomers(ctx, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 1, StartingAfter: bad, Ascending: ascending}})
			if err != customerd.ErrBadCursor {
				t.Fatalf("cursor %q: %v, want ErrBadCursor", bad, err)
			}
		}
	}
	// A merchant that is no text lists nothing.
	if page, total, _ := listPage(t, s, "\xff", customerd.CustomerQuery{Page: customerd.Page{Limit: 1}}); len(page) != 0 || total != 0 {
		t.Fatalf("an unstorable merchant: %v, total %d", ids(page), total)
	}
}

func testListFilters(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	shared := []byte("mobile index shared")
	var sharing []customerd.SealedCustomer
	for i := range 5 {
		c := rowAt("m1", fmt.Sprint("f", i), T0.Add(time.Duration(i)*time.Second))
		c.MobileIndex = shared
		if i == 2 {
			c.EmailIndex = []byte("email index of f2")
		}
		sharing = append(sharing, MustInsert(t, s, c))
	}
	noEmail := Row("m1", "no email")
	noEmail.EmailAddress, noEmail.EmailIndex = nil, nil
	noEmail = MustInsert(t, s, noEmail)
	lone := MustInsert(t, s, rowAt("m1", "lone", T0.Add(10*time.Second)))
	filter := func(q customerd.CustomerQuery, limit int) ([]customerd.SealedCustomer, int) {
		t.Helper()
		q.Limit = limit
		return walk(t, s, "m1", q)
	}
	// One filter; a page smaller than the matches counts them.
	for _, limit := range []int{1, 2, 10} {
		got, total := filter(customerd.CustomerQuery{MobileIndex: shared}, limit)
		wantIDs(t, fmt.Sprintf("mobile filter by %d", limit), got, reversed(ids(sharing)))
		if total != 5 {
			t.Fatalf("mobile filter by %d: total %d", limit, total)
		}
	}
	page, total, more := listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 2, Ascending: true}, MobileIndex: shared})
	wantIDs(t, "mobile filter, oldest first", page, ids(sharing[:2]))
	if total != 5 || !more {
		t.Fatalf("mobile filter, first page: total %d, more %v", total, more)
	}
	got, total := filter(customerd.CustomerQuery{RefIndex: lone.RefIndex}, 10)
	wantIDs(t, "reference filter", got, []string{lone.ID})
	same(t, got[0], lone)
	got, _ = filter(customerd.CustomerQuery{EmailIndex: lone.EmailIndex}, 10)
	wantIDs(t, "email filter", got, []string{lone.ID})
	// Combined, every filter must match.
	got, _ = filter(customerd.CustomerQuery{MobileIndex: shared, EmailIndex: []byte("email index of f2")}, 10)
	wantIDs(t, "mobile and email", got, []string{sharing[2].ID})
	got, total = filter(customerd.CustomerQuery{MobileIndex: shared, EmailIndex: lone.EmailIndex}, 10)
	if len(got) != 0 || total != 0 {
		t.Fatalf("mobile of one, email of another: %v, total %d", ids(got), total)
	}
	got, _ = filter(customerd.CustomerQuery{RefIndex: sharing[3].RefIndex, MobileIndex: shared}, 10)
	wantIDs(t, "reference and mobile", got, []string{sharing[3].ID})
	// With a created range, and with a cursor.
	got, total = filter(customerd.CustomerQuery{Page: customerd.Page{CreatedAfter: T0.Add(time.Second),
		CreatedBefore: T0.Add(4 * time.Second)}, MobileIndex: shared}, 1)
	wantIDs(t, "mobile filter in [T0+1s, T0+4s)", got, reversed(ids(sharing[1:4])))
	if total != 3 {
		t.Fatalf("mobile filter in a range: total %d", total)
	}
	page, total, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10, StartingAfter: sharing[3].ID},
		MobileIndex: shared})
	wantIDs(t, "mobile filter after the 4th", page, reversed(ids(sharing[:3])))
	if total != 5 {
		t.Fatalf("mobile filter from a cursor: total %d", total)
	}
	// A cursor need not match the filter: it is a position.
	page, _, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10, StartingAfter: lone.ID, Ascending: true},
		MobileIndex: shared})
	if len(page) != 0 {
		t.Fatalf("after the newest customer, oldest first: %v", ids(page))
	}
	// Nothing matches an index no customer has, nor NULL: a customer
	// without email is found by no email filter.
	for _, q := range []customerd.CustomerQuery{{EmailIndex: []byte("nobody")}, {EmailIndex: []byte{}}, {RefIndex: []byte("index:nobody")}} {
		if got, total := filter(q, 10); len(got) != 0 || total != 0 {
			t.Fatalf("filter %+v: %v, total %d", q, ids(got), total)
		}
	}
	// An update moves a customer from one index to another; clearing the
	// email takes it out of every email filter.
	u := customerd.SealedUpdate{MerchantID: "m1", ID: sharing[0].ID, Version: 1, KeyVersion: 1, Now: T0.Add(time.Hour),
		MobileNumber: customerd.SealedValue{Set: true, Sealed: []byte("new mobile"), Index: []byte("mobile index moved")},
		EmailAddress: customerd.SealedValue{Set: true}}
	if _, err := update(t, s, u); err != nil {
		t.Fatal(err)
	}
	got, total = filter(customerd.CustomerQuery{MobileIndex: shared}, 2)
	wantIDs(t, "shared mobile after one moved", got, reversed(ids(sharing[1:])))
	if total != 4 {
		t.Fatalf("shared mobile after one moved: total %d", total)
	}
	got, _ = filter(customerd.CustomerQuery{MobileIndex: []byte("mobile index moved")}, 10)
	wantIDs(t, "the new mobile", got, []string{sharing[0].ID})
	if got, _ = filter(customerd.CustomerQuery{EmailIndex: sharing[0].EmailIndex}, 10); len(got) != 0 {
		t.Fatalf("the cleared email still matches: %v", ids(got))
	}
	got, total = walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 3}})
	if total != 7 || !slices.Contains(ids(got), noEmail.ID) {
		t.Fatalf("the whole list: %v, total %d; want 7 with the customer without email", ids(got), total)
	}
}

func testListErased(t *testing.T, s customerd.Store) {
	MustMerchant(t, s, "m1")
	var all []customerd.SealedCustomer
	for i := range 5 {
		all = append(all, MustInsert(t, s, rowAt("m1", fmt.Sprint("e", i), T0.Add(time.Duration(i)*time.Second))))
	}
	gone := all[2]
	if err := write(t, s, func(tx customerd.StoreTx) error {
		ev := Event(customerd.EventCustomerDeleted, "m1", gone.ID, 2, 1)
		ev.Personal = nil
		return tx.EraseCustomer(ctx, "m1", gone.ID, 1, ev)
	}); err != nil {
		t.Fatal(err)
	}
	left := []string{all[0].ID, all[1].ID, all[3].ID, all[4].ID}
	check := func(when string) {
		t.Helper()
		got, total := walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 1, Ascending: true}})
		wantIDs(t, when+": the list", got, left)
		if total != 4 {
			t.Fatalf("%s: total %d, want 4", when, total)
		}
		if _, total, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10, Offset: 10}}); total != 4 {
			t.Fatalf("%s: total past the end %d, want 4", when, total)
		}
		// Its former indexes match nothing.
		for _, q := range []customerd.CustomerQuery{{RefIndex: gone.RefIndex}, {MobileIndex: gone.MobileIndex},
			{EmailIndex: gone.EmailIndex}, {Page: customerd.Page{CreatedAfter: gone.DateCreated, CreatedBefore: gone.DateCreated.Add(time.Second)}}} {
			q.Limit = 10
			if page, total, _ := listPage(t, s, "m1", q); len(page) != 0 || total != 0 {
				t.Fatalf("%s: filter %+v finds %v, total %d", when, q, ids(page), total)
			}
		}
		// Its id keeps its place as a cursor, in both orders.
		page, total, _ := listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10, StartingAfter: gone.ID, Ascending: true}})
		wantIDs(t, when+": after the erased one, oldest first", page, left[2:])
		if total != 4 {
			t.Fatalf("%s: total from the erased cursor %d", when, total)
		}
		page, _, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10, StartingAfter: gone.ID}})
		wantIDs(t, when+": after the erased one, newest first", page, []string{all[1].ID, all[0].ID})
	}
	check("after the erasure")
	numberAll(t, s)
	check("after its event was numbered")
	// Its reference is free again; the new customer is listed in its place.
	again := MustInsert(t, s, rowAt("m1", "e2", T0.Add(10*time.Second)))
	got, total := walk(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 10}, RefIndex: gone.RefIndex})
	wantIDs(t, "the reference used again", got, []string{again.ID})
	if _, total, _ = listPage(t, s, "m1", customerd.CustomerQuery{Page: customerd.Page{Limit: 1}}); total != 5 {
		t.Fatalf("total after a new create: %d, want 5", total)
	}
}
