package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"customerd"
	"customerd/sqlite"
)

// startDebug serves the profiling endpoints (net/http/pprof) and the store's
// group-commit counters (/debug/writes) on addr, which must be a loopback
// address: profiles show internals and must never face the network. It is
// off unless --debug-listen is given. It returns a func that stops it.
func startDebug(addr string, store customerd.Store, log *slog.Logger) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--debug-listen %q: only a loopback address is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/writes", func(w http.ResponseWriter, r *http.Request) {
		st, ok := store.(interface{ WriteStats() sqlite.WriteStats })
		if !ok {
			http.NotFound(w, r)
			return
		}
		s := st.WriteStats()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]uint64{
			"commits": s.Commits, "writes": s.Writes, "largest_batch": s.LargestBatch})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("debug listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
