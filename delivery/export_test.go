package delivery

import (
	"context"

	"customerd"
)

// InsertJobNow inserts the job of one delivery in tx at once, as the queue
// did before it batched: for the benchmark that compares the two.
func InsertJobNow(ctx context.Context, q *Queue, tx customerd.StoreTx, d customerd.Delivery) error {
	return q.engine.insert(ctx, tx, jobsFor([]customerd.Delivery{d}))
}
