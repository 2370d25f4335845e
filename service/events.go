package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"customerd"
	"customerd/fieldcrypt"
)

// fieldEventPersonal names an event's sealed personal part in its
// associated data, which binds it to the event's id.
const fieldEventPersonal = "event personal data"

// keptData is the part of an event that an erasure keeps, as stored in
// SealedEvent.Kept: the customer's id is a column of its own.
type keptData struct {
	CountryCode string `json:"mobile_country_code"`
	DateCreated int64  `json:"date_created"`
	LastUpdated int64  `json:"last_updated"`
	// Previous lists, for customer.updated, every field that changed, in
	// field order; the values of personal ones are in personalData.
	Previous []keptPrevious `json:"previous,omitempty"`
}

type keptPrevious struct {
	Field string  `json:"field"`
	Value *string `json:"value,omitempty"` // the country code's old value
	Unix  *int64  `json:"unix,omitempty"`  // last_updated's old value
}

// personalData is the part of an event that an erasure deletes, sealed in
// SealedEvent.Personal: the customer's personal fields after the change,
// and the old values of those that changed (nil for unset).
type personalData struct {
	ObjectReferenceID string             `json:"object_reference_id"`
	MobileNumber      string             `json:"mobile_number"`
	EmailAddress      string             `json:"email_address,omitempty"`
	FirstName         string             `json:"first_name,omitempty"`
	LastName          string             `json:"last_name,omitempty"`
	Previous          map[string]*string `json:"previous,omitempty"`
}

// personalFields are the customer fields an update can change that are
// personal data; the country code and last_updated are not.
var personalFields = map[string]bool{customerd.FieldMobileNumber: true, customerd.FieldEmailAddress: true,
	customerd.FieldFirstName: true, customerd.FieldLastName: true}

