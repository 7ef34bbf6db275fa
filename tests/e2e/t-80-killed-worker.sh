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
if [ "${EST_SERVER:-apache}" = apache-cgi ]; then
	# Plain CGI keeps no workers: start the program by hand as a FastCGI
	# worker (fd 0 a listening socket), as the store's owner; it opens the
	# store and waits for requests.  Killing it leaves the store as a
	# killed worker does, and the next CGI process must recover it.
	db=$EST_RUNDIR/db
	as=()
	[ "$(id -u)" = 0 ] && as=(runuser -u "$(stat -c %U "$db")" --)
	mkdir -p "$T/kw"
	[ "$(id -u)" = 0 ] && chown "$(stat -c %U "$db")" "$T/kw"
	EST_CONFIG=$EST_CONFIG "${as[@]}" perl -MSocket -e '
		my ($sock, $pidfile) = (shift, shift);
		socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
		bind($s, pack_sockaddr_un($sock)) or die "bind: $!";
		listen($s, 8) or die "listen: $!";
		open(STDIN, "<&", $s) or die "dup: $!";
		open(my $f, ">", $pidfile) or die "$pidfile: $!";
		print $f "$$\n";
		close($f);
		exec @ARGV or die "exec: $!";' "$T/kw/sock" "$T/kw/pid" \
		"${BUILD:-build}/cgi-bin/bootstrap" 2>/dev/null &
	pids=""
	for _ in $(seq 1 50); do
		pids=$(cat "$T/kw/pid" 2>/dev/null)
		[ -n "$pids" ] && ls -l "/proc/$pids/fd" 2>/dev/null | grep -q '__db.register' && break
		sleep 0.1
	done
	check_true "killed worker: a worker holds the store open" sh -c "ls -l /proc/$pids/fd | grep -q __db.register"
	disown
else
	pids=$(worker_pids bootstrap)
	check_true "killed worker: found bootstrap workers" test -n "$pids"
fi
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
