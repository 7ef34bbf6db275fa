#!/usr/bin/env bash
# run.sh — the end-to-end suite: a fresh private web server (SERVER, see
# scripts/server.sh; default Apache) from the shipped
# apache-conf/ files on TEST_PORT (default 18443) in TEST_RUNDIR (run-test/),
# output in TEST_OUT (tests/out/), the real
# programs, curl and openssl as clients.  Prints "e2e: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
TOP=$(pwd)
TEST_PORT=${TEST_PORT:-18443}
RUNDIR=${TEST_RUNDIR:-$TOP/run-test}
T=${TEST_OUT:-$TOP/tests/out}
rm -rf "$RUNDIR" "$T"
mkdir -p "$T"
export T

# TEST_SRP_PORT: Apache also serves the TLS-SRP example there (t-35),
# unless something already listens on it.
if [ -n "${TEST_SRP_PORT:-}" ]; then
	if (exec 3<>"/dev/tcp/127.0.0.1/$TEST_SRP_PORT") 2>/dev/null; then
		echo "# port $TEST_SRP_PORT is busy: no TLS-SRP virtual host this run"
	else
		export SRP_PORT=$TEST_SRP_PORT
	fi
fi

stop_server() { sh scripts/server.sh stop "$RUNDIR" "$TEST_PORT"; }
trap stop_server EXIT

if ! sh scripts/server.sh start "$RUNDIR" "$TEST_PORT"; then
	echo "e2e: 0 passed, 1 failed (server did not start)"
	exit 1
fi
set -a; . "$RUNDIR/demo.env"; set +a

. tests/e2e/lib.sh
for f in tests/e2e/t-*.sh; do
	echo "# $(basename "$f")"
	. "$f"
done

# Sanitizer reports (make test SANITIZE=1) from the programs, leaks
# included, which they print as they exit: stop the server first.
stop_server
sleep 1
check "no sanitizer report in the server's error log" 0 \
	"$(grep -Ec 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$RUNDIR/logs/error.log")"

if [ "$FAIL" -gt 0 ]; then
	echo "# last lines of the server's error log:"
	tail -n 30 "$RUNDIR/logs/error.log" | sed 's/^/#   /'
fi
echo "e2e: $PASS passed, $FAIL failed (${EST_SERVER:-apache})"
[ "$FAIL" -eq 0 ]
