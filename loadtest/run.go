package loadtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenarios the generator can drive.
const (
	ScenarioGet    = "get"     // GET /customers/{id}
	ScenarioGetRef = "get-ref" // GET /customers/{object_reference_id}
	ScenarioUpdate = "update"  // POST /customers/{id}, a partial form update
	ScenarioCreate = "create"  // POST /customers
	ScenarioMixed  = "mixed"   // 80% get, 20% update
	// ScenarioSearchEmail and ScenarioSearchMobile are GET /customers
	// filtered by one customer's email address or mobile number.
	ScenarioSearchEmail  = "search-email"
	ScenarioSearchMobile = "search-mobile"
	// ScenarioList is GET /customers?count=10 with a cursor: each
	// connection walks the list from a customer of its own, every request
	// starting after the last customer of its previous page, and starts
	// again from the top after the last page.
	ScenarioList = "list"
	// ScenarioCreateKeyed is ScenarioCreate with a fresh Idempotency-Key
	// on every request, and ScenarioReplay a create with each worker's one
	// key, made once and then answered from the stored answer.
	ScenarioCreateKeyed = "create-keyed"
	ScenarioReplay      = "replay"
	// ScenarioEvents is GET /customers/{id}/events (the first page of ten,
	// oldest first) of one of EventCustomers customers, each given
	// EventsPerCustomer events before the run.
	ScenarioEvents = "events"
)

// Scenarios lists every scenario name.
var Scenarios = []string{ScenarioGet, ScenarioGetRef, ScenarioUpdate, ScenarioCreate, ScenarioMixed,
	ScenarioSearchEmail, ScenarioSearchMobile, ScenarioList, ScenarioCreateKeyed, ScenarioReplay, ScenarioEvents}

// The customers of ScenarioEvents, and how many events each has.
const (
	EventCustomers    = 10
	EventsPerCustomer = 100
)

// ListPageSize is the count of the list scenario's pages.
const ListPageSize = 10

// Config describes one load run.
type Config struct {
	Addr        string // host:port of the server
	Key         string // API key (Basic username)
	MerchantID  string // sent as x-merchantid when not empty
	Scenario    string
	Customers   int // synthetic customers 0..Customers-1 that exist
	Concurrency int // connections, each driven by one goroutine
	Duration    time.Duration
	Warmup      time.Duration // run before Duration starts, not recorded
	Seed        uint64        // picks the customers; runs with the same seed replay the same sequence
	ServerPID   int           // when set, the server's CPU time per request is measured (Linux)
}

// Result summarizes one run. Latencies are of successful (2xx) requests.
type Result struct {
	Target      string         `json:"target"`          // "customerd", "ceiling" or "pgbench"
	Label       string         `json:"label,omitempty"` // the group of runs it is compared within, e.g. "sqlite-10k"
	Round       int            `json:"round,omitempty"`
	Scenario    string         `json:"scenario"`
	Customers   int            `json:"customers"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"` // 2xx responses
	Errors      map[string]int `json:"errors,omitempty"`
	RPS         float64        `json:"rps"` // 2xx responses per second
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	PeakRSSKiB  int64          `json:"peak_rss_kib,omitempty"` // the server's VmHWM after the run
	// ServerCPUus and LoadCPUus are the CPU time (user + system) the
	// server and the load generator used during the measured window,
	// per successful request, in microseconds: a cost that drifts less
	// than throughput on a shared machine.
	ServerCPUus float64        `json:"server_cpu_us,omitempty"`
	LoadCPUus   float64        `json:"load_cpu_us,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"` // e.g. the server's group-commit counters
	Time        time.Time      `json:"time"`
}

type worker struct {
	id      int
	cfg     *Config
	conn    conn
	rng     *rand.Rand
	auth    string
	buf     []byte
	lat     []time.Duration
	errors  map[string]int
	created int
	// The list scenario's walk: the customer the next page starts after
	// ("" for the first page), read from the previous page in body.
	cursor string
	body   []byte
}

