package service_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/service"
)

// T0 is the start of the test clock.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable clock for the service.
type clock struct{ unix atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.unix.Store(T0.Unix())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *clock) set(t time.Time)         { c.unix.Store(t.Unix()) }
func (c *clock) advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// withClock is a process whose clock the test sets.
func withClock(t *testing.T, db database) (*service.Service, *clock) {
	t.Helper()
	c := newClock()
	svc, err := service.New(ctx, service.Config{Store: db.open(t), Vault: fieldcrypt.NewVault(newMaster(t)), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc, c
}

// as is a caller of the merchant, as the API makes one.
func as(merchantID string) customerd.Caller {
	return customerd.Caller{MerchantID: merchantID, APIKeyPrefix: "cdk_0123456789ab", RequestID: "req-test"}
}

func mustMerchant(t testing.TB, svc *service.Service, id string) string {
	t.Helper()
	key, err := svc.CreateMerchant(ctx, id)
	if err != nil {
		t.Fatalf("create merchant %s: %v", id, err)
	}
	return key
}

func createReq(ref string) customerd.CreateRequest {
	return customerd.CreateRequest{
		ObjectReferenceID: customerd.Present(ref),
		MobileNumber:      customerd.Present("99887766"),
		EmailAddress:      customerd.Present("jon@example.com"),
		FirstName:         customerd.Present("Jon"),
	}
}

func mustCreate(t testing.TB, svc *service.Service, merchant, ref string) *customerd.Customer {
	t.Helper()
	c, err := svc.CreateCustomer(ctx, as(merchant), createReq(ref))
	if err != nil {
		t.Fatalf("create customer %q: %v", ref, err)
	}
	return c
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := customerd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func sameCustomer(t testing.TB, got, want *customerd.Customer) {
	t.Helper()
	if got == nil || *got != *want {
		t.Fatalf("customer mismatch\n got %+v\nwant %+v", got, want)
	}
}

func find(t testing.TB, svc *service.Service, merchant, idOrRef string) *customerd.Customer {
	t.Helper()
	c, err := svc.FindCustomer(ctx, merchant, idOrRef)
	if err != nil {
		t.Fatalf("find %q: %v", idOrRef, err)
	}
	return c
}

func TestCreateAndFind(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		c := mustCreate(t, svc, "m1", "jon@example.com")
		want := &customerd.Customer{ID: c.ID, MerchantID: "m1", ObjectReferenceID: "jon@example.com", MobileNumber: "99887766",
			MobileCountryCode: "91", EmailAddress: "jon@example.com", FirstName: "Jon", DateCreated: T0, LastUpdated: T0}
		sameCustomer(t, c, want)
		sameCustomer(t, find(t, svc, "m1", c.ID), want)
		sameCustomer(t, find(t, svc, "m1", "jon@example.com"), want)
		// Validation comes from the domain: every bad field is named.
		_, err := svc.CreateCustomer(ctx, as("m1"), customerd.CreateRequest{ObjectReferenceID: customerd.Present("x"),
			EmailAddress: customerd.Present("_bad@example.com")})
		var de *customerd.Error
		if customerd.ErrorCode(err) != customerd.EINVALID || !asError(err, &de) || len(de.Fields) != 2 {
			t.Fatalf("invalid create: %v", err)
		}
	})
}

func TestMerchantIsolation(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		mustMerchant(t, svc, "m2")
		c := mustCreate(t, svc, "m1", "ref-1")
		for _, q := range []string{c.ID, "ref-1"} {
			_, err := svc.FindCustomer(ctx, "m2", q)
			wantCode(t, err, customerd.ENOTFOUND)
			_, err = svc.UpdateCustomer(ctx, as("m2"), q, customerd.UpdateRequest{FirstName: customerd.Present("Eve")})
			wantCode(t, err, customerd.ENOTFOUND)
		}
		_, err := svc.FindCustomer(ctx, "nobody", c.ID)
		wantCode(t, err, customerd.ENOTFOUND)
		sameCustomer(t, find(t, svc, "m1", c.ID), c)
	})
}

