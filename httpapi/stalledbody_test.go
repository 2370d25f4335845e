package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"customerd/httpapi"
)

// TestStalledBodyGetsAnAnswer sends bodies that stop short, to a server
// whose read and write timeouts are equal, as serve's are: the client gets
// the contract's JSON error before the connection closes, and the access
// log records what was sent.
func TestStalledBodyGetsAnAnswer(t *testing.T) {
	a := newTestAPI(t)
	if a.srv.TLS != nil {
		t.Skip("speaks HTTP/1.1 on the wire by hand; the plain run covers it")
	}
	var logs logBuffer
	srv := httptest.NewUnstartedServer(httpapi.New(httpapi.Config{Service: a.svc, Logger: jsonLogger(&logs)}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
	srv.Start()
	defer srv.Close()
	for _, tc := range []struct {
		name    string
		head    string // after the request line and Authorization
		body    string
		closeWr bool // the client then half-closes: the body ends
		status  int
		message string
	}{
		{"Content-Length not reached", "Content-Length: 1000\r\n", "object_reference_id=", false, 408, "Request body timed out"},
		{"chunked without its last chunk", "Transfer-Encoding: chunked\r\n", "14\r\nobject_reference_id=\r\n", false, 408, "Request body timed out"},
		{"Content-Length not reached, then end of input", "Content-Length: 1000\r\n", "object_reference_id=", true, 400, "Invalid request body"},
		{"chunked, then end of input", "Transfer-Encoding: chunked\r\n", "14\r\nobject_reference_id=\r\n", true, 400, "Invalid request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRawAddr(t, srv.Listener.Addr().String())
			id := fmt.Sprintf("stall-%d", time.Now().UnixNano())
			// Pipelined behind a get, so that the server finds the whole
			// head of the POST waiting when it starts to read it: its read
			// and write deadlines are then the same instant.
			c.send("GET", "/healthz", "", "")
			c.send("POST", "/customers", a.key1, "", "X-Request-Id: "+id,
				"Content-Type: application/x-www-form-urlencoded", strings.TrimSuffix(tc.head, "\r\n"))
			if _, err := c.conn.Write([]byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			if tc.closeWr {
				c.conn.CloseWrite()
			}
			if res, body := c.read(); res.StatusCode != 200 {
				t.Fatalf("the get before: %d %s", res.StatusCode, body)
			}
			res, body := c.read()
			if res.StatusCode != tc.status || res.Header.Get("X-Request-Id") != id || res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q, x-request-id %q: %s", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("X-Request-Id"), body)
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["status"] != "Invalid Request" || e["error_message"] != tc.message {
				t.Fatalf("body %s (%v)", body, err)
			}
			var rec map[string]any
			for deadline := time.Now().Add(5 * time.Second); rec == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, r := range logs.records(t) {
					if r["request_id"] == id && r["msg"] == "request" {
						rec = r
					}
				}
			}
			if rec == nil || rec["status"] != float64(tc.status) || rec["bytes"] != float64(len(body)) {
				t.Fatalf("access record %v, want status %d and the %d bytes sent", rec, tc.status, len(body))
			}
		})
	}
}
