package service_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/service"
)

// history returns every event of the customer, oldest first.
func history(t *testing.T, svc *service.Service, merchant, id string) []*customerd.Event {
	t.Helper()
	var out []*customerd.Event
	q := customerd.EventQuery{Page: customerd.Page{Limit: customerd.MaxPageSize, Ascending: true}, CustomerID: id}
	for {
		page, _, more, err := svc.ListEvents(ctx, merchant, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if !more {
			return out
		}
		q.StartingAfter = page[len(page)-1].ID
	}
}

// replay applies an event's previous values backwards: from the customer
// after the change, the customer before it.
func replay(t *testing.T, e *customerd.Event) customerd.Customer {
	t.Helper()
	c := e.Customer
	for _, p := range e.Previous {
		v := p.Value
		if p.Null {
			v = ""
		}
		switch p.Field {
		case customerd.FieldMobileNumber:
			c.MobileNumber = v
		case customerd.FieldMobileCountryCode:
			c.MobileCountryCode = v
		case customerd.FieldEmailAddress:
			c.EmailAddress = v
		case customerd.FieldFirstName:
			c.FirstName = v
		case customerd.FieldLastName:
			c.LastName = v
		case customerd.FieldLastUpdated:
			c.LastUpdated = p.Time
		default:
			t.Fatalf("unknown previous field %q", p.Field)
		}
	}
	return c
}

func TestEveryChangeMakesOneEvent(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, clk := withClock(t, db)
		mustMerchant(t, svc, "m1")
		c := mustCreate(t, svc, "m1", "ref")
		clk.advance(time.Minute)
		updated, err := svc.UpdateCustomer(ctx, as("m1"), "ref", customerd.UpdateRequest{
			EmailAddress: customerd.Present(""), LastName: customerd.Present("Snow"), MobileCountryCode: customerd.Present("65")})
		if err != nil {
			t.Fatal(err)
		}
		// No updatable field: no event.
		if _, err := svc.UpdateCustomer(ctx, as("m1"), "ref", customerd.UpdateRequest{}); err != nil {
			t.Fatal(err)
		}
		events := history(t, svc, "m1", c.ID)
		if len(events) != 2 {
			t.Fatalf("%d events, want 2", len(events))
		}
		created, update := events[0], events[1]
		if created.Type != customerd.EventCustomerCreated || created.Customer != *c || len(created.Previous) != 0 ||
			created.Sequence != 1 || created.Caller != as("m1") {
			t.Fatalf("created: %+v", created)
		}
		want := []customerd.PreviousValue{
			{Field: customerd.FieldMobileCountryCode, Value: "91"},
			{Field: customerd.FieldEmailAddress, Value: "jon@example.com"},
			{Field: customerd.FieldLastName, Null: true},
			{Field: customerd.FieldLastUpdated, Time: T0},
		}
		if update.Type != customerd.EventCustomerUpdated || update.Customer != *updated || update.Sequence != 2 ||
			fmt.Sprint(update.Previous) != fmt.Sprint(want) {
			t.Fatalf("updated: %+v\nprevious %v\nwant     %v", update, update.Previous, want)
		}
		if got := replay(t, update); got != *c {
			t.Fatalf("replayed back: %+v, want %+v", got, *c)
		}
		// The erasure's event carries no personal value, and the earlier
		// ones lose theirs.
		if _, err := svc.EraseCustomer(ctx, as("m1"), c.ID); err != nil {
			t.Fatal(err)
		}
		all, _, _, err := svc.ListEvents(ctx, "m1", customerd.EventQuery{Page: customerd.Page{Limit: 10, Ascending: true}, CustomerID: c.ID})
		if err != nil || len(all) != 3 || all[2].Type != customerd.EventCustomerDeleted {
			t.Fatalf("after the erasure: %+v, %v", all, err)
		}
		for _, e := range all {
			cu := e.Customer
			if !e.Erased || cu.ObjectReferenceID != "" || cu.MobileNumber != "" || cu.EmailAddress != "" || cu.LastName != "" ||
				cu.ID != c.ID || cu.MobileCountryCode == "" || !cu.DateCreated.Equal(T0) {
				t.Fatalf("%s event after the erasure: %+v", e.Type, e)
			}
		}
		for _, p := range all[1].Previous {
			if (p.Field == customerd.FieldEmailAddress || p.Field == customerd.FieldLastName) && !p.Null {
				t.Fatalf("a personal previous value survived the erasure: %+v", p)
			}
		}
		if _, _, _, err := svc.CustomerEvents(ctx, "m1", c.ID, customerd.Page{Limit: 10}); customerd.ErrorCode(err) != customerd.ENOTFOUND {
			t.Fatalf("history of an erased customer: %v", err)
		}
	})
}

