package customerd

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is what a database engine implements for the service: it persists
// sealed records and knows nothing of their cryptography or of the field
// rules. Package service does the work once above every store, as River's
// client does above its drivers; package storetest holds every store to the
// same answers.
//
// Every method is bounded by its context. A database that cannot be reached
// makes methods fail with an error for which ErrorCode is EUNAVAILABLE.
type Store interface {
	StoreReader

	// Write runs fn as one atomic transaction and returns once it has
	// committed durably, or failed: every write fn makes commits, or none
	// does. fn may be run more than once (a PostgreSQL serialization
	// failure is retried), so it must not keep state between runs that a
	// rerun would get wrong, and must not keep tx. An error fn returns rolls
	// the transaction back and is returned as it is. On SQLite the writes
	// of concurrent calls share one transaction and its fsync (group
	// commit), each in a savepoint of its own.
	Write(ctx context.Context, fn func(ctx context.Context, tx StoreTx) error) error

	// ClaimIdempotencyKey takes the merchant's key for r, a request in
	// flight (State IdempotencyInFlight), unless the key has a live record
	// at now: a claim whose LockedUntil is after now, or a record done that
	// has not expired. It returns (r, true) when it took the key, and (the
	// live record, false) when not. Every node sees a claim at once, but a
	// claim need not be durable: it only has to outlive the request holding
	// it, and a crash ends that request too. The write that holds it makes
	// it durable, as the record CompleteIdempotentRecord stores.
	ClaimIdempotencyKey(ctx context.Context, r IdempotentRecord, now time.Time) (IdempotentRecord, bool, error)
	// ReleaseIdempotencyKey ends the claim token holds on the merchant's
	// key, if it still does. committed says whether the claim's write
	// committed its record: the key then stays taken by that record;
	// otherwise the key is free again.
	ReleaseIdempotencyKey(ctx context.Context, merchantID string, keyHash, token []byte, committed bool) error

	// PurgeFreed removes from the database's files, as far as the engine
	// allows, the old copies of what writes have overwritten or deleted: on
	// SQLite it copies the WAL into the database file and truncates it
	// (secure_delete has zeroed the freed bytes there); PostgreSQL leaves
	// dead rows to VACUUM, and PurgeFreed does nothing.
	PurgeFreed(ctx context.Context) error

	// Ping reports whether the database answers and its schema is current.
	Ping(ctx context.Context) error

	// Close releases the database, after the writes in flight committed.
	Close() error
}

