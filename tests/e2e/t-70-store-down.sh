# The store unavailable: 503 with Retry-After and a one-line reason, a
# log line naming the path, and service back as soon as it is fixed,
# with no restart.  The bootstrap workers are stopped (SIGTERM: they
# close the store cleanly) so new ones must open the store again.
AUTH=(-u "$EST_USER:$EST_PASS")
DB=$EST_RUNDIR/db
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
