// Package delivery sends webhooks. Each delivery (one event to one
// endpoint) is a job of River (github.com/riverqueue/river), a job queue
// whose tables live in the customer database itself: the job is inserted in
// the transaction of the change whose event it delivers, so a committed
// change cannot lose its webhook, and River claims each job for one node at
// a time, rescues the jobs of a node that died, and runs its maintenance on
// one elected leader. This package holds what is customerd's own: the job,
// the worker that signs and posts the event and records the attempt, the
// retry schedule and the give-up rule.
//
// The deliveries run on their own goroutines (River's workers), with their
// own database connections on PostgreSQL and their own HTTP client, so that
// a slow or dead receiver never holds up an API request.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"customerd"
	"customerd/metrics"
	"customerd/service"
	"customerd/webhook"

	"github.com/riverqueue/river"
)

// Defaults of Config.
const (
	DefaultRetryBase = 30 * time.Second
	DefaultMaxAge    = service.DefaultWebhookMaxAge
	DefaultWorkers   = 100
	// DefaultRescueAfter is how long a delivery may stay claimed by a node
	// before another takes it over (the node is taken to have died):
	// longer than any delivery runs.
	DefaultRescueAfter = time.Minute
)

// queueName is River's queue of the deliveries; jobKind the kind of their
// jobs.
const (
	queueName = "webhooks"
	jobKind   = "webhook_delivery"
	batchKind = "webhook_deliveries"
	// jobTimeout bounds one run of a job: the HTTP attempt (10 s) and the
	// database calls around it.
	jobTimeout = 30 * time.Second
	// fetchCooldown is the least time between two fetches of due jobs by
	// one node: each fetch takes up to Workers jobs, so with River's
	// default of 100 ms a node could not make more than ten fetches' worth
	// of deliveries a second, however fast the receivers answer.
	fetchCooldown = 10 * time.Millisecond
	// pausedRecheck is how often the delivery to a disabled endpoint looks
	// again whether it was enabled.
	pausedRecheck = time.Minute
)

// Config tunes a Queue. The zero value of each field is its default.
type Config struct {
	// RetryBase is the wait after a delivery's first failure, doubling
	// with each failure up to an hour (webhook.Backoff), with jitter.
	RetryBase time.Duration
	// MaxAge is how long after its event (or its resend) a delivery is
	// retried before it gives up.
	MaxAge time.Duration
	// Workers is how many deliveries one process makes at once.
	Workers int
	// RescueAfter: see DefaultRescueAfter.
	RescueAfter time.Duration
	// Sender makes the HTTP attempts; nil means webhook.NewSender with
	// SenderOptions{AllowInsecure: AllowInsecure}.
	Sender        *webhook.Sender
	AllowInsecure bool
	// PollInterval is how often a node looks for deliveries that are due
	// when nothing told it of new ones; zero means River's default (1 s),
	// or 100 ms on SQLite, which has no notifications.
	PollInterval time.Duration
	Logger       *slog.Logger // nil discards
	Metrics      *metrics.Metrics
}

func (c *Config) defaults() {
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// args is the job of one delivery. Its JSON is what River stores: ids only,
// no personal data.
type args struct {
	customerd.Delivery
}

// Kind implements river.JobArgs.
func (args) Kind() string { return jobKind }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (args) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueName} }

// batchArgs is the job of the first attempts of several deliveries: those
// of one change to several endpoints, or on SQLite those of every change of
// a group commit. One job instead of one per delivery keeps the job queue's
// cost off the API's write path; a delivery that fails is retried as a job
// of its own (args).
type batchArgs struct {
	Deliveries []customerd.Delivery `json:"deliveries"`
}

// Kind implements river.JobArgs.
func (batchArgs) Kind() string { return batchKind }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (batchArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueName} }

// maxBatch bounds the deliveries of one batch job: they are tried at once,
// and must all be over within the job's timeout.
const maxBatch = 64

// jobsFor is the jobs that deliver ds for the first time: batches of up to
// maxBatch, a single delivery as a job of its own.
func jobsFor(ds []customerd.Delivery) []river.InsertManyParams {
	var out []river.InsertManyParams
	for len(ds) > 0 {
		n := min(len(ds), maxBatch)
		if n == 1 {
			out = append(out, river.InsertManyParams{Args: args{ds[0]}})
		} else {
			out = append(out, river.InsertManyParams{Args: batchArgs{Deliveries: ds[:n:n]}})
		}
		ds = ds[n:]
	}
	return out
}

// engine is what differs between the databases: River's client over that
// database's driver, and how a store transaction becomes the driver's.
type engine interface {
	// schedule inserts the jobs of the first delivery of ds in tx.
	schedule(ctx context.Context, tx customerd.StoreTx, ds []customerd.Delivery) error
	// insert inserts the jobs in tx, as they are.
	insert(ctx context.Context, tx customerd.StoreTx, params []river.InsertManyParams) error
	// completeBatch marks the running batch job completed in tx.
	completeBatch(ctx context.Context, tx customerd.StoreTx, job *river.Job[batchArgs]) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	stopAndCancel(ctx context.Context) error
	stats(ctx context.Context) (Stats, error)
	close()
}

