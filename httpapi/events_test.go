package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// eventsOf returns the "list" of a list response, decoded.
func eventsOf(t *testing.T, r *response) []map[string]any {
	t.Helper()
	wantStatus(t, r, 200)
	raw, _ := r.json["list"].([]any)
	out := make([]map[string]any, len(raw))
	for i, e := range raw {
		out[i] = e.(map[string]any)
	}
	return out
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return "<absent>"
		}
		if v, ok = mm[p]; !ok {
			return "<absent>"
		}
	}
	return v
}

func TestEveryChangeHasOneEventWithItsPreviousValues(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=jon@example.com&mobile_number=99887766&email_address=jon@example.com&first_name=Jon")
	id := c.str("id")
	a.advance(time.Minute)
	wantStatus(t, a.do("POST", "/customers/"+id, "email_address=jon.snow@example.com&last_name=Snow",
		header("X-Request-Id", "req-update-1")), 200)
	// No updatable field: no event. An update that changes no value: an
	// event, whose previous values are only what moved (here nothing: the
	// clock stood still).
	wantStatus(t, a.do("POST", "/customers/"+id, "object_reference_id=ignored"), 200)
	wantStatus(t, a.do("POST", "/customers/"+id, "first_name=Jon"), 200)

	events := eventsOf(t, a.do("GET", "/customers/"+id+"/events", ""))
	if len(events) != 3 {
		t.Fatalf("%d events, want created, updated, updated: %v", len(events), events)
	}
	created, updated, same := events[0], events[1], events[2]
	if created["type"] != "customer.created" || dig(created, "data", "previous_attributes") != "<absent>" ||
		dig(created, "data", "object", "email_address") != "jon@example.com" || dig(created, "data", "object", "id") != id {
		t.Fatalf("created event: %v", created)
	}
	wantPrev := map[string]any{"email_address": "jon@example.com", "last_name": nil, "last_updated": "2026-03-04T05:06:07+0000"}
	if updated["type"] != "customer.updated" || fmt.Sprint(dig(updated, "data", "previous_attributes")) != fmt.Sprint(wantPrev) ||
		dig(updated, "data", "object", "last_name") != "Snow" || dig(updated, "data", "object", "last_updated") != "2026-03-04T05:07:07+0000" {
		t.Fatalf("updated event: %v", updated)
	}
	if fmt.Sprint(dig(same, "data", "previous_attributes")) != "map[]" {
		t.Fatalf("an update that changed nothing: %v", dig(same, "data", "previous_attributes"))
	}
	// The request that made each change, by its id and the key's prefix.
	if dig(updated, "request", "id") != "req-update-1" || dig(updated, "request", "api_key_prefix") != a.key1[:16] ||
		dig(updated, "request", "idempotency_key") != nil {
		t.Fatalf("request of the update: %v", updated["request"])
	}
	for i, e := range events {
		if e["sequence"] != float64(i+1) {
			t.Fatalf("event %d has sequence %v", i, e["sequence"])
		}
	}
	// One event, by id; another merchant's events are not found.
	r := a.do("GET", "/events/"+updated["id"].(string), "")
	wantStatus(t, r, 200)
	if r.str("id") != updated["id"] {
		t.Fatalf("GET /events/{id}: %s", r.body)
	}
	for _, path := range []string{"/events/" + updated["id"].(string), "/events/evt_0000000000000000", "/events/nope"} {
		r := a.do("GET", path, "", basicAuth(a.key2))
		wantStatus(t, r, 404)
		if r.str("error_code") != "object_not_found" || !strings.Contains(string(r.body), "Event not found") {
			t.Fatalf("%s as another merchant: %s", path, r.body)
		}
	}
	if got := eventsOf(t, a.do("GET", "/events", "", basicAuth(a.key2))); len(got) != 0 {
		t.Fatalf("another merchant sees %d events", len(got))
	}
}

