# A worker killed with SIGKILL (no clean close of the store): the next
# opener runs Berkeley DB recovery, the surviving workers of the other
# programs get DB_RUNRECOVERY and must reopen and retry by themselves.
# Every request afterwards succeeds, with no manual step.
AUTH=(-u "$EST_USER:$EST_PASS")
mkcsr kw0 "/CN=kw0-$$" ec
post simpleenroll "$T/kw0.b64" "${AUTH[@]}"
check "killed worker: simpleenroll worker up" 200 "$STATUS"
mkcsr kw1 "/CN=kw1-$$" ec
post bootstrap "$T/kw1.b64" "${AUTH[@]}"
check "killed worker: bootstrap worker up" 200 "$STATUS"
pids=$(worker_pids bootstrap)
check_true "killed worker: found bootstrap workers" test -n "$pids"
kill -KILL $pids
sleep 0.5
# lighttpd restarts a dead FastCGI backend from its once-a-second
# maintenance and answers 503 "all handlers down" until then (mod_fcgid
# spawns on demand): on lighttpd wait for the new workers first.
if [ "${EST_SERVER:-apache}" = lighttpd ]; then
	for _ in $(seq 1 50); do
		new=$(worker_pids bootstrap)
		[ -n "$new" ] && [ "$new" != "$pids" ] && break
		sleep 0.1
	done
fi
ok_count=0
for i in $(seq 1 10); do
	mkcsr "kwb$i" "/CN=kwb$i-$$" ec
	post bootstrap "$T/kwb$i.b64" "${AUTH[@]}"
	[ "$STATUS" = 200 ] && ok_count=$((ok_count + 1))
done
check "killed worker: 10 bootstraps after SIGKILL all succeed" 10 "$ok_count"
# The simpleenroll worker was alive through the recovery.
mkcsr kw2 "/CN=kw2-$$" ec
post simpleenroll "$T/kw2.b64" "${AUTH[@]}"
check "killed worker: surviving simpleenroll worker recovers" 200 "$STATUS"
post simpleenroll "$T/kw0.b64" "${AUTH[@]}"
expect_error "killed worker: earlier device still known" 409 "already registered"
