package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"customerd/internal/binarytest"
	"customerd/postgres/pgtest"
)

// transferDB is one database for the transfer tests, with the environment
// that points the commands at it.
type transferDB struct {
	name string
	env  map[string]string
}

// transferEngines returns a fresh SQLite database and, when
// CUSTOMERD_TEST_POSTGRES_URL is set, a fresh PostgreSQL schema, each with
// merchant m1.
func transferEngines(t *testing.T) []transferDB {
	t.Helper()
	dbs := []transferDB{{"sqlite", map[string]string{"CUSTOMERD_DB": "sqlite:" + filepath.Join(t.TempDir(), "c.db")}}}
	// Without PostgreSQL the SQLite case still runs; the package's TestMain
	// says that the PostgreSQL ones are skipped.
	if os.Getenv(pgtest.EnvURL) != "" {
		dbs = append(dbs, transferDB{"postgres", map[string]string{"CUSTOMERD_DB": pgtest.NewSchema(t)}})
	}
	for _, db := range dbs {
		db.env["CUSTOMERD_MASTER_KEY"] = binarytest.MasterKey
		if _, stderr, err := cli(t, db.env, "merchant", "create", "m1"); err != nil {
			t.Fatalf("%s: merchant create: %v\n%s", db.name, err, stderr)
		}
	}
	return dbs
}

// juspayLine is customer i of a Juspay export, in the GET shape.
func juspayLine(i int) string {
	return fmt.Sprintf(`{"id":"cst_%016d","object":"customer","object_reference_id":"ref-%d@example.com","mobile_number":"98%08d",`+
		`"date_created":"2019-03-04T05:06:07+0000","last_updated":"2020-01-02T03:04:05+0000","email_address":"c%d@example.com",`+
		`"first_name":"First%d","last_name":null,"mobile_country_code":"91"}`, i, i, i, i, i)
}

