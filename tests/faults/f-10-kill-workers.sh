# kill -9 of FastCGI workers at random while 2,400 enrollments run (two
# programs sharing the store: bootstrap and simpleenroll with a
# password, 24 clients).  Berkeley DB recovery runs in the next opener;
# the surviving workers reopen.  Afterwards the store must hold exactly
# what the clients were told.
KW_KILLS_MIN=6
# (2,400: the load lasts for enough kills even when enrollments are fast)
storm_bg "$T/kw-boot" -n 1400 -c 16 -o bootstrap -p kwb
kw_a=$STORM_PID
storm_bg "$T/kw-enr" -n 1000 -c 8 -o simpleenroll -p kwe
kw_b=$STORM_PID
kw_kills=0
sleep 1
while running "$kw_a" || running "$kw_b"; do
	pids=($(all_worker_pids))
	if [ "${#pids[@]}" -gt 0 ]; then
		# one or two workers at a time, at random
		n=$(( RANDOM % 2 + 1 ))
		for i in $(seq 1 "$n"); do
			victim=${pids[RANDOM % ${#pids[@]}]}
			kill -KILL "$victim" 2>/dev/null && kw_kills=$((kw_kills + 1))
		done
	fi
	sleep 0.$(( RANDOM % 5 + 3 ))
done
wait "$kw_a" "$kw_b"
FAULTS_INJECTED=$((FAULTS_INJECTED + kw_kills))
echo "# kill-workers: $kw_kills workers killed; $(cat "$T/kw-boot.err") / $(cat "$T/kw-enr.err")"
check_true "kill-workers: at least $KW_KILLS_MIN workers killed during the load ($kw_kills)" \
	test "$kw_kills" -ge "$KW_KILLS_MIN"
check "kill-workers: all 2400 requests sent" 2400 "$(cat "$T/kw-boot" "$T/kw-enr" | wc -l)"
wait_serving kill-workers
storm_verify kill-workers "$T/kw-boot" "$T/kw-enr"
# A worker serves one request at a time: a kill may break that one only,
# so the others were served meanwhile.
check_true "kill-workers: broken requests ($sv_broken) at most one per kill ($kw_kills)" \
	test "$sv_broken" -le "$kw_kills"
