package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webhookMetrics are the metrics of webhook deliveries.
type webhookMetrics struct {
	runs     *prometheus.CounterVec
	attempts *prometheus.HistogramVec
	perDeliv *prometheus.HistogramVec
	latency  prometheus.Histogram
}

func newWebhookMetrics() webhookMetrics {
	return webhookMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "deliveries_total",
			Help: "Runs of webhook delivery jobs, by outcome: delivered, retrying, gave_up, dropped (endpoint or event gone), paused (endpoint disabled).",
		}, []string{"outcome"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "attempt_duration_seconds",
			Help:    "Duration of webhook HTTP attempts, by result (delivered or failed).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		perDeliv: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "attempts_per_delivery",
			Help:    "Attempts a delivery took, counted when it is delivered or gives up, by result.",
			Buckets: []float64{1, 2, 3, 5, 8, 13, 21, 34},
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "webhook", Name: "delivery_latency_seconds",
			Help:    "Time from scheduling a delivery (its event's commit) to its receiver's 2xx.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}),
	}
}

func (w *webhookMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{w.runs, w.attempts, w.perDeliv, w.latency}
}

func (m *Metrics) webhooks() *webhookMetrics { return &m.webhook }

// WebhookDelivery counts one run of a delivery job by its outcome, a fixed
// word chosen by the caller (see package delivery).
func (m *Metrics) WebhookDelivery(outcome string) {
	if m == nil {
		return
	}
	m.webhooks().runs.WithLabelValues(outcome).Inc()
}

// WebhookAttempt records one HTTP attempt and how long it took.
func (m *Metrics) WebhookAttempt(delivered bool, d time.Duration) {
	if m == nil {
		return
	}
	m.webhooks().attempts.WithLabelValues(result(delivered)).Observe(d.Seconds())
}

// WebhookFinished records a delivery that is over: delivered after attempts
// attempts, sinceScheduled after its event's commit, or given up.
func (m *Metrics) WebhookFinished(delivered bool, attempts int, sinceScheduled time.Duration) {
	if m == nil {
		return
	}
	w := m.webhooks()
	w.perDeliv.WithLabelValues(result(delivered)).Observe(float64(attempts))
	if delivered {
		w.latency.Observe(sinceScheduled.Seconds())
	}
}

func result(delivered bool) string {
	if delivered {
		return "delivered"
	}
	return "failed"
}

// DeliveryQueueStats reports the pending webhook deliveries: how many, and
// when the oldest was scheduled (zero when none).
type DeliveryQueueStats func(ctx context.Context) (pending int, oldest time.Time, err error)

// WatchDeliveryQueue exports the depth of the delivery queue and the age of
// its oldest pending delivery, read at every scrape (with a 2 s bound).
func (m *Metrics) WatchDeliveryQueue(src DeliveryQueueStats) error {
	if m == nil || src == nil {
		return nil
	}
	return m.reg.Register(&queueCollector{src: src,
		depth: prometheus.NewDesc(prometheus.BuildFQName(namespace, "webhook", "queue_pending"),
			"Webhook deliveries waiting: due now, retrying later, or in flight.", nil, nil),
		oldest: prometheus.NewDesc(prometheus.BuildFQName(namespace, "webhook", "queue_oldest_pending_seconds"),
			"Age of the oldest pending webhook delivery; 0 when none is pending.", nil, nil)})
}

type queueCollector struct {
	src           DeliveryQueueStats
	depth, oldest *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.oldest }

// Collect implements prometheus.Collector. When the database does not
// answer, the gauges are left out of the scrape rather than reported wrong.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.src(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}
