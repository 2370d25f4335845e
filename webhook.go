package customerd

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The rules of webhook endpoints (extensions §4).
const (
	// AllEvents, as enabled_events, subscribes to every event type.
	AllEvents = "*"
	// MaxWebhookEndpoints is how many endpoints one merchant may have: each
	// event is delivered to every one of them.
	MaxWebhookEndpoints = 16
	// MaxWebhookURLLen and MaxWebhookDescriptionLen bound those fields, in
	// bytes and in characters.
	MaxWebhookURLLen         = 2048
	MaxWebhookDescriptionLen = 500
)

// Wire names of the webhook endpoint fields and of resend's parameter.
const (
	FieldURL           = "url"
	FieldEnabledEvents = "enabled_events"
	FieldDescription   = "description"
	FieldDisabled      = "disabled"
	FieldEndpoint      = "endpoint"
)

// WebhookEndpoint is where a merchant's events are delivered.
type WebhookEndpoint struct {
	ID            string // "we_" + 16 characters of [a-z0-9]
	MerchantID    string
	URL           string
	EnabledEvents []string // AllEvents alone, or event types in the order given
	Description   string
	Disabled      bool
	Created       time.Time
	// Secret signs the deliveries. It is shown once, in the answer to the
	// create; everywhere else it is empty.
	Secret string
}

// Wants reports whether an event of type typ is delivered to the endpoint,
// enabled or not.
func (e *WebhookEndpoint) Wants(typ string) bool { return WantsEvent(e.EnabledEvents, typ) }

// WantsEvent reports whether enabled, an endpoint's enabled_events, selects
// events of type typ.
func WantsEvent(enabled []string, typ string) bool {
	return slices.Contains(enabled, AllEvents) || slices.Contains(enabled, typ)
}

// NewWebhookEndpointID returns "we_" followed by 16 characters of [a-z0-9].
func NewWebhookEndpointID() (string, error) { return newID("we_") }

// NewWebhookAttemptID returns "wa_" followed by 16 characters of [a-z0-9].
func NewWebhookAttemptID() (string, error) { return newID("wa_") }

// EndpointRequest is a create or a partial update of an endpoint as it
// arrives: each field Set when the request has it.
type EndpointRequest struct {
	URL, EnabledEvents, Description, Disabled Value
}

// EndpointPatch is a checked EndpointRequest: what an update changes.
type EndpointPatch struct {
	URL           Value
	EnabledEvents []string // nil: unchanged
	Description   Value
	Disabled      *bool // nil: unchanged
}

// NewEndpointPatch checks the fields a request sets, for a create when
// create is true (url is then required, and disabled not accepted), and
// returns every bad field at once. Whether the URL may be reached (https,
// and no private address) is the service's check, made on top of this one.
func NewEndpointPatch(req EndpointRequest, create bool) (EndpointPatch, error) {
	var p EndpointPatch
	var bad []FieldError
	fail := func(field, detail string) { bad = append(bad, FieldError{Field: field, Detail: field + ": " + detail}) }
	switch {
	case req.URL.Set:
		if err := ValidateWebhookURL(req.URL.Value); err != nil {
			fail(FieldURL, err.Error())
		}
		p.URL = req.URL
	case create:
		bad = append(bad, FieldError{Field: FieldURL, Missing: true, Detail: "url: is required"})
	}
	if req.EnabledEvents.Set {
		ev, err := ParseEnabledEvents(req.EnabledEvents.Value)
		if err != nil {
			fail(FieldEnabledEvents, err.Error())
		}
		p.EnabledEvents = ev
	} else if create {
		p.EnabledEvents = []string{AllEvents}
	}
	if req.Description.Set {
		if err := validateDescription(req.Description.Value); err != nil {
			fail(FieldDescription, err.Error())
		}
		p.Description = req.Description
	}
	if req.Disabled.Set {
		switch strings.ToLower(req.Disabled.Value) {
		case "true", "1":
			p.Disabled = new(true)
		case "false", "0":
			p.Disabled = new(false)
		default:
			fail(FieldDisabled, "must be true or false")
		}
		if create {
			fail(FieldDisabled, "cannot be set when creating an endpoint: create it, then disable it")
		}
	}
	if len(bad) > 0 {
		return EndpointPatch{}, &Error{Code: EINVALID, Message: bad[0].Detail, Fields: bad}
	}
	return p, nil
}

