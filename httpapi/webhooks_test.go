package httpapi_test

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"customerd"
)

// publicHook is an endpoint URL that passes the address rules without a DNS
// lookup: a literal public address.
const publicHook = "https://93.184.216.34/hooks/customerd"

func (a *testAPI) newEndpoint(form string, opts ...reqOpt) *response {
	a.t.Helper()
	r := a.do("POST", "/webhook_endpoints", form, opts...)
	if r.status != 200 {
		a.t.Fatalf("create endpoint %q: %d %s", form, r.status, r.body)
	}
	return r
}

func TestWebhookEndpointLifecycle(t *testing.T) {
	a := newTestAPI(t)
	created := a.newEndpoint("url=" + url.QueryEscape(publicHook) + "&enabled_events=customer.created,%20customer.deleted&description=CRM")
	id, secret := created.str("id"), created.str("secret")
	if !regexp.MustCompile(`^we_[a-z0-9]{16}$`).MatchString(id) || !regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("created %s", created.body)
	}
	wantBody(t, created, fmt.Sprintf(`{"id":%q,"object":"webhook_endpoint","url":%q,"enabled_events":["customer.created","customer.deleted"],
		"description":"CRM","disabled":false,"created":"2026-03-04T05:06:07+0000","secret":%q}`, id, publicHook, secret))

	// The secret is shown once.
	got := a.do("GET", "/webhook_endpoints/"+id, "")
	wantStatus(t, got, 200)
	if got.str("secret") != "<absent>" || strings.Contains(string(got.body), secret) {
		t.Fatalf("the secret is shown again: %s", got.body)
	}
	list := a.do("GET", "/webhook_endpoints", "")
	if items := eventsOf(t, list); len(items) != 1 || items[0]["id"] != id || items[0]["secret"] != nil || list.json["total"] != 1.0 {
		t.Fatalf("list: %s", list.body)
	}

	// A partial update changes what it names; JSON works as forms do.
	upd := a.do("POST", "/webhook_endpoints/"+id, `{"disabled": true, "enabled_events": "*"}`, header("Content-Type", "application/json"))
	wantStatus(t, upd, 200)
	if upd.json["disabled"] != true || fmt.Sprint(upd.json["enabled_events"]) != "[*]" || upd.str("description") != "CRM" ||
		upd.str("url") != publicHook {
		t.Fatalf("update: %s", upd.body)
	}
	a.advance(60)
	same := a.do("POST", "/webhook_endpoints/"+id, "unknown_field=1")
	wantStatus(t, same, 200)
	if same.json["disabled"] != true {
		t.Fatalf("an update naming no field changed the endpoint: %s", same.body)
	}

	// Another merchant sees nothing of it.
	for _, r := range []*response{
		a.do("GET", "/webhook_endpoints/"+id, "", basicAuth(a.key2)),
		a.do("POST", "/webhook_endpoints/"+id, "disabled=false", basicAuth(a.key2)),
		a.do("DELETE", "/webhook_endpoints/"+id, "", basicAuth(a.key2)),
		a.do("GET", "/webhook_endpoints/"+id+"/attempts", "", basicAuth(a.key2)),
	} {
		wantStatus(t, r, 404)
		if r.str("error_code") != "object_not_found" || !strings.Contains(string(r.body), "Webhook endpoint not found") {
			t.Fatalf("another merchant's endpoint: %s", r.body)
		}
	}
	if items := eventsOf(t, a.do("GET", "/webhook_endpoints", "", basicAuth(a.key2))); len(items) != 0 {
		t.Fatalf("m2 lists m1's endpoints: %v", items)
	}

	// No attempt yet; deleting answers the deletion and it is gone.
	attempts := a.do("GET", "/webhook_endpoints/"+id+"/attempts", "")
	wantBody(t, attempts, `{"object":"list","count":0,"offset":0,"total":0,"has_more":false,"list":[]}`)
	del := a.do("DELETE", "/webhook_endpoints/"+id, "")
	wantBody(t, del, fmt.Sprintf(`{"id":%q,"object":"webhook_endpoint","deleted":true}`, id))
	wantStatus(t, a.do("GET", "/webhook_endpoints/"+id, ""), 404)
	wantStatus(t, a.do("DELETE", "/webhook_endpoints/"+id, ""), 404)
}