// badRows are 37 rows that break the field rules or the file's format in
// varied ways, each with the field and a word of the reason it is rejected
// for.
var badRows = func() []struct{ line, field, reason string } {
	type bad = struct{ line, field, reason string }
	rows := []bad{
		{`{"object_reference_id":"x","mobile_number":"98abc"}`, "mobile_number", "digits only"},
		{`{"object_reference_id":"x","mobile_number":"12345678901234567"}`, "mobile_number", "at most 16"},
		{`{"object_reference_id":"x"}`, "mobile_number", "required"},
		{`{"object_reference_id":"","mobile_number":"1"}`, "object_reference_id", "empty"},
		{`{"mobile_number":"1"}`, "object_reference_id", "required"},
		{`{"object_reference_id":"` + strings.Repeat("r", 129) + `","mobile_number":"1"}`, "object_reference_id", "at most 128"},
		{`{"object_reference_id":"a\tb","mobile_number":"1"}`, "object_reference_id", "control characters"},
		{`{"object_reference_id":"x","mobile_number":"1","email_address":"_jon@example.com"}`, "email_address", "may not start with '_'"},
		{`{"object_reference_id":"x","mobile_number":"1","email_address":"jon@example"}`, "email_address", "two labels"},
		{`{"object_reference_id":"x","mobile_number":"1","email_address":"jon.@example.com"}`, "email_address", "may not end"},
		{`{"object_reference_id":"x","mobile_number":"1","email_address":"a@b@example.com"}`, "email_address", "exactly one '@'"},
		{`{"object_reference_id":"x","mobile_number":"1","first_name":"Jon Snow"}`, "first_name", "not allowed"},
		{`{"object_reference_id":"x","mobile_number":"1","last_name":"Sn\u00f6w"}`, "last_name", "only ASCII"},
		{`{"object_reference_id":"x","mobile_number":"1","mobile_country_code":"+91a"}`, "mobile_country_code", "digits only"},
		{`{"object_reference_id":"x","mobile_number":"1","mobile_country_code":null}`, "mobile_country_code", "empty"},
		{`{"id":"cst_TOOSHORT","object_reference_id":"x","mobile_number":"1"}`, "id", "cst_"},
		{`{"id":"cus_0000000000000001","object_reference_id":"x","mobile_number":"1"}`, "id", "cst_"},
		{`{"object_reference_id":"x","mobile_number":"1","date_created":"2020-01-02"}`, "date_created", "not a timestamp"},
		{`{"object_reference_id":"x","mobile_number":"1","date_created":"2999-01-01T00:00:00+0000"}`, "date_created", "future"},
		{`{"object_reference_id":"x","mobile_number":"1","date_created":"2020-01-02T00:00:00+0000","last_updated":"2020-01-01T00:00:00+0000"}`, "last_updated", "before date_created"},
		{`{"object_reference_id":"x","mobile_number":"1","last_updated":"yesterday"}`, "last_updated", "not a timestamp"},
		{`{"object_reference_id":"x","mobile_number":"1","mobile_number":"2"}`, "mobile_number", "given twice"},
		{`{"object_reference_id":"x","mobile_number":["1"]}`, "mobile_number", "string or a number"},
		{`{"object":"order","object_reference_id":"x","mobile_number":"1"}`, "object", "order"},
		{`{"object_reference_id":"x","mobile_number":"1"`, "", "cut short"},
		{`{"object_reference_id":"x","mobile_number":"1"}}`, "", "not valid JSON"},
		{`object_reference_id=x&mobile_number=1`, "", "not a JSON object"},
		{`["x","1"]`, "", "not a JSON object"},
		{`{"object_reference_id":"x","mobile_number":"1"} {"object_reference_id":"y","mobile_number":"1"}`, "", "more than one"},
		{`{"object_reference_id":"caf` + "\xe9" + `","mobile_number":"1"}`, "", "not valid UTF-8"},
		{`{"object_reference_id":"nul` + "\x00" + `","mobile_number":"1"}`, "", "NUL"},
		{`{"object_reference_id":"big","mobile_number":"1","note":"` + strings.Repeat("n", 1<<20) + `"}`, "", "longer than"},
		{`{"object_reference_id":"x","mobile_number":1.5}`, "mobile_number", "digits only"},
		{`{"object_reference_id":"x","mobile_number":true}`, "mobile_number", "digits only"},
		// A reference or id a row earlier in the file has, with other values.
		{`{"object_reference_id":"ref-7@example.com","mobile_number":"1"}`, "object_reference_id", "other values"},
		{`{"id":"cst_0000000000000008","object_reference_id":"not-ref-8","mobile_number":"1"}`, "id", "another object_reference_id"},
		{`{"id":"cst_9999999999999999","object_reference_id":"ref-9@example.com","mobile_number":"98000000009"}`, "object_reference_id", "reference of customer"},
	}
	return rows
}()

// writeImportFile writes n rows of a Juspay export with the bad rows spread
// among them, and returns its path and the line of each bad row.
func writeImportFile(t *testing.T, n int) (string, map[int]int) {
	t.Helper()
	var b bytes.Buffer
	at := map[int]int{} // line -> index in badRows
	line, good := 0, 0
	for next := 0; good < n || next < len(badRows); {
		line++
		if next < len(badRows) && (line%270 == 0 || good == n) {
			b.WriteString(badRows[next].line + "\n")
			at[line] = next
			next++
			continue
		}
		b.WriteString(juspayLine(good) + "\n")
		good++
	}
	path := filepath.Join(t.TempDir(), "juspay.ndjson")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, at
}