// IsEmpty reports whether the patch changes nothing.
func (p EndpointPatch) IsEmpty() bool {
	return !p.URL.Set && p.EnabledEvents == nil && !p.Description.Set && p.Disabled == nil
}

// Apply returns e with the patch applied.
func (p EndpointPatch) Apply(e WebhookEndpoint) WebhookEndpoint {
	if p.URL.Set {
		e.URL = p.URL.Value
	}
	if p.EnabledEvents != nil {
		e.EnabledEvents = p.EnabledEvents
	}
	if p.Description.Set {
		e.Description = p.Description.Value
	}
	if p.Disabled != nil {
		e.Disabled = *p.Disabled
	}
	return e
}

// ValidateWebhookURL checks the form of an endpoint's URL: an absolute
// http(s) URL of at most MaxWebhookURLLen bytes. Reachability and the
// address rules are checked where the network is.
func ValidateWebhookURL(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("may not be empty")
	case len(u) > MaxWebhookURLLen:
		return fmt.Errorf("is %d bytes long, at most %d are allowed", len(u), MaxWebhookURLLen)
	case !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://"):
		return fmt.Errorf("must be an absolute https:// URL")
	}
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] == 0x7f {
			return fmt.Errorf("may not contain spaces or control characters")
		}
	}
	return nil
}

// ParseEnabledEvents parses enabled_events: AllEvents alone, or a
// comma-separated list of event types (spaces around each are ignored, a
// repeated type counts once). Empty, unknown or mixed with AllEvents is an
// error.
func ParseEnabledEvents(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		t := strings.TrimSpace(part)
		switch {
		case t == "":
			continue
		case t != AllEvents && !slices.Contains(EventTypes, t):
			return nil, fmt.Errorf("unknown event type %q: use * or a comma-separated list of %s", truncate(t, 40), strings.Join(EventTypes, ", "))
		case !slices.Contains(out, t):
			out = append(out, t)
		}
	}
	switch {
	case len(out) == 0:
		return nil, fmt.Errorf("may not be empty: use * for every event type")
	case len(out) > 1 && slices.Contains(out, AllEvents):
		return nil, fmt.Errorf("* stands for every event type and cannot be combined with others")
	}
	return out, nil
}

func validateDescription(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("must be UTF-8 text")
	}
	if n := utf8.RuneCountInString(s); n > MaxWebhookDescriptionLen {
		return fmt.Errorf("is %d characters long, at most %d are allowed", n, MaxWebhookDescriptionLen)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("may not contain control characters")
		}
	}
	return nil
}

// truncate shortens s to at most n bytes, on a character boundary, for an
// error message that quotes a client's value.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// SealedEndpoint is an endpoint as stored: its secret sealed by the service
// (the URL and description are the merchant's configuration, not personal
// data, and stay readable).
type SealedEndpoint struct {
	ID, MerchantID string
	URL            string
	EnabledEvents  []string
	Description    string
	Disabled       bool
	Created        time.Time // UTC, whole seconds
	Secret         []byte    // sealed under the merchant's data key
}

// WebhookTarget is an enabled endpoint as a change's transaction sees it:
// which of its events to schedule for delivery there.
type WebhookTarget struct {
	EndpointID    string
	EnabledEvents []string
}

// Delivery is one event to deliver to one endpoint: a job of the delivery
// queue.
type Delivery struct {
	MerchantID string `json:"merchant"`
	EventID    string `json:"event"`
	EndpointID string `json:"endpoint"`
}

// WebhookAttempt is one try at delivering an event to an endpoint.
type WebhookAttempt struct {
	ID, MerchantID, EndpointID, EventID string
	// Attempt counts the tries of this event at this endpoint: 1, 2, …,
	// resends included.
	Attempt    int
	Created    time.Time // when the try started; UTC
	StatusCode int       // the receiver's HTTP status; 0 when there was no answer
	Duration   time.Duration
	Error      string    // why it failed; "" when delivered
	NextRetry  time.Time // when it is tried again; zero when it is not
	Delivered  bool
}
