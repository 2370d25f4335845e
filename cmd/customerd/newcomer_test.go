package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A prefix pasted from "key list", ellipsis included, revokes the key.
func TestKeyRevokeTakesThePrefixAsKeyListPrintsIt(t *testing.T) {
	for _, tc := range []struct{ name, suffix string }{
		{"as printed, with an ellipsis", "…"},
		{"typed with three dots", "..."},
		{"bare prefix", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}
			if _, _, err := cli(t, env, "merchant", "create", "acme"); err != nil {
				t.Fatal(err)
			}
			list := func() string {
				t.Helper()
				out, _, err := cli(t, env, "key", "list", "acme")
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			row := strings.Fields(strings.Split(strings.TrimSpace(list()), "\n")[1]) // PREFIX… CREATED REVOKED
			prefix := strings.TrimSuffix(row[0], "…")
			if _, stderr, err := cli(t, env, "key", "revoke", prefix+tc.suffix); err != nil {
				t.Fatalf("key revoke %q: %v %s", prefix+tc.suffix, err, stderr)
			}
			row = strings.Fields(strings.Split(strings.TrimSpace(list()), "\n")[1])
			if row[2] == "-" {
				t.Fatalf("key %s not revoked:\n%s", prefix, list())
			}
		})
	}
}
