package customerd

import "time"

// Page sizes of list requests (extensions §1).
const (
	DefaultPageSize = 10
	MaxPageSize     = 100
)

// Page says which part of a list a request wants: the extensions' paging,
// the same for every list (customers, events, webhook endpoints, attempts).
// Lists are ordered by creation, ties broken by id in the same direction.
type Page struct {
	Limit  int // items wanted: 1 to MaxPageSize
	Offset int // matching items skipped before the page
	// StartingAfter is an object's id: the page starts right after that
	// object in this order. It is never combined with a non-zero Offset.
	StartingAfter string
	Ascending     bool      // oldest first
	CreatedAfter  time.Time // inclusive; zero for no bound
	CreatedBefore time.Time // exclusive; zero for no bound
}

// TotalOf returns how many items match a list in all, paging aside, when a
// page read with p tells it: the page has n items and is the list's last
// (more is false), and it was not read from a cursor, so the items before it
// are exactly the Offset skipped. A store answers such a page without
// counting; ok is false when it must count.
func (p Page) TotalOf(n int, more bool) (total int, ok bool) {
	if more || p.StartingAfter != "" || n == 0 && p.Offset > 0 {
		return 0, false
	}
	return p.Offset + n, true
}

// CutPage returns the page of items read with p, which a store reads with
// one item more than p.Limit, and whether another page follows: the extra
// item, when there is one, is cut off.
func CutPage[T any](items []T, p Page) ([]T, bool) {
	if len(items) > p.Limit {
		return items[:p.Limit], true
	}
	return items, false
}

// ErrBadCursor is returned by a store for a StartingAfter that names no
// object of the merchant's list: the client's mistake, answered 400 and
// never told whether the id exists elsewhere.
var ErrBadCursor = &Error{Code: EINVALID, Message: "starting_after names no object of this list",
	Fields: []FieldError{{Field: "starting_after", Detail: "starting_after names no object of this list"}}}
