package service_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/service"
	"customerd/sqlite"

	"github.com/jackc/pgx/v5"
)

var ctx = context.Background()

// database is one fresh database of one engine. Each open is another
// process (or node) on it: a store of its own, with connections of its own.
type database struct {
	// open opens a store on the database; the caller closes it.
	open func(t *testing.T) customerd.Store
	// contents returns every byte the database keeps where an attacker
	// with a copy of it would look: SQLite's files (main, WAL, shared
	// memory) while the store is open, PostgreSQL's pg_dump.
	contents func(t *testing.T) []byte
	// query runs a query of one integer or byte column straight on the
	// database, with ? placeholders.
	query func(t *testing.T, q string, args ...any) []any
	// claimsShared says whether every process sees an Idempotency-Key
	// claim at once (PostgreSQL's nodes), or only its own (SQLite, which
	// one process serves: another finds the key taken when it commits).
	claimsShared bool
}

// eachDatabase runs fn on a fresh SQLite database and, when the test server
// is configured, a fresh PostgreSQL database: the service's behaviour is
// written once and must be the same on both.
func eachDatabase(t *testing.T, fn func(t *testing.T, db database)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteDatabase(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresDatabase(t)) })
}

func sqliteDatabase(t *testing.T) database {
	path := filepath.Join(t.TempDir(), "c.db")
	return database{
		open: func(t *testing.T) customerd.Store {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		contents: func(t *testing.T) []byte {
			matches, err := filepath.Glob(path + "*")
			if err != nil {
				t.Fatal(err)
			}
			var all []byte
			for _, f := range matches {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		},
		query: func(t *testing.T, q string, args ...any) []any {
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Query(q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []any
			for rows.Next() {
				var v any
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
			return out
		},
	}
}

func postgresDatabase(t *testing.T) database {
	u := pgtest.NewDatabase(t)
	return database{
		claimsShared: true,
		open: func(t *testing.T) customerd.Store {
			s, err := postgres.Open(ctx, u, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		contents: func(t *testing.T) []byte {
			if _, err := exec.LookPath("pg_dump"); err != nil {
				t.Skip("pg_dump not installed")
			}
			out, err := exec.Command("pg_dump", "--data-only", u).Output()
			if err != nil {
				t.Fatalf("pg_dump: %v", err)
			}
			return out
		},
		query: func(t *testing.T, q string, args ...any) []any {
			for i := 1; strings.Contains(q, "?"); i++ {
				q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
			}
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			rows, err := conn.Query(ctx, q, args...)
			if err != nil {
				t.Fatal(err)
			}
			vals, err := pgx.CollectRows(rows, pgx.RowTo[any])
			if err != nil {
				t.Fatal(err)
			}
			return vals
		},
	}
}

// keyVersions counts the merchant's customers by the key_version of their
// rows.
func (db database) keyVersions(t *testing.T, merchant string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	for _, v := range db.query(t, `SELECT key_version FROM customers WHERE merchant_id = ?`, merchant) {
		switch n := v.(type) {
		case int64:
			out[n]++
		case int32:
			out[int64(n)]++
		default:
			t.Fatalf("key_version of type %T", v)
		}
	}
	return out
}

// fieldVersion returns the data-key version that one sealed column of a
// customer's row carries.
func (db database) fieldVersion(t *testing.T, id, column string) uint32 {
	t.Helper()
	vals := db.query(t, `SELECT `+column+` FROM customers WHERE id = ?`, id)
	if len(vals) != 1 {
		t.Fatalf("customer %s: %d rows", id, len(vals))
	}
	v, err := fieldcrypt.VersionOf(vals[0].([]byte))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// assertNoPlaintext fails when any value appears in the database's contents,
// as text or as hex (PostgreSQL dumps bytea in hex), and proves the search
// works by finding canary, which is stored in clear on purpose.
func (db database) assertNoPlaintext(t *testing.T, canary string, values []string) {
	t.Helper()
	all := db.contents(t)
	if !bytes.Contains(all, []byte(canary)) {
		t.Fatalf("the search does not find %q, which is stored in clear: it proves nothing", canary)
	}
	for _, v := range values {
		if bytes.Contains(all, []byte(v)) || bytes.Contains(all, []byte(fmt.Sprintf("%x", v))) {
			t.Errorf("%q found in plaintext", v)
		}
	}
}

func newMaster(t testing.TB) *fieldcrypt.MasterKey {
	t.Helper()
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// process is one process on the database: a store and a service with key
// caches of their own, on the master keys given (the first one primary),
// closed when the test ends.
func process(t *testing.T, db database, keys ...*fieldcrypt.MasterKey) *service.Service {
	t.Helper()
	svc, err := open(t, db, keys...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// open is process without the cleanup, for a start that is meant to fail.
func open(t *testing.T, db database, keys ...*fieldcrypt.MasterKey) (*service.Service, error) {
	t.Helper()
	st := db.open(t)
	svc, err := service.New(ctx, service.Config{Store: st, Vault: fieldcrypt.NewVault(keys[0], keys[1:]...)})
	if err != nil {
		st.Close()
	}
	return svc, err
}
