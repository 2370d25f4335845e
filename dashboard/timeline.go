package dashboard

import (
	"time"

	"customerd"
)

// timelineEntry is one event of a customer's history: who did what, when,
// and each field's old and new value.
type timelineEntry struct {
	What      string
	When      time.Time
	Who       string // the API key's prefix, or "an operator" for a command
	RequestID string
	Changes   []change
	Erased    bool // the customer has been erased since: values are gone
}

// change is one field of an event. Old is shown only for an update.
type change struct {
	Field    string
	Old, New string
	OldNull  bool
	NewNull  bool
	IsUpdate bool
}

// fieldLabels are the customer fields as a page names them, in order.
var fieldLabels = []struct{ Field, Label string }{
	{customerd.FieldObjectReferenceID, "Reference"},
	{customerd.FieldMobileNumber, "Mobile number"},
	{customerd.FieldMobileCountryCode, "Mobile country code"},
	{customerd.FieldEmailAddress, "Email address"},
	{customerd.FieldFirstName, "First name"},
	{customerd.FieldLastName, "Last name"},
}

// label is the name a page gives a field.
func label(field string) string {
	for _, f := range fieldLabels {
		if f.Field == field {
			return f.Label
		}
	}
	return field
}

// fieldValue is a customer's value of a field by its wire name.
func fieldValue(c *customerd.Customer, field string) string {
	switch field {
	case customerd.FieldObjectReferenceID:
		return c.ObjectReferenceID
	case customerd.FieldMobileNumber:
		return c.MobileNumber
	case customerd.FieldMobileCountryCode:
		return c.MobileCountryCode
	case customerd.FieldEmailAddress:
		return c.EmailAddress
	case customerd.FieldFirstName:
		return c.FirstName
	case customerd.FieldLastName:
		return c.LastName
	}
	return ""
}

// timeline turns a customer's events into its history, in their order.
func timeline(events []*customerd.Event) []timelineEntry {
	out := make([]timelineEntry, 0, len(events))
	for _, e := range events {
		t := timelineEntry{When: e.Created, Who: "an operator", RequestID: e.Caller.RequestID, Erased: e.Erased}
		if e.Caller.APIKeyPrefix != "" {
			t.Who = "key " + e.Caller.APIKeyPrefix + "…"
		}
		switch e.Type {
		case customerd.EventCustomerCreated:
			t.What = "Created"
			for _, f := range fieldLabels {
				if v := fieldValue(&e.Customer, f.Field); v != "" || e.Erased {
					t.Changes = append(t.Changes, change{Field: f.Label, New: v, NewNull: v == ""})
				}
			}
		case customerd.EventCustomerUpdated:
			t.What = "Updated"
			for _, p := range e.Previous {
				if p.Field == customerd.FieldLastUpdated {
					continue
				}
				v := fieldValue(&e.Customer, p.Field)
				t.Changes = append(t.Changes, change{Field: label(p.Field), Old: p.Value, OldNull: p.Null || p.Value == "",
					New: v, NewNull: v == "", IsUpdate: true})
			}
		case customerd.EventCustomerDeleted:
			t.What = "Erased"
		default:
			t.What = e.Type
		}
		out = append(out, t)
	}
	return out
}
