package dashboard_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"customerd"
)

// hostile is a reference the field rules allow that would run script if a
// page printed it raw.
const hostile = `<img src=x onerror=alert(1)>`

// hostileEscaped is how html/template prints it in text.
const hostileEscaped = `&lt;img src=x onerror=alert(1)&gt;`

func wantEscaped(t *testing.T, name string, p *page) {
	t.Helper()
	if strings.Contains(p.body, "<img") {
		t.Errorf("%s: the hostile reference is in the page raw:\n%s", name, p.body)
	}
	if !strings.Contains(p.body, hostileEscaped) {
		t.Errorf("%s: the reference is not shown, escaped:\n%s", name, p.body)
	}
}

// Every page that shows a customer's reference shows it escaped: the list,
// a search's results, the customer with its history, the edit form and the
// erasure's confirmation.
func TestHostileValuesAreEscapedOnEveryPage(t *testing.T) {
	if err := customerd.ValidateObjectReferenceID(hostile); err != nil {
		t.Fatalf("the field rules refuse %q (%v): pick another hostile value", hostile, err)
	}
	d := newTestDash(t, options{})
	c := d.create(hostile, "99887766", "jon@example.com", "Jon")
	if _, err := d.svc.UpdateCustomer(ctx, customerd.Caller{MerchantID: "m1", RequestID: "t"}, c.ID,
		customerd.UpdateRequest{FirstName: customerd.Present("Jonathan")}); err != nil {
		t.Fatal(err)
	}
	b := d.browser()
	b.signIn(d.key)
	list := b.get("/dashboard/customers")
	wantStatus(t, list, http.StatusOK)
	wantEscaped(t, "list", list)
	wantEscaped(t, "search by reference", b.post("/dashboard/customers/search", url.Values{"by": {"object_reference_id"}, "q": {hostile}}))
	wantEscaped(t, "search by email", b.post("/dashboard/customers/search", url.Values{"by": {"email_address"}, "q": {"jon@example.com"}}))
	cust := b.get("/dashboard/customers/" + c.ID)
	wantEscaped(t, "customer", cust)
	// The history's created event shows it too, in the timeline's list.
	timeline := cust.body[strings.Index(cust.body, `<ol class="timeline">`):]
	wantEscaped(t, "timeline", &page{body: timeline})
	if !strings.Contains(timeline, "Jon</del> → <ins>Jonathan") {
		t.Errorf("the timeline does not show the update old → new:\n%s", timeline)
	}
	wantEscaped(t, "edit", b.get("/dashboard/customers/"+c.ID+"/edit"))
	wantEscaped(t, "erase", b.get("/dashboard/customers/"+c.ID+"/erase"))
	// An invalid edit shows the form again, with the hostile reference.
	bad := b.post("/dashboard/customers/"+c.ID+"/edit", url.Values{"mobile_number": {"99887766"}, "email_address": {"x"}})
	wantStatus(t, bad, http.StatusBadRequest)
	wantEscaped(t, "edit with errors", bad)
}

// Hostile values typed into a search come back escaped in the form.
func TestSearchValueIsEscapedInTheForm(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers")
	p := b.post("/dashboard/customers/search", url.Values{"by": {"object_reference_id"}, "q": {`"><script>alert(1)</script>`}})
	wantStatus(t, p, http.StatusOK)
	if strings.Contains(p.body, "<script>alert") {
		t.Fatalf("the search value is in the page raw:\n%s", p.body)
	}
}

