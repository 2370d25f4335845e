package httpapi_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// listRefs returns the object_reference_id of every customer of a list
// response, in order.
func listRefs(t *testing.T, r *response) []string {
	t.Helper()
	var out []string
	for _, c := range eventsOf(t, r) {
		ref, _ := c["object_reference_id"].(string)
		out = append(out, ref)
	}
	return out
}

// wantList fails unless r is a list of the customers with these
// references, in this order, with this total and has_more.
func wantList(t *testing.T, r *response, total int, more bool, refs ...string) {
	t.Helper()
	got := listRefs(t, r)
	if !slices.Equal(got, refs) || r.json["total"] != float64(total) || r.json["has_more"] != more ||
		r.json["count"] != float64(len(refs)) {
		t.Fatalf("list %v, total %v, has_more %v, count %v; want %v, %d, %v\n%s",
			got, r.json["total"], r.json["has_more"], r.json["count"], refs, total, more, r.body)
	}
}

// lastID is the id of the last customer of a list response.
func lastID(t *testing.T, r *response) string {
	t.Helper()
	list := eventsOf(t, r)
	if len(list) == 0 {
		t.Fatalf("an empty page has no last id: %s", r.body)
	}
	return list[len(list)-1]["id"].(string)
}

func TestListCustomersShapeAndPaging(t *testing.T) {
	a := newTestAPI(t)
	ids := map[string]string{}
	for i := range 5 {
		ref := fmt.Sprintf("r%d", i)
		ids[ref] = a.create("object_reference_id=" + ref + "&mobile_number=9988776" + fmt.Sprint(i)).str("id")
		a.advance(time.Second)
	}
	r := a.do("GET", "/customers", "")
	wantStatus(t, r, 200)
	if r.header.Get("X-Jp-Merchant-Id") != "m1" {
		t.Fatalf("x-jp-merchant-id %q", r.header.Get("X-Jp-Merchant-Id"))
	}
	// The envelope, exactly: numbers are JSON numbers, each customer the
	// object GET returns.
	keys := make([]string, 0, len(r.json))
	for k := range r.json {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "count,has_more,list,object,offset,total" || r.json["object"] != "list" ||
		r.json["offset"] != float64(0) || !strings.HasPrefix(string(r.body), `{"object":"list","count":5,"offset":0,"total":5,"has_more":false,"list":[{"id":"`) {
		t.Fatalf("envelope: %s", r.body)
	}
	wantList(t, r, 5, false, "r4", "r3", "r2", "r1", "r0")
	one := a.do("GET", "/customers/r2", "")
	if got := eventsOf(t, r)[2]; fmt.Sprint(got) != fmt.Sprint(one.json) {
		t.Fatalf("listed\n%v\nGET\n%v", got, one.json)
	}
	// count and has_more; walking with the cursor, newest first and oldest first.
	r = a.do("GET", "/customers?count=2", "")
	wantList(t, r, 5, true, "r4", "r3")
	r = a.do("GET", "/customers?count=2&starting_after="+lastID(t, r), "")
	wantList(t, r, 5, true, "r2", "r1")
	r = a.do("GET", "/customers?count=2&starting_after="+lastID(t, r), "")
	wantList(t, r, 5, false, "r0")
	r = a.do("GET", "/customers?order=asc&count=3&starting_after="+ids["r1"], "")
	wantList(t, r, 5, false, "r2", "r3", "r4")
	r = a.do("GET", "/customers?order=desc&count=3&offset=3", "")
	wantList(t, r, 5, false, "r1", "r0")
	if r.json["offset"] != float64(3) {
		t.Fatalf("offset echoed as %v", r.json["offset"])
	}
	wantList(t, a.do("GET", "/customers?offset=50", ""), 5, false)
	// The created range: after inclusive, before exclusive, with a '+' that
	// arrived unencoded (a space) or encoded.
	r = a.do("GET", "/customers?created_after=2026-03-04T05:06:08+0000&created_before=2026-03-04T05:06:10%2B0000", "")
	wantList(t, r, 2, false, "r2", "r1")
	// Empty values are absent, unknown parameters ignored.
	r = a.do("GET", "/customers?count=&offset=&order=&starting_after=&email_address=&mobile_number=&object_reference_id=&created_after=&colour=blue", "")
	wantList(t, r, 5, false, "r4", "r3", "r2", "r1", "r0")
	// Another merchant's list is its own.
	wantList(t, a.do("GET", "/customers", "", basicAuth(a.key2)), 0, false)
	if r := a.do("GET", "/customers", "", basicAuth(a.key2)); string(r.body) != `{"object":"list","count":0,"offset":0,"total":0,"has_more":false,"list":[]}` {
		t.Fatalf("an empty list: %s", r.body)
	}
}

func TestSearchCustomers(t *testing.T) {
	a := newTestAPI(t)
	a.create("object_reference_id=jon&mobile_number=99887766&email_address=jon%2Btag%40example.com&first_name=Jon")
	a.advance(time.Second)
	a.create("object_reference_id=ann&mobile_number=99887766&email_address=ann%40example.com")
	a.advance(time.Second)
	a.create("object_reference_id=99887766&mobile_number=11112222")
	a.do("POST", "/customers", "object_reference_id=jon&mobile_number=99887766&email_address=jon%2Btag%40example.com", basicAuth(a.key2))

	for _, tc := range []struct {
		query string
		refs  []string
	}{
		{"email_address=jon%2Btag%40example.com", []string{"jon"}},
		{"email_address=jon%2Btag@example.com", []string{"jon"}}, // '@' needs no escape
		{"email_address=JON%2Btag%40example.com", nil},           // exact: no case folding
		{"mobile_number=99887766", []string{"ann", "jon"}},
		{"mobile_number=99887766&order=asc", []string{"jon", "ann"}},
		{"mobile_number=11112222", []string{"99887766"}},
		{"object_reference_id=99887766", []string{"99887766"}}, // a reference is not a mobile number
		{"object_reference_id=jon", []string{"jon"}},
		{"object_reference_id=jo", nil},
		{"mobile_number=99887766&email_address=ann%40example.com", []string{"ann"}},
		{"object_reference_id=jon&email_address=ann%40example.com", nil},
		{"mobile_number=99887766&created_before=2026-03-04T05:06:08%2B0000", []string{"jon"}},
		{"email_address=nobody%40example.com", nil},
	} {
		r := a.do("GET", "/customers?"+tc.query, "")
		wantList(t, r, len(tc.refs), false, tc.refs...)
		for _, c := range eventsOf(t, r) {
			if c["object_reference_id"] == "jon" && (c["first_name"] != "Jon" || c["email_address"] != "jon+tag@example.com") {
				t.Fatalf("%s: the customer is not opened whole: %v", tc.query, c)
			}
		}
	}
	// Paging a filter, with its total.
	r := a.do("GET", "/customers?mobile_number=99887766&count=1", "")
	wantList(t, r, 2, true, "ann")
	wantList(t, a.do("GET", "/customers?mobile_number=99887766&count=1&starting_after="+lastID(t, r), ""), 2, false, "jon")
	// A search follows an update of the field.
	wantStatus(t, a.do("POST", "/customers/ann", "email_address=ann.new%40example.com"), 200)
	wantList(t, a.do("GET", "/customers?email_address=ann%40example.com", ""), 0, false)
	wantList(t, a.do("GET", "/customers?email_address=ann.new%40example.com", ""), 1, false, "ann")
}

func TestListCustomersBadInput(t *testing.T) {
	a := newTestAPI(t)
	first := a.create("object_reference_id=r0&mobile_number=1").str("id")
	theirs := a.do("POST", "/customers", "object_reference_id=t&mobile_number=1", basicAuth(a.key2)).str("id")
	for _, tc := range []struct {
		query, param string
		valid        bool // the request follows the document; the server still refuses it
	}{
		{"count=0", "count", false},
		{"count=101", "count", false},
		{"count=ten", "count", false},
		{"offset=-1", "offset", false},
		{"offset=1&starting_after=" + first, "starting_after", true},
		{"starting_after=r0", "starting_after", false}, // a reference is no cursor
		{"starting_after=evt_0123456789abcdef", "starting_after", false},
		{"starting_after=cst_0123456789abcdef", "starting_after", true}, // no such customer
		{"starting_after=" + theirs, "starting_after", true},            // another merchant's
		{"order=newest", "order", false},
		{"created_after=yesterday", "created_after", true},
		{"created_before=2026-03-04", "created_before", true},
		{"email_address=jon", "email_address", false},
		{"email_address=jon+tag%40example.com", "email_address", false}, // '+' unencoded is a space
		{"mobile_number=%2B919988776655", "mobile_number", false},
		{"mobile_number=12345678901234567", "mobile_number", false},
		{"object_reference_id=a%0Ab", "object_reference_id", false},
		{"count=5&count=6", "count", false},
	} {
		var opts []reqOpt
		if !tc.valid {
			opts = append(opts, breaksContract())
		}
		r := a.do("GET", "/customers?"+tc.query, "", opts...)
		wantStatus(t, r, 400)
		fields, _ := r.json["error_info"].(map[string]any)["fields"].([]any)
		if r.str("error_message") != "Wrong value in "+tc.param || r.str("error_code") != "Invalid Request" ||
			len(fields) == 0 || fields[0].(map[string]any)["field_name"] != tc.param {
			t.Fatalf("%s: %s", tc.query, r.body)
		}
	}
	// Another merchant's customer and one that does not exist are the same
	// answer, byte for byte: a cursor tells nothing about other merchants.
	mine := a.do("GET", "/customers?starting_after=cst_0123456789abcdef", "")
	other := a.do("GET", "/customers?starting_after="+theirs, "")
	if string(mine.body) != string(other.body) {
		t.Fatalf("an unknown cursor\n%s\nanother merchant's\n%s", mine.body, other.body)
	}
	// Authentication comes first.
	r := a.do("GET", "/customers?count=0", "", noAuth(), breaksContract())
	wantStatus(t, r, 401)
}

func TestListCustomersLeavesErasedOnesOutButKeepsTheirPlace(t *testing.T) {
	a := newTestAPI(t)
	for i := range 4 {
		a.create(fmt.Sprintf("object_reference_id=r%d&mobile_number=5550%d&email_address=r%d%%40example.com", i, i, i))
		a.advance(time.Second)
	}
	gone := a.do("GET", "/customers/r1", "").str("id")
	wantStatus(t, a.do("DELETE", "/customers/r1", ""), 200)
	wantList(t, a.do("GET", "/customers", ""), 3, false, "r3", "r2", "r0")
	for _, q := range []string{"object_reference_id=r1", "mobile_number=55501", "email_address=r1%40example.com"} {
		wantList(t, a.do("GET", "/customers?"+q, ""), 0, false)
	}
	wantList(t, a.do("GET", "/customers?starting_after="+gone, ""), 3, false, "r0")
	wantList(t, a.do("GET", "/customers?order=asc&starting_after="+gone, ""), 3, false, "r2", "r3")
	// The reference is free again, and the new customer is listed.
	a.create("object_reference_id=r1&mobile_number=55501")
	wantList(t, a.do("GET", "/customers?mobile_number=55501", ""), 1, false, "r1")
	wantList(t, a.do("GET", "/customers?count=1", ""), 4, true, "r1")
}

// What Juspay's PHP SDK sends for Customer::listAll($params) (a GET with
// http_build_query($params) as its query, or none for null) and what it
// reads back: JuspayEntityList takes count, offset and total, CustomerList
// builds a Customer of every element of list, whose constructor camelizes
// each key and reads date_created and last_updated with date_create.
func TestPHPSDKListAll(t *testing.T) {
	a := newTestAPI(t)
	for i := range 3 {
		a.create(fmt.Sprintf("object_reference_id=php%d%%40example.com&mobile_number=9988776%d&email_address=php%d%%2Btag%%40example.com", i, i, i))
		a.advance(time.Minute)
	}
	httpBuildQuery := func(params [][2]string) string {
		var parts []string
		for _, kv := range params {
			parts = append(parts, kv[0]+"="+url.QueryEscape(kv[1]))
		}
		return strings.Join(parts, "&")
	}
	for _, tc := range []struct {
		params                [][2]string
		count, offset, total  int
		firstRef, firstCreate string
	}{
		{nil, 3, 0, 3, "php2@example.com", "2026-03-04T05:08:07+0000"},
		{[][2]string{{"count", "2"}, {"offset", "1"}}, 2, 1, 3, "php1@example.com", "2026-03-04T05:07:07+0000"},
		{[][2]string{{"email_address", "php0+tag@example.com"}}, 1, 0, 1, "php0@example.com", "2026-03-04T05:06:07+0000"},
	} {
		path := "/customers"
		if q := httpBuildQuery(tc.params); q != "" {
			path += "?" + q
		}
		r := a.do("GET", path, "", header("version", "2019-05-07"), header("User-Agent", "PHP_SDK/1.0"))
		wantStatus(t, r, 200)
		// PHP's json_decode($body, true): integers stay integers.
		for key, want := range map[string]int{"count": tc.count, "offset": tc.offset, "total": tc.total} {
			if v, ok := r.json[key].(float64); !ok || v != float64(want) || !strings.Contains(string(r.body), fmt.Sprintf(`"%s":%d`, key, want)) {
				t.Fatalf("%s: %s is %v, want the integer %d", path, key, r.json[key], want)
			}
		}
		list, ok := r.json["list"].([]any)
		if !ok || len(list) != tc.count { // sizeof($params["list"])
			t.Fatalf("%s: list %v", path, r.json["list"])
		}
		c := list[0].(map[string]any)
		camel := map[string]any{}
		for k, v := range c {
			words := strings.Split(k, "_")
			for i := 1; i < len(words); i++ {
				words[i] = strings.ToUpper(words[i][:1]) + words[i][1:]
			}
			camel[strings.Join(words, "")] = v
		}
		if camel["objectReferenceId"] != tc.firstRef || camel["mobileCountryCode"] != "91" || camel["emailAddress"] == nil {
			t.Fatalf("%s: the first customer as the SDK reads it: %v", path, camel)
		}
		for _, k := range []string{"dateCreated", "lastUpdated"} {
			s, _ := camel[k].(string)
			if ts, err := time.Parse("2006-01-02T15:04:05-0700", s); err != nil || k == "dateCreated" && s != tc.firstCreate {
				t.Fatalf("%s: %s = %q does not parse as date_create reads it (%v, %v)", path, k, s, ts, err)
			}
		}
	}
}