func TestWebhookEndpointFieldErrors(t *testing.T) {
	a := newTestAPI(t)
	for _, tc := range []struct{ form, field, detail string }{
		{"description=x", "url", "url: is required"},
		{"url=", "url", "url: may not be empty"},
		{"url=ftp%3A%2F%2Fexample.com%2F", "url", "url: must be an absolute https:// URL"},
		{"url=" + url.QueryEscape(publicHook) + "&enabled_events=", "enabled_events", "enabled_events: may not be empty"},
		{"url=" + url.QueryEscape(publicHook) + "&enabled_events=customer.merged", "enabled_events", `enabled_events: unknown event type "customer.merged"`},
		{"url=" + url.QueryEscape(publicHook) + "&enabled_events=*,customer.created", "enabled_events", "enabled_events: * stands for every event type"},
		{"url=" + url.QueryEscape(publicHook) + "&disabled=true", "disabled", "disabled: cannot be set when creating"},
		{"url=" + url.QueryEscape(publicHook) + "&description=" + strings.Repeat("x", 501), "description", "description: is 501 characters long"},
	} {
		r := a.do("POST", "/webhook_endpoints", tc.form, breaksContract())
		wantStatus(t, r, 400)
		fields, _ := dig(r.json, "error_info", "fields").([]any)
		msg, _ := dig(r.json, "error_info", "developer_message").(string)
		if r.str("status") != "Invalid Request" || len(fields) == 0 || !strings.Contains(msg, tc.detail) ||
			fields[0].(map[string]any)["field_name"] != tc.field {
			t.Errorf("%s: %s", tc.form, r.body)
		}
	}
	// Bad updates too, and an unknown endpoint is a 404 once the fields pass.
	id := a.newEndpoint("url=" + url.QueryEscape(publicHook)).str("id")
	wantStatus(t, a.do("POST", "/webhook_endpoints/"+id, "disabled=maybe", breaksContract()), 400)
	wantStatus(t, a.do("POST", "/webhook_endpoints/"+id, "enabled_events=nope"), 400)
	wantStatus(t, a.do("POST", "/webhook_endpoints/we_0000000000000000", "disabled=true"), 404)
	// At most 16 endpoints.
	for i := 1; i < customerd.MaxWebhookEndpoints; i++ {
		a.newEndpoint("url=" + url.QueryEscape(publicHook))
	}
	r := a.do("POST", "/webhook_endpoints", "url="+url.QueryEscape(publicHook))
	wantStatus(t, r, 400)
	if !strings.Contains(string(r.body), "at most 16 webhook endpoints") {
		t.Fatalf("the 17th endpoint: %s", r.body)
	}
	// Bad list parameters are the usual field errors.
	wantStatus(t, a.do("GET", "/webhook_endpoints?count=0", "", breaksContract()), 400)
	wantStatus(t, a.do("GET", "/webhook_endpoints?starting_after=cst_0000000000000000", ""), 400)
	wantStatus(t, a.do("GET", "/webhook_endpoints/"+id+"/attempts?starting_after=wa_0000000000000000", ""), 400)
}

func TestWebhookURLsThatReachTheServersNetworkAreRefused(t *testing.T) {
	a := newTestAPI(t)
	for _, u := range []string{
		"https://127.0.0.1/hook",
		"https://10.0.0.1/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://[::1]/hook",
		"https://localhost/hook",
		"https://192.168.1.20:8443/hook",
		"https://[fd00::1]/hook",
		"https://0.0.0.0/hook",
		"http://93.184.216.34/hook", // public, but not https
		"https://customerd-test-name-that-does-not-exist.invalid/hook",
	} {
		r := a.do("POST", "/webhook_endpoints", "url="+url.QueryEscape(u))
		wantStatus(t, r, 400)
		fields, _ := dig(r.json, "error_info", "fields").([]any)
		msg, _ := dig(r.json, "error_info", "developer_message").(string)
		if len(fields) != 1 || fields[0].(map[string]any)["field_name"] != "url" || !strings.HasPrefix(msg, "url: ") {
			t.Errorf("%s: %s", u, r.body)
		}
		t.Logf("%s: %s", u, msg)
	}
	// An update to such a URL is refused too, and changes nothing.
	id := a.newEndpoint("url=" + url.QueryEscape(publicHook)).str("id")
	wantStatus(t, a.do("POST", "/webhook_endpoints/"+id, "url="+url.QueryEscape("https://127.0.0.1/")), 400)
	if got := a.do("GET", "/webhook_endpoints/"+id, ""); got.str("url") != publicHook {
		t.Fatalf("a refused update changed the URL: %s", got.body)
	}
}

