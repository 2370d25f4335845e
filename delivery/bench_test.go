package delivery_test

import (
	"fmt"
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
