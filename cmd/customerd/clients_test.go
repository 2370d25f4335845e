//go:build unix

package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sendCreate writes a create of ref on a new connection to addr, with its
// Content-Length and ref as its x-request-id, and returns the connection.
func sendCreate(t *testing.T, addr, key, ref string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return nil
	}
	body := "object_reference_id=" + ref + "&mobile_number=99887766"
	_, err = fmt.Fprintf(c, "POST /customers HTTP/1.1\r\nHost: customerd\r\nAuthorization: Basic %s\r\nX-Request-Id: %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		base64.StdEncoding.EncodeToString([]byte(key+":")), ref, len(body), body)
	if err != nil {
		t.Error(err)
	}
	return c.(*net.TCPConn)
}

// TestClientsThatHalfCloseOrLeaveAgainstTheBinary sends creates from many
// clients at once that half-close their connection after the request (as
// socat does), and from clients that close or reset it at once: the first
// get their 200, and none of them is answered or counted as a server error
// or loses a write that was accepted.
func TestClientsThatHalfCloseOrLeaveAgainstTheBinary(t *testing.T) {
	bin := customerdBinary(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	key := newMerchant(t, bin, db)
	p := startProc(t, bin, db)
	api := newAPIClient(p.addr, key, 4)

	const workers, each = 16, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ref := fmt.Sprintf("half-%d-%d", w, i)
				c := sendCreate(t, p.addr, key, ref)
				if c == nil {
					return
				}
				c.CloseWrite()
				c.SetReadDeadline(time.Now().Add(15 * time.Second))
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				got := ""
				if err != nil {
					got = err.Error()
				} else {
					b, _ := io.ReadAll(res.Body)
					if res.StatusCode != 200 {
						got = fmt.Sprintf("%d %s", res.StatusCode, b)
					}
				}
				c.Close()
				if got != "" {
					mu.Lock()
					bad = append(bad, ref+": "+got)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d half-closed creates did not get their 200, e.g. %s", len(bad), workers*each, bad[0])
	}
	for w := range workers {
		for i := range each {
			if status, _, err := api.call("GET", fmt.Sprintf("/customers/half-%d-%d", w, i), nil); status != 200 {
				t.Fatalf("half-%d-%d, answered 200, is not found: %d %v", w, i, status, err)
			}
		}
	}

	// Clients that go away right after sending: half close with FIN, half
	// reset their connection.
	var gone []string
	for i := range 32 {
		ref := fmt.Sprintf("gone-%d", i)
		gone = append(gone, ref)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sendCreate(t, p.addr, key, ref)
			if c == nil {
				return
			}
			if i%2 == 0 {
				c.SetLinger(0)
			}
			c.Close()
		}()
	}
	wg.Wait()
	time.Sleep(time.Second) // their writes commit, their records are written
	status := map[string]float64{}
	for _, rec := range records(t, p.stderr.String()) {
		if rec["level"] == "ERROR" {
			t.Errorf("error logged: %v", rec)
		}
		if rec["msg"] == "request" {
			if s, _ := rec["status"].(float64); s >= 500 {
				t.Errorf("answered or counted as a server error: %v", rec)
			}
			if id, _ := rec["request_id"].(string); strings.HasPrefix(id, "gone-") {
				status[id], _ = rec["status"].(float64)
			}
		}
	}
	resets := 0
	for i, ref := range gone {
		s, served := status[ref]
		switch {
		case !served:
			// Reset before the server read it: there was nothing to answer.
		case i%2 == 0 && s != 499:
			// A reset reaches the server long before the write's fsync ends.
			t.Errorf("%s, whose client reset the connection, recorded with status %v, want 499", ref, s)
		case s != 200 && s != 499:
			// A client that closed looks half-closed until a write fails.
			t.Errorf("%s recorded with status %v, want 200 or 499", ref, s)
		}
		if i%2 == 0 && served {
			resets++
		}
		if served {
			if got, _, err := api.call("GET", "/customers/"+ref, nil); got != 200 {
				t.Errorf("%s, recorded %v, is not found: its accepted write was dropped (%d %v)", ref, s, got, err)
			}
		}
	}
	if resets == 0 {
		t.Error("no request of a client that reset its connection was served: the test proves nothing")
	}
	if !strings.Contains(p.stderr.String(), `"level":"INFO","msg":"client disconnected before its answer was delivered"`) {
		t.Error("no client disconnect logged at info")
	}
	res, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	exposition, _ := io.ReadAll(res.Body)
	if strings.Contains(string(exposition), `status="500"`) {
		t.Errorf("/metrics counts server errors:\n%s", exposition)
	}
}
