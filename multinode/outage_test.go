package multinode_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"customerd/postgres/pgtest"
)

// TestDatabaseOutageAnswers503AndHeals stops the database ("pg_ctl stop -m
// fast": sessions are terminated, connections refused) under traffic, then
// starts it again.
func TestDatabaseOutageAnswers503AndHeals(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	outage(t, cluster.URL(), cluster.Stop, cluster.Start)
}

// TestFrozenDatabaseAnswers503AndHeals freezes the database (SIGSTOP): the
// port still accepts TCP connections but nothing answers, as when a network
// path or a host hangs. Only the store's connect timeout and call deadlines
// stand between a request and a hang.
func TestFrozenDatabaseAnswers503AndHeals(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	outage(t, cluster.URL(), cluster.Freeze, cluster.Thaw)
}

// sample is one request of the background traffic.
type sample struct {
	at   time.Time // when the request was sent
	node string
	op   string
	r    response
}

// outage runs a steady mix of reads, updates and creates on two nodes,
// breaks the database for 6 s with down, and repairs it with up. While it is
// broken every request must be answered, within 5 s, with the contract's 503
// and Retry-After (never a 500, never a hang); once it is repaired the same
// two processes must answer 200 again without being restarted.
func outage(t *testing.T, dbURL string, down, up func()) {
	binary(t)
	nodes := []*node{startNode(t, "nodeA", dbURL), startNode(t, "nodeB", dbURL)}
	pids := []int{nodes[0].cmd.Process.Pid, nodes[1].cmd.Process.Pid}
	key := cli(t, dbURL, "merchant", "create", "acme")
	mustCall(t, "POST", nodes[0].base+"/customers", key, url.Values{
		"object_reference_id": {"steady"}, "mobile_number": {"1"},
	}, 200)

	var mu sync.Mutex
	var samples []sample
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				n := nodes[(w+i)%len(nodes)]
				var s sample
				s.node, s.at = n.name, time.Now()
				switch i % 3 {
				case 0:
					s.op = "get"
					s.r = call(ctx, "GET", n.base+"/customers/steady", key, nil)
				case 1:
					s.op = "update"
					s.r = call(ctx, "POST", n.base+"/customers/steady", key, url.Values{"first_name": {fmt.Sprintf("W%d", i)}})
				default:
					s.op = "create"
					s.r = call(ctx, "POST", n.base+"/customers", key, url.Values{
						"object_reference_id": {fmt.Sprintf("c-%d-%d", w, i)}, "mobile_number": {"1"},
					})
				}
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	since := func(from time.Time) []sample {
		mu.Lock()
		defer mu.Unlock()
		var out []sample
		for _, s := range samples {
			if !s.at.Before(from) {
				out = append(out, s)
			}
		}
		return out
	}

	time.Sleep(time.Second)
	if ok := since(time.Time{}); len(ok) == 0 || ok[len(ok)-1].r.status != 200 {
		t.Fatalf("traffic before the outage is not answered 200: %+v", ok)
	}
	down()
	downAt := time.Now()
	time.Sleep(6 * time.Second)
	repairAt := time.Now()
	up()
	upAt := time.Now()

	// Healed: for a whole second, every request on both nodes succeeded.
	healDeadline := upAt.Add(15 * time.Second)
	for {
		window := since(time.Now().Add(-time.Second))
		healed := len(window) > 0 && window[0].at.After(upAt)
		byNode := map[string]bool{}
		for _, s := range window {
			healed = healed && s.r.status == 200
			byNode[s.node] = true
		}
		if healed && len(byNode) == len(nodes) {
			break
		}
		if time.Now().After(healDeadline) {
			t.Fatalf("not healed 15 s after the database came back; last second: %+v", window)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	during, after := 0, 0
	healedAfter := time.Duration(-1)
	for _, s := range since(time.Time{}) {
		r := s.r
		if r.transportE != nil {
			t.Errorf("%s %s at %v: %v", s.op, s.node, s.at.Sub(downAt), r.transportE)
			continue
		}
		if r.elapsed >= 5*time.Second {
			t.Errorf("%s %s at %v took %v, want under 5 s", s.op, s.node, s.at.Sub(downAt), r.elapsed)
		}
		switch r.status {
		case 200:
			if s.at.After(downAt) && s.at.Add(r.elapsed).Before(repairAt) {
				t.Errorf("%s %s answered 200 while the database was down", s.op, s.node)
			}
			if s.at.After(repairAt) && healedAfter < 0 {
				healedAfter = s.at.Sub(repairAt)
			}
		case 503:
			if r.header.Get("Retry-After") == "" || r.str("status") != "error" || r.str("error_code") != "service_unavailable" {
				t.Errorf("503 without the contract's shape: Retry-After %q, body %s", r.header.Get("Retry-After"), r.raw)
			}
			switch answered := s.at.Add(r.elapsed); {
			case s.at.After(upAt):
				after++
			case answered.After(downAt) && answered.Before(repairAt):
				during++
			}
		default:
			t.Errorf("%s %s at %v: status %d, want 200 or 503: %s", s.op, s.node, s.at.Sub(downAt), r.status, r.raw)
		}
	}
	if during < 4 {
		// Each of the 4 clients has at least one request answered while
		// the database is down, even when every request waits for the call
		// deadline.
		t.Errorf("only %d requests were answered 503 while the database was down", during)
	}
	for i, n := range nodes {
		if !n.running() || n.cmd.Process.Pid != pids[i] {
			t.Errorf("%s was restarted or exited", n.name)
		}
	}
	t.Logf("%d requests; %d answered 503 during a %v outage; first 200 %v after the repair began; %d 503s after it completed",
		len(since(time.Time{})), during, repairAt.Sub(downAt).Round(time.Millisecond), healedAfter.Round(time.Millisecond), after)
}
