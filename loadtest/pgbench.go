package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

var (
	pgbenchTPS     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	pgbenchLatency = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	pgbenchFailed  = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// Pgbench runs pgbench with a custom script (-f script -n, -c concurrency,
// -j threads, -T seconds, -D customers=N) against dbURL and returns its rate
// as a Result of target "pgbench". pgbench reports only an average latency,
// which is recorded as p50.
func Pgbench(ctx context.Context, dbURL, script string, customers, concurrency, threads int, d time.Duration) (Result, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-f", script,
		"-c", strconv.Itoa(concurrency), "-j", strconv.Itoa(threads), "-T", strconv.Itoa(secs),
		"-D", "customers="+strconv.Itoa(customers), dbURL)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("pgbench: %w: %s", err, bytes.TrimSpace(errOut.Bytes()))
	}
	m := pgbenchTPS.FindSubmatch(out.Bytes())
	if m == nil {
		return Result{}, fmt.Errorf("pgbench: no tps in its output:\n%s", out.Bytes())
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	res := Result{Target: TargetPgbench, Scenario: ScenarioUpdate, Customers: customers, Concurrency: concurrency,
		Seconds: float64(secs), RPS: tps, Requests: int(tps * float64(secs)), Time: start.UTC()}
	if m := pgbenchLatency.FindSubmatch(out.Bytes()); m != nil {
		res.P50ms, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := pgbenchFailed.FindSubmatch(out.Bytes()); m != nil && string(m[1]) != "0" {
		n, _ := strconv.Atoi(string(m[1]))
		res.Errors = map[string]int{"failed": n}
	}
	return res, nil
}
