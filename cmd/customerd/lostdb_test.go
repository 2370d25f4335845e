package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"customerd/fieldcrypt"
)

// TestMissingDatabaseBesideFilesOfAnEarlierRunIsRefused: a database that
// was deleted or moved must not silently become a first run (a new sandbox
// merchant, every earlier key refused) when something of it is left.
func TestMissingDatabaseBesideFilesOfAnEarlierRunIsRefused(t *testing.T) {
	for _, trace := range []string{"c.db.key", "c.db.key.old", "c.db-wal", "c.db-shm"} {
		t.Run(trace, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(dir, "c.db")}
			content := []byte("left by SQLite")
			if strings.Contains(trace, ".key") {
				k, err := fieldcrypt.GenerateMasterKey()
				if err != nil {
					t.Fatal(err)
				}
				content = k.Encode()
			}
			if err := os.WriteFile(filepath.Join(dir, trace), content, 0o600); err != nil {
				t.Fatal(err)
			}
			// serve is run by TestDeletedDatabaseAgainstTheBinary.
			for _, cmd := range [][]string{{"merchant", "list"}, {"migrate"}, {"key", "create", "acme"}} {
				_, stderr, err := cli(t, env, cmd...)
				if err == nil {
					t.Fatalf("%s started on a missing database beside %s:\n%s", cmd[0], trace, stderr)
				}
				for _, want := range []string{filepath.Join(dir, "c.db") + " does not exist", filepath.Join(dir, trace), "deleted or moved"} {
					if !strings.Contains(err.Error(), want) {
						t.Fatalf("%s: error %q does not say %q", cmd[0], err, want)
					}
				}
				if _, err := os.Stat(filepath.Join(dir, "c.db")); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s created a database: %v", cmd[0], err)
				}
			}
		})
	}
	t.Run("nothing of an earlier run: a first run", func(t *testing.T) {
		dir := t.TempDir()
		env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(dir, "c.db")}
		if _, stderr, err := cli(t, env, "merchant", "create", "acme"); err != nil {
			t.Fatalf("first run: %v\n%s", err, stderr)
		}
		// Deleted with everything beside it, nothing is left to notice: that
		// is a new start, as the operator asked.
		for _, p := range []string{"c.db", "c.db.key"} {
			if err := os.Remove(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		}
		if _, stderr, err := cli(t, env, "merchant", "create", "acme"); err != nil {
			t.Fatalf("after removing every file: %v\n%s", err, stderr)
		}
	})
	t.Run("the database deleted beside its key file", func(t *testing.T) {
		dir := t.TempDir()
		env := map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(dir, "c.db")}
		if _, stderr, err := cli(t, env, "merchant", "create", "acme"); err != nil {
			t.Fatalf("first run: %v\n%s", err, stderr)
		}
		if err := os.Remove(filepath.Join(dir, "c.db")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cli(t, env, "merchant", "create", "acme"); err == nil || !strings.Contains(err.Error(), "c.db.key") {
			t.Fatalf("merchant create on a deleted database: %v", err)
		}
	})
}
