#!/usr/bin/env bash
# What one durable update writes: serves a fresh SQLite database of
# CUSTOMERS (10000) customers, drives wrk's update script at it for
# DURATION (6s) after a 3 s warm-up, and prints the rate with the bytes and
# write system calls the server made per update (from /proc/PID/io: the
# WAL, the checkpoints into the database file, and the responses), and the
# sizes of the files after. Each build given is measured in turn, on its
# own database seeded by its own customerd-load:
#
#   bash bench/write-bytes.sh DIR...   # each DIR holds customerd and customerd-load
#
# Rates swing with the machine; bytes per update do not, and explain them
# where fsync and the disk bound the writer.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
CUSTOMERS=${CUSTOMERS:-10000}
DURATION=${DURATION:-6s}
[ $# -gt 0 ] || { echo "usage: bench/write-bytes.sh DIR... (each with customerd and customerd-load)" >&2; exit 2; }
for dir in "$@"; do
	work=$(mktemp -d "${TMPDIR:-/tmp}/customerd-bytes.XXXXXX")
	key=$("$dir/customerd-load" seed --db "sqlite:$work/w.db" --customers "$CUSTOMERS" 2>/dev/null)
	"$dir/customerd-load" ids --customers "$CUSTOMERS" >"$work/ids.txt"
	"$dir/customerd" serve --listen 127.0.0.1:0 --db "sqlite:$work/w.db" 2>"$work/log" &
	pid=$!
	addr=""
	for _ in $(seq 100); do
		addr=$(grep -o '"msg":"listening","addr":"[^"]*"' "$work/log" | sed 's/.*"addr":"//; s/"$//' || true)
		[ -n "$addr" ] && break
		sleep 0.1
	done
	auth="Basic $(printf '%s:' "$key" | base64 -w0)"
	wrk -t2 -c64 -d3s -s bench/wrk/update.lua "http://$addr" -- "$work/ids.txt" "$auth" >/dev/null
	read -r b0 c0 < <(awk '/^wchar/ {b=$2} /^syscw/ {c=$2} END {print b, c}' "/proc/$pid/io")
	out=$(wrk -t2 -c64 -d"$DURATION" -s bench/wrk/update.lua "http://$addr" -- "$work/ids.txt" "$auth")
	read -r b1 c1 < <(awk '/^wchar/ {b=$2} /^syscw/ {c=$2} END {print b, c}' "/proc/$pid/io")
	n=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	awk -v d="$dir" -v rps="$rps" -v n="$n" -v b="$((b1 - b0))" -v c="$((c1 - c0))" \
		-v wal="$(du -k "$work/w.db-wal" | cut -f1)" -v db="$(du -k "$work/w.db" | cut -f1)" \
		'BEGIN {printf "%s: %s updates/s, %.1f KB and %.1f write calls per update; WAL %d KiB, database %d KiB\n", d, rps, b / n / 1000, c / n, wal, db}'
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	rm -rf "$work"
done
