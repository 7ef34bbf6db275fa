#!/usr/bin/env bash
# run.sh UNIT_BINARY... — `make test`: runs the cmocka unit tests, then
# the end-to-end suite against each web server in TEST_SERVERS (default
# apache), and prints one total.
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E '^\[  (PASSED|FAILED|  OK|ERROR)' | sed "s|^|$(basename "$t"): |"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p')
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p')
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
	if [ $rc -ne 0 ] && [ -z "$f" ]; then
		printf '%s\n' "$out" | tail -n 20
		echo "$(basename "$t"): exited $rc"; fail=$((fail + 1))
	fi
done
echo "unit: $pass passed, $fail failed"
# The end-to-end suite once per web server variant (TEST_SERVERS, see
# scripts/server.sh); each in its own run and output folder.
rundir=${TEST_RUNDIR:-$PWD/run-test} out=${TEST_OUT:-$PWD/tests/out}
summary=""
for server in ${TEST_SERVERS:-apache}; do
	sfx=""
	[ "$server" = apache ] || sfx="-$server"
	echo "# e2e against $server"
	e2e_out=$(mktemp)
	SERVER=$server TEST_RUNDIR=$rundir$sfx TEST_OUT=$out$sfx \
		bash tests/e2e/run.sh | tee "$e2e_out"
	e2e_rc=${PIPESTATUS[0]}
	ep=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$e2e_out" | tail -n 1)
	ef=$(sed -n 's/^e2e: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$e2e_out" | tail -n 1)
	rm -f "$e2e_out"
	[ -n "$ep" ] || { ep=0; ef=1; echo "e2e: suite did not finish"; }
	[ "$e2e_rc" -eq 0 ] || [ "${ef:-0}" -gt 0 ] || ef=1
	summary="$summary# e2e $server: $ep passed, $ef failed
"
	pass=$((pass + ep)); fail=$((fail + ef))
done
# make install into a DESTDIR and a scratch PREFIX, estcgi-init, and an
# Apache serving from the installed tree (after the suites: same port).
echo "# install"
inst_out=$(mktemp)
TEST_OUT=$out bash tests/install/run.sh | tee "$inst_out"
inst_rc=${PIPESTATUS[0]}
ip=$(sed -n 's/^install: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$inst_out" | tail -n 1)
if_=$(sed -n 's/^install: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$inst_out" | tail -n 1)
rm -f "$inst_out"
[ -n "$ip" ] || { ip=0; if_=1; echo "install: test did not finish"; }
[ "$inst_rc" -eq 0 ] || [ "${if_:-0}" -gt 0 ] || if_=1
summary="$summary# install: $ip passed, $if_ failed
"
pass=$((pass + ip)); fail=$((fail + if_))
printf '%s' "$summary"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
