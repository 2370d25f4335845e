package postgres

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"customerd"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATEs the store acts on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeDuplicateTable      = "42P07"
	codeDuplicateObject     = "42710"
	codeUndefinedTable      = "42P01"
	codeSerialization       = "40001" // serialization_failure: retry the transaction
	codeDeadlock            = "40P01" // deadlock_detected: retry the transaction
	codeAdminShutdown       = "57P01"
	codeCrashShutdown       = "57P02"
	codeCannotConnectNow    = "57P03"
)

// Retry policy for serialization failures and deadlocks: attempts are
// bounded, and the wait before each retry grows from retryBase up to
// retryCap, randomized so that the writers that collided do not collide
// again in step.
const (
	maxAttempts = 12
	retryBase   = 2 * time.Millisecond
	retryCap    = 200 * time.Millisecond
)

// backoff returns the wait before retry number attempt (0-based): half of
// the exponential step fixed, the other half random ("equal jitter").
func backoff(attempt int) time.Duration {
	d := retryBase << min(attempt, 16)
	if d > retryCap || d <= 0 {
		d = retryCap
	}
	half := d / 2
	return half + rand.N(half+1)
}

// retryable reports whether running the same transaction again may succeed:
// a serialization failure or deadlock (the engine rolled the transaction
// back), or a failure that happened before anything was sent to the server.
// A read may also be retried after a broken connection, since repeating it
// changes nothing; a write may not, since it may have committed.
func retryable(err error, idempotent bool) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return false // the server refused or is absent: answer at once
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == codeSerialization || pe.Code == codeDeadlock || (idempotent && connectionLost(err))
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	return idempotent && connectionLost(err)
}

// connectionLost reports whether err means the connection to the database
// failed or the database cannot take connections now, as opposed to the
// database having answered with an error about the statement.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources (too many connections, disk full)
			pe.Code == codeAdminShutdown, pe.Code == codeCrashShutdown, pe.Code == codeCannotConnectNow:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err),
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// mapError turns a driver error into the domain's: unique violations are
// ErrConflict, a missing merchant is ErrNotFound, and anything that means the
// database cannot be reached in time is customerd.Unavailable, which the HTTP
// layer answers with 503 and Retry-After. A serialization failure that
// outlived every retry is reported as unavailable too: the client may retry.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var de *customerd.Error
	if errors.As(err, &de) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return customerd.ErrConflict
		case codeForeignKeyViolation:
			return customerd.ErrNotFound
		case codeSerialization, codeDeadlock:
			return customerd.Unavailable(err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || connectionLost(err) {
		return customerd.Unavailable(err)
	}
	return err
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryTx runs fn until it succeeds, fails for a reason a retry cannot fix,
// or has been tried maxAttempts times. fn must be a whole transaction (or a
// single statement, which is one).
func retryTx(ctx context.Context, fn func() error) error {
	_, err := retry(ctx, false, fn)
	return err
}

// retry is retryTx for reads (idempotent) and writes; it also returns how
// many retries it made.
func retry(ctx context.Context, idempotent bool, fn func() error) (retries int, err error) {
	for attempt := 0; ; attempt++ {
		err = fn()
		if err == nil || attempt+1 >= maxAttempts || !retryable(err, idempotent) {
			return attempt, err
		}
		wait := backoff(attempt)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return attempt, err // no time left to try again
		}
		if serr := sleep(ctx, wait); serr != nil {
			return attempt, err
		}
	}
}
