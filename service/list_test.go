package service_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"customerd"
	"customerd/service"
)

// search lists the merchant's customers that q selects, every page of it,
// and returns them with the total the first page gave.
func search(t *testing.T, svc *service.Service, merchant string, q customerd.CustomerSearch) ([]*customerd.Customer, int) {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 2
	}
	var out []*customerd.Customer
	first := -1
	for {
		page, total, more, err := svc.ListCustomers(ctx, merchant, q)
		if err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		if first < 0 {
			first = total
		}
		out = append(out, page...)
		if !more {
			return out, first
		}
		q.StartingAfter = page[len(page)-1].ID
	}
}

func refs(cs []*customerd.Customer) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ObjectReferenceID
	}
	return out
}

func wantRefs(t *testing.T, what string, got []*customerd.Customer, total int, want ...string) {
	t.Helper()
	if !slices.Equal(refs(got), want) || total != len(want) {
		t.Fatalf("%s: %v, total %d; want %v", what, refs(got), total, want)
	}
}

func TestListAndSearchCustomers(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, clk := withClock(t, db)
		mustMerchant(t, svc, "m1")
		mustMerchant(t, svc, "m2")
		create := func(merchant, ref, mobile, email string) *customerd.Customer {
			t.Helper()
			c, err := svc.CreateCustomer(ctx, as(merchant), customerd.CreateRequest{ObjectReferenceID: customerd.Present(ref),
				MobileNumber: customerd.Present(mobile), EmailAddress: customerd.Present(email)})
			if err != nil {
				t.Fatal(err)
			}
			clk.advance(time.Second)
			return c
		}
		jon := create("m1", "jon", "99887766", "jon@example.com")
		create("m1", "ann", "99887766", "ann@example.com") // shares jon's mobile
		create("m1", "bob", "11112222", "")
		// A reference that is bob's mobile number: the same value in another
		// field has another index.
		create("m1", "11112222", "33334444", "")
		create("m2", "jon", "99887766", "jon@example.com") // another merchant's twin

		all, total := search(t, svc, "m1", customerd.CustomerSearch{})
		wantRefs(t, "every customer, newest first", all, total, "11112222", "bob", "ann", "jon")
		if !slices.ContainsFunc(all, func(c *customerd.Customer) bool { return *c == *jon }) {
			t.Fatalf("the list does not hold jon as created: %+v", all)
		}
		got, total := search(t, svc, "m1", customerd.CustomerSearch{EmailAddress: "jon@example.com"})
		wantRefs(t, "by email", got, total, "jon")
		sameCustomer(t, got[0], jon)
		got, total = search(t, svc, "m1", customerd.CustomerSearch{MobileNumber: "99887766", Page: customerd.Page{Ascending: true}})
		wantRefs(t, "by mobile, oldest first", got, total, "jon", "ann")
		got, total = search(t, svc, "m1", customerd.CustomerSearch{MobileNumber: "11112222"})
		wantRefs(t, "by a mobile that is another customer's reference", got, total, "bob")
		got, total = search(t, svc, "m1", customerd.CustomerSearch{ObjectReferenceID: "11112222"})
		wantRefs(t, "by a reference that is another customer's mobile", got, total, "11112222")
		got, total = search(t, svc, "m1", customerd.CustomerSearch{MobileNumber: "99887766", EmailAddress: "ann@example.com"})
		wantRefs(t, "by mobile and email", got, total, "ann")
		got, total = search(t, svc, "m1", customerd.CustomerSearch{ObjectReferenceID: "jon", EmailAddress: "ann@example.com"})
		wantRefs(t, "by one's reference and another's email", got, total)
		// Exact: no case folding, no trimming, no prefix.
		for _, q := range []customerd.CustomerSearch{{EmailAddress: "Jon@example.com"}, {ObjectReferenceID: "jo"},
			{ObjectReferenceID: "jon "}, {MobileNumber: "9988776"}} {
			got, total = search(t, svc, "m1", q)
			wantRefs(t, fmt.Sprintf("%+v", q), got, total)
		}

		// A value that breaks its field's rule is a mistake, named; every
		// bad filter is named.
		_, _, _, err := svc.ListCustomers(ctx, "m1", customerd.CustomerSearch{Page: customerd.Page{Limit: 10},
			MobileNumber: "+9988", EmailAddress: "not an email", ObjectReferenceID: "a\nb"})
		wantCode(t, err, customerd.EINVALID)
		var fields []string
		var e *customerd.Error
		if !asError(err, &e) {
			t.Fatalf("%T %v", err, err)
		}
		for _, f := range e.Fields {
			fields = append(fields, f.Field)
		}
		if strings.Join(fields, ",") != "object_reference_id,mobile_number,email_address" {
			t.Fatalf("bad filters named: %v", fields)
		}

		// The indexes follow updates: a new email is found, the old one and
		// a cleared one are not.
		if _, err := svc.UpdateCustomer(ctx, as("m1"), "jon", customerd.UpdateRequest{EmailAddress: customerd.Present("jon.snow@example.com"),
			MobileNumber: customerd.Present("55556666")}); err != nil {
			t.Fatal(err)
		}
		got, total = search(t, svc, "m1", customerd.CustomerSearch{EmailAddress: "jon.snow@example.com"})
		wantRefs(t, "by the new email", got, total, "jon")
		got, total = search(t, svc, "m1", customerd.CustomerSearch{EmailAddress: "jon@example.com"})
		wantRefs(t, "by the old email", got, total)
		got, total = search(t, svc, "m1", customerd.CustomerSearch{MobileNumber: "99887766"})
		wantRefs(t, "by jon's old mobile", got, total, "ann")
		if _, err := svc.UpdateCustomer(ctx, as("m1"), "ann", customerd.UpdateRequest{EmailAddress: customerd.Present("")}); err != nil {
			t.Fatal(err)
		}
		got, total = search(t, svc, "m1", customerd.CustomerSearch{EmailAddress: "ann@example.com"})
		wantRefs(t, "by a cleared email", got, total)
		// An update of other fields keeps the indexes.
		if _, err := svc.UpdateCustomer(ctx, as("m1"), "bob", customerd.UpdateRequest{FirstName: customerd.Present("Bob")}); err != nil {
			t.Fatal(err)
		}
		got, total = search(t, svc, "m1", customerd.CustomerSearch{MobileNumber: "11112222"})
		wantRefs(t, "bob after a name change", got, total, "bob")

		// An erased customer is in no list and no filter; its id stays a
		// cursor, another merchant's customer's is none.
		bob := find(t, svc, "m1", "bob")
		if _, err := svc.EraseCustomer(ctx, as("m1"), "bob"); err != nil {
			t.Fatal(err)
		}
		got, total = search(t, svc, "m1", customerd.CustomerSearch{MobileNumber: "11112222"})
		wantRefs(t, "by an erased customer's mobile", got, total)
		all, total = search(t, svc, "m1", customerd.CustomerSearch{Page: customerd.Page{Limit: 1}})
		wantRefs(t, "after the erasure", all, total, "11112222", "ann", "jon")
		page, total, _, err := svc.ListCustomers(ctx, "m1", customerd.CustomerSearch{Page: customerd.Page{Limit: 10, StartingAfter: bob.ID}})
		if err != nil || !slices.Equal(refs(page), []string{"ann", "jon"}) || total != 3 {
			t.Fatalf("after the erased customer: %v, total %d, %v", refs(page), total, err)
		}
		theirs := find(t, svc, "m2", "jon")
		_, _, _, err = svc.ListCustomers(ctx, "m1", customerd.CustomerSearch{Page: customerd.Page{Limit: 10, StartingAfter: theirs.ID}})
		wantCode(t, err, customerd.EINVALID)
		if !asError(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "starting_after" {
			t.Fatalf("another merchant's cursor: %v", err)
		}
		// Another merchant's list is its own.
		got, total = search(t, svc, "m2", customerd.CustomerSearch{EmailAddress: "jon@example.com"})
		wantRefs(t, "m2 by email", got, total, "jon")
		if got[0].ID != theirs.ID {
			t.Fatalf("m2 found m1's customer")
		}
	})
}

