package dashboard

import (
	"net/http"
	neturl "net/url"
	"slices"
	"strings"

	"customerd"
)

// webhooksPage is the body of the webhook endpoints' page.
type webhooksPage struct {
	Endpoints  []*customerd.WebhookEndpoint
	EventTypes []string
	// The create form, as typed when it failed.
	URL, Description string
	Events           []string
	Errors           map[string]string
}

// attemptsShown is how many recent attempts an endpoint's page shows.
const attemptsShown = 50

// webhookPage is the body of one endpoint's page.
type webhookPage struct {
	Endpoint *customerd.WebhookEndpoint
	Secret   string // set only on the answer to its creation
	Attempts []customerd.WebhookAttempt
	More     bool
}

// webhooks lists the merchant's endpoints, with the form to add one.
func (h *Handler) webhooks(w http.ResponseWriter, r *http.Request, s *session) {
	h.showWebhooks(w, r, s, http.StatusOK, webhooksPage{})
}

func (h *Handler) showWebhooks(w http.ResponseWriter, r *http.Request, s *session, status int, p webhooksPage) {
	ctx, cancel := storeContext(r)
	defer cancel()
	list, _, _, err := h.svc.ListWebhookEndpoints(ctx, s.merchantID, customerd.Page{Limit: customerd.MaxWebhookEndpoints})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	p.Endpoints, p.EventTypes = list, customerd.EventTypes
	h.render(w, r, status, "webhooks", h.signedInView(s, "Webhooks", "webhooks", p))
}

// createWebhook adds an endpoint and shows it with its secret, once: the
// answer is the page itself, never stored, and the secret is in no URL.
func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	url, desc := strings.TrimSpace(r.PostForm.Get("url")), strings.TrimSpace(r.PostForm.Get("description"))
	var events []string
	for _, e := range r.PostForm["events"] {
		if slices.Contains(customerd.EventTypes, e) {
			events = append(events, e)
		}
	}
	req := customerd.EndpointRequest{URL: customerd.Present(url)}
	if desc != "" {
		req.Description = customerd.Present(desc)
	}
	if len(events) > 0 && len(events) < len(customerd.EventTypes) {
		req.EnabledEvents = customerd.Present(strings.Join(events, ","))
	}
	ctx, cancel := storeContext(r)
	defer cancel()
	e, err := h.svc.CreateWebhookEndpoint(ctx, s.caller(w), req)
	if errs, ok := fieldErrors(err); ok {
		h.showWebhooks(w, r, s, http.StatusBadRequest, webhooksPage{URL: url, Description: desc, Events: events, Errors: errs})
		return
	}
	if err != nil {
		if customerd.ErrorCode(err) == customerd.EINVALID { // e.g. too many endpoints
			h.showWebhooks(w, r, s, http.StatusBadRequest, webhooksPage{URL: url, Description: desc, Events: events,
				Errors: map[string]string{customerd.FieldURL: err.Error()}})
			return
		}
		h.fail(w, r, s, err)
		return
	}
	p := webhookPage{Endpoint: e, Secret: e.Secret}
	h.render(w, r, http.StatusOK, "webhook", h.signedInView(s, "Webhook endpoint", "webhooks", p))
}

// webhook shows an endpoint and its recent delivery attempts.
func (h *Handler) webhook(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := storeContext(r)
	defer cancel()
	id := r.PathValue("id")
	e, err := h.svc.FindWebhookEndpoint(ctx, s.merchantID, id)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	attempts, _, more, err := h.svc.ListWebhookAttempts(ctx, s.merchantID, id, customerd.Page{Limit: attemptsShown})
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	p := webhookPage{Endpoint: e, Attempts: attempts, More: more}
	h.render(w, r, http.StatusOK, "webhook", h.signedInView(s, "Webhook endpoint", "webhooks", p))
}

// setWebhookDisabled returns the page that disables or enables an endpoint.
func (h *Handler) setWebhookDisabled(disabled bool) pageFunc {
	value, done := "false", "Endpoint enabled."
	if disabled {
		value, done = "true", "Endpoint disabled: events are no longer sent to it."
	}
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		ctx, cancel := storeContext(r)
		defer cancel()
		id := r.PathValue("id")
		req := customerd.EndpointRequest{Disabled: customerd.Present(value)}
		if _, err := h.svc.UpdateWebhookEndpoint(ctx, s.caller(w), id, req); err != nil {
			h.fail(w, r, s, err)
			return
		}
		h.sessions.setFlash(s, done)
		http.Redirect(w, r, Prefix+"webhooks/"+neturl.PathEscape(id), http.StatusSeeOther)
	}
}

// deleteWebhook deletes an endpoint.
func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := storeContext(r)
	defer cancel()
	id := r.PathValue("id")
	if _, err := h.svc.DeleteWebhookEndpoint(ctx, s.caller(w), id); err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.sessions.setFlash(s, "Endpoint "+id+" deleted.")
	http.Redirect(w, r, Prefix+"webhooks", http.StatusSeeOther)
}
