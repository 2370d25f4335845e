package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"customerd"
	"customerd/service"
	"customerd/sqlite"
	"customerd/transfer"

	"github.com/schollz/progressbar/v3"
)

// defaultImportBatch is how many rows share one transaction: one commit
// (one fsync) per 500 rows costs next to nothing per row, while a batch
// holds the database's write lock for tens of milliseconds only, so the
// API's writes that queue behind it (in the group-committing writer of a
// server that runs the import, or on the lock of a SQLite file another
// process serves) wait that long at most; on PostgreSQL a batch of 500 is
// about a thousand statements, well within a store call's time limit. A
// batch whose rows conflict is sealed again, so a small batch wastes
// little on a rerun.
const defaultImportBatch = 500

// defaultImportYield is the share of its write time an import on SQLite
// leaves the write lock free after each batch, so that a server writing to
// the same file gets its turn: SQLite's lock is not fair, and a process
// that waits for it retries at intervals that a write following another at
// once would never leave room for.
const defaultImportYield = 0.25

// progressEvery is how often an import logs its progress when stderr is
// not a terminal.
const progressEvery = 5 * time.Second

// runImport implements "customerd import": it loads a file of customers
// into a merchant (extensions §6).
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", "import --merchant ID [--on-conflict fail|skip|update] [--format auto|csv|ndjson] [--db URL] FILE",
		getenv, stdout, stderr)
	db := fs.String("db", defaultDB, dbUsage)
	keys := addMasterKeyFlags(fs)
	merchant := fs.String("merchant", "", "the merchant the customers are imported into (required)")
	format := fs.String("format", "auto", "csv, ndjson, or auto: NDJSON when the first line starts with {")
	onConflict := fs.String("on-conflict", "fail", "a row whose id or object_reference_id is stored with other values: fail (rejected), skip, or update")
	batch := fs.Int("batch", defaultImportBatch, "rows per transaction, or per write when a bulk load puts every row in one (--bulk)")
	allowRejects := fs.Bool("allow-rejects", false, "exit 0 even when rows were rejected")
	notify := fs.Bool("notify", false, "send the webhooks of the import's events (without it, their events are logged but no webhook is sent)")
	progress := fs.String("progress", "auto", "bar, log, or auto: a bar on a terminal, a log line every 5 s otherwise")
	bulkLoad := fs.Bool("bulk", true, "SQLite: into a database without customers that no other process has open, load every row in one transaction and build the indexes after them (an interruption then commits nothing)")
	yield := fs.String("yield", fmt.Sprint(defaultImportYield), "SQLite: share of its write time the import leaves the write lock free for others; 0 when nothing else writes")
	pos, err := fs.parse(args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	file := pos[0]
	if *merchant == "" {
		return fmt.Errorf("import: --merchant is required")
	}
	f, err := transfer.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("import: --format: %w", err)
	}
	opts := service.ImportOptions{Notify: *notify}
	switch *onConflict {
	case "fail":
		opts.OnConflict = service.ConflictFail
	case "skip":
		opts.OnConflict = service.ConflictSkip
	case "update":
		opts.OnConflict = service.ConflictUpdate
	default:
		return fmt.Errorf("import: --on-conflict %q: want fail, skip or update", *onConflict)
	}
	if *batch < 1 || *batch > 10000 {
		return fmt.Errorf("import: --batch %d: want 1 to 10000", *batch)
	}
	var share float64
	if _, err := fmt.Sscan(*yield, &share); err != nil || share < 0 || share > 10 {
		return fmt.Errorf("import: --yield %q: want a number from 0 to 10", *yield)
	}
	switch *progress {
	case "auto", "bar", "log":
	default:
		return fmt.Errorf("import: --progress %q: want bar, log or auto", *progress)
	}

	in, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	var bulk *bulkStore
	var order *inFileOrder
	so := storeOptions{wrapStore: func(s customerd.Store) customerd.Store {
		lite, ok := s.(*sqlite.Store)
		if !ok {
			return s // PostgreSQL locks rows, not the database
		}
		if share > 0 {
			s = &yieldingStore{Store: s, share: share}
		}
		if *bulkLoad && !*notify {
			bulk = &bulkStore{Store: s, lite: lite}
			s = bulk
		}
		order = &inFileOrder{Store: s}
		return order
	}}
	svc, _, err := openServiceWith(ctx, *db, keys, stderr, so)
	if err != nil {
		return err
	}
	defer svc.Close()
	if _, err := svc.ListAPIKeys(ctx, *merchant); customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return fmt.Errorf("merchant %q does not exist", *merchant)
	} else if err != nil {
		return err
	}

	rejectsPath := file + ".rejects"
	caller := customerd.Caller{MerchantID: *merchant, RequestID: importRequestID()}
	// pass reads the file from its start and imports it.
	pass := func() (*importer, error) {
		if _, err := in.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if err := os.Remove(rejectsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("import: %w", err)
		}
		var rep reporter = &logReporter{w: stderr, size: st.Size(), every: progressEvery}
		if *progress == "bar" || *progress == "auto" && isTerminal(stderr) {
			rep = newBarReporter(stderr, st.Size())
		}
		if order != nil {
			order.reset()
		}
		imp := &importer{svc: svc, caller: caller, opts: opts, batch: *batch, rejects: &rejectsFile{path: rejectsPath}, report: rep,
			order: order}
		err := imp.run(ctx, transfer.NewReader(in, f))
		rep.finish(imp.stats)
		if cerr := imp.rejects.close(); cerr != nil && err == nil {
			err = cerr
		}
		return imp, err
	}
	start := time.Now()
	var imp *importer
	var runErr error
	ran, committedNothing := false, false // ran: the bulk load read the file
	if bulk != nil {
		err := bulk.lite.BulkLoad(ctx, func(ctx context.Context, write sqlite.WriteFunc) error {
			fmt.Fprintln(stderr, "customerd import: the database is empty: loading in one transaction, its indexes built at the end")
			bulk.session.Store(&write)
			defer bulk.session.Store(nil)
			var err error
			imp, err = pass()
			return err
		}, func() {
			fmt.Fprintln(stderr, "customerd import: every row is in: building the indexes, then committing")
		})
		switch {
		case errors.Is(err, sqlite.ErrBulkRepeats):
			fmt.Fprintln(stderr, "customerd import: the file repeats an id or a reference: nothing was written; importing it a batch at a time")
		case errors.Is(err, sqlite.ErrBulkShared):
			fmt.Fprintln(stderr, "customerd import: another process has the database open: importing a batch at a time")
		case errors.Is(err, sqlite.ErrBulkNotEmpty):
		default:
			ran, runErr, committedNothing = true, err, err != nil
		}
	}
	if !ran {
		imp, runErr = pass()
	}
	if imp == nil { // the file could not be read again
		return runErr
	}
	s := imp.stats
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "%s: %d rows in %s (%.0f rows/s): %d imported, %d already present, %d updated, %d skipped, %d rejected\n",
		file, s.rows, elapsed.Round(time.Millisecond), float64(s.rows)/max(elapsed.Seconds(), 1e-9), s.imported, s.present, s.updated, s.skipped, s.rejected)
	if *notify && s.imported+s.updated > 0 {
		fmt.Fprintln(stdout, "--notify: the webhooks of these events are queued; a running customerd serve delivers them")
	}
	switch {
	case committedNothing && errors.Is(runErr, context.Canceled):
		return fmt.Errorf("import interrupted before its one transaction committed: nothing was written; run the same command again")
	case committedNothing:
		return fmt.Errorf("import stopped: %w (before its one transaction committed: nothing was written; run the same command again)", runErr)
	case errors.Is(runErr, context.Canceled):
		return fmt.Errorf("import interrupted: every row counted above is committed; run the same command again to import the rest")
	case runErr != nil:
		return fmt.Errorf("import stopped: %w (the rows counted above are committed; run the same command again to resume)", runErr)
	case s.rejected > 0:
		msg := fmt.Sprintf("%d rows rejected: see %s (line, field, reason)", s.rejected, rejectsPath)
		if *allowRejects {
			fmt.Fprintln(stdout, msg)
			return nil
		}
		return errors.New(msg)
	}
	return nil
}