// A webhook endpoint's URL and description are the merchant's, and shown
// escaped too.
func TestWebhookValuesAreEscaped(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/webhooks")
	p := b.post("/dashboard/webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}, "description": {hostile}})
	wantStatus(t, p, http.StatusOK)
	wantEscaped(t, "created endpoint", p)
	wantEscaped(t, "endpoints", b.get("/dashboard/webhooks"))
}

// Searches are POSTs answered with the page itself: the value is in no
// URL, no redirect and no access log record.
func TestSearchKeepsPersonalDataOutOfURLsAndLogs(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("secret-ref-77", "91234567", "private.person@example.com", "Pat")
	d.create("other-ref", "91234568", "someone@example.com", "Sam")
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers")
	for _, tc := range []struct{ by, q string }{
		{"email_address", "private.person@example.com"},
		{"mobile_number", "91234567"},
		{"object_reference_id", "secret-ref-77"},
	} {
		p := b.post("/dashboard/customers/search", url.Values{"by": {tc.by}, "q": {tc.q}})
		wantStatus(t, p, http.StatusOK)
		if p.location != "" {
			t.Errorf("search by %s redirects to %q", tc.by, p.location)
		}
		if !strings.Contains(p.body, `href="/dashboard/customers/`+c.ID+`"`) {
			t.Errorf("search by %s does not find the customer:\n%s", tc.by, p.body)
		}
		if strings.Contains(p.body, "someone@example.com") {
			t.Errorf("search by %s shows another customer", tc.by)
		}
		for _, href := range regexp.MustCompile(`(?:href|action)="([^"]*)"`).FindAllStringSubmatch(p.body, -1) {
			for _, personal := range []string{"private", "91234567", "secret-ref", "Pat"} {
				if strings.Contains(href[1], personal) {
					t.Errorf("a link of the results carries personal data: %s", href[1])
				}
			}
		}
	}
	log := d.accessLog.String()
	if !strings.Contains(log, `"route":"/dashboard/"`) {
		t.Fatalf("no access record of the dashboard's requests:\n%s", log)
	}
	for _, personal := range []string{"private", "91234567", "secret-ref", "search", c.ID} {
		if strings.Contains(log, personal) {
			t.Errorf("the access log holds %q:\n%s", personal, log)
		}
	}
}

// A search value the field's rule refuses is reported next to the input.
func TestSearchErrorIsShownByTheInput(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers")
	p := b.post("/dashboard/customers/search", url.Values{"by": {"mobile_number"}, "q": {"12ab"}})
	wantStatus(t, p, http.StatusBadRequest)
	if !strings.Contains(p.body, `<p class="field-error" id="q-error">may contain digits only</p>`) {
		t.Errorf("no error by the input:\n%s", p.body)
	}
}

func TestCustomersArePagedWithTheListCursor(t *testing.T) {
	d := newTestDash(t, options{})
	var all []*customerd.Customer
	for i := range 60 {
		all = append(all, d.create("page-ref-"+string(rune('a'+i/26))+string(rune('a'+i%26)), "99887766", "", ""))
	}
	b := d.browser()
	b.signIn(d.key)
	seen := map[string]bool{}
	ids := regexp.MustCompile(`href="/dashboard/customers/(cst_[a-z0-9]{16})"`)
	older := regexp.MustCompile(`href="(/dashboard/customers\?after=cst_[a-z0-9]{16})"`)
	path := "/dashboard/customers"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := b.get(path)
		wantStatus(t, p, http.StatusOK)
		for _, m := range ids.FindAllStringSubmatch(p.body, -1) {
			if seen[m[1]] {
				t.Errorf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		path = ""
		if m := older.FindStringSubmatch(p.body); m != nil {
			path = m[1]
		}
		if pages > 0 && !strings.Contains(p.body, "?before=") {
			t.Errorf("page %d has no link to the newer ones", pages+1)
		}
	}
	if len(seen) != len(all) {
		t.Errorf("paging showed %d customers, want %d", len(seen), len(all))
	}
	// Back from the second page: the first page's customers.
	first := b.get("/dashboard/customers")
	firstIDs := ids.FindAllStringSubmatch(first.body, -1)
	second := b.get(older.FindStringSubmatch(first.body)[1])
	m := regexp.MustCompile(`href="(/dashboard/customers\?before=cst_[a-z0-9]{16})"`).FindStringSubmatch(second.body)
	if m == nil {
		t.Fatalf("no newer link on the second page:\n%s", second.body)
	}
	back := ids.FindAllStringSubmatch(b.get(m[1]).body, -1)
	if len(back) != 25 || back[0][1] != firstIDs[0][1] || back[24][1] != firstIDs[24][1] {
		t.Errorf("the newer page has %d customers, want the first page's 25", len(back))
	}
}

func TestEditShowsEachErrorByItsFieldThenSaves(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("edit-ref", "99887766", "jon@example.com", "Jon")
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers/" + c.ID + "/edit")
	form := url.Values{"mobile_country_code": {"91"}, "mobile_number": {"12x"}, "email_address": {"jon@"},
		"first_name": {"Jon Snow"}, "last_name": {""}}
	p := b.post("/dashboard/customers/"+c.ID+"/edit", form)
	wantStatus(t, p, http.StatusBadRequest)
	for field, msg := range map[string]string{
		"mobile_number": "Mobile number: may contain digits only",
		"email_address": "Email address: the domain needs at least two labels",
		"first_name":    "First name: character ' ' is not allowed",
	} {
		want := `<p class="field-error" id="` + field + `-error">` + strings.ReplaceAll(msg, "'", "&#39;") + `</p>`
		if !strings.Contains(p.body, want) {
			t.Errorf("no %q next to %s:\n%s", msg, field, p.body)
		}
		if !strings.Contains(p.body, `id="`+field+`"`) || !strings.Contains(p.body, `aria-describedby="`+field+`-hint `+field+`-error"`) {
			t.Errorf("the input of %s is not tied to its error", field)
		}
	}
	if strings.Contains(p.body, `id="last_name-error"`) {
		t.Error("a valid field is marked")
	}
	if !strings.Contains(p.body, `value="12x"`) {
		t.Error("the form does not keep what was typed")
	}
	if got, _ := d.svc.FindCustomer(ctx, "m1", c.ID); got.EmailAddress != "jon@example.com" {
		t.Fatalf("a refused edit changed the customer: %+v", got)
	}
	form = url.Values{"mobile_country_code": {"91"}, "mobile_number": {"99887766"}, "email_address": {"jon.snow@example.com"},
		"first_name": {"Jon"}, "last_name": {"Snow"}}
	p = b.post("/dashboard/customers/"+c.ID+"/edit", form)
	if p.status != http.StatusSeeOther || p.location != "/dashboard/customers/"+c.ID {
		t.Fatalf("valid edit: %d %q\n%s", p.status, p.location, p.body)
	}
	got, _ := d.svc.FindCustomer(ctx, "m1", c.ID)
	if got.EmailAddress != "jon.snow@example.com" || got.LastName != "Snow" || got.FirstName != "Jon" {
		t.Fatalf("after the edit: %+v", got)
	}
	events, _, _, err := d.svc.CustomerEvents(ctx, "m1", c.ID, customerd.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, pv := range events[0].Previous {
		if pv.Field != customerd.FieldLastUpdated {
			changed = append(changed, pv.Field)
		}
	}
	if strings.Join(changed, ",") != "email_address,last_name" {
		t.Errorf("the edit changed %v: only the fields the form changed may be sent", changed)
	}
	if prefix, _ := customerd.APIKeyPrefix(d.key); events[0].Caller.APIKeyPrefix != prefix {
		t.Errorf("the event's key is %q, want the session's %q", events[0].Caller.APIKeyPrefix, prefix)
	}
	page := b.get("/dashboard/customers/" + c.ID)
	if !strings.Contains(page.body, "Saved.") || !strings.Contains(page.body, "<del>jon@example.com</del> → <ins>jon.snow@example.com</ins>") {
		t.Errorf("the customer page does not show the change:\n%s", page.body)
	}
}

func TestEraseAsksFirstNamingTheCustomer(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("erase-ref", "99887766", "ann@example.com", "Ann")
	b := d.browser()
	b.signIn(d.key)
	confirm := b.get("/dashboard/customers/" + c.ID + "/erase")
	wantStatus(t, confirm, http.StatusOK)
	if !strings.Contains(confirm.body, "Erase Ann?") || !strings.Contains(confirm.body, "erase-ref") {
		t.Errorf("the confirmation does not name the customer:\n%s", confirm.body)
	}
	if _, err := d.svc.FindCustomer(ctx, "m1", c.ID); err != nil {
		t.Fatal("showing the confirmation erased the customer")
	}
	p := b.post("/dashboard/customers/"+c.ID+"/erase", url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("erase: %d\n%s", p.status, p.body)
	}
	if _, err := d.svc.FindCustomer(ctx, "m1", c.ID); customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatalf("after erasure: %v", err)
	}
	list := b.get("/dashboard/customers")
	if !strings.Contains(list.body, "has been erased") || strings.Contains(list.body, "erase-ref") {
		t.Errorf("after erasure the list:\n%s", list.body)
	}
	wantStatus(t, b.get("/dashboard/customers/"+c.ID), http.StatusNotFound)
}

// A customer's page is found by id only: a reference in the path would be
// personal data in a URL.
func TestCustomerPagesTakeIDsOnly(t *testing.T) {
	d := newTestDash(t, options{})
	d.create("jon@example.com", "99887766", "", "")
	b := d.browser()
	b.signIn(d.key)
	wantStatus(t, b.get("/dashboard/customers/jon@example.com"), http.StatusNotFound)
}

func TestWebhookEndpointsLifecycle(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/webhooks")
	bad := b.post("/dashboard/webhooks", url.Values{"url": {"ftp://x"}})
	wantStatus(t, bad, http.StatusBadRequest)
	if !strings.Contains(bad.body, `id="url-error"`) {
		t.Errorf("no error by the URL:\n%s", bad.body)
	}
	created := b.post("/dashboard/webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}, "events": {"customer.updated"}})
	wantStatus(t, created, http.StatusOK)
	secret := regexp.MustCompile(`id="secret" type="text" readonly value="([^"]+)"`).FindStringSubmatch(created.body)
	if secret == nil {
		t.Fatalf("the secret is not shown:\n%s", created.body)
	}
	id := regexp.MustCompile(`we_[a-z0-9]{16}`).FindString(created.body)
	show := b.get("/dashboard/webhooks/" + id)
	wantStatus(t, show, http.StatusOK)
	if strings.Contains(show.body, secret[1]) {
		t.Error("the secret is shown a second time")
	}
	if !strings.Contains(show.body, "customer.updated") || !strings.Contains(show.body, "No delivery attempts yet") {
		t.Errorf("endpoint page:\n%s", show.body)
	}
	if p := b.post("/dashboard/webhooks/"+id+"/disable", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", p.status, p.body)
	}
	if e, _ := d.svc.FindWebhookEndpoint(ctx, "m1", id); !e.Disabled {
		t.Fatal("not disabled")
	}
	if !strings.Contains(b.get("/dashboard/webhooks/"+id).body, "Enable</button>") {
		t.Error("a disabled endpoint offers no enable")
	}
	b.post("/dashboard/webhooks/"+id+"/enable", url.Values{})
	if e, _ := d.svc.FindWebhookEndpoint(ctx, "m1", id); e.Disabled {
		t.Fatal("not enabled again")
	}
	if p := b.post("/dashboard/webhooks/"+id+"/delete", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.status)
	}
	if _, err := d.svc.FindWebhookEndpoint(ctx, "m1", id); customerd.ErrorCode(err) != customerd.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
}

// Every answer of the dashboard has the strict policy, pages are never
// cached, and no page refers to another origin.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("hdr-ref", "99887766", "", "")
	b := d.browser()
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	check := func(name string, p *page, page bool) {
		t.Helper()
		if got := p.header.Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP %q", name, got)
		}
		if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", name, p.header)
		}
		if page && p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, p.header.Get("Cache-Control"))
		}
		for _, bad := range []string{`href="http`, `src="http`, `action="http`, `="//`, "<script>", " style=", " onclick", " onload"} {
			if strings.Contains(p.body, bad) {
				t.Errorf("%s: the page has %q", name, bad)
			}
		}
	}
	check("signed out", b.get("/dashboard/customers"), true)
	check("sign-in", b.get("/dashboard/signin"), true)
	check("not found", b.get("/dashboard/nothing"), true)
	b.signIn(d.key)
	for _, path := range []string{"/dashboard/customers", "/dashboard/customers/" + c.ID, "/dashboard/customers/" + c.ID + "/edit",
		"/dashboard/customers/" + c.ID + "/erase", "/dashboard/webhooks"} {
		check(path, b.get(path), true)
	}
	check("style.css", b.get("/dashboard/assets/style.css"), false)
}

