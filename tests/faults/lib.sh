# lib.sh — helpers of the fault tests (sourced after tests/e2e/lib.sh).

STORM=${BUILD:-build}/tools/enroll-storm
FAULTS_INJECTED=0   # workers killed, restarts, crashes, disk-full episodes
CERTS_CHECKED=0     # answered certificates found identical in the store
REQUESTS_SENT=0
FAULT_MOUNTS=()     # tmpfs mounts to undo at exit

# fault_cleanup — undoes what a test left (called at exit).
fault_cleanup() {
	local m
	jobs -p | xargs -r kill 2>/dev/null
	for m in "${FAULT_MOUNTS[@]}"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	return 0
}

# storm_bg OUT ARGS... — enroll-storm ARGS in the background against
# this instance; results in OUT, its summary in OUT.err; sets STORM_PID.
storm_bg() {
	local out=$1
	shift
	"$STORM" "$@" -u "$EST_USER:$EST_PASS" "$EST_URL" > "$out" 2> "$out.err" &
	STORM_PID=$!
}

# running PID — whether process PID still runs.
running() { kill -0 "$1" 2>/dev/null; }

# main_pid — the web server's main process.
main_pid() { cat "$EST_RUNDIR/server.pid"; }

# descendants PID — every process below PID.
descendants() {
	ps -eo pid=,ppid= | awk -v top="$1" '
		{ parent[$1] = $2 }
		END { for (p in parent) for (q = parent[p]; q > 1; q = parent[q])
			if (q == top) { print p; break } }'
}

# all_worker_pids — every FastCGI worker of this instance.
all_worker_pids() {
	local p
	for p in bootstrap simpleenroll simplereenroll cacerts; do
		worker_pids "$p"
	done
}

# wait_serving NAME [TRIES] — after a fault: bootstraps a new device
# until one succeeds (at most TRIES, default 40, 0.25 s apart, each
# given 20 s) and checks that one did; prints how long it took
# (information, not asserted).
wait_serving() {
	local i start id
	start=$(date +%s.%N)
	for i in $(seq 1 "${2:-40}"); do
		id="back-$1-$i-$$"
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout /dev/null -subj "/CN=$id" -outform DER 2>/dev/null |
			base64 > "$T/back.b64"
		post bootstrap "$T/back.b64" -u "$EST_USER:$EST_PASS" -m 20
		[ "$STATUS" = 200 ] && break
		sleep 0.25
	done
	check "$1: serving again without manual recovery" 200 "$STATUS"
	echo "# $1: first success after $i tries," \
		"$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
}

# storm_verify NAME RESULTS... — compares what the clients of the storms
# received with the store: every 200 certificate is stored with the same
# serial and DER and is its device's current one, no serial twice, no
# device for a refused request, nothing half-written.  Broken requests
# (no answer or 5xx) may have committed before the answer was lost
# (counted and shown, as the issue asks what they left).  Sets the
# sv_* figures it prints.
storm_verify() {
	local name=$1 sum
	shift
	store_snapshot > "$T/$name.dump" ||
		{ not_ok "$name: store readable"; return; }
	cat "$@" > "$T/$name.results"
	sum=$(awk '
		FNR == NR && $1 == "device" { dev[$2] = $4; ndev++; next }
		FNR == NR && $1 == "cert" {
			if ($2 in cert) dupstore++
			cert[$2] = $3 " " $6; next }
		FNR == NR { next }
		{
			sent++
			if ($2 == 200) {
				ok++
				if (seen[$3]++) dupans++
				if (cert[$3] == $1 " " $4 && dev[$1] == $3) matched++
				else { mismatch++; print "# mismatch: " $0 > "/dev/stderr" }
			} else if ($2 >= 400 && $2 < 500) {
				refused++
				if ($1 in dev) refleft[$1] = 1
			} else if ($2 == -1) {
				unreached++
			} else {
				broken++
				if ($1 in dev) unanswered[$1] = 1
			}
			if ($2 == 200) answered[$1] = 1
		}
		END {
			for (d in refleft) if (!(d in answered)) left++
			for (d in unanswered) if (!(d in answered)) lost++
			for (d in dev) if (dev[d] != "-" && !(dev[d] in cert)) half++
			printf "sv_sent=%d sv_ok=%d sv_matched=%d sv_mismatch=%d sv_dupans=%d sv_dupstore=%d " \
				"sv_refused=%d sv_refused_left=%d sv_unreached=%d sv_broken=%d sv_lost_answer=%d sv_half=%d sv_devices=%d\n",
				sent, ok, matched + 0, mismatch + 0, dupans + 0, dupstore + 0,
				refused + 0, left + 0, unreached + 0, broken + 0, lost + 0, half + 0, ndev
		}' "$T/$name.dump" "$T/$name.results")
	echo "# $name: ${sum//sv_/}"
	eval "$sum"
	check "$name: every certificate answered (200) is in the store, same serial and DER" "$sv_ok" "$sv_matched"
	check "$name: no serial answered twice" 0 "$sv_dupans"
	check "$name: no serial stored twice" 0 "$sv_dupstore"
	check "$name: refused requests left no device" 0 "$sv_refused_left"
	check "$name: nothing half-written (every device's current certificate stored)" 0 "$sv_half"
	check_true "$name: some requests succeeded" test "$sv_ok" -gt 0
	CERTS_CHECKED=$((CERTS_CHECKED + sv_matched))
	REQUESTS_SENT=$((REQUESTS_SENT + sv_sent))
}