// Queue schedules and runs the deliveries. It implements
// service.DeliveryQueue.
type Queue struct {
	cfg        Config
	engine     engine
	sender     *webhook.Sender
	ownsSender bool
	migrated   []int // River's migrations the open applied

	targets targetCache
	slots   chan struct{} // one per try in progress: at most Config.Workers

	mu      sync.Mutex
	svc     *service.Service // set by Start
	started bool
}

// targetTTL is how long a node trusts an endpoint it read for a delivery:
// an update (a new URL, disabling it) or its deletion is seen by every
// node's deliveries within this.
const targetTTL = time.Second

// targetCache keeps the endpoints deliveries were made to, with their
// opened secrets, for targetTTL: a burst of events for one endpoint reads
// it and opens its secret once.
type targetCache struct {
	mu sync.Mutex
	m  map[[2]string]cachedTarget
}

type cachedTarget struct {
	ep      *customerd.WebhookEndpoint
	err     error // a lookup that found nothing is kept too
	expires time.Time
}

func (c *targetCache) get(ctx context.Context, svc *service.Service, merchantID, endpointID string) (*customerd.WebhookEndpoint, error) {
	k := [2]string{merchantID, endpointID}
	now := time.Now()
	c.mu.Lock()
	t, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Before(t.expires) {
		return t.ep, t.err
	}
	ep, err := svc.DeliveryTarget(ctx, merchantID, endpointID)
	if err != nil && customerd.ErrorCode(err) != customerd.ENOTFOUND {
		return nil, err // not kept: the database is having trouble
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[[2]string]cachedTarget{}
	}
	c.m[k] = cachedTarget{ep: ep, err: err, expires: now.Add(targetTTL)}
	c.mu.Unlock()
	return ep, err
}

var _ service.DeliveryQueue = (*Queue)(nil)

// Schedule implements service.DeliveryQueue: the deliveries' job is
// inserted in tx (on SQLite, with those of the other writes of its group
// commit, just before the commit).
func (q *Queue) Schedule(ctx context.Context, tx customerd.StoreTx, ds []customerd.Delivery) error {
	if err := q.engine.schedule(ctx, tx, ds); err != nil {
		return fmt.Errorf("delivery: scheduling %d webhook deliveries: %w", len(ds), err)
	}
	return nil
}

// Start makes this process deliver: River's workers start claiming due
// deliveries, which they make through svc.
func (q *Queue) Start(ctx context.Context, svc *service.Service) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("delivery: already started")
	}
	q.svc = svc
	if err := q.engine.start(ctx); err != nil {
		return fmt.Errorf("delivery: starting the job queue: %w", err)
	}
	q.started = true
	return nil
}

// Stop stops delivering: no new delivery starts, and those in flight (10 s
// at most each) finish, until ctx ends; then they are cancelled, and tried
// again from the start by the next process. It returns once every worker
// has stopped.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	started := q.started
	q.started = false
	q.mu.Unlock()
	if !started {
		return nil
	}
	err := q.engine.stop(ctx)
	if err != nil && ctx.Err() != nil {
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = q.engine.stopAndCancel(hard)
	}
	return err
}

// Close stops delivering at once if it still runs, and releases the queue's
// connections (not the store's).
func (q *Queue) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = q.Stop(ctx)
	cancel()
	q.engine.close()
	if q.ownsSender {
		q.sender.Close()
	}
}

// Migrated returns the versions of River's migrations that opening the
// queue applied: none when its tables were up to date.
func (q *Queue) Migrated() []int { return q.migrated }

// Stats is the state of the queue, for metrics.
type Stats struct {
	Pending int       // deliveries waiting: due now, or retrying later
	Oldest  time.Time // when the oldest of them was scheduled; zero when none
}

// Stats counts the pending deliveries.
func (q *Queue) Stats(ctx context.Context) (Stats, error) { return q.engine.stats(ctx) }

func newQueue(cfg Config, e engine) *Queue {
	q := &Queue{cfg: cfg, engine: e, sender: cfg.Sender, slots: make(chan struct{}, cfg.Workers)}
	if q.sender == nil {
		q.sender = webhook.NewSender(webhook.SenderOptions{AllowInsecure: cfg.AllowInsecure})
		q.ownsSender = true
	}
	return q
}

// riverConfig is the River configuration both engines share. Queues are
// set only where the process delivers (work).
func (q *Queue) riverConfig(work bool, pollInterval time.Duration) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{q: q})
	river.AddWorker(workers, &batchWorker{q: q})
	c := &river.Config{
		Workers:              workers,
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: max(q.cfg.RescueAfter, jobTimeout),
		// The attempts table is the record of deliveries: River keeps its
		// finished jobs only briefly.
		CompletedJobRetentionPeriod: time.Minute,
		CancelledJobRetentionPeriod: 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		FetchCooldown:               fetchCooldown,
		FetchPollInterval:           cmp(q.cfg.PollInterval, pollInterval),
		Logger:                      slog.New(levelAtLeast{q.cfg.Logger.Handler(), slog.LevelWarn}),
	}
	if work {
		c.Queues = map[string]river.QueueConfig{queueName: {MaxWorkers: q.cfg.Workers}}
	}
	return c
}

func cmp(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

// levelAtLeast passes on records of level min and above: River reports its
// routine work at info, and its troubles at warn and error.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}