func TestImportOf10000RowsRejectsThe37BadOnesWithTheirReasons(t *testing.T) {
	if len(badRows) != 37 {
		t.Fatalf("%d bad rows", len(badRows))
	}
	for _, db := range transferEngines(t) {
		t.Run(db.name, func(t *testing.T) {
			path, at := writeImportFile(t, 10000-len(badRows))
			out, stderr, err := cli(t, db.env, "import", "--merchant", "m1", "--progress", "log", path)
			if err == nil || !strings.Contains(err.Error(), "37 rows rejected") {
				t.Fatalf("import: %v, want 37 rows rejected\n%s%s", err, out, stderr)
			}
			if !strings.Contains(out, "10000 rows") || !strings.Contains(out, "9963 imported") || !strings.Contains(out, "37 rejected") {
				t.Fatalf("summary: %s", out)
			}
			rejects, err := os.ReadFile(path + ".rejects")
			if err != nil {
				t.Fatal(err)
			}
			recs := strings.Split(strings.TrimSuffix(string(rejects), "\n"), "\n")
			if recs[0] != "line,field,reason" || len(recs) != 38 {
				t.Fatalf("rejects file: %d lines:\n%s", len(recs), rejects)
			}
			for _, rec := range recs[1:] {
				var line int
				fmt.Sscanf(rec, "%d,", &line)
				i, ok := at[line]
				if !ok {
					t.Fatalf("line %d rejected, but it is a good row: %s", line, rec)
				}
				want := badRows[i]
				if !strings.HasPrefix(rec, fmt.Sprintf("%d,%s,", line, want.field)) || !strings.Contains(rec, want.reason) {
					t.Fatalf("line %d: %q, want field %q and %q", line, rec, want.field, want.reason)
				}
				delete(at, line)
			}
			if len(at) != 0 {
				t.Fatalf("bad rows not rejected: %v", at)
			}
			// Every good row is stored once, with its Juspay id and
			// timestamps, and has its one customer.created event.
			exported := exportLines(t, db.env, "ndjson")
			if len(exported) != 9963 {
				t.Fatalf("%d customers exported", len(exported))
			}
			if exported[0] != juspayLine(0) || exported[9962] != juspayLine(9962) {
				t.Fatalf("not the GET shape of the file's rows:\n%s\n%s", exported[0], juspayLine(0))
			}
			events, stderr, err := cli(t, db.env, "events", "--merchant", "m1", "--type", "customer.created")
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if n := strings.Count(events, "\n"); n != 9963 {
				t.Fatalf("%d customer.created events", n)
			}
			// --allow-rejects: the same rejects, exit 0, and nothing twice.
			out, stderr, err = cli(t, db.env, "import", "--merchant", "m1", "--allow-rejects", path)
			if err != nil || !strings.Contains(out, "0 imported, 9963 already present") {
				t.Fatalf("rerun: %v\n%s%s", err, out, stderr)
			}
			if again, _ := os.ReadFile(path + ".rejects"); !bytes.Equal(again, rejects) {
				t.Fatalf("the rerun's rejects differ:\n%s", again)
			}
		})
	}
}

