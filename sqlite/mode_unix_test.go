//go:build unix

package sqlite_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"customerd/storetest"
)

func TestDatabaseFilesArePrivate(t *testing.T) {
	// A permissive umask must not widen the files: the mode is chosen, not inherited.
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "private.db")
	s := open(t, path)
	defer s.Close()
	storetest.MustMerchant(t, s, "m1") // a write, so the -wal and -shm files exist
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", filepath.Base(p), mode)
		}
	}
}
