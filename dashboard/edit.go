package dashboard

import (
	"net/http"
	"strings"

	"customerd"
)

// editField is one input of the edit form.
type editField struct {
	Name, Label, Value, Error string
	Type, AutoComplete        string
	Hint                      string
}

// editPage is the body of the edit form.
type editPage struct {
	Customer *customerd.Customer
	Fields   []editField
	Failed   bool
}

// editable are the fields an update may set, with how their inputs look.
// The rules are the service's: the form only reports what it says.
var editable = []editField{
	{Name: customerd.FieldMobileCountryCode, Label: "Mobile country code", Type: "text", AutoComplete: "off", Hint: "digits, an optional leading +"},
	{Name: customerd.FieldMobileNumber, Label: "Mobile number", Type: "text", AutoComplete: "off", Hint: "digits only"},
	{Name: customerd.FieldEmailAddress, Label: "Email address", Type: "text", AutoComplete: "off", Hint: "empty clears it"},
	{Name: customerd.FieldFirstName, Label: "First name", Type: "text", AutoComplete: "off", Hint: "letters, digits and ( ) . - _; empty clears it"},
	{Name: customerd.FieldLastName, Label: "Last name", Type: "text", AutoComplete: "off", Hint: "letters, digits and ( ) . - _; empty clears it"},
}

// formFields are the edit form's inputs holding values, and the errors
// next to them.
func formFields(values func(field string) string, errs map[string]string) []editField {
	out := make([]editField, len(editable))
	for i, f := range editable {
		f.Value, f.Error = values(f.Name), errs[f.Name]
		out[i] = f
	}
	return out
}

// editForm shows the edit form with the customer's values.
func (h *Handler) editForm(w http.ResponseWriter, r *http.Request, s *session) {
	c := h.findCustomer(w, r, s)
	if c == nil {
		return
	}
	p := editPage{Customer: c, Fields: formFields(func(f string) string { return fieldValue(c, f) }, nil)}
	h.render(w, r, http.StatusOK, "edit", h.signedInView(s, "Edit "+customerTitle(c), "customers", p))
}

// edit updates the fields the form changed. The service's field errors are
// shown next to their fields, with the values as typed.
func (h *Handler) edit(w http.ResponseWriter, r *http.Request, s *session) {
	c := h.findCustomer(w, r, s)
	if c == nil {
		return
	}
	var req customerd.UpdateRequest
	for _, f := range []struct {
		field string
		dst   *customerd.Value
	}{
		{customerd.FieldMobileCountryCode, &req.MobileCountryCode},
		{customerd.FieldMobileNumber, &req.MobileNumber},
		{customerd.FieldEmailAddress, &req.EmailAddress},
		{customerd.FieldFirstName, &req.FirstName},
		{customerd.FieldLastName, &req.LastName},
	} {
		if v := strings.TrimSpace(r.PostForm.Get(f.field)); v != fieldValue(c, f.field) {
			*f.dst = customerd.Present(v)
		}
	}
	ctx, cancel := storeContext(r)
	defer cancel()
	_, err := h.svc.UpdateCustomer(ctx, s.caller(w), c.ID, req)
	if errs, ok := fieldErrors(err); ok {
		p := editPage{Customer: c, Failed: true,
			Fields: formFields(func(f string) string { return strings.TrimSpace(r.PostForm.Get(f)) }, errs)}
		h.render(w, r, http.StatusBadRequest, "edit", h.signedInView(s, "Edit "+customerTitle(c), "customers", p))
		return
	}
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.sessions.setFlash(s, "Saved.")
	http.Redirect(w, r, Prefix+"customers/"+c.ID, http.StatusSeeOther)
}

// erasePage is the body of the erasure's confirmation.
type erasePage struct {
	Customer *customerd.Customer
	Name     string
}

// eraseForm asks to confirm the erasure, naming the customer.
func (h *Handler) eraseForm(w http.ResponseWriter, r *http.Request, s *session) {
	c := h.findCustomer(w, r, s)
	if c == nil {
		return
	}
	h.render(w, r, http.StatusOK, "erase", h.signedInView(s, "Erase "+customerTitle(c), "customers",
		erasePage{Customer: c, Name: customerTitle(c)}))
}

// erase erases the customer, once confirmed.
func (h *Handler) erase(w http.ResponseWriter, r *http.Request, s *session) {
	c := h.findCustomer(w, r, s)
	if c == nil {
		return
	}
	ctx, cancel := storeContext(r)
	defer cancel()
	if _, err := h.svc.EraseCustomer(ctx, s.caller(w), c.ID); err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.sessions.setFlash(s, "Customer "+c.ID+" has been erased.")
	http.Redirect(w, r, Prefix+"customers", http.StatusSeeOther)
}