func TestEventsAreScheduledForTheEndpointsThatWantThem(t *testing.T) {
	a := newTestAPI(t)
	all := a.newEndpoint("url=" + url.QueryEscape(publicHook)).str("id")
	deleted := a.newEndpoint("url=" + url.QueryEscape(publicHook) + "&enabled_events=customer.deleted").str("id")
	paused := a.newEndpoint("url=" + url.QueryEscape(publicHook)).str("id")
	wantStatus(t, a.do("POST", "/webhook_endpoints/"+paused, "disabled=true"), 200)
	a.newEndpoint("url="+url.QueryEscape(publicHook), basicAuth(a.key2)) // another merchant's

	c := a.create("object_reference_id=r1&mobile_number=99887766").str("id")
	wantStatus(t, a.do("POST", "/customers/"+c, "first_name=Jon"), 200)
	wantStatus(t, a.do("DELETE", "/customers/"+c, ""), 200)
	events := eventsOf(t, a.do("GET", "/events?order=asc", ""))
	var want []string
	for _, ev := range events {
		want = append(want, fmt.Sprintf("m1 %s %s", ev["id"], all))
		if ev["type"] == "customer.deleted" {
			want = append(want, fmt.Sprintf("m1 %s %s", ev["id"], deleted))
		}
	}
	var got []string
	for _, d := range a.queue.scheduled() {
		got = append(got, fmt.Sprintf("%s %s %s", d.MerchantID, d.EventID, d.EndpointID))
	}
	slices.Sort(got)
	slices.Sort(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scheduled\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A resend schedules one more, to the endpoint named; a disabled one is
	// refused, unknown ones are 404s.
	ev := events[0]["id"].(string)
	r := a.do("POST", "/events/"+ev+"/resend", "endpoint="+all)
	wantStatus(t, r, 200)
	if r.str("id") != ev || r.str("object") != "event" {
		t.Fatalf("resend answered %s", r.body)
	}
	if s := a.queue.scheduled(); len(s) != len(want)+1 || s[len(s)-1].EventID != ev || s[len(s)-1].EndpointID != all {
		t.Fatalf("after the resend: %v", s)
	}
	disabled := a.do("POST", "/events/"+ev+"/resend", "endpoint="+paused)
	wantStatus(t, disabled, 400)
	if !strings.Contains(string(disabled.body), "endpoint: is disabled") {
		t.Fatalf("resend to a disabled endpoint: %s", disabled.body)
	}
	wantStatus(t, a.do("POST", "/events/"+ev+"/resend", "", breaksContract()), 400)
	for _, r := range []*response{
		a.do("POST", "/events/evt_0000000000000000/resend", "endpoint="+all),
		a.do("POST", "/events/"+ev+"/resend", "endpoint=we_0000000000000000"),
		a.do("POST", "/events/"+ev+"/resend", "endpoint="+all, basicAuth(a.key2)),
	} {
		wantStatus(t, r, 404)
	}
	if s := a.queue.scheduled(); len(s) != len(want)+1 {
		t.Fatalf("a refused resend scheduled a delivery: %v", s)
	}
}

func TestWebhookEndpointWritesAreIdempotent(t *testing.T) {
	a := newTestAPI(t)
	form := "url=" + url.QueryEscape(publicHook) + "&description=once"
	first := a.newEndpoint(form, header("Idempotency-Key", "create-hook-1"))
	again := a.do("POST", "/webhook_endpoints", "description=once&url="+url.QueryEscape(publicHook), header("Idempotency-Key", "create-hook-1"))
	wantStatus(t, again, 200)
	if string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay:\n%s\nfirst:\n%s", again.body, first.body)
	}
	if n := eventsOf(t, a.do("GET", "/webhook_endpoints", "")); len(n) != 1 {
		t.Fatalf("a replayed create made %d endpoints", len(n))
	}
	wantStatus(t, a.do("POST", "/webhook_endpoints", "url="+url.QueryEscape(publicHook), header("Idempotency-Key", "create-hook-1")), 400)
	id := first.str("id")
	del := a.do("DELETE", "/webhook_endpoints/"+id, "", header("Idempotency-Key", "delete-hook-1"))
	wantStatus(t, del, 200)
	replayed := a.do("DELETE", "/webhook_endpoints/"+id, "", header("Idempotency-Key", "delete-hook-1"))
	if replayed.status != 200 || string(replayed.body) != string(del.body) {
		t.Fatalf("a replayed delete: %d %s", replayed.status, replayed.body)
	}
}
