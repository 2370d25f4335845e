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

// keyed is a caller holding the claim idem, rendering a customer as its id.
func keyed(merchant, key string, idem *customerd.Idempotency) customerd.Caller {
	c := as(merchant)
	c.IdempotencyKey, c.Idempotency = key, idem
	idem.Render = func(v any) ([]byte, error) {
		switch r := v.(type) {
		case *customerd.Customer:
			return []byte("answer for " + r.ID + " " + r.FirstName), nil
		case string:
			return []byte("erased " + r), nil
		}
		return nil, fmt.Errorf("result %T", v)
	}
	return c
}

func TestIdempotencyKeys(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		key := newMaster(t)
		clk := newClock()
		open := func() *service.Service {
			svc, err := service.New(ctx, service.Config{Store: db.open(t), Vault: fieldcrypt.NewVault(key), Now: clk.now,
				IdempotencyTTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			return svc
		}
		a, b := open(), open() // two nodes
		mustMerchant(t, a, "m1")
		mustMerchant(t, a, "m2")

		idem, answer, err := a.BeginIdempotent(ctx, "m1", "k1", []byte("create r1"))
		if err != nil || answer != nil || idem == nil {
			t.Fatalf("first claim: %+v %+v %v", idem, answer, err)
		}
		// While it runs, the key is in use, for any request: on every node
		// where claims are shared, else in its process.
		nodes := []*service.Service{a}
		if db.claimsShared {
			nodes = append(nodes, b)
		}
		for i, svc := range nodes {
			for _, req := range []string{"create r1", "something else"} {
				if _, _, err := svc.BeginIdempotent(ctx, "m1", "k1", []byte(req)); customerd.ErrorCode(err) != customerd.EKEYINUSE {
					t.Fatalf("node %d, %q, while the first runs: %v", i, req, err)
				}
			}
		}
		c, err := a.CreateCustomer(ctx, keyed("m1", "k1", idem), createReq("r1"))
		if err != nil {
			t.Fatal(err)
		}
		if string(idem.Answer) != "answer for "+c.ID+" Jon" {
			t.Fatalf("the answer stored: %q", idem.Answer)
		}
		// Replayed anywhere, with the same request; refused with another.
		for _, svc := range []*service.Service{a, b} {
			_, answer, err := svc.BeginIdempotent(ctx, "m1", "k1", []byte("create r1"))
			if err != nil || answer == nil || answer.Status != 200 || !bytes.Equal(answer.Body, idem.Answer) {
				t.Fatalf("replay: %+v, %v", answer, err)
			}
			if _, _, err := svc.BeginIdempotent(ctx, "m1", "k1", []byte("create r2")); customerd.ErrorCode(err) != customerd.EKEYREUSED {
				t.Fatalf("another request with the key: %v", err)
			}
		}
		// The key is the merchant's.
		other, _, err := b.BeginIdempotent(ctx, "m2", "k1", []byte("create r1"))
		if err != nil || other == nil {
			t.Fatalf("the key of another merchant: %v", err)
		}
		if err := b.Release(ctx, other); err != nil {
			t.Fatal(err)
		}
		// A claim whose request failed is released: the key is free.
		failed, _, err := a.BeginIdempotent(ctx, "m1", "k2", []byte("bad"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.CreateCustomer(ctx, keyed("m1", "k2", failed), customerd.CreateRequest{}); customerd.ErrorCode(err) != customerd.EINVALID {
			t.Fatalf("invalid create: %v", err)
		}
		if err := a.Release(ctx, failed); err != nil {
			t.Fatal(err)
		}
		if again, _, err := b.BeginIdempotent(ctx, "m1", "k2", []byte("good")); err != nil || again == nil {
			t.Fatalf("after a failed request, the key: %v", err)
		} else if err := b.Release(ctx, again); err != nil {
			t.Fatal(err)
		}
		// A claim abandoned (never released, as after a crash) frees the key
		// after its 15 s.
		last := nodes[len(nodes)-1]
		if _, _, err := a.BeginIdempotent(ctx, "m1", "k3", []byte("crashed")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := last.BeginIdempotent(ctx, "m1", "k3", []byte("retry")); customerd.ErrorCode(err) != customerd.EKEYINUSE {
			t.Fatalf("before the claim ran out: %v", err)
		}
		clk.advance(16 * time.Second)
		if late, _, err := last.BeginIdempotent(ctx, "m1", "k3", []byte("retry")); err != nil || late == nil {
			t.Fatalf("after an abandoned claim: %v", err)
		}
		// An update keyed, then the customer erased: the update's answer
		// goes with it; the erasure's stays.
		upd, _, _ := a.BeginIdempotent(ctx, "m1", "k4", []byte("update"))
		if _, err := a.UpdateCustomer(ctx, keyed("m1", "k4", upd), c.ID, customerd.UpdateRequest{FirstName: customerd.Present("Twice")}); err != nil {
			t.Fatal(err)
		}
		er, _, _ := a.BeginIdempotent(ctx, "m1", "k5", []byte("erase"))
		if _, err := a.EraseCustomer(ctx, keyed("m1", "k5", er), c.ID); err != nil {
			t.Fatal(err)
		}
		for _, k := range [][2]string{{"k1", "create r1"}, {"k4", "update"}} {
			if _, _, err := b.BeginIdempotent(ctx, "m1", k[0], []byte(k[1])); customerd.ErrorCode(err) != customerd.ENOTFOUND {
				t.Fatalf("%s after the erasure: %v", k[0], err)
			}
		}
		if _, answer, err := b.BeginIdempotent(ctx, "m1", "k5", []byte("erase")); err != nil || string(answer.Body) != "erased "+c.ID {
			t.Fatalf("the erasure's replay: %+v, %v", answer, err)
		}
		db.assertNoPlaintext(t, "m1", []string{"Twice"})
		// After the TTL, every key is free again.
		clk.advance(2 * time.Hour)
		if fresh, _, err := b.BeginIdempotent(ctx, "m1", "k5", []byte("another erase")); err != nil || fresh == nil {
			t.Fatalf("after the TTL: %v", err)
		}
	})
}

func TestConcurrentRequestsWithOneKeyMakeOneChange(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		key := newMaster(t)
		a := process(t, db, key)
		b := process(t, db, key)
		mustMerchant(t, a, "m1")
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, replays, busy := 0, 0, 0
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := []*service.Service{a, b}[i%2]
				idem, answer, err := svc.BeginIdempotent(ctx, "m1", "one", []byte("create"))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case customerd.ErrorCode(err) == customerd.EKEYINUSE:
					busy++
				case err != nil:
					t.Errorf("begin: %v", err)
				case answer != nil:
					replays++
				default:
					mu.Unlock()
					_, err := svc.CreateCustomer(ctx, keyed("m1", "one", idem), createReq("once"))
					if err := svc.Release(ctx, idem); err != nil {
						t.Error(err)
					}
					mu.Lock()
					switch {
					case customerd.ErrorCode(err) == customerd.EKEYINUSE && !db.claimsShared:
						busy++ // another process claimed the key too, and committed first
					case err != nil:
						t.Errorf("create: %v", err)
					default:
						created++
					}
				}
			}()
		}
		wg.Wait()
		if created != 1 || created+replays+busy != 16 {
			t.Fatalf("%d created, %d replays, %d busy", created, replays, busy)
		}
	})
}
