package delivery_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/delivery"
	"customerd/sqlite"
)

// benchWorkers is the Workers of the benchmark: the default.
var benchWorkers = delivery.DefaultWorkers

// BenchmarkDeliveryThroughput measures how fast queued deliveries drain to a
// local receiver that checks every signature: b.N customers are created,
// one event and one delivery each, while the queue waits; then the queue
// starts and is timed until the receiver has every event.
//
//	go test -run '^$' -bench DeliveryThroughput -benchtime 20000x ./delivery/
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			e := newEnvHeld(b, engine, delivery.Config{Workers: benchWorkers}, true)
			e.endpoint(b, "/bench")
			const batch = 500
			for i := 0; i < b.N; i += batch {
				var cs []*customerd.Customer
				for j := i; j < min(i+batch, b.N); j++ {
					c, err := customerd.NewCustomer("acme", customerd.CreateRequest{
						ObjectReferenceID: customerd.Present(fmt.Sprintf("ref-%d", j)), MobileNumber: customerd.Present("99887766")}, time.Now())
					if err != nil {
						b.Fatal(err)
					}
					cs = append(cs, c)
				}
				if err := e.svc.InsertCustomers(ctx, e.caller, cs...); err != nil {
					b.Fatal(err)
				}
			}
			ids := e.allEvents(b)
			b.ResetTimer()
			start := time.Now()
			if err := e.queue.Start(ctx, e.svc); err != nil {
				b.Fatal(err)
			}
			e.recv.waitAll(b, "/bench", ids, 10*time.Minute)
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(len(ids))/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(0, "ns/op")
			if n := e.recv.bad(); n != 0 {
				b.Fatalf("%d bad signatures", n)
			}
		})
	}
}

// BenchmarkUpdateThroughput measures the rate of concurrent customer updates
// (64 at a time, through the service) with no webhook endpoint, and with
// one enabled endpoint receiving every update's event, delivered meanwhile.
// The ratio of the two is the cost of webhooks to the API.
//
//	go test -run '^$' -bench UpdateThroughput -benchtime 20000x ./delivery/
func BenchmarkUpdateThroughput(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, mode := range []string{"no-endpoint", "endpoint-queued", "endpoint-delivering"} {
			b.Run(engine+"/"+mode, func(b *testing.B) {
				// queued: the deliveries are scheduled, as the change's
				// transaction does, but made later (by another node, say):
				// the cost to the write path alone.
				e := newEnvHeld(b, engine, delivery.Config{}, mode == "endpoint-queued")
				if mode != "no-endpoint" {
					e.endpoint(b, "/bench")
				}
				var ids []string
				for i := range 64 {
					ids = append(ids, e.create(b, fmt.Sprintf("ref-%d", i)).ID)
				}
				var next atomic.Int64
				b.SetParallelism(32) // 64 goroutines on 2 CPUs
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1)
						if _, err := e.svc.UpdateCustomer(ctx, e.caller, ids[i%64], customerd.UpdateRequest{
							FirstName: customerd.Present(fmt.Sprint("n", i))}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
			})
		}
	}
}

// BenchmarkCommitToDelivery makes 500 updates a second for b.N updates and
// reports how long after each update's answer its event reached the
// receiver: the median and the 99th percentile.
//
//	go test -run '^$' -bench CommitToDelivery -benchtime 5000x ./delivery/
func BenchmarkCommitToDelivery(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			e := newEnv(b, engine, delivery.Config{})
			e.endpoint(b, "/lat")
			var mu sync.Mutex
			arrived := map[string]time.Time{}
			e.recv.onDelivery = func(ev map[string]any) {
				obj, _ := ev["data"].(map[string]any)["object"].(map[string]any)
				name, _ := obj["first_name"].(string)
				if ev["type"] != customerd.EventCustomerUpdated {
					return // the creates' events
				}
				mu.Lock()
				if _, seen := arrived[name]; !seen {
					arrived[name] = time.Now()
				}
				mu.Unlock()
			}
			// The updates are spread over 100 customers, 5 a second each:
			// what is measured is the way to the receiver, not ten rows
			// each updated 50 times a second, whose optimistic updates on
			// PostgreSQL outrun one another once the database slows.
			const customers = 100
			var ids []string
			for i := range customers {
				ids = append(ids, e.create(b, fmt.Sprintf("ref-%d", i)).ID)
			}
			acked := make([]time.Time, b.N)
			const rate = 500
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			var wg sync.WaitGroup
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := e.svc.UpdateCustomer(ctx, e.caller, ids[i%customers], customerd.UpdateRequest{
						FirstName: customerd.Present(fmt.Sprint("n", i))}); err != nil {
						b.Error(err)
						return
					}
					acked[i] = time.Now()
				}()
			}
			wg.Wait()
			deadline := time.Now().Add(time.Minute)
			for {
				mu.Lock()
				n := len(arrived)
				mu.Unlock()
				if n >= b.N || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			var lat []time.Duration
			for i := range b.N {
				at, ok := arrived[fmt.Sprint("n", i)]
				if !ok {
					b.Fatalf("the event of update %d never arrived", i)
				}
				lat = append(lat, max(0, at.Sub(acked[i])))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkScheduleCost measures what scheduling one delivery costs a
// SQLite write, 64 writes at a time in group commits: River's job insert in
// each write (what a delivery per job costs), the batch job of a group
// commit that the queue inserts, and, for comparison, the row of a
// hand-written outbox table (id, merchant, event, endpoint, due time) that
// a queue of our own would insert instead. Each write is otherwise empty.
//
//	go test -run '^$' -bench ScheduleCost -benchtime 20000x ./delivery/
func BenchmarkScheduleCost(b *testing.B) {
	for _, way := range []string{"river-job-per-write", "river-batch-per-commit", "hand-written-outbox-row"} {
		b.Run(way, func(b *testing.B) {
			st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "c.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			q, err := delivery.OpenSQLite(ctx, st, false, delivery.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			if _, err := st.WriteDB().Exec(`CREATE TABLE bench_outbox (id INTEGER PRIMARY KEY, merchant TEXT NOT NULL,
				event TEXT NOT NULL, endpoint TEXT NOT NULL, due INTEGER NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					d := customerd.Delivery{MerchantID: "acme", EventID: fmt.Sprintf("evt_%016d", i), EndpointID: "we_0000000000000001"}
					err := st.Write(ctx, func(ctx context.Context, tx customerd.StoreTx) error {
						switch way {
						case "river-job-per-write":
							return delivery.InsertJobNow(ctx, q, tx, d)
						case "river-batch-per-commit":
							return q.Schedule(ctx, tx, []customerd.Delivery{d})
						default:
							_, err := tx.(interface{ SQLTx() *sql.Tx }).SQLTx().ExecContext(ctx,
								`INSERT INTO bench_outbox (merchant, event, endpoint, due) VALUES (?, ?, ?, ?)`,
								d.MerchantID, d.EventID, d.EndpointID, time.Now().UnixMicro())
							return err
						}
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
		})
	}
}
