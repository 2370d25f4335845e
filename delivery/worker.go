package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"customerd"
	"customerd/httpapi"
	"customerd/service"
	"customerd/webhook"

	"github.com/riverqueue/river"
)

// errGaveUp and friends are why a job is cancelled: River records them on
// the job; the attempts table has the receivers' answers.
var (
	errGaveUp          = errors.New("the delivery gave up: past the max age")
	errEndpointDeleted = errors.New("the endpoint was deleted")
	errEventDeleted    = errors.New("the event is no longer kept")
)

// Outcomes of a try at a delivery, the values of the outcome label of
// customerd_webhook_deliveries_total.
const (
	OutcomeDelivered = "delivered" // the receiver answered 2xx
	OutcomeRetrying  = "retrying"  // it failed and is tried again later
	OutcomeGaveUp    = "gave_up"   // it failed past the max age
	OutcomeDropped   = "dropped"   // the endpoint or the event is gone
	OutcomePaused    = "paused"    // the endpoint is disabled: looked at again later
	// outcomeInterrupted: this process is stopping, or the database is
	// having trouble; tried again at once, not counted.
	outcomeInterrupted = "interrupted"
)

// try is the result of one try at a delivery.
type try struct {
	outcome string
	// attempt is the attempt made, to record; nil when none was made.
	attempt *customerd.WebhookAttempt
	retryIn time.Duration // for retrying and paused
	cause   error         // why it was dropped or gave up, or the database's trouble
}

// tryOnce makes one try at d: the endpoint and the event are read, the
// event signed and posted, and what happened returned, not yet recorded.
// attempt is the attempt's number, 0 to read it from the attempts made.
// deadline is when the delivery stops being retried.
func (q *Queue) tryOnce(ctx context.Context, svc *service.Service, d customerd.Delivery, attempt int, deadline time.Time) try {
	// At most Workers tries at once in the process, batches' included.
	select {
	case q.slots <- struct{}{}:
		defer func() { <-q.slots }()
	case <-ctx.Done():
		return try{outcome: outcomeInterrupted, cause: ctx.Err()}
	}
	ep, err := q.targets.get(ctx, svc, d.MerchantID, d.EndpointID)
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return try{outcome: OutcomeDropped, cause: errEndpointDeleted}
	}
	if err != nil {
		return try{outcome: outcomeInterrupted, cause: err}
	}
	if ep.Disabled {
		if time.Now().After(deadline) {
			return try{outcome: OutcomeGaveUp, cause: errors.New("its endpoint stayed disabled past the max age")}
		}
		return try{outcome: OutcomePaused, retryIn: min(pausedRecheck, q.cfg.RetryBase)}
	}
	ev, err := svc.FindEvent(ctx, d.MerchantID, d.EventID)
	if customerd.ErrorCode(err) == customerd.ENOTFOUND {
		return try{outcome: OutcomeDropped, cause: errEventDeleted}
	}
	if err != nil {
		return try{outcome: outcomeInterrupted, cause: err}
	}
	if attempt == 0 {
		last, err := svc.LastWebhookAttempt(ctx, d.MerchantID, d.EndpointID, d.EventID)
		if err != nil {
			return try{outcome: outcomeInterrupted, cause: err}
		}
		attempt = last + 1
	}
	started := time.Now()
	res := q.sender.Send(ctx, webhook.Delivery{URL: ep.URL, Secret: ep.Secret, EventID: ev.ID, Attempt: attempt,
		Body: httpapi.AppendEvent(make([]byte, 0, 1024), ev)})
	if !res.Delivered && ctx.Err() != nil {
		// This process is stopping (or the job ran out of time): not the
		// receiver's failure.
		return try{outcome: outcomeInterrupted, cause: ctx.Err()}
	}
	a := &customerd.WebhookAttempt{MerchantID: d.MerchantID, EndpointID: d.EndpointID, EventID: d.EventID, Attempt: attempt,
		Created: started.UTC(), StatusCode: res.StatusCode, Duration: res.Duration, Error: res.Err, Delivered: res.Delivered}
	q.cfg.Metrics.WebhookAttempt(res.Delivered, res.Duration)
	if res.Delivered {
		return try{outcome: OutcomeDelivered, attempt: a}
	}
	retryIn := webhook.Backoff(q.cfg.RetryBase, attempt, rand.Float64())
	if next := time.Now().Add(retryIn); next.Before(deadline) {
		a.NextRetry = next.UTC().Truncate(time.Second)
		return try{outcome: OutcomeRetrying, attempt: a, retryIn: retryIn}
	}
	return try{outcome: OutcomeGaveUp, attempt: a, cause: errGaveUp}
}

