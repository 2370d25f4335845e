package httpapi

import (
	"strconv"
	"strings"
	"time"

	"customerd"
)

// maxOffset bounds offset, so that a page is never asked to skip more than
// a database can count.
const maxOffset = 1 << 30

// parseList reads the paging of a list request (extensions §1) from its
// query string and returns it with the query's other parameters, for the
// list's own filters. idPrefix is the type prefix ("cst_", "evt_") that a
// starting_after cursor must have; ascending is the list's default order.
// An empty value counts as absent. Every mistake is a 400 naming the
// parameter.
func parseList(rawQuery, idPrefix string, ascending bool) (customerd.Page, params, error) {
	q, err := parseForm(rawQuery)
	if err != nil {
		return customerd.Page{}, nil, err
	}
	page := customerd.Page{Limit: customerd.DefaultPageSize, Ascending: ascending}
	if v := q["count"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > customerd.MaxPageSize {
			return page, nil, fieldErr("count", "count: must be a whole number from 1 to 100")
		}
		page.Limit = n
	}
	if v := q["offset"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxOffset {
			return page, nil, fieldErr("offset", "offset: must be a whole number, 0 or more")
		}
		page.Offset = n
	}
	if v := q["starting_after"]; v != "" {
		if !isID(v, idPrefix) {
			return page, nil, fieldErr("starting_after", "starting_after: must be an id ("+idPrefix+"…) of this list")
		}
		if page.Offset != 0 {
			return page, nil, fieldErr("starting_after", "starting_after: cannot be combined with a non-zero offset")
		}
		page.StartingAfter = v
	}
	switch q["order"] {
	case "":
	case "asc":
		page.Ascending = true
	case "desc":
		page.Ascending = false
	default:
		return page, nil, fieldErr("order", "order: must be asc or desc")
	}
	for _, b := range [...]struct {
		name string
		dst  *time.Time
	}{{"created_after", &page.CreatedAfter}, {"created_before", &page.CreatedBefore}} {
		v := q[b.name]
		if v == "" {
			continue
		}
		t, ok := parseTimestamp(v)
		if !ok {
			return page, nil, fieldErr(b.name, b.name+": must be a timestamp like 2026-12-03T10:00:00+0000")
		}
		*b.dst = t
	}
	return page, q, nil
}

// isID reports whether s is prefix followed by 16 characters of [a-z0-9],
// the shape of every id customerd makes.
func isID(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != 16 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parseTimestamp reads a timestamp in the wire's layout. A '+' that arrived
// unencoded in a query string was decoded as a space: it is read as '+'.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) == len(TimeLayout) && s[len(s)-5] == ' ' {
		s = s[:len(s)-5] + "+" + s[len(s)-4:]
	}
	t, err := time.Parse(TimeLayout, s)
	return t.UTC(), err == nil
}

// appendList appends the list envelope Juspay's PHP SDK (Customer::listAll)
// reads, with a cursor's has_more: n items, each appended by item.
func appendList(b []byte, offset, total int, hasMore bool, n int, item func(b []byte, i int) []byte) []byte {
	b = append(b, `{"object":"list","count":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(offset), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"list":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, i)
	}
	return append(b, "]}"...)
}