// Run drives the server as cfg says and returns what it measured. It fails
// only when the configuration is unusable; failing requests are counted.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if !slices.Contains(Scenarios, cfg.Scenario) {
		return Result{}, fmt.Errorf("unknown scenario %q (want one of %v)", cfg.Scenario, Scenarios)
	}
	if cfg.Concurrency < 1 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("concurrency and duration must be positive")
	}
	creates := cfg.Scenario == ScenarioCreate || cfg.Scenario == ScenarioCreateKeyed || cfg.Scenario == ScenarioReplay
	if cfg.Customers < 1 && !creates {
		return Result{}, fmt.Errorf("scenario %s needs seeded customers", cfg.Scenario)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Key+":"))
	if cfg.Scenario == ScenarioEvents {
		if cfg.Customers < EventCustomers {
			return Result{}, fmt.Errorf("scenario %s needs %d seeded customers", cfg.Scenario, EventCustomers)
		}
		if err := makeHistory(ctx, cfg, auth); err != nil {
			return Result{}, err
		}
	}
	runTag := strconv.FormatInt(time.Now().UnixNano(), 36)
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{
			id: i, cfg: &cfg, conn: conn{addr: cfg.Addr}, auth: auth,
			rng:    rand.New(rand.NewPCG(cfg.Seed, uint64(i))),
			lat:    make([]time.Duration, 0, 1<<14),
			errors: map[string]int{},
		}
		if cfg.Scenario == ScenarioList && cfg.Customers > 0 {
			workers[i].cursor = CustomerID(workers[i].rng.IntN(cfg.Customers))
		}
	}
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	meter := cpuMeter{pid: cfg.ServerPID}
	window := time.AfterFunc(cfg.Warmup, meter.start)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.conn.close()
			w.loop(ctx, runTag, measureFrom, end)
		}()
	}
	wg.Wait()
	if window.Stop() {
		meter.start() // cancelled before the warmup ended
	}
	meter.stop()
	elapsed := time.Since(measureFrom)
	if e := end.Sub(measureFrom); elapsed > e && ctx.Err() == nil {
		// The last requests finish after end; they were started within it.
		elapsed = e
	}

	res := Result{Scenario: cfg.Scenario, Customers: cfg.Customers, Concurrency: cfg.Concurrency,
		Seconds: elapsed.Seconds(), Errors: map[string]int{}, Time: start.UTC()}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		for k, v := range w.errors {
			res.Errors[k] += v
		}
	}
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	res.Requests = len(all)
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	if res.Requests > 0 {
		res.LoadCPUus = float64(meter.selfCPU.Microseconds()) / float64(res.Requests)
		if cfg.ServerPID > 0 && meter.serverErr == nil {
			res.ServerCPUus = float64(meter.serverCPU.Microseconds()) / float64(res.Requests)
		}
	}
	slices.Sort(all)
	res.P50ms, res.P90ms, res.P99ms = ms(percentile(all, 50)), ms(percentile(all, 90)), ms(percentile(all, 99))
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile returns the nearest-rank percentile p of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (w *worker) loop(ctx context.Context, runTag string, measureFrom, end time.Time) {
	for ctx.Err() == nil {
		req := w.next(runTag)
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		var status int
		var err error
		if w.cfg.Scenario == ScenarioList {
			status, err = w.conn.roundTripBody(req, &w.body)
			w.cursor = ""
			if err == nil && status == 200 {
				w.cursor = NextCursor(w.body)
			}
		} else {
			status, err = w.conn.roundTrip(req)
		}
		t1 := time.Now()
		if t0.Before(measureFrom) {
			continue
		}
		switch {
		case err != nil:
			w.errors["conn: "+errClass(err)]++
		case status < 200 || status > 299:
			w.errors[strconv.Itoa(status)]++
		default:
			w.lat = append(w.lat, t1.Sub(t0))
		}
	}
}

