#!/usr/bin/env bash
# Reproduces the results table of BENCHMARKS.md: builds customerd and the
# load tool, starts a fixed-JSON ceiling server and customerd on fresh SQLite
# databases (10,000 and 1,000,000 customers), runs every scenario ROUNDS
# times interleaved with the ceiling, runs the pgbench reference when
# PostgreSQL answers, and prints medians and ratios. Everything listens on
# 127.0.0.1 with ports the kernel picks.
#
# Knobs (environment): ROUNDS (3), DURATION (10s), WARMUP (2s), C (64),
# SMALL (10000), BIG (1000000; 0 skips the scale runs), SCENARIOS (at
# SMALL) and BIG_SCENARIOS (at BIG), any of get, get-ref, update, mixed,
# create, search-email, search-mobile, list, create-keyed (a create with a
# fresh Idempotency-Key), replay (one key per connection, replayed) and
# events (a customer's history of 100 events), WALK (1: after each SQLite
# phase, read every page of GET /customers with count=100 and record the
# time in walk-LABEL.txt), PGURL (postgres://postgres@127.0.0.1:5432;
# empty skips PostgreSQL), PG_SCENARIOS (update: those driven on
# PostgreSQL, each with the default pool and with one connection per client),
# OUT (bench/out/DATE), CUSTOMERD_BIN (a customerd binary to measure instead
# of building this tree's), BEFORE_BIN (an older customerd binary: each
# SQLite scenario is then also run against it, on a copy of the same
# database, in the same rounds, as target "customerd-before").
# Takes about 12 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
C=${C:-64}
SMALL=${SMALL:-10000}
BIG=${BIG:-1000000}
SCENARIOS=${SCENARIOS:-"get get-ref update mixed create"}
BIG_SCENARIOS=${BIG_SCENARIOS:-"get update"}
PG_SCENARIOS=${PG_SCENARIOS:-update}
WALK=${WALK:-0}
PGURL=${PGURL-postgres://postgres@127.0.0.1:5432}
OUT=${OUT:-bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
results=$OUT/results.jsonl
: >"$results"

work=$(mktemp -d "${BENCH_TMP:-$OUT}/work.XXXXXX")
pids=()
pgdbs=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for d in "${pgdbs[@]}"; do psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT

log() { echo "== $*" >&2; }

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
	echo "nproc: $(nproc)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "go: $(go version)"
	echo "kernel: $(uname -r)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "settings: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP C=$C SMALL=$SMALL BIG=$BIG"
} | tee "$OUT/machine.txt" >&2

log "build"
if [ -n "${CUSTOMERD_BIN:-}" ]; then
	cp "$CUSTOMERD_BIN" "$work/customerd"
else
	go build -o "$work/customerd" ./cmd/customerd
fi
debug_flag=()
serve_help=$("$work/customerd" serve --help 2>&1 || true)
if [[ $serve_help == *--debug-listen* ]]; then
	debug_flag=(--debug-listen 127.0.0.1:0)
fi
go build -o "$work/customerd-load" ./cmd/customerd-load
load=$work/customerd-load

# start NAME CMD... starts a server in the background, waits for its
# "listening" log line and sets $addr and $pid (and $debug when it has one).
start() {
	local name=$1
	shift
	"$@" 2>"$work/$name.log" &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 100); do
		addr=$(grep -o '"msg":"listening","addr":"[^"]*"' "$work/$name.log" | sed 's/.*"addr":"//; s/"$//' || true)
		[ -n "$addr" ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; return 1; }
		sleep 0.1
	done
	[ -n "$addr" ] || { echo "$name did not start" >&2; return 1; }
	debug=$(grep -o '"msg":"debug listening","addr":"[^"]*"' "$work/$name.log" | sed 's/.*"addr":"//; s/"$//' || true)
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start ceiling "$load" ceiling --listen 127.0.0.1:0
ceiling_addr=$addr ceiling_pid=$pid

# drive LABEL ROUND TARGET SCENARIO CUSTOMERS [extra run flags]
drive() {
	local label=$1 round=$2 target=$3 scenario=$4 customers=$5
	shift 5
	"$load" run --json --c "$C" --d "$DURATION" --warmup "$WARMUP" --label "$label" --round "$round" \
		--target "$target" --scenario "$scenario" --customers "$customers" "$@" | tee -a "$results" >&2
}

# phase LABEL DBURL CUSTOMERS SCENARIOS: seed, serve, and interleave rounds
# of the ceiling and customerd.
phase() {
	local label=$1 db=$2 customers=$3 scenarios=$4
	log "$label: seed $customers customers"
	local key
	key=$("$load" seed --db "$db" --customers "$customers")
	local before_addr="" before_pid=""
	if [ -n "${BEFORE_BIN:-}" ]; then
		cp "${db#sqlite:}" "${db#sqlite:}.before"
		if [ -f "${db#sqlite:}.key" ]; then cp "${db#sqlite:}.key" "${db#sqlite:}.before.key"; fi
		start "$label-before" "$BEFORE_BIN" serve --listen 127.0.0.1:0 --db "$db.before"
		before_addr=$addr before_pid=$pid
	fi
	start "$label" "$work/customerd" serve --listen 127.0.0.1:0 "${debug_flag[@]}" --db "$db"
	local srv_addr=$addr srv_pid=$pid srv_debug=$debug
	for round in $(seq "$ROUNDS"); do
		log "$label: round $round/$ROUNDS"
		drive "$label" "$round" ceiling get "$customers" --addr "$ceiling_addr" --key x --server-pid "$ceiling_pid"
		for s in $scenarios; do
			# With a before binary, alternate which goes first so that neither
			# always runs on the warmer (or busier) half of the round.
			if [ -n "$before_pid" ] && [ $((round % 2)) -eq 0 ]; then
				drive "$label" "$round" customerd-before "$s" "$customers" --addr "$before_addr" --key "$key" --server-pid "$before_pid"
			fi
			drive "$label" "$round" customerd "$s" "$customers" --addr "$srv_addr" --key "$key" \
				--server-pid "$srv_pid" ${srv_debug:+--debug-addr "$srv_debug"}
			if [ -n "$before_pid" ] && [ $((round % 2)) -eq 1 ]; then
				drive "$label" "$round" customerd-before "$s" "$customers" --addr "$before_addr" --key "$key" --server-pid "$before_pid"
			fi
		done
	done
	if [ "$WALK" != 0 ]; then
		log "$label: walk every page of GET /customers?count=100"
		"$load" walk --addr "$srv_addr" --key "$key" --count 100 | tee "$OUT/walk-$label.txt" >&2
	fi
	stop "$srv_pid"
	if [ -n "$before_pid" ]; then stop "$before_pid"; fi
}

phase "sqlite-$SMALL" "sqlite:$work/small.db" "$SMALL" "$SCENARIOS"
if [ "$BIG" -gt 0 ]; then
	phase "sqlite-$BIG" "sqlite:$work/big.db" "$BIG" "$BIG_SCENARIOS"
	rm -f "$work"/big.db*
fi

if [ -n "$PGURL" ] && psql "$PGURL/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; then
	pgdb=cdload_pgbench_$$ cddb=cdload_customerd_$$
	pgdbs=("$pgdb" "$cddb")
	log "postgres: pgbench reference on database $pgdb"
	psql "$PGURL/postgres" -qc "CREATE DATABASE $pgdb"
	psql -q "$PGURL/$pgdb" -v customers="$SMALL" -f bench/pgbench/schema.sql
	for round in $(seq "$ROUNDS"); do
		"$load" pgbench --db "$PGURL/$pgdb" --script bench/pgbench/update.sql --customers "$SMALL" \
			--c "$C" --d "$DURATION" --label "postgres-$SMALL" --round "$round" | tee -a "$results" >&2
		drive "postgres-$SMALL" "$round" ceiling get "$SMALL" --addr "$ceiling_addr" --key x
	done
	# customerd on PostgreSQL, in its own database, once this build has the store.
	psql "$PGURL/postgres" -qc "CREATE DATABASE $cddb"
	# customerd encrypts customer data; on PostgreSQL the master key is given.
	"$work/customerd" master-key generate --out "$work/master.key" >/dev/null 2>&1 || true
	mk=()
	if [ -f "$work/master.key" ]; then mk=(--master-key-file "$work/master.key"); fi
	if key=$("$load" seed --db "$PGURL/$cddb" --customers "$SMALL" "${mk[@]}" 2>"$work/pgprobe.log"); then
		log "postgres: customerd"
		# With its default pool (16 connections here), and with one
		# connection per client as pgbench has.
		start postgres "$work/customerd" serve --listen 127.0.0.1:0 --db "$PGURL/$cddb" "${mk[@]}"
		pg_default=$addr pg_default_pid=$pid
		start postgres-pool "$work/customerd" serve --listen 127.0.0.1:0 --db "$PGURL/$cddb" --db-max-conns "$C" "${mk[@]}"
		pg_pool=$addr pg_pool_pid=$pid
		for round in $(seq "$ROUNDS"); do
			for s in $PG_SCENARIOS; do
				drive "postgres-$SMALL" "$round" customerd "$s" "$SMALL" --addr "$pg_default" --key "$key" --server-pid "$pg_default_pid"
				drive "postgres-$SMALL" "$round" "customerd-pool$C" "$s" "$SMALL" --addr "$pg_pool" --key "$key" --server-pid "$pg_pool_pid"
			done
		done
		stop "$pg_default_pid"
		stop "$pg_pool_pid"
	else
		log "postgres: customerd could not be seeded: $(cat "$work/pgprobe.log")"
	fi
fi

stop "$ceiling_pid"
"$load" report "$results" | tee "$OUT/table.md"
echo "results: $OUT" >&2
