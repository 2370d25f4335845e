package service

import (
	"context"
	"errors"
	"time"

	"customerd"
	"customerd/fieldcrypt"
)

// CreateCustomer validates a create request of the merchant, stores the
// customer it describes and returns it. A bad field is an EINVALID error
// naming every bad field, a reference the merchant already uses ECONFLICT.
func (s *Service) CreateCustomer(ctx context.Context, merchantID string, req customerd.CreateRequest) (*customerd.Customer, error) {
	c, err := customerd.NewCustomer(merchantID, req, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.InsertCustomers(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// InsertCustomers stores customers made by customerd.NewCustomer in one
// transaction: all of them, or none when one fails (ECONFLICT for a taken id
// or reference). Bulk loading uses it; the API creates one at a time.
func (s *Service) InsertCustomers(ctx context.Context, cs ...*customerd.Customer) error {
	rows := make([]customerd.SealedCustomer, len(cs))
	for attempt := 0; ; attempt++ {
		for i, c := range cs {
			ring, err := s.keyring(ctx, c.MerchantID)
			if err != nil {
				return err
			}
			if rows[i], err = ring.SealCustomer(c); err != nil {
				return err
			}
		}
		err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			for i := range rows {
				if err := tx.InsertCustomer(ctx, &rows[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, customerd.ErrStaleKey) || attempt == maxStaleRetries {
			return err
		}
		// Another process rotated a data key: seal again under it.
		for _, c := range cs {
			if _, err := s.loadKeyring(ctx, c.MerchantID); err != nil {
				return err
			}
		}
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
	return s.store.FindCustomerByRef(ctx, merchantID, ring.BlindIndex(idOrRef))
}

// UpdateCustomer validates an update request and applies it, as a partial
// update, to the customer FindCustomer finds; it returns the customer after
// the update. A request without an updatable field returns the customer
// unchanged. The fields of one update apply atomically, and only they are
// written, so that concurrent updates of different fields never undo each
// other.
func (s *Service) UpdateCustomer(ctx context.Context, merchantID, idOrRef string, req customerd.UpdateRequest) (*customerd.Customer, error) {
	p, err := customerd.NewPatch(req)
	if err != nil {
		return nil, err
	}
	if p.IsEmpty() {
		return s.FindCustomer(ctx, merchantID, idOrRef)
	}
	ring, err := s.keyring(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	// The customer id is part of every sealed field's associated data, so
	// it must be known before sealing. Something shaped like an id is tried
	// as one by the update itself, which costs no lookup in the common case;
	// a reference, or an id-shaped value that matched no id, is resolved
	// through the blind index.
	id, byRef := idOrRef, !customerd.LooksLikeID(idOrRef)
	for attempt := 0; ; attempt++ {
		if byRef {
			row, err := s.store.FindCustomerByRef(ctx, merchantID, ring.BlindIndex(idOrRef))
			if err != nil {
				return nil, err
			}
			id = row.ID
		}
		u, err := sealUpdate(ring, merchantID, id, p, now)
		if err != nil {
			return nil, err
		}
		var out *customerd.Customer
		err = s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			row, err := tx.UpdateCustomer(ctx, u)
			if err != nil {
				return err
			}
			// Opened inside the transaction: an update whose row cannot be
			// read back is rolled back, not committed and reported failed.
			out, err = s.open(ctx, &row)
			return err
		})
		switch {
		case customerd.ErrorCode(err) == customerd.ENOTFOUND && !byRef:
			byRef = true
			continue
		case errors.Is(err, customerd.ErrStaleKey) && attempt < maxStaleRetries:
			if ring, err = s.loadKeyring(ctx, merchantID); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		return out, nil
	}
}

// sealUpdate seals the personal fields a patch sets for customer id under
// the active data key.
func sealUpdate(ring *fieldcrypt.Keyring, merchantID, id string, p customerd.Patch, now time.Time) (customerd.SealedUpdate, error) {
	u := customerd.SealedUpdate{MerchantID: merchantID, ID: id, KeyVersion: ring.Active(),
		MobileCountryCode: p.MobileCountryCode, Now: customerd.Timestamp(now)}
	for _, f := range [...]struct {
		field string
		v     customerd.Value
		dst   *customerd.SealedValue
	}{
		{customerd.FieldMobileNumber, p.MobileNumber, &u.MobileNumber},
		{customerd.FieldEmailAddress, p.EmailAddress, &u.EmailAddress},
		{customerd.FieldFirstName, p.FirstName, &u.FirstName},
		{customerd.FieldLastName, p.LastName, &u.LastName},
	} {
		if !f.v.Set {
			continue
		}
		b, err := ring.SealField(id, f.field, f.v.Value)
		if err != nil {
			return customerd.SealedUpdate{}, err
		}
		*f.dst = customerd.SealedValue{Set: true, Sealed: b}
	}
	return u, nil
}
