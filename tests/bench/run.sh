#!/usr/bin/env bash
# run.sh — `make bench`: the standard benchmark against fresh private
# instances (scripts/server.sh start), printed as a table and written to
# $BUILD/bench/results-DATE.txt.  Numbers only: nothing here asserts a
# time.  Every enrollment row is measured right after its ceiling row in
# the same instance, and the ratio of the two is printed.
#
#   1. For each CA/TLS key type (BENCH_KEYS: ec = ECDSA P-256, rsa =
#      RSA-2048) and web server variant (BENCH_SERVERS: apache-proxy =
#      mod_proxy_fcgi + worker pools, apache = mod_fcgid): the ceiling
#      (GET cacerts, the trivial FastCGI answer) and enrollments
#      (simpleenroll, HTTP Basic, P-256 CSRs), each with a new TLS
#      connection per request and kept alive, C clients.  Plus client-
#      certificate renewals (simplereenroll) on the first combination.
#   2. Flat with size: enrollments with 1,000 and with BENCH_DEVICES
#      (default 1,000,000) devices in the store (the registry's loader,
#      tests/load/fill.c, as `make fill`), BENCH_FLAT_ROUNDS (3) rounds
#      of ceiling and enrollment rows at each size, compared by their
#      medians, also as shares of the ceiling; store size per device.
#   3. Worker memory of the one simpleenroll worker after 1,000, 10,000
#      and 20,000 requests, from /proc/PID/smaps: RSS, split into shared
#      and private pages and by mapping (libraries, the store's Berkeley
#      DB regions, the heap and other private memory); a short valgrind
#      leak check of it.
#
# Knobs (environment): BENCH_PORT, BENCH_C (16), BENCH_N (new-connection
# requests per row, 1500), BENCH_NK (keep-alive requests per row, 4000),
# BENCH_KEYS, BENCH_SERVERS, BENCH_DEVICES (0 skips part 2),
# BENCH_RSS (0 skips part 3).  Traffic goes to 127.0.0.1 only.
set -u
cd "$(dirname "$0")/../.."
TOP=$(pwd)
BUILD=${BUILD:-build}
PORT=${BENCH_PORT:-28443}
C=${BENCH_C:-16}
N=${BENCH_N:-1500}
NK=${BENCH_NK:-4000}
KEYS=${BENCH_KEYS:-ec rsa}
SERVERS=${BENCH_SERVERS:-apache-proxy apache}
DEVICES=${BENCH_DEVICES:-1000000}
FLAT_ROUNDS=${BENCH_FLAT_ROUNDS:-3}
RSS=${BENCH_RSS:-1}
LOAD=$TOP/$BUILD/bench/estload
FILL=$TOP/$BUILD/load/fill
BASE=$TOP/$BUILD/bench
OUT=$BASE/results-$(date +%Y%m%d-%H%M%S).txt
RUNDIR=$BASE/run
export BUILD
mkdir -p "$BASE"
: > "$OUT"

say() { printf '%s\n' "$*" | tee -a "$OUT"; }

# As root the store belongs to www-data: tools that open it run as that.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=www-data --regid=www-data --init-groups -- "$@"
	else
		"$@"
	fi
}

# start SERVER KEY [FCGI_WORKERS] — a fresh instance in $RUNDIR.
start() {
	stop
	rm -rf "$RUNDIR"
	if ! SERVER=$1 CA_KEY=$2 FCGI_WORKERS=${3:-4} \
	    sh scripts/server.sh start "$RUNDIR" "$PORT" >/dev/null; then
		say "# $1/$2: server did not start"
		return 1
	fi
	set -a; . "$RUNDIR/demo.env"; set +a
	AUTH="$EST_USER:$EST_PASS"
}
stop() { [ -d "$RUNDIR" ] && sh scripts/server.sh stop "$RUNDIR" "$PORT"; }
trap stop EXIT

# row LABEL ARGS... — one estload row (quiet), to screen and file.
row() {
	local label=$1; shift
	"$LOAD" -q -c "$C" -T 120 -l "$label" "$@" "$EST_URL" 2>&1 | tee -a "$OUT"
}

# worker_mem PID — one line from /proc/PID/smaps (kB): RSS = shared +
# private pages, and RSS by mapping: the program and its libraries, the store's
# Berkeley DB regions (__db.*: MAP_SHARED files every worker maps; their
# pages count as private while no other process has touched them), the
# heap, and other anonymous memory (stacks, OpenSSL's and our mallocs
# outside the heap).
worker_mem() {
	awk '
		/^[0-9a-f]+-[0-9a-f]+ / {
			n = NF >= 6 ? $6 : ""
			k = n ~ /\/__db\.[0-9]+$/ ? "db" : n ~ /^\// ? "lib" : n == "[heap]" ? "heap" : "anon"
			next
		}
		/^Rss:/ { rss += $2; by[k] += $2 }
		/^Pss:/ { pss += $2 }
		/^Shared_(Clean|Dirty):/ { sh += $2 }
		/^Private_(Clean|Dirty):/ { pr += $2 }
		END {
			printf "RSS %d kB = shared %d + private %d (PSS %d); " \
			    "program and libraries %d, store regions %d, heap %d, other %d\n",
			    rss, sh, pr, pss, by["lib"], by["db"], by["heap"], by["anon"]
		}' "/proc/$1/smaps" 2>/dev/null
}

