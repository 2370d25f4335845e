package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"customerd"
)

// IndexKeyVersion is the only version of a merchant's index key.
const IndexKeyVersion = 1

// ErrMasterKeyMismatch means no master key given to the vault can unwrap a
// merchant's keys: the server was started with the wrong master key, or a
// master-key rotation has not reached this key yet.
var ErrMasterKeyMismatch = errors.New("no configured master key can unwrap this key")

// ErrUnknownVersion means a sealed value names a data-key version the keyring
// does not hold. A store that sees it reloads the merchant's keys once: the
// version may have been created since the keyring was loaded.
var ErrUnknownVersion = errors.New("sealed with a data-key version this keyring does not hold")

// ErrOpen means a sealed value failed authentication: it was altered, moved
// to another row or field, or was never sealed with this merchant's key.
var ErrOpen = errors.New("sealed value failed authentication")

// Vault holds the master keys of a process and caches the merchants'
// unwrapped keyrings. It is safe for concurrent use.
type Vault struct {
	masters []*MasterKey // the primary first

	mu    sync.RWMutex
	rings map[string]*Keyring
}

// NewVault returns a vault that wraps new keys under primary and under every
// previous key, and unwraps with any of them. Previous keys are given during a
// master-key rotation, so that nodes still on the old key can read keys this
// node creates and this node can read keys they create.
func NewVault(primary *MasterKey, previous ...*MasterKey) *Vault {
	v := &Vault{masters: []*MasterKey{primary}, rings: map[string]*Keyring{}}
	for _, p := range previous {
		if p != nil && p.id != primary.id {
			v.masters = append(v.masters, p)
		}
	}
	return v
}

// Primary returns the master key new wraps are made under first.
func (v *Vault) Primary() *MasterKey { return v.masters[0] }

// MasterKeyIDs returns the ids of every master key the vault holds, primary first.
func (v *Vault) MasterKeyIDs() []string {
	ids := make([]string, len(v.masters))
	for i, m := range v.masters {
		ids[i] = m.id
	}
	return ids
}

func (v *Vault) master(id string) *MasterKey {
	for _, m := range v.masters {
		if m.id == id {
			return m
		}
	}
	return nil
}

// appendField appends s to b with a length prefix, so that no two different
// sequences of fields encode to the same bytes.
func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func wrapAAD(merchantID string, p customerd.KeyPurpose, version uint32) []byte {
	b := appendField(nil, "customerd key wrap v1")
	b = appendField(b, merchantID)
	b = appendField(b, string(p))
	return binary.BigEndian.AppendUint32(b, version)
}

func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // keys are always KeySize bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func seal(aead cipher.AEAD, prefix, plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, len(prefix)+aead.NonceSize(), len(prefix)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	copy(out, prefix)
	if _, err := rand.Read(out[len(prefix):]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[len(prefix):], plaintext, aad), nil
}

func wrapUnder(m *MasterKey, merchantID string, p customerd.KeyPurpose, version uint32, key []byte) (customerd.WrappedKey, error) {
	w, err := seal(newGCM(m.key[:]), nil, key, wrapAAD(merchantID, p, version))
	if err != nil {
		return customerd.WrappedKey{}, err
	}
	return customerd.WrappedKey{MerchantID: merchantID, Purpose: p, Version: version, MasterKeyID: m.id, Wrapped: w}, nil
}

