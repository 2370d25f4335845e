package webhook

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = vecSecret

// receiver starts an HTTP server on 127.0.0.1 with handler h, closed when
// the test ends. Its connections are closed first, which ends the requests
// of handlers that wait for their request's context.
func receiver(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// hang waits until the client goes away. It reads the request body first:
// the server notices a closed connection only once the body is read.
func hang(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func insecureSender(t *testing.T, o SenderOptions) *Sender {
	t.Helper()
	o.AllowInsecure = true
	s := NewSender(o)
	t.Cleanup(s.Close)
	return s
}

func delivery(url string) Delivery {
	return Delivery{URL: url, Secret: testSecret, EventID: "evt_0a1b2c3d4e5f6g7h", Attempt: 3, Body: []byte(vecBody)}
}

func TestSendIsVerifiedByAReceiver(t *testing.T) {
	type seen struct {
		method, contentType, userAgent, eventID, attempt string
		verifyErr                                        error
	}
	got := make(chan seen, 1)
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := Verify(testSecret, r.Header.Get(SignatureHeader), body, 0)
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"),
			r.Header.Get(EventIDHeader), r.Header.Get(AttemptHeader), err}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery(srv.URL+"/hooks?token=x"))
	if !res.Delivered || res.StatusCode != http.StatusNoContent || res.Err != "" || res.Duration <= 0 {
		t.Fatalf("Send = %+v, want delivered with 204", res)
	}
	s := <-got
	if s.verifyErr != nil {
		t.Errorf("the receiver's Verify: %v", s.verifyErr)
	}
	want := seen{"POST", "application/json", "customerd-webhooks/1", "evt_0a1b2c3d4e5f6g7h", "3", nil}
	if s != want {
		t.Errorf("the receiver saw %+v, want %+v", s, want)
	}
}

func TestSendUserAgentOption(t *testing.T) {
	got := make(chan string, 1)
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) { got <- r.UserAgent() })
	insecureSender(t, SenderOptions{UserAgent: "acme-hooks/2"}).Send(context.Background(), delivery(srv.URL))
	if ua := <-got; ua != "acme-hooks/2" {
		t.Errorf("User-Agent = %q, want acme-hooks/2", ua)
	}
}

func TestSendNon2xxIsAFailedAttempt(t *testing.T) {
	for _, code := range []int{400, 404, 410, 500, 503} {
		srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, "stack trace mentioning "+testSecret)
		})
		res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery(srv.URL))
		want := "status " + strconv.Itoa(code)
		if res.Delivered || res.StatusCode != code || res.Err != want {
			t.Errorf("answer %d: Send = %+v, want StatusCode %d, Err %q, not delivered", code, res, code, want)
		}
	}
}

func TestSend2xxIsDelivered(t *testing.T) {
	for _, code := range []int{200, 201, 202, 299} {
		srv := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
		res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery(srv.URL))
		if !res.Delivered || res.StatusCode != code || res.Err != "" {
			t.Errorf("answer %d: Send = %+v, want delivered", code, res)
		}
	}
}

func TestSendTimesOutAtTheTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		hang(r) // a receiver that never answers
	})
	res := insecureSender(t, SenderOptions{Timeout: timeout}).Send(context.Background(), delivery(srv.URL))
	if res.Delivered || res.StatusCode != 0 || res.Err != "timeout after 300ms" {
		t.Fatalf("Send = %+v, want no status and Err \"timeout after 300ms\"", res)
	}
	if res.Duration < timeout || res.Duration > timeout+3*time.Second {
		t.Errorf("Duration = %v, want about %v", res.Duration, timeout)
	}
}

func TestSendBoundsReadingTheAnswer(t *testing.T) {
	// A 200 whose body never ends: delivered (the status came in time),
	// and the attempt still ends at the timeout.
	const timeout = 300 * time.Millisecond
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		hang(r)
	})
	res := insecureSender(t, SenderOptions{Timeout: timeout}).Send(context.Background(), delivery(srv.URL))
	if !res.Delivered || res.StatusCode != 200 {
		t.Fatalf("Send = %+v, want delivered with 200", res)
	}
	if res.Duration < timeout || res.Duration > timeout+3*time.Second {
		t.Errorf("Duration = %v, want about %v", res.Duration, timeout)
	}
}

