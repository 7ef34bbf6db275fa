# Concurrent bootstraps of one device ID: exactly one wins, the rest get
# 409, and the winner's certificate is the one the device ends up with.
AUTH=(-u "$EST_USER:$EST_PASS")
RACE=race-$$
N=24
mkcsr race "/CN=$RACE" ec
for i in $(seq 1 $N); do
	curl -s --cacert "$EST_TLS_CA" -o "$T/race.$i.body" -w '%{http_code}\n' \
		-H 'Content-Type: application/pkcs10' --data-binary "@$T/race.b64" \
		"${AUTH[@]}" "$EST_URL/bootstrap" > "$T/race.$i.code" &
done
wait
check "race: exactly one 200 of $N" 1 "$(cat "$T"/race.*.code | grep -c '^200$')"
check "race: the others 409" $((N - 1)) "$(cat "$T"/race.*.code | grep -c '^409$')"