# rate LABEL — the req/s column of the last row with that label.
rate() { awk -v l="$1" '$1 == l { r = $7 } END { print r + 0 }' "$OUT"; }

# ratio A B — A's rate as a percentage of B's.
ratio() {
	awk -v a="$(rate "$1")" -v b="$(rate "$2")" -v la="$1" -v lb="$2" \
	    'BEGIN { printf "# ratio %s / %s = %.0f %%\n", la, lb, (b > 0 ? 100 * a / b : 0) }' |
	    tee -a "$OUT"
}

# sized SIZE — FLAT_ROUNDS rounds of the ceiling and enrollment rows,
# new connection and keep-alive, labelled ...-SIZE-ROUND: interleaved,
# so the machine's own drift (other tenants; ±20 % between rows here)
# falls on both, and the medians are compared (flat).
sized() {
	local r
	for r in $(seq 1 "$FLAT_ROUNDS"); do
		row "ceil-new-$1-$r" -o cacerts -n "$N"
		row "enroll-new-$1-$r" -u "$AUTH" -n "$N"
		row "ceil-keep-$1-$r" -o cacerts -k -n "$NK"
		row "enroll-keep-$1-$r" -u "$AUTH" -k -n "$NK"
	done
}

# median PREFIX — the median req/s of the rows labelled PREFIX-<round>.
median() {
	awk -v p="$1" 'index($1, p "-") == 1 && substr($1, length(p) + 2) ~ /^[0-9]+$/ { print $7 }' "$OUT" |
	    sort -n | awk '{ v[NR] = $1 } END { print NR ? (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) : 0 }'
}

# flat ROW CEIL — ROW's median rate with the big store against 1k, and
# the same as a share of the ceiling's median in the same rounds.
flat() {
	awk -v eb="$(median "$1-big")" -v e1="$(median "$1-1k")" \
	    -v cb="$(median "$2-big")" -v c1="$(median "$2-1k")" -v l="$1" 'BEGIN {
		size = e1 > 0 ? 100 * eb / e1 : 0
		sb = cb > 0 ? 100 * eb / cb : 0
		s1 = c1 > 0 ? 100 * e1 / c1 : 0
		norm = s1 > 0 ? 100 * sb / s1 : 0
		printf "# flat %s: median %.1f/s with the big store, %.1f/s with 1k: %.0f %%; ", l, eb, e1, size
		printf "of the ceiling: %.1f %% and %.1f %%: %.0f %%\n", sb, s1, norm
	}' | tee -a "$OUT"
}

# warm — untimed: lets mod_fcgid spawn its processes (a burst of 2C)
# and fills every cache, so the rows measure the steady state.
warm() {
	"$LOAD" -q -c $((2 * C)) -n 400 -o cacerts -T 60 "$EST_URL" >/dev/null 2>&1
	"$LOAD" -q -c $((2 * C)) -n 200 -u "$AUTH" -T 60 "$EST_URL" >/dev/null 2>&1
}

say "# estcgi make bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "# C=$C; new-connection rows $N requests, keep-alive rows $NK; enrollments are"
say "# simpleenroll with HTTP Basic (the demo's 128-bit device secret as SHA-256-crypt,"
say "# 1000 rounds, checked by Apache per request; the *-bcrypt rows: bcrypt cost 5)"
say "# and P-256 CSRs; the ceiling is GET cacerts over the same connections."
printf '%-22s %-4s %-3s %4s %7s %7s %9s %7s %7s %7s %8s  %s\n' label conn tls c sent ok \
    req/s p50ms p90ms p99ms maxms statuses | tee -a "$OUT"

