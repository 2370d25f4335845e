package loadtest

import (
	"context"
	"fmt"

	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/httpapi"
	"customerd/service"
	"customerd/sqlite"
)

func TestNextCursor(t *testing.T) {
	for _, tc := range []struct{ page, want string }{
		{`{"object":"list","count":2,"offset":0,"total":9,"has_more":true,"list":[{"id":"cst_a","object":"customer"},{"id":"cst_b","object":"customer"}]}`, "cst_b"},
		{`{"object":"list","count":1,"offset":0,"total":9,"has_more":false,"list":[{"id":"cst_c","object":"customer"}]}`, ""},
		{`{"object":"list","count":0,"offset":0,"total":0,"has_more":true,"list":[]}`, ""},
		{`not json`, ""},
	} {
		if got := NextCursor([]byte(tc.page)); got != tc.want {
			t.Errorf("NextCursor(%s) = %q, want %q", tc.page, got, tc.want)
		}
	}
}

// Each connection of the list scenario asks for the page after the last
// customer of its previous page, and for the first page after the last.
func TestListScenarioContinuesFromThePreviousPage(t *testing.T) {
	const customers = 25
	order := make([]string, customers) // the list, newest first
	for i := range order {
		order[i] = CustomerID(i)
	}
	var mu sync.Mutex
	expect := map[string]string{} // connection → the cursor its next request must carry
	bad, wraps, requests := 0, 0, 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		after := r.URL.Query().Get("starting_after")
		want, seen := expect[r.RemoteAddr]
		switch {
		case !seen:
			// A connection's first page starts after a customer of its own.
		case after != want:
			bad++
		case after == "":
			wraps++
		}
		start := 0
		for i, id := range order {
			if id == after {
				start = i + 1
			}
		}
		end := min(start+ListPageSize, customers)
		var b strings.Builder
		fmt.Fprintf(&b, `{"object":"list","count":%d,"offset":0,"total":%d,"has_more":%v,"list":[`, end-start, customers, end < customers)
		for i, id := range order[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%q,"object":"customer"}`, id)
		}
		b.WriteString("]}")
		expect[r.RemoteAddr] = NextCursor([]byte(b.String()))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(b.String()))
	}))
	srv.Start()
	defer srv.Close()
	res, err := Run(context.Background(), Config{Addr: strings.TrimPrefix(srv.URL, "http://"), Key: "k",
		Scenario: ScenarioList, Customers: customers, Concurrency: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Requests == 0 || len(res.Errors) > 0 || bad > 0 || wraps == 0 {
		t.Fatalf("%d requests (%d measured, errors %v): %d did not continue from the previous page, %d started again from the top",
			requests, res.Requests, res.Errors, bad, wraps)
	}
}

// The new scenarios, and a walk, against customerd's own router on a
// seeded store: every request is a 200, and the walk reads every customer
// once.
func TestSearchListAndWalkAgainstTheServer(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "load.db"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(k)})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	const customers = 230
	key, err := Seed(ctx, svc, SeedConfig{MerchantID: "load", Customers: customers, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	// The seed fills the blind indexes: each synthetic customer is found
	// by its email and its mobile number.
	for _, i := range []int{0, 117, customers - 1} {
		for _, q := range []customerd.CustomerSearch{{EmailAddress: Email(i)}, {MobileNumber: Mobile(i)}} {
			q.Limit = 10
			got, _, _, err := svc.ListCustomers(ctx, "load", q)
			if err != nil || len(got) == 0 || got[0].ID != CustomerID(i) && (len(got) < 2 || got[1].ID != CustomerID(i)) {
				t.Fatalf("customer %d by %+v: %v, %v", i, q, got, err)
			}
		}
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Service: svc}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, scenario := range []string{ScenarioSearchEmail, ScenarioSearchMobile, ScenarioList} {
		res, err := Run(ctx, Config{Addr: addr, Key: key, MerchantID: "load", Scenario: scenario, Customers: customers,
			Concurrency: 2, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || len(res.Errors) > 0 {
			t.Fatalf("%s: %d requests, errors %v", scenario, res.Requests, res.Errors)
		}
	}
	for _, ascending := range []bool{false, true} {
		res, err := Walk(ctx, WalkConfig{Addr: addr, Key: key, MerchantID: "load", Count: 7, Ascending: ascending})
		if err != nil {
			t.Fatal(err)
		}
		if res.Customers != customers || res.Total != customers || res.Duplicates != 0 || res.Pages != (customers+6)/7 {
			t.Fatalf("walk, ascending %v: %+v", ascending, res)
		}
	}
	if _, err := Walk(ctx, WalkConfig{Addr: addr, Key: "cdk_nobody", Count: 10}); err == nil {
		t.Fatal("a walk with a bad key succeeded")
	}

	// The writes' scenarios: a keyed create makes a customer per request, a
	// replay one per worker, and the events scenario gives its customers
	// their history, once however many runs.
	count := func() int {
		_, total, _, err := svc.ListCustomers(ctx, "load", customerd.CustomerSearch{Page: customerd.Page{Limit: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return total
	}
	for _, tc := range []struct {
		scenario string
		made     func(requests int) int
	}{
		{ScenarioCreateKeyed, func(n int) int { return n }},
		{ScenarioReplay, func(int) int { return 2 }},
		{ScenarioEvents, func(int) int { return 0 }},
		{ScenarioEvents, func(int) int { return 0 }},
	} {
		before := count()
		res, err := Run(ctx, Config{Addr: addr, Key: key, MerchantID: "load", Scenario: tc.scenario, Customers: customers,
			Concurrency: 2, Duration: 200 * time.Millisecond, Warmup: -1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || len(res.Errors) > 0 {
			t.Fatalf("%s: %d requests, errors %v", tc.scenario, res.Requests, res.Errors)
		}
		if got, want := count()-before, tc.made(res.Requests); got != want {
			t.Fatalf("%s: %d requests made %d customers, want %d", tc.scenario, res.Requests, got, want)
		}
	}
	for c := range EventCustomers {
		_, total, _, err := svc.CustomerEvents(ctx, "load", CustomerID(c), customerd.Page{Limit: 1})
		if err != nil || total != EventsPerCustomer {
			t.Fatalf("customer %d has %d events, %v; want %d", c, total, err, EventsPerCustomer)
		}
	}
}

func TestSummarizeGivesSearchesAndListsInGets(t *testing.T) {
	var rs []Result
	for round := range 3 {
		rs = append(rs,
			Result{Target: TargetCeiling, Label: "l", Round: round, Scenario: ScenarioGet, RPS: 100},
			Result{Target: TargetCustomerd, Label: "l", Round: round, Scenario: ScenarioGet, RPS: float64(40 + 10*round)},
			Result{Target: TargetCustomerd, Label: "l", Round: round, Scenario: ScenarioList, RPS: 20})
	}
	ss := Summarize(rs)
	if got := ss[2]; got.Scenario != ScenarioList || got.Extra != "0.40 × get" || got.Ratio != 0.2 {
		t.Fatalf("%+v", got)
	}
}
