# The store unavailable: 503 with Retry-After and a one-line reason, a
# log line naming the path, and service back as soon as it is fixed,
# with no restart.  The bootstrap workers are stopped (SIGTERM: they
# close the store cleanly) so new ones must open the store again.  A
# worker closing in the unreadable store may panic the environment: the
# workers of the other programs, which kept the store open throughout,
# answer their next request all the same (a recovery racing another
# once failed such a request with 503).
AUTH=(-u "$EST_USER:$EST_PASS")
ADMIN=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
DB=$EST_RUNDIR/db
# sd_others LABEL — one request needing the store from each of the
# api, dashboard, metrics and simpleenroll programs.
sd_others() {
	est "${ADMIN[@]}" "$EST_API_URL/stats"
	check "$1: api answers" 200 "$STATUS"
	est "${ADMIN[@]}" "$EST_DASHBOARD_URL"
	check "$1: dashboard answers" 200 "$STATUS"
	est "${ADMIN[@]}" "$EST_METRICS_URL"
	check "$1: metrics answers" 200 "$STATUS"
	mkcsr "sd-$2" "/CN=sd-$2-$$" ec
	post simpleenroll "$T/sd-$2.b64" "${AUTH[@]}"
	check "$1: simpleenroll answers" 200 "$STATUS"
}
sd_others "store down, before" before
mode=$(stat -c %a "$DB")
chmod 000 "$DB"
restart_workers bootstrap
mkcsr down "/CN=down-$$" ec
post bootstrap "$T/down.b64" "${AUTH[@]}"
expect_error "store unavailable" 503 "store"
check "store unavailable: Retry-After" 5 "$(header Retry-After)"
check_true "store unavailable: the log names the path" grep -q "$DB" "$EST_RUNDIR/logs/error.log"
chmod "$mode" "$DB"
post bootstrap "$T/down.b64" "${AUTH[@]}"
check "store back: the same request succeeds" 200 "$STATUS"
sd_others "store back" after
# A panicked environment (what a fatal error in any worker leaves;
# tests/tools/store-panic): each program's worker gets DB_RUNRECOVERY on
# its next request, reopens the store with recovery and answers that
# same request, without 503 and without a restart.
sd_as=()
[ "$(id -u)" = 0 ] && sd_as=(runuser -u "$(stat -c %U "$DB")" --)
sd_log=$(wc -l < "$EST_RUNDIR/logs/error.log")
check_true "panic: the environment is marked panicked" \
	"${sd_as[@]}" "${BUILD:-build}/tools/store-panic" "$DB"
sd_others "after a panic" panic
mkcsr sd-panic-boot "/CN=sd-panic-boot-$$" ec
post bootstrap "$T/sd-panic-boot.b64" "${AUTH[@]}"
check "after a panic: bootstrap answers" 200 "$STATUS"
if [ "${EST_SERVER:-apache}" != apache-cgi ]; then
	# (plain CGI keeps no worker: each request opens the store afresh)
	check_match "after a panic: the workers reopened the store" '^[1-9]' \
		"$(tail -n +"$((sd_log + 1))" "$EST_RUNDIR/logs/error.log" |
			grep -c 'reopening the environment for recovery')"
fi
