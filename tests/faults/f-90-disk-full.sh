# A full disk: the store moved onto a tmpfs, the tmpfs filled to the
# last block, then load.  Write requests must get 503 with Retry-After
# and a one-line reason, the error log must name the store's path, no
# worker may die (SIGBUS) or hang; once space is freed the same workers
# serve again by themselves (nothing restarted), every certificate
# answered before, during and after is in the store, and the databases
# verify (db5.3_verify).  Needs root (mount -t tmpfs); skipped, saying
# so, otherwise.  Runs last: the other tests check the error log for
# crashes first.
DF=$EST_RUNDIR/db
DF_OWNER=$(stat -c %U "$DF")
DF_SIZE=128m   # the tmpfs: regions (~16 MB), a log file, the databases
df_run() { if [ "$(id -u)" = 0 ]; then runuser -u "$DF_OWNER" -- "$@"; else "$@"; fi; }
# df_signals — worker deaths by SIGABRT, SIGBUS or SIGSEGV in the error log.
df_signals() { grep -Ec 'unexpected signal (6|7|11)[^0-9]|AddressSanitizer' "$EST_RUNDIR/logs/error.log"; }
mkdir -p "$T/tmpfs-probe"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=1m tmpfs "$T/tmpfs-probe" 2>/dev/null; then
	echo "# skip disk-full: needs root and mount -t tmpfs (not available here)"
