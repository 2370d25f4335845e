package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"customerd"
)

func TestParseList(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		query string
		want  customerd.Page
		bad   string // the parameter a 400 must name
	}{
		{name: "defaults: 10, newest first", query: "", want: customerd.Page{Limit: 10}},
		{name: "unknown parameters are ignored", query: "foo=bar&email_address=x", want: customerd.Page{Limit: 10}},
		{name: "an empty value counts as absent", query: "count=&offset=&order=&starting_after=", want: customerd.Page{Limit: 10}},
		{name: "count, offset and order", query: "count=100&offset=20&order=asc", want: customerd.Page{Limit: 100, Offset: 20, Ascending: true}},
		{name: "a cursor", query: "starting_after=cst_0123456789abcdef&order=desc",
			want: customerd.Page{Limit: 10, StartingAfter: "cst_0123456789abcdef"}},
		{name: "a cursor with offset 0", query: "offset=0&starting_after=cst_0123456789abcdef",
			want: customerd.Page{Limit: 10, StartingAfter: "cst_0123456789abcdef"}},
		{name: "created range, + encoded", query: "created_after=2026-12-03T10:00:00%2B0000&created_before=2026-12-03T11:00:00%2B0000",
			want: customerd.Page{Limit: 10, CreatedAfter: at, CreatedBefore: at.Add(time.Hour)}},
		{name: "created range, + unencoded arrives as a space", query: "created_after=2026-12-03T10:00:00+0000",
			want: customerd.Page{Limit: 10, CreatedAfter: at}},
		{name: "count: 0 is out of range", query: "count=0", bad: "count"},
		{name: "count: 101 is out of range", query: "count=101", bad: "count"},
		{name: "count: not a number", query: "count=ten", bad: "count"},
		{name: "count: given twice", query: "count=1&count=2", bad: "count"},
		{name: "offset: negative", query: "offset=-1", bad: "offset"},
		{name: "offset: beyond any list", query: "offset=99999999999", bad: "offset"},
		{name: "starting_after: not an id", query: "starting_after=jon@example.com", bad: "starting_after"},
		{name: "starting_after: an id of another type", query: "starting_after=evt_0123456789abcdef", bad: "starting_after"},
		{name: "starting_after: with a non-zero offset", query: "offset=10&starting_after=cst_0123456789abcdef", bad: "starting_after"},
		{name: "order: neither asc nor desc", query: "order=newest", bad: "order"},
		{name: "created_after: not the wire's layout", query: "created_after=2026-12-03", bad: "created_after"},
		{name: "created_before: RFC 3339 is not the layout", query: "created_before=2026-12-03T10:00:00Z", bad: "created_before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, _, err := parseList(tc.query, "cst_", false)
			if tc.bad == "" {
				if err != nil || page != tc.want {
					t.Fatalf("page %+v, %v; want %+v", page, err, tc.want)
				}
				return
			}
			e := errorFor(err)
			if e.httpStatus != 400 || len(e.fields) != 1 || e.fields[0].Field != tc.bad || e.errorMessage != "Wrong value in "+tc.bad {
				t.Fatalf("error %+v for %q, want a 400 naming %s", e, tc.query, tc.bad)
			}
		})
	}
}

func TestAppendListIsThePHPSDKsShape(t *testing.T) {
	b := appendList(nil, 20, 57, true, 2, func(b []byte, i int) []byte { return append(b, `{"n":`+string(rune('0'+i))+`}`...) })
	var got struct {
		Object  string            `json:"object"`
		Count   int               `json:"count"`
		Offset  int               `json:"offset"`
		Total   int               `json:"total"`
		HasMore bool              `json:"has_more"`
		List    []json.RawMessage `json:"list"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.Object != "list" || got.Count != 2 || got.Offset != 20 || got.Total != 57 || !got.HasMore || len(got.List) != 2 {
		t.Fatalf("envelope %s", b)
	}
	if empty := appendList(nil, 0, 0, false, 0, nil); string(empty) != `{"object":"list","count":0,"offset":0,"total":0,"has_more":false,"list":[]}` {
		t.Fatalf("empty list %s", empty)
	}
}