// StoreReader reads outside any transaction. Each read sees every write
// acknowledged before it began, whichever process or node made it.
type StoreReader interface {
	// FindCustomer returns the merchant's customer with this id, or
	// ErrNotFound.
	FindCustomer(ctx context.Context, merchantID, id string) (SealedCustomer, error)
	// FindCustomerByRef returns the merchant's customer whose reference
	// has this blind index, or ErrNotFound.
	FindCustomerByRef(ctx context.Context, merchantID string, refIndex []byte) (SealedCustomer, error)
	// CustomersAfter returns up to limit of the merchant's customers that
	// come after the one with id afterID ("" for the first, otherwise an id
	// an earlier page returned), erased ones left out: an export walks every
	// customer with it, a page at a time. The order is the store's own and
	// the same from page to page, and customers inserted one after the other
	// in that order are walked in it again, which makes an export imported
	// into an empty database export to the same file: SQLite walks its table
	// in the order of insertion, PostgreSQL its primary key (id order).
	CustomersAfter(ctx context.Context, merchantID, afterID string, limit int) ([]SealedCustomer, error)
	// ListCustomers returns a page of the merchant's customers that q
	// selects, erased ones never among them, ordered by DateCreated and
	// ties by ID, both in q's direction, with how many match q in all
	// (paging aside) and whether another page follows. A q.StartingAfter
	// is a position in that order: the id of a customer of the merchant,
	// erased ones included, whether or not it matches q; any other id is
	// ErrBadCursor. The page and its total are read from one snapshot.
	ListCustomers(ctx context.Context, merchantID string, q CustomerQuery) (customers []SealedCustomer, total int, hasMore bool, err error)
	// FindAPIKey returns the key with this prefix, revoked or not, or
	// ErrNotFound.
	FindAPIKey(ctx context.Context, prefix string) (*APIKey, error)
	// ListAPIKeys returns the merchant's keys, oldest first; ErrNotFound
	// when the merchant does not exist.
	ListAPIKeys(ctx context.Context, merchantID string) ([]APIKey, error)
	// ListMerchants returns every merchant, in id order.
	ListMerchants(ctx context.Context) ([]Merchant, error)
	// ListWrappedKeys returns the merchant's wrapped keys, or every
	// merchant's when merchantID is empty, ordered by merchant, purpose,
	// version and master key.
	ListWrappedKeys(ctx context.Context, merchantID string) ([]WrappedKey, error)

	// FindEvent returns the merchant's numbered event with this id, or
	// ErrNotFound.
	FindEvent(ctx context.Context, merchantID, id string) (SealedEvent, error)
	// ListEvents returns a page of the merchant's numbered events that q
	// selects, in sequence order, with how many match q in all (paging
	// aside) and whether another page follows. A q.StartingAfter that is
	// not a numbered event of the merchant is ErrBadCursor.
	ListEvents(ctx context.Context, merchantID string, q EventQuery) (events []SealedEvent, total int, hasMore bool, err error)
	// FindIdempotentRecord returns the record of the merchant's key with
	// this keyed hash, or ErrNotFound.
	FindIdempotentRecord(ctx context.Context, merchantID string, keyHash []byte) (IdempotentRecord, error)
	// MerchantsWithUnnumberedEvents returns the merchants that have events
	// not yet numbered: never any on a store that numbers events as they
	// are inserted.
	MerchantsWithUnnumberedEvents(ctx context.Context) ([]string, error)

	// FindWebhookEndpoint returns the merchant's endpoint with this id, or
	// ErrNotFound.
	FindWebhookEndpoint(ctx context.Context, merchantID, id string) (SealedEndpoint, error)
	// ListWebhookEndpoints returns a page of the merchant's endpoints, by
	// creation (ties by id), with how many it has in all and whether
	// another page follows; a page.StartingAfter that is not one of its
	// endpoints is ErrBadCursor.
	ListWebhookEndpoints(ctx context.Context, merchantID string, page Page) (endpoints []SealedEndpoint, total int, hasMore bool, err error)
	// ListWebhookAttempts is ListWebhookEndpoints for the delivery attempts
	// made to one of the merchant's endpoints.
	ListWebhookAttempts(ctx context.Context, merchantID, endpointID string, page Page) (attempts []WebhookAttempt, total int, hasMore bool, err error)
	// LastWebhookAttempt returns the highest attempt number of the event at
	// the endpoint, 0 when it was never tried.
	LastWebhookAttempt(ctx context.Context, merchantID, endpointID, eventID string) (int, error)
}

