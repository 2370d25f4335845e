package postgres

import "database/sql"

// DBStats reports the connection pool as "pool", in the terms of
// database/sql that the metrics package exports for every store. A wait is
// an acquire that found no idle connection.
func (s *Store) DBStats() map[string]sql.DBStats {
	st := s.pool.Stat()
	return map[string]sql.DBStats{"pool": {
		MaxOpenConnections: int(st.MaxConns()),
		OpenConnections:    int(st.TotalConns()),
		InUse:              int(st.AcquiredConns()),
		Idle:               int(st.IdleConns()),
		WaitCount:          st.EmptyAcquireCount(),
		WaitDuration:       st.EmptyAcquireWaitTime(),
		MaxIdleTimeClosed:  st.MaxIdleDestroyCount(),
		MaxLifetimeClosed:  st.MaxLifetimeDestroyCount(),
	}}
}
