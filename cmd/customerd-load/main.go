// Command customerd-load is customerd's load harness: it seeds a database
// with synthetic customers, drives a running server, serves the fixed-JSON
// ceiling the results are compared with, runs the pgbench reference, and
// summarizes results. bench/run.sh uses every subcommand; see BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"customerd"
	"customerd/fieldcrypt"
	"customerd/loadtest"
	"customerd/postgres"
	"customerd/service"
	"customerd/sqlite"
)

const usage = `customerd-load: load harness for customerd.

Usage:
  customerd-load seed --db URL [--customers N] [--master-key-file F]  seed; prints a fresh API key
  customerd-load run --addr HOST:PORT --key KEY [flags]          drive a server; prints a result
  customerd-load ceiling [--listen ADDR]                         serve the fixed-JSON ceiling
  customerd-load pgbench --db URL --script FILE [flags]          run the pgbench reference
  customerd-load report [FILE...]                                medians and ratios of results
  customerd-load ids [--customers N]                             print the synthetic customer ids
  customerd-load walk --addr HOST:PORT --key KEY [--count N]     read every page of GET /customers; prints the time

Run "customerd-load COMMAND --help" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "customerd-load:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "seed":
		return runSeed(ctx, rest, stdout, stderr)
	case "run":
		return runLoad(ctx, rest, stdout, stderr)
	case "ceiling":
		return runCeiling(ctx, rest, stderr)
	case "pgbench":
		return runPgbench(ctx, rest, stdout, stderr)
	case "report":
		return runReport(rest, stdout)
	case "ids":
		return runIDs(rest, stdout, stderr)
	case "walk":
		return runWalk(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// openService opens the store a --db URL names and the service over it, as
// customerd serve does, with the master key from masterKeyFile or
// $CUSTOMERD_MASTER_KEY (SQLite without one uses, or creates, the key file
// beside the database, as serve does).
func openService(ctx context.Context, dbURL, masterKeyFile string) (*service.Service, error) {
	var vault *fieldcrypt.Vault
	var key *fieldcrypt.MasterKey
	var err error
	switch env := os.Getenv("CUSTOMERD_MASTER_KEY"); {
	case masterKeyFile != "":
		key, err = fieldcrypt.ReadMasterKeyFile(masterKeyFile)
	case env != "":
		key, err = fieldcrypt.ParseMasterKey([]byte(env))
	}
	if err != nil {
		return nil, err
	}
	if key != nil {
		vault = fieldcrypt.NewVault(key)
	}
	var store customerd.Store
	switch {
	case strings.HasPrefix(dbURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//")
		if store, err = sqlite.Open(ctx, path); err != nil {
			return nil, err
		}
		if vault == nil {
			if vault, err = service.DefaultKeyFiles(path).Vault(ctx, store, nil); err != nil {
				store.Close()
				return nil, err
			}
		}
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		if vault == nil {
			return nil, errors.New("PostgreSQL needs the master key: give --master-key-file or CUSTOMERD_MASTER_KEY")
		}
		if store, err = postgres.Open(ctx, dbURL, postgres.Options{}); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("--db %q: want sqlite:PATH or postgres://…", dbURL)
	}
	svc, err := service.New(ctx, service.Config{Store: store, Vault: vault})
	if err != nil {
		store.Close()
	}
	return svc, err
}

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("seed", stderr)
	db := fs.String("db", "", "database URL: sqlite:PATH or postgres://…")
	n := fs.Int("customers", 10000, "how many synthetic customers the merchant has afterwards")
	merchant := fs.String("merchant", "load", "merchant id")
	batch := fs.Int("batch", 5000, "customers per transaction")
	keyFile := fs.String("master-key-file", "", "master key, as for customerd serve (or set CUSTOMERD_MASTER_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := openService(ctx, *db, *keyFile)
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	last := start
	key, err := loadtest.Seed(ctx, store, loadtest.SeedConfig{MerchantID: *merchant, Customers: *n, BatchSize: *batch,
		Progress: func(done int) {
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				fmt.Fprintf(stderr, "seeded %d/%d customers (%s)\n", done, *n, time.Since(start).Round(time.Second))
			}
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "seeded %d customers of merchant %q in %s\n", *n, *merchant, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, key)
	return nil
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("run", stderr)
	var cfg loadtest.Config
	fs.StringVar(&cfg.Addr, "addr", "", "server address, host:port")
	fs.StringVar(&cfg.Key, "key", "", "API key")
	fs.StringVar(&cfg.MerchantID, "merchant", "load", "merchant id, sent as x-merchantid (empty: not sent)")
	fs.StringVar(&cfg.Scenario, "scenario", loadtest.ScenarioGet, "one of "+strings.Join(loadtest.Scenarios, ", "))
	fs.IntVar(&cfg.Customers, "customers", 10000, "how many synthetic customers were seeded")
	fs.IntVar(&cfg.Concurrency, "c", 64, "concurrent keep-alive connections")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured run before the measured one")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed for the choice of customers")
	pid := fs.Int("server-pid", 0, "server process whose peak RSS (VmHWM) to report")
	debug := fs.String("debug-addr", "", "the server's --debug-listen address, to report its group-commit batches")
	target := fs.String("target", loadtest.TargetCustomerd, "what is being driven: customerd or ceiling (a label for the report)")
	label := fs.String("label", "", "group label for the report, e.g. sqlite-10k")
	round := fs.Int("round", 0, "round number for the report")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Addr == "" {
		return errors.New("run: --addr is required")
	}
	cfg.ServerPID = *pid
	before, _ := writeStats(*debug)
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Target, res.Label, res.Round = *target, *label, *round
	if after, ok := writeStats(*debug); ok {
		res.Extra = map[string]any{
			"commits":       after["commits"] - before["commits"],
			"writes":        after["writes"] - before["writes"],
			"largest_batch": after["largest_batch"],
		}
	}
	if *pid > 0 {
		st, err := loadtest.ProcStatus(*pid)
		if err != nil {
			return err
		}
		res.PeakRSSKiB = st["VmHWM"]
		if res.Extra == nil {
			res.Extra = map[string]any{}
		}
		res.Extra["rss_anon_kib"], res.Extra["rss_file_kib"] = st["RssAnon"], st["RssFile"]
	}
	if *asJSON {
		return loadtest.WriteJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%s %s c=%d %.1fs: %d ok, %.0f req/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.1f ms\n",
		res.Target, res.Scenario, res.Concurrency, res.Seconds, res.Requests, res.RPS, res.P50ms, res.P90ms, res.P99ms, res.MaxMs)
	if len(res.Errors) > 0 {
		fmt.Fprintf(stdout, "errors: %v\n", res.Errors)
	}
	if res.PeakRSSKiB > 0 {
		fmt.Fprintf(stdout, "server peak RSS %.1f MiB\n", float64(res.PeakRSSKiB)/1024)
	}
	if res.ServerCPUus > 0 {
		fmt.Fprintf(stdout, "CPU per request: server %.1f µs, load generator %.1f µs\n", res.ServerCPUus, res.LoadCPUus)
	}
	if res.Extra["commits"] != nil {
		fmt.Fprintf(stdout, "group commit: %v writes in %v commits, largest batch %v\n",
			res.Extra["writes"], res.Extra["commits"], res.Extra["largest_batch"])
	}
	return nil
}

// writeStats reads the server's /debug/writes counters, if addr is set.
func writeStats(addr string) (map[string]uint64, bool) {
	if addr == "" {
		return nil, false
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/debug/writes")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var m map[string]uint64
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		return nil, false
	}
	return m, true
}

func runCeiling(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flags("ceiling", stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: loadtest.CeilingHandler(), ReadHeaderTimeout: 5 * time.Second}
	slog.New(slog.NewJSONHandler(stderr, nil)).Info("listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runPgbench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("pgbench", stderr)
	db := fs.String("db", "", "PostgreSQL URL")
	script := fs.String("script", "bench/pgbench/update.sql", "pgbench script")
	n := fs.Int("customers", 10000, "rows the script picks from")
	c := fs.Int("c", 64, "clients")
	j := fs.Int("j", 2, "pgbench threads")
	d := fs.Duration("d", 10*time.Second, "duration")
	label := fs.String("label", "", "group label for the report")
	round := fs.Int("round", 0, "round number for the report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := loadtest.Pgbench(ctx, *db, *script, *n, *c, *j, *d)
	if err != nil {
		return err
	}
	res.Label, res.Round = *label, *round
	return loadtest.WriteJSON(stdout, res)
}

func runReport(files []string, stdout io.Writer) error {
	var all []loadtest.Result
	read := func(r io.Reader) error {
		rs, err := loadtest.ReadResults(r)
		all = append(all, rs...)
		return err
	}
	if len(files) == 0 {
		if err := read(os.Stdin); err != nil {
			return err
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		err = read(fh)
		fh.Close()
		if err != nil {
			return err
		}
	}
	return loadtest.WriteTable(stdout, loadtest.Summarize(all))
}

func runIDs(args []string, stdout, stderr io.Writer) error {
	fs := flags("ids", stderr)
	n := fs.Int("customers", 10000, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w := &strings.Builder{}
	for i := range *n {
		w.WriteString(loadtest.CustomerID(i))
		w.WriteByte('\n')
		if w.Len() > 1<<16 {
			if _, err := io.WriteString(stdout, w.String()); err != nil {
				return err
			}
			w.Reset()
		}
	}
	_, err := io.WriteString(stdout, w.String())
	return err
}

func runWalk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("walk", stderr)
	var cfg loadtest.WalkConfig
	fs.StringVar(&cfg.Addr, "addr", "", "server address, host:port")
	fs.StringVar(&cfg.Key, "key", "", "API key")
	fs.StringVar(&cfg.MerchantID, "merchant", "load", "merchant id, sent as x-merchantid (empty: not sent)")
	fs.IntVar(&cfg.Count, "count", 100, "page size, 1 to 100")
	fs.BoolVar(&cfg.Ascending, "asc", false, "oldest first (newest first otherwise)")
	asJSON := fs.Bool("json", false, "print the result as one JSON line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Addr == "" {
		return errors.New("walk: --addr is required")
	}
	start, last := time.Now(), time.Now()
	cfg.Progress = func(done, total int) {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "walked %d/%d customers (%s)\n", done, total, time.Since(start).Round(time.Second))
		}
	}
	res, err := loadtest.Walk(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "walked %d customers (total %d) in %d pages of %d in %.1f s: %.0f customers/s, slowest page %.1f ms, %d seen twice\n",
		res.Customers, res.Total, res.Pages, res.Count, res.Seconds, res.PerSecond, res.MaxPageMs, res.Duplicates)
	if res.Duplicates > 0 || res.Customers != res.Total {
		return fmt.Errorf("walk: %d customers read of %d, %d twice", res.Customers, res.Total, res.Duplicates)
	}
	return nil
}
