package multinode_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"customerd/postgres/pgtest"

	"github.com/jackc/pgx/v5"
)

// TestThreeNodesActAsOneService starts three real customerd processes at
// once on one empty PostgreSQL database and checks that, seen from clients
// spread over them, they behave as one server.
func TestThreeNodesActAsOneService(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	binary(t)

	// All three start at the same moment on an empty database: each must
	// come up, with the schema migrated exactly once.
	nodes := make([]*node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = launch(t, fmt.Sprintf("node%c", 'A'+i), dbURL)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkMigrated(t, dbURL)
	banners := 0
	for _, n := range nodes {
		if strings.Contains(n.logs(), "first run: created merchant") { // the text banner or the JSON record
			banners++
		}
		if strings.Contains(n.logs(), `"level":"ERROR"`) {
			t.Errorf("%s logged an error on start:\n%s", n.name, n.logs())
		}
	}
	if banners != 1 {
		t.Errorf("%d nodes created the sandbox merchant, want exactly 1", banners)
	}

	key := cli(t, dbURL, "merchant", "create", "acme")
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("a customer created on node A is read on node B and C at once", func(t *testing.T) {
		created := mustCall(t, "POST", a.base+"/customers", key, url.Values{
			"object_reference_id": {"jon@example.com"}, "mobile_number": {"99887766"}, "first_name": {"Jon"},
		}, 200)
		id := created.str("id")
		for _, n := range []*node{b, c} {
			for _, ref := range []string{id, "jon@example.com"} {
				got := mustCall(t, "GET", n.base+"/customers/"+url.PathEscape(ref), key, nil, 200)
				if got.raw != created.raw {
					t.Fatalf("%s read\n%s\nnode A created\n%s", n.name, got.raw, created.raw)
				}
			}
		}
	})

	t.Run("24 racing creates of one reference over 3 nodes: exactly one wins", func(t *testing.T) {
		const racers = 24
		results := make([]response, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = call(context.Background(), "POST", nodes[i%3].base+"/customers", key, url.Values{
					"object_reference_id": {"racer"}, "mobile_number": {fmt.Sprint(1000 + i)},
				})
			}()
		}
		close(start)
		wg.Wait()
		wins, uniques := 0, 0
		for i, r := range results {
			switch {
			case r.status == 200:
				wins++
			case r.status == 400 && r.str("error_code") == "unique":
				uniques++
			default:
				t.Errorf("racer %d on %s: %d %s %v", i, nodes[i%3].name, r.status, r.raw, r.transportE)
			}
		}
		if wins != 1 || uniques != racers-1 {
			t.Fatalf("%d wins and %d unique errors, want 1 and %d", wins, uniques, racers-1)
		}
	})

	t.Run("concurrent partial updates of different fields on different nodes never undo each other", func(t *testing.T) {
		created := mustCall(t, "POST", a.base+"/customers", key, url.Values{
			"object_reference_id": {"partial"}, "mobile_number": {"1"},
		}, 200)
		path := "/customers/" + created.str("id")
		const rounds = 15
		fields := []struct{ name, format string }{
			{"first_name", "F%d"}, {"last_name", "L%d"}, {"mobile_number", "9%d"},
			{"mobile_country_code", "%d"}, {"email_address", "e%d@example.com"},
		}
		var wg sync.WaitGroup
		for f, field := range fields {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= rounds; i++ {
					n := nodes[(f+i)%3]
					r := call(context.Background(), "POST", n.base+path, key, url.Values{field.name: {fmt.Sprintf(field.format, i)}})
					if r.status != 200 {
						t.Errorf("update %s on %s: %d %s %v", field.name, n.name, r.status, r.raw, r.transportE)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, n := range nodes {
			got := mustCall(t, "GET", n.base+path, key, nil, 200)
			for _, field := range fields {
				if want := fmt.Sprintf(field.format, rounds); got.str(field.name) != want {
					t.Errorf("%s reads %s = %q, want %q (an update was undone): %s", n.name, field.name, got.str(field.name), want, got.raw)
				}
			}
		}
	})

	t.Run("60 contending writers on one row over 3 nodes all get 200", func(t *testing.T) {
		created := mustCall(t, "POST", b.base+"/customers", key, url.Values{
			"object_reference_id": {"hot"}, "mobile_number": {"1"},
		}, 200)
		path := "/customers/" + created.str("id")
		const writers = 60
		results := make([]response, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = call(context.Background(), "POST", nodes[i%3].base+path, key, url.Values{
					"first_name": {fmt.Sprintf("W%d", i)}, "mobile_number": {fmt.Sprint(5000 + i)},
				})
			}()
		}
		close(start)
		wg.Wait()
		for i, r := range results {
			if r.status != 200 {
				t.Errorf("writer %d on %s: %d %s %v", i, nodes[i%3].name, r.status, r.raw, r.transportE)
			}
		}
		// Both fields of every update apply together: the survivor is one
		// writer's pair, never a mix.
		got := mustCall(t, "GET", c.base+path, key, nil, 200)
		var w int
		if _, err := fmt.Sscanf(got.str("first_name"), "W%d", &w); err != nil || got.str("mobile_number") != fmt.Sprint(5000+w) {
			t.Fatalf("final record mixes writers: %s", got.raw)
		}
	})

	t.Run("one merchant's changes on 3 nodes make one gap-free event log every node reads", func(t *testing.T) {
		evKey := cli(t, dbURL, "merchant", "create", "evlog")
		const writers, each = 9, 12
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked := 0
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := nodes[w%3]
				ref := fmt.Sprintf("ev-%d", w)
				r := call(context.Background(), "POST", n.base+"/customers", evKey, url.Values{"object_reference_id": {ref}, "mobile_number": {"1"}})
				if r.status != 200 {
					t.Errorf("create on %s: %d %s", n.name, r.status, r.raw)
					return
				}
				for i := range each {
					// Each update on the next node round: the customer's
					// history is written by all three.
					n := nodes[(w+i+1)%3]
					r := call(context.Background(), "POST", n.base+"/customers/"+ref, evKey, url.Values{"first_name": {fmt.Sprint("N", i)}})
					if r.status != 200 {
						t.Errorf("update on %s: %d %s", n.name, r.status, r.raw)
						return
					}
				}
				mu.Lock()
				acked += 1 + each
				mu.Unlock()
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		var first []string
		for _, n := range nodes {
			var ids []string
			after := ""
			for {
				target := n.base + "/events?order=asc&count=100"
				if after != "" {
					target += "&starting_after=" + after
				}
				page := mustCall(t, "GET", target, evKey, nil, 200)
				list, _ := page.body["list"].([]any)
				for _, e := range list {
					ev := e.(map[string]any)
					if ev["sequence"] != float64(len(ids)+1) {
						t.Fatalf("%s: event %d has sequence %v", n.name, len(ids), ev["sequence"])
					}
					ids = append(ids, ev["id"].(string))
				}
				if page.body["has_more"] != true {
					break
				}
				after = ids[len(ids)-1]
			}
			if len(ids) != acked {
				t.Fatalf("%s lists %d events for %d acknowledged changes", n.name, len(ids), acked)
			}
			if first == nil {
				first = ids
			} else if fmt.Sprint(ids) != fmt.Sprint(first) {
				t.Fatalf("%s reads another log than %s", n.name, nodes[0].name)
			}
		}
		// Each customer's history, read anywhere, is its create and its
		// updates in order.
		for w := range writers {
			hist := mustCall(t, "GET", nodes[(w+2)%3].base+fmt.Sprintf("/customers/ev-%d/events?count=100", w), evKey, nil, 200)
			list, _ := hist.body["list"].([]any)
			if len(list) != 1+each {
				t.Fatalf("ev-%d: %d events", w, len(list))
			}
			for i, e := range list[1:] {
				obj := e.(map[string]any)["data"].(map[string]any)["object"].(map[string]any)
				if obj["first_name"] != fmt.Sprint("N", i) {
					t.Fatalf("ev-%d: event %d shows first_name %v", w, i+1, obj["first_name"])
				}
			}
		}
	})

	t.Run("a customer created on one node is listed and found by every other at once", func(t *testing.T) {
		totalOn := func(n *node) int {
			t.Helper()
			r := mustCall(t, "GET", n.base+"/customers?count=1", key, nil, 200)
			total, ok := r.body["total"].(float64)
			if !ok {
				t.Fatalf("%s: no total: %s", n.name, r.raw)
			}
			return int(total)
		}
		before := totalOn(a)
		var ids []string
		for i, n := range nodes {
			email := fmt.Sprintf("listed%d@example.com", i)
			created := mustCall(t, "POST", n.base+"/customers", key, url.Values{
				"object_reference_id": {fmt.Sprintf("listed-%d", i)}, "mobile_number": {"5550001"}, "email_address": {email},
			}, 200)
			ids = append(ids, created.str("date_created")+" "+created.str("id"))
			for _, other := range nodes {
				found := mustCall(t, "GET", other.base+"/customers?email_address="+url.QueryEscape(email), key, nil, 200)
				list, _ := found.body["list"].([]any)
				if len(list) != 1 || list[0].(map[string]any)["id"] != created.str("id") || found.body["total"] != float64(1) {
					t.Fatalf("%s searches for the customer %s created: %s", other.name, n.name, found.raw)
				}
				if got := totalOn(other); got != before+i+1 {
					t.Fatalf("%s counts %d customers after %d creates on top of %d", other.name, got, i+1, before)
				}
			}
		}
		// A walk whose pages come from one node after another sees each
		// customer once, oldest first (ties by id).
		slices.Sort(ids)
		for i, s := range ids {
			_, ids[i], _ = strings.Cut(s, " ")
		}
		var walked []string
		after := ""
		for page := 0; ; page++ {
			q := "/customers?mobile_number=5550001&order=asc&count=1"
			if after != "" {
				q += "&starting_after=" + after
			}
			r := mustCall(t, "GET", nodes[page%3].base+q, key, nil, 200)
			list, _ := r.body["list"].([]any)
			for _, c := range list {
				walked = append(walked, c.(map[string]any)["id"].(string))
			}
			if r.body["has_more"] != true {
				break
			}
			after = walked[len(walked)-1]
		}
		if fmt.Sprint(walked) != fmt.Sprint(ids) {
			t.Fatalf("walked %v over the nodes, created %v", walked, ids)
		}
		// The creates' changes to the count are folded into it in the
		// background, so that a total reads one row and a few changes.
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var pending, live int
			if err := conn.QueryRow(context.Background(), `SELECT (SELECT COUNT(*) FROM customer_count_changes),
				(SELECT live FROM customer_counts WHERE merchant_id = 'acme')`).Scan(&pending, &live); err != nil {
				t.Fatal(err)
			}
			if pending == 0 && live == before+len(nodes) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("5 s after the creates: %d changes to the count not folded, count %d", pending, live)
			}
		}
	})

	t.Run("concurrent requests with one Idempotency-Key on 3 nodes make one change", func(t *testing.T) {
		const tries = 24
		results := make([]response, tries)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest("POST", nodes[i%3].base+"/customers",
					strings.NewReader(url.Values{"object_reference_id": {"keyed-once"}, "mobile_number": {"1"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Idempotency-Key", "multinode-once")
				req.SetBasicAuth(key, "")
				res, err := client.Do(req)
				if err != nil {
					results[i] = response{transportE: err}
					return
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				results[i] = response{status: res.StatusCode, header: res.Header, raw: string(raw)}
			}()
		}
		close(start)
		wg.Wait()
		ran := 0
		for i, r := range results {
			switch {
			case r.status == 200 && r.header.Get("Idempotent-Replayed") == "":
				ran++
			case r.status == 200, r.status == 409:
			default:
				t.Errorf("request %d on %s: %d %s %v", i, nodes[i%3].name, r.status, r.raw, r.transportE)
			}
		}
		if ran != 1 {
			t.Fatalf("%d requests with one key ran, want exactly 1", ran)
		}
		page := mustCall(t, "GET", c.base+"/events?type=customer.created&customer_id=keyed-once", key, nil, 200)
		if page.body["total"] != float64(1) {
			t.Fatalf("events of the keyed create: %s", page.raw)
		}
	})

	t.Run("a key revoked with the CLI is refused by every node within 5 s", func(t *testing.T) {
		doomed := cli(t, dbURL, "key", "create", "acme")
		for _, n := range nodes {
			mustCall(t, "GET", n.base+"/customers/jon@example.com", doomed, nil, 200)
		}
		cli(t, dbURL, "key", "revoke", doomed)
		deadline := time.Now().Add(5 * time.Second)
		for _, n := range nodes {
			for {
				r := call(context.Background(), "GET", n.base+"/customers/jon@example.com", doomed, nil)
				if r.status == 401 && r.str("error_code") == "access_denied" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still answers %d to a revoked key 5 s after revocation", n.name, r.status)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		// The other key keeps working everywhere.
		for _, n := range nodes {
			mustCall(t, "GET", n.base+"/customers/jon@example.com", key, nil, 200)
		}
	})
}

// checkMigrated checks that the schema is in place and recorded. That no
// node failed while another one migrated is checked by their start.
func checkMigrated(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 || names[0] != "0001_init.sql" {
		t.Fatalf("schema_migrations after concurrent start: %v", names)
	}
}

// customerd migrate prepares an empty database on its own, so that nodes
// started afterwards (possibly with a role without DDL rights) find the
// schema in place, and running it again changes nothing.
func TestMigrateCommand(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	for _, want := range [][2]string{
		{": created schema version 2 (0001_init.sql, 0002_webhooks.sql)\n", "webhook job queue (River): applied migrations 1 to "},
		{": schema version 2 is up to date; nothing to apply\n", "webhook job queue (River): up to date"},
	} {
		if out := cli(t, dbURL, "migrate"); !strings.Contains(out, want[0]) || !strings.Contains(out, want[1]) {
			t.Fatalf("customerd migrate printed %q, want %q and %q", out, want[0], want[1])
		}
		checkMigrated(t, dbURL)
	}
	key := cli(t, dbURL, "merchant", "create", "acme")
	n := startNode(t, "node", dbURL)
	mustCall(t, "POST", n.base+"/customers", key, url.Values{"object_reference_id": {"r"}, "mobile_number": {"1"}}, 200)
}
