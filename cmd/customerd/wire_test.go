package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawExchange sends raw bytes on a new connection to addr and reads one
// response.
func rawExchange(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%.40q: no response: %v", request, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestOptionsAsteriskIsAnsweredByTheAPI: "OPTIONS *", which net/http
// answers itself unless told not to, gets the API's headers and JSON.
func TestOptionsAsteriskIsAnsweredByTheAPI(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	defer s.stop()
	for _, tc := range []struct {
		request string
		status  int
	}{
		{"OPTIONS * HTTP/1.1\r\nHost: customerd\r\nX-Request-Id: opt-1\r\n\r\n", 200},
		{"GET * HTTP/1.1\r\nHost: customerd\r\nX-Request-Id: opt-1\r\n\r\n", 405},
	} {
		res, body := rawExchange(t, s.addr, tc.request)
		var v map[string]any
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != "application/json" ||
			res.Header.Get("X-Request-Id") != "opt-1" || res.Header.Get("X-Response-Id") == "" || json.Unmarshal([]byte(body), &v) != nil {
			t.Errorf("%.12q: %d %v %q, want %d in JSON with the API's headers", tc.request, res.StatusCode, res.Header, body, tc.status)
		}
	}
}

// TestAnswersOnlyNetHTTPGivesAreAsDocumented: the requests that net/http
// refuses before customerd sees them get the plain answers that
// docs/api.md lists ("Answers from Go's HTTP server"). If one changes, so
// must the page.
func TestAnswersOnlyNetHTTPGivesAreAsDocumented(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	defer s.stop()
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"bad percent-escape in the path", "GET /customers/%zz HTTP/1.1\r\nHost: customerd\r\n\r\n", 400},
		{"request line and headers over 64 KiB", "GET /customers/" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\nHost: customerd\r\n\r\n", 431},
		{"unsupported transfer coding", "POST /customers HTTP/1.1\r\nHost: customerd\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"unsupported HTTP version", "GET /healthz HTTP/3.0\r\nHost: customerd\r\n\r\n", 505},
		{"unknown expectation", "GET /healthz HTTP/1.1\r\nHost: customerd\r\nExpect: bogus\r\n\r\n", 417},
		{"no Host header", "GET /healthz HTTP/1.1\r\n\r\n", 400},
		{"conflicting Content-Lengths", "POST /customers HTTP/1.1\r\nHost: customerd\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := rawExchange(t, s.addr, tc.request)
			if res.StatusCode != tc.status {
				t.Fatalf("%d %q, want %d as docs/api.md says", res.StatusCode, body, tc.status)
			}
			if res.Header.Get("Content-Type") == "application/json" {
				t.Fatalf("answered in JSON (%s): customerd's handler saw it, so docs/api.md no longer needs to list it", body)
			}
		})
	}
}

func TestPlainHTTPToTheTLSPortIsAsDocumented(t *testing.T) {
	dir := t.TempDir()
	tlsCertCreate(t, dir)
	s := startServer(t, "sqlite:"+filepath.Join(dir, "c.db"),
		"--tls-cert", filepath.Join(dir, "customerd.crt"), "--tls-key", filepath.Join(dir, "customerd.key"))
	defer s.stop()
	res, body := rawExchange(t, s.addr, "GET /healthz HTTP/1.1\r\nHost: customerd\r\n\r\n")
	if res.StatusCode != 400 || !strings.Contains(body, "Client sent an HTTP request to an HTTPS server.") {
		t.Fatalf("%d %q, want the 400 docs/api.md quotes", res.StatusCode, body)
	}
}