// A page and everything it loads weigh under 100 KB.
func TestPagesWeighUnder100KB(t *testing.T) {
	d := newTestDash(t, options{})
	var last *customerd.Customer
	for i := range 30 {
		last = d.create("weight-ref-"+strings.Repeat("x", 100)+string(rune('a'+i)), "9988776655443322", "a.rather.long.address@example.com", "Jonathan")
	}
	for i := range 40 {
		if _, err := d.svc.UpdateCustomer(ctx, customerd.Caller{MerchantID: "m1", RequestID: "t"}, last.ID,
			customerd.UpdateRequest{LastName: customerd.Present("Name" + strings.Repeat("y", 40) + string(rune('a'+i%26)))}); err != nil {
			t.Fatal(err)
		}
	}
	b, signedOut := d.browser(), d.browser()
	b.signIn(d.key)
	assetLinks := regexp.MustCompile(`(?:href|src)="(/dashboard/assets/[^"]+)"`)
	for _, path := range []string{"/dashboard/signin", "/dashboard/customers", "/dashboard/customers/" + last.ID, "/dashboard/webhooks"} {
		p := b.get(path)
		if path == "/dashboard/signin" {
			p = signedOut.get(path)
		}
		wantStatus(t, p, http.StatusOK)
		total := len(p.body)
		for _, m := range assetLinks.FindAllStringSubmatch(p.body, -1) {
			a := b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
			wantStatus(t, a, http.StatusOK)
			total += len(a.body)
		}
		if total >= 100<<10 {
			t.Errorf("%s weighs %d bytes with its assets, want under 100 KB", path, total)
		}
		t.Logf("%s: %d bytes with its assets", path, total)
	}
}

