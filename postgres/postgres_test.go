package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"customerd"
	"customerd/postgres"
	"customerd/postgres/pgtest"
	"customerd/storetest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func open(t *testing.T, dbURL string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dbURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every subtest gets a schema of its own, so tests never see each other's rows.
func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) customerd.Store {
		return open(t, pgtest.NewSchema(t), postgres.Options{})
	})
}

// serializable returns a fresh schema whose connections run every
// transaction at SERIALIZABLE, the only level of CockroachDB and the default
// of YugabyteDB's YSQL in its strictest mode, and checks that it took.
func serializable(t *testing.T) string {
	t.Helper()
	u := pgtest.WithParam(t, pgtest.NewSchema(t), "default_transaction_isolation", "serializable")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, `SHOW transaction_isolation`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "serializable" {
		t.Fatalf("transaction_isolation = %q, want serializable", level)
	}
	return u
}

// The same behaviour holds when the engine aborts conflicting transactions
// instead of making them wait.
func TestConformanceSerializable(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) customerd.Store {
		return open(t, serializable(t), postgres.Options{MaxConns: 8})
	})
}

func TestContendedWritesAtSerializableAllSucceed(t *testing.T) {
	s := open(t, serializable(t), postgres.Options{MaxConns: 8})
	defer s.Close()
	ctx := context.Background()
	storetest.MustMerchant(t, s, "m1")
	c := storetest.MustInsert(t, s, storetest.Row("m1", "hot"))
	const writers = 60
	start := make(chan struct{})
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Every writer updates from the version it read, again when
			// another came first, as the service does.
			for {
				cur, err := s.FindCustomer(ctx, "m1", c.ID)
				if err != nil {
					errs[i] = err
					return
				}
				errs[i] = s.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
					return tx.UpdateCustomer(ctx, customerd.SealedUpdate{MerchantID: "m1", ID: c.ID, Version: cur.Version, KeyVersion: 1,
						FirstName: customerd.SealedValue{Set: true, Sealed: fmt.Appendf(nil, "W%d", i)}, Now: storetest.T0.Add(time.Minute)},
						storetest.Event(customerd.EventCustomerUpdated, "m1", c.ID, cur.Version+1, 1))
				})
				if !errors.Is(errs[i], customerd.ErrChanged) {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if s.Retries() == 0 {
		t.Error("60 writers on one row at SERIALIZABLE caused no retry: the retry path was not exercised")
	}
	got, err := s.FindCustomer(ctx, "m1", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstName[0] != 'W' || string(got.MobileNumber) != string(c.MobileNumber) || !got.LastUpdated.Equal(storetest.T0.Add(time.Minute)) {
		t.Fatalf("after the writers: %+v", got)
	}
	t.Logf("%d retries", s.Retries())
}

// Several nodes starting at once on an empty database: every one succeeds,
// and each migration is applied by exactly one of them.
func TestConcurrentStartMigratesOnce(t *testing.T) {
	u := pgtest.NewSchema(t)
	const nodes = 6
	applied := make([][]string, nodes)
	errs := make([]error, nodes)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			applied[i], errs[i] = postgres.MigrateURL(context.Background(), u)
		}()
	}
	close(start)
	wg.Wait()
	var all []string
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	sort.Strings(all)
	if want := postgres.Migrations(); fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("applied across nodes %v, want each of %v exactly once", all, want)
	}
	s := open(t, u, postgres.Options{})
	defer s.Close()
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	u := pgtest.NewSchema(t)
	s := open(t, u, postgres.Options{})
	if applied, version := s.Migrations(); len(applied) != 2 || version != 2 {
		t.Fatalf("the first open applied %v, version %d", applied, version)
	}
	storetest.MustMerchant(t, s, "m1")
	c := storetest.MustInsert(t, s, storetest.Row("m1", "r"))
	s.Close()
	again, err := postgres.MigrateURL(context.Background(), u)
	if err != nil || len(again) != 0 {
		t.Fatalf("migrating a migrated database applied %v, %v", again, err)
	}
	s = open(t, u, postgres.Options{})
	defer s.Close()
	if applied, _ := s.Migrations(); len(applied) != 0 {
		t.Fatalf("reopening applied %v", applied)
	}
	got, err := s.FindCustomerByRef(context.Background(), "m1", c.RefIndex)
	if err != nil || got.ID != c.ID {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// With nothing listening, the store answers "unavailable" at once rather
// than hanging or reporting a fault.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = postgres.Open(context.Background(), "postgres://postgres@"+addr+"/x?sslmode=disable", postgres.Options{})
	if customerd.ErrorCode(err) != customerd.EUNAVAILABLE {
		t.Fatalf("open on a closed port: %v, want unavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestErrorClassification(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"duplicate reference is a conflict", pg("23505"), customerd.ECONFLICT},
		{"missing merchant is not found", pg("23503"), customerd.ENOTFOUND},
		{"admin shutdown is unavailable", pg("57P01"), customerd.EUNAVAILABLE},
		{"crash shutdown is unavailable", pg("57P02"), customerd.EUNAVAILABLE},
		{"starting up is unavailable", pg("57P03"), customerd.EUNAVAILABLE},
		{"connection failure class 08 is unavailable", pg("08006"), customerd.EUNAVAILABLE},
		{"too many connections is unavailable", pg("53300"), customerd.EUNAVAILABLE},
		{"the server's disk full is unavailable", pg("53100"), customerd.EUNAVAILABLE},
		{"no file descriptors left is unavailable", fmt.Errorf("open: %w", syscall.EMFILE), customerd.EUNAVAILABLE},
		{"none left in the system is unavailable", fmt.Errorf("open: %w", syscall.ENFILE), customerd.EUNAVAILABLE},
		{"no space left here is unavailable", fmt.Errorf("write: %w", syscall.ENOSPC), customerd.EUNAVAILABLE},
		{"serialization failure after the last retry is unavailable", pg("40001"), customerd.EUNAVAILABLE},
		{"deadlock after the last retry is unavailable", pg("40P01"), customerd.EUNAVAILABLE},
		{"refused dial is unavailable", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, customerd.EUNAVAILABLE},
		{"connection reset is unavailable", fmt.Errorf("read: %w", syscall.ECONNRESET), customerd.EUNAVAILABLE},
		{"unexpected EOF is unavailable", io.ErrUnexpectedEOF, customerd.EUNAVAILABLE},
		{"closed connection is unavailable", pgconn.ErrConnClosed, customerd.EUNAVAILABLE},
		{"call deadline is unavailable", context.DeadlineExceeded, customerd.EUNAVAILABLE},
		{"connect error is unavailable", &pgconn.ConnectError{}, customerd.EUNAVAILABLE},
		{"SQL error is internal", pg("42601"), customerd.EINTERNAL},
		{"unknown error is internal", errors.New("scan: bad type"), customerd.EINTERNAL},
		{"domain errors pass through", customerd.ErrNotFound, customerd.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := customerd.ErrorCode(postgres.MapError(tc.err)); got != tc.code {
				t.Fatalf("code = %q, want %q", got, tc.code)
			}
		})
	}
}

