//go:build unix

package browsertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"customerd/internal/binarytest"
	"customerd/internal/syncbuf"
)

// server is a running "customerd serve" on a fresh SQLite file.
type server struct {
	addr, key, dashboard string
	stderr               *syncbuf.Buffer
}

// startServer starts the binary and reads, from its first run's log, the
// sandbox key and the dashboard's address, as a newcomer would.
func startServer(t *testing.T) *server {
	t.Helper()
	bin := binarytest.Path(t)
	s := &server{stderr: &syncbuf.Buffer{}}
	// Insecure webhooks: the test's endpoint is on 127.0.0.1.
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:"+filepath.Join(t.TempDir(), "c.db"),
		"--webhook-allow-insecure")
	cmd.Env = append(binarytest.ChildEnv(), "GORACE=halt_on_error=1")
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for s.addr == "" {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			var rec struct {
				Msg, Addr, Dashboard string
				APIKey               string `json:"api_key"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			switch {
			case strings.HasPrefix(rec.Msg, "first run"):
				s.key = rec.APIKey
				if rec.Dashboard == "" {
					t.Errorf("the first run's record does not give the dashboard's address: %s", line)
				}
			case rec.Msg == "listening":
				s.addr, s.dashboard = rec.Addr, rec.Dashboard
			}
		}
		select {
		case <-exited:
			t.Fatalf("customerd serve exited:\n%s", s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("customerd serve did not start:\n%s", s.stderr.String())
		}
	}
	if s.key == "" || s.dashboard != "http://"+s.addr+"/dashboard/" {
		t.Fatalf("first run gave key %q and dashboard %q:\n%s", s.key, s.dashboard, s.stderr.String())
	}
	return s
}

// createCustomer creates a customer through the API.
func (s *server) createCustomer(t *testing.T, form url.Values) string {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.addr+"/customers", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.key+":")))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var c struct{ ID string }
	if res.StatusCode != 200 || json.Unmarshal(body, &c) != nil {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	return c.ID
}

// console collects what the pages write to the console that is an error:
// console.error, uncaught exceptions, and the browser's own error and
// security entries (a CSP violation is one).
type console struct {
	mu   sync.Mutex
	msgs []string
}

func (c *console) watch(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Source == "security" {
				c.mu.Lock()
				c.msgs = append(c.msgs, m.String()+" ("+m.URL+")")
				c.mu.Unlock()
			}
		}
	}()
}

func (c *console) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.msgs
	c.msgs = nil
	return out
}

// violationWatch records, on every page, the CSP violations the page
// reports, before any of its own scripts run.
const violationWatch = `window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) { window.__csp.push(e.violatedDirective + " " + e.blockedURI); });`

// The newcomer's path through the dashboard, in Chromium: sign in, find a
// customer created through the API by email, fix an email after seeing
// the field's error, read the change in the history, erase the customer,
// and sign out.
func TestDashboardInABrowser(t *testing.T) {
	chromium := needChromium(t)
	s := startServer(t)
	artifacts := os.Getenv(envArtifacts)
	if artifacts == "" {
		var err error
		if artifacts, err = os.MkdirTemp("", "customerd-dashboard-"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Headless, chromedp.WindowSize(1280, 900), chromedp.DisableGPU)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	var cons console
	cons.watch(ctx)
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\nserver log:\n%s", step, err, s.stderr.String())
		}
	}
	// load runs actions that make the page navigate, and waits for the new page.
	load := func(step string, actions ...chromedp.Action[chromedp.Void]) int64 {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		res, err := chromedp.RunResponse(sctx, actions...)
		if err != nil {
			t.Fatalf("%s: %v\nserver log:\n%s", step, err, s.stderr.String())
		}
		return res.Status
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	// clean checks that the page so far wrote no error and broke no
	// policy. The browser logs every answer of status 400 or more as an
	// error; expected names the one status the step expects, if any.
	clean := func(step string, expected ...int) {
		t.Helper()
		if v := eval(`JSON.stringify(window.__csp || [])`); v != "[]" {
			t.Errorf("%s: CSP violations: %s", step, v)
		}
		time.Sleep(50 * time.Millisecond) // console events arrive on their own
		var unexpected []string
		for _, m := range cons.take() {
			if len(expected) == 1 && strings.HasPrefix(m, fmt.Sprintf("error: Failed to load resource: the server responded with a status of %d ", expected[0])) {
				expected = nil
				continue
			}
			unexpected = append(unexpected, m)
		}
		if len(unexpected) > 0 {
			t.Errorf("%s: console errors:\n%s", step, strings.Join(unexpected, "\n"))
		}
		if len(expected) > 0 {
			t.Errorf("%s: the browser logged no answer of status %d", step, expected[0])
		}
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("prepare", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: violationWatch}); err != nil {
			return err
		}
		// Far from UTC, so that the local times are seen to differ.
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"})
		return err
	}))

	// 1. Sign in, by keyboard: the key's input has the focus, Enter submits.
	run("open the dashboard", chromedp.Navigate(s.dashboard), chromedp.WaitVisible(chromedp.ID("api_key")))
	if got := eval(`document.activeElement.id`); got != "api_key" {
		t.Errorf("the sign-in page's focus is on %q, want the key's input", got)
	}
	shot("signin-1280")
	load("sign in", chromedp.SendKeys(chromedp.ID("api_key"), s.key+"\r"))
	run("customers", chromedp.WaitVisible(chromedp.CSS("form.search")))
	clean("sign in")

	// 2. Two customers made through the API; find one by email.
	annID := s.createCustomer(t, url.Values{"object_reference_id": {"<img src=x onerror=alert(1)>"}, "mobile_number": {"9876543210"},
		"email_address": {"ann@example.com"}, "first_name": {"Ann"}, "last_name": {"Lee"}})
	s.createCustomer(t, url.Values{"object_reference_id": {"bob-1"}, "mobile_number": {"9876543211"},
		"email_address": {"bob@example.com"}, "first_name": {"Bob"}})
	load("reload", chromedp.Reload())
	if got := text("p.summary"); !strings.Contains(got, "2 customers") {
		t.Errorf("the list says %q, want 2 customers", got)
	}
	shot("customers-1280")
	run("type the search", chromedp.SetValue(chromedp.ID("by"), "email_address"), chromedp.SendKeys(chromedp.ID("q"), "ann@example.com"))
	load("search", chromedp.Click(chromedp.CSS("form.search button")))
	if got := text("p.summary"); !strings.HasPrefix(got, "1 customer matches") {
		t.Errorf("search says %q", got)
	}
	if loc := eval(`location.href`); strings.Contains(loc, "ann") || strings.Contains(loc, "%40") {
		t.Errorf("the search is in the URL: %s", loc)
	}
	clean("search")

	// 3. Open it; an invalid email shows its error by the field; then fix it.
	load("open the customer", chromedp.Click(chromedp.CSS(`a[href="/dashboard/customers/`+annID+`"]`)))
	if got := text("h1"); got != "Ann Lee" {
		t.Errorf("customer page's heading %q", got)
	}
	if got := text("dd.ref"); got != "<img src=x onerror=alert(1)>" {
		t.Errorf("the reference shows as %q", got)
	}
	if n := eval(`String(document.querySelectorAll("main img").length)`); n != "0" {
		t.Errorf("the hostile reference made %s img elements", n)
	}
	// The script shows times in the browser's zone, UTC on hover.
	local, title := eval(`document.querySelector("time").textContent`), eval(`document.querySelector("time").title`)
	if !strings.HasSuffix(title, " UTC") || local == title || !strings.Contains(local, "GMT+5:30") {
		t.Errorf("a time reads %q, titled %q: want the browser's zone, UTC on hover", local, title)
	}
	load("edit", chromedp.Click(chromedp.CSS(`a[href$="/edit"]`)))
	eval(`document.getElementById("email_address").value = ""`)
	run("type a bad email", chromedp.SendKeys(chromedp.ID("email_address"), "ann@"))
	if status := load("save the bad email", chromedp.Click(chromedp.CSS(`main button[type="submit"]`))); status != 400 {
		t.Errorf("saving a bad email: %d, want 400", status)
	}
	if got := text("#email_address-error"); !strings.HasPrefix(got, "Email address:") {
		t.Errorf("the email's error reads %q", got)
	}
	if got := eval(`document.getElementById("email_address").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("the email's input is not marked invalid")
	}
	shot("edit-error-1280")
	clean("invalid edit", 400)
	// A form whose CSRF token is taken out is refused.
	eval(`document.querySelector('main form input[name="csrf"]').remove(); ""`)
	if status := load("save without the token", chromedp.Click(chromedp.CSS(`main button[type="submit"]`))); status != 403 {
		t.Errorf("a form without its token: %d, want 403", status)
	}
	clean("refused form", 403)
	load("the edit form again", chromedp.Navigate(s.dashboard+"customers/"+annID+"/edit"))
	eval(`document.getElementById("email_address").value = ""`)
	run("type the right email", chromedp.SendKeys(chromedp.ID("email_address"), "ann.lee@example.com"))
	load("save", chromedp.Click(chromedp.CSS(`main button[type="submit"]`)))
	if got := text("p.flash"); got != "Saved." {
		t.Errorf("after saving: %q", got)
	}

	// 4. The change is in the history: old → new.
	if got := text("ol.timeline > li:first-child"); !strings.Contains(got, "Updated") ||
		!strings.Contains(got, "ann@example.com → ann.lee@example.com") {
		t.Errorf("the history's latest entry reads %q", got)
	}
	shot("customer-1280")
	clean("history")

	// At a phone's width the pages are still readable: nothing is wider
	// than the screen.
	run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	load("reload at 390", chromedp.Reload())
	if w := eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("at 390 px the customer page is %s px wide", w)
	}
	shot("customer-390")
	load("list at 390", chromedp.Navigate(s.dashboard+"customers"))
	if w := eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("at 390 px the list is %s px wide", w)
	}
	shot("customers-390")
	run("desktop", chromedp.EmulateViewport(1280, 900))
	clean("phone")

	// 5. Erase it, after a confirmation that names it; search no longer finds it.
	load("open again", chromedp.Navigate(s.dashboard+"customers/"+annID))
	load("erase…", chromedp.Click(chromedp.CSS(`a[href$="/erase"]`)))
	if got := text("h1"); got != "Erase Ann Lee?" {
		t.Errorf("the confirmation's heading %q", got)
	}
	load("erase", chromedp.Click(chromedp.CSS(`main button.danger`)))
	if got := text("p.flash"); !strings.Contains(got, "has been erased") {
		t.Errorf("after erasing: %q", got)
	}
	run("search again", chromedp.SendKeys(chromedp.ID("q"), "ann.lee@example.com"))
	load("search for the erased", chromedp.Click(chromedp.CSS("form.search button")))
	if got := text("p.summary"); !strings.HasPrefix(got, "0 customers match") {
		t.Errorf("searching for the erased customer: %q", got)
	}
	clean("erase")

	// Webhooks: add an endpoint, see its secret once, disable it.
	load("webhooks", chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/webhooks"]`)))
	run("type the endpoint", chromedp.SendKeys(chromedp.ID("url"), "http://127.0.0.1:9/hook"),
		chromedp.Click(chromedp.CSS(`input[name="events"][value="customer.updated"]`)))
	load("add the endpoint", chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	if secret := eval(`document.getElementById("secret").value`); !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("the new endpoint's secret reads %q", secret)
	}
	shot("webhook-created-1280")
	load("disable", chromedp.Click(chromedp.CSS(`form[action$="/disable"] button`)))
	if got := text("p.flash"); !strings.HasPrefix(got, "Endpoint disabled") {
		t.Errorf("after disabling: %q", got)
	}
	if n := eval(`String(document.querySelectorAll("#secret").length)`); n != "0" {
		t.Error("the secret is shown again")
	}
	clean("webhooks")

	// The watch sees a violation when there is one: script the page did not
	// load from its own origin is refused and reported.
	eval(`var s = document.createElement("script"); s.textContent = "1"; document.body.appendChild(s); ""`)
	time.Sleep(200 * time.Millisecond)
	if v := eval(`JSON.stringify(window.__csp)`); !strings.Contains(v, "script-src") {
		t.Errorf("an inline script raised no CSP violation the test could see: %s", v)
	}
	eval(`window.__csp = []; ""`)
	cons.take()

	// 6. Sign out, and be refused.
	load("sign out", chromedp.Click(chromedp.CSS(`form.signout button`)))
	run("signed out", chromedp.WaitVisible(chromedp.ID("api_key")))
	load("come back", chromedp.Navigate(s.dashboard+"customers/"+annID))
	if loc := eval(`location.pathname`); loc != "/dashboard/signin" {
		t.Errorf("after sign-out a customer page leads to %s, want the sign-in page", loc)
	}
	clean("sign out")
	if strings.Contains(s.stderr.String(), "ann.lee@example.com") || strings.Contains(s.stderr.String(), "ann@example.com") {
		t.Errorf("the server's log holds a customer's email:\n%s", s.stderr.String())
	}
	entries, _ := os.ReadDir(artifacts)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("screenshots: %s", strings.Join(names, ", "))
}
