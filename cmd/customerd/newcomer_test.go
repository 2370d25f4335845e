package main

import (
	"bytes"
	"os"
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

// master-key generate --out never replaces a file, and says so as cert
// create does, without the temporary file's name.
func TestMasterKeyGenerateOutOntoAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, _, err := cli(t, nil, "master-key", "generate", "--out", path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = cli(t, nil, "master-key", "generate", "--out", path)
	if want := path + " already exists; remove it first or choose another --out"; err == nil || err.Error() != want {
		t.Fatalf("second generate --out: %v, want %q", err, want)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the existing key file was changed")
	}
}
