#!/usr/bin/env bash
# run.sh — `make test-faults`: the fault tests (kill -9 of workers under
# load, web-server restarts and crashes under load, races, a full disk,
# hot backup and restore) against a fresh private Apache on TEST_PORT in
# TEST_RUNDIR, output in TEST_OUT.  They take a few minutes, so they are
# not part of `make test`; CI runs both.  Prints "faults: N passed,
# N failed" and the figures (faults injected, certificates checked).
set -u
cd "$(dirname "$0")/../.."
TOP=$(pwd)
TEST_PORT=${TEST_PORT:-18643}
RUNDIR=${TEST_RUNDIR:-$TOP/run-faults}
T=${TEST_OUT:-$TOP/tests/out-faults}
export SERVER=apache
stop_server() { sh scripts/server.sh stop "$RUNDIR" "$TEST_PORT"; }
stop_server 2>/dev/null
rm -rf "$RUNDIR" "$T"
mkdir -p "$T"
export T
trap 'fault_cleanup; stop_server' EXIT

if ! sh scripts/server.sh start "$RUNDIR" "$TEST_PORT"; then
	echo "faults: 0 passed, 1 failed (server did not start)"
	exit 1
fi
set -a; . "$RUNDIR/demo.env"; set +a

. tests/e2e/lib.sh
. tests/faults/lib.sh
# FAULTS=NAME runs only the tests whose file name contains NAME.
for f in tests/faults/f-*${FAULTS:-}*.sh; do
	case $f in *disk-full*)
		check "no worker died of SIGABRT, SIGBUS or SIGSEGV (error log)" 0 \
			"$(grep -Ec 'unexpected signal (6|7|11)[^0-9]|AddressSanitizer' "$RUNDIR/logs/error.log")"
	esac
	echo "# $(basename "$f")"
	. "$f"
done

if [ "$FAIL" -gt 0 ]; then
	echo "# last lines of the server's error log:"
	tail -n 30 "$RUNDIR/logs/error.log" | sed 's/^/#   /'
fi
echo "# figures: $FAULTS_INJECTED faults injected, $CERTS_CHECKED certificates" \
	"checked against the store, $REQUESTS_SENT enrollment requests sent"
echo "faults: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
