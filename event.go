package customerd

import "time"

// The types of events (extensions §3).
const (
	EventCustomerCreated = "customer.created"
	EventCustomerUpdated = "customer.updated"
	EventCustomerDeleted = "customer.deleted"
)

// EventTypes lists every event type, in the order the extensions give them.
var EventTypes = []string{EventCustomerCreated, EventCustomerUpdated, EventCustomerDeleted}

// Caller is who makes a change: the merchant, and what the change's event
// records of the request that made it.
type Caller struct {
	MerchantID     string
	APIKeyPrefix   string // the key's public prefix, as key list shows it; "" for an operator's command
	RequestID      string // the request's x-request-id, or a command's own id
	IdempotencyKey string // "" when the request had none
	// Idempotency, when the request has an Idempotency-Key, is the claim the
	// service took on it: the change stores its answer in the same
	// transaction.
	Idempotency *Idempotency
	// NoDeliveries makes the change's events send no webhook: an import
	// that was not asked to notify.
	NoDeliveries bool
}

// Event is one entry of a merchant's event log: a change to a customer, as
// it happened.
type Event struct {
	ID         string // "evt_" + 16 characters of [a-z0-9]
	MerchantID string
	Type       string // one of EventTypes
	Created    time.Time
	Sequence   int64 // 1, 2, … per merchant, without gaps
	// Customer is the customer after the change (data.object). When Erased,
	// only its id, country code and timestamps are known.
	Customer Customer
	// Previous holds, for customer.updated, the old value of every field
	// that changed (previous_attributes), in field order.
	Previous []PreviousValue
	// Erased is set once the customer has been erased: every personal value
	// of the event then reads null.
	Erased bool
	Caller Caller // MerchantID aside, what the event records of the request
}

// PreviousValue is one field's value before an update. Null is set when it
// was unset, or once the customer is erased.
type PreviousValue struct {
	Field string    // a Field* name, or FieldLastUpdated
	Value string    // the old value of a customer field
	Time  time.Time // the old value of last_updated
	Null  bool
}

// FieldLastUpdated names last_updated among previous values.
const FieldLastUpdated = "last_updated"

// NewEventID returns "evt_" followed by 16 characters of [a-z0-9] from
// crypto/rand.
func NewEventID() (string, error) { return newID("evt_") }

// SealedEvent is an event as stored. What an erasure keeps (ids, type,
// times, the request, the country code and which fields changed) is in
// Kept; the personal values are sealed in Personal, which an erasure sets to
// nil.
type SealedEvent struct {
	ID, MerchantID, CustomerID string
	// Sequence is the event's number in the merchant's log; 0 while it is
	// unnumbered (see Store).
	Sequence int64
	Type     string
	// CustomerVersion is the customer's version after the change: a
	// customer's events are numbered in this order.
	CustomerVersion int64
	Created         time.Time // UTC, whole seconds
	RequestID       string
	APIKeyPrefix    string
	IdempotencyKey  string
	Kept            []byte // the service's encoding of what an erasure keeps
	KeyVersion      uint32 // the data-key version Personal is sealed under
	Personal        []byte // sealed; nil once the customer is erased
}

// EventQuery selects events of one merchant's log, numbered ones only.
type EventQuery struct {
	Page
	Type       string // "" for every type
	CustomerID string // "" for every customer
}