// account counts and logs what a try did; since is when its delivery was
// scheduled.
func (q *Queue) account(d customerd.Delivery, t try, since time.Time) {
	if t.outcome == outcomeInterrupted {
		return
	}
	m := q.cfg.Metrics
	m.WebhookDelivery(t.outcome)
	log := q.cfg.Logger.With("event", d.EventID, "endpoint", d.EndpointID, "merchant", d.MerchantID)
	switch t.outcome {
	case OutcomeDelivered:
		m.WebhookFinished(true, t.attempt.Attempt, time.Since(since))
	case OutcomeGaveUp:
		attrs := []any{"reason", t.cause.Error()}
		if t.attempt != nil {
			m.WebhookFinished(false, t.attempt.Attempt, 0)
			attrs = append(attrs, "attempt", t.attempt.Attempt, "status", t.attempt.StatusCode, "error", t.attempt.Error)
		}
		log.Info("webhook delivery gave up", attrs...)
	case OutcomeDropped:
		log.Info("webhook delivery dropped", "reason", t.cause.Error())
	case OutcomeRetrying:
		log.Debug("webhook attempt failed; retrying", "attempt", t.attempt.Attempt, "status", t.attempt.StatusCode,
			"error", t.attempt.Error, "retry_in", t.retryIn.Round(time.Second).String())
	}
}

// service returns the service deliveries are made through, nil until Start.
func (q *Queue) service() *service.Service {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.svc
}

// recordTimeout bounds the write of a try's outcome. It runs even when the
// job's context has ended: the receiver has seen the attempt.
const recordTimeout = 10 * time.Second

// worker makes one try at one delivery per run of its job.
type worker struct {
	river.WorkerDefaults[args]
	q *Queue
}

// Work implements river.Worker: one try, recorded; then the job is done,
// snoozed for the backoff, or cancelled.
func (w *worker) Work(ctx context.Context, job *river.Job[args]) error {
	q := w.q
	svc := q.service()
	if svc == nil {
		return river.JobSnooze(time.Second) // not started: a process that only schedules
	}
	d := job.Args.Delivery
	t := q.tryOnce(ctx, svc, d, 0, job.CreatedAt.Add(q.cfg.MaxAge))
	if t.attempt != nil {
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		if err := svc.RecordWebhookAttempts(recordCtx, []customerd.WebhookAttempt{*t.attempt}, nil); err != nil {
			q.cfg.Logger.Warn("a webhook attempt could not be recorded", "event", d.EventID, "endpoint", d.EndpointID,
				"attempt", t.attempt.Attempt, "error", err.Error())
		}
	}
	q.account(d, t, job.CreatedAt)
	switch t.outcome {
	case OutcomeDelivered:
		return nil
	case OutcomeRetrying, OutcomePaused:
		return river.JobSnooze(t.retryIn)
	case outcomeInterrupted:
		if ctx.Err() != nil {
			return river.JobSnooze(0) // the next process tries again at once
		}
		return t.cause // River retries: the database is having trouble
	default: // gave up, dropped
		return river.JobCancel(t.cause)
	}
}

// Timeout implements river.Worker.
func (w *worker) Timeout(*river.Job[args]) time.Duration { return jobTimeout }

// batchWorker makes the first tries of a batch's deliveries at once, records
// every attempt with one write, and in that write completes the batch and
// schedules a job of its own for each delivery to try again.
type batchWorker struct {
	river.WorkerDefaults[batchArgs]
	q *Queue
}

// Work implements river.Worker.
func (w *batchWorker) Work(ctx context.Context, job *river.Job[batchArgs]) error {
	q := w.q
	svc := q.service()
	if svc == nil {
		return river.JobSnooze(time.Second)
	}
	ds := job.Args.Deliveries
	deadline := job.CreatedAt.Add(q.cfg.MaxAge)
	// On its first run a batch makes every delivery's first attempt; run
	// again (after a crash or a database error), it reads their numbers.
	attempt := 1
	if job.Attempt > 1 {
		attempt = 0
	}
	tries := make([]try, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tries[i] = q.tryOnce(ctx, svc, d, attempt, deadline)
		}()
	}
	wg.Wait()
	var attempts []customerd.WebhookAttempt
	var again []river.InsertManyParams
	for i, t := range tries {
		if t.attempt != nil {
			attempts = append(attempts, *t.attempt)
		}
		switch t.outcome {
		case OutcomeRetrying, OutcomePaused, outcomeInterrupted:
			again = append(again, river.InsertManyParams{Args: args{ds[i]},
				InsertOpts: &river.InsertOpts{ScheduledAt: time.Now().Add(t.retryIn)}})
		}
	}
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	err := svc.RecordWebhookAttempts(recordCtx, attempts, func(ctx context.Context, tx customerd.StoreTx) error {
		if len(again) > 0 {
			if err := q.engine.insert(ctx, tx, again); err != nil {
				return err
			}
		}
		return q.engine.completeBatch(ctx, tx, job)
	})
	if err != nil {
		// Run again: the deliveries are tried again, duplicates for those
		// that arrived.
		q.cfg.Logger.Warn("the webhook attempts of a batch could not be recorded; it runs again", "deliveries", len(ds),
			"error", err.Error())
		return err
	}
	for i, t := range tries {
		q.account(ds[i], t, job.CreatedAt)
	}
	return nil
}

// Timeout implements river.Worker: the tries run at once, each within 10 s.
func (w *batchWorker) Timeout(*river.Job[batchArgs]) time.Duration { return jobTimeout }
