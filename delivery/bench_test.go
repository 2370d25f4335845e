package delivery_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"customerd"
	"customerd/delivery"
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
			var ids []string
			for i := range 10 {
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
					if _, err := e.svc.UpdateCustomer(ctx, e.caller, ids[i%10], customerd.UpdateRequest{
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
