package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"customerd/fieldcrypt"
	"customerd/service"
	"customerd/sqlite"
)

// A newcomer finds the dashboard's address next to the sandbox key, and in
// the listening record; the dashboard answers there.
func TestServePrintsAndServesTheDashboard(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	defer s.stop()
	want := "http://" + s.addr + "/dashboard/"
	var firstRun, listening string
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		var rec struct{ Msg, Dashboard string }
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch {
		case strings.HasPrefix(rec.Msg, "first run"):
			firstRun = rec.Dashboard
		case rec.Msg == "listening":
			listening = rec.Dashboard
		}
	}
	if firstRun != want || listening != want {
		t.Errorf("the dashboard's address: first run %q, listening %q, want %q\n%s", firstRun, listening, want, s.stderr.String())
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(want)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/dashboard/signin" {
		t.Errorf("GET %s: %d to %q, want a redirect to sign in", want, res.StatusCode, res.Header.Get("Location"))
	}
}

func TestDashboardCanBeTurnedOff(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), "--dashboard=false")
	defer s.stop()
	if strings.Contains(s.stderr.String(), "/dashboard/") {
		t.Errorf("serve --dashboard=false names the dashboard:\n%s", s.stderr.String())
	}
	res, err := http.Get("http://" + s.addr + "/dashboard/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("with --dashboard=false, /dashboard/signin: %d, want 404", res.StatusCode)
	}
}

// On a terminal (text logs) the first run's message gives the address too.
func TestFirstRunMessageNamesTheDashboard(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	mk, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(mk)})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var out bytes.Buffer
	err = firstRun(ctx, svc, "http://127.0.0.1:8080", "http://127.0.0.1:8080/dashboard/", &out, slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	key := keyPattern.FindString(out.String())
	if key == "" || !strings.Contains(out.String(), "Or open the dashboard and sign in with the key:\n\n    http://127.0.0.1:8080/dashboard/\n") {
		t.Errorf("first run printed:\n%s", out.String())
	}
}
