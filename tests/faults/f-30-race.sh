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
