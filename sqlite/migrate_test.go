package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// A database made before the event log became a rowid table keeps its
// events, in order, and takes new ones after them.
func TestEventsSurviveTheMoveToARowidTable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate"+pragmas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := applyOne(ctx, db, m); err != nil {
			t.Fatal(err)
		}
	}
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
	if applied, _ := s.Migrations(); len(applied) != 1 || applied[0] != "0003_events_append.sql" {
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