// newEvent builds the sealed event of a change to a customer: after is the
// customer as the change leaves it, before (for customer.updated) as it was;
// version is the customer's version after the change. A customer.deleted
// event carries no personal data.
func newEvent(ring *fieldcrypt.Keyring, caller customerd.Caller, typ string, after, before *customerd.Customer, version int64, now time.Time) (customerd.SealedEvent, error) {
	id, err := customerd.NewEventID()
	if err != nil {
		return customerd.SealedEvent{}, err
	}
	ev := customerd.SealedEvent{ID: id, MerchantID: caller.MerchantID, CustomerID: after.ID, Type: typ,
		CustomerVersion: version, Created: customerd.Timestamp(now), RequestID: caller.RequestID,
		APIKeyPrefix: caller.APIKeyPrefix, IdempotencyKey: caller.IdempotencyKey, KeyVersion: ring.Active()}
	kept := keptData{CountryCode: after.MobileCountryCode, DateCreated: after.DateCreated.Unix(), LastUpdated: after.LastUpdated.Unix()}
	var personal *personalData
	if typ != customerd.EventCustomerDeleted {
		personal = &personalData{ObjectReferenceID: after.ObjectReferenceID, MobileNumber: after.MobileNumber,
			EmailAddress: after.EmailAddress, FirstName: after.FirstName, LastName: after.LastName}
	}
	if before != nil {
		for _, f := range changedFields(before, after) {
			if personalFields[f.Field] {
				if personal.Previous == nil {
					personal.Previous = map[string]*string{}
				}
				var v *string
				if !f.Null {
					v = &f.Value
				}
				personal.Previous[f.Field] = v
				kept.Previous = append(kept.Previous, keptPrevious{Field: f.Field})
			} else if f.Field == customerd.FieldLastUpdated {
				unix := f.Time.Unix()
				kept.Previous = append(kept.Previous, keptPrevious{Field: f.Field, Unix: &unix})
			} else {
				kept.Previous = append(kept.Previous, keptPrevious{Field: f.Field, Value: &f.Value})
			}
		}
	}
	ev.Kept = encodeKept(kept)
	if personal != nil {
		if ev.Personal, err = ring.Seal(id, fieldEventPersonal, string(encodePersonal(personal))); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

// changedFields returns the old value of every field of before that after
// changed, last_updated included, in field order.
func changedFields(before, after *customerd.Customer) []customerd.PreviousValue {
	var out []customerd.PreviousValue
	for _, f := range [...]struct {
		name     string
		old, new string
		optional bool
	}{
		{name: customerd.FieldMobileNumber, old: before.MobileNumber, new: after.MobileNumber},
		{name: customerd.FieldMobileCountryCode, old: before.MobileCountryCode, new: after.MobileCountryCode},
		{name: customerd.FieldEmailAddress, old: before.EmailAddress, new: after.EmailAddress, optional: true},
		{name: customerd.FieldFirstName, old: before.FirstName, new: after.FirstName, optional: true},
		{name: customerd.FieldLastName, old: before.LastName, new: after.LastName, optional: true},
	} {
		if f.old != f.new {
			out = append(out, customerd.PreviousValue{Field: f.name, Value: f.old, Null: f.optional && f.old == ""})
		}
	}
	if !before.LastUpdated.Equal(after.LastUpdated) {
		out = append(out, customerd.PreviousValue{Field: customerd.FieldLastUpdated, Time: before.LastUpdated})
	}
	return out
}

// openEvent decrypts a stored event.
func (s *Service) openEvent(ctx context.Context, e *customerd.SealedEvent) (*customerd.Event, error) {
	kept, err := decodeKept(e.Kept)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	ev := &customerd.Event{ID: e.ID, MerchantID: e.MerchantID, Type: e.Type, Created: e.Created, Sequence: e.Sequence,
		Erased: e.Personal == nil,
		Customer: customerd.Customer{ID: e.CustomerID, MerchantID: e.MerchantID, MobileCountryCode: kept.CountryCode,
			DateCreated: time.Unix(kept.DateCreated, 0).UTC(), LastUpdated: time.Unix(kept.LastUpdated, 0).UTC()},
		Caller: customerd.Caller{MerchantID: e.MerchantID, APIKeyPrefix: e.APIKeyPrefix, RequestID: e.RequestID,
			IdempotencyKey: e.IdempotencyKey}}
	var personal personalData
	if e.Personal != nil {
		plain, err := s.openSealed(ctx, e.MerchantID, e.ID, fieldEventPersonal, e.Personal)
		if err != nil {
			return nil, err
		}
		if personal, err = decodePersonal([]byte(plain)); err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		c := &ev.Customer
		c.ObjectReferenceID, c.MobileNumber, c.EmailAddress = personal.ObjectReferenceID, personal.MobileNumber, personal.EmailAddress
		c.FirstName, c.LastName = personal.FirstName, personal.LastName
	}
	for _, p := range kept.Previous {
		pv := customerd.PreviousValue{Field: p.Field}
		switch {
		case p.Unix != nil:
			pv.Time = time.Unix(*p.Unix, 0).UTC()
		case p.Value != nil:
			pv.Value = *p.Value
		case ev.Erased:
			pv.Null = true
		default:
			v := personal.Previous[p.Field]
			pv.Null = v == nil
			if v != nil {
				pv.Value = *v
			}
		}
		ev.Previous = append(ev.Previous, pv)
	}
	return ev, nil
}

// openSealed opens one sealed value of the merchant, reading its keys afresh
// once when the value uses a data-key version created since they were
// cached.
func (s *Service) openSealed(ctx context.Context, merchantID, id, field string, sealed []byte) (string, error) {
	ring, err := s.keyring(ctx, merchantID)
	if err != nil {
		return "", err
	}
	v, err := ring.Open(id, field, sealed)
	if errors.Is(err, fieldcrypt.ErrUnknownVersion) {
		if ring, err = s.loadKeyring(ctx, merchantID); err != nil {
			return "", err
		}
		v, err = ring.Open(id, field, sealed)
	}
	return v, err
}

// FindEvent returns the merchant's event with this id; ENOTFOUND when there
// is none (another merchant's included).
func (s *Service) FindEvent(ctx context.Context, merchantID, id string) (*customerd.Event, error) {
	if err := s.numberPending(ctx, merchantID); err != nil {
		return nil, err
	}
	e, err := s.store.FindEvent(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	return s.openEvent(ctx, &e)
}

// ListEvents returns a page of the merchant's events that q selects, with
// how many match in all and whether another page follows. q.CustomerID may
// be a customer's id (an erased one's included) or the reference of a
// customer that exists; one that matches nothing selects no event.
func (s *Service) ListEvents(ctx context.Context, merchantID string, q customerd.EventQuery) ([]*customerd.Event, int, bool, error) {
	if q.CustomerID != "" && !customerd.LooksLikeID(q.CustomerID) {
		row, err := s.findRow(ctx, merchantID, q.CustomerID)
		switch {
		case customerd.ErrorCode(err) == customerd.ENOTFOUND:
			q.CustomerID = "cst_" // matches no event, paging still checked
		case err != nil:
			return nil, 0, false, err
		default:
			q.CustomerID = row.ID
		}
	}
	return s.listEvents(ctx, merchantID, q)
}

// CustomerEvents returns a page of the history of the customer FindCustomer
// finds: ENOTFOUND once it is erased (its events stay listed by ListEvents).
func (s *Service) CustomerEvents(ctx context.Context, merchantID, idOrRef string, page customerd.Page) ([]*customerd.Event, int, bool, error) {
	row, err := s.findRow(ctx, merchantID, idOrRef)
	if err != nil {
		return nil, 0, false, err
	}
	return s.listEvents(ctx, merchantID, customerd.EventQuery{Page: page, CustomerID: row.ID})
}

func (s *Service) listEvents(ctx context.Context, merchantID string, q customerd.EventQuery) ([]*customerd.Event, int, bool, error) {
	if err := s.numberPending(ctx, merchantID); err != nil {
		return nil, 0, false, err
	}
	rows, total, more, err := s.store.ListEvents(ctx, merchantID, q)
	if err != nil {
		return nil, 0, false, err
	}
	out := make([]*customerd.Event, len(rows))
	for i := range rows {
		if out[i], err = s.openEvent(ctx, &rows[i]); err != nil {
			return nil, 0, false, err
		}
	}
	return out, total, more, nil
}

// NumberEvents numbers every event committed so far that the store left
// unnumbered (on PostgreSQL; SQLite numbers them as it inserts them), so
// that readers see them. The background work does it within milliseconds of
// each change; a command that reads the log calls it first.
func (s *Service) NumberEvents(ctx context.Context) error {
	merchants, err := s.store.MerchantsWithUnnumberedEvents(ctx)
	if err != nil {
		return err
	}
	for _, m := range merchants {
		if err := s.numberMerchant(ctx, m, false); err != nil {
			return err
		}
	}
	return nil
}

// numberPending numbers the merchant's committed, unnumbered events before a
// read of its log, so that a client reads its own changes at once: on
// PostgreSQL one query of a small partial index when there are none. It
// waits for another node that is numbering them.
func (s *Service) numberPending(ctx context.Context, merchantID string) error {
	merchants, err := s.store.MerchantsWithUnnumberedEvents(ctx)
	if err != nil || !slices.Contains(merchants, merchantID) {
		return err
	}
	return s.numberMerchant(ctx, merchantID, true)
}

// numberMerchant numbers the merchant's committed events in batches; the
// background work does not wait for another node numbering them (wait).
func (s *Service) numberMerchant(ctx context.Context, merchantID string, wait bool) error {
	for {
		n := 0
		err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			var err error
			n, err = tx.NumberEvents(ctx, merchantID, numberBatch, wait)
			return err
		})
		if err != nil {
			return fmt.Errorf("numbering the events of merchant %q: %w", merchantID, err)
		}
		if n < numberBatch {
			return nil
		}
	}
}

// numberBatch is how many events one transaction numbers at most.
const numberBatch = 1000

// eventWritten tells the background numbering that an event was committed.
func (s *Service) eventWritten() {
	select {
	case s.written <- struct{}{}:
	default:
	}
}
