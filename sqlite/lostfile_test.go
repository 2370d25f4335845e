package sqlite_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"customerd"
	"customerd/sqlite"
	"customerd/storetest"
)

// insert writes one customer of m1 and returns the store's answer.
func insert(s customerd.Store, ref string) error {
	c := storetest.Row("m1", ref)
	return s.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		return tx.InsertCustomer(ctx, &c, storetest.Event(customerd.EventCustomerCreated, "m1", c.ID, 1, c.KeyVersion))
	})
}

// copyFile copies src to dst, a new file.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWritesAreRefusedOnceTheDatabaseFileIsGone: a store whose file was
// deleted or replaced under it keeps writing to the file it opened, which
// the next start never sees. From the moment that can be noticed, every
// write and every Ping fail as unavailable, and nothing is created at the
// path.
// lateTempDir is t.TempDir for a store whose read pool may still be opening
// a connection when Close returns: database/sql opens extra connections in
// the background, and one that finishes after Close is closed then, its WAL
// files with it. The directory's removal is retried for a moment.
func lateTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "lostfile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for err := os.RemoveAll(dir); err != nil; err = os.RemoveAll(dir) {
			if time.Now().After(deadline) {
				t.Errorf("removing %s: %v", dir, err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return dir
}

func TestWritesAreRefusedOnceTheDatabaseFileIsGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, path string)
		// gone: nothing may exist at the path afterwards
		gone bool
	}{
		{"database, WAL and index deleted", func(t *testing.T, path string) {
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}, true},
		{"database deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"database replaced by a copy", func(t *testing.T, path string) {
			copyFile(t, path, path+".copy")
			if err := os.Rename(path+".copy", path); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"WAL deleted", func(t *testing.T, path string) {
			if err := os.Remove(path + "-wal"); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"database moved away", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".moved"); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		for _, opts := range [][]sqlite.Option{nil, {sqlite.DatabaseSQLOnly()}} {
			name := tc.name
			if opts != nil {
				name += ", database/sql only"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(lateTempDir(t), "c.db")
				s := open(t, path, opts...)
				defer s.Close()
				storetest.MustMerchant(t, s, "m1")
				if err := insert(s, "before"); err != nil {
					t.Fatal(err)
				}
				if err := s.Ping(ctx); err != nil {
					t.Fatal(err)
				}
				tc.do(t, path)
				for i, err := range []error{insert(s, "after"), s.Ping(ctx), insert(s, "again")} {
					if customerd.ErrorCode(err) != customerd.EUNAVAILABLE {
						t.Fatalf("call %d after the file went: %v, want unavailable", i, err)
					}
				}
				// Reads go on: the open file is intact, and its contents are
				// what the process answered until now.
				if _, err := s.FindCustomerByRef(ctx, "m1", storetest.Row("m1", "before").RefIndex); err != nil {
					t.Fatalf("read after the file went: %v", err)
				}
				if _, err := s.ListMerchants(ctx); err != nil {
					t.Fatalf("read after the file went: %v", err)
				}
				if tc.gone {
					// Reads at once need more connections than are idle: the
					// new ones must not create a database at the path.
					var wg sync.WaitGroup
					for range 16 {
						wg.Go(func() { _, _ = s.ListAPIKeys(ctx, "m1") })
					}
					wg.Wait()
					if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("something was created at the path: %v", err)
					}
					// A file put back is not the one the connections write
					// to: the store stays refused until it is opened again.
					if err := os.WriteFile(path, nil, 0o600); err != nil {
						t.Fatal(err)
					}
					if err := insert(s, "put-back"); customerd.ErrorCode(err) != customerd.EUNAVAILABLE {
						t.Fatalf("write after a file was put back: %v, want unavailable", err)
					}
				}
			})
		}
	}
}
