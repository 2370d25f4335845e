package multinode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd/postgres/pgtest"
	"customerd/webhook"
)

// TestThreeNodesDeliverEveryWebhookAboutOnce: three nodes on one
// database share the deliveries of every node's changes; each is claimed by
// one node at a time, so every event arrives, and duplicates are rare.
func TestThreeNodesDeliverEveryWebhookAboutOnce(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	binary(t)
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = startNode(t, fmt.Sprintf("node%c", 'A'+i), dbURL)
	}
	key := cli(t, dbURL, "merchant", "create", "acme")

	var mu sync.Mutex
	got := map[string]int{}
	bad := 0
	var secret string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		var ev struct{ ID string }
		if webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, 0) != nil || json.Unmarshal(body, &ev) != nil {
			bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got[ev.ID]++
	}))
	defer recv.Close()
	ep := mustCall(t, "POST", nodes[0].base+"/webhook_endpoints", key, url.Values{"url": {recv.URL + "/hook"}}, 200)
	mu.Lock()
	secret = ep.str("secret")
	mu.Unlock()

	// 12 writers, each a customer created on one node and updated on the
	// others in turn.
	const writers, each = 12, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("hook-%d", w)
			r := call(context.Background(), "POST", nodes[w%3].base+"/customers", key, url.Values{"object_reference_id": {ref}, "mobile_number": {"1"}})
			if r.status != 200 {
				t.Errorf("create: %d %s", r.status, r.raw)
				return
			}
			for i := range each {
				r := call(context.Background(), "POST", nodes[(w+i+1)%3].base+"/customers/"+ref, key, url.Values{"first_name": {fmt.Sprint("n", i)}})
				if r.status != 200 {
					t.Errorf("update: %d %s", r.status, r.raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var ids []string
	after := ""
	for {
		target := nodes[1].base + "/events?order=asc&count=100"
		if after != "" {
			target += "&starting_after=" + after
		}
		page := mustCall(t, "GET", target, key, nil, 200)
		list, _ := page.body["list"].([]any)
		for _, e := range list {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		if page.body["has_more"] != true {
			break
		}
		after = ids[len(ids)-1]
	}
	if len(ids) != writers*(1+each) {
		t.Fatalf("%d events, want %d", len(ids), writers*(1+each))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never arrived", missing, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // duplicates, if any, arrive late
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	if bad != 0 {
		t.Errorf("%d deliveries failed the signature check", bad)
	}
	if dups*100 >= len(ids) {
		t.Errorf("%d duplicates for %d events: 1%% or more", dups, len(ids))
	}
	var shares []string
	for _, n := range nodes {
		shares = append(shares, fmt.Sprintf("%s %s", n.name, deliveredBy(t, n)))
	}
	t.Logf("%d events delivered, %d duplicates; by node: %v", len(ids), dups, shares)
}

// deliveredBy reads how many deliveries a node made from its metrics.
func deliveredBy(t *testing.T, n *node) string {
	res, err := client.Get(n.base + "/metrics")
	if err != nil {
		return "?"
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `customerd_webhook_deliveries_total{outcome="delivered"}`) {
			return strings.Fields(line)[1]
		}
	}
	return "0"
}
