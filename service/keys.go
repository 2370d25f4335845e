package service

import (
	"cmp"
	"context"
	"slices"

	"customerd"
	"customerd/fieldcrypt"
)

// RotateDataKey creates the merchant's next data-key version, which every
// write of every process on the database uses from then on. Customers sealed
// under older versions keep opening; ReencryptCustomers moves them to the
// new one. It returns the new version; ENOTFOUND for an unknown merchant.
func (s *Service) RotateDataKey(ctx context.Context, merchantID string) (uint32, error) {
	var version uint32
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		wraps, err := tx.ListWrappedKeys(ctx, merchantID)
		if err != nil {
			return err
		}
		if len(wraps) == 0 {
			return customerd.ErrNotFound
		}
		// Loading refuses a master key that cannot open the merchant's
		// keys: a key added under it would be unreadable to the others.
		ring, err := s.vault.Load(merchantID, wraps)
		if err != nil {
			return err
		}
		version = ring.Active() + 1
		added, err := s.vault.NewKey(merchantID, customerd.PurposeData, version)
		if err != nil {
			return err
		}
		return tx.InsertWrappedKeys(ctx, added)
	})
	return version, err
}

// Reencrypt seals again, under the newest data key, up to n of the
// merchant's customers, or once none is left up to n of its events, that
// still use an older one, and returns how many of each it rewrote: none of
// either means none is left (on PostgreSQL, none that another node is not
// rewriting at this moment). The blind index stays the same: the index key
// never rotates.
func (s *Service) Reencrypt(ctx context.Context, merchantID string, n int) (customers, events int, err error) {
	err = s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		customers, events = 0, 0
		wraps, err := tx.ListWrappedKeys(ctx, merchantID)
		if err != nil {
			return err
		}
		if len(wraps) == 0 {
			return customerd.ErrNotFound
		}
		ring, err := s.vault.Load(merchantID, wraps)
		if err != nil {
			return err
		}
		rows, err := tx.CustomersToReencrypt(ctx, merchantID, ring.Active(), n)
		if err != nil {
			return err
		}
		for i := range rows {
			c, err := ring.OpenCustomer(&rows[i])
			if err != nil {
				return err
			}
			sealed, err := ring.SealCustomer(c)
			if err != nil {
				return err
			}
			if err := tx.ReplaceCustomer(ctx, sealed); err != nil {
				return err
			}
		}
		if customers = len(rows); customers > 0 {
			return nil
		}
		old, err := tx.EventsToReencrypt(ctx, merchantID, ring.Active(), n)
		if err != nil {
			return err
		}
		for _, e := range old {
			plain, err := ring.Open(e.ID, fieldEventPersonal, e.Personal)
			if err != nil {
				return err
			}
			if e.Personal, err = ring.Seal(e.ID, fieldEventPersonal, plain); err != nil {
				return err
			}
			e.KeyVersion = ring.Active()
			if err := tx.ReplaceEventPersonal(ctx, e); err != nil {
				return err
			}
		}
		events = len(old)
		return nil
	})
	return customers, events, err
}

// RewrapKeys wraps every merchant key under the master key to as well,
// keeping the existing wraps, so that processes on the old master key and
// processes on the new one both work. It rewrites no customer, is safe to
// run again, and returns how many wraps it added.
func (s *Service) RewrapKeys(ctx context.Context, to *fieldcrypt.MasterKey) (int, error) {
	n := 0
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		var err error
		n, err = s.rewrapAll(ctx, tx, to)
		return err
	})
	return n, err
}

// rewrapAll wraps, under to, every merchant key that has no wrap under it.
func (s *Service) rewrapAll(ctx context.Context, tx customerd.StoreTx, to *fieldcrypt.MasterKey) (int, error) {
	all, err := tx.ListWrappedKeys(ctx, "")
	if err != nil {
		return 0, err
	}
	added, err := s.vault.RewrapMissing(all, to)
	if err != nil {
		return 0, err
	}
	return len(added), tx.InsertWrappedKeys(ctx, added)
}

// RetireMasterKeys ends a master-key rotation: it wraps under the primary
// master key whatever lacks a wrap under it (keys that processes on the old
// key created meanwhile), then deletes every wrap under any other master
// key. Run it once no process uses an old key. It returns how many wraps it
// deleted.
func (s *Service) RetireMasterKeys(ctx context.Context) (int, error) {
	deleted := 0
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		if _, err := s.rewrapAll(ctx, tx, s.vault.Primary()); err != nil {
			return err
		}
		var err error
		deleted, err = tx.DeleteWrappedKeys(ctx, s.vault.Primary().ID())
		return err
	})
	return deleted, err
}

// MasterKeyUse is what one master key wraps.
type MasterKeyUse struct {
	MasterKeyID string
	Merchants   int // merchants with at least one key wrapped under it
	Keys        int // merchant keys wrapped under it: each merchant's data-key versions and its index key
}

// MasterKeyUsage returns, for every master key that wraps a merchant key,
// what it wraps, in master-key id order.
func (s *Service) MasterKeyUsage(ctx context.Context) ([]MasterKeyUse, error) {
	wraps, err := s.store.ListWrappedKeys(ctx, "")
	if err != nil {
		return nil, err
	}
	byID := map[string]*MasterKeyUse{}
	merchants := map[[2]string]bool{}
	var out []MasterKeyUse
	for _, w := range wraps {
		u := byID[w.MasterKeyID]
		if u == nil {
			u = &MasterKeyUse{MasterKeyID: w.MasterKeyID}
			byID[w.MasterKeyID] = u
		}
		u.Keys++
		if k := [2]string{w.MasterKeyID, w.MerchantID}; !merchants[k] {
			merchants[k] = true
			u.Merchants++
		}
	}
	for _, u := range byID {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b MasterKeyUse) int { return cmp.Compare(a.MasterKeyID, b.MasterKeyID) })
	return out, nil
}