else
	umount "$T/tmpfs-probe"
	sh scripts/server.sh stop "$EST_RUNDIR" "$EST_PORT"
	rm -rf "$EST_RUNDIR/db.disk"
	mv "$DF" "$EST_RUNDIR/db.disk"
	mkdir "$DF"
	mount -t tmpfs -o size=$DF_SIZE,mode=0700 tmpfs "$DF"
	FAULT_MOUNTS+=("$DF")
	# Not the region files (__db.*): the environment is made anew on the
	# tmpfs, as on a fresh disk.
	for f in "$EST_RUNDIR/db.disk"/*; do
		case ${f##*/} in __db.*) ;; *) cp -a "$f" "$DF/" ;; esac
	done
	chown "$DF_OWNER" "$DF"
	sh scripts/server.sh start "$EST_RUNDIR" "$EST_PORT" > /dev/null
	df_sig0=$(df_signals)
	df_log0=$(wc -l < "$EST_RUNDIR/logs/error.log")
	storm_bg "$T/df-before" -n 200 -c 8 -p dfa
	wait "$STORM_PID"
	df_workers=$(all_worker_pids)
	# Fill the file system to the last block.
	dd if=/dev/zero of="$DF/filler" bs=64k 2> /dev/null
	dd if=/dev/zero of="$DF/filler2" bs=512 2> /dev/null
	check "disk-full: the store's file system is full" 0 \
		"$(df --output=avail "$DF" | tail -n 1 | tr -d ' ')"
	FAULTS_INJECTED=$((FAULTS_INJECTED + 1))
	storm_bg "$T/df-full" -n 300 -c 8 -T 30 -p dff
	wait "$STORM_PID"
	echo "# disk-full: while full: $(cat "$T/df-full.err")"
	check "disk-full: every enrollment while full answered 503" 0 \
		"$(awk '$2 != 503' "$T/df-full" | wc -l)"
	mkcsr dfx "/CN=dfx-$$" ec
	post bootstrap "$T/dfx.b64" -u "$EST_USER:$EST_PASS" -m 45
	expect_error "disk-full: a bootstrap while full" 503 "store disk full"
	check "disk-full: Retry-After" 5 "$(header Retry-After)"
	check_true "disk-full: the error log names the store's path" \
		grep -q "store: $DF: disk full" "$EST_RUNDIR/logs/error.log"
	# Reads need no space: the CA certificates still come.
	est "$EST_URL/cacerts"
	check "disk-full: cacerts still answered" 200 "$STATUS"
	check "disk-full: no worker died (error log)" "$df_sig0" "$(df_signals)"
	rm -f "$DF/filler" "$DF/filler2"
	post bootstrap "$T/dfx.b64" -u "$EST_USER:$EST_PASS" -m 45
	check "disk-full: once space is freed the refused device bootstraps" 200 "$STATUS"
	# The disk fills up during load: each answer is a certificate or 503.
	storm_bg "$T/df-filling" -n 600 -c 8 -T 30 -p dfg
	sleep 1
	dd if=/dev/zero of="$DF/filler" bs=64k 2> /dev/null
	dd if=/dev/zero of="$DF/filler2" bs=512 2> /dev/null
	FAULTS_INJECTED=$((FAULTS_INJECTED + 1))
	wait "$STORM_PID"
	echo "# disk-full: filling up during load: $(cat "$T/df-filling.err")"
	check "disk-full: filling up during load, every answer 200 or 503" 0 \
		"$(awk '$2 != 200 && $2 != 503' "$T/df-filling" | wc -l)"
	check_true "disk-full: filling up during load, some answered 503" \
		grep -q ' 503 ' "$T/df-filling"
	check "disk-full: no worker died (error log), filling up" "$df_sig0" "$(df_signals)"
	rm -f "$DF/filler" "$DF/filler2"
	storm_bg "$T/df-after" -n 200 -c 8 -p dfb
	wait "$STORM_PID"
	check "disk-full: every enrollment after space came back succeeded" 0 \
		"$(awk '$2 != 200' "$T/df-after" | wc -l)"
	check "disk-full: every worker of before still runs (none restarted)" "" \
		"$(for p in $df_workers; do running "$p" || echo "$p"; done)"
	check "disk-full: no worker died (error log), after" "$df_sig0" "$(df_signals)"
	check "disk-full: Berkeley DB never panicked nor needed recovery (error log)" 0 \
		"$(tail -n +$((df_log0 + 1)) "$EST_RUNDIR/logs/error.log" |
			grep -Eci 'panic|run recovery|reopening the environment')"
	storm_verify disk-full "$T/df-before" "$T/df-full" "$T/df-filling" "$T/df-after"
	# The store verifies, then goes back to the disk.
	df_procs=$(descendants "$(main_pid)")
	sh scripts/server.sh stop "$EST_RUNDIR" "$EST_PORT"
	for i in $(seq 1 40); do
		df_left=$(for p in $df_procs; do running "$p" && echo "$p"; done)
		[ -z "$df_left" ] && break
		sleep 0.25
	done
	check "disk-full: no worker outlived the server" "" "$df_left"
	[ -n "$df_left" ] && kill -KILL $df_left 2>/dev/null
	n=0
	for f in $(ls "$DF"); do
		# Berkeley DB btree files only (magic 0x053162 at offset 12)
		[ "$(od -An -tx1 -j12 -N4 "$DF/$f" | tr -d ' ')" = 62310500 ] || continue
		df_run db5.3_verify -h "$DF" "$f" > "$T/verify-$f.txt" 2>&1 ||
			{ n=$((n + 1)); cat "$T/verify-$f.txt"; }
	done
	check "disk-full: every database file verifies (db5.3_verify)" 0 "$n"
	rm -rf "$EST_RUNDIR/db.disk"
	mkdir "$EST_RUNDIR/db.disk"
	cp -a "$DF/." "$EST_RUNDIR/db.disk/"
	for i in $(seq 1 40); do umount "$DF" 2>/dev/null && break; sleep 0.5; done
	check_true "disk-full: the tmpfs unmounts" sh -c "! mountpoint -q '$DF'"
	rmdir "$DF" && mv "$EST_RUNDIR/db.disk" "$DF"
	sh scripts/server.sh start "$EST_RUNDIR" "$EST_PORT" > "$T/df-start.log" 2>&1
	check "disk-full: the server starts again with the store back on disk" 0 "$?"
	wait_serving disk-full-back-on-disk
fi
