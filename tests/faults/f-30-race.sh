# Races: 64 concurrent bootstraps of one device ID give exactly one 200
# and 63 409, and the store holds that one certificate.
RC_ID=race64-$$
storm_bg "$T/race" -n 64 -c 64 -o bootstrap -p "$RC_ID" -s
wait "$STORM_PID"
check "race: exactly one 200 of 64" 1 "$(awk '$2 == 200' "$T/race" | wc -l)"
check "race: 63 answered 409" 63 "$(awk '$2 == 409' "$T/race" | wc -l)"
storm_verify race "$T/race"
check "race: one device, one certificate in the store" "1 1" \
	"$(grep -c "^device $RC_ID " "$T/race.dump") $(grep -c "^cert [0-9a-f]* $RC_ID " "$T/race.dump")"

# Concurrent delete and re-enroll of one device (registry API DELETE and
# bootstrap, 30 rounds, both at once): the end state is consistent.  If
# the device exists, exactly one of its certificates is valid and it is
# the device's current one; if not, the API says 404 and the ID can
# bootstrap again.  Either way every one of its certificates is in the
# store as valid, superseded or revoked, none half-written.
RD_ID=redel-$$
mkcsr redel "/CN=$RD_ID" ec
rd_ok=0 rd_del=0
for i in $(seq 1 30); do
	curl -s -o /dev/null -w '%{http_code}\n' --cacert "$EST_TLS_CA" \
		-u "$EST_USER:$EST_PASS" -H 'Content-Type: application/pkcs10' \
		--data-binary "@$T/redel.b64" "$EST_URL/bootstrap" > "$T/redel-b.$i" &
	curl -s -o /dev/null -w '%{http_code}\n' --cacert "$EST_TLS_CA" \
		-u "$EST_ADMIN_USER:$EST_ADMIN_PASS" -H 'X-EST-Admin: 1' -X DELETE \
		"$EST_API_URL/devices/$RD_ID" > "$T/redel-d.$i" &
	wait
done
rd_ok=$(cat "$T"/redel-b.* | grep -c '^200$')
rd_del=$(cat "$T"/redel-d.* | grep -c '^200$')
echo "# delete-reenroll: $rd_ok bootstraps and $rd_del deletions succeeded of 30 each"
check "delete-reenroll: every answer was 200, 409 (bootstrap) or 404 (delete)" 0 \
	"$(( $(cat "$T"/redel-b.* | grep -vc '^200$\|^409$') + $(cat "$T"/redel-d.* | grep -vc '^200$\|^404$') ))"
store_snapshot > "$T/redel.dump"
if grep -q "^device $RD_ID " "$T/redel.dump"; then
	rd_cur=$(awk -v d="$RD_ID" '$1 == "device" && $2 == d { print $4 }' "$T/redel.dump")
	check "delete-reenroll: the device exists with exactly one valid certificate, its current one" \
		"$rd_cur" "$(awk -v d="$RD_ID" '$1 == "cert" && $3 == d && $4 == "valid" { print $2 }' "$T/redel.dump")"
else
	est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_API_URL/devices/$RD_ID"
	check "delete-reenroll: the device is gone (API 404)" 404 "$STATUS"
	post bootstrap "$T/redel.b64" -u "$EST_USER:$EST_PASS"
	check "delete-reenroll: the ID bootstraps again" 200 "$STATUS"
fi