func TestReferenceIsUniquePerMerchant(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		mustMerchant(t, svc, "m2")
		first := mustCreate(t, svc, "m1", "dup")
		_, err := svc.CreateCustomer(ctx, as("m1"), createReq("dup"))
		wantCode(t, err, customerd.ECONFLICT)
		mustCreate(t, svc, "m2", "dup")
		sameCustomer(t, find(t, svc, "m1", "dup"), first)
	})
}

func TestIDMatchWinsOverReference(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		b := mustCreate(t, svc, "m1", "b")
		a := mustCreate(t, svc, "m1", b.ID) // a's reference is b's id
		sameCustomer(t, find(t, svc, "m1", b.ID), b)
		got, err := svc.UpdateCustomer(ctx, as("m1"), b.ID, customerd.UpdateRequest{LastName: customerd.Present("B")})
		if err != nil || got.ID != b.ID || got.LastName != "B" {
			t.Fatalf("update by b's id went to %+v, %v", got, err)
		}
		if got := find(t, svc, "m1", a.ID); got.LastName != "" {
			t.Fatalf("a was changed: %+v", got)
		}
		// A reference shaped like an id that no customer has is found as a
		// reference, by get and by update.
		idLike := mustCreate(t, svc, "m1", "cst_zzzzzzzzzzzzzzzz")
		sameCustomer(t, find(t, svc, "m1", "cst_zzzzzzzzzzzzzzzz"), idLike)
		got, err = svc.UpdateCustomer(ctx, as("m1"), "cst_zzzzzzzzzzzzzzzz", customerd.UpdateRequest{LastName: customerd.Present("Z")})
		if err != nil || got.ID != idLike.ID || got.LastName != "Z" {
			t.Fatalf("update by an id-shaped reference: %+v, %v", got, err)
		}
	})
}

func TestLookupIsExact(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		c := mustCreate(t, svc, "m1", "Jon@Example.com")
		for _, q := range []string{"jon@example.com", "Jon@Example.com ", "Jon@Example.co", c.ID[:19], c.ID + "x",
			"\xff\xfe", "Jon@Example.com\x00", "cst_\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
			_, err := svc.FindCustomer(ctx, "m1", q)
			wantCode(t, err, customerd.ENOTFOUND)
			_, err = svc.UpdateCustomer(ctx, as("m1"), q, customerd.UpdateRequest{FirstName: customerd.Present("x")})
			wantCode(t, err, customerd.ENOTFOUND)
		}
		mustCreate(t, svc, "m1", "a/b+c%2Fd ünïcødé")
		find(t, svc, "m1", "a/b+c%2Fd ünïcødé")
	})
}

func TestPartialUpdate(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, clk := withClock(t, db)
		mustMerchant(t, svc, "m1")
		c := mustCreate(t, svc, "m1", "ref")
		clk.advance(90 * time.Second)
		got, err := svc.UpdateCustomer(ctx, as("m1"), "ref", customerd.UpdateRequest{
			MobileNumber:      customerd.Present("12345"),
			EmailAddress:      customerd.Present(""), // clears
			LastName:          customerd.Present("Snow"),
			MobileCountryCode: customerd.Present("+65"),
		})
		if err != nil {
			t.Fatal(err)
		}
		want := *c
		want.MobileNumber, want.EmailAddress, want.LastName, want.MobileCountryCode = "12345", "", "Snow", "65"
		want.LastUpdated = T0.Add(90 * time.Second)
		sameCustomer(t, got, &want)
		sameCustomer(t, find(t, svc, "m1", c.ID), &want)

		// A request without an updatable field changes nothing, not even
		// last_updated; a bad one changes nothing either.
		clk.advance(time.Hour)
		got, err = svc.UpdateCustomer(ctx, as("m1"), c.ID, customerd.UpdateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		sameCustomer(t, got, &want)
		_, err = svc.UpdateCustomer(ctx, as("m1"), c.ID, customerd.UpdateRequest{MobileNumber: customerd.Present(""),
			FirstName: customerd.Present("Arya")})
		wantCode(t, err, customerd.EINVALID)
		sameCustomer(t, find(t, svc, "m1", c.ID), &want)

		// A clock that steps back never moves last_updated back.
		if _, err := svc.UpdateCustomer(ctx, as("m1"), c.ID, customerd.UpdateRequest{FirstName: customerd.Present("Arya")}); err != nil {
			t.Fatal(err)
		}
		clk.set(T0)
		got, err = svc.UpdateCustomer(ctx, as("m1"), c.ID, customerd.UpdateRequest{FirstName: customerd.Present("Sansa")})
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastUpdated.Equal(T0.Add(90*time.Second+time.Hour)) || got.FirstName != "Sansa" || !got.DateCreated.Equal(T0) {
			t.Fatalf("after a clock step back: %+v", got)
		}
		_, err = svc.UpdateCustomer(ctx, as("m1"), "nobody", customerd.UpdateRequest{FirstName: customerd.Present("x")})
		wantCode(t, err, customerd.ENOTFOUND)
		_, err = svc.UpdateCustomer(ctx, as("m1"), "cst_aaaaaaaaaaaaaaaa", customerd.UpdateRequest{})
		wantCode(t, err, customerd.ENOTFOUND)
	})
}

