package service

import (
	"context"
	"fmt"

	"customerd"
)

// OnConflict says what an import does with a row whose id or
// object_reference_id the merchant already has, with other values.
type OnConflict int

// The conflict policies of an import.
const (
	ConflictFail   OnConflict = iota // the row is rejected
	ConflictSkip                     // the row is left out; the stored customer stays as it is
	ConflictUpdate                   // the stored customer takes the row's values, as an update
)

// ImportOptions tune ImportCustomers.
type ImportOptions struct {
	OnConflict OnConflict
	// Notify sends the webhooks of the import's events, as for changes made
	// through the API; without it the events are logged and no webhook is
	// sent for them.
	Notify bool
}

// ImportItem is one customer to import, made by customerd.ImportedCustomer.
type ImportItem struct {
	Customer *customerd.Customer
	// KeepID is set when the id came from the file; otherwise it was drawn
	// and the customer is matched by its reference alone.
	KeepID bool
}

// ImportOutcome is what an import did with one item.
type ImportOutcome int

// The outcomes of an import item.
const (
	Imported       ImportOutcome = iota + 1 // inserted, with its customer.created event
	AlreadyPresent                          // the customer is stored with these values: nothing written
	Skipped                                 // a conflict, left alone (ConflictSkip)
	Updated                                 // a conflict, updated with its customer.updated event (ConflictUpdate)
	Rejected                                // a conflict (ConflictFail, or one an update cannot resolve)
)

// ImportResult is the outcome of one item.
type ImportResult struct {
	Outcome ImportOutcome
	// ID is the id of the customer stored for the item: the item's own, or
	// for a conflict the stored customer's (empty when a reference and an
	// id of the row name two customers).
	ID string
	// Err, for Rejected, is an ECONFLICT *customerd.Error naming the field.
	Err error
}

// ImportCustomers imports items of the caller's merchant and returns one
// result per item, in order. The new customers are inserted with their
// customer.created events in one transaction (InsertCustomers), so a batch
// costs one commit. When one of them conflicts, each item is looked up: a
// customer stored with the same values (timestamps aside) is AlreadyPresent,
// which is what makes an import resumable (a rerun finds what a run
// interrupted had committed, and writes it again nowhere); any other
// conflict follows opts.OnConflict. Two items of one batch with one id or
// reference are taken one after the other, the second meeting the first as
// a stored customer.
//
// An error is a failure of the database or of the service, for which the
// import stops: part of the items may have been imported, and a rerun finds
// them.
func (s *Service) ImportCustomers(ctx context.Context, caller customerd.Caller, opts ImportOptions, items []ImportItem) ([]ImportResult, error) {
	caller.NoDeliveries = !opts.Notify
	res := make([]ImportResult, len(items))
	first, later := splitRepeats(items)
	if err := s.importNew(ctx, caller, opts, items, first, res); err != nil {
		return nil, err
	}
	for _, k := range later {
		r, err := s.importOne(ctx, caller, opts, items[k])
		if err != nil {
			return nil, err
		}
		res[k] = r
	}
	return res, nil
}

// splitRepeats returns the indexes of the items whose id and reference no
// earlier item has, and those of the others.
func splitRepeats(items []ImportItem) (first, later []int) {
	ids := make(map[string]bool, len(items))
	refs := make(map[string]bool, len(items))
	for i, it := range items {
		c := it.Customer
		if (it.KeepID && ids[c.ID]) || refs[c.ObjectReferenceID] {
			later = append(later, i)
			continue
		}
		ids[c.ID], refs[c.ObjectReferenceID] = true, true
		first = append(first, i)
	}
	return first, later
}

// importNew inserts the items idx, which have no id or reference in
// common, in one transaction; when that conflicts, it resolves them one by
// one.
func (s *Service) importNew(ctx context.Context, caller customerd.Caller, opts ImportOptions, items []ImportItem, idx []int, res []ImportResult) error {
	if len(idx) == 0 {
		return nil
	}
	cs := make([]*customerd.Customer, len(idx))
	for i, k := range idx {
		cs[i] = items[k].Customer
	}
	err := s.InsertCustomers(ctx, caller, cs...)
	if err == nil {
		for _, k := range idx {
			res[k] = ImportResult{Outcome: Imported, ID: items[k].Customer.ID}
		}
		return nil
	}
	if customerd.ErrorCode(err) != customerd.ECONFLICT {
		return err
	}
	// Some of them are stored already: find which, then insert the others.
	var fresh []int
	for _, k := range idx {
		r, isNew, err := s.resolve(ctx, caller, opts, items[k])
		if err != nil {
			return err
		}
		if isNew {
			fresh = append(fresh, k)
		} else {
			res[k] = r
		}
	}
	if len(fresh) == len(idx) {
		// None was found, yet they conflict: a race with another writer,
		// or an erased customer's id. One at a time tells which.
		for _, k := range fresh {
			r, err := s.importOne(ctx, caller, opts, items[k])
			if err != nil {
				return err
			}
			res[k] = r
		}
		return nil
	}
	return s.importNew(ctx, caller, opts, items, fresh, res)
}

// importOne imports one item in a transaction of its own.
func (s *Service) importOne(ctx context.Context, caller customerd.Caller, opts ImportOptions, it ImportItem) (ImportResult, error) {
	for attempt := 0; attempt < 3; attempt++ {
		r, isNew, err := s.resolve(ctx, caller, opts, it)
		if err != nil || !isNew {
			return r, err
		}
		err = s.InsertCustomers(ctx, caller, it.Customer)
		if err == nil {
			return ImportResult{Outcome: Imported, ID: it.Customer.ID}, nil
		}
		if customerd.ErrorCode(err) != customerd.ECONFLICT {
			return ImportResult{}, err
		}
	}
	// No lookup finds it, and its id is taken: an erased customer's, which
	// stays taken for ever (extensions §2).
	if opts.OnConflict == ConflictSkip {
		return ImportResult{Outcome: Skipped, ID: it.Customer.ID}, nil
	}
	return reject(customerd.FieldID, "", fmt.Sprintf("%s is the id of an erased customer, which cannot be used again", it.Customer.ID)), nil
}