// exportLines runs export and returns its lines.
func exportLines(t *testing.T, env map[string]string, format string) []string {
	t.Helper()
	out, stderr, err := cli(t, env, "export", "--merchant", "m1", "--format", format)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

func TestExportImportExportGivesTheSameFile(t *testing.T) {
	for _, format := range []string{"ndjson", "csv"} {
		for _, db := range transferEngines(t) {
			t.Run(db.name+"/"+format, func(t *testing.T) {
				dir := t.TempDir()
				src := filepath.Join(dir, "src.ndjson")
				var b strings.Builder
				for i := range 1200 {
					b.WriteString(juspayLine(i) + "\n")
				}
				// Rows without an id or timestamps, and values CSV must quote.
				b.WriteString(`{"object_reference_id":"a,\"quoted\" ref","mobile_number":"1","first_name":"Ann"}` + "\n")
				b.WriteString(`{"object_reference_id":"  spaced  ","mobile_number":2,"mobile_country_code":"+65","email_address":"o'neil@example.co.uk"}` + "\n")
				os.WriteFile(src, []byte(b.String()), 0o600)
				// Batches of 100: they are sealed in parallel, and must still
				// be stored in the file's order.
				if out, stderr, err := cli(t, db.env, "import", "--merchant", "m1", "--batch", "100", src); err != nil {
					t.Fatalf("import: %v\n%s%s", err, out, stderr)
				}
				first := filepath.Join(dir, "first."+format)
				if _, stderr, err := cli(t, db.env, "export", "--merchant", "m1", "--format", format, "--out", first); err != nil {
					t.Fatalf("export: %v\n%s", err, stderr)
				}
				empty := transferEngines(t)[0].env
				if db.name == "postgres" {
					empty = transferEngines(t)[1].env
				}
				if out, stderr, err := cli(t, empty, "import", "--merchant", "m1", "--batch", "100", first); err != nil {
					t.Fatalf("import of the export: %v\n%s%s", err, out, stderr)
				}
				second := filepath.Join(dir, "second."+format)
				if _, stderr, err := cli(t, empty, "export", "--merchant", "m1", "--format", format, "--out", second); err != nil {
					t.Fatalf("export: %v\n%s", err, stderr)
				}
				a, _ := os.ReadFile(first)
				a2, _ := os.ReadFile(second)
				if n := bytes.Count(a, []byte("\n")); n < 1202 {
					t.Fatalf("the first export has %d lines:\n%s", n, a)
				}
				if !bytes.Equal(a, a2) {
					t.Fatalf("the exports differ:\n%s\n---\n%s", a, a2)
				}
			})
		}
	}
}

func TestImportConflictsFollowOnConflict(t *testing.T) {
	db := transferEngines(t)[0]
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
		return p
	}
	orig := write("orig.csv", "object_reference_id,mobile_number,first_name", "r1,111,Ann", "r2,222,Bob")
	if _, stderr, err := cli(t, db.env, "import", "--merchant", "m1", orig); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	changed := write("changed.csv", "object_reference_id,mobile_number,first_name", "r1,111,Ann", "r2,999,", "r3,333,Cy")
	names := func() string {
		var got []string
		for _, l := range exportLines(t, db.env, "csv")[1:] {
			f := strings.Split(l, ",")
			got = append(got, f[1]+"="+f[2]+"/"+f[6])
		}
		return strings.Join(got, " ")
	}
	before := names()
	out, _, err := cli(t, db.env, "import", "--merchant", "m1", changed)
	if err == nil || !strings.Contains(out, "1 imported, 1 already present, 0 updated, 0 skipped, 1 rejected") {
		t.Fatalf("fail: %v\n%s", err, out)
	}
	rejects, _ := os.ReadFile(changed + ".rejects")
	if !strings.Contains(string(rejects), "3,object_reference_id,") {
		t.Fatalf("rejects: %s", rejects)
	}
	out, _, err = cli(t, db.env, "import", "--merchant", "m1", "--on-conflict", "skip", changed)
	if err != nil || !strings.Contains(out, "0 imported, 2 already present, 0 updated, 1 skipped, 0 rejected") {
		t.Fatalf("skip: %v\n%s", err, out)
	}
	if _, err := os.Stat(changed + ".rejects"); !os.IsNotExist(err) {
		t.Fatalf("a run without rejects leaves the old rejects file: %v", err)
	}
	if got := names(); !strings.Contains(got, "r2=222/Bob") || strings.Count(got, "=") != 3 || before == got {
		t.Fatalf("after skip: %s", got)
	}
	out, _, err = cli(t, db.env, "import", "--merchant", "m1", "--on-conflict", "update", changed)
	if err != nil || !strings.Contains(out, "0 imported, 2 already present, 1 updated, 0 skipped, 0 rejected") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	if got := names(); !strings.Contains(got, "r2=999/") || strings.Contains(got, "Bob") {
		t.Fatalf("after update, r2 takes the row's values, its empty name included: %s", got)
	}
	events, _, _ := cli(t, db.env, "events", "--merchant", "m1", "--type", "customer.updated")
	if strings.Count(events, "\n") != 1 || !strings.Contains(events, `"previous_attributes":{"mobile_number":"222"`) {
		t.Fatalf("one customer.updated event for the update: %s", events)
	}
	// Run again: the update is done, nothing changes.
	if out, _, err = cli(t, db.env, "import", "--merchant", "m1", "--on-conflict", "update", changed); err != nil ||
		!strings.Contains(out, "3 already present, 0 updated") {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
}

func TestImportRefusesAFileItCannotRead(t *testing.T) {
	db := transferEngines(t)[0]
	dir := t.TempDir()
	header := filepath.Join(dir, "h.csv")
	os.WriteFile(header, []byte("name,phone\nJon,1\n"), 0o600)
	out, _, err := cli(t, db.env, "import", "--merchant", "m1", header)
	if err == nil || !strings.Contains(err.Error(), `line 1: the CSV header has unknown columns "name", "phone"`) {
		t.Fatalf("a wrong header: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"import", "--merchant", "m1", filepath.Join(dir, "missing.csv")},
		{"import", "--merchant", "nobody", header},
		{"import", "--merchant", "m1", "--on-conflict", "merge", header},
		{"import", header},
		{"export", "--merchant", "m1", "--format", "xml"},
		{"backup", "--db", "postgres://localhost/x", "--out", filepath.Join(dir, "b")},
	} {
		if _, _, err := cli(t, db.env, args...); err == nil {
			t.Fatalf("%v succeeded", args)
		}
	}
	if _, _, err := cli(t, db.env, "backup", "--db", "postgres://localhost/x", "--out", "b"); !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup of PostgreSQL: %v", err)
	}
}

func TestBackupDuringWritesHoldsEveryWriteAcknowledgedBeforeIt(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	s := startServer(t, "sqlite:"+dbPath)
	defer s.stop()
	key := keyPattern.FindString(s.stderr.String())
	type ack struct {
		id string
		at time.Time
	}
	acks := make(chan ack, 100000)
	stop := make(chan struct{})
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				status, body := s.call(t, key, "POST", "/customers", fmt.Sprintf("object_reference_id=w%d-%d&mobile_number=%d", w, i, i+1))
				if status != 200 {
					t.Errorf("create: %d %v", status, body)
					return
				}
				acks <- ack{id: body["id"].(string), at: time.Now()}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	backup := filepath.Join(dir, "backup.db")
	start := time.Now()
	if out, stderr, err := cli(t, nil, "backup", "--db", "sqlite:"+dbPath, "--out", backup); err != nil {
		t.Fatalf("backup: %v\n%s%s", err, out, stderr)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	for range 4 {
		<-done
	}
	close(acks)
	var before, after int
	want := map[string]bool{}
	for a := range acks {
		if a.at.Before(start) {
			want[a.id] = true
			before++
		} else {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("the load did not span the backup: %d writes before it, %d after", before, after)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".backup.db.partial-*")); len(matches) != 0 {
		t.Fatalf("a temporary file is left: %v", matches)
	}
	// Restore: the copy replaces the database file, beside its key file.
	restored := filepath.Join(t.TempDir(), "restored.db")
	copyFile(t, backup, restored)
	copyFile(t, dbPath+".key", restored+".key")
	db, err := sql.Open("sqlite", "file:"+restored)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	rows, err := db.Query(`SELECT id FROM customers`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		delete(want, id)
	}
	rows.Close()
	db.Close()
	if len(want) != 0 {
		t.Fatalf("%d of %d writes acknowledged before the backup started are not in it", len(want), before)
	}
	out, stderr, err := cli(t, map[string]string{"CUSTOMERD_DB": "sqlite:" + restored}, "export", "--merchant", "sandbox")
	if err != nil || strings.Count(out, "\n") < before {
		t.Fatalf("export of the restored database: %v, %d customers\n%s", err, strings.Count(out, "\n"), stderr)
	}
	var first map[string]any
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	if first["object"] != "customer" || first["mobile_number"] == nil {
		t.Fatalf("a restored customer: %v", first)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
