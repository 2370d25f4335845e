package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"customerd"
)

//go:embed templates/*.html
var templateFiles embed.FS

// view is what every page's template gets: the layout's parts, and the
// page's own data in Body.
type view struct {
	Title    string
	Nav      string // the section of the navigation that is current
	Merchant string // "" when signed out: the layout shows no navigation
	CSRF     string // the token of the page's forms
	Flash    string
	Body     any
}

// The page templates, each parsed with the layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{"iso": isoTime, "utc": utcTime, "asset": assetURL}
	out := map[string]*template.Template{}
	for _, name := range []string{"signin", "error", "customers", "customer", "edit", "erase", "webhooks", "webhook"} {
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

// isoTime is t as a <time> element's datetime: UTC, to the second.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// utcTime is t as shown before the script turns it into local time, and on
// hover after.
func utcTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

// render writes page name with v. A page is rendered whole before it is
// sent, so that a template error is a 500 and not half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, v); err != nil {
		h.log.Error("dashboard page failed to render", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// signedInView is the layout of a page of session s.
func (h *Handler) signedInView(s *session, title, nav string, body any) view {
	return view{Title: title, Nav: nav, Merchant: s.merchantID, CSRF: s.csrf, Flash: h.sessions.takeFlash(s), Body: body}
}

// errorPage is the body of the error page.
type errorPage struct {
	Status  int
	Message string
}

// renderError shows an error page, with the navigation when s is a session.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	v := view{Title: http.StatusText(status), Body: errorPage{Status: status, Message: msg}}
	if s != nil {
		v.Merchant, v.CSRF = s.merchantID, s.csrf
	}
	h.render(w, r, status, "error", v)
}

// fail shows the error page for an error of the service. Only the error's
// code is logged for the caller's mistakes; faults are logged whole (the
// service's errors carry no customer values).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	switch customerd.ErrorCode(err) {
	case customerd.ENOTFOUND:
		h.renderError(w, r, s, http.StatusNotFound, "There is no such object: it may have been erased or deleted.")
	case customerd.EINVALID:
		msg := err.Error()
		if e := (*customerd.Error)(nil); errors.As(err, &e) && e.Message != "" {
			msg = e.Message // without the code before it
		}
		h.renderError(w, r, s, http.StatusBadRequest, msg)
	case customerd.EUNAVAILABLE:
		h.log.Warn("dashboard request failed", "error", err.Error())
		w.Header().Set("Retry-After", "1")
		h.renderError(w, r, s, http.StatusServiceUnavailable, "The database cannot be reached right now. Try again in a moment.")
	default:
		h.log.Error("dashboard request failed", "error", err.Error())
		h.renderError(w, r, s, http.StatusInternalServerError, "Something went wrong. Try again, or look at the server's log.")
	}
}

// fieldErrors maps the field errors of a service error to the fields of a
// form, each message without the field's name that begins it. ok is false
// when err is not an error of the fields.
func fieldErrors(err error) (map[string]string, bool) {
	var e *customerd.Error
	if !errors.As(err, &e) || e.Code != customerd.EINVALID || len(e.Fields) == 0 {
		return nil, false
	}
	out := map[string]string{}
	for _, f := range e.Fields {
		msg := strings.TrimPrefix(f.Detail, f.Field+": ")
		if f.Missing {
			msg = "is required"
		}
		if out[f.Field] == "" {
			out[f.Field] = msg
		}
	}
	return out, true
}
