package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"customerd"
	"customerd/webhook"
)

// fieldWebhookSecret is the field name an endpoint's sealed secret is bound
// to, with the endpoint's id.
const fieldWebhookSecret = "webhook secret"

// DefaultWebhookMaxAge is how long after its event a delivery is retried.
const DefaultWebhookMaxAge = 72 * time.Hour

// DeliveryQueue schedules webhook deliveries. Package delivery implements it
// on a job queue in the same database.
type DeliveryQueue interface {
	// Schedule queues ds inside tx, the store transaction of the events
	// they deliver: the deliveries commit with the change, or not at all.
	Schedule(ctx context.Context, tx customerd.StoreTx, ds []customerd.Delivery) error
}

// scheduleDeliveries queues, in tx, the delivery of each event to every
// enabled endpoint of the merchant that wants its type: the endpoints are
// read in the change's own transaction, so that an event is delivered
// wherever it was subscribed to when it was created.
func (s *Service) scheduleDeliveries(ctx context.Context, tx customerd.StoreTx, merchantID string, events []*customerd.SealedEvent) error {
	if s.deliveries == nil || len(events) == 0 {
		return nil
	}
	targets, err := tx.WebhookTargets(ctx, merchantID)
	if err != nil || len(targets) == 0 {
		return err
	}
	var ds []customerd.Delivery
	for _, ev := range events {
		for _, t := range targets {
			if customerd.WantsEvent(t.EnabledEvents, ev.Type) {
				ds = append(ds, customerd.Delivery{MerchantID: merchantID, EventID: ev.ID, EndpointID: t.EndpointID})
			}
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return s.deliveries.Schedule(ctx, tx, ds)
}

// CheckWebhookURL checks that deliveries may be made to u: an https URL
// whose host resolves, and only to public addresses, unless the service
// allows insecure endpoints (development and tests). A refusal is an
// EINVALID error on url.
func (s *Service) CheckWebhookURL(ctx context.Context, u string) error {
	if err := customerd.ValidateWebhookURL(u); err != nil {
		return urlError(err.Error())
	}
	if err := webhook.CheckURL(ctx, u, s.webhookInsecure, nil); err != nil {
		var ue *webhook.URLError
		if errors.As(err, &ue) {
			return urlError(strings.TrimPrefix(ue.Error(), "url "))
		}
		// The lookup ran out of the request's time: try again later.
		return customerd.Unavailable(fmt.Errorf("resolving the webhook endpoint's host: %w", err))
	}
	return nil
}

func urlError(detail string) error {
	d := customerd.FieldURL + ": " + detail
	return &customerd.Error{Code: customerd.EINVALID, Message: d, Fields: []customerd.FieldError{{Field: customerd.FieldURL, Detail: d}}}
}

// CreateWebhookEndpoint validates and stores a new endpoint of the caller's
// merchant, with a new signing secret, and returns it with the secret: the
// only time the secret is shown.
func (s *Service) CreateWebhookEndpoint(ctx context.Context, caller customerd.Caller, req customerd.EndpointRequest) (*customerd.WebhookEndpoint, error) {
	p, err := customerd.NewEndpointPatch(req, true)
	if err != nil {
		return nil, err
	}
	if err := s.CheckWebhookURL(ctx, p.URL.Value); err != nil {
		return nil, err
	}
	id, err := customerd.NewWebhookEndpointID()
	if err != nil {
		return nil, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	e := p.Apply(customerd.WebhookEndpoint{ID: id, MerchantID: caller.MerchantID, Created: customerd.Timestamp(s.now())})
	e.Secret = secret
	ring, err := s.keyring(ctx, caller.MerchantID)
	if err != nil {
		return nil, err
	}
	sealedSecret, err := ring.Seal(id, fieldWebhookSecret, secret)
	if err != nil {
		return nil, err
	}
	row := customerd.SealedEndpoint{ID: id, MerchantID: e.MerchantID, URL: e.URL, EnabledEvents: e.EnabledEvents,
		Description: e.Description, Created: e.Created, Secret: sealedSecret}
	err = s.commit(ctx, caller, ring, &e, "", nil, func(ctx context.Context, tx customerd.StoreTx) error {
		return tx.InsertWebhookEndpoint(ctx, row, customerd.MaxWebhookEndpoints)
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// FindWebhookEndpoint returns the merchant's endpoint with this id, without
// its secret; ENOTFOUND when there is none (another merchant's included).
func (s *Service) FindWebhookEndpoint(ctx context.Context, merchantID, id string) (*customerd.WebhookEndpoint, error) {
	row, err := s.store.FindWebhookEndpoint(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	return endpointOf(&row), nil
}

func endpointOf(r *customerd.SealedEndpoint) *customerd.WebhookEndpoint {
	return &customerd.WebhookEndpoint{ID: r.ID, MerchantID: r.MerchantID, URL: r.URL, EnabledEvents: r.EnabledEvents,
		Description: r.Description, Disabled: r.Disabled, Created: r.Created}
}

// ListWebhookEndpoints returns a page of the merchant's endpoints, without
// their secrets, with how many it has and whether another page follows.
func (s *Service) ListWebhookEndpoints(ctx context.Context, merchantID string, page customerd.Page) ([]*customerd.WebhookEndpoint, int, bool, error) {
	rows, total, more, err := s.store.ListWebhookEndpoints(ctx, merchantID, page)
	if err != nil {
		return nil, 0, false, err
	}
	out := make([]*customerd.WebhookEndpoint, len(rows))
	for i := range rows {
		out[i] = endpointOf(&rows[i])
	}
	return out, total, more, nil
}

// UpdateWebhookEndpoint applies a partial update to the merchant's endpoint
// and returns it, without its secret. Disabling an endpoint pauses its
// pending deliveries; enabling it again resumes those not yet past the max
// age. A request that changes nothing returns the endpoint as it is.
func (s *Service) UpdateWebhookEndpoint(ctx context.Context, caller customerd.Caller, id string, req customerd.EndpointRequest) (*customerd.WebhookEndpoint, error) {
	p, err := customerd.NewEndpointPatch(req, false)
	if err != nil {
		return nil, err
	}
	if p.URL.Set {
		if err := s.CheckWebhookURL(ctx, p.URL.Value); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		current, err := s.store.FindWebhookEndpoint(ctx, caller.MerchantID, id)
		if err != nil {
			return nil, err
		}
		if p.IsEmpty() {
			return endpointOf(&current), nil
		}
		ring, err := s.keyring(ctx, caller.MerchantID)
		if err != nil {
			return nil, err
		}
		// The update is made from the endpoint as read, and applies only
		// while it is still so: the answer (stored for an Idempotency-Key
		// before the write runs) is then exactly what the write made.
		after := p.Apply(*endpointOf(&current))
		err = s.commit(ctx, caller, ring, &after, "", nil, func(ctx context.Context, tx customerd.StoreTx) error {
			row, err := tx.LockWebhookEndpoint(ctx, caller.MerchantID, id)
			if err != nil {
				return err
			}
			if !sameEndpoint(row, current) {
				return customerd.ErrChanged
			}
			row.URL, row.EnabledEvents, row.Description, row.Disabled = after.URL, after.EnabledEvents, after.Description, after.Disabled
			return tx.UpdateWebhookEndpoint(ctx, row)
		})
		if errors.Is(err, customerd.ErrChanged) && attempt < maxChangedRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &after, nil
	}
}

// sameEndpoint reports whether two reads of an endpoint agree on what an
// update may change.
func sameEndpoint(a, b customerd.SealedEndpoint) bool {
	return a.URL == b.URL && slices.Equal(a.EnabledEvents, b.EnabledEvents) && a.Description == b.Description && a.Disabled == b.Disabled
}

// DeleteWebhookEndpoint deletes the merchant's endpoint and its attempts, and
// returns its id: its pending deliveries are dropped. ENOTFOUND when there
// is none.
func (s *Service) DeleteWebhookEndpoint(ctx context.Context, caller customerd.Caller, id string) (string, error) {
	ring, err := s.keyring(ctx, caller.MerchantID)
	if err != nil {
		return "", err
	}
	err = s.commit(ctx, caller, ring, id, "", nil, func(ctx context.Context, tx customerd.StoreTx) error {
		return tx.DeleteWebhookEndpoint(ctx, caller.MerchantID, id)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// ListWebhookAttempts returns a page of the delivery attempts made to the
// merchant's endpoint; ENOTFOUND when there is no such endpoint.
func (s *Service) ListWebhookAttempts(ctx context.Context, merchantID, endpointID string, page customerd.Page) ([]customerd.WebhookAttempt, int, bool, error) {
	if _, err := s.store.FindWebhookEndpoint(ctx, merchantID, endpointID); err != nil {
		return nil, 0, false, err
	}
	return s.store.ListWebhookAttempts(ctx, merchantID, endpointID, page)
}

// Errors of ResendEvent.
var (
	errNoEndpoint = &customerd.Error{Code: customerd.EINVALID, Message: "endpoint: is required: the id of a webhook endpoint",
		Fields: []customerd.FieldError{{Field: customerd.FieldEndpoint, Missing: true, Detail: "endpoint: is required: the id of a webhook endpoint"}}}
	errEndpointDisabled = &customerd.Error{Code: customerd.EINVALID, Message: "endpoint: is disabled: enable it before resending to it",
		Fields: []customerd.FieldError{{Field: customerd.FieldEndpoint, Detail: "endpoint: is disabled: enable it before resending to it"}}}
	errNoQueue = errors.New("service: webhook deliveries are not running in this process")
)

// ErrEndpointNotFound is what ResendEvent returns for an endpoint that does
// not exist, and ErrEventNotFound for an event: both ENOTFOUND, told apart
// so that the answer can say which.
var (
	ErrEndpointNotFound = &customerd.Error{Code: customerd.ENOTFOUND, Message: "no such webhook endpoint"}
	ErrEventNotFound    = &customerd.Error{Code: customerd.ENOTFOUND, Message: "no such event"}
)

// ResendEvent queues one more delivery of the merchant's event to one of
// its endpoints, whatever happened to the earlier ones, and returns the
// event. A disabled endpoint is refused (EINVALID).
func (s *Service) ResendEvent(ctx context.Context, caller customerd.Caller, eventID, endpointID string) (*customerd.Event, error) {
	if endpointID == "" {
		return nil, errNoEndpoint
	}
	if s.deliveries == nil {
		return nil, errNoQueue
	}
	ev, err := s.FindEvent(ctx, caller.MerchantID, eventID)
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	ep, err := s.store.FindWebhookEndpoint(ctx, caller.MerchantID, endpointID)
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return nil, ErrEndpointNotFound
	}
	if err != nil {
		return nil, err
	}
	if ep.Disabled {
		return nil, errEndpointDisabled
	}
	ring, err := s.keyring(ctx, caller.MerchantID)
	if err != nil {
		return nil, err
	}
	d := customerd.Delivery{MerchantID: caller.MerchantID, EventID: ev.ID, EndpointID: ep.ID}
	err = s.commit(ctx, caller, ring, ev, ev.Customer.ID, nil, func(ctx context.Context, tx customerd.StoreTx) error {
		return s.deliveries.Schedule(ctx, tx, []customerd.Delivery{d})
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// DeliveryTarget returns the merchant's endpoint with its secret opened, for
// the delivery of an event to it; ENOTFOUND once it is deleted.
func (s *Service) DeliveryTarget(ctx context.Context, merchantID, endpointID string) (*customerd.WebhookEndpoint, error) {
	row, err := s.store.FindWebhookEndpoint(ctx, merchantID, endpointID)
	if err != nil {
		return nil, err
	}
	e := endpointOf(&row)
	if e.Secret, err = s.openSealed(ctx, merchantID, row.ID, fieldWebhookSecret, row.Secret); err != nil {
		return nil, err
	}
	return e, nil
}

// LastWebhookAttempt returns the highest attempt number of the event at the
// endpoint, 0 when it was never tried: the next attempt is one more.
func (s *Service) LastWebhookAttempt(ctx context.Context, merchantID, endpointID, eventID string) (int, error) {
	return s.store.LastWebhookAttempt(ctx, merchantID, endpointID, eventID)
}

// RecordWebhookAttempts stores delivery attempts, giving each its id, in
// one write, with what within (when not nil) writes in the same
// transaction: the job queue completes the job that made them there.
func (s *Service) RecordWebhookAttempts(ctx context.Context, attempts []customerd.WebhookAttempt,
	within func(ctx context.Context, tx customerd.StoreTx) error) error {
	for i := range attempts {
		var err error
		if attempts[i].ID, err = customerd.NewWebhookAttemptID(); err != nil {
			return err
		}
	}
	return s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
		for _, a := range attempts {
			if err := tx.InsertWebhookAttempt(ctx, a); err != nil {
				return err
			}
		}
		if within == nil {
			return nil
		}
		return within(ctx, tx)
	})
}

// pruneWebhookAttempts deletes the merchant's delivery attempts made before
// t, in batches.
func (s *Service) pruneWebhookAttempts(ctx context.Context, merchantID string, before time.Time) error {
	for {
		n := 0
		err := s.store.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
			var err error
			n, err = tx.DeleteWebhookAttemptsBefore(ctx, merchantID, before, pruneBatch)
			return err
		})
		if err != nil || n < pruneBatch {
			return err
		}
	}
}
