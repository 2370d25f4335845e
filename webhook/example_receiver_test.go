package webhook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// receiverJS is the Node receiver of docs/webhooks.md, from this directory.
const receiverJS = "../examples/webhook-receiver/receiver.js"

// nodeMissing says why TestNodeReceiverExample is skipped.
const nodeMissing = "customerd/webhook: node is not on PATH, so TestNodeReceiverExample (" +
	receiverJS + ") is skipped; install Node 20 or later to run it"

// nodePath is node's path, "" when it is not installed.
var nodePath string

func TestMain(m *testing.M) {
	if p, err := exec.LookPath("node"); err == nil {
		nodePath = p
	} else {
		// go test shows a skip only with -v; a missing example test
		// should be seen.
		fmt.Fprintln(os.Stderr, nodeMissing)
	}
	os.Exit(m.Run())
}

// TestNodeReceiverExample runs the Node receiver and holds it to Verify:
// a delivery from Send is accepted, a tampered one refused, and for every
// header here the receiver's verdict is Verify's.
func TestNodeReceiverExample(t *testing.T) {
	if nodePath == "" {
		t.Skip(nodeMissing)
	}
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nodePath, receiverJS)
	cmd.Env = append(os.Environ(), "CUSTOMERD_WEBHOOK_SECRET="+secret, "PORT="+port)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	nextLine := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("waiting for %s: the receiver exited; stderr: %s", what, stderr.String())
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("waiting for %s: nothing in 10 s; stderr: %s", what, stderr.String())
		}
		return ""
	}
	if l := nextLine("the receiver to listen"); l != "listening on "+port {
		t.Fatalf("the receiver printed %q, want %q", l, "listening on "+port)
	}
	url := "http://127.0.0.1:" + port + "/webhooks"
	const marker = "jane.doe@example.com" // personal data in the body, not for logs
	body := []byte(`{"id":"evt_a1b2c3d4e5f6g7h8","object":"event","type":"customer.updated","sequence":7,` +
		`"data":{"object":{"email_address":"` + marker + `"}}}`)

	// (a) A delivery from Send.
	s := NewSender(SenderOptions{AllowInsecure: true})
	defer s.Close()
	res := s.Send(context.Background(), Delivery{URL: url, Secret: secret, EventID: "evt_a1b2c3d4e5f6g7h8", Attempt: 1, Body: body})
	if !res.Delivered || res.StatusCode != 200 {
		t.Fatalf("Send to the Node receiver = %+v, want 200; stderr: %s", res, stderr.String())
	}
	if l := nextLine("the event's log line"); l != "event evt_a1b2c3d4e5f6g7h8 customer.updated" {
		t.Errorf("the receiver logged %q, want the event id and type", l)
	}

	// (b) A tampered body with the original's signature.
	now := time.Now()
	signed := Sign(secret, now, body)
	tampered := bytes.Replace(body, []byte(marker), []byte("mallory@example.com"), 1)
	if code := post(t, url, signed, tampered); code != 400 {
		t.Errorf("tampered body: the receiver answered %d, want 400", code)
	}

	// The receiver agrees with Verify.
	sig := strings.TrimPrefix(signed, "t="+strconv.FormatInt(now.Unix(), 10)+",v1=")
	ts := strconv.FormatInt(now.Unix(), 10)
	old := now.Add(-6 * time.Minute)
	cases := []struct{ name, header string }{
		{"as signed", signed},
		{"spaces and order", " v1 = " + sig + " , t = " + ts},
		{"uppercase hex", "t=" + ts + ",v1=" + strings.ToUpper(sig)},
		{"rotation: another v1 first", "t=" + ts + ",v1=" + strings.Repeat("ab", 32) + ",v1=" + sig},
		{"unknown schemes and garbage", "junk,t=" + ts + ",v0=00,v1=" + sig},
		{"6 minutes old", Sign(secret, old, body)},
		{"6 minutes ahead", Sign(secret, now.Add(6*time.Minute), body)},
		{"wrong secret", Sign(secret+"x", now, body)},
		{"empty", ""},
		{"no v1", "t=" + ts},
		{"only v0", "t=" + ts + ",v0=" + sig},
		{"two t", "t=" + ts + ",t=" + ts + ",v1=" + sig},
		{"t not decimal", "t=+" + ts + ",v1=" + sig},
		{"truncated v1", "t=" + ts + ",v1=" + sig[:63]},
		{"v1 with trailing garbage", "t=" + ts + ",v1=" + sig + "zz"},
		{"v1 with a non-ASCII tail", "t=" + ts + ",v1=" + sig[:62] + "é"},
	}
	for _, c := range cases {
		want := 400
		if VerifyAt(secret, c.header, body, 0, now) == nil {
			want = 200
		}
		if code := post(t, url, c.header, body); code != want {
			t.Errorf("%s: the receiver answered %d, Verify's verdict is %d (header %q)", c.name, code, want, c.header)
		}
		if want == 200 {
			nextLine("the event's log line")
		}
	}
	cancel()
	cmd.Wait()
	for l := range lines {
		if strings.Contains(l, marker) {
			t.Errorf("the receiver logged the body: %q", l)
		}
	}
}

// post sends body with the signature header as given and returns the status.
func post(t *testing.T, url, signature string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventIDHeader, "evt_a1b2c3d4e5f6g7h8")
	if signature != "" {
		req.Header.Set(SignatureHeader, signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestDocsMatchTheCode holds docs/webhooks.md to the receiver it shows
// inline and to the signature vector of the tests.
func TestDocsMatchTheCode(t *testing.T) {
	doc, err := os.ReadFile("../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(receiverJS)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, append([]byte("```js\n"), js...)) {
		t.Errorf("docs/webhooks.md does not show %s as it is", receiverJS)
	}
	for _, s := range []string{vecSecret, vecBody, vecHeader} {
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("docs/webhooks.md lacks the worked example's %q", s)
		}
	}
}
