package dashboard

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"customerd"
)

// maxFormBytes bounds a form the dashboard reads.
const maxFormBytes = 64 << 10

// pageFunc serves a page of a signed-in session.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session)

// signedIn wraps a page: it finds the request's session, checks its key
// again (a revoked key ends the session within the key cache's TTL), and,
// for a POST, the form's CSRF token. A request without a live session is
// sent to the sign-in page.
func (h *Handler) signedIn(page pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id := cookieValue(r, sessionCookie)
		s := h.sessions.get(id)
		if s == nil {
			if id != "" {
				setCookie(w, r, sessionCookie, "", -1)
			}
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return
		}
		ctx, cancel := storeContext(r)
		merchantID, err := h.svc.KeyMerchant(ctx, s.keyPrefix)
		cancel()
		switch {
		case customerd.ErrorCode(err) == customerd.EUNAUTHORIZED || err == nil && merchantID != s.merchantID:
			h.log.Info("dashboard session ended: its key no longer authenticates", "key", s.keyPrefix+"…")
			h.sessions.end(id)
			setCookie(w, r, sessionCookie, "", -1)
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return
		case err != nil:
			h.fail(w, r, s, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil || !sameToken(r.PostForm.Get("csrf"), s.csrf) {
				h.renderError(w, r, s, http.StatusForbidden, "This form has expired or did not come from this dashboard. Go back, reload the page and try again.")
				return
			}
		}
		page(w, r, s)
	}
}

// signinPage is what the sign-in form shows.
type signinPage struct {
	Error string
}

// signinForm shows the sign-in form, with a fresh CSRF token in a cookie of
// its own: there is no session yet to hold it.
func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request) {
	if h.sessions.get(cookieValue(r, sessionCookie)) != nil {
		http.Redirect(w, r, Prefix+"customers", http.StatusSeeOther)
		return
	}
	h.showSignin(w, r, http.StatusOK, "")
}

func (h *Handler) showSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	token := randomToken()
	setCookie(w, r, signinCookie, token, 3600)
	h.render(w, r, status, "signin", view{Title: "Sign in", CSRF: token, Body: signinPage{Error: msg}})
}

// signin checks the key of the sign-in form and opens a session. A bad key
// counts against the client address's failed authentications, as it would
// on the API; an address over the limit is refused before its key is
// looked up.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !sameToken(r.PostForm.Get("csrf"), cookieValue(r, signinCookie)) {
		h.renderError(w, r, nil, http.StatusForbidden, "This form has expired or did not come from this dashboard. Reload the sign-in page and try again.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("api_key"))
	if key == "" {
		h.showSignin(w, r, http.StatusBadRequest, "Enter an API key.")
		return
	}
	client := h.clientKey(r)
	ctx, cancel := storeContext(r)
	defer cancel()
	attempt, allowed, wait := h.authFails.Reserve(ctx, client)
	if !allowed {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		h.showSignin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address. Wait a minute and try again.")
		return
	}
	merchantID, err := h.svc.Authenticate(ctx, key)
	if err != nil {
		if customerd.ErrorCode(err) != customerd.EUNAUTHORIZED {
			attempt.Release() // the store failed: nothing was guessed
			h.fail(w, r, nil, err)
			return
		}
		h.log.Info("dashboard sign-in failed", "client", client, "key", customerd.RedactKey(key))
		if full, _ := attempt.Fail(); full {
			h.log.Warn("too many failed authentications: client blocked", "client", client)
		}
		h.showSignin(w, r, http.StatusUnauthorized, "That API key is not valid, or has been revoked.")
		return
	}
	attempt.Release()
	prefix, _ := customerd.APIKeyPrefix(key)
	if old := cookieValue(r, sessionCookie); old != "" {
		h.sessions.end(old) // a sign-in always starts a new session
	}
	id, _ := h.sessions.create(merchantID, prefix)
	setCookie(w, r, signinCookie, "", -1)
	setCookie(w, r, sessionCookie, id, 0)
	h.log.Info("dashboard sign-in", "merchant_id", merchantID, "key", prefix+"…")
	http.Redirect(w, r, Prefix+"customers", http.StatusSeeOther)
}

// signout ends the session.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, s *session) {
	h.sessions.end(cookieValue(r, sessionCookie))
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
