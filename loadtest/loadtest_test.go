package loadtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/service"
	"customerd/sqlite"
)

func TestCustomerIDsAreDistinctAndWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for i := range 200000 {
		id := CustomerID(i)
		if len(id) != 20 || !strings.HasPrefix(id, "cst_") || strings.Trim(id[4:], idAlphabet) != "" {
			t.Fatalf("CustomerID(%d) = %q", i, id)
		}
		if seen[id] {
			t.Fatalf("CustomerID(%d) = %q repeats", i, id)
		}
		seen[id] = true
	}
	c := Customer("m1", 7, time.Now())
	if _, err := customerd.NewPatch(customerd.Patch{MobileNumber: customerd.Present(c.MobileNumber),
		EmailAddress: customerd.Present(c.EmailAddress), LastName: customerd.Present(c.LastName)}); err != nil {
		t.Fatalf("synthetic customer breaks the field rules: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestRunCountsStatusesOverKeepAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Basic azo=": // base64("k:")
			w.WriteHeader(401)
		case strings.HasSuffix(r.URL.Path, "0"):
			w.WriteHeader(404)
		case r.Method == "POST":
			// Too big for net/http to compute a length: sent chunked.
			w.Write([]byte(strings.Repeat("x", 10000)))
		default:
			CeilingHandler().ServeHTTP(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, scenario := range Scenarios {
		if scenario == ScenarioEvents {
			continue // it makes its customers' history first: TestSearchListAndWalkAgainstTheServer
		}
		conns.Store(0)
		res, err := Run(context.Background(), Config{Addr: addr, Key: "k", Scenario: scenario, Customers: 50,
			Concurrency: 2, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.RPS <= 0 || res.P50ms <= 0 || res.P99ms < res.P50ms || res.MaxMs < res.P99ms {
			t.Errorf("%s: %+v", scenario, res)
		}
		for k := range res.Errors {
			if k != "404" {
				t.Errorf("%s: unexpected error class %q", scenario, k)
			}
		}
		if n := conns.Load(); n > 2 {
			t.Errorf("%s: %d connections for concurrency 2: keep-alive is not working", scenario, n)
		}
	}
}

func TestSeedIsResumableAndItsKeyWorks(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "seed.db"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(k)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Seed(ctx, s, SeedConfig{MerchantID: "load", Customers: 120, BatchSize: 50}); err != nil {
		t.Fatal(err)
	}
	key, err := Seed(ctx, s, SeedConfig{MerchantID: "load", Customers: 300, BatchSize: 50})
	if err != nil {
		t.Fatalf("second seed: %v", err)
	}
	if m, err := s.Authenticate(ctx, key); err != nil || m != "load" {
		t.Fatalf("key: %q, %v", m, err)
	}
	for _, i := range []int{0, 119, 120, 299} {
		c, err := s.FindCustomer(ctx, "load", Reference(i))
		if err != nil || c.ID != CustomerID(i) {
			t.Fatalf("customer %d: %+v, %v", i, c, err)
		}
	}
	if _, err := s.FindCustomer(ctx, "load", CustomerID(300)); customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatalf("customer 300 exists: %v", err)
	}
}

func TestSummarizeTakesMediansAndRatiosPerRound(t *testing.T) {
	var rs []Result
	for round, v := range []struct{ ceiling, get float64 }{{100, 50}, {200, 60}, {100, 70}} {
		rs = append(rs,
			Result{Target: TargetCeiling, Label: "l", Round: round, Scenario: "get", RPS: v.ceiling, P50ms: 1, P99ms: 2},
			Result{Target: TargetCustomerd, Label: "l", Round: round, Scenario: "get", RPS: v.get, P50ms: 2, P99ms: 4})
	}
	ss := Summarize(rs)
	if len(ss) != 2 {
		t.Fatalf("%d summaries", len(ss))
	}
	got := ss[1]
	// Per-round ratios 0.5, 0.3, 0.7: the median is 0.5.
	if got.RPS != 60 || got.Ratio != 0.5 || got.RatioTo != TargetCeiling || got.P99ms != 4 {
		t.Fatalf("%+v", got)
	}
	var b strings.Builder
	if err := WriteTable(&b, ss); err != nil || !strings.Contains(b.String(), "0.50 × ceiling") {
		t.Fatalf("table:\n%s", b.String())
	}
}

// The CPU cost per request is measured from the server process's own
// accounting: here the server runs in the test process, so both the server
// and the generator figures are of this process and must be positive.
func TestRunMeasuresCPUPerRequest(t *testing.T) {
	srv := httptest.NewServer(CeilingHandler())
	defer srv.Close()
	res, err := Run(context.Background(), Config{Addr: strings.TrimPrefix(srv.URL, "http://"), Key: "k",
		Scenario: ScenarioGet, Customers: 10, Concurrency: 4, Duration: 300 * time.Millisecond,
		Warmup: 50 * time.Millisecond, ServerPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.ServerCPUus <= 0 || res.LoadCPUus <= 0 {
		t.Fatalf("requests %d, server CPU %.2f µs, generator CPU %.2f µs per request", res.Requests, res.ServerCPUus, res.LoadCPUus)
	}
	// Same process: /proc's ticks and getrusage measure the same CPU time,
	// to within a few ticks.
	if d := res.ServerCPUus - res.LoadCPUus; d*float64(res.Requests) > float64((5*clockTick).Microseconds()) || -d*float64(res.Requests) > float64((5*clockTick).Microseconds()) {
		t.Errorf("server %.2f µs and generator %.2f µs per request disagree for the same process", res.ServerCPUus, res.LoadCPUus)
	}
}

func TestProcCPUGrows(t *testing.T) {
	before, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn 100 ms of CPU as getrusage counts it (not of wall time, which a
	// busy machine would stretch): /proc must count it too.
	for self0 := selfCPU(); selfCPU()-self0 < 100*time.Millisecond; {
	}
	after, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 100*time.Millisecond-2*clockTick {
		t.Fatalf("100 ms of CPU counted as %v by /proc", after-before)
	}
	if _, err := ProcCPU(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
