package httpapi_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"customerd"
	"customerd/httpapi"
	"customerd/metrics"
)

// rawConn is one TCP connection to a test server, speaking HTTP/1.1 by
// hand, so that a test can half-close or reset it as real clients do.
type rawConn struct {
	t    *testing.T
	conn *net.TCPConn
	rd   *bufio.Reader
}

// dialRaw connects to a's server. The rerun of the suite over TLS and HTTP/2
// skips the test: what it checks happens on a plain HTTP/1.1 connection.
func dialRaw(t *testing.T, a *testAPI) *rawConn {
	t.Helper()
	if a.srv.TLS != nil {
		t.Skip("speaks HTTP/1.1 on the wire by hand; the plain run covers it")
	}
	return dialRawAddr(t, a.srv.Listener.Addr().String())
}

func dialRawAddr(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c.(*net.TCPConn), rd: bufio.NewReader(c)}
}

// send writes a request as key, with a form body and its Content-Length.
func (c *rawConn) send(method, path, key, body string, extra ...string) {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: customerd\r\n", method, path)
	if key != "" {
		fmt.Fprintf(&b, "Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte(key+":")))
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", len(body))
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response, within 10 s.
func (c *rawConn) read() (*http.Response, string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(c.rd, nil)
	if err != nil {
		c.t.Fatalf("no response: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading the response body: %v", err)
	}
	return res, string(body)
}

// reset closes the connection with a TCP reset, as a client that gives up
// does when it still has unread data, or that sets SO_LINGER to 0.
func (c *rawConn) reset() {
	c.conn.SetLinger(0)
	c.conn.Close()
}

// slowWrites delays every store write by d, so that a client's half-close
// or disconnect reaches the server while its write is in progress.
func slowWrites(d time.Duration) func(customerd.Store) customerd.Store {
	return func(s customerd.Store) customerd.Store {
		return hookStore{Store: s, before: func(_ context.Context, method, _ string) {
			if method == "Write" {
				time.Sleep(d)
			}
		}}
	}
}

func TestHalfClosedClientGetsItsAnswer(t *testing.T) {
	var logs logBuffer
	a := newTestAPIWithStore(t, func(c *httpapi.Config) { c.Logger = jsonLogger(&logs) }, slowWrites(50*time.Millisecond))
	for i := range 3 {
		ref := fmt.Sprintf("half-%d", i)
		c := dialRaw(t, a)
		c.send("POST", "/customers", a.key1, "object_reference_id="+ref+"&mobile_number=1")
		// What socat and `curl --data … | nc -N` do: the request is sent, and
		// the client says it has nothing more to send.
		if err := c.conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		res, body := c.read()
		if res.StatusCode != 200 || !strings.Contains(body, `"object_reference_id":"`+ref+`"`) {
			t.Fatalf("half-closed create %d: %d %s", i, res.StatusCode, body)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Fatalf("half-closed create %d: no x-request-id", i)
		}
		wantStatus(t, a.do("GET", "/customers/"+ref, ""), 200)
	}
	for _, rec := range logs.records(t) {
		if rec["level"] == "ERROR" || (rec["msg"] == "request" && rec["status"] != 200.0) {
			t.Errorf("log record %v for a half-closed client that got its 200", rec)
		}
	}
}

func TestClientThatGoesAwayIsA499AndItsWriteCommits(t *testing.T) {
	var logs logBuffer
	m := metrics.New()
	a := newTestAPIWithStore(t, func(c *httpapi.Config) {
		c.Logger = jsonLogger(&logs)
		c.Metrics = m
	}, slowWrites(100*time.Millisecond))
	c := dialRaw(t, a)
	c.send("POST", "/customers", a.key1, "object_reference_id=gone&mobile_number=1", "X-Request-Id: req-gone-1")
	time.Sleep(20 * time.Millisecond) // the request is read and its write is under way
	c.reset()

	// The write was accepted, so it runs to its commit.
	deadline := time.Now().Add(5 * time.Second)
	for a.do("GET", "/customers/gone", "").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the write of a client that went away was dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var access, disconnect map[string]any
	for time.Now().Before(deadline) && access == nil {
		for _, rec := range logs.records(t) {
			if rec["request_id"] != "req-gone-1" {
				continue
			}
			switch rec["msg"] {
			case "request":
				access = rec
			case "client disconnected before its answer was delivered":
				disconnect = rec
			}
			if rec["level"] == "ERROR" || rec["level"] == "WARN" {
				t.Errorf("a client that went away is logged at %v: %v", rec["level"], rec)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if access == nil || access["status"] != 499.0 || access["bytes"] != 0.0 {
		t.Fatalf("access record %v, want status 499 and 0 bytes sent:\n%s", access, logs.String())
	}
	if disconnect == nil || disconnect["level"] != "INFO" {
		t.Fatalf("no client-disconnect record at info:\n%s", logs.String())
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exposition := rec.Body.String()
	if !strings.Contains(exposition, `customerd_http_requests_total{method="POST",route="/customers",status="499"} 1`) {
		t.Errorf("the disconnect is not counted as status 499:\n%s", grepLines(exposition, "requests_total"))
	}
	if strings.Contains(exposition, `status="500"`) {
		t.Errorf("a client that went away is counted as a server error:\n%s", grepLines(exposition, "requests_total"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