// StoreTx is the writing side of a Store, inside the transaction of Write:
// a flat list of operations, each on sealed records.
type StoreTx interface {
	// CompleteIdempotentRecord stores r done, with its RequestHash,
	// Status, Answer, KeyVersion, CustomerID and Expires, in place of the
	// claim r.Token holds on its key or of a record no longer live at now.
	// ErrChanged when the key has a live record of another claim.
	CompleteIdempotentRecord(ctx context.Context, r IdempotentRecord, now time.Time) error
	// CustomersToReencrypt returns up to limit of the merchant's customers
	// whose KeyVersion is below version, and locks them for this
	// transaction; on PostgreSQL rows locked by another transaction are
	// skipped.
	CustomersToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]SealedCustomer, error)
	// DeleteExpiredIdempotentRecords deletes up to limit of the records,
	// of every merchant, that expired before now, and returns how many.
	DeleteExpiredIdempotentRecords(ctx context.Context, now time.Time, limit int) (int, error)
	// DeleteEventsBefore deletes up to limit of the merchant's events
	// created before t and returns how many it deleted.
	DeleteEventsBefore(ctx context.Context, merchantID string, t time.Time, limit int) (int, error)
	// DeleteWebhookAttemptsBefore deletes up to limit of the merchant's
	// delivery attempts made before t and returns how many it deleted.
	DeleteWebhookAttemptsBefore(ctx context.Context, merchantID string, t time.Time, limit int) (int, error)
	// DeleteWebhookEndpoint deletes the merchant's endpoint with this id and
	// its attempts; ErrNotFound when there is none.
	DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error
	// DeleteWrappedKeys deletes every wrap made under a master key other
	// than keepMasterKeyID and returns how many it deleted.
	DeleteWrappedKeys(ctx context.Context, keepMasterKeyID string) (int, error)
	// EraseCustomer erases the merchant's customer with this id, whose
	// version must be version, and appends ev: the row keeps its id,
	// country code and timestamps as a tombstone that no lookup or list
	// finds, every sealed field and every blind index (the reference's
	// becomes free) are deleted, and so is the Personal part of every event
	// of the customer and the answer of every idempotent record that shows
	// it (which becomes IdempotencyErased). ErrNotFound when there is no
	// such customer (or it is erased), ErrChanged when its version is not
	// version.
	EraseCustomer(ctx context.Context, merchantID, id string, version int64, ev *SealedEvent) error
	// EventsToReencrypt returns up to limit of the merchant's events whose
	// Personal part is sealed under a KeyVersion below version, locked for
	// this transaction (on PostgreSQL, rows locked elsewhere are skipped).
	EventsToReencrypt(ctx context.Context, merchantID string, below uint32, limit int) ([]SealedEvent, error)
	// InsertAPIKey stores k; ErrConflict when its prefix is taken,
	// ErrNotFound when its merchant does not exist.
	InsertAPIKey(ctx context.Context, k APIKey) error
	// InsertCustomer inserts c, whose Version is 1, and appends its event
	// ev. It returns ErrConflict when the merchant has a customer with c's
	// id or reference index (erased ones included for the id), and
	// ErrStaleKey when c.KeyVersion or ev.KeyVersion is not the merchant's
	// newest data-key version (ErrNotFound when the merchant has no data
	// key at all).
	InsertCustomer(ctx context.Context, c *SealedCustomer, ev *SealedEvent) error
	// InsertMerchant stores m; ErrConflict when its id is taken.
	InsertMerchant(ctx context.Context, m Merchant) error
	// InsertWebhookAttempt stores a delivery attempt.
	InsertWebhookAttempt(ctx context.Context, a WebhookAttempt) error
	// InsertWebhookEndpoint stores e unless its merchant has max endpoints
	// already (ErrTooManyEndpoints); ErrConflict when its id is taken,
	// ErrNotFound when its merchant does not exist.
	InsertWebhookEndpoint(ctx context.Context, e SealedEndpoint, max int) error
	// InsertWrappedKeys stores wrapped merchant keys; ErrConflict when one
	// of them exists, ErrNotFound when its merchant does not.
	InsertWrappedKeys(ctx context.Context, keys []WrappedKey) error
	// NumberEvents numbers up to limit of the merchant's unnumbered events,
	// continuing its sequence without a gap, each customer's events in
	// the order of their CustomerVersion, and returns how many it numbered.
	// When another transaction is numbering the merchant's events it waits
	// for it if wait is set, and else returns 0 at once.
	NumberEvents(ctx context.Context, merchantID string, limit int, wait bool) (int, error)
	// ListWrappedKeys is StoreReader.ListWrappedKeys inside the
	// transaction; the keys read stay locked until it ends.
	ListWrappedKeys(ctx context.Context, merchantID string) ([]WrappedKey, error)
	// LockWebhookEndpoint returns the merchant's endpoint with this id and
	// locks it for the transaction; ErrNotFound when there is none.
	LockWebhookEndpoint(ctx context.Context, merchantID, id string) (SealedEndpoint, error)
	// ReplaceCustomer rewrites the sealed fields, blind indexes and
	// KeyVersion of the customer with c's merchant and id (a re-encryption:
	// the timestamps, country code and version are left alone);
	// ErrNotFound when there is none.
	ReplaceCustomer(ctx context.Context, c SealedCustomer) error
	// ReplaceEventPersonal rewrites the Personal part and KeyVersion of the
	// event with e's merchant and id (a re-encryption); ErrNotFound when
	// there is none.
	ReplaceEventPersonal(ctx context.Context, e SealedEvent) error
	// RevokeAPIKey marks the key with this prefix revoked at the given
	// time; a key already revoked keeps its first time. ErrNotFound when
	// there is none.
	RevokeAPIKey(ctx context.Context, prefix string, at time.Time) error
	// TakeLease makes holder the holder of the named lease until until,
	// when the lease is free, expired at now, or already held by holder,
	// and reports whether it did: of several processes that share the
	// database, one at a time does what the lease names.
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// UpdateWebhookEndpoint rewrites the URL, enabled events, description
	// and disabled flag of the endpoint with e's merchant and id (its
	// secret and creation time stay); ErrNotFound when there is none.
	UpdateWebhookEndpoint(ctx context.Context, e SealedEndpoint) error
	// WebhookTargets returns the merchant's enabled endpoints, in the
	// transaction of the change whose events they are to receive.
	WebhookTargets(ctx context.Context, merchantID string) ([]WebhookTarget, error)
	// UpdateCustomer writes the fields u sets (with their blind indexes,
	// for those that have one), last_updated =
	// max(last_updated, u.Now) and version u.Version+1 to the customer with
	// u's merchant and id, whose version must be u.Version, and appends its
	// event ev. It returns ErrNotFound when there is no such customer (or it
	// is erased), ErrChanged when its version is not u.Version, and
	// ErrStaleKey when u.KeyVersion or ev.KeyVersion is not the merchant's
	// newest data-key version; each writes nothing.
	UpdateCustomer(ctx context.Context, u SealedUpdate, ev *SealedEvent) error
}