func TestSendCapsALargeAnswer(t *testing.T) {
	// 10 MB, then the body stays open: a Sender that read past its cap
	// would wait for the timeout.
	const timeout = 5 * time.Second
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 160 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.(http.Flusher).Flush()
		hang(r)
	})
	res := insecureSender(t, SenderOptions{Timeout: timeout}).Send(context.Background(), delivery(srv.URL))
	if !res.Delivered || res.Err != "" {
		t.Fatalf("Send = %+v, want delivered", res)
	}
	if res.Duration > timeout/2 {
		t.Errorf("Duration = %v: the answer was read past MaxResponseBytes", res.Duration)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	target := receiver(t, func(w http.ResponseWriter, r *http.Request) { followed.Add(1) })
	for _, code := range []int{301, 302, 303, 307, 308} {
		srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", code)
		})
		res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery(srv.URL))
		want := "redirect not followed (" + strconv.Itoa(code) + ")"
		if res.Delivered || res.StatusCode != code || res.Err != want {
			t.Errorf("redirect %d: Send = %+v, want StatusCode %d and Err %q", code, res, code, want)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// tlsReceiver is an https server on 127.0.0.1 that counts the connections
// made to it.
func tlsReceiver(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are expected
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestSendRefusesForbiddenAddressesAtConnect(t *testing.T) {
	srv, conns := tlsReceiver(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := NewSender(SenderOptions{}) // production settings
	defer s.Close()
	// The urls pass the scheme checks; the connection is what is refused,
	// for a literal address and for a name resolved at send time alike.
	for _, url := range []string{srv.URL + "/hooks", "https://localhost:" + port + "/hooks"} {
		res := s.Send(context.Background(), delivery(url))
		if res.Delivered || res.StatusCode != 0 || res.Err != "refused address 127.0.0.1 (loopback)" {
			t.Errorf("Send(%s) = %+v, want Err \"refused address 127.0.0.1 (loopback)\"", url, res)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the receiver saw %d connections", n)
	}
}

func TestSendRefusesHTTPWithoutAllowInsecure(t *testing.T) {
	var hits atomic.Int32
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	s := NewSender(SenderOptions{})
	defer s.Close()
	res := s.Send(context.Background(), delivery(srv.URL))
	if res.Delivered || res.Err != "url must use https" || hits.Load() != 0 {
		t.Errorf("Send(%s) = %+v with %d requests, want Err \"url must use https\" and none", srv.URL, res, hits.Load())
	}
}

func TestSendReportsTLSFailures(t *testing.T) {
	// AllowInsecure permits the address, not an unverified certificate.
	srv, _ := tlsReceiver(t)
	res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery(srv.URL+"/?token=s3cr3t"))
	if res.Delivered || res.StatusCode != 0 || !strings.HasPrefix(res.Err, "tls: failed to verify certificate") {
		t.Errorf("Send = %+v, want Err \"tls: failed to verify certificate…\"", res)
	}
	if strings.Contains(res.Err, "s3cr3t") || len(res.Err) > 160 {
		t.Errorf("Err = %q: holds the query or is long", res.Err)
	}
}

func TestSendReportsARefusedConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery("http://"+addr+"/?token=s3cr3t"))
	if res.Delivered || res.StatusCode != 0 || res.Err != "connection refused" {
		t.Errorf("Send = %+v, want Err \"connection refused\"", res)
	}
}

func TestSendReportsAClosedConnection(t *testing.T) {
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	res := insecureSender(t, SenderOptions{}).Send(context.Background(), delivery(srv.URL))
	if res.Delivered || res.StatusCode != 0 || res.Err != "connection closed before an answer" {
		t.Errorf("Send = %+v, want Err \"connection closed before an answer\"", res)
	}
}

func TestSendWhenTheCallerCancels(t *testing.T) {
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		hang(r)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := insecureSender(t, SenderOptions{}).Send(ctx, delivery(srv.URL))
	if res.Delivered || res.Err != "canceled" {
		t.Errorf("Send = %+v, want Err \"canceled\" (the caller's deadline, not the receiver's timeout)", res)
	}
}

func TestSendWithoutASecretSendsNothing(t *testing.T) {
	var hits atomic.Int32
	srv := receiver(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	d := delivery(srv.URL)
	d.Secret = ""
	res := insecureSender(t, SenderOptions{}).Send(context.Background(), d)
	if res.Delivered || res.Err != "no signing secret" || hits.Load() != 0 {
		t.Errorf("Send = %+v with %d requests, want Err \"no signing secret\" and none", res, hits.Load())
	}
}

func TestSenderIgnoresProxyEnvironment(t *testing.T) {
	// http.ProxyFromEnvironment never proxies 127.0.0.1, so a test server
	// cannot show it; the transport itself must have no proxy.
	s := NewSender(SenderOptions{})
	defer s.Close()
	if s.transport.Proxy != nil {
		t.Error("the Sender's transport has a Proxy function")
	}
}