func TestConcurrentUpdatesReplayIntoEveryState(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		c := mustCreate(t, svc, "m1", "ref")
		const n = 50
		var wg sync.WaitGroup
		results := make([]*customerd.Customer, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprint("F", i))}
				if i%2 == 0 {
					req.MobileNumber = customerd.Present(fmt.Sprintf("9%d", i))
				}
				got, err := svc.UpdateCustomer(ctx, as("m1"), c.ID, req)
				if err != nil {
					t.Errorf("update %d: %v", i, err)
					return
				}
				results[i] = got
			}()
		}
		wg.Wait()
		events := history(t, svc, "m1", c.ID)
		if len(events) != n+1 {
			t.Fatalf("%d events for %d updates and a create", len(events), n)
		}
		// Each event's previous values turn its customer into the one the
		// event before it left: the log replays every intermediate state.
		for i := 1; i < len(events); i++ {
			if got, want := replay(t, events[i]), events[i-1].Customer; got != want {
				t.Fatalf("event %d replayed back is %+v, but event %d left %+v", events[i].Sequence, got, events[i-1].Sequence, want)
			}
			if events[i].Sequence != events[i-1].Sequence+1 {
				t.Fatalf("sequence %d after %d", events[i].Sequence, events[i-1].Sequence)
			}
		}
		// And every acknowledged update is one of the states, the last the
		// customer as it is.
		states := map[customerd.Customer]bool{}
		for _, e := range events {
			states[e.Customer] = true
		}
		for i, r := range results {
			if r != nil && !states[*r] {
				t.Fatalf("update %d answered %+v, which no event shows", i, *r)
			}
		}
		if now := find(t, svc, "m1", c.ID); *now != events[len(events)-1].Customer {
			t.Fatalf("customer %+v, last event %+v", *now, events[len(events)-1].Customer)
		}
	})
}

// TestErasureLeavesNoCopyInTheDatabase checks what the erasure promises the
// holder of the master key too: none of the erased customer's sealed bytes
// (the row's fields and its events' personal parts, read raw before the
// erasure) is anywhere in the database's contents afterwards, nor any of
// its values in clear.
func TestErasureLeavesNoCopyInTheDatabase(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc := process(t, db, newMaster(t))
		const merchant = "erasure-canary-merchant"
		mustMerchant(t, svc, merchant)
		gone := piiFor(7).create(t, svc, merchant)
		kept := piiFor(8).create(t, svc, merchant)
		np := piiFor(1007)
		if _, err := svc.UpdateCustomer(ctx, as(merchant), gone.ID, customerd.UpdateRequest{
			EmailAddress: customerd.Present(np.email), FirstName: customerd.Present(np.first)}); err != nil {
			t.Fatal(err)
		}
		var sealed [][]byte
		for _, col := range []string{"object_reference_id", "mobile_number", "email_address", "first_name", "last_name"} {
			for _, v := range db.query(t, `SELECT `+col+` FROM customers WHERE id = ?`, gone.ID) {
				sealed = append(sealed, v.([]byte))
			}
		}
		for _, v := range db.query(t, `SELECT personal FROM events WHERE customer_id = ?`, gone.ID) {
			sealed = append(sealed, v.([]byte))
		}
		if len(sealed) != 7 {
			t.Fatalf("%d sealed values read before the erasure", len(sealed))
		}
		if _, err := svc.EraseCustomer(ctx, as(merchant), gone.ObjectReferenceID); err != nil {
			t.Fatal(err)
		}
		values := append(piiFor(7).values(), np.email, np.first)
		check := func(when string) {
			t.Helper()
			all := db.contents(t)
			if !bytes.Contains(all, []byte(merchant)) {
				t.Fatalf("%s: the search does not find the merchant's id, stored in clear: it proves nothing", when)
			}
			for i, b := range sealed {
				if bytes.Contains(all, b) || bytes.Contains(all, []byte(fmt.Sprintf("%x", b))) {
					t.Errorf("%s: sealed value %d of the erased customer is still in the database", when, i)
				}
			}
			db.assertNoPlaintext(t, merchant, values)
		}
		check("after the erasure")
		sameCustomer(t, find(t, svc, merchant, kept.ID), kept)
		svc.Close() // a checkpoint, on SQLite
		check("after closing")
	})
}

func TestEventsAreNumberedInTheBackground(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		key := newMaster(t)
		writer := process(t, db, key)
		mustMerchant(t, writer, "m1")
		// Another node, running the background work, numbers what this one
		// committed: within 100 ms (the promise), measured here generously.
		// (This process numbers its own too; its readers would as well.)
		other, err := service.New(ctx, service.Config{Store: db.open(t), Vault: fieldcrypt.NewVault(key)})
		if err != nil {
			t.Fatal(err)
		}
		other.StartBackground()
		t.Cleanup(func() { other.Close() })
		c := mustCreate(t, writer, "m1", "ref")
		deadline := time.Now().Add(5 * time.Second)
		for {
			q := db.query(t, `SELECT sequence FROM events WHERE customer_id = ?`, c.ID)
			if len(q) == 1 && q[0] != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the event is still unnumbered: %v", q)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
