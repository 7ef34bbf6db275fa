# The duplicate policy of a label (first contact by password for an ID
# that is registered): reject (409, the default), allow (the old
# certificate becomes superseded), revoke-previous (older certificates
# revoked, RFC 5280 reason superseded = 4); decided under the device's
# write lock, so concurrent first contacts are race-free.  The test-only
# labels come from tests/e2e/queue-labels.conf.
if [ -z "${EST_LABELS:-}" ]; then
	echo "# duplicate policy: the instance serves no CA labels; skipped"
	return 0
fi
AUTH=(-u "$EST_USER:$EST_PASS")
ADM=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
DP=$T/dup
mkdir -p "$DP"
add_test_labels tests/e2e/queue-labels.conf

# dup_post LABEL OP NAME ID — a new key and CSR for ID, POSTed with the
# password to LABEL's OP; the certificate (if any) in $DP/NAME.pem.
dup_post() {
	newkey "$DP/$3.key" ec
	openssl req -new -key "$DP/$3.key" -subj "/CN=$4" -outform DER | base64 > "$DP/$3.b64"
	est -H 'Content-Type: application/pkcs10' --data-binary "@$DP/$3.b64" "${AUTH[@]}" \
		"$EST_URL${1:+/$1}/$2"
	[ "$STATUS" != 200 ] || base64 -d < "$T/body" |
		openssl pkcs7 -inform DER -print_certs -out "$DP/$3.pem" 2>/dev/null
}
# dup_certs ID — "SERIAL STATUS REASON" per certificate of ID (API).
dup_certs() {
	est "${ADM[@]}" "$EST_API_URL/devices/$1"
	jq -r '.certificates[] | "\(.serial) \(.status) \(.revocation_reason)"' "$T/body" | sort
}
# dup_serial NAME — the serial of $DP/NAME.pem as the API writes it.
dup_serial() { cert_serial "$DP/$1.pem" | tr 'A-F' 'a-f'; }

# ---- reject (the default label) ----
DR=dup-r-$$
dup_post "" bootstrap r1 "$DR"
check "reject: first bootstrap 200" 200 "$STATUS"
dup_post "" bootstrap r2 "$DR"
expect_error "reject: second bootstrap" 409 "already registered"
dup_post "" simpleenroll r3 "$DR"
check "reject: Basic-auth simpleenroll too" 409 "$STATUS"

# ---- allow ----
DA=dup-a-$$
dup_post dup-allow bootstrap a1 "$DA"
check "allow: first 200" 200 "$STATUS"
dup_post dup-allow simpleenroll a2 "$DA"
check "allow: second (simpleenroll) 200" 200 "$STATUS"
check "allow: the first is superseded, the second valid" \
	"$(printf '%s\n' "$(dup_serial a1) superseded null" "$(dup_serial a2) valid null" | sort)" \
	"$(dup_certs "$DA")"
check "allow: the device's current certificate is the new one" "$(dup_serial a2)" \
	"$(jq -r .device.serial "$T/body")"

# ---- revoke-previous ----
DV=dup-v-$$
dup_post dup-revoke bootstrap v1 "$DV"
check "revoke-previous: first 200" 200 "$STATUS"
dup_post dup-revoke bootstrap v2 "$DV"
check "revoke-previous: second 200" 200 "$STATUS"
check "revoke-previous: the first is revoked (superseded, 4), the second valid" \
	"$(printf '%s\n' "$(dup_serial v1) revoked 4" "$(dup_serial v2) valid null" | sort)" \
	"$(dup_certs "$DV")"
dup_post dup-revoke bootstrap v3 "$DV"
check "revoke-previous: third 200" 200 "$STATUS"
check "revoke-previous: two revoked, one valid" "2 1" \
	"$(dup_certs "$DV" | grep -c ' revoked 4$') $(dup_certs "$DV" | grep -c ' valid ')"

# ---- concurrent first contacts (64 at once) ----
# dup_storm LABEL ID — 64 concurrent bootstraps of ID, each with its own
# key; the status codes in $DP/storm.*.code.
dup_storm() {
	local i
	rm -f "$DP"/storm.*
	for i in $(seq 1 64); do
		newkey "$DP/storm.$i.key" ec
		openssl req -new -key "$DP/storm.$i.key" -subj "/CN=$2" -outform DER |
			base64 > "$DP/storm.$i.b64"
	done
	for i in $(seq 1 64); do
		curl -s --cacert "$EST_TLS_CA" -o "$DP/storm.$i.body" -w '%{http_code}\n' \
			-H 'Content-Type: application/pkcs10' --data-binary "@$DP/storm.$i.b64" \
			"${AUTH[@]}" "$EST_URL${1:+/$1}/bootstrap" > "$DP/storm.$i.code" &
	done
	wait
}
DS=dup-s-$$
dup_storm "" "$DS"
check "race reject: exactly one 200 of 64" 1 "$(cat "$DP"/storm.*.code | grep -c '^200$')"
check "race reject: 63 answered 409" 63 "$(cat "$DP"/storm.*.code | grep -c '^409$')"
check "race reject: one certificate stored" 1 "$(dup_certs "$DS" | wc -l | tr -d ' ')"
DT=dup-t-$$
dup_storm dup-revoke "$DT"
check "race revoke-previous: all 64 answered 200" 64 "$(cat "$DP"/storm.*.code | grep -c '^200$')"
dup_certs "$DT" > "$DP/storm.certs"
check "race revoke-previous: 64 certificates stored" 64 "$(wc -l < "$DP/storm.certs" | tr -d ' ')"
check "race revoke-previous: 63 revoked as superseded" 63 "$(grep -c ' revoked 4$' "$DP/storm.certs")"
check "race revoke-previous: the one valid is the device's current" \
	"$(jq -r .device.serial "$T/body")" "$(awk '$2 == "valid" { print $1 }' "$DP/storm.certs")"
# Every answered certificate is one of them (none was lost or invented).
answered=0
for i in $(seq 1 64); do
	base64 -d < "$DP/storm.$i.body" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//' | tr 'A-F' 'a-f'
done | sort > "$DP/storm.answered"
check "race revoke-previous: the 64 answered certificates are the 64 stored" \
	"$(awk '{ print $1 }' "$DP/storm.certs" | sort)" "$(cat "$DP/storm.answered")"