// resolve looks up the stored customers that an item's id and reference
// name: isNew when there are none; otherwise the item's result.
func (s *Service) resolve(ctx context.Context, caller customerd.Caller, opts ImportOptions, it ImportItem) (r ImportResult, isNew bool, err error) {
	c := it.Customer
	var byID *customerd.SealedCustomer
	if it.KeepID {
		row, err := s.store.FindCustomer(ctx, caller.MerchantID, c.ID)
		switch customerd.ErrorCode(err) {
		case "":
			byID = &row
		case customerd.ENOTFOUND:
		default:
			return r, false, err
		}
	}
	ring, err := s.keyring(ctx, caller.MerchantID)
	if err != nil {
		return r, false, err
	}
	var byRef *customerd.SealedCustomer
	row, err := s.store.FindCustomerByRef(ctx, caller.MerchantID, ring.BlindIndex(customerd.FieldObjectReferenceID, c.ObjectReferenceID))
	switch customerd.ErrorCode(err) {
	case "":
		byRef = &row
	case customerd.ENOTFOUND:
	default:
		return r, false, err
	}
	switch {
	case byID == nil && byRef == nil:
		return r, true, nil
	case byRef == nil:
		return s.unresolvable(opts, byID.ID, reject(customerd.FieldID, byID.ID,
			fmt.Sprintf("%s is the id of a customer with another object_reference_id", c.ID))), false, nil
	case it.KeepID && byID == nil:
		return s.unresolvable(opts, byRef.ID, reject(customerd.FieldObjectReferenceID, byRef.ID,
			fmt.Sprintf("is the reference of customer %s, not of %s", byRef.ID, c.ID))), false, nil
	case it.KeepID && byID.ID != byRef.ID:
		return s.unresolvable(opts, "", reject(customerd.FieldID, "",
			fmt.Sprintf("%s is another customer than the one whose reference the row has (%s)", c.ID, byRef.ID))), false, nil
	}
	stored, err := s.open(ctx, byRef)
	if err != nil {
		return r, false, err
	}
	switch {
	case customerd.SameFields(stored, c):
		return ImportResult{Outcome: AlreadyPresent, ID: stored.ID}, false, nil
	case opts.OnConflict == ConflictSkip:
		return ImportResult{Outcome: Skipped, ID: stored.ID}, false, nil
	case opts.OnConflict == ConflictFail:
		return reject(customerd.FieldObjectReferenceID, stored.ID,
			fmt.Sprintf("customer %s has this reference, with other values (--on-conflict skip or update)", stored.ID)), false, nil
	}
	_, err = s.UpdateCustomer(ctx, caller, stored.ID, customerd.UpdateRequest{
		MobileNumber: customerd.Present(c.MobileNumber), MobileCountryCode: customerd.Present(c.MobileCountryCode),
		EmailAddress: customerd.Present(c.EmailAddress), FirstName: customerd.Present(c.FirstName),
		LastName: customerd.Present(c.LastName)})
	if err != nil {
		return r, false, err
	}
	return ImportResult{Outcome: Updated, ID: stored.ID}, false, nil
}

// unresolvable is the result of a conflict that no update can resolve: the
// row's id and reference do not name one stored customer. Skipping it is
// all an import can do, or else it is rejected.
func (s *Service) unresolvable(opts ImportOptions, id string, rejected ImportResult) ImportResult {
	if opts.OnConflict == ConflictSkip {
		return ImportResult{Outcome: Skipped, ID: id}
	}
	return rejected
}

func reject(field, id, detail string) ImportResult {
	return ImportResult{Outcome: Rejected, ID: id, Err: &customerd.Error{Code: customerd.ECONFLICT, Message: field + ": " + detail,
		Fields: []customerd.FieldError{{Field: field, Detail: field + ": " + detail}}}}
}

// exportPage is how many customers ExportCustomers reads at a time.
const exportPage = 1000

// ExportCustomers calls fn with every customer of the merchant, decrypted,
// in the store's order (Store.CustomersAfter), erased customers left out; it
// stops at fn's first error and returns it. It reads a page at a time, so
// its memory does not grow with the merchant's size; each page sees the
// customers committed before it was read. ENOTFOUND when the merchant has
// no keys (it does not exist).
//
// The next page is read while the customers of the current one are
// decrypted and handed to fn, so on two CPUs the two overlap. At most two
// pages are held.
func (s *Service) ExportCustomers(ctx context.Context, merchantID string, fn func(*customerd.Customer) error) error {
	if _, err := s.keyring(ctx, merchantID); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		rows []customerd.SealedCustomer
		err  error
	}
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		after := ""
		for {
			rows, err := s.store.CustomersAfter(ctx, merchantID, after, exportPage)
			select {
			case pages <- page{rows, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(rows) < exportPage {
				return
			}
			after = rows[len(rows)-1].ID
		}
	}()
	defer func() {
		cancel()
		for range pages { // let the reader finish before returning
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		for i := range p.rows {
			c, err := s.open(ctx, &p.rows[i])
			if err != nil {
				return fmt.Errorf("customer %s: %w", p.rows[i].ID, err)
			}
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}
