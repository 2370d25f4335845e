package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"customerd"
	"customerd/fieldcrypt"
)

// CreateCustomer validates a create request of the caller's merchant, stores
// the customer it describes with its customer.created event, and returns it.
// A bad field is an EINVALID error naming every bad field, a reference the
// merchant already uses ECONFLICT.
func (s *Service) CreateCustomer(ctx context.Context, caller customerd.Caller, req customerd.CreateRequest) (*customerd.Customer, error) {
	c, err := customerd.NewCustomer(caller.MerchantID, req, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.InsertCustomers(ctx, caller, c); err != nil {
		return nil, err
	}
	return c, nil
}

// InsertCustomers stores customers of the caller's merchant made by
// customerd.NewCustomer, each with its customer.created event, in one
// transaction: all of them, or none when one fails (ECONFLICT for a taken id
// or reference). Bulk loading uses it; the API creates one at a time.
func (s *Service) InsertCustomers(ctx context.Context, caller customerd.Caller, cs ...*customerd.Customer) error {
	if len(cs) == 0 {
		return nil
	}
	if caller.Idempotency != nil && len(cs) != 1 {
		return errors.New("service: an Idempotency-Key covers the create of one customer")
	}
	rows := make([]customerd.SealedCustomer, len(cs))
	events := make([]customerd.SealedEvent, len(cs))
	now := s.now()
	for attempt := 0; ; attempt++ {
		ring, err := s.keyring(ctx, caller.MerchantID)
		if err != nil {
			return err
		}
		for i, c := range cs {
			if c.MerchantID != caller.MerchantID {
				return fmt.Errorf("service: a customer of merchant %q inserted for %q", c.MerchantID, caller.MerchantID)
			}
			if rows[i], err = ring.SealCustomer(c); err != nil {
				return err
			}
			rows[i].Version = 1
			if events[i], err = newEvent(ring, caller, customerd.EventCustomerCreated, c, nil, 1, now); err != nil {
				return err
			}
		}
		var result any
		if len(cs) == 1 {
			result = cs[0]
		}
		sealed := make([]*customerd.SealedEvent, len(events))
		for i := range events {
			sealed[i] = &events[i]
		}
		err = s.commit(ctx, caller, ring, result, cs[0].ID, sealed, func(ctx context.Context, tx customerd.StoreTx) error {
			for i := range rows {
				if err := tx.InsertCustomer(ctx, &rows[i], &events[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, customerd.ErrStaleKey) && attempt < maxStaleRetries {
			// Another process rotated the data key: seal again under it.
			if _, err := s.loadKeyring(ctx, caller.MerchantID); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// FindCustomer returns the merchant's customer whose id is idOrRef or,
// failing that, whose object_reference_id is idOrRef (exact match), as the
// contract looks them up; ENOTFOUND when there is none, another merchant's
// included.
func (s *Service) FindCustomer(ctx context.Context, merchantID, idOrRef string) (*customerd.Customer, error) {
	row, err := s.findRow(ctx, merchantID, idOrRef)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, &row)
}

// findRow finds the customer as FindCustomer does, sealed. A reference is
// looked up by its blind index: nothing is decrypted to find it.
func (s *Service) findRow(ctx context.Context, merchantID, idOrRef string) (customerd.SealedCustomer, error) {
	if customerd.LooksLikeID(idOrRef) {
		row, err := s.store.FindCustomer(ctx, merchantID, idOrRef)
		if customerd.ErrorCode(err) != customerd.ENOTFOUND {
			return row, err
		}
	}
	ring, err := s.keyring(ctx, merchantID)
	if err != nil {
		return customerd.SealedCustomer{}, err
	}
	return s.store.FindCustomerByRef(ctx, merchantID, ring.BlindIndex(customerd.FieldObjectReferenceID, idOrRef))
}

// UpdateCustomer validates an update request and applies it, as a partial
// update, to the customer FindCustomer finds, with its customer.updated
// event; it returns the customer after the update. A request without an
// updatable field returns the customer unchanged, and makes no event.
//
// The update is made from the customer as read, and applies only while that
// is still its version, so that the event's previous values are exactly what
// the update replaced; when another write came first it is made again. The
// fields of one update apply atomically, and only they are written.
func (s *Service) UpdateCustomer(ctx context.Context, caller customerd.Caller, idOrRef string, req customerd.UpdateRequest) (*customerd.Customer, error) {
	p, err := customerd.NewPatch(req)
	if err != nil {
		return nil, err
	}
	if p.IsEmpty() {
		return s.FindCustomer(ctx, caller.MerchantID, idOrRef)
	}
	for attempt, stale := 0, 0; ; attempt++ {
		row, err := s.findRow(ctx, caller.MerchantID, idOrRef)
		if err != nil {
			return nil, err
		}
		before, err := s.open(ctx, &row)
		if err != nil {
			return nil, err
		}
		ring, err := s.keyring(ctx, caller.MerchantID)
		if err != nil {
			return nil, err
		}
		now := s.now()
		after := p.Apply(*before, now)
		u, err := sealUpdate(ring, caller.MerchantID, row.ID, p, now)
		if err != nil {
			return nil, err
		}
		u.Version = row.Version
		ev, err := newEvent(ring, caller, customerd.EventCustomerUpdated, &after, before, row.Version+1, now)
		if err != nil {
			return nil, err
		}
		err = s.commit(ctx, caller, ring, &after, row.ID, []*customerd.SealedEvent{&ev}, func(ctx context.Context, tx customerd.StoreTx) error {
			return tx.UpdateCustomer(ctx, u, &ev)
		})
		switch {
		case errors.Is(err, customerd.ErrChanged) && attempt < maxChangedRetries:
			continue
		case errors.Is(err, customerd.ErrChanged):
			return nil, customerd.Unavailable(fmt.Errorf("customer %s: %d concurrent updates came first", row.ID, attempt))
		case errors.Is(err, customerd.ErrStaleKey) && stale < maxStaleRetries:
			stale++
			if _, err := s.loadKeyring(ctx, caller.MerchantID); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		return &after, nil
	}
}

// maxChangedRetries bounds how often an update is made again because other
// writes to the same customer came first: each retry is one of them
// committing, so only a customer under a storm of updates meets the bound,
// and its caller gets a 503 to retry.
const maxChangedRetries = 200

// EraseCustomer erases the customer FindCustomer finds, with its
// customer.deleted event, and returns its id: its personal data is deleted
// from its row, which stays as a tombstone that no lookup finds, and from
// every event of it; its reference is free again. ENOTFOUND when there is no
// such customer, or it is erased already. Once the erasure has committed,
// the store removes the old copies of the erased data from its files as far
// as the engine allows (Store.PurgeFreed); a failure to do so is reported
// through OnBackgroundError, and the next erasure tries again.
func (s *Service) EraseCustomer(ctx context.Context, caller customerd.Caller, idOrRef string) (string, error) {
	for attempt := 0; ; attempt++ {
		row, err := s.findRow(ctx, caller.MerchantID, idOrRef)
		if err != nil {
			return "", err
		}
		ring, err := s.keyring(ctx, caller.MerchantID)
		if err != nil {
			return "", err
		}
		now := s.now()
		erased := customerd.Customer{ID: row.ID, MerchantID: row.MerchantID, MobileCountryCode: row.MobileCountryCode,
			DateCreated: row.DateCreated, LastUpdated: row.LastUpdated}
		ev, err := newEvent(ring, caller, customerd.EventCustomerDeleted, &erased, nil, row.Version+1, now)
		if err != nil {
			return "", err
		}
		// The erasure's answer, the id, shows nothing the erasure deletes:
		// it is tied to no customer, and stays replayable.
		err = s.commit(ctx, caller, ring, row.ID, "", []*customerd.SealedEvent{&ev}, func(ctx context.Context, tx customerd.StoreTx) error {
			return tx.EraseCustomer(ctx, caller.MerchantID, row.ID, row.Version, &ev)
		})
		if errors.Is(err, customerd.ErrChanged) && attempt < maxChangedRetries {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := s.store.PurgeFreed(context.WithoutCancel(ctx)); err != nil && s.onBackgroundError != nil {
			s.onBackgroundError(fmt.Errorf("after erasing a customer: %w", err))
		}
		return row.ID, nil
	}
}

// ListCustomers returns a page of the merchant's customers that q selects,
// with how many match in all and whether another page follows. Each filter
// that is set must pass its field's rule (EINVALID names every one that
// does not); it is matched by its blind index, so nothing is decrypted but
// the page. A q.StartingAfter that names no customer of the merchant, erased
// ones included, is EINVALID (customerd.ErrBadCursor).
func (s *Service) ListCustomers(ctx context.Context, merchantID string, q customerd.CustomerSearch) ([]*customerd.Customer, int, bool, error) {
	if err := q.Validate(); err != nil {
		return nil, 0, false, err
	}
	sq := customerd.CustomerQuery{Page: q.Page}
	if q.ObjectReferenceID != "" || q.MobileNumber != "" || q.EmailAddress != "" {
		ring, err := s.keyring(ctx, merchantID)
		if err != nil {
			return nil, 0, false, err
		}
		sq.RefIndex = ring.IndexOptional(customerd.FieldObjectReferenceID, q.ObjectReferenceID)
		sq.MobileIndex = ring.IndexOptional(customerd.FieldMobileNumber, q.MobileNumber)
		sq.EmailIndex = ring.IndexOptional(customerd.FieldEmailAddress, q.EmailAddress)
	}
	rows, total, more, err := s.store.ListCustomers(ctx, merchantID, sq)
	if err != nil {
		return nil, 0, false, err
	}
	out := make([]*customerd.Customer, len(rows))
	for i := range rows {
		if out[i], err = s.open(ctx, &rows[i]); err != nil {
			return nil, 0, false, err
		}
	}
	return out, total, more, nil
}

// sealUpdate seals the personal fields a patch sets for customer id under
// the active data key, with the blind index of those that have one.
func sealUpdate(ring *fieldcrypt.Keyring, merchantID, id string, p customerd.Patch, now time.Time) (customerd.SealedUpdate, error) {
	u := customerd.SealedUpdate{MerchantID: merchantID, ID: id, KeyVersion: ring.Active(),
		MobileCountryCode: p.MobileCountryCode, Now: customerd.Timestamp(now)}
	for _, f := range [...]struct {
		field   string
		v       customerd.Value
		dst     *customerd.SealedValue
		indexed bool
	}{
		{customerd.FieldMobileNumber, p.MobileNumber, &u.MobileNumber, true},
		{customerd.FieldEmailAddress, p.EmailAddress, &u.EmailAddress, true},
		{customerd.FieldFirstName, p.FirstName, &u.FirstName, false},
		{customerd.FieldLastName, p.LastName, &u.LastName, false},
	} {
		if !f.v.Set {
			continue
		}
		b, err := ring.SealField(id, f.field, f.v.Value)
		if err != nil {
			return customerd.SealedUpdate{}, err
		}
		*f.dst = customerd.SealedValue{Set: true, Sealed: b}
		if f.indexed {
			f.dst.Index = ring.IndexOptional(f.field, f.v.Value)
		}
	}
	return u, nil
}
