#!/bin/sh
# fill.sh RUNDIR N FILL-BINARY — `make fill`: adds N synthetic devices to
# the store of the instance in RUNDIR (est.conf's store_dir, "db" in the
# demo).  As root it runs as the store's owner (www-data for the demo),
# so no root-owned file lands in the shared Berkeley DB environment.
# The server may keep running: the loader joins the same environment.
set -eu
R=$1 N=$2 BIN=$3
DB="$R/db"
[ -d "$DB" ] || { echo "fill: no store in $DB (make start RUNDIR=$R first)" >&2; exit 1; }
FIRST=0
[ -f "$R/fill.next" ] && FIRST=$(cat "$R/fill.next")
owner=$(stat -c %U "$DB")
if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
	runuser -u "$owner" -- "$BIN" "$DB" "$N" "$FIRST"
else
	"$BIN" "$DB" "$N" "$FIRST"
fi
echo $((FIRST + N)) > "$R/fill.next"