func TestRacingCreatesOneWins(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = svc.CreateCustomer(ctx, as("m1"), createReq("racer"))
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
	})
}

func TestConcurrentUpdatesOfDifferentFieldsNeverUndoEachOther(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		c := mustCreate(t, svc, "m1", "ref")
		const rounds = 20
		fields := []func(i int) customerd.UpdateRequest{
			func(i int) customerd.UpdateRequest {
				return customerd.UpdateRequest{FirstName: customerd.Present(fmt.Sprint("F", i))}
			},
			func(i int) customerd.UpdateRequest {
				return customerd.UpdateRequest{LastName: customerd.Present(fmt.Sprint("L", i))}
			},
			func(i int) customerd.UpdateRequest {
				return customerd.UpdateRequest{MobileNumber: customerd.Present(fmt.Sprintf("9%d", i))}
			},
			func(i int) customerd.UpdateRequest {
				return customerd.UpdateRequest{MobileCountryCode: customerd.Present(fmt.Sprint(i))}
			},
			func(i int) customerd.UpdateRequest {
				return customerd.UpdateRequest{EmailAddress: customerd.Present(fmt.Sprintf("e%d@example.com", i))}
			},
		}
		var wg sync.WaitGroup
		for _, mk := range fields {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= rounds; i++ {
					if _, err := svc.UpdateCustomer(ctx, as("m1"), c.ID, mk(i)); err != nil {
						t.Errorf("update: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		want := *c
		want.FirstName, want.LastName = fmt.Sprint("F", rounds), fmt.Sprint("L", rounds)
		want.MobileNumber, want.MobileCountryCode = fmt.Sprintf("9%d", rounds), fmt.Sprint(rounds)
		want.EmailAddress = fmt.Sprintf("e%d@example.com", rounds)
		sameCustomer(t, find(t, svc, "m1", c.ID), &want)
	})
}

func TestInsertCustomersIsAllOrNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db database) {
		svc, _ := withClock(t, db)
		mustMerchant(t, svc, "m1")
		mustCreate(t, svc, "m1", "taken")
		var batch []*customerd.Customer
		for _, ref := range []string{"a", "b", "taken"} {
			c, err := customerd.NewCustomer("m1", createReq(ref), T0)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, c)
		}
		wantCode(t, svc.InsertCustomers(ctx, as("m1"), batch...), customerd.ECONFLICT)
		_, err := svc.FindCustomer(ctx, "m1", "a")
		wantCode(t, err, customerd.ENOTFOUND)
		if err := svc.InsertCustomers(ctx, as("m1"), batch[:2]...); err != nil {
			t.Fatal(err)
		}
		sameCustomer(t, find(t, svc, "m1", "b"), batch[1])
	})
}
