package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDefaultKeyFileIsCreatedOnceWithAWarning(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(dir, "c.db")}
	_, stderr, err := cli(t, env, "merchant", "create", "acme")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "c.db.key")
	if !strings.Contains(stderr, "warning") || !strings.Contains(stderr, keyFile) || !strings.Contains(stderr, "--master-key-file") {
		t.Fatalf("first run did not warn about the generated key file:\n%s", stderr)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, strings.TrimSpace(string(key))) {
		t.Fatal("the warning prints the master key")
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	_, stderr, err = cli(t, env, "key", "create", "acme")
	if err != nil || strings.Contains(stderr, "warning") {
		t.Fatalf("second run: %v\n%s", err, stderr)
	}
}

func TestMasterKeyFromEnvironmentAndItsErrors(t *testing.T) {
	dir := t.TempDir()
	keyOut, _, err := cli(t, nil, "master-key", "generate")
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(keyOut) {
		t.Fatalf("generate: %q %v", keyOut, err)
	}
	key := strings.TrimSpace(keyOut)
	db := "sqlite:" + filepath.Join(dir, "c.db")
	env := map[string]string{"CUSTOMERD_DB": db, "CUSTOMERD_MASTER_KEY": key}
	if _, stderr, err := cli(t, env, "merchant", "create", "acme"); err != nil || strings.Contains(stderr, "warning") {
		t.Fatalf("with CUSTOMERD_MASTER_KEY: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "c.db.key")); !os.IsNotExist(err) {
		t.Fatal("a key file was created although a key was given")
	}

	keyFile := filepath.Join(dir, "given.key")
	if err := os.WriteFile(keyFile, []byte(keyOut), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, map[string]string{"CUSTOMERD_DB": db}, "key", "list", "acme", "--master-key-file", keyFile); err != nil {
		t.Fatalf("the same key from a file: %v", err)
	}

	other, _, _ := cli(t, nil, "master-key", "generate")
	badFile := filepath.Join(dir, "bad.key")
	os.WriteFile(badFile, []byte("not-a-key-at-all\n"), 0o600)
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no key for a database that has keys": {map[string]string{"CUSTOMERD_DB": db}, nil, "missing"},
		"a wrong key":                         {map[string]string{"CUSTOMERD_DB": db, "CUSTOMERD_MASTER_KEY": strings.TrimSpace(other)}, nil, "wrong master key"},
		"a malformed key in the environment": {map[string]string{"CUSTOMERD_DB": db, "CUSTOMERD_MASTER_KEY": "hunter2hunter2"},
			nil, "CUSTOMERD_MASTER_KEY: master key must be 32 random bytes"},
		"a malformed key file":           {map[string]string{"CUSTOMERD_DB": db}, []string{"--master-key-file", badFile}, "64 hexadecimal characters"},
		"a key file and the environment": {env, []string{"--master-key-file", keyFile}, "one way only"},
	} {
		_, _, err := cli(t, tc.env, append([]string{"key", "list", "acme"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err = %v, want it to say %q", name, err, tc.want)
		}
		for _, secret := range []string{"hunter2hunter2", "not-a-key-at-all", key} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: the error quotes the key: %v", name, err)
			}
		}
	}
}

func TestMasterKeyRotationWithARunningServer(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "c.db")
	db := "sqlite:" + dbPath
	env := map[string]string{"CUSTOMERD_DB": db}
	s := startServer(t, db)
	sandbox := keyPattern.FindString(s.stderr.String())
	if status, body := s.call(t, sandbox, "POST", "/customers", "object_reference_id=jon@example.com&mobile_number=99887766&first_name=Jon"); status != 200 {
		t.Fatalf("create: %d %v", status, body)
	}
	oldKey, _ := os.ReadFile(dbPath + ".key")

	newKeyFile := filepath.Join(dir, "new.key")
	if _, _, err := cli(t, nil, "master-key", "generate", "--out", newKeyFile); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := cli(t, env, "master-key", "rotate", "--new-key-file", newKeyFile); err != nil {
		t.Fatalf("rotate: %v\n%s", err, stderr)
	}
	other := filepath.Join(dir, "other.key")
	if _, _, err := cli(t, nil, "master-key", "generate", "--out", other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, env, "master-key", "rotate", "--new-key-file", other); err == nil || !strings.Contains(err.Error(), "not retired") {
		t.Fatalf("a second rotation before retiring the first: %v", err)
	}
	newKey, _ := os.ReadFile(newKeyFile)
	if got, _ := os.ReadFile(dbPath + ".key"); string(got) != string(newKey) {
		t.Fatal("the default key file does not hold the new key")
	}
	if got, _ := os.ReadFile(dbPath + ".key.old"); string(got) != string(oldKey) {
		t.Fatal("the old key was not kept beside it")
	}
	// The running server, still on the old key, keeps working, also for a
	// merchant created after the rotation by a process on the new key.
	out, _, err := cli(t, env, "merchant", "create", "late")
	if err != nil {
		t.Fatal(err)
	}
	late := strings.TrimSpace(out)
	if status, body := s.call(t, sandbox, "GET", "/customers/jon@example.com", ""); status != 200 || body["first_name"] != "Jon" {
		t.Fatalf("old server after rotate: %d %v", status, body)
	}
	if status, body := s.call(t, late, "POST", "/customers", "object_reference_id=late@example.com&mobile_number=1"); status != 200 {
		t.Fatalf("old server, merchant created on the new key: %d %v", status, body)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	if _, _, err := cli(t, env, "master-key", "retire"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dbPath + ".key.old"); !os.IsNotExist(err) {
		t.Fatal("retire left the old key file")
	}
	out, _, err = cli(t, env, "master-key", "status")
	if err != nil || strings.Count(out, "\n") != 1 || !strings.Contains(out, "wraps the keys of 2 merchants (4 keys: data and index)") {
		t.Fatalf("status after retire: %q %v", out, err)
	}
	s = startServer(t, db)
	defer s.stop()
	for key, ref := range map[string]string{sandbox: "jon@example.com", late: "late@example.com"} {
		if status, body := s.call(t, key, "GET", "/customers/"+ref, ""); status != 200 {
			t.Fatalf("after retire and restart: %d %v", status, body)
		}
	}
}

func TestDataKeyRotateCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	env := map[string]string{"CUSTOMERD_DB": db}
	s := startServer(t, db)
	defer s.stop()
	sandbox := keyPattern.FindString(s.stderr.String())
	for _, ref := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if status, body := s.call(t, sandbox, "POST", "/customers", "object_reference_id="+ref+"&mobile_number=42"); status != 200 {
			t.Fatalf("create: %d %v", status, body)
		}
	}
	out, stderr, err := cli(t, env, "data-key", "rotate", "sandbox", "--batch", "2")
	if err != nil || !strings.Contains(out, "data key v2, 3 customers and 3 events re-encrypted") {
		t.Fatalf("data-key rotate: %q %v\n%s", out, err, stderr)
	}
	if status, body := s.call(t, sandbox, "GET", "/customers/b@example.com", ""); status != 200 || body["mobile_number"] != "42" {
		t.Fatalf("running server after rotation: %d %v", status, body)
	}
	if status, body := s.call(t, sandbox, "POST", "/customers/c@example.com", "mobile_number=43"); status != 200 || body["mobile_number"] != "43" {
		t.Fatalf("update after rotation: %d %v", status, body)
	}
	if _, _, err := cli(t, env, "data-key", "rotate", "nobody"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown merchant: %v", err)
	}
}

func TestPostgreSQLNeedsAMasterKey(t *testing.T) {
	// Refused before any connection is attempted: no server is needed.
	env := map[string]string{"CUSTOMERD_DB": "postgres://nobody@127.0.0.1:1/none?sslmode=disable"}
	for _, args := range [][]string{{"merchant", "create", "acme"}, {"migrate"}, {"data-key", "rotate", "acme"}} {
		_, _, err := cli(t, env, args...)
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL needs the master key") {
			t.Fatalf("%v without a key: %v", args, err)
		}
	}
}

// The acceptance test: after a workout through the API, the SQLite
// files hold no email, phone number, name or reference in plaintext.
func TestAPIWorkoutLeavesNoPlaintextInTheDatabaseFiles(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "c.db")
	s := startServer(t, "sqlite:"+dbPath)
	key := keyPattern.FindString(s.stderr.String())
	var secrets []string
	for i := range 10 {
		ref := fmt.Sprintf("apicanary-ref-%d@shop.example", i)
		email := fmt.Sprintf("apicanary.mail%d@example.org", i)
		mobile := fmt.Sprintf("98765%05d", i)
		first, last := fmt.Sprintf("Apifirst%d", i), fmt.Sprintf("Apilast%d", i)
		secrets = append(secrets, ref, email, mobile, first, last)
		form := fmt.Sprintf("object_reference_id=%s&mobile_number=%s&email_address=%s&first_name=%s&last_name=%s",
			url.QueryEscape(ref), mobile, url.QueryEscape(email), first, last)
		if status, body := s.call(t, key, "POST", "/customers", form); status != 200 {
			t.Fatalf("create: %d %v", status, body)
		}
		newMobile, newFirst := fmt.Sprintf("91234%05d", i), fmt.Sprintf("Apirenamed%d", i)
		secrets = append(secrets, newMobile, newFirst)
		if status, body := s.call(t, key, "POST", "/customers/"+url.PathEscape(ref), "mobile_number="+newMobile+"&first_name="+newFirst); status != 200 {
			t.Fatalf("update: %d %v", status, body)
		}
		if status, body := s.call(t, key, "GET", "/customers/"+url.PathEscape(ref), ""); status != 200 || body["first_name"] != newFirst || body["email_address"] != email {
			t.Fatalf("get: %d %v", status, body)
		}
	}
	check := func(when string) {
		files, _ := filepath.Glob(dbPath + "*")
		found := false
		for _, f := range files {
			if strings.HasSuffix(f, ".key") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			found = found || bytes.Contains(b, []byte("sandbox")) // stored in clear: proves the search works
			for _, v := range secrets {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%s: %q in plaintext in %s", when, v, filepath.Base(f))
				}
			}
		}
		if !found {
			t.Fatalf("%s: the merchant id, stored in clear, is in no file: the search proves nothing", when)
		}
	}
	check("while serving")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	check("after shutdown")
}
