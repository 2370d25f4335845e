package dashboard

import (
	"net/http"
	"slices"
	"strings"

	"customerd"
)

// listPageSize is how many customers a page of the list shows.
const listPageSize = 25

// searchFields are what the customers list searches by: the list API's
// exact-match filters.
var searchFields = []struct{ Field, Label string }{
	{customerd.FieldEmailAddress, "Email address"},
	{customerd.FieldMobileNumber, "Mobile number"},
	{customerd.FieldObjectReferenceID, "Reference"},
}

// customersPage is the body of the customers list.
type customersPage struct {
	Customers []*customerd.Customer
	Total     int
	Fields    []struct{ Field, Label string }
	By, Query string // the search made, if any
	Searched  bool
	Error     string // why the search was refused
	Truncated bool   // more matches than one page shows
	// Newer and Older are the ids to page from; "" when there is no such page.
	Newer, Older string
}

// customers shows a page of the merchant's customers, newest first. The
// page is named by a customer id, the list API's cursor: ?after=id for the
// older ones, ?before=id for the newer.
func (h *Handler) customers(w http.ResponseWriter, r *http.Request, s *session) {
	q := customerd.CustomerSearch{Page: customerd.Page{Limit: listPageSize}}
	after, before := r.URL.Query().Get("after"), r.URL.Query().Get("before")
	switch {
	case customerd.LooksLikeID(after):
		q.StartingAfter = after
	case customerd.LooksLikeID(before):
		q.StartingAfter, q.Ascending = before, true
	}
	ctx, cancel := storeContext(r)
	defer cancel()
	list, total, more, err := h.svc.ListCustomers(ctx, s.merchantID, q)
	if err != nil {
		if customerd.ErrorCode(err) == customerd.EINVALID { // a cursor of an erased or unknown customer
			http.Redirect(w, r, Prefix+"customers", http.StatusSeeOther)
			return
		}
		h.fail(w, r, s, err)
		return
	}
	p := customersPage{Customers: list, Total: total, Fields: searchFields, By: customerd.FieldEmailAddress}
	if q.Ascending {
		slices.Reverse(list)
		if len(list) == 0 {
			http.Redirect(w, r, Prefix+"customers", http.StatusSeeOther)
			return
		}
		if more {
			p.Newer = list[0].ID
		}
		p.Older = list[len(list)-1].ID
	} else {
		if more && len(list) > 0 {
			p.Older = list[len(list)-1].ID
		}
		if q.StartingAfter != "" && len(list) > 0 {
			p.Newer = list[0].ID
		}
	}
	h.render(w, r, http.StatusOK, "customers", h.signedInView(s, "Customers", "customers", p))
}

// searchCustomers finds customers by one exact value. It is a POST, and
// its answer the page itself rather than a redirect, so that the value is
// never in a URL, a browser's history or an access log.
func (h *Handler) searchCustomers(w http.ResponseWriter, r *http.Request, s *session) {
	by, value := r.PostForm.Get("by"), strings.TrimSpace(r.PostForm.Get("q"))
	p := customersPage{Fields: searchFields, By: by, Query: value, Searched: true}
	q := customerd.CustomerSearch{Page: customerd.Page{Limit: customerd.MaxPageSize}}
	switch by {
	case customerd.FieldEmailAddress:
		q.EmailAddress = value
	case customerd.FieldMobileNumber:
		q.MobileNumber = value
	case customerd.FieldObjectReferenceID:
		q.ObjectReferenceID = value
	default:
		p.By, p.Error = customerd.FieldEmailAddress, "Choose what to search by."
	}
	if value == "" && p.Error == "" {
		p.Error = "Enter a value to search for."
	}
	status := http.StatusOK
	if p.Error == "" {
		ctx, cancel := storeContext(r)
		defer cancel()
		list, total, more, err := h.svc.ListCustomers(ctx, s.merchantID, q)
		if fe, ok := fieldErrors(err); ok {
			p.Error = fe[by]
			status = http.StatusBadRequest
		} else if err != nil {
			h.fail(w, r, s, err)
			return
		}
		p.Customers, p.Total, p.Truncated = list, total, more
	} else {
		status = http.StatusBadRequest
	}
	h.render(w, r, status, "customers", h.signedInView(s, "Search customers", "customers", p))
}

// findCustomer finds the customer a page's path names, by id only: a
// reference may be personal data, and has no place in a URL.
func (h *Handler) findCustomer(w http.ResponseWriter, r *http.Request, s *session) *customerd.Customer {
	id := r.PathValue("id")
	if !customerd.LooksLikeID(id) {
		h.renderError(w, r, s, http.StatusNotFound, "There is no such customer.")
		return nil
	}
	ctx, cancel := storeContext(r)
	defer cancel()
	c, err := h.svc.FindCustomer(ctx, s.merchantID, id)
	if err != nil {
		h.fail(w, r, s, err)
		return nil
	}
	if c.ID != id { // the id was another customer's reference
		h.renderError(w, r, s, http.StatusNotFound, "There is no such customer.")
		return nil
	}
	return c
}

// customerPage is the body of a customer's page.
type customerPage struct {
	Customer *customerd.Customer
	Timeline []timelineEntry
	More     bool // older events than the timeline shows
}

// timelineLength is how many of a customer's events its page shows.
const timelineLength = 100

// customer shows a customer's fields and history.
func (h *Handler) customer(w http.ResponseWriter, r *http.Request, s *session) {
	c := h.findCustomer(w, r, s)
	if c == nil {
		return
	}
	ctx, cancel := storeContext(r)
	defer cancel()
	events, _, more, err := h.svc.CustomerEvents(ctx, s.merchantID, c.ID, customerd.Page{Limit: timelineLength})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	p := customerPage{Customer: c, Timeline: timeline(events), More: more}
	h.render(w, r, http.StatusOK, "customer", h.signedInView(s, customerTitle(c), "customers", p))
}

// customerTitle names a customer on its pages.
func customerTitle(c *customerd.Customer) string {
	if name := strings.TrimSpace(c.FirstName + " " + c.LastName); name != "" {
		return name
	}
	return c.ObjectReferenceID
}
