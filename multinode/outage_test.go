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

// sample is one request of the background traffic.
type sample struct {
	at   time.Time // when the request was sent
	node string
	op   string
	r    response
}

// TestDatabaseOutageAnswers503AndHeals stops the database under a steady
// mix of reads, updates and creates on two nodes, then starts it again.
// While it is down every request must be answered, within 5 s, with the
// contract's 503 and Retry-After (never a 500, never a hang); once it is back
// the same two processes must answer 200 again without being restarted.
func TestDatabaseOutageAnswers503AndHeals(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	binary(t)
	dbURL := cluster.URL()
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
	cluster.Stop()
	stoppedAt := time.Now()
	time.Sleep(3 * time.Second)
	restartAt := time.Now()
	cluster.Start()
	startedAt := time.Now()

	// Healed: for a whole second, every request on both nodes succeeded.
	healDeadline := startedAt.Add(15 * time.Second)
	for {
		window := since(time.Now().Add(-time.Second))
		healed := len(window) > 0 && window[0].at.After(startedAt)
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

	outage, afterRestart := 0, 0
	var healedAfter time.Duration = -1
	for _, s := range since(time.Time{}) {
		r := s.r
		if r.transportE != nil {
			t.Errorf("%s %s at %v: %v", s.op, s.node, s.at.Sub(stoppedAt), r.transportE)
			continue
		}
		if r.elapsed >= 5*time.Second {
			t.Errorf("%s %s took %v, want under 5 s", s.op, s.node, r.elapsed)
		}
		switch r.status {
		case 200:
			if s.at.After(restartAt) && healedAfter < 0 {
				healedAfter = s.at.Sub(restartAt)
			}
			if s.at.After(stoppedAt) && s.at.Add(r.elapsed).Before(restartAt) {
				t.Errorf("%s %s answered 200 while the database was down", s.op, s.node)
			}
		case 503:
			if r.header.Get("Retry-After") == "" || r.str("status") != "error" || r.str("error_code") != "service_unavailable" {
				t.Errorf("503 without the contract's shape: Retry-After %q, body %s", r.header.Get("Retry-After"), r.raw)
			}
			switch {
			case s.at.After(startedAt):
				afterRestart++
			case s.at.After(stoppedAt):
				outage++
			}
		default:
			t.Errorf("%s %s at %v: status %d, want 200 or 503: %s", s.op, s.node, s.at.Sub(stoppedAt), r.status, r.raw)
		}
	}
	if outage < 10 {
		t.Errorf("only %d requests were answered 503 during the outage", outage)
	}
	for i, n := range nodes {
		if !n.running() || n.cmd.Process.Pid != pids[i] {
			t.Errorf("%s was restarted or exited", n.name)
		}
	}
	t.Logf("%d requests; %d answered 503 during a %v outage; first 200 %v after the restart began, %d 503s after it completed",
		len(since(time.Time{})), outage, restartAt.Sub(stoppedAt).Round(time.Millisecond), healedAfter.Round(time.Millisecond), afterRestart)
}
