#!/usr/bin/env bash
# store-loop.sh — runs t-70-store-down.sh then t-80-killed-worker.sh N
# times against one private instance (issue 7: a store open deadlocked
# once in such a sequence), each loop in a new shell (new device
# names).  Not part of make test; for chasing rare store hangs:
#
#   BUILD=build SERVER=apache-proxy PORT=29400 RUNDIR=$PWD/run-loop \
#       bash tests/tools/store-loop.sh 30
#
# Requests are bounded (curl -m 40).  A loop with timed-out requests
# counts as hung: the stuck workers' stacks (gdb, if installed) and the
# error log are saved in OUT (default tests/out-loop), the instance is
# restarted, and the loop goes on.  Prints one line per loop and a total.
set -u
cd "$(dirname "$0")/../.."
N=${1:-20}
export BUILD=${BUILD:-build} SERVER=${SERVER:-apache-proxy}
PORT=${PORT:-29400} RUNDIR=${RUNDIR:-$PWD/run-loop}
export OUT=${OUT:-$PWD/tests/out-loop}
# sl_start — a fresh instance (any worker left stuck by the last one,
# which SIGTERM cannot stop, is killed by pid first).
sl_start() {
	local p
	sh scripts/server.sh stop "$RUNDIR" "$PORT" >/dev/null 2>&1
	for p in $(ps -eo pid=,args= | awk -v b="$PWD/$BUILD/cgi-bin/" 'index($2, b) == 1 { print $1 }'); do
		kill -9 "$p"
	done
	rm -rf "$RUNDIR"
	sh scripts/server.sh start "$RUNDIR" "$PORT" > /dev/null || exit 1
}
rm -rf "$OUT"; mkdir -p "$OUT"
sl_start
hung=0 bad=0
for loop in $(seq 1 "$N"); do
	bash -c '
	set -a; . "$0/demo.env"; set +a
	export EST_SERVER=$SERVER T=$OUT/$1; mkdir -p "$T"
	. tests/e2e/lib.sh
	est() {
		STATUS=$(curl -s -m 40 --cacert "$EST_TLS_CA" -o "$T/body" -D "$T/headers" \
			-w "%{http_code}" "$@") || STATUS="curl-failed:$?"
	}
	. tests/e2e/t-70-store-down.sh
	. tests/e2e/t-80-killed-worker.sh
	echo "checks: $PASS passed, $FAIL failed"' "$RUNDIR" "$loop" > "$OUT/l$loop.log" 2>&1
	nf=$(grep -c '^not ok' "$OUT/l$loop.log")
	stuck=$(grep -c "curl-failed:28" "$OUT/l$loop.log")
	[ "$nf" -gt 0 ] && bad=$((bad + 1))
	echo "loop $loop: $(tail -n 1 "$OUT/l$loop.log"), $stuck timed out"
	[ "$nf" -gt 0 ] && grep '^not ok' "$OUT/l$loop.log" | head -5
	if [ "$stuck" -gt 0 ]; then
		hung=$((hung + 1))
		for p in $(ps -eo pid=,wchan:30=,args= | awk -v b="$PWD/$BUILD/cgi-bin/" 'index($3, b) == 1 && $2 ~ /futex|fcntl/ { print $1 }'); do
			echo "== $p $(cat "/proc/$p/wchan")"
			command -v gdb > /dev/null &&
				timeout 30 gdb "/proc/$p/exe" "$p" -batch -ex bt 2>/dev/null | grep '^#'
		done > "$OUT/l$loop.stacks"
		cp "$RUNDIR/logs/error.log" "$OUT/l$loop.error.log"
		sl_start
	fi
done
cp "$RUNDIR/logs/error.log" "$OUT/error.log"
sh scripts/server.sh stop "$RUNDIR" "$PORT"
echo "loops: $N, with failures: $bad, hung: $hung;" \
	"open watchdog fired $(cat "$OUT"/*error.log | grep -c ': opening the environment ')" \
	"times, BDB2023 EINVAL panics $(cat "$OUT"/*error.log | grep -c 'BDB2023')"
