package multinode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"customerd/fieldcrypt"
)

// The customerd binary, built once for the whole package by the first test
// that needs it.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	binPath   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary returns the path of the real customerd binary, built from this tree.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		statSources()
		buildDir, buildErr = os.MkdirTemp("", "customerd-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "customerd")
		// go test puts its own go command first on PATH.
		cmd := exec.Command("go", "build", "-o", binPath, "customerd/cmd/customerd")
		var out []byte
		out, buildErr = cmd.CombinedOutput()
		if buildErr != nil {
			buildErr = &buildError{err: buildErr, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

// statSources stats every source file of the module. go test caches a
// package's result keyed on the files its tests touch; the binary is built in
// a child process, so without this a change to the server alone would not
// invalidate a cached pass of these tests.
func statSources() {
	_ = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".sql", ".mod", ".sum":
			_, _ = os.Stat(path)
		}
		return nil
	})
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// childEnv is this process's environment without CUSTOMERD_* variables, so
// that only the flags a test passes configure a node, plus the master key
// that every node and command of one deployment shares.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CUSTOMERD_") {
			env = append(env, kv)
		}
	}
	return append(env, "CUSTOMERD_MASTER_KEY="+masterKey)
}

// masterKey is the master key of the deployment under test.
var masterKey = func() string {
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(k.Encode()))
}()

// cli runs "customerd args... --db dbURL" and returns its stdout.
func cli(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), append(args, "--db", dbURL)...)
	cmd.Env = childEnv()
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
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--db", dbURL, "--db-max-conns", "4")
	cmd.Env = childEnv()
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