// NewKey makes a random merchant key and returns it wrapped under each of
// the vault's master keys: the rows a store inserts for it.
func (v *Vault) NewKey(merchantID string, p customerd.KeyPurpose, version uint32) ([]customerd.WrappedKey, error) {
	var key [KeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	out := make([]customerd.WrappedKey, 0, len(v.masters))
	for _, m := range v.masters {
		w, err := wrapUnder(m, merchantID, p, version, key[:])
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// NewMerchantKeys returns the wrapped keys a new merchant starts with: data
// key version 1 and its index key.
func (v *Vault) NewMerchantKeys(merchantID string) ([]customerd.WrappedKey, error) {
	data, err := v.NewKey(merchantID, customerd.PurposeData, 1)
	if err != nil {
		return nil, err
	}
	index, err := v.NewKey(merchantID, customerd.PurposeIndex, IndexKeyVersion)
	if err != nil {
		return nil, err
	}
	return append(data, index...), nil
}

// Unwrap returns the merchant key inside w. It fails with
// ErrMasterKeyMismatch when the vault lacks w's master key, and with ErrOpen
// when the wrap was altered or relabelled.
func (v *Vault) Unwrap(w customerd.WrappedKey) ([]byte, error) {
	m := v.master(w.MasterKeyID)
	if m == nil {
		return nil, fmt.Errorf("%s key v%d of merchant %q is wrapped under master key %s: %w",
			w.Purpose, w.Version, w.MerchantID, w.MasterKeyID, ErrMasterKeyMismatch)
	}
	aead := newGCM(m.key[:])
	if len(w.Wrapped) < aead.NonceSize() {
		return nil, fmt.Errorf("%s key v%d of merchant %q: %w", w.Purpose, w.Version, w.MerchantID, ErrOpen)
	}
	n := aead.NonceSize()
	key, err := aead.Open(nil, w.Wrapped[:n], w.Wrapped[n:], wrapAAD(w.MerchantID, w.Purpose, w.Version))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("%s key v%d of merchant %q: %w", w.Purpose, w.Version, w.MerchantID, ErrOpen)
	}
	return key, nil
}

// Rewrap returns w's key wrapped under to, for a master-key rotation.
func (v *Vault) Rewrap(w customerd.WrappedKey, to *MasterKey) (customerd.WrappedKey, error) {
	key, err := v.Unwrap(w)
	if err != nil {
		return customerd.WrappedKey{}, err
	}
	return wrapUnder(to, w.MerchantID, w.Purpose, w.Version, key)
}

// Cached returns the merchant's keyring as last loaded, or nil.
func (v *Vault) Cached(merchantID string) *Keyring {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.rings[merchantID]
}

// Load builds the merchant's keyring from its stored wraps (every wrap of
// every version; several wraps of one key are fine) and caches it. It fails
// when the merchant has no index key or no data key, or when a key has no
// wrap the vault can open.
func (v *Vault) Load(merchantID string, wraps []customerd.WrappedKey) (*Keyring, error) {
	type slot struct {
		p       customerd.KeyPurpose
		version uint32
	}
	byKey := map[slot][]customerd.WrappedKey{}
	for _, w := range wraps {
		if w.MerchantID != merchantID {
			return nil, fmt.Errorf("fieldcrypt: key of merchant %q given for %q", w.MerchantID, merchantID)
		}
		s := slot{w.Purpose, w.Version}
		byKey[s] = append(byKey[s], w)
	}
	r := &Keyring{merchantID: merchantID, data: map[uint32]cipher.AEAD{}}
	for s, ws := range byKey {
		var key []byte
		var errs []error
		for _, w := range ws {
			k, err := v.Unwrap(w)
			if err == nil {
				key = k
				break
			}
			errs = append(errs, err)
		}
		if key == nil {
			return nil, mismatchError(merchantID, ws, errs, v.MasterKeyIDs())
		}
		switch s.p {
		case customerd.PurposeData:
			r.data[s.version] = newGCM(key)
			r.active = max(r.active, s.version)
		case customerd.PurposeIndex:
			if s.version == IndexKeyVersion {
				r.index = key
			}
		}
	}
	if r.index == nil || r.active == 0 {
		return nil, fmt.Errorf("fieldcrypt: merchant %q has no index key or no data key", merchantID)
	}
	v.mu.Lock()
	if old := v.rings[merchantID]; old == nil || old.active <= r.active {
		v.rings[merchantID] = r
	}
	v.mu.Unlock()
	return r, nil
}

// mismatchError explains, with key ids only, why no wrap of a key opened.
func mismatchError(merchantID string, ws []customerd.WrappedKey, errs []error, have []string) error {
	var wrappedUnder []string
	for _, w := range ws {
		wrappedUnder = append(wrappedUnder, w.MasterKeyID)
	}
	sort.Strings(wrappedUnder)
	cause := errors.Join(errs...)
	if errors.Is(cause, ErrMasterKeyMismatch) && !errors.Is(cause, ErrOpen) {
		cause = ErrMasterKeyMismatch
	}
	return fmt.Errorf("fieldcrypt: %s key v%d of merchant %q is wrapped under master key(s) %s, this process has %s: %w",
		ws[0].Purpose, ws[0].Version, merchantID, strings.Join(wrappedUnder, ","), strings.Join(have, ","), cause)
}

// RewrapMissing returns, for every merchant key among wraps that has no wrap
// under to yet, a new wrap of it under to: the rows a store inserts to rotate
// to that master key. It fails if such a key has no wrap the vault can open.
func (v *Vault) RewrapMissing(wraps []customerd.WrappedKey, to *MasterKey) ([]customerd.WrappedKey, error) {
	type slot struct {
		m string
		p customerd.KeyPurpose
		v uint32
	}
	byKey := map[slot][]customerd.WrappedKey{}
	var order []slot
	for _, w := range wraps {
		k := slot{w.MerchantID, w.Purpose, w.Version}
		if byKey[k] == nil {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], w)
	}
	var out []customerd.WrappedKey
	for _, k := range order {
		ws := byKey[k]
		if slices.ContainsFunc(ws, func(w customerd.WrappedKey) bool { return w.MasterKeyID == to.id }) {
			continue
		}
		var errs []error
		done := false
		for _, w := range ws {
			nw, err := v.Rewrap(w, to)
			if err == nil {
				out = append(out, nw)
				done = true
				break
			}
			errs = append(errs, err)
		}
		if !done {
			return nil, mismatchError(k.m, ws, errs, v.MasterKeyIDs())
		}
	}
	return out, nil
}
