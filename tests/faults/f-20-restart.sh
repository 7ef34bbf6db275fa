# The web server restarted under load: graceful (USR1: workers finish
# their requests) twice, hard (HUP: children stopped at once) twice, and
# a crash (SIGKILL to Apache and every worker, then a fresh start).  The
# same checks as for killed workers.
# (3000: long enough for every signal below even when enrollments are
# fast)
storm_bg "$T/rs" -n 3000 -c 16 -o bootstrap -p rst
rs_storm=$STORM_PID
rs_faults=0
for sig in USR1 HUP USR1 HUP; do
	sleep 1.5
	running "$rs_storm" || break
	kill -"$sig" "$(main_pid)" && rs_faults=$((rs_faults + 1))
	echo "# restart: SIG$sig to Apache"
done
sleep 1.5
if running "$rs_storm"; then
	# A crash: everything of this instance killed at once, then started.
	rs_main=$(main_pid)
	rs_all="$rs_main $(descendants "$rs_main")"
	kill -KILL $rs_all 2>/dev/null
	rs_faults=$((rs_faults + 1))
	echo "# restart: SIGKILL to Apache and its $(( $(echo $rs_all | wc -w) - 1 )) processes"
	sleep 0.5
	sh scripts/server.sh start "$EST_RUNDIR" "$EST_PORT" > /dev/null
	check "restart: starts again after a crash" 0 "$?"
fi
wait "$rs_storm"
FAULTS_INJECTED=$((FAULTS_INJECTED + rs_faults))
echo "# restart: $rs_faults restarts and crashes; $(cat "$T/rs.err")"
check_true "restart: at least 5 restarts or crashes under load ($rs_faults)" test "$rs_faults" -ge 5
wait_serving restart
storm_verify restart "$T/rs"