// Events are numbered by the store: SQLite numbers each as it is inserted,
// in the writer's transaction; PostgreSQL inserts them unnumbered, so that
// concurrent writers of one merchant never wait for each other, and
// NumberEvents numbers the committed ones in batches. Reads see numbered
// events only, so a reader that has seen number N can read every event up
// to N.

// ErrChanged is returned by a store for a write made from a copy of a
// customer that is no longer current: another write changed the customer
// since. The service reads it again and makes the write afresh, so that an
// event's previous values are exactly what its change replaced.
var ErrChanged = errors.New("the customer changed since it was read")

// ErrTooManyEndpoints is returned by a store for an endpoint created while
// its merchant has the most it may have.
var ErrTooManyEndpoints = &Error{Code: EINVALID,
	Message: fmt.Sprintf("a merchant may have at most %d webhook endpoints: delete one first", MaxWebhookEndpoints),
	Fields: []FieldError{{Field: FieldURL,
		Detail: fmt.Sprintf("url: a merchant may have at most %d webhook endpoints: delete one first", MaxWebhookEndpoints)}}}

// ErrStaleKey is returned by a store for a write sealed under a data-key
// version that is no longer the merchant's newest: another process rotated
// the key. The service seals again under the new version and retries, so
// that a rotation's re-encryption, once done, stays done.
var ErrStaleKey = errors.New("sealed under a data-key version that is not the merchant's newest")

// SealedCustomer is a customer as stored: its personal fields sealed by the
// service, the rest as they are.
type SealedCustomer struct {
	ID, MerchantID string
	// Version counts the customer's changes: 1 when created, one more with
	// every update (and the erasure).
	Version int64
	// KeyVersion is at most the lowest data-key version of the sealed
	// fields: rows below the newest version are those a data-key rotation
	// re-encrypts.
	KeyVersion uint32
	// RefIndex is the blind index of the reference: unique per merchant,
	// and how a customer is found by its reference. MobileIndex and
	// EmailIndex are those of the mobile number and the email address
	// (nil when it is unset), by which a list is filtered.
	RefIndex          []byte
	MobileIndex       []byte
	EmailIndex        []byte
	ObjectReferenceID []byte
	MobileNumber      []byte
	EmailAddress      []byte // nil when unset
	FirstName         []byte // nil when unset
	LastName          []byte // nil when unset
	MobileCountryCode string
	DateCreated       time.Time // UTC, whole seconds
	LastUpdated       time.Time // UTC, whole seconds
}

// SealedUpdate is a partial update as stored: only fields with Set are
// written.
type SealedUpdate struct {
	MerchantID, ID string
	// Version is the version of the customer the update was made from: it
	// applies only while that is current.
	Version int64
	// KeyVersion is the data-key version the new values are sealed under.
	KeyVersion        uint32
	MobileNumber      SealedValue
	EmailAddress      SealedValue
	FirstName         SealedValue
	LastName          SealedValue
	MobileCountryCode Value
	Now               time.Time // last_updated becomes max(last_updated, Now)
}

// SealedValue is one field of a SealedUpdate. Sealed is nil to clear an
// optional field. Index is the blind index of the new value, for the fields
// that have one (mobile_number, email_address), nil when it is cleared.
type SealedValue struct {
	Set    bool
	Sealed []byte
	Index  []byte
}

// CustomerQuery selects customers of one merchant's list: Page, and the
// exact-match filters as blind indexes, each nil for no filter. Erased
// customers are never selected.
type CustomerQuery struct {
	Page
	RefIndex, EmailIndex, MobileIndex []byte
}

// Filtered reports whether q may select fewer than all of the merchant's
// customers: whether it has a filter or a created range.
func (q CustomerQuery) Filtered() bool {
	return q.RefIndex != nil || q.EmailIndex != nil || q.MobileIndex != nil ||
		!q.CreatedAfter.IsZero() || !q.CreatedBefore.IsZero()
}

// KeyPurpose says what a merchant key is for.
type KeyPurpose string

// The purposes of merchant keys.
const (
	PurposeData  KeyPurpose = "data"  // seals field values; versioned, rotates
	PurposeIndex KeyPurpose = "index" // keys the blind index; version 1 only, never rotates
)

// WrappedKey is the stored form of one merchant key under one master key.
// During a master-key rotation a key is stored wrapped under several master
// keys; every wrap of it has the same MerchantID, Purpose and Version.
type WrappedKey struct {
	MerchantID  string
	Purpose     KeyPurpose
	Version     uint32
	MasterKeyID string // the fingerprint of the master key that wrapped it
	Wrapped     []byte // nonce || AES-256-GCM(master key, merchant key)
}
