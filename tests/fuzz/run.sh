#!/usr/bin/env bash
# run.sh TARGET... — `make fuzz`: runs each libFuzzer target for
# FUZZ_SECONDS (default 60) at low priority on a copy of its seed corpus
# (tests/fuzz/corpus/TARGET/), then prints executions, coverage, corpus
# size and crashes per target.  A crash leaves its input as
# FUZZ_BUILD/crash-TARGET-* and makes the run fail; add it to the seed
# corpus once fixed.
set -u
cd "$(dirname "$0")/../.."
B=${FUZZ_BUILD:?}
SECS=${FUZZ_SECONDS:-60}
fail=0
# Leaks inside libraries we cannot fix (see lsan.supp) are not findings.
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
printf '%-6s %10s %8s %8s %8s %s\n' target execs exec/s cov corpus crashes > "$B/fuzz-summary.txt"
for t in "$@"; do
	work="$B/corpus/$t"
	mkdir -p "$work"
	cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
	rm -f "$B/crash-$t-"* "$B/timeout-$t-"* "$B/oom-$t-"*
	echo "# fuzz-$t: $SECS s"
	nice -n 19 "$B/fuzz-$t" -max_total_time="$SECS" -close_fd_mask=3 \
		-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-max_len=20000 -artifact_prefix="$B/" "$work" > "$B/fuzz-$t.log" 2>&1
	rc=$?
	# libFuzzer names artifacts KIND-<sha1>: name the target in them
	for a in "$B"/*; do
		n=$(basename "$a")
		printf '%s\n' "$n" | grep -Eq '^(crash|timeout|oom|leak)-[0-9a-f]{40}$' ||
			continue
		mv "$a" "$B/${n%%-*}-$t-${n#*-}"
	done
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/fuzz-$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$B/fuzz-$t.log")
	cov=$(grep -o 'cov: [0-9]*' "$B/fuzz-$t.log" | tail -n 1 | sed 's/cov: //')
	ncorp=$(ls "$work" | wc -l)
	crashes=$(ls "$B" | grep -c -- "^\(crash\|timeout\|oom\|leak\)-$t-")
	printf '%-6s %10s %8s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "$ncorp" "$crashes" >> "$B/fuzz-summary.txt"
	if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
		echo "# fuzz-$t: FAILED (exit $rc); see $B/fuzz-$t.log"
		grep -A 30 '==ERROR\|^SUMMARY\|deadly signal\|runtime error' "$B/fuzz-$t.log" | head -n 40
		fail=1
	fi
done
cat "$B/fuzz-summary.txt"
exit $fail
