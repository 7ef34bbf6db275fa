#!/usr/bin/env bash
# valgrind.sh UNIT_BINARY... — `make valgrind`: each cmocka unit test
# under valgrind's memcheck: its tests must pass and valgrind must find
# no error and no leak (Berkeley DB's own, after a simulated crash, are
# in libdb53.supp).  Prints one line per binary and one total.
set -u
cd "$(dirname "$0")/../.."
VG=(valgrind -q --num-callers=30 --leak-check=full
    --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible
    --error-exitcode=99 --suppressions=tests/unit/libdb53.supp)
pass=0 fail=0
for t in "$@"; do
	log=$(mktemp)
	"${VG[@]}" --log-file="$log.vg" "$t" > "$log" 2>&1
	rc=$?
	errs=$(grep -c 'ERROR SUMMARY\|lost in loss record\|Invalid \|uninitialised' "$log.vg")
	if [ "$rc" -eq 0 ] && [ "$errs" -eq 0 ]; then
		pass=$((pass + 1))
		echo "ok - valgrind $(basename "$t"): $(sed -n 's/^\[  PASSED  \] //p' "$log")"
	else
		fail=$((fail + 1))
		echo "not ok - valgrind $(basename "$t") (exit $rc)"
		head -n 60 "$log.vg"
		grep -E '^\[  (FAILED|ERROR)' "$log"
	fi
	rm -f "$log" "$log.vg"
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
