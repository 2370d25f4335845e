package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestEventsCommandReadsTheLog(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	env := map[string]string{"CUSTOMERD_DB": db}
	s := startServer(t, db, "--event-retention", "1h")
	defer s.stop()
	sandbox := keyPattern.FindString(s.stderr.String())
	for _, call := range [][3]string{
		{"POST", "/customers", "object_reference_id=a@example.com&mobile_number=42"},
		{"POST", "/customers", "object_reference_id=b@example.com&mobile_number=43"},
		{"POST", "/customers/a@example.com", "first_name=Ann"},
		{"DELETE", "/customers/b@example.com", ""},
	} {
		if status, body := s.call(t, sandbox, call[0], call[1], call[2]); status != 200 {
			t.Fatalf("%s %s: %d %v", call[0], call[1], status, body)
		}
	}
	events := func(args ...string) []map[string]any {
		t.Helper()
		out, stderr, err := cli(t, env, append([]string{"events", "--merchant", "sandbox"}, args...)...)
		if err != nil {
			t.Fatalf("events %v: %v\n%s", args, err, stderr)
		}
		var got []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not a JSON event per line: %q", line)
			}
			got = append(got, e)
		}
		return got
	}
	all := events()
	var types []string
	for i, e := range all {
		types = append(types, e["type"].(string))
		if e["sequence"] != float64(i+1) || e["object"] != "event" {
			t.Fatalf("event %d: %v", i, e)
		}
	}
	if strings.Join(types, " ") != "customer.created customer.created customer.updated customer.deleted" {
		t.Fatalf("the log, oldest first: %v", types)
	}
	if got := events("--customer", "a@example.com"); len(got) != 2 {
		t.Fatalf("--customer by reference: %d events", len(got))
	}
	erased := all[1]["data"].(map[string]any)["object"].(map[string]any)["id"].(string)
	if got := events("--customer", erased); len(got) != 2 {
		t.Fatalf("--customer of an erased customer, by id: %d events", len(got))
	}
	if got := events("--type", "customer.updated"); len(got) != 1 {
		t.Fatalf("--type: %d events", len(got))
	}
	for _, bad := range [][]string{{"events"}, {"events", "--merchant", "nobody"}, {"events", "--merchant", "sandbox", "--type", "customer.born"}} {
		if _, _, err := cli(t, env, bad...); err == nil {
			t.Fatalf("%v succeeded", bad)
		}
	}
	if _, _, err := cli(t, env, "serve", "--event-retention", "forever"); err == nil || !strings.Contains(err.Error(), "--event-retention") {
		t.Fatalf("a bad --event-retention: %v", err)
	}
}
