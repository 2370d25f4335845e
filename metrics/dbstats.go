package metrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// DBStatsSource is a store that reports the statistics of its connection
// pools, keyed by pool name (the SQLite store has a "write" and a "read"
// pool, the PostgreSQL store one "pool"). A store whose driver does not use
// database/sql, like pgx's pool, fills in the fields of sql.DBStats that its
// pool knows.
type DBStatsSource interface {
	DBStats() map[string]sql.DBStats
}

// WatchDB exports the pool statistics of src, read at every scrape.
func (m *Metrics) WatchDB(src DBStatsSource) error {
	if m == nil || src == nil {
		return nil
	}
	return m.reg.Register(newDBCollector(src))
}

type dbCollector struct {
	src DBStatsSource

	maxOpen, open, inUse, idle                          *prometheus.Desc
	waitCount, waitSeconds                              *prometheus.Desc
	maxIdleClosed, maxIdleTimeClosed, maxLifetimeClosed *prometheus.Desc
}

func newDBCollector(src DBStatsSource) *dbCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "db", name), help, []string{"pool"}, nil)
	}
	return &dbCollector{
		src:               src,
		maxOpen:           desc("max_open_connections", "Maximum number of open connections of the pool."),
		open:              desc("open_connections", "Established connections, in use and idle."),
		inUse:             desc("in_use_connections", "Connections in use."),
		idle:              desc("idle_connections", "Idle connections."),
		waitCount:         desc("wait_count_total", "Times a caller waited for a connection."),
		waitSeconds:       desc("wait_duration_seconds_total", "Total time callers waited for a connection."),
		maxIdleClosed:     desc("max_idle_closed_total", "Connections closed because of the idle-connection limit."),
		maxIdleTimeClosed: desc("max_idle_time_closed_total", "Connections closed because they were idle too long."),
		maxLifetimeClosed: desc("max_lifetime_closed_total", "Connections closed because they reached their maximum lifetime."),
	}
}

// Describe implements prometheus.Collector.
func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waitCount, c.waitSeconds,
		c.maxIdleClosed, c.maxIdleTimeClosed, c.maxLifetimeClosed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	for pool, s := range c.src.DBStats() {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, pool)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, pool)
		}
		gauge(c.maxOpen, float64(s.MaxOpenConnections))
		gauge(c.open, float64(s.OpenConnections))
		gauge(c.inUse, float64(s.InUse))
		gauge(c.idle, float64(s.Idle))
		counter(c.waitCount, float64(s.WaitCount))
		counter(c.waitSeconds, s.WaitDuration.Seconds())
		counter(c.maxIdleClosed, float64(s.MaxIdleClosed))
		counter(c.maxIdleTimeClosed, float64(s.MaxIdleTimeClosed))
		counter(c.maxLifetimeClosed, float64(s.MaxLifetimeClosed))
	}
}
