#!/usr/bin/env bash
# The independent check of BENCHMARKS.md: wrk (not our own load tool) drives
# `customerd serve` on SQLite and the fixed-JSON net/http ceiling in the same
# run, ROUNDS times interleaved, and prints each rate with its ratio to the
# ceiling runs on either side of its round, plus wrk's count of non-2xx
# responses.
# Knobs: ROUNDS (5), DURATION (8s), C (64), THREADS (2), CUSTOMERS (10000),
# BEFORE_BIN (an older customerd binary, served from a copy of the same
# database and driven in the same rounds, in alternating order, as
# get-before and update-before: a before/after under wrk), BEFORE_LOAD_BIN
# (that build's customerd-load: when given, the older server's database is
# seeded by it instead of copied, for builds whose schemas differ),
# CUSTOMERD_BIN and CUSTOMERD_LOAD_BIN (the build to measure, with its
# customerd-load, instead of building this tree's: to measure a commit
# against the one before it from any checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8s}
C=${C:-64}
THREADS=${THREADS:-2}
CUSTOMERS=${CUSTOMERS:-10000}

work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/customerd-wrk.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${CUSTOMERD_BIN:-}" ]; then
	cp "$CUSTOMERD_BIN" "$work/customerd"
	cp "${CUSTOMERD_LOAD_BIN:?CUSTOMERD_BIN needs CUSTOMERD_LOAD_BIN, the customerd-load of the same build}" "$work/customerd-load"
else
	go build -o "$work/customerd" ./cmd/customerd
	go build -o "$work/customerd-load" ./cmd/customerd-load
fi

start() { # NAME CMD...: sets $addr
	local name=$1
	shift
	"$@" 2>"$work/$name.log" &
	pids+=("$!")
	addr=""
	for _ in $(seq 100); do
		addr=$(grep -o '"msg":"listening","addr":"[^"]*"' "$work/$name.log" | sed 's/.*"addr":"//; s/"$//' || true)
		[ -n "$addr" ] && return 0
		sleep 0.1
	done
	cat "$work/$name.log" >&2
	return 1
}

key=$("$work/customerd-load" seed --db "sqlite:$work/wrk.db" --customers "$CUSTOMERS" 2>/dev/null)
"$work/customerd-load" ids --customers "$CUSTOMERS" >"$work/ids.txt"
auth="Basic $(printf '%s:' "$key" | base64 -w0)"
start ceiling "$work/customerd-load" ceiling --listen 127.0.0.1:0
ceiling=$addr
before_auth=$auth
if [ -n "${BEFORE_BIN:-}" ]; then
	if [ -n "${BEFORE_LOAD_BIN:-}" ]; then
		before_key=$("$BEFORE_LOAD_BIN" seed --db "sqlite:$work/before.db" --customers "$CUSTOMERS" 2>/dev/null)
		before_auth="Basic $(printf '%s:' "$before_key" | base64 -w0)"
	else
		cp "$work/wrk.db" "$work/before.db"
		cp "$work/wrk.db.key" "$work/before.db.key"
	fi
	start before "$BEFORE_BIN" serve --listen 127.0.0.1:0 --db "sqlite:$work/before.db"
	before=$addr
fi
start customerd "$work/customerd" serve --listen 127.0.0.1:0 --db "sqlite:$work/wrk.db"
server=$addr

# run NAME URL SCRIPT [AUTH]: prints "NAME RPS NON2XX" and keeps wrk's output.
run() {
	local out=$work/$1.$round.txt
	wrk -t"$THREADS" -c"$C" -d"$DURATION" --latency -s "bench/wrk/$3" "$2" -- "$work/ids.txt" "${4:-$auth}" >"$out"
	local rps non2xx
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
	echo "$1 $rps ${non2xx:-0}"
	sed 's/^/    /' "$out" >&2
}

echo "wrk: $(wrk --version 2>&1 | head -1)" >&2
# The ceiling runs before the first round and after every round: a round's
# ratios divide by the mean of the ceiling runs on either side of it, so
# that the machine's drift during the round (other tenants come and go)
# weighs on both sides of each ratio alike.
results=$work/results.txt
run_before() { # the BEFORE_BIN server's get and update, when there is one
	[ -n "${BEFORE_BIN:-}" ] || return 0
	run get-before "http://$before" get.lua "$before_auth" | tee -a "$results"
	run update-before "http://$before" update.lua "$before_auth" | tee -a "$results"
}
round=0
run ceiling "http://$ceiling" get.lua | tee -a "$results"
for round in $(seq "$ROUNDS"); do
	echo "== round $round/$ROUNDS" >&2
	# With BEFORE_BIN, the older build goes first in even rounds.
	if [ $((round % 2)) -eq 0 ]; then run_before; fi
	run get "http://$server" get.lua | tee -a "$results"
	run update "http://$server" update.lua | tee -a "$results"
	if [ $((round % 2)) -eq 1 ]; then run_before; fi
	run ceiling "http://$ceiling" get.lua | tee -a "$results"
done

echo
echo "| run | req/s (median of $ROUNDS) | ratio to ceiling (median of per-round) | non-2xx (total) |"
echo "|---|---:|---:|---:|"
awk '
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$1 == "ceiling" {
		# Close the round that this ceiling run ends: its runs divide by
		# the mean of this ceiling and the one before the round.
		if (nc > 0) for (name in pend) { n[name]++; rps[name, n[name]] = pend[name]; ratio[name, n[name]] = 2 * pend[name] / (c[nc] + $2) }
		delete pend
		c[++nc] = $2
		next
	}
	{ pend[$1] = $2; bad[$1] += $3 }
	END {
		printf "| ceiling | %.0f | 1.00 | 0 |\n", median(c, nc)
		split("get update get-before update-before", names, " ")
		for (k = 1; k <= 4; k++) {
			name = names[k]
			if (!n[name]) continue
			for (i = 1; i <= n[name]; i++) { x[i] = rps[name, i]; y[i] = ratio[name, i] }
			printf "| %s | %.0f | %.2f | %d |\n", name, median(x, n[name]), median(y, n[name]), bad[name]
		}
	}' "$results"