// inFileOrder runs the writes of an import's batches in the order of the
// batches in the file, while the batches are sealed in parallel: a SQLite
// export walks the customers in the order they were inserted, so an
// export imported into an empty database exports to the same file again.
// A write outside any batch runs at once.
type inFileOrder struct {
	customerd.Store
	mu    sync.Mutex
	next  int           // the batch whose writes may run
	moved chan struct{} // closed when next moves on
}

// batchKey is the context key of the batch a write belongs to.
type batchKey struct{}

func (o *inFileOrder) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next, o.moved = 0, make(chan struct{})
}

func (o *inFileOrder) Write(ctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error {
	if seq, ok := ctx.Value(batchKey{}).(int); ok {
		for {
			o.mu.Lock()
			next, moved := o.next, o.moved
			o.mu.Unlock()
			if next >= seq {
				break
			}
			select {
			case <-moved:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return o.Store.Write(ctx, fn)
}

// done lets the batch after seq write.
func (o *inFileOrder) done(seq int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next == seq {
		o.next = seq + 1
		close(o.moved)
		o.moved = make(chan struct{})
	}
}

// bulkStore sends the writes of the service to the transaction of a bulk
// load while one runs (see sqlite.Store.BulkLoad), and to the store
// otherwise.
type bulkStore struct {
	customerd.Store
	lite    *sqlite.Store
	session atomic.Pointer[sqlite.WriteFunc]
}

func (b *bulkStore) Write(ctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error {
	if w := b.session.Load(); w != nil {
		return (*w)(ctx, fn)
	}
	return b.Store.Write(ctx, fn)
}

// importStats counts what an import did with the rows of its file.
type importStats struct {
	rows                                          int // lines that hold a row or a rejected one
	imported, present, updated, skipped, rejected int
	bytes                                         int64 // of the file, read so far
}

// importBatch is a batch of rows on its way through the pipeline.
type importBatch struct {
	seq     int
	lines   []int // of each item
	items   []service.ImportItem
	rejects []rejectLine // of the lines that are not rows, and the rows that break the field rules
	rows    int
	bytes   int64 // of the file read once this batch was complete
	results []service.ImportResult
	err     error
}

type rejectLine struct {
	line          int
	field, reason string
}

// importer runs one import: a reader that parses and checks rows, workers
// that import batches through the service (one seals while another
// commits), and the caller's goroutine, which takes the batches back in
// file order to count them and write the rejects.
type importer struct {
	svc     *service.Service
	caller  customerd.Caller
	opts    service.ImportOptions
	batch   int
	rejects *rejectsFile
	report  reporter
	stats   importStats
	order   *inFileOrder // nil when the store's export order is not the order of insertion
}

func (im *importer) run(ctx context.Context, r *transfer.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(2, runtime.GOMAXPROCS(0))
	todo := make(chan *importBatch, workers)
	done := make(chan *importBatch, workers)
	var readErr error
	go func() {
		defer close(todo)
		readErr = im.read(ctx, r, todo)
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range todo {
				if ctx.Err() == nil {
					bctx := context.WithValue(ctx, batchKey{}, b.seq)
					b.results, b.err = im.svc.ImportCustomers(bctx, im.caller, im.opts, b.items)
				} else {
					b.err = ctx.Err()
				}
				if im.order != nil {
					im.order.done(b.seq)
				}
				done <- b
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// Batches come back in any order; they are taken in file order.
	waiting := map[int]*importBatch{}
	next := 0
	var err error
	for b := range done {
		waiting[b.seq] = b
		for b := waiting[next]; b != nil; b = waiting[next] {
			delete(waiting, next)
			next++
			if err != nil {
				continue // an earlier batch failed: the later ones are not counted
			}
			if b.err != nil {
				err = b.err
				cancel()
				continue
			}
			if werr := im.take(b); werr != nil {
				err = werr
				cancel()
			}
		}
	}
	if err == nil {
		err = readErr
	}
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	return err
}

// read parses the file into batches of checked rows.
func (im *importer) read(ctx context.Context, r *transfer.Reader, todo chan<- *importBatch) error {
	b := &importBatch{}
	send := func() bool {
		b.bytes = r.BytesRead()
		select {
		case todo <- b:
		case <-ctx.Done():
			return false
		}
		b = &importBatch{seq: b.seq + 1}
		return true
	}
	for {
		row, err := r.Next()
		var le *transfer.LineError
		switch {
		case errors.Is(err, io.EOF):
			if b.rows > 0 {
				send()
			}
			return nil
		case errors.As(err, &le):
			b.rows++
			b.rejects = append(b.rejects, rejectLine{line: le.Line, field: le.Field, reason: le.Reason})
		case err != nil:
			return err
		default:
			b.rows++
			c, err := customerd.ImportedCustomer(im.caller.MerchantID, row.Req, time.Now())
			if err != nil {
				var e *customerd.Error
				if !errors.As(err, &e) || e.Code != customerd.EINVALID {
					return err
				}
				for _, f := range e.Fields {
					b.rejects = append(b.rejects, rejectLine{line: row.Line, field: f.Field, reason: fieldReason(f)})
				}
				break
			}
			b.lines = append(b.lines, row.Line)
			b.items = append(b.items, service.ImportItem{Customer: c, KeepID: row.Req.ID.Set})
		}
		if len(b.items) >= im.batch || len(b.rejects) >= im.batch {
			if !send() {
				return ctx.Err()
			}
		}
	}
}

// fieldReason is a field error's detail without the field's name in front.
func fieldReason(f customerd.FieldError) string {
	if f.Missing {
		return "is required, and missing"
	}
	return strings.TrimPrefix(f.Detail, f.Field+": ")
}

// take counts a batch that came back and writes its rejects, in line order.
func (im *importer) take(b *importBatch) error {
	s := &im.stats
	s.rows += b.rows
	s.bytes = b.bytes
	rejected := map[int]bool{}
	for _, r := range b.rejects {
		rejected[r.line] = true
	}
	for i, res := range b.results {
		switch res.Outcome {
		case service.Imported:
			s.imported++
		case service.AlreadyPresent:
			s.present++
		case service.Updated:
			s.updated++
		case service.Skipped:
			s.skipped++
		case service.Rejected:
			var e *customerd.Error
			field, reason := "", res.Err.Error()
			if errors.As(res.Err, &e) && len(e.Fields) > 0 {
				field, reason = e.Fields[0].Field, fieldReason(e.Fields[0])
			}
			b.rejects = append(b.rejects, rejectLine{line: b.lines[i], field: field, reason: reason})
			rejected[b.lines[i]] = true
		}
	}
	s.rejected += len(rejected)
	sort.SliceStable(b.rejects, func(i, j int) bool { return b.rejects[i].line < b.rejects[j].line })
	for _, r := range b.rejects {
		if err := im.rejects.add(r); err != nil {
			return err
		}
	}
	im.report.update(*s)
	return nil
}

// rejectsFile is FILE.rejects, created with the first reject.
type rejectsFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	buf  []byte
}

func (r *rejectsFile) add(l rejectLine) error {
	if r.f == nil {
		f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		r.f, r.w = f, bufio.NewWriter(f)
		if _, err := r.w.WriteString(transfer.RejectsHeader); err != nil {
			return err
		}
	}
	r.buf = transfer.AppendReject(r.buf[:0], l.line, l.field, l.reason)
	_, err := r.w.Write(r.buf)
	return err
}

func (r *rejectsFile) close() error {
	if r.f == nil {
		return nil
	}
	err := r.w.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	return err
}

// importRequestID is the request id the events of one import record.
func importRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return "import-" + hex.EncodeToString(b[:])
}

// yieldingStore leaves the write lock of a SQLite file free after each
// write for share of the time the write took (see defaultImportYield).
type yieldingStore struct {
	customerd.Store
	share float64
	mu    sync.Mutex
	next  time.Time
}

func (y *yieldingStore) Write(ctx context.Context, fn func(ctx context.Context, tx customerd.StoreTx) error) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	if d := time.Until(y.next); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	start := time.Now()
	err := y.Store.Write(ctx, fn)
	y.next = time.Now().Add(time.Duration(float64(time.Since(start)) * y.share))
	return err
}

// reporter shows an import's progress.
type reporter interface {
	update(importStats)
	finish(importStats)
}

// barReporter is a progress bar over the file's bytes, with rows and
// rows per second beside it; the library estimates the time left.
type barReporter struct {
	bar   *progressbar.ProgressBar
	start time.Time
}

func newBarReporter(w io.Writer, size int64) *barReporter {
	return &barReporter{start: time.Now(), bar: progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("import"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (b *barReporter) update(s importStats) {
	rate := float64(s.rows) / max(time.Since(b.start).Seconds(), 1e-9)
	b.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s, %d rejected", s.rows, rate, s.rejected))
	_ = b.bar.Set64(s.bytes)
}

func (b *barReporter) finish(s importStats) {
	b.update(s)
	_ = b.bar.Finish()
}

// logReporter writes a progress line every few seconds.
type logReporter struct {
	w     io.Writer
	size  int64
	every time.Duration
	start time.Time
	last  time.Time
}

func (l *logReporter) update(s importStats) {
	now := time.Now()
	if l.start.IsZero() {
		l.start, l.last = now, now
	}
	if now.Sub(l.last) < l.every {
		return
	}
	l.last = now
	l.line(s, now)
}

func (l *logReporter) line(s importStats, now time.Time) {
	elapsed := now.Sub(l.start).Seconds()
	rate := float64(s.rows) / max(elapsed, 1e-9)
	msg := fmt.Sprintf("customerd import: %d rows (%d imported, %d already present, %d updated, %d skipped, %d rejected), %.0f rows/s",
		s.rows, s.imported, s.present, s.updated, s.skipped, s.rejected, rate)
	if l.size > 0 && s.bytes > 0 {
		done := float64(s.bytes) / float64(l.size)
		left := time.Duration(elapsed*(1-done)/done) * time.Second
		msg += fmt.Sprintf(", %.0f%% of the file, about %s left", 100*done, left.Round(time.Second))
	}
	fmt.Fprintln(l.w, msg)
}

func (l *logReporter) finish(importStats) {}
