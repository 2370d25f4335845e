package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"customerd/internal/syncbuf"
)

var keyPattern = regexp.MustCompile(`cdk_[0-9a-f]{40}`)

// cli runs one customerd command in-process and returns stdout, stderr and the error.
func cli(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// server is a running "customerd serve" in-process.
type server struct {
	addr   string
	stderr *syncbuf.Buffer
	stop   func() error
}

// startServer runs "customerd serve" on a free port with the database db and
// any further flags.
func startServer(t *testing.T, db string, flags ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stderr: &syncbuf.Buffer{}}
	done := make(chan error, 1)
	go func() {
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--db", db}, flags...)
		done <- run(ctx, args, func(string) string { return "" }, io.Discard, s.stderr)
	}()
	s.stop = func() error { cancel(); return <-done }
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				s.addr = rec.Addr
				return s
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start:\n%s", s.stderr.String())
	return nil
}

func (s *server) call(t *testing.T, key, method, path, form string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.addr+path, strings.NewReader(form))
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":")))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, body
}

func TestFirstRunCreatesSandboxAndDataSurvivesRestart(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	s := startServer(t, db)
	key := keyPattern.FindString(s.stderr.String())
	if key == "" || !strings.Contains(s.stderr.String(), "curl -u "+key+": http://"+s.addr+"/customers") {
		t.Fatalf("first run printed no sandbox key and curl example:\n%s", s.stderr.String())
	}
	status, created := s.call(t, key, "POST", "/customers", "object_reference_id=jon@example.com&mobile_number=99887766")
	if status != 200 {
		t.Fatalf("create: %d %v", status, created)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v on shutdown", err)
	}

	s = startServer(t, db)
	defer s.stop()
	if keyPattern.MatchString(s.stderr.String()) {
		t.Fatal("second run printed a key again")
	}
	status, got := s.call(t, key, "GET", "/customers/jon@example.com", "")
	if status != 200 || got["id"] != created["id"] || got["mobile_number"] != "99887766" {
		t.Fatalf("after restart: %d %v", status, got)
	}
}

func TestMerchantAndKeyCommands(t *testing.T) {
	env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
	out, _, err := cli(t, env, "merchant", "create", "acme")
	if err != nil {
		t.Fatal(err)
	}
	first := strings.TrimSuffix(out, "\n")
	if !keyPattern.MatchString(first) || keyPattern.FindString(first) != first {
		t.Fatalf("merchant create printed %q, want the key alone on one line", out)
	}
	if _, stderr, err := cli(t, env, "merchant", "create", "acme"); err == nil || !strings.Contains(stderr+err.Error(), "already exists") {
		t.Fatalf("duplicate merchant: err=%v", err)
	}
	if _, _, err := cli(t, env, "merchant", "create", "bad id"); err == nil || !strings.Contains(err.Error(), "invalid merchant id") {
		t.Fatalf("invalid merchant id: err=%v", err)
	}
	out, _, err = cli(t, env, "key", "create", "acme")
	if err != nil || !keyPattern.MatchString(out) {
		t.Fatalf("key create: %q %v", out, err)
	}
	second := strings.TrimSpace(out)
	if _, _, err := cli(t, env, "key", "create", "nobody"); err == nil {
		t.Fatal("key create for an unknown merchant succeeded")
	}
	if _, _, err := cli(t, env, "key", "revoke", first[:16]); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, env, "key", "list", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, first) || strings.Contains(out, second) {
		t.Fatalf("key list shows a full key:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], first[:16]) || strings.HasSuffix(lines[1], "-") ||
		!strings.HasPrefix(lines[2], second[:16]) || !strings.HasSuffix(lines[2], "-") {
		t.Fatalf("key list:\n%s", out)
	}
	if _, _, err := cli(t, env, "key", "revoke", "cdk_000000000000"); err == nil {
		t.Fatal("revoking an unknown key succeeded")
	}
	if _, _, err := cli(t, env, "merchant", "create", "beta"); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, env, "merchant", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "MERCHANT") ||
		!strings.HasPrefix(lines[1], "acme ") || !strings.HasPrefix(lines[2], "beta ") {
		t.Fatalf("merchant list: %q %v", out, err)
	}
	// The flag beats the environment.
	other := "sqlite:" + filepath.Join(t.TempDir(), "other.db")
	if _, _, err := cli(t, env, "merchant", "create", "acme", "--db", other); err != nil {
		t.Fatalf("--db did not override CUSTOMERD_DB: %v", err)
	}
}

func TestMigrateSaysWhatItDid(t *testing.T) {
	env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
	for _, want := range [][2]string{
		{"created schema version 4 (0001_init.sql, 0002_webhooks.sql, 0003_events_append.sql, 0004_named_unique_indexes.sql)\n", "webhook job queue (River): applied migrations 1 to "},
		{"schema version 4 is up to date; nothing to apply\n", "webhook job queue (River): up to date\n"},
	} {
		out, _, err := cli(t, env, "migrate")
		if err != nil || !strings.Contains(out, want[0]) || !strings.Contains(out, want[1]) {
			t.Fatalf("migrate printed %q, %v; want %q and %q", out, err, want[0], want[1])
		}
	}
}

func TestRevokedKeyIsRefusedByARunningServer(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	env := map[string]string{"CUSTOMERD_DB": db}
	out, _, err := cli(t, env, "merchant", "create", "acme")
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out)
	s := startServer(t, db)
	defer s.stop()
	if status, body := s.call(t, key, "GET", "/customers/x", ""); status != 404 {
		t.Fatalf("before revoke: %d %v", status, body)
	}
	if _, _, err := cli(t, env, "key", "revoke", key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := s.call(t, key, "GET", "/customers/x", "")
		if status == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted after 5 s (status %d)", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"merchant"}, {"merchant", "delete", "x"}, {"key", "create"}, {"serve", "extra"}} {
		if _, _, err := cli(t, nil, args...); err == nil {
			t.Errorf("customerd %v succeeded", args)
		}
	}
	if _, _, err := cli(t, map[string]string{"CUSTOMERD_DB": "mysql://x"}, "merchant", "create", "a"); err == nil ||
		!strings.Contains(err.Error(), "unsupported database URL") {
		t.Errorf("unsupported --db: %v", err)
	}
}
