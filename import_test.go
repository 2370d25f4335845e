package customerd_test

import (
	"strings"
	"testing"
	"time"

	"customerd"
)

func importReq(id, created, updated string) customerd.ImportRequest {
	r := customerd.ImportRequest{CreateRequest: customerd.CreateRequest{
		ObjectReferenceID: customerd.Present("ref-1"), MobileNumber: customerd.Present("99887766")}}
	if id != "" {
		r.ID = customerd.Present(id)
	}
	if created != "" {
		r.DateCreated = customerd.Present(created)
	}
	if updated != "" {
		r.LastUpdated = customerd.Present(updated)
	}
	return r
}

func TestImportedCustomerKeepsIDAndTimestamps(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c, err := customerd.ImportedCustomer("m1", importReq("cst_om2l6ctlptxwxuzj", "2016-08-02T08:07:52+0000", "2017-01-01T00:00:00+0000"), now)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "cst_om2l6ctlptxwxuzj" || c.DateCreated != time.Date(2016, 8, 2, 8, 7, 52, 0, time.UTC) ||
		c.LastUpdated != time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC) || c.MobileCountryCode != "91" || c.MerchantID != "m1" {
		t.Fatalf("%+v", c)
	}
	// Absent: a fresh id and now; only last_updated: created then too.
	c, err = customerd.ImportedCustomer("m1", importReq("", "", ""), now)
	if err != nil || !customerd.LooksLikeID(c.ID) || c.DateCreated != now || c.LastUpdated != now {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = customerd.ImportedCustomer("m1", importReq("", "", "2020-01-01T00:00:00+0000"), now)
	if err != nil || c.DateCreated != c.LastUpdated || c.DateCreated.Year() != 2020 {
		t.Fatalf("%+v %v", c, err)
	}
	// Another offset is converted to UTC.
	c, err = customerd.ImportedCustomer("m1", importReq("", "2020-01-01T05:30:00+0530", ""), now)
	if err != nil || c.DateCreated != time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestImportedCustomerRejectsEveryBadField(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		req    customerd.ImportRequest
		fields []string
		detail string
	}{
		{importReq("cst_OM2L6CTLPTXWXUZJ", "", ""), []string{"id"}, "cst_"},
		{importReq("cus_om2l6ctlptxwxuzj", "", ""), []string{"id"}, "cst_"},
		{importReq("cst_short", "", ""), []string{"id"}, "cst_"},
		{importReq("", "2016-08-02 08:07:52", ""), []string{"date_created"}, "not a timestamp"},
		{importReq("", "2030-01-01T00:00:00+0000", ""), []string{"date_created"}, "in the future"},
		{importReq("", "2020-01-02T00:00:00+0000", "2020-01-01T00:00:00+0000"), []string{"last_updated"}, "before date_created"},
		{func() customerd.ImportRequest {
			r := importReq("bad", "", "x")
			r.EmailAddress = customerd.Present("_jon@example.com")
			r.MobileNumber = customerd.Value{}
			return r
		}(), []string{"id", "mobile_number", "email_address", "last_updated"}, ""},
	} {
		_, err := customerd.ImportedCustomer("m1", tc.req, now)
		var e *customerd.Error
		if err == nil || customerd.ErrorCode(err) != customerd.EINVALID {
			t.Fatalf("%+v: %v, want EINVALID", tc.req, err)
		}
		e = err.(*customerd.Error)
		var got []string
		for _, f := range e.Fields {
			got = append(got, f.Field)
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") || !strings.Contains(e.Message, tc.detail) {
			t.Fatalf("%+v: fields %v (%s), want %v with %q", tc.req, got, e.Message, tc.fields, tc.detail)
		}
	}
}
