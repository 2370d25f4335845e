package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// records decodes every line of a JSON log, failing on a line that is not JSON.
func records(t *testing.T, log string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		recs = append(recs, rec)
	}
	return recs
}

func find(recs []map[string]any, msg string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestServeMetricsListenerAndJSONLogs(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), "--metrics-listen", "127.0.0.1:0", "--log-format", "json")
	key := keyPattern.FindString(s.stderr.String())
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}

	if status, body := s.call(t, key, "POST", "/customers", "object_reference_id=jon@example.com&mobile_number=99887766"); status != 200 {
		t.Fatalf("create: %d %v", status, body)
	}
	res, _ := get(t, "http://"+s.addr+"/customers/cst_aaaaaaaaaaaaaaaa", map[string]string{
		"Authorization": auth["Authorization"], "X-Request-Id": "trace-42"})
	if res.StatusCode != 404 {
		t.Fatalf("get: %d", res.StatusCode)
	}
	if res, _ := get(t, "http://"+s.addr+"/readyz", nil); res.StatusCode != 200 {
		t.Fatalf("readyz: %d", res.StatusCode)
	}
	if res, body := get(t, "http://"+s.addr+"/metrics", nil); res.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("public /metrics with --metrics-listen: %d %s", res.StatusCode, body)
	}

	recs := records(t, s.stderr.String())
	ml := find(recs, "metrics listening")
	if ml == nil {
		t.Fatalf("no metrics listener record:\n%s", s.stderr.String())
	}
	res, text := get(t, "http://"+ml["addr"].(string)+"/metrics", nil)
	if res.StatusCode != 200 {
		t.Fatalf("metrics listener: %d", res.StatusCode)
	}
	for _, want := range []string{
		`customerd_http_requests_total{method="POST",route="/customers",status="200"} 1`,
		`customerd_http_requests_total{method="GET",route="/customers/{customer_id}",status="404"} 1`,
		`customerd_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`customerd_http_request_duration_seconds_bucket{method="POST",route="/customers",status="200",le="+Inf"} 1`,
		`customerd_customers_created_total 1`,
		`customerd_db_max_open_connections{pool="write"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, "cst_aaaa") || strings.Contains(text, "jon@example.com") {
		t.Error("a path or a customer value leaked into the metrics")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// Every line is JSON (records fails otherwise), and each request has one
	// access record with its status and request id, and no path or query.
	recs = records(t, s.stderr.String())
	var access []map[string]any
	for _, r := range recs {
		if r["msg"] == "request" {
			access = append(access, r)
		}
	}
	if len(access) != 4 {
		t.Fatalf("%d access records, want 4:\n%s", len(access), s.stderr.String())
	}
	var traced map[string]any
	for _, r := range access {
		for _, k := range []string{"request_id", "method", "route", "status", "bytes", "duration_ms", "merchant_id"} {
			if _, ok := r[k]; !ok {
				t.Errorf("access record without %s: %v", k, r)
			}
		}
		if r["request_id"] == "trace-42" {
			traced = r
		}
	}
	if traced == nil || traced["status"] != float64(404) || traced["route"] != "/customers/{customer_id}" || traced["merchant_id"] != "sandbox" {
		t.Fatalf("access record of the traced request: %v", traced)
	}
	if log := s.stderr.String(); strings.Contains(log, "cst_aaaa") || strings.Contains(log, "jon@example.com\"") {
		t.Error("a path or a customer value is in the log")
	}
	start := find(recs, "starting")
	cfg, _ := start["config"].(map[string]any)
	if cfg["metrics-listen"] != "127.0.0.1:0" || cfg["log-format"] != "json" || start["version"] == nil {
		t.Fatalf("startup record: %v", start)
	}
	// The collector's setting: serve's default unless the environment sets one.
	if want := cmp.Or(os.Getenv("GOGC"), "400"); start["gogc"] != want {
		t.Fatalf("startup record: gogc %v, want %s", start["gogc"], want)
	}
}

func TestStartupConfigRedactsSecrets(t *testing.T) {
	fs, _ := newServeFlags(func(k string) string {
		return map[string]string{"CUSTOMERD_DB": "postgres://app:s3cret@db.internal:5432/customerd"}[k]
	}, io.Discard, io.Discard)
	fs.String("api-token", "", "a secret flag")
	if _, err := fs.parse([]string{"--api-token", "tok-123"}); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", fs.effectiveConfig())
	got := buf.String()
	if strings.Contains(got, "s3cret") || strings.Contains(got, "tok-123") {
		t.Fatalf("a secret is in the startup record: %s", got)
	}
	if !strings.Contains(got, "app:xxxxx@db.internal") {
		t.Fatalf("the redacted URL lost its shape: %s", got)
	}
}

func TestLogFormats(t *testing.T) {
	for _, tc := range []struct{ format, want string }{{"json", `{"time":`}, {"text", "time="}, {"auto", `{"time":`}} {
		var buf strings.Builder
		log, _, err := newLogger(&buf, tc.format, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Debug("hidden")
		log.Info("shown")
		if !strings.HasPrefix(buf.String(), tc.want) || strings.Contains(buf.String(), "hidden") {
			t.Errorf("--log-format %s: %q", tc.format, buf.String())
		}
	}
	if _, _, err := newLogger(io.Discard, "xml", "info"); err == nil {
		t.Error("--log-format xml accepted")
	}
	if _, _, err := newLogger(io.Discard, "json", "loud"); err == nil {
		t.Error("--log-level loud accepted")
	}
}

func TestHelpListsEveryFlagWithItsEnvironmentVariable(t *testing.T) {
	top, _, err := cli(t, nil, "--help")
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	serve, _, err := cli(t, nil, "serve", "--help")
	if err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	for _, want := range []string{
		"--listen  (env CUSTOMERD_LISTEN, default 127.0.0.1:8080)",
		"--db  (env CUSTOMERD_DB, default sqlite:customerd.db)",
		"--metrics-listen  (env CUSTOMERD_METRICS_LISTEN, default \"\")",
		"--log-format  (env CUSTOMERD_LOG_FORMAT, default auto)",
		"--log-level  (env CUSTOMERD_LOG_LEVEL, default info)",
		"--shutdown-grace  (env CUSTOMERD_SHUTDOWN_GRACE, default 10s)",
	} {
		if !strings.Contains(top, want) || !strings.Contains(serve, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, cmd := range [][]string{{"merchant", "-h"}, {"key", "--help"}, {"healthcheck", "--help"}} {
		if out, _, err := cli(t, nil, cmd...); err != nil || !strings.Contains(out, "Usage: customerd "+cmd[0]) {
			t.Errorf("%v: %v %q", cmd, err, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := cli(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^customerd \S+ \(commit \S+, go1\.[0-9]+`).MatchString(out) {
		t.Fatalf("version %q", out)
	}
}

func TestHealthcheck(t *testing.T) {
	s := startServer(t, "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	defer s.stop()
	if out, _, err := cli(t, map[string]string{"CUSTOMERD_LISTEN": s.addr}, "healthcheck"); err != nil || out != "ok\n" {
		t.Fatalf("healthcheck of a live server: %q %v", out, err)
	}
	if _, _, err := cli(t, nil, "healthcheck", "--url", "http://"+s.addr+"/nowhere"); err == nil {
		t.Fatal("healthcheck of a 404 succeeded")
	}
	for addr, want := range map[string]string{
		"0.0.0.0:8080":   "http://127.0.0.1:8080/healthz",
		":9000":          "http://127.0.0.1:9000/healthz",
		"[::]:8080":      "http://127.0.0.1:8080/healthz",
		"10.1.2.3:8443":  "http://10.1.2.3:8443/healthz",
		"localhost:8080": "http://localhost:8080/healthz",
	} {
		if got, err := healthURL(addr, false); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}