func TestEventListPagingAndFilters(t *testing.T) {
	a := newTestAPI(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, a.create(fmt.Sprintf("object_reference_id=r%d&mobile_number=1", i)).str("id"))
		a.advance(time.Second)
	}
	wantStatus(t, a.do("POST", "/customers/r0", "first_name=A"), 200)
	r := a.do("GET", "/events?count=2", "")
	page := eventsOf(t, r)
	if len(page) != 2 || r.json["total"] != float64(6) || r.json["has_more"] != true || r.json["count"] != float64(2) ||
		page[0]["sequence"] != float64(6) || page[1]["sequence"] != float64(5) {
		t.Fatalf("first page: %s", r.body)
	}
	r = a.do("GET", "/events?count=10&order=asc&starting_after="+page[1]["id"].(string), "")
	if rest := eventsOf(t, r); len(rest) != 1 || rest[0]["sequence"] != float64(6) || r.json["has_more"] != false {
		t.Fatalf("after 5, oldest first: %s", r.body)
	}
	r = a.do("GET", "/events?type=customer.updated", "")
	if got := eventsOf(t, r); len(got) != 1 || r.json["total"] != float64(1) {
		t.Fatalf("type filter: %s", r.body)
	}
	// customer_id takes an id or a reference; one that matches nothing
	// lists nothing.
	for _, q := range []string{ids[0], "r0"} {
		if got := eventsOf(t, a.do("GET", "/events?customer_id="+q, "")); len(got) != 2 {
			t.Fatalf("customer_id=%s: %d events", q, len(got))
		}
	}
	if got := eventsOf(t, a.do("GET", "/events?customer_id=nobody", "")); len(got) != 0 {
		t.Fatalf("customer_id=nobody: %d events", len(got))
	}
	r = a.do("GET", "/events?created_after=2026-03-04T05:06:09+0000&created_before=2026-03-04T05:06:11%2B0000", "")
	if got := eventsOf(t, r); len(got) != 2 {
		t.Fatalf("created range: %s", r.body)
	}
	for _, tc := range []struct{ query, param string }{
		{"count=0", "count"}, {"count=101", "count"}, {"offset=-1", "offset"}, {"order=up", "order"},
		{"type=customer.exploded", "type"}, {"starting_after=cst_0123456789abcdef", "starting_after"},
		{"starting_after=evt_0123456789abcdef", "starting_after"}, {"offset=1&starting_after=" + page[0]["id"].(string), "starting_after"},
		{"created_after=yesterday", "created_after"},
	} {
		r := a.do("GET", "/events?"+tc.query, "", breaksContract())
		wantStatus(t, r, 400)
		if r.str("error_message") != "Wrong value in "+tc.param {
			t.Fatalf("%s: %s", tc.query, r.body)
		}
	}
	// A cursor of another merchant's log is no cursor here.
	theirs := a.do("POST", "/customers", "object_reference_id=x&mobile_number=1", basicAuth(a.key2))
	wantStatus(t, theirs, 200)
	their := eventsOf(t, a.do("GET", "/events", "", basicAuth(a.key2)))
	wantStatus(t, a.do("GET", "/events?starting_after="+their[0]["id"].(string), ""), 400)
	// A customer's history: oldest first; 404 for an unknown customer.
	hist := eventsOf(t, a.do("GET", "/customers/r0/events", ""))
	if len(hist) != 2 || hist[0]["type"] != "customer.created" {
		t.Fatalf("history: %v", hist)
	}
	wantStatus(t, a.do("GET", "/customers/nobody/events", ""), 404)
	wantStatus(t, a.do("GET", "/customers/"+theirs.str("id")+"/events", ""), 404)
}

func TestEraseCustomer(t *testing.T) {
	a := newTestAPI(t)
	c := a.create("object_reference_id=erase-me@example.com&mobile_number=99887766&email_address=erase-me@example.com&first_name=Gone")
	id := c.str("id")
	a.advance(time.Minute)
	wantStatus(t, a.do("POST", "/customers/"+id, "email_address=new@example.com"), 200)
	// A body is ignored; the answer names the customer.
	r := a.do("DELETE", "/customers/erase-me@example.com", "anything=at all")
	wantStatus(t, r, 200)
	wantBody(t, r, `{"id":"`+id+`","object":"customer","deleted":true}`)
	for _, path := range []string{"/customers/" + id, "/customers/erase-me@example.com", "/customers/" + id + "/events"} {
		wantStatus(t, a.do("GET", path, ""), 404)
	}
	wantStatus(t, a.do("POST", "/customers/"+id, "first_name=Back"), 404)
	wantStatus(t, a.do("DELETE", "/customers/"+id, ""), 404)
	// The reference is free again, for a new customer.
	again := a.create("object_reference_id=erase-me@example.com&mobile_number=1")
	if again.str("id") == id {
		t.Fatal("the new customer has the erased one's id")
	}
	// The events stay, by customer id, without a personal value.
	events := eventsOf(t, a.do("GET", "/events?order=asc&customer_id="+id, ""))
	if len(events) != 3 || events[2]["type"] != "customer.deleted" {
		t.Fatalf("events of the erased customer: %v", events)
	}
	for _, e := range events {
		obj := dig(e, "data", "object").(map[string]any)
		for _, f := range []string{"object_reference_id", "mobile_number", "email_address", "first_name", "last_name"} {
			if v, ok := obj[f]; !ok || v != nil {
				t.Fatalf("%s of a %s event after the erasure: %v (present %v)", f, e["type"], v, ok)
			}
		}
		if obj["id"] != id || obj["mobile_country_code"] != "91" || obj["date_created"] != c.str("date_created") {
			t.Fatalf("what the erasure keeps: %v", obj)
		}
	}
	prev := dig(events[1], "data", "previous_attributes").(map[string]any)
	if v, ok := prev["email_address"]; !ok || v != nil || prev["last_updated"] != "2026-03-04T05:06:07+0000" {
		t.Fatalf("previous values after the erasure: %v", prev)
	}
	b, _ := json.Marshal(events)
	for _, secret := range []string{"erase-me@example.com", "new@example.com", "99887766", "Gone"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("%q is still in the erased customer's events", secret)
		}
	}
}