first=1
for key in $KEYS; do
	for server in $SERVERS; do
		say "# ---- $server, CA and TLS keys: $key"
		start "$server" "$key" || continue
		warm
		s="$server-$key"
		row "ceil-new-$s" -o cacerts -n "$N"
		row "enroll-new-$s" -u "$AUTH" -n "$N"
		ratio "enroll-new-$s" "ceil-new-$s"
		row "ceil-keep-$s" -o cacerts -k -n "$NK"
		row "enroll-keep-$s" -u "$AUTH" -k -n "$NK"
		ratio "enroll-keep-$s" "ceil-keep-$s"
		if [ $first = 1 ]; then
			# The same user's secret hashed with bcrypt instead.
			htpasswd -bB -C 5 "$RUNDIR/users.htpasswd" "$EST_USER" \
			    "$EST_PASS" 2>/dev/null
			row "enroll-new-bcrypt-$s" -u "$AUTH" -n "$N"
			ratio "enroll-new-bcrypt-$s" "ceil-new-$s"
			row "enroll-keep-bcrypt-$s" -u "$AUTH" -k -n "$NK"
			ratio "enroll-keep-bcrypt-$s" "ceil-keep-$s"
			htpasswd -b2 -r 1000 "$RUNDIR/users.htpasswd" "$EST_USER" \
			    "$EST_PASS" 2>/dev/null
			# Client-certificate renewals (devices bootstrapped first,
			# untimed), each on its own connection with its own cert.
			row "ceil-new2-$s" -o cacerts -n "$N"
			row "reenroll-new-$s" -R -o simplereenroll -u "$AUTH" -n "$N"
			ratio "reenroll-new-$s" "ceil-new2-$s"
			first=0
		fi
	done
done

if [ "$DEVICES" -gt 0 ]; then
	server=${SERVERS%% *}
	say "# ---- flat with size: $server, ec; 1,000 then $DEVICES devices in the store"
	if start "$server" ec; then
		as_owner "$FILL" "$RUNDIR/db" 1000 0 | tee -a "$OUT"
		warm
		sized 1k
		as_owner "$FILL" "$RUNDIR/db" $((DEVICES - 1000)) 1000 | tee -a "$OUT"
		# The loader leaves about 1.3 GB for the kernel to write back:
		# written first, so its I/O does not slow the rows below.
		t0=$(date +%s)
		sync
		say "# (sync after the fill: $(( $(date +%s) - t0 )) s)"
		warm
		sized big
		for m in new keep; do
			flat "enroll-$m" "ceil-$m"
		done
		say "# store: $(du -sh "$RUNDIR/db" | cut -f1) for $(( DEVICES + 2 * N + NK + 400 )) devices or so"
	fi
fi

if [ "$RSS" != 0 ]; then
	server=${SERVERS%% *}
	say "# ---- worker memory: $server, ec, one simpleenroll worker"
	if start "$server" ec 1; then
		wpid() { ps -eo pid=,ppid=,args= | awk -v s="$(cat "$RUNDIR/proxy/simpleenroll.pid" 2>/dev/null)" \
		    '$2 == s && $3 ~ /simpleenroll$/ { print $1 }' | head -n 1; }
		row rss-1k -u "$AUTH" -k -n 1000 >/dev/null
		say "# worker $(wpid) after 1,000 enrollments: $(worker_mem "$(wpid)")"
		row rss-10k -u "$AUTH" -k -n 9000 >/dev/null
		say "# worker $(wpid) after 10,000 enrollments: $(worker_mem "$(wpid)")"
		row rss-20k -u "$AUTH" -k -n 10000 >/dev/null
		say "# worker $(wpid) after 20,000 enrollments: $(worker_mem "$(wpid)")"
		# valgrind: the same program as a single FastCGI process on the
		# same socket (spawn-fcgi), 200 enrollments, then SIGTERM.
		if command -v valgrind >/dev/null; then
			sup=$RUNDIR/proxy/simpleenroll.pid
			kill -TERM "$(cat "$sup")"
			sleep 1
			vg=$RUNDIR/valgrind.txt
			own="" as=""
			if [ "$(id -u)" = 0 ]; then
				own="-U www-data -G www-data"
				as="setpriv --reuid=www-data --regid=www-data --init-groups --"
				touch "$vg"; chown www-data "$vg"
			fi
			EST_CONFIG=$EST_CONFIG spawn-fcgi -s "$RUNDIR/proxy/simpleenroll.sock" \
			    -M 0600 $own -P "$sup" -- /bin/sh -c 'exec 2>>"$0"; exec "$@"' \
			    "$RUNDIR/logs/error.log" $as valgrind --leak-check=full \
			    --suppressions="$TOP/tests/unit/libdb53.supp" \
			    --log-file="$vg" "$TOP/$BUILD/cgi-bin/simpleenroll" >/dev/null
			sleep 2
			row valgrind -u "$AUTH" -k -c 2 -n 200 >/dev/null
			kill -TERM "$(cat "$sup")"
			for _ in $(seq 1 100); do kill -0 "$(cat "$sup")" 2>/dev/null || break; sleep 0.1; done
			say "# valgrind (200 enrollments, one worker): $(grep -E 'definitely lost|indirectly lost|ERROR SUMMARY' "$vg" | sed 's/^==[0-9]*== *//' | tr '\n' ';')"
		fi
	fi
fi
stop
trap - EXIT
say "# results: $OUT"
