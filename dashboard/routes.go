package dashboard

import "net/http"

// routes is every page of the dashboard. Paths name customers and webhook
// endpoints by their opaque ids only; what identifies a person (an email, a
// mobile number, a reference) travels in POST bodies.
func (h *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"assets/{name}", h.serveAsset)
	m.HandleFunc("GET "+Prefix+"{$}", h.signedIn(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, Prefix+"customers", http.StatusSeeOther)
	}))
	m.HandleFunc("GET "+Prefix+"signin", h.signinForm)
	m.HandleFunc("POST "+Prefix+"signin", h.signin)
	m.HandleFunc("POST "+Prefix+"signout", h.signedIn(h.signout))

	m.HandleFunc("GET "+Prefix+"customers", h.signedIn(h.customers))
	m.HandleFunc("POST "+Prefix+"customers/search", h.signedIn(h.searchCustomers))
	m.HandleFunc("GET "+Prefix+"customers/{id}", h.signedIn(h.customer))
	m.HandleFunc("GET "+Prefix+"customers/{id}/edit", h.signedIn(h.editForm))
	m.HandleFunc("POST "+Prefix+"customers/{id}/edit", h.signedIn(h.edit))
	m.HandleFunc("GET "+Prefix+"customers/{id}/erase", h.signedIn(h.eraseForm))
	m.HandleFunc("POST "+Prefix+"customers/{id}/erase", h.signedIn(h.erase))

	m.HandleFunc("GET "+Prefix+"webhooks", h.signedIn(h.webhooks))
	m.HandleFunc("POST "+Prefix+"webhooks", h.signedIn(h.createWebhook))
	m.HandleFunc("GET "+Prefix+"webhooks/{id}", h.signedIn(h.webhook))
	m.HandleFunc("POST "+Prefix+"webhooks/{id}/disable", h.signedIn(h.setWebhookDisabled(true)))
	m.HandleFunc("POST "+Prefix+"webhooks/{id}/enable", h.signedIn(h.setWebhookDisabled(false)))
	m.HandleFunc("POST "+Prefix+"webhooks/{id}/delete", h.signedIn(h.deleteWebhook))
	return m
}
