package rawsqlite_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"customerd/sqlite/internal/rawsqlite"
)

func openWarmPool(t *testing.T, path string, size int) *rawsqlite.Pool {
	t.Helper()
	p := openPool(t, path, size)
	if err := p.KeepReadTransactions(); err != nil {
		t.Fatal(err)
	}
	return p
}

// A connection keeps its read transaction while nothing is committed, and
// a lookup after a commit by another connection sees it, however many
// quiet lookups came before.
func TestKeptReadTransactionSeesEveryCommit(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("v0")})
	p := openWarmPool(t, path, 1)
	ctx := context.Background()
	for i := range 30 {
		want := []byte(fmt.Sprintf("v%d", i))
		if _, err := db.Exec(`UPDATE t SET v = ? WHERE k = 'a'`, want); err != nil {
			t.Fatal(err)
		}
		for j := range i % 4 { // quiet lookups: the connection keeps its transaction
			v, _, ok, err := lookup(ctx, p, "a")
			if err != nil || !ok || !bytes.Equal(v, want) {
				t.Fatalf("write %d, lookup %d: got %q, %v, %v; want %q", i, j, v, ok, err, want)
			}
		}
		if i%4 >= 2 && p.WarmConns() != 1 {
			t.Fatalf("write %d: no read transaction kept after quiet lookups", i)
		}
	}
}

// The same with concurrent readers and a writer: a read that starts after
// a write returned sees that write.
func TestKeptReadTransactionsUnderConcurrentWrites(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("0")})
	p := openWarmPool(t, path, 3)
	ctx := context.Background()
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for range 300 {
				if _, _, _, err := lookup(ctx, p, "a"); err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
			}
		})
	}
	for i := 1; i <= 100; i++ {
		want := []byte(fmt.Sprint(i))
		if _, err := db.Exec(`UPDATE t SET v = ? WHERE k = 'a'`, want); err != nil {
			t.Fatal(err)
		}
		v, _, ok, err := lookup(ctx, p, "a")
		if err != nil || !ok || !bytes.Equal(v, want) {
			t.Fatalf("after write %d: got %q, %v, %v", i, v, ok, err)
		}
	}
	wg.Wait()
}

// A kept transaction ends once its connection is idle, so that it does not
// keep a checkpoint from emptying the WAL.
func TestKeptReadTransactionEndsWhenIdle(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("v")})
	p := openWarmPool(t, path, 2)
	for range 3 {
		if _, _, _, err := lookup(context.Background(), p, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if p.WarmConns() == 0 {
		t.Fatal("no read transaction kept after quiet lookups")
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.WarmConns() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d read transactions still kept long after %v idle", p.WarmConns(), rawsqlite.WarmIdle)
		}
		time.Sleep(rawsqlite.WarmIdle)
	}
	if _, err := db.Exec(`UPDATE t SET v = 'w' WHERE k = 'a'`); err != nil {
		t.Fatal(err)
	}
	var busy, logFrames, checkpointed int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed); err != nil || busy != 0 {
		t.Fatalf("checkpoint after the readers went idle: busy %d, %v", busy, err)
	}
}

// Opened through a symbolic link, the pool watches the WAL index SQLite
// uses (next to the real file), not a stray file next to the link.
func TestKeptReadTransactionsThroughSymlink(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("v0")})
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	// A stray index next to the link, initialized and never changing.
	stray := make([]byte, 32768)
	binary.NativeEndian.PutUint32(stray[0:], 3007000)
	stray[12] = 1
	if err := os.WriteFile(link+"-shm", stray, 0o600); err != nil {
		t.Fatal(err)
	}
	p := openPool(t, link, 1)
	if err := p.KeepReadTransactions(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10 {
		want := []byte(fmt.Sprintf("v%d", i))
		if _, err := db.Exec(`UPDATE t SET v = ? WHERE k = 'a'`, want); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if v, _, _, err := lookup(ctx, p, "a"); err != nil || !bytes.Equal(v, want) {
				t.Fatalf("write %d: got %q, %v; want %q", i, v, err, want)
			}
		}
		if p.WarmConns() != 1 {
			t.Fatalf("write %d: no read transaction kept after quiet lookups", i)
		}
	}
}

// After writes stop with part of the WAL not yet in the database file,
// the pool checkpoints it and its connections then keep read transactions.
func TestQuietDatabaseIsCheckpointedForKeptReads(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("v")})
	// Enough commits for several hundred WAL frames, fewer than the
	// writer's automatic checkpoint at 1,000.
	for i := range rawsqlite.WarmMaxPending * 3 / 4 {
		if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?)`, fmt.Sprint("k", i), []byte("x"), i); err != nil {
			t.Fatal(err)
		}
	}
	p := openWarmPool(t, path, 2)
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for p.WarmConns() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no read transaction kept on a quiet database with a long WAL")
		}
		if v, _, ok, err := lookup(ctx, p, "a"); err != nil || !ok || string(v) != "v" {
			t.Fatalf("lookup: %q, %v, %v", v, ok, err)
		}
		time.Sleep(time.Millisecond)
	}
	// And the next write is still seen at once.
	if _, err := db.Exec(`UPDATE t SET v = 'w' WHERE k = 'a'`); err != nil {
		t.Fatal(err)
	}
	if v, _, _, err := lookup(ctx, p, "a"); err != nil || string(v) != "w" {
		t.Fatalf("after a write: %q, %v", v, err)
	}
}

// CheckpointAhead copies the WAL into the database file in the background
// once AheadFrames frames are pending, and leaves a shorter WAL alone.
func TestCheckpointAhead(t *testing.T) {
	path, db := newDB(t, map[string][]byte{"a": []byte("v")})
	if _, err := db.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil { // only the pool checkpoints
		t.Fatal(err)
	}
	p := openWarmPool(t, path, 2)
	insert := func(from, n int) {
		for i := from; i < from+n; i++ {
			if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?)`, fmt.Sprint("k", i), []byte("x"), i); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(0, rawsqlite.AheadFrames/4) // a commit writes a frame or two
	short := p.WALPending()
	if short == 0 || short >= rawsqlite.AheadFrames {
		t.Fatalf("%d frames pending, want some and fewer than %d", short, rawsqlite.AheadFrames)
	}
	p.CheckpointAhead()
	time.Sleep(100 * time.Millisecond)
	if n := p.WALPending(); n != short {
		t.Fatalf("a WAL of %d frames was checkpointed: %d pending", short, n)
	}

	insert(rawsqlite.AheadFrames/4, rawsqlite.AheadFrames)
	if n := p.WALPending(); n < rawsqlite.AheadFrames {
		t.Fatalf("%d frames pending, want at least %d", n, rawsqlite.AheadFrames)
	}
	p.CheckpointAhead()
	deadline := time.Now().Add(5 * time.Second)
	for p.WALPending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d frames still pending 5 s after CheckpointAhead", p.WALPending())
		}
		time.Sleep(time.Millisecond)
	}
	// Every row is still there, read from the database file.
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1+rawsqlite.AheadFrames/4+rawsqlite.AheadFrames {
		t.Fatalf("%d rows, %v", n, err)
	}
}
