#!/usr/bin/env bash
# valgrind.sh UNIT_BINARY... REPLAY:CORPUS_DIR... — `make valgrind`:
# each cmocka unit test, and each fuzz target's replay program on every
# file of its seed corpus, under valgrind's memcheck: tests must pass and
# valgrind must find no error and no leak (Berkeley DB's own, after a
# simulated crash, are in libdb53.supp).  Prints one line per binary and
# one total.
set -u
cd "$(dirname "$0")/../.."
VG=(valgrind -q --num-callers=30 --leak-check=full
    --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible
    --error-exitcode=99 --suppressions=tests/unit/libdb53.supp
    --suppressions=tests/fuzz/valgrind.supp)
pass=0 fail=0
for arg in "$@"; do
	t=${arg%%:*}
	args=()
	[ "$t" != "$arg" ] && args=("${arg#*:}"/*)
	log=$(mktemp)
	"${VG[@]}" --log-file="$log.vg" "$t" "${args[@]}" > "$log" 2>&1
	rc=$?
	errs=$(grep -c 'ERROR SUMMARY\|lost in loss record\|Invalid \|uninitialised' "$log.vg")
	if [ "$rc" -eq 0 ] && [ "$errs" -eq 0 ]; then
		pass=$((pass + 1))
		if [ "${#args[@]}" -gt 0 ]; then
			echo "ok - valgrind $(basename "$t"): ${#args[@]} inputs"
		else
			echo "ok - valgrind $(basename "$t"): $(sed -n 's/^\[  PASSED  \] //p' "$log")"
		fi
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
