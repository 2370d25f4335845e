package multinode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"customerd/internal/binarytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	binarytest.Cleanup()
	os.Exit(code)
}

// binary returns the real customerd binary, built once per test run.
func binary(t *testing.T) string { return binarytest.Path(t) }

// cli runs "customerd args... --db dbURL" and returns its stdout.
func cli(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), append(args, "--db", dbURL)...)
	cmd.Env = binarytest.ChildEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("customerd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// node is one running "customerd serve" process.
type node struct {
	name string
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT

	mu      sync.Mutex
	stderr  bytes.Buffer
	partial []byte      // an unfinished line
	addr    chan string // receives the address of the "listening" line
	exited  chan struct{}
}

// Write collects the node's stderr and watches it for the JSON log line
// {"msg":"listening","addr":"127.0.0.1:PORT",...}.
func (n *node) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stderr.Write(p)
	n.partial = append(n.partial, p...)
	for {
		i := bytes.IndexByte(n.partial, '\n')
		if i < 0 {
			break
		}
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(n.partial[:i], &rec) == nil && rec.Msg == "listening" {
			select {
			case n.addr <- rec.Addr:
			default:
			}
		}
		n.partial = n.partial[i+1:]
	}
	return len(p), nil
}

// logs returns everything the node wrote to stderr so far.
func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stderr.String()
}

// running reports whether the process is still alive.
func (n *node) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// startNode starts "customerd serve" on a free port and waits for its
// "listening" log line. The node is stopped when t ends.
func startNode(t *testing.T, name, dbURL string) *node {
	t.Helper()
	n, err := launch(t, name, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// launch is startNode for use from any goroutine: it reports instead of
// failing the test.
func launch(t *testing.T, name, dbURL string) (*node, error) {
	// The webhook receivers of the tests listen on 127.0.0.1.
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--db", dbURL, "--db-max-conns", "4", "--webhook-allow-insecure")
	cmd.Env = binarytest.ChildEnv()
	n := &node{name: name, cmd: cmd, exited: make(chan struct{}), addr: make(chan string, 1)}
	cmd.Stderr = n
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, n.logs())
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-n.exited
		}
	})
	select {
	case a := <-n.addr:
		n.base = "http://" + a
		return n, nil
	case <-n.exited:
		return nil, fmt.Errorf("%s exited before listening:\n%s", name, n.logs())
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("%s did not start listening within 60s:\n%s", name, n.logs())
	}
}

// client is shared by the tests: enough idle connections for every writer.
var client = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 100, MaxConnsPerHost: 100},
}

// response is what the tests look at in an answer.
type response struct {
	status     int
	header     http.Header
	body       map[string]any
	raw        string
	elapsed    time.Duration
	transportE error
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// call sends one API request with Basic auth (key as username, no password).
// form may be nil for a GET.
func call(ctx context.Context, method, u, key string, form url.Values) response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return response{transportE: err}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth(key, "")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return response{transportE: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw), elapsed: time.Since(start)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// mustCall is call that fails the test unless the status is want.
func mustCall(t *testing.T, method, u, key string, form url.Values, want int) response {
	t.Helper()
	r := call(context.Background(), method, u, key, form)
	if r.transportE != nil {
		t.Fatalf("%s %s: %v", method, u, r.transportE)
	}
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, u, r.status, want, r.raw)
	}
	return r
}
