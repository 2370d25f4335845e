package dashboard_test

import (
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"customerd/dashboard"
	"customerd/ratelimit"
)

func TestSignInOpensASessionWithAStrictCookie(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	if p := b.get("/dashboard/customers"); !p.signedOut() {
		t.Fatalf("before sign-in: %d %q, want a redirect to sign in", p.status, p.location)
	}
	signin := b.get("/dashboard/signin")
	wantStatus(t, signin, http.StatusOK)
	if !strings.Contains(signin.body, `<label for="api_key">`) {
		t.Error("the key's input has no label")
	}
	p := b.post("/dashboard/signin", url.Values{"api_key": {d.key}})
	if p.status != http.StatusSeeOther || p.location != "/dashboard/customers" {
		t.Fatalf("sign-in: %d %q", p.status, p.location)
	}
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "customerd_session=") {
			cookie = c
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/dashboard/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP: the browser would drop it", cookie)
	}
	if strings.Contains(cookie, d.key) {
		t.Error("the session cookie holds the API key")
	}
	list := b.get("/dashboard/customers")
	wantStatus(t, list, http.StatusOK)
	if !strings.Contains(list.body, "m1") {
		t.Error("the page does not name the signed-in merchant")
	}
}

// Over TLS the cookies are Secure.
func TestCookiesAreSecureOverTLS(t *testing.T) {
	d := newTestDash(t, options{})
	h := dashboard.New(dashboard.Config{Service: d.svc})
	get := httptest.NewRequest("GET", "https://customerd/dashboard/signin", nil)
	get.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, get)
	signinCookie := rec.Result().Cookies()[0]
	if !signinCookie.Secure {
		t.Errorf("sign-in cookie over TLS is not Secure: %v", signinCookie)
	}
	token := csrfField.FindStringSubmatch(rec.Body.String())[1]
	post := httptest.NewRequest("POST", "https://customerd/dashboard/signin",
		strings.NewReader(url.Values{"api_key": {d.key}, "csrf": {token}}.Encode()))
	post.TLS = &tls.ConnectionState{}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.AddCookie(signinCookie)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, post)
	found := false
	for _, c := range rec.Result().Cookies() {
		if c.Name == "customerd_session" {
			found = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie over TLS: %+v", c)
			}
		}
	}
	if !found {
		t.Fatalf("no session cookie: %d %s", rec.Code, rec.Body.String())
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers")
	if p := b.post("/dashboard/signout", url.Values{}); !p.signedOut() {
		t.Fatalf("sign-out: %d %q", p.status, p.location)
	}
	if p := b.get("/dashboard/customers"); !p.signedOut() {
		t.Fatalf("after sign-out: %d %q, want a redirect to sign in", p.status, p.location)
	}
}

// A stolen cookie is worth nothing after sign-out: the session is gone on
// the server, not only in the browser.
func TestSignedOutCookieIsRefused(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	u, _ := url.Parse(d.srv.URL + "/dashboard/")
	stolen := b.client.Jar.Cookies(u)
	b.get("/dashboard/customers")
	b.post("/dashboard/signout", url.Values{})
	thief := d.browser()
	thief.client.Jar.SetCookies(u, stolen)
	if p := thief.get("/dashboard/customers"); !p.signedOut() {
		t.Fatalf("a signed-out session's cookie: %d, want a redirect to sign in", p.status)
	}
}

func TestWrongKeyIsRefusedAndCountsAgainstTheAPIsLimit(t *testing.T) {
	d := newTestDash(t, options{authFailures: 3})
	b := d.browser()
	b.get("/dashboard/signin")
	wrong := "cdk_" + strings.Repeat("0", 40)
	for i := range 3 {
		p := b.post("/dashboard/signin", url.Values{"api_key": {wrong}})
		wantStatus(t, p, http.StatusUnauthorized)
		if !strings.Contains(p.body, "not valid") {
			t.Fatalf("attempt %d: no message:\n%s", i, p.body)
		}
	}
	// The address's budget is spent: the next sign-in is refused before
	// its key is looked up, the right key included.
	p := b.post("/dashboard/signin", url.Values{"api_key": {d.key}})
	wantStatus(t, p, http.StatusTooManyRequests)
	if p.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The same limit as the API's: the API refuses that address too.
	req, _ := http.NewRequest("GET", d.srv.URL+"/customers", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(d.key+":")))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the API after three failed sign-ins: %d, want 429", res.StatusCode)
	}
	// Once the window has passed, the right key signs in.
	d.clock.advance(time.Minute + time.Second)
	b.signIn(d.key)
	if strings.Contains(d.accessLog.String(), wrong) || strings.Contains(d.accessLog.String(), d.key) {
		t.Error("the access log holds a key")
	}
}

