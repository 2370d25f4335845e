package service

import (
	"cmp"
	"context"
	"fmt"
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

// ReencryptCustomers seals again, under the newest data key, up to n of the
// merchant's customers that still use an older one, and returns how many it
// rewrote: 0 means none is left (on PostgreSQL, none that another node is
// not rewriting at this moment). The blind index stays the same: the index
// key never rotates.
func (s *Service) ReencryptCustomers(ctx context.Context, merchantID string, n int) (int, error) {
	done := 0
	err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		done = 0
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
		done = len(rows)
		return nil
	})
	return done, err
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

// StartBackground starts the background work: finishing the re-encryption
// of data-key rotations that were interrupted. serve calls it; short-lived
// commands do not, since their own writes would race with it. Close stops it.
func (s *Service) StartBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopBackground = cancel
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		if err := s.finishRotations(ctx, 256); err != nil && ctx.Err() == nil && s.onBackgroundError != nil {
			s.onBackgroundError(err)
		}
	}()
}

// finishRotations re-encrypts, in batches of n, the customers of every
// merchant whose data key has rotated and who still use an older version.
// The batches queue behind the API's writes like any other write.
func (s *Service) finishRotations(ctx context.Context, n int) error {
	wraps, err := s.store.ListWrappedKeys(ctx, "")
	if err != nil {
		return err
	}
	var rotated []string
	for _, w := range wraps {
		if w.Purpose == customerd.PurposeData && w.Version > 1 && (len(rotated) == 0 || rotated[len(rotated)-1] != w.MerchantID) {
			rotated = append(rotated, w.MerchantID)
		}
	}
	for _, m := range rotated {
		for {
			done, err := s.ReencryptCustomers(ctx, m, n)
			if err != nil {
				return fmt.Errorf("re-encrypting the customers of merchant %q: %w", m, err)
			}
			if done == 0 {
				break
			}
		}
	}
	return nil
}