func TestRetryDecision(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code} }
	tests := []struct {
		name       string
		err        error
		idempotent bool
		want       bool
	}{
		{"serialization failure is retried", pg("40001"), false, true},
		{"deadlock is retried", pg("40P01"), false, true},
		{"unique violation is final", pg("23505"), false, false},
		{"a write is not repeated after a lost connection", io.ErrUnexpectedEOF, false, false},
		{"a read is repeated after a lost connection", io.ErrUnexpectedEOF, true, true},
		{"a refused connection is answered at once", &pgconn.ConnectError{}, true, false},
		{"the call deadline is final", context.DeadlineExceeded, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := postgres.Retryable(tc.err, tc.idempotent); got != tc.want {
				t.Fatalf("retryable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	var total time.Duration
	seen := map[time.Duration]bool{}
	for attempt := range postgres.MaxAttempts {
		d := postgres.Backoff(attempt)
		if d <= 0 || d > 200*time.Millisecond {
			t.Fatalf("backoff(%d) = %v, want within (0, 200ms]", attempt, d)
		}
		total += d
		seen[postgres.Backoff(postgres.MaxAttempts)] = true
	}
	if total > postgres.DefaultOpTimeout {
		t.Fatalf("all retries wait %v, more than a call may take (%v)", total, postgres.DefaultOpTimeout)
	}
	if len(seen) < 2 {
		t.Fatalf("backoff is not randomized: %v", seen)
	}
}

func TestDBStatsReportsThePool(t *testing.T) {
	pgtest.URL(t)
	s := open(t, pgtest.NewSchema(t), postgres.Options{MaxConns: 5})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, ok := s.DBStats()["pool"]
	if !ok || p.MaxOpenConnections != 5 || p.OpenConnections < 1 || p.InUse != 0 {
		t.Fatalf("pool stats %+v", p)
	}
}

// The default pool must leave room for the concurrent updates that share
// PostgreSQL's WAL flushes (BENCHMARKS.md: 4 connections ran updates at two
// thirds of the rate of 16), and grow with the node's CPUs.
func TestDefaultMaxConns(t *testing.T) {
	got := postgres.DefaultMaxConns()
	if got < 16 || got < 2*runtime.GOMAXPROCS(0) {
		t.Fatalf("DefaultMaxConns() = %d with GOMAXPROCS %d, want at least 16 and 2 per CPU", got, runtime.GOMAXPROCS(0))
	}
}
