//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"customerd/internal/binarytest"
)

// TestDeletedDatabaseAgainstTheBinary deletes the database of a running
// server, as `rm -f t.db t.db-wal t.db-shm` does: no write is acknowledged
// from then on, readiness fails, the cause is logged once, and the next
// start refuses to begin a new database beside the key file that is left.
func TestDeletedDatabaseAgainstTheBinary(t *testing.T) {
	bin := customerdBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	db := "sqlite:" + path
	// The default key file, as a server started without a key makes it.
	var env []string
	for _, kv := range binarytest.ChildEnv() {
		if !strings.HasPrefix(kv, "CUSTOMERD_MASTER_KEY=") {
			env = append(env, kv)
		}
	}
	create := exec.Command(bin, "merchant", "create", "acme", "--db", db)
	create.Env = env
	out, err := create.Output()
	if err != nil {
		t.Fatalf("merchant create: %v", err)
	}
	key := strings.TrimSpace(string(out))
	p := startProcEnv(t, bin, env, db)
	api := newAPIClient(p.addr, key, 1)
	if status, body, err := api.call("POST", "/customers", url.Values{"object_reference_id": {"before"}, "mobile_number": {"1"}}); status != 200 {
		t.Fatalf("create before: %d %v %v", status, body, err)
	}

	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		form := url.Values{"object_reference_id": {"after-" + string(rune('a'+i))}, "mobile_number": {"1"}}
		status, body, err := api.call("POST", "/customers", form)
		if status != 503 || body["error_code"] != "service_unavailable" {
			t.Fatalf("create %d after the database was deleted: %d %v %v", i, status, body, err)
		}
		if status, _, _ := api.call("POST", "/customers/before", url.Values{"first_name": {"Jon"}}); status != 503 {
			t.Fatalf("update %d after the database was deleted: %d", i, status)
		}
		res, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 503 {
			t.Fatalf("/readyz %d after the database was deleted", res.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/customers", strings.NewReader("object_reference_id=x&mobile_number=1"))
	req.Header.Set("Authorization", api.auth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	// The log is written from a goroutine of its own: wait for the 16
	// requests' records to be out before counting.
	logged := 0
	for deadline := time.Now().Add(5 * time.Second); ; {
		logged = 0
		requests := 0
		for _, rec := range records(t, p.stderr.String()) {
			if e, _ := rec["error"].(string); strings.Contains(e, "was deleted while this process had it open") {
				logged++
			}
			if rec["msg"] == "request" {
				requests++
			}
		}
		if requests >= 17 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if logged != 1 {
		t.Fatalf("the deleted database was logged %d times for 16 failed requests, want once:\n%s", logged, p.stderr.String())
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(t, 15*time.Second)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the server left a database at the path: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	restart := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--db", db)
	restart.Env = env
	restartOut, err := restart.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve started on the deleted database (%v):\n%s", err, restartOut)
	}
	for _, want := range []string{path + " does not exist", path + ".key", "deleted or moved"} {
		if !strings.Contains(string(restartOut), want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, restartOut)
		}
	}
	if strings.Contains(string(restartOut), "first run") {
		t.Fatalf("a first run was made:\n%s", restartOut)
	}
}