// The API's failures count against sign-ins as well: one budget per address.
func TestAPIFailuresCountAgainstSignIn(t *testing.T) {
	d := newTestDash(t, options{authFailures: 2})
	for range 2 {
		req, _ := http.NewRequest("GET", d.srv.URL+"/customers", nil)
		req.SetBasicAuth("cdk_"+strings.Repeat("1", 40), "")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	b := d.browser()
	b.get("/dashboard/signin")
	wantStatus(t, b.post("/dashboard/signin", url.Values{"api_key": {d.key}}), http.StatusTooManyRequests)
}

// The limiter a Handler is given is the one it uses: with a limit of one,
// one failure blocks the address.
func TestHandlerUsesTheWindowItIsGiven(t *testing.T) {
	d := newTestDash(t, options{})
	c := newClock()
	w := ratelimit.NewWindow(1, time.Minute, 0, c.now)
	h := dashboard.New(dashboard.Config{Service: d.svc, AuthFailures: w, ClientKey: func(*http.Request) string { return "client" }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	d.srv = srv
	b := d.browser()
	b.get("/dashboard/signin")
	wantStatus(t, b.post("/dashboard/signin", url.Values{"api_key": {"nonsense"}}), http.StatusUnauthorized)
	if ok, _ := w.Check("client"); ok {
		t.Fatal("the failed sign-in did not count in the window")
	}
	wantStatus(t, b.post("/dashboard/signin", url.Values{"api_key": {d.key}}), http.StatusTooManyRequests)
}

func TestSessionExpiresWhenIdleAndAtItsMaximumAge(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	b.signIn(d.key)
	// Used every 20 minutes, it lives on.
	for range 3 {
		d.clock.advance(20 * time.Minute)
		wantStatus(t, b.get("/dashboard/customers"), http.StatusOK)
	}
	d.clock.advance(dashboard.DefaultIdleTimeout)
	if p := b.get("/dashboard/customers"); !p.signedOut() {
		t.Fatalf("after %v idle: %d, want a redirect to sign in", dashboard.DefaultIdleTimeout, p.status)
	}
	b.signIn(d.key)
	for elapsed := time.Duration(0); elapsed < dashboard.DefaultMaxSessionAge-20*time.Minute; elapsed += 20 * time.Minute {
		d.clock.advance(20 * time.Minute)
		wantStatus(t, b.get("/dashboard/customers"), http.StatusOK)
	}
	d.clock.advance(20 * time.Minute)
	if p := b.get("/dashboard/customers"); !p.signedOut() {
		t.Fatalf("after %v in use: %d, want a redirect to sign in", dashboard.DefaultMaxSessionAge, p.status)
	}
}

func TestRevokingTheKeyEndsItsSessions(t *testing.T) {
	d := newTestDash(t, options{keyCacheTTL: 50 * time.Millisecond})
	other, err := d.svc.CreateAPIKey(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	b, kept := d.browser(), d.browser()
	b.signIn(d.key)
	kept.signIn(other)
	if err := d.svc.RevokeAPIKey(ctx, d.key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p := b.get("/dashboard/customers"); !p.signedOut(); p = b.get("/dashboard/customers") {
		if time.Now().After(deadline) {
			t.Fatalf("the revoked key's session still serves pages: %d", p.status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantStatus(t, kept.get("/dashboard/customers"), http.StatusOK)
	// Signing in again with the revoked key fails.
	b.get("/dashboard/signin")
	wantStatus(t, b.post("/dashboard/signin", url.Values{"api_key": {d.key}}), http.StatusUnauthorized)
}

func TestFormsWithoutTheirCSRFTokenAreRefused(t *testing.T) {
	d := newTestDash(t, options{})
	c := d.create("ref-1", "99887766", "jon@example.com", "Jon")
	b := d.browser()
	b.signIn(d.key)
	b.get("/dashboard/customers/" + c.ID + "/edit")
	edit := url.Values{"mobile_number": {"99887766"}, "mobile_country_code": {"91"}, "email_address": {"jon@example.com"}, "first_name": {"Mallory"}}
	other := "x" + b.csrf[1:] // the session's token with its first character changed
	if b.csrf[0] == 'x' {
		other = "y" + b.csrf[1:]
	}
	for _, tc := range []struct {
		name string
		csrf []string
	}{
		{"no token", nil},
		{"an empty token", []string{""}},
		{"another token", []string{other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range edit {
				form[k] = v
			}
			if tc.csrf != nil {
				form["csrf"] = tc.csrf
			}
			req, _ := http.NewRequest("POST", d.srv.URL+"/dashboard/customers/"+c.ID+"/edit", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			p := b.do(req)
			wantStatus(t, p, http.StatusForbidden)
		})
	}
	for _, path := range []string{"/erase", ""} {
		req, _ := http.NewRequest("POST", d.srv.URL+"/dashboard/customers/"+c.ID+path, strings.NewReader("first_name=Mallory"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p := b.do(req); p.status == http.StatusOK || p.status == http.StatusSeeOther {
			t.Errorf("POST %s without a token: %d", path, p.status)
		}
	}
	got, err := d.svc.FindCustomer(ctx, "m1", c.ID)
	if err != nil || got.FirstName != "Jon" {
		t.Fatalf("after the refused forms: %v %v, want the customer unchanged", got, err)
	}
	// Sign-out is a form too.
	req, _ := http.NewRequest("POST", d.srv.URL+"/dashboard/signout", nil)
	wantStatus(t, b.do(req), http.StatusForbidden)
	wantStatus(t, b.get("/dashboard/customers"), http.StatusOK)
}

// The sign-in form has a token of its own, in a cookie, before any session.
func TestSignInWithoutItsTokenIsRefused(t *testing.T) {
	d := newTestDash(t, options{})
	b := d.browser()
	p := b.post("/dashboard/signin", url.Values{"api_key": {d.key}, "csrf": {"made-up"}})
	wantStatus(t, p, http.StatusForbidden)
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "customerd_session=") {
			t.Fatal("a sign-in without its token opened a session")
		}
	}
}
