package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// The defaults of SenderOptions' zero fields.
const (
	defaultTimeout          = 10 * time.Second
	defaultMaxResponseBytes = 64 << 10
	defaultMaxConnsPerHost  = 32
	defaultUserAgent        = "customerd-webhooks/1"
)

// SenderOptions configure a Sender. The zero value is the production
// setting.
type SenderOptions struct {
	// AllowInsecure permits http:// urls and connections to the addresses
	// ForbiddenAddr refuses (--webhook-allow-insecure), for development
	// and tests on 127.0.0.1. It does not turn off TLS certificate checks.
	AllowInsecure bool
	// Timeout bounds a whole attempt: connecting, TLS, sending, and reading
	// the answer. 0 means 10 s, the spec's limit for a 2xx.
	Timeout time.Duration
	// MaxResponseBytes is how much of an answer's body is read (and
	// discarded) before the connection is dropped. 0 means 64 KiB.
	MaxResponseBytes int64
	// MaxConnsPerHost limits the connections to one receiver, so that a
	// burst of events does not open hundreds. 0 means 32.
	MaxConnsPerHost int
	// UserAgent is the User-Agent header. "" means "customerd-webhooks/1".
	UserAgent string
}

// Sender delivers webhooks over HTTP with a connection pool of its own. It
// is safe for concurrent use; one Sender serves every endpoint.
type Sender struct {
	client    *http.Client
	transport *http.Transport
	opts      SenderOptions // zero fields replaced by their defaults
}

// NewSender returns a Sender configured by o. Its transport uses no proxy
// from the environment (HTTP_PROXY would otherwise see every delivery and
// could reach what the address checks keep out), does not follow
// redirects, and, unless o.AllowInsecure, refuses at connection time every
// address ForbiddenAddr refuses, whatever DNS answered at CheckURL.
func NewSender(o SenderOptions) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = defaultMaxResponseBytes
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = defaultMaxConnsPerHost
	}
	if o.UserAgent == "" {
		o.UserAgent = defaultUserAgent
	}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	if !o.AllowInsecure {
		dialer.Control = refuseForbidden
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    o.Timeout,
		MaxConnsPerHost:        o.MaxConnsPerHost,
		MaxIdleConnsPerHost:    o.MaxConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Sender{
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		transport: tr,
		opts:      o,
	}
}

// Close closes the Sender's idle connections. Sends still running finish.
func (s *Sender) Close() { s.transport.CloseIdleConnections() }

// Delivery is one attempt to deliver one event to one endpoint.
type Delivery struct {
	// URL is the endpoint's url, checked by CheckURL when it was set.
	URL string
	// Secret is the endpoint's whsec_ secret, the key of the signature.
	Secret string
	// EventID is sent as EventIDHeader.
	EventID string
	// Attempt is sent as AttemptHeader: 1 for the first attempt.
	Attempt int
	// Body is the event's JSON, sent and signed as is.
	Body []byte
}

// Result is what one attempt did, as a webhook attempt records it.
type Result struct {
	// StatusCode is the answer's HTTP status, 0 when there was none.
	StatusCode int
	// Duration is the attempt's wall time.
	Duration time.Duration
	// Err is "" when delivered, else a short cause such as "status 500",
	// "timeout after 10s", "connection refused", "redirect not followed
	// (302)", "refused address 127.0.0.1 (loopback)" or "tls: …". It
	// never holds the answer's body, the secret or the url's query.
	Err string
	// Delivered is true for a 2xx answer.
	Delivered bool
}

// Send makes one attempt: it POSTs d.Body to d.URL as application/json,
// signed with d.Secret at the current time (SignatureHeader), with
// EventIDHeader and AttemptHeader. It reads at most MaxResponseBytes of the
// answer, discards it, and returns within Timeout. Any answer but a 2xx,
// and any failure to get one, is a failed attempt; Send does not retry (see
// Backoff).
func (s *Sender) Send(ctx context.Context, d Delivery) Result {
	start := time.Now()
	r := s.send(ctx, d)
	r.Duration = time.Since(start)
	return r
}

func (s *Sender) send(parent context.Context, d Delivery) Result {
	if d.Secret == "" {
		return Result{Err: "no signing secret"}
	}
	if _, err := parseEndpointURL(d.URL, s.opts.AllowInsecure); err != nil {
		return Result{Err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(parent, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return Result{Err: "url is not a valid URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.opts.UserAgent)
	req.Header.Set(SignatureHeader, Sign(d.Secret, time.Now(), d.Body))
	req.Header.Set(EventIDHeader, d.EventID)
	req.Header.Set(AttemptHeader, strconv.Itoa(d.Attempt))

	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Err: s.failure(parent, err)}
	}
	// The answer's body means nothing to customerd; reading a bounded
	// part of it lets a small one keep the connection for the next
	// delivery, and a large one is cut off when the body is closed.
	io.Copy(io.Discard, io.LimitReader(resp.Body, s.opts.MaxResponseBytes))
	resp.Body.Close()

	r := Result{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.Delivered = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.Err = "redirect not followed (" + strconv.Itoa(resp.StatusCode) + ")"
	default:
		r.Err = "status " + strconv.Itoa(resp.StatusCode)
	}
	return r
}

// failure says in a few words why a request got no answer. The texts of
// http.Client's errors start with the method and the whole url, query
// included, so they are never used as they are.
func (s *Sender) failure(parent context.Context, err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	if r, ok := errors.AsType[*refusedAddrError](err); ok {
		return r.Error()
	}
	switch {
	case parent.Err() != nil:
		return "canceled" // the caller gave up (shutdown), not the receiver
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "host does not resolve"
		}
		if dnsErr.IsTimeout {
			return "dns timeout"
		}
		return "dns lookup failed"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout after " + s.opts.Timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &certErr):
		return short(certErr.Error())
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before an answer"
	}
	msg := err.Error()
	if ue, ok := errors.AsType[*url.Error](err); ok {
		msg = ue.Err.Error() // without "Post \"<url>\": "
	}
	switch {
	case strings.Contains(msg, "tls: "):
		return short(msg[strings.Index(msg, "tls: "):])
	case strings.Contains(msg, "malformed HTTP"):
		return "malformed HTTP answer" // the error quotes the answer
	}
	return short(msg)
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// short keeps an error text to one printable line of at most 160 bytes.
func short(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 160 {
		s = strings.ToValidUTF8(s[:157], "") + "..."
	}
	return s
}