// The data-key rotation re-encrypts each row whole, blind indexes included:
// every filter finds the same customers before and after, on a process
// whose keys were cached before the rotation too.
func TestSearchAfterDataKeyRotation(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		key := newMaster(t)
		a := process(t, db, key)
		mustMerchant(t, a, "m1")
		var want []*customerd.Customer
		for i := range 12 {
			want = append(want, piiFor(i).create(t, a, "m1"))
		}
		b := process(t, db, key)
		find(t, b, "m1", want[0].ID)
		if _, err := a.RotateDataKey(ctx, "m1"); err != nil {
			t.Fatal(err)
		}
		for {
			customers, events, err := a.Reencrypt(ctx, "m1", 5)
			if err != nil {
				t.Fatal(err)
			}
			if customers+events == 0 {
				break
			}
		}
		if got := db.keyVersions(t, "m1"); len(got) != 1 || got[2] != 12 {
			t.Fatalf("key versions after re-encryption: %v", got)
		}
		for _, svc := range []*service.Service{a, b} {
			for _, c := range want {
				for _, q := range []customerd.CustomerSearch{{EmailAddress: c.EmailAddress}, {MobileNumber: c.MobileNumber},
					{ObjectReferenceID: c.ObjectReferenceID}} {
					got, total := search(t, svc, "m1", q)
					if total != 1 || len(got) != 1 {
						t.Fatalf("%+v after the rotation: %v, total %d", q, refs(got), total)
					}
					sameCustomer(t, got[0], c)
				}
			}
		}
	})
}
