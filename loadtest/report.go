package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Targets of a Result.
const (
	TargetCustomerd = "customerd"
	TargetCeiling   = "ceiling"
	TargetPgbench   = "pgbench"
)

// ReadResults reads one JSON Result per line.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] != '{' {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("bad result line %q: %w", line, err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// Summary is the medians over rounds of one (target, label, scenario).
type Summary struct {
	Target, Label, Scenario string
	Customers, Rounds       int
	RPS                     float64
	Ratio                   float64 // median of the per-round rps / the same round's reference; 0 when none
	RatioTo                 string  // what Ratio is relative to
	P50ms, P90ms, P99ms     float64
	MaxMs                   float64
	PeakRSSMiB              float64
	ServerCPUus             float64 // median server CPU time per request, µs; 0 when not measured
	Errors                  int     // non-2xx and connection errors, summed over rounds
	Extra                   string
}

// Summarize groups results and takes medians over rounds. Each customerd
// result is divided by the ceiling of its label and round; an update run on
// PostgreSQL is also divided by the pgbench run of its label and round. A
// search or list run is also divided by the get of its target, label and
// round (the targets are in gets), noted as "× get".
func Summarize(results []Result) []Summary {
	type key struct{ target, label, scenario string }
	groups := map[key][]Result{}
	var order []key
	ref := map[[3]string]float64{}  // (target, label, round) → rps
	gets := map[[3]string]float64{} // (target, label, round) → rps of get
	for _, r := range results {
		k := key{r.Target, r.Label, r.Scenario}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
		if r.Target == TargetCeiling || r.Target == TargetPgbench {
			ref[[3]string{r.Target, r.Label, fmt.Sprint(r.Round)}] = r.RPS
		}
		if r.Scenario == ScenarioGet {
			gets[[3]string{r.Target, r.Label, fmt.Sprint(r.Round)}] = r.RPS
		}
	}
	var out []Summary
	for _, k := range order {
		rs := groups[k]
		s := Summary{Target: k.target, Label: k.label, Scenario: k.scenario, Customers: rs[0].Customers, Rounds: len(rs)}
		var rps, ratios, toGet, p50, p90, p99, mx, rss, cpu []float64
		for _, r := range rs {
			rps = append(rps, r.RPS)
			p50, p90, p99, mx = append(p50, r.P50ms), append(p90, r.P90ms), append(p99, r.P99ms), append(mx, r.MaxMs)
			if r.PeakRSSKiB > 0 {
				rss = append(rss, float64(r.PeakRSSKiB)/1024)
			}
			if r.ServerCPUus > 0 {
				cpu = append(cpu, r.ServerCPUus)
			}
			for _, n := range r.Errors {
				s.Errors += n
			}
			if !strings.HasPrefix(k.target, TargetCustomerd) { // "customerd" or a variant such as "customerd-pool64"
				continue
			}
			against := TargetCeiling
			if k.scenario == ScenarioUpdate && strings.HasPrefix(k.label, "postgres") { // the pgbench reference
				against = TargetPgbench
			}
			if c, ok := ref[[3]string{against, r.Label, fmt.Sprint(r.Round)}]; ok && c > 0 {
				ratios = append(ratios, r.RPS/c)
				s.RatioTo = against
			}
			if inGets[k.scenario] {
				if g, ok := gets[[3]string{r.Target, r.Label, fmt.Sprint(r.Round)}]; ok && g > 0 {
					toGet = append(toGet, r.RPS/g)
				}
			}
			if b, ok := r.Extra["writes"].(float64); ok {
				if c, ok := r.Extra["commits"].(float64); ok && c > 0 {
					s.Extra = fmt.Sprintf("%.1f writes/commit", b/c)
				}
			}
		}
		s.RPS, s.Ratio = median(rps), median(ratios)
		if len(toGet) > 0 {
			s.Extra = fmt.Sprintf("%.2f × get", median(toGet))
		}
		s.P50ms, s.P90ms, s.P99ms, s.MaxMs = median(p50), median(p90), median(p99), slices.Max(mx)
		s.PeakRSSMiB = slices.Max(append(rss, 0))
		s.ServerCPUus = median(cpu)
		out = append(out, s)
	}
	return out
}

// inGets are the scenarios whose targets are given as a fraction of the get
// rate.
var inGets = map[string]bool{ScenarioSearchEmail: true, ScenarioSearchMobile: true, ScenarioList: true}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable prints summaries as a Markdown table.
func WriteTable(w io.Writer, ss []Summary) error {
	tw := &errWriter{w: w}
	fmt.Fprintln(tw, "| target | label | scenario | rounds | req/s (median) | ratio | p50 ms | p90 ms | p99 ms | max ms | p99/p50 | server CPU µs/req | peak RSS MiB | errors | notes |")
	fmt.Fprintln(tw, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range ss {
		ratio := "—"
		if s.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f × %s", s.Ratio, s.RatioTo)
		}
		spread := "—"
		if s.P50ms > 0 {
			spread = fmt.Sprintf("%.1f", s.P99ms/s.P50ms)
		}
		cpu := "—"
		if s.ServerCPUus > 0 {
			cpu = fmt.Sprintf("%.1f", s.ServerCPUus)
		}
		rss := "—"
		if s.PeakRSSMiB > 0 {
			rss = fmt.Sprintf("%.1f", s.PeakRSSMiB)
		}
		fmt.Fprintf(tw, "| %s | %s | %s | %d | %.0f | %s | %.2f | %.2f | %.2f | %.1f | %s | %s | %s | %d | %s |\n",
			s.Target, s.Label, s.Scenario, s.Rounds, s.RPS, ratio, s.P50ms, s.P90ms, s.P99ms, s.MaxMs, spread, cpu, rss, s.Errors, s.Extra)
	}
	return tw.err
}

// errWriter keeps the first write error so that a table is checked once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// WriteJSON writes r as one line of JSON.
func WriteJSON(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
