package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Cookie names. Both are HttpOnly, SameSite=Strict, limited to Prefix, and
// Secure over TLS.
const (
	sessionCookie = "customerd_session"
	signinCookie  = "customerd_signin" // the sign-in form's CSRF token, before there is a session
)

// maxSessions bounds the sessions one process holds. Only a valid key opens
// one; when full, expired sessions are dropped first, then the oldest.
const maxSessions = 10000

// session is one signed-in browser. The map that holds it is keyed by a
// hash of its id, so that the ids themselves are nowhere in memory once the
// cookie is set.
type session struct {
	merchantID string
	// keyPrefix names the API key signed in with, whose secret was checked
	// then; the key is checked again by its prefix on every request, and
	// its secret is not kept.
	keyPrefix string
	csrf      string // the token every form of the session carries
	created   time.Time
	lastSeen  time.Time
	flash     string // a message for the next page, shown once
}

// sessions holds the sessions of this process. They are not shared between
// nodes: behind a load balancer, use sticky sessions, or sign in again on
// another node.
type sessions struct {
	idle, maxAge time.Duration
	now          func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]*session
}

func newSessions(idle, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{idle: idle, maxAge: maxAge, now: now, m: map[[sha256.Size]byte]*session{}}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create opens a session and returns its id, the cookie's value.
func (ss *sessions) create(merchantID, keyPrefix string) (string, *session) {
	id := randomToken()
	now := ss.now()
	s := &session{merchantID: merchantID, keyPrefix: keyPrefix, csrf: randomToken(), created: now, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.evict(now)
	}
	ss.m[sha256.Sum256([]byte(id))] = s
	return id, s
}

// evict drops the expired sessions and, if none was, the oldest one.
func (ss *sessions) evict(now time.Time) {
	var oldest [sha256.Size]byte
	var oldestSeen time.Time
	for h, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, h)
			continue
		}
		if oldestSeen.IsZero() || s.lastSeen.Before(oldestSeen) {
			oldest, oldestSeen = h, s.lastSeen
		}
	}
	if len(ss.m) >= maxSessions {
		delete(ss.m, oldest)
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= ss.idle || now.Sub(s.created) >= ss.maxAge
}

// get returns the live session of id and marks it used, or nil. An expired
// session is dropped.
func (ss *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	h := sha256.Sum256([]byte(id))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[h]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, h)
		return nil
	}
	s.lastSeen = now
	return s
}

// end drops the session of id.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	delete(ss.m, sha256.Sum256([]byte(id)))
	ss.mu.Unlock()
}

// takeFlash returns the session's message and clears it.
func (ss *sessions) takeFlash(s *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(s *session, msg string) {
	ss.mu.Lock()
	s.flash = msg
	ss.mu.Unlock()
}

// len returns how many sessions are held, expired ones included.
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// setCookie sets a dashboard cookie; maxAge < 0 deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// cookieValue returns the value of the request's cookie name, or "".
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// sameToken compares a form's CSRF token with the expected one in constant
// time; an empty expected token matches nothing.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
