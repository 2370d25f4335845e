package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"customerd"
)

// databaseAt makes a database with the first n migrations applied, as an
// earlier build left it, and returns its path and a connection to it.
func databaseAt(t *testing.T, n int) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate"+pragmas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:n] {
		if _, err := applyOne(context.Background(), db, m); err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}

// A database made before the event log became a rowid table keeps its
// events, in order, and takes new ones after them.
func TestEventsSurviveTheMoveToARowidTable(t *testing.T) {
	ctx := context.Background()
	path, db := databaseAt(t, 2)
	if _, err := db.ExecContext(ctx, `INSERT INTO merchants (id, created_at) VALUES ('m1', 0)`); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"evt_b", "evt_a"} { // ids out of order: the log is ordered by sequence
		if _, err := db.ExecContext(ctx, `INSERT INTO events (id, merchant_id, sequence, type, customer_id,
			customer_version, created, request_id, api_key_prefix, idempotency_key, kept, key_version, personal)
			VALUES (?, 'm1', ?, 'customer.updated', 'cst_1', ?, 0, 'req', 'cdk_x', '', x'01', 1, x'02')`, id, i+1, i+1); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if applied, _ := s.Migrations(); len(applied) != len(migrations)-2 || applied[0] != "0003_events_append.sql" {
		t.Fatalf("applied %v; want only the move of the events", applied)
	}
	for seq, id := range map[int64]string{1: "evt_b", 2: "evt_a"} {
		e, err := s.FindEvent(ctx, "m1", id)
		if err != nil || e.Sequence != seq || string(e.Personal) != "\x02" {
			t.Fatalf("%s after the move: %+v, %v", id, e, err)
		}
	}
	var withoutRowid int
	if err := s.rdb.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list WHERE name = 'events'`).Scan(&withoutRowid); err != nil || withoutRowid != 0 {
		t.Fatalf("events is WITHOUT ROWID = %d (%v); want a rowid table", withoutRowid, err)
	}
	var next int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(sequence), 0) + 1 FROM events WHERE merchant_id = 'm1'`).Scan(&next); err != nil || next != 3 {
		t.Fatalf("the next event's number is %d (%v); want 3", next, err)
	}
}

// A database made before the unique keys became named indexes keeps its
// customers and events, rowids and order included, and its keys are still
// unique, in indexes an import can drop.
func TestKeysSurviveTheMoveToNamedIndexes(t *testing.T) {
	ctx := context.Background()
	path, db := databaseAt(t, 3)
	for _, q := range []string{
		`INSERT INTO merchants (id, created_at) VALUES ('m1', 0)`,
		`INSERT INTO customers (rowid, id, merchant_id, version, ref_index, key_version, object_reference_id, mobile_number,
			mobile_country_code, date_created, last_updated) VALUES (7, 'cst_b', 'm1', 1, x'0b', 1, x'01', x'02', '91', 0, 0)`,
		`INSERT INTO customers (rowid, id, merchant_id, version, ref_index, key_version, object_reference_id, mobile_number,
			mobile_country_code, date_created, last_updated) VALUES (9, 'cst_a', 'm1', 1, x'0a', 1, x'01', x'02', '91', 0, 0)`,
		`INSERT INTO events (id, merchant_id, sequence, type, customer_id, customer_version, created, request_id,
			api_key_prefix, idempotency_key, kept, key_version, personal)
			VALUES ('evt_a', 'm1', 1, 'customer.created', 'cst_b', 1, 0, 'req', 'cdk_x', '', x'01', 1, x'02')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var order []string
	rows, err := s.rdb.QueryContext(ctx, `SELECT rowid || ':' || id FROM customers ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		rows.Scan(&r)
		order = append(order, r)
	}
	if !slices.Equal(order, []string{"7:cst_b", "9:cst_a"}) {
		t.Fatalf("customers after the move: %v", order)
	}
	if c, err := s.FindCustomerByRef(ctx, "m1", []byte{0x0a}); err != nil || c.ID != "cst_a" {
		t.Fatalf("by reference after the move: %+v, %v", c, err)
	}
	if _, err := s.FindEvent(ctx, "m1", "evt_a"); err != nil {
		t.Fatalf("the event after the move: %v", err)
	}
	for _, q := range []string{
		`INSERT INTO customers (id, merchant_id, version, ref_index, key_version, mobile_country_code, date_created, last_updated)
			VALUES ('cst_a', 'm1', 1, x'0c', 1, '91', 0, 0)`,
		`INSERT INTO customers (id, merchant_id, version, ref_index, key_version, mobile_country_code, date_created, last_updated)
			VALUES ('cst_c', 'm1', 1, x'0a', 1, '91', 0, 0)`,
		`INSERT INTO events (id, merchant_id, sequence, type, customer_id, customer_version, created, request_id,
			api_key_prefix, idempotency_key, kept, key_version) VALUES ('evt_a', 'm1', 2, 'customer.updated', 'cst_b', 2, 0, 'r', 'k', '', x'01', 1)`,
	} {
		if _, err := s.wdb.ExecContext(ctx, q); err == nil || mapConstraint(err) != customerd.ErrConflict {
			t.Fatalf("%s: %v; want a unique violation", q, err)
		}
	}
	var auto int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index'
		AND tbl_name IN ('customers', 'events') AND sql IS NULL AND name NOT LIKE 'sqlite_autoindex_events_%'`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("%d automatic indexes on customers (%v); want none", auto, err)
	}
}
