package transfer_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"customerd"
	"customerd/transfer"
)

// readAll reads every row and line error of an import file.
func readAll(t testing.TB, in string, f transfer.Format) (rows []transfer.Row, bad []*transfer.LineError, err error) {
	t.Helper()
	r := transfer.NewReader(strings.NewReader(in), f)
	for {
		row, err := r.Next()
		var le *transfer.LineError
		switch {
		case errors.Is(err, io.EOF):
			return rows, bad, nil
		case errors.As(err, &le):
			bad = append(bad, le)
		case err != nil:
			return rows, bad, err
		default:
			rows = append(rows, row)
		}
	}
}

func TestCSVRowsAndTheirLineNumbers(t *testing.T) {
	in := "\xef\xbb\xbfobject_reference_id, mobile_number ,email_address,first_name,mobile_country_code\r\n" +
		"r1,99887766,jon@example.com,Jon,65\r\n" +
		"\n" +
		`"r,2 ""quoted""",1,,,` + "\n" +
		"r3,1,,\n" + // one field short
		`r4,"1` + "\n" + // a quote that never closes
		"r5,1,,,\n" // no final line break is fine too, but here there is one
	rows, bad, err := readAll(t, in, transfer.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Line != 2 || rows[1].Line != 4 || rows[2].Line != 7 {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0].Req
	if r.ObjectReferenceID != customerd.Present("r1") || r.EmailAddress != customerd.Present("jon@example.com") ||
		r.MobileCountryCode != customerd.Present("65") || r.LastName.Set || r.ID.Set {
		t.Fatalf("row 2: %+v", r)
	}
	if got := rows[1].Req; got.ObjectReferenceID.Value != `r,2 "quoted"` || got.EmailAddress.Set || got.MobileCountryCode.Set {
		t.Fatalf("row 4: an empty cell is an absent field: %+v", got)
	}
	if len(bad) != 2 || bad[0].Line != 5 || !strings.Contains(bad[0].Reason, "has 4 fields, the header has 5") ||
		bad[1].Line != 6 || !strings.Contains(bad[1].Reason, "not closed") {
		t.Fatalf("bad lines %+v", bad)
	}
}

func TestCSVHeaderThatNamesNoFieldsIsAnError(t *testing.T) {
	for in, want := range map[string]string{
		"name,phone\nJon,1\n":                                      `unknown columns "name", "phone"`,
		"object_reference_id,email_address\nr,a@b.co\n":            "has no mobile_number column",
		"object_reference_id,mobile_number,mobile_number\nr,1,2\n": "names mobile_number twice",
		"r1,99887766\n": `unknown columns "r1", "99887766"`,
	} {
		_, _, err := readAll(t, in, transfer.FormatCSV)
		var he *transfer.HeaderError
		if !errors.As(err, &he) || he.Line != 1 || !strings.Contains(he.Error(), want) {
			t.Fatalf("%q: %v, want a header error with %q", in, err, want)
		}
	}
}

func TestNDJSONLinesInTheShapeOfGET(t *testing.T) {
	in := `{"id":"cst_om2l6ctlptxwxuzj","object":"customer","object_reference_id":"customer@gmail.com","mobile_number":"99887766","date_created":"2016-08-02T08:07:52+0000","last_updated":"2016-08-02T08:07:52+0000","email_address":null,"first_name":"Jon","last_name":"Snow","mobile_country_code":"65","juspay":{"client_auth_token":"tkn_x"}}
{"object_reference_id":"r2","mobile_number":99887766,"id":null,"date_created":""}
{"object_reference_id":"r3","mobile_number":"1","mobile_number":"2"}
{"object_reference_id":"r4","mobile_number":{"n":1}}
{"object":"order","object_reference_id":"r5","mobile_number":"1"}
{"object_reference_id":"r6"} {}
{"object_reference_id":"r7","mobile_number":"1"`
	rows, bad, err := readAll(t, in, transfer.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0].Req
	if r.ID.Value != "cst_om2l6ctlptxwxuzj" || r.DateCreated.Value != "2016-08-02T08:07:52+0000" ||
		r.EmailAddress != customerd.Present("") || r.LastName.Value != "Snow" {
		t.Fatalf("line 1: %+v", r)
	}
	if r := rows[1].Req; r.MobileNumber.Value != "99887766" || r.ID.Set || r.DateCreated.Set {
		t.Fatalf("line 2: %+v", r)
	}
	want := []struct {
		line          int
		field, reason string
	}{
		{3, "mobile_number", "given twice"},
		{4, "mobile_number", "must be a string or a number"},
		{5, "object", `is "order"`},
		{6, "", "more than one JSON value"},
		{7, "", "cut short"},
	}
	if len(bad) != len(want) {
		t.Fatalf("bad lines %+v", bad)
	}
	for i, w := range want {
		if b := bad[i]; b.Line != w.line || b.Field != w.field || !strings.Contains(b.Reason, w.reason) {
			t.Fatalf("bad line %d: %+v, want %+v", i, b, w)
		}
	}
}

func TestLinesThatAreNotTextAreRejectedAndReadingGoesOn(t *testing.T) {
	in := `{"object_reference_id":"a","mobile_number":"1"}` + "\n" +
		`{"object_reference_id":"b` + "\xff\xfe" + `","mobile_number":"1"}` + "\n" +
		`{"object_reference_id":"c` + "\x00" + `","mobile_number":"1"}` + "\n" +
		`{"object_reference_id":"` + strings.Repeat("d", 1<<20) + `","mobile_number":"1"}` + "\n" +
		`{"object_reference_id":"e","mobile_number":"1"}` + "\n"
	rows, bad, err := readAll(t, in, transfer.FormatNDJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Line != 1 || rows[1].Line != 5 || rows[1].Req.ObjectReferenceID.Value != "e" {
		t.Fatalf("rows %+v", rows)
	}
	reasons := []string{"not valid UTF-8", "NUL byte", "longer than 65536 bytes"}
	if len(bad) != 3 {
		t.Fatalf("bad %+v", bad)
	}
	for i, want := range reasons {
		if bad[i].Line != i+2 || !strings.Contains(bad[i].Reason, want) {
			t.Fatalf("line %d: %+v, want %q", i+2, bad[i], want)
		}
	}
}

func TestCSVExportReadsBackTheSame(t *testing.T) {
	c := &customerd.Customer{ID: "cst_om2l6ctlptxwxuzj", ObjectReferenceID: `a,"b" c`, MobileNumber: "99887766",
		MobileCountryCode: "65", EmailAddress: "jon@example.com", FirstName: "Jon"}
	in := transfer.CSVHeader + string(transfer.AppendCSV(nil, c))
	rows, bad, err := readAll(t, in, transfer.FormatAuto)
	if err != nil || len(bad) != 0 || len(rows) != 1 {
		t.Fatalf("%+v %+v %v", rows, bad, err)
	}
	r := rows[0].Req
	if r.ID.Value != c.ID || r.ObjectReferenceID.Value != c.ObjectReferenceID || r.LastName.Set ||
		r.DateCreated.Value != "0001-01-01T00:00:00+0000" {
		t.Fatalf("%+v", r)
	}
}

// FuzzReader feeds arbitrary files to the reader: it never panics, line
// numbers only grow, and every value it returns is valid UTF-8 without NUL.
func FuzzReader(f *testing.F) {
	f.Add([]byte("object_reference_id,mobile_number\nr1,1\n\"a\"\"b\",2\n"))
	f.Add([]byte(`{"object_reference_id":"r","mobile_number":1,"juspay":{"a":[1,{"b":2}]}}` + "\n{\n\n"))
	f.Add([]byte("\xef\xbb\xbfid,object_reference_id,mobile_number,date_created\ncst_x,\"r\n"))
	f.Add([]byte{0, 0xff, '\n', '{', '"'})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []transfer.Format{transfer.FormatAuto, transfer.FormatCSV, transfer.FormatNDJSON} {
			r := transfer.NewReader(bytes.NewReader(data), format)
			last := 0
			for i := 0; ; i++ {
				if i > len(data)+1 {
					t.Fatalf("more results than lines")
				}
				row, err := r.Next()
				var le *transfer.LineError
				if errors.As(err, &le) {
					if le.Line <= last {
						t.Fatalf("line %d after %d", le.Line, last)
					}
					last = le.Line
					continue
				}
				if err != nil {
					break
				}
				if row.Line <= last {
					t.Fatalf("line %d after %d", row.Line, last)
				}
				last = row.Line
				for _, v := range []customerd.Value{row.Req.ID, row.Req.ObjectReferenceID, row.Req.MobileNumber,
					row.Req.MobileCountryCode, row.Req.EmailAddress, row.Req.FirstName, row.Req.LastName,
					row.Req.DateCreated, row.Req.LastUpdated} {
					if !utf8.ValidString(v.Value) {
						t.Fatalf("line %d: a value that is not UTF-8: %q", row.Line, v.Value)
					}
				}
			}
		}
	})
}

// FuzzSplitCSV: a record written by AppendCSVField splits back into its
// fields, and no input panics.
func FuzzSplitCSV(f *testing.F) {
	f.Add("a", "b,c", `d"e`)
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		_, _ = transfer.SplitCSV(a+b+c, nil)
		rec := transfer.AppendCSVField(nil, a)
		rec = append(rec, ',')
		rec = transfer.AppendCSVField(rec, b)
		rec = append(rec, ',')
		rec = transfer.AppendCSVField(rec, c)
		got, err := transfer.SplitCSV(string(rec), nil)
		if err != nil || len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
			t.Fatalf("%q split into %q, %v", rec, got, err)
		}
	})
}
