# Hot backup and restore (README, "Backup and restore"): db5.3_hotbackup
# of the live store, once under load and once idle; the idle copy,
# started as a second instance with the same CA, holds exactly the same
# devices and certificates and serves them (a known device's certificate
# enrolls, its ID is taken); the copy made under load is consistent.
BK_DB=$EST_RUNDIR/db
BK_OWNER=$(stat -c %U "$BK_DB")
bk_run() { if [ "$(id -u)" = 0 ]; then runuser -u "$BK_OWNER" -- "$@"; else "$@"; fi; }
BK_PORT=$((EST_PORT + 1))
BK_R=$T/restored
mkdir -p "$T/backups"
chown "$BK_OWNER" "$T/backups"
# A device whose key we keep, to use its certificate on the copy.
mkcsr bk "/CN=bk-$$" ec
post bootstrap "$T/bk.b64" -u "$EST_USER:$EST_PASS"
check "backup: device bootstraps" 200 "$STATUS"
p7_to_pem "$T/bk.pem"
# Under load.
storm_bg "$T/bk-load" -n 400 -c 8 -p bkl
sleep 1
bk_run db5.3_hotbackup -h "$BK_DB" -b "$T/backups/live" > "$T/bk-live.log" 2>&1
check "backup: db5.3_hotbackup under load succeeds" 0 "$?"
wait "$STORM_PID"
# Idle.
bk_run db5.3_hotbackup -h "$BK_DB" -b "$T/backups/idle" > "$T/bk-idle.log" 2>&1
check "backup: db5.3_hotbackup of the idle store succeeds" 0 "$?"
store_snapshot > "$T/bk-source.dump"
# The copy made under load: a consistent snapshot, no more than the
# source holds now.
EST_RUNDIR_SAVE=$EST_RUNDIR
bk_dump() { bk_run "${BUILD:-build}/tools/store-dump" "$1"; }
bk_dump "$T/backups/live" > "$T/bk-live.dump"
check "backup: the copy made under load opens" 0 "$?"
check "backup: the copy made under load holds no device the source lacks" 0 \
	"$(comm -23 <(grep '^device' "$T/bk-live.dump" | sort) <(grep '^device' "$T/bk-source.dump" | sort) | wc -l)"
check "backup: every device in the copy made under load has its certificate" 0 \
	"$(awk '$1 == "device" { d[$4] = 1 } $1 == "cert" { c[$2] = 1 }
		END { for (s in d) if (s != "-" && !(s in c)) n++; print n + 0 }' "$T/bk-live.dump")"
echo "# backup: copy under load holds $(grep -c '^device' "$T/bk-live.dump") devices," \
	"the source $(grep -c '^device' "$T/bk-source.dump")"
# Restore the idle copy as a second instance: the run folder without its
# store, and the backup as the store.
rm -rf "$BK_R"
mkdir -p "$BK_R"
for f in "$EST_RUNDIR"/*; do
	case ${f##*/} in
	db|logs|apache|fcgid|server|server.pid|demo.env) ;;
	*) cp -a "$f" "$BK_R/" ;;
	esac
done
mkdir -p "$BK_R/logs" "$BK_R/apache" "$BK_R/fcgid"
cp -a "$T/backups/idle" "$BK_R/db"
sh scripts/server.sh start "$BK_R" "$BK_PORT" > "$T/bk-start.log" 2>&1
check "backup: the restored copy starts as a second instance" 0 "$?"
(
	set -a; . "$BK_R/demo.env"; set +a
	store_snapshot > "$T/bk-restored.dump"
	post simpleenroll "$T/bk.b64" --cert "$T/bk.pem" --key "$T/bk.key"
	echo "enroll $STATUS"
	mkcsr bk2 "/CN=bk-$$" ec
	post bootstrap "$T/bk2.b64" -u "$EST_USER:$EST_PASS"
	echo "rebootstrap $STATUS"
) > "$T/bk-restored.txt"
check "backup: the restored copy holds the same devices and certificates" "" \
	"$(diff "$T/bk-source.dump" "$T/bk-restored.dump" | head -n 5)"
check "backup: the restored copy knows the device's certificate (simpleenroll)" \
	"enroll 200" "$(grep '^enroll' "$T/bk-restored.txt")"
check "backup: the restored copy knows the device ID is taken (409)" \
	"rebootstrap 409" "$(grep '^rebootstrap' "$T/bk-restored.txt")"
echo "# backup: restored copy serves $(grep -c '^device' "$T/bk-restored.dump") devices"
sh scripts/server.sh stop "$BK_R" "$BK_PORT"