func errClass(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// next builds the worker's next request into its buffer.
func (w *worker) next(runTag string) []byte {
	scenario := w.cfg.Scenario
	if scenario == ScenarioMixed {
		scenario = ScenarioGet
		if w.rng.IntN(5) == 0 {
			scenario = ScenarioUpdate
		}
	}
	i := w.rng.IntN(max(w.cfg.Customers, 1))
	b := w.buf[:0]
	switch scenario {
	case ScenarioGet:
		b = w.head(b, "GET", "/customers/"+CustomerID(i))
		b = append(b, "\r\n"...)
	case ScenarioGetRef:
		b = w.head(b, "GET", "/customers/"+url.PathEscape(Reference(i)))
		b = append(b, "\r\n"...)
	case ScenarioUpdate:
		// A partial update of two fields; the others stay as they are.
		body := "mobile_number=" + mobile(w.rng.Uint64()) + "&first_name=Load" + strconv.Itoa(w.rng.IntN(1000))
		b = w.head(b, "POST", "/customers/"+CustomerID(i))
		b = w.form(b, body)
	case ScenarioSearchEmail:
		b = w.head(b, "GET", "/customers?email_address="+url.QueryEscape(Email(i)))
		b = append(b, "\r\n"...)
	case ScenarioSearchMobile:
		b = w.head(b, "GET", "/customers?mobile_number="+Mobile(i))
		b = append(b, "\r\n"...)
	case ScenarioList:
		path := "/customers?count=" + strconv.Itoa(ListPageSize)
		if w.cursor != "" {
			path += "&starting_after=" + w.cursor
		}
		b = w.head(b, "GET", path)
		b = append(b, "\r\n"...)
	case ScenarioCreate, ScenarioCreateKeyed, ScenarioReplay:
		if scenario != ScenarioReplay || w.created == 0 {
			w.created++
		}
		ref := "create-" + runTag + "-" + strconv.Itoa(w.id) + "-" + strconv.Itoa(w.created)
		n := w.rng.Uint64()
		if scenario == ScenarioReplay {
			n = uint64(w.id) // the same request every time
		}
		body := "object_reference_id=" + ref + "&mobile_number=" + mobile(n) +
			"&email_address=" + ref + "%40example.com&first_name=Load&last_name=Created"
		b = w.head(b, "POST", "/customers")
		if scenario != ScenarioCreate {
			b = append(b, "Idempotency-Key: "...)
			b = append(b, ref...)
			b = append(b, "\r\n"...)
		}
		b = w.form(b, body)
	case ScenarioEvents:
		b = w.head(b, "GET", "/customers/"+CustomerID(i%EventCustomers)+"/events")
		b = append(b, "\r\n"...)
	}
	w.buf = b
	return b
}

// NextCursor returns the id of the last customer of a list page, the
// cursor of the page after it, or "" when the page is the list's last (or
// holds no customer), to start again from the top.
func NextCursor(page []byte) string {
	if bytes.Contains(page, []byte(`"has_more":false`)) {
		return ""
	}
	const key = `{"id":"`
	i := bytes.LastIndex(page, []byte(key))
	if i < 0 {
		return ""
	}
	id := page[i+len(key):]
	end := bytes.IndexByte(id, '"')
	if end < 0 {
		return ""
	}
	return string(id[:end])
}

func (w *worker) head(b []byte, method, path string) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, w.cfg.Addr...)
	b = append(b, "\r\nAuthorization: "...)
	b = append(b, w.auth...)
	b = append(b, "\r\nVersion: 2023-06-30\r\n"...)
	if w.cfg.MerchantID != "" {
		b = append(b, "x-merchantid: "...)
		b = append(b, w.cfg.MerchantID...)
		b = append(b, "\r\n"...)
	}
	return b
}

func (w *worker) form(b []byte, body string) []byte {
	b = append(b, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// makeHistory gives each of the first EventCustomers customers
// EventsPerCustomer events (its create and updates), counting those it has:
// a run after another adds none.
func makeHistory(ctx context.Context, cfg Config, auth string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path, body string) (map[string]any, error) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, "http://"+cfg.Addr+path, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", auth)
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
			return nil, fmt.Errorf("%s %s: %d %v", method, path, res.StatusCode, err)
		}
		return out, nil
	}
	for c := range EventCustomers {
		id := CustomerID(c)
		page, err := call("GET", "/customers/"+id+"/events?count=1", "")
		if err != nil {
			return err
		}
		have, _ := page["total"].(float64)
		for i := int(have); i < EventsPerCustomer; i++ {
			if _, err := call("POST", "/customers/"+id, "first_name=History"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}