// Every input a person fills in has a label: the pages are usable with a
// screen reader and by keyboard.
func TestEveryInputHasALabel(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("label-ref", "99887766", "", "")
	b := d.browser()
	inputs := regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*>`)
	id := regexp.MustCompile(`\bid="([^"]+)"`)
	check := func(path string, p *page) {
		t.Helper()
		for _, in := range inputs.FindAllString(p.body, -1) {
			if strings.Contains(in, `type="hidden"`) {
				continue
			}
			m := id.FindStringSubmatch(in)
			if m == nil || !strings.Contains(p.body, `<label for="`+m[1]+`">`) {
				t.Errorf("%s: %s has no label", path, in)
			}
		}
	}
	check("/dashboard/signin", b.get("/dashboard/signin"))
	b.signIn(d.key)
	for _, path := range []string{"/dashboard/customers", "/dashboard/customers/" + c.ID + "/edit",
		"/dashboard/customers/" + c.ID + "/erase", "/dashboard/webhooks"} {
		check(path, b.get(path))
	}
	b.get("/dashboard/webhooks")
	check("new endpoint", b.post("/dashboard/webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}}))
}

// A change made from the dashboard is recorded with the request's id, the
// one its answer and its access record carry.
func TestChangesRecordTheRequestID(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("rid-ref", "99887766", "", "")
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers/" + c.ID + "/edit")
	p := b.post("/dashboard/customers/"+c.ID+"/edit", url.Values{"mobile_country_code": {"91"}, "mobile_number": {"99887700"}})
	rid := p.header.Get("X-Request-Id")
	if p.status != http.StatusSeeOther || rid == "" {
		t.Fatalf("edit: %d, request id %q", p.status, rid)
	}
	events, _, _, err := d.svc.CustomerEvents(ctx, "m1", c.ID, customerd.Page{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if events[0].Caller.RequestID != rid {
		t.Errorf("the event's request id is %q, want the answer's %q", events[0].Caller.RequestID, rid)
	}
	if !strings.Contains(d.accessLog.String(), `"request_id":"`+rid+`"`) {
		t.Error("no access record with the request's id")
	}
}

// An endpoint's page lists its recent attempts with their status, newest
// first, the receiver's error escaped.
func TestWebhookAttemptsAreShownWithTheirStatus(t *testing.T) {
	d := newTestDash(t, options{})
	e, err := d.svc.CreateWebhookEndpoint(ctx, customerd.Caller{MerchantID: "m1", RequestID: "t"},
		customerd.EndpointRequest{URL: customerd.Present("http://127.0.0.1:9/hook")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := d.svc.RecordWebhookAttempts(ctx, []customerd.WebhookAttempt{
		{MerchantID: "m1", EndpointID: e.ID, EventID: "evt_aaaaaaaaaaaaaaaa", Attempt: 1, Created: t0, StatusCode: 500,
			Error: "<b>receiver said 500</b>", NextRetry: t0.Add(30 * time.Second)},
		{MerchantID: "m1", EndpointID: e.ID, EventID: "evt_aaaaaaaaaaaaaaaa", Attempt: 2, Created: t0.Add(30 * time.Second),
			StatusCode: 200, Delivered: true},
	}, nil); err != nil {
		t.Fatal(err)
	}
	b := d.browser()
	b.signIn(d.key)
	p := b.get("/dashboard/webhooks/" + e.ID)
	wantStatus(t, p, http.StatusOK)
	delivered, failed := strings.Index(p.body, "delivered 200"), strings.Index(p.body, "failed 500")
	if delivered < 0 || failed < 0 || delivered > failed {
		t.Errorf("want the delivered attempt, then the failed one:\n%s", p.body)
	}
	if !strings.Contains(p.body, "&lt;b&gt;receiver said 500&lt;/b&gt;") {
		t.Errorf("the attempt's error is not shown escaped:\n%s", p.body)
	}
	if !strings.Contains(p.body, `<time datetime="2026-12-01T10:00:30Z" title="2026-12-01 10:00:30 UTC">`) {
		t.Errorf("the next retry's time is not shown as a <time>:\n%s", p.body)
	}
}
