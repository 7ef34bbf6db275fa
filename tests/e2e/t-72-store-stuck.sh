# A store open that cannot finish (issue 7: a worker deadlocked inside
# Berkeley DB's DB_ENV->open with failchk, and every later open waited
# behind it): tests/tools/store-hold keeps the lock Berkeley DB
# serialises opens with, as the stuck worker did.  A worker that must
# open the store waits for that lock in store.c, and once it has waited
# STORE_OPEN_WAIT seconds answers 503 with
# Retry-After and a log line naming the store, instead of hanging.
# Once the holder is gone the same request succeeds.  The only time
# bound is curl's generous one on "answered at all".
AUTH=(-u "$EST_USER:$EST_PASS")
ADMIN=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
DB=$EST_RUNDIR/db
ss_as=()
[ "$(id -u)" = 0 ] && ss_as=(runuser -u "$(stat -c %U "$DB")" --)
ss_log=$(wc -l < "$EST_RUNDIR/logs/error.log")
# (bounded: should a check below stop the test early, the holder still
# goes away)
"${ss_as[@]}" timeout 300 "${BUILD:-build}/tools/store-hold" "$DB" > "$T/hold.out" 2>&1 &
ss_bg=$!
for _ in $(seq 1 100); do
	grep -q held "$T/hold.out" && break
	sleep 0.1
done
check_match "stuck open: the holder has the open lock" '^held [0-9]+$' "$(cat "$T/hold.out")"
ss_holder=$(sed -n 's/^held //p' "$T/hold.out")
# bootstrap workers that must open the store
ss_old=$(worker_pids bootstrap)
restart_workers bootstrap
# (lighttpd answers 503 itself until its once-a-second maintenance has
# started the new ones)
if [ "${EST_SERVER:-apache}" = lighttpd ]; then
	for _ in $(seq 1 50); do
		ss_new=$(worker_pids bootstrap)
		[ -n "$ss_new" ] && [ "$ss_new" != "$ss_old" ] && break
		sleep 0.1
	done
fi
mkcsr stuck "/CN=stuck-$$" ec
post bootstrap "$T/stuck.b64" "${AUTH[@]}" --max-time 120
expect_error "stuck open: answered, not a hang" 503 "store"
check "stuck open: Retry-After" 5 "$(header Retry-After)"
check_true "stuck open: the worker logged the store it gave up on" sh -c \
	"tail -n +$((ss_log + 1)) '$EST_RUNDIR/logs/error.log' | grep -F '$DB: waited 25 s for other processes' | grep -F 'process $ss_holder still opening'"
if [ -n "$ss_holder" ]; then kill "$ss_holder"; else kill "$ss_bg"; fi
wait "$ss_bg" 2>/dev/null
# (a few tries: lighttpd may still be restarting a backend)
for _ in $(seq 1 20); do
	post bootstrap "$T/stuck.b64" "${AUTH[@]}" --max-time 120
	[ "$STATUS" = 200 ] && break
	sleep 0.5
done
check "stuck open: the same request succeeds once the holder is gone" 200 "$STATUS"
est "${ADMIN[@]}" "$EST_API_URL/stats" --max-time 120
check "stuck open: api answers" 200 "$STATUS"
