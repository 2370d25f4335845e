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

// ErrBadCursor is returned by a store for a StartingAfter that names no
// object of the merchant's list: the client's mistake, answered 400 and
// never told whether the id exists elsewhere.
var ErrBadCursor = &Error{Code: EINVALID, Message: "starting_after names no object of this list",
	Fields: []FieldError{{Field: "starting_after", Detail: "starting_after names no object of this list"}}}
