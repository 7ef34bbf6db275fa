# Revocation: DELETE and POST /api/v1/devices/{id}/revoke put a device's
# certificates in the next CRL (/crl/default.crl, checked with openssl
# crl and openssl verify -crl_check), simplereenroll revokes what it
# replaces (revoke_on_reenroll, reason superseded), a revoked
# certificate cannot renew, the revoke API checks its input, the CRL
# is never seen half-written and lists every one of many concurrent
# revocations.
AUTH=(-u "$EST_USER:$EST_PASS")
ADMIN=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
CSRF=(-H 'X-EST-Admin: 1')
RV=rv-$$
RVD=$T/rev
mkdir -p "$RVD"

# rv_boot NAME — bootstraps device $RV-NAME; its key, CSR and certificate
# are $T/rv-NAME.key, .b64, .pem.
rv_boot() {
	boot_device "rv-$1" "$RV-$1" ||
		not_ok "revoke: device $RV-$1 bootstraps ($STATUS)"
}

# rv_crl NAME [SERIAL...] — fetches the CRL into $RVD/NAME.der (DER) and
# .pem; sets STATUS; CRL_TEXT is openssl's reading of it.  With SERIALs,
# fetches again (up to 30 times) until it lists them all: the file is
# current when the request that revoked is answered, but lighttpd's
# stat cache may serve the previous one for a moment.
rv_crl() {
	local name=$1 try s missing
	shift
	for try in $(seq 1 30); do
		est "$EST_CRL_URL"
		cp "$T/body" "$RVD/$name.der"
		CRL_TEXT=$(openssl crl -inform DER -in "$RVD/$name.der" -noout -text 2>&1)
		missing=0
		for s in "$@"; do
			[ -n "$(rv_listed "$s")" ] || missing=1
		done
		[ "$missing" = 0 ] && break
		sleep 0.2
	done
	openssl crl -inform DER -in "$RVD/$name.der" -out "$RVD/$name.pem" 2>/dev/null
}

# rv_listed SERIAL — the CRL entry of SERIAL (hex) and the lines after
# it in CRL_TEXT (date, reason), "" when not listed.
rv_listed() {
	printf '%s\n' "$CRL_TEXT" | grep -A 4 "Serial Number: $1\$" | tr '\n' ' '
}

# rv_revoke ID QUERY [curl args] — POST revoke?QUERY for device ID, no
# body (Content-Length: 0: lighttpd answers 411 to a POST without).
rv_revoke() {
	local id=$1 q=$2; shift 2
	est -X POST -H 'Content-Length: 0' "${ADMIN[@]}" "$@" \
		"$EST_API_URL/devices/$id/revoke${q:+?$q}"
}
# rv_revoke_json ID BODY [curl args] — POST revoke with a JSON body.
rv_revoke_json() {
	local id=$1 body=$2; shift 2
	est -X POST "${ADMIN[@]}" -H 'Content-Type: application/json' \
		--data "$body" "$@" "$EST_API_URL/devices/$id/revoke"
}

# --- the published CRL -----------------------------------------------------
rv_crl first
check "crl: served (200)" 200 "$STATUS"
check "crl: application/pkix-crl" application/pkix-crl "$(header Content-Type)"
check_true "crl: DER that openssl reads" openssl crl -inform DER -in "$RVD/first.der" -noout
check_match "crl: signed by the EST CA" "verify OK" \
	"$(openssl crl -inform DER -in "$RVD/first.der" -CAfile "$EST_CA_CERT" -noout 2>&1)"
check_match "crl: issuer is the CA" "Issuer: .*CN ?= ?estcgi demo EST CA" "$CRL_TEXT"
check_match "crl: version 2 (RFC 5280 5.1.2.1)" "Version 2" "$CRL_TEXT"
check_match "crl: a CRL number (5.2.3)" "X509v3 CRL Number" "$CRL_TEXT"
check_match "crl: authority key identifier (5.2.1)" "X509v3 Authority Key Identifier" "$CRL_TEXT"
last=$(date -d "$(openssl crl -inform DER -in "$RVD/first.der" -noout -lastupdate | cut -d= -f2)" +%s)
next=$(date -d "$(openssl crl -inform DER -in "$RVD/first.der" -noout -nextupdate | cut -d= -f2)" +%s)
check "crl: nextUpdate is crl_next_update (7 days) after thisUpdate" 604800 "$((next - last))"
num1=$(openssl crl -inform DER -in "$RVD/first.der" -noout -crlnumber | cut -d= -f2)
for u in /crl/.default.state /crl/default.crl.pem /crl/none.crl /crl/../est.conf; do
	est "$EST_BASE$u"
	check_match "crl: $u is not served" "^40[34]$" "$STATUS"
done

# --- issued certificates say where to look ---------------------------------
rv_boot a
rv_boot b
check_match "cert: CRL Distribution Points" "URI:$EST_CRL_URL" \
	"$(openssl x509 -in "$T/rv-a.pem" -noout -ext crlDistributionPoints 2>&1)"
check_match "cert: Authority Information Access OCSP" "OCSP - URI:$EST_OCSP_URL" \
	"$(openssl x509 -in "$T/rv-a.pem" -noout -ext authorityInfoAccess 2>&1)"
sa=$(cert_serial "$T/rv-a.pem")
sb=$(cert_serial "$T/rv-b.pem")
rv_crl before
check "crl: a fresh certificate is not listed" "" "$(rv_listed "$sa")"
check_true "verify -crl_check: a good certificate passes" \
	openssl verify -crl_check -CAfile "$EST_CA_CERT" -CRLfile "$RVD/before.pem" "$T/rv-a.pem"

# --- DELETE revokes (cessationOfOperation) ---------------------------------
est -X DELETE "${ADMIN[@]}" "${CSRF[@]}" "$EST_API_URL/devices/$RV-a"
check "delete: 200" 200 "$STATUS"
rv_crl deleted "$sa"
check_match "delete: the serial is in the next CRL, reason cessationOfOperation" \
	"Cessation Of Operation" "$(rv_listed "$sa")"
check_match "delete: revocation date" "Revocation Date" "$(rv_listed "$sa")"
check_match "verify -crl_check: the deleted device's certificate fails" "certificate revoked" \
	"$(openssl verify -crl_check -CAfile "$EST_CA_CERT" -CRLfile "$RVD/deleted.pem" "$T/rv-a.pem" 2>&1)"
check_true "verify -crl_check: the other device still passes" \
	openssl verify -crl_check -CAfile "$EST_CA_CERT" -CRLfile "$RVD/deleted.pem" "$T/rv-b.pem"
num2=$(openssl crl -inform DER -in "$RVD/deleted.der" -noout -crlnumber | cut -d= -f2)
check_true "crl: the CRL number grows" test "$((16#$num2))" -gt "$((16#$num1))"

# --- the revoke API ---------------------------------------------------------
rv_revoke_json "$RV-b" '{"reason": "keyCompromise"}' "${CSRF[@]}"
check "revoke: 200" 200 "$STATUS"
check "revoke: answer" "revoked keyCompromise 1" \
	"$(jq -r '"\(.state) \(.reason) \(.revoked)"' < "$T/body")"
est "${ADMIN[@]}" "$EST_API_URL/devices/$RV-b"
check "revoke: the device's state is revoked" revoked "$(jq -r .device.state < "$T/body")"
check "revoke: the certificate shows revoked, time and reason" "revoked 1 keyCompromise true" \
	"$(jq -r '.certificates[0] | "\(.status) \(.revocation_reason) \(.revocation_reason_name) \(.revoked_at != null)"' < "$T/body")"
check "revoke: a revoke event" 1 "$(jq '[.events[] | select(.operation == "revoke")] | length' < "$T/body")"
rv_crl revoked "$sb"
check_match "revoke: the serial is in the next CRL, reason keyCompromise" "Key Compromise" "$(rv_listed "$sb")"
est "${ADMIN[@]}" "${EST_DASHBOARD_URL}device/$RV-b"
check_match "dashboard: the certificate row shows the reason" "<td>keyCompromise</td>" "$(cat "$T/body")"
check_match "dashboard: the device shows revoked" "revoked" "$(cat "$T/body")"
est "${ADMIN[@]}" "${EST_DASHBOARD_URL}?state=revoked&q=$RV-"
check_match "dashboard: the revoked filter lists the device" ">$RV-b</a>" "$(cat "$T/body")"
check_match "dashboard: the filter offers revoked" '<option value="revoked" selected>' "$(cat "$T/body")"
est "${ADMIN[@]}" "${EST_DASHBOARD_URL}stats.json"
check_true "dashboard: stats.json counts revoked devices" test "$(jq .revoked < "$T/body")" -ge 1
rv_revoke "$RV-b" "" "${CSRF[@]}"
check "revoke: again is 200 with nothing left to revoke" "200 0" "$STATUS $(jq -r .revoked < "$T/body")"

# A revoked certificate cannot renew: the store refuses it (403 with the
# reason) even while the web server's CRL copy predates the revocation.
mkcsr rv-b2 "/CN=$RV-b" ec
post simplereenroll "$T/rv-b2.b64" --cert "$T/rv-b.pem" --key "$T/rv-b.key"
expect_error "simplereenroll with a revoked certificate" 403 "^client certificate is revoked \\(keyCompromise\\)$"
post simpleenroll "$T/rv-b2.b64" --cert "$T/rv-b.pem" --key "$T/rv-b.key"
expect_error "simpleenroll with a revoked certificate" 403 "^client certificate is revoked \\(keyCompromise\\)$"
post bootstrap "$T/rv-b2.b64" "${AUTH[@]}"
check "a revoked device cannot bootstrap again until deleted" 409 "$STATUS"

# Reasons: RFC 5280 names (any case) or numbers; hold and removeFromCRL
# are refused (no release from hold; delta CRLs only).
rv_boot c
rv_revoke "$RV-c" reason=certificateHold "${CSRF[@]}"
check "revoke: certificateHold refused" "400 bad_request" "$STATUS $(jq -r .error < "$T/body")"
check_match "revoke: the refusal names the reasons" "RFC 5280 5.3.1" "$(jq -r .reason < "$T/body")"
for r in removeFromCRL 7 11 -1 bogus '1%20' 1x '%00'; do
	rv_revoke "$RV-c" "reason=$r" "${CSRF[@]}"
	check "revoke: reason '$r' refused" 400 "$STATUS"
done
est "${ADMIN[@]}" "$EST_API_URL/devices/$RV-c"
check "revoke: refused reasons revoke nothing" valid "$(jq -r '.certificates[0].status' < "$T/body")"
rv_revoke_json "$RV-c" '{"reason": 9}' "${CSRF[@]}"
check "revoke: reason by number (9 privilegeWithdrawn)" "200 privilegeWithdrawn" "$STATUS $(jq -r .reason < "$T/body")"
rv_boot d
rv_revoke_json "$RV-d" '{"reason": ["x"]}' "${CSRF[@]}"
check "revoke: a reason that is no name or number" 400 "$STATUS"
est -X POST "${ADMIN[@]}" "${CSRF[@]}" -H 'Content-Type: text/plain' --data 'keyCompromise' \
	"$EST_API_URL/devices/$RV-d/revoke"
check "revoke: a body that is not JSON" 415 "$STATUS"
rv_revoke_json "$RV-d" '{"reason":' "${CSRF[@]}"
check "revoke: broken JSON" 400 "$STATUS"
rv_revoke "$RV-d" ""
check "revoke: without X-EST-Admin (cross-site)" 403 "$STATUS"
rv_revoke "$RV-d" "" "${CSRF[@]}" -H 'Origin: https://evil.example'
check "revoke: from another origin" 403 "$STATUS"
est -X POST -H 'Content-Length: 0' "${AUTH[@]}" "${CSRF[@]}" "$EST_API_URL/devices/$RV-d/revoke"
check "revoke: an enrollment user is not an administrator" 401 "$STATUS"
est -X GET "${ADMIN[@]}" "$EST_API_URL/devices/$RV-d/revoke"
check "revoke: GET is 405" "405 POST" "$STATUS $(header Allow)"
rv_revoke "$RV-nobody" "" "${CSRF[@]}"
check "revoke: unknown device" 404 "$STATUS"
rv_revoke "$RV-d" reason=unspecified "${CSRF[@]}"
check "revoke: unspecified" 200 "$STATUS"
rv_crl reasons "$(cert_serial "$T/rv-d.pem")"
check_match "crl: an unspecified revocation carries no reason (5.3.1)" "Revocation Date" \
	"$(rv_listed "$(cert_serial "$T/rv-d.pem")")"
check "crl: ... and no CRL Reason Code" "" \
	"$(rv_listed "$(cert_serial "$T/rv-d.pem")" | grep -o 'Reason Code' | head -n 1)"

# --- simplereenroll revokes what it replaces (revoke_on_reenroll) -----------
rv_boot e
rv_boot e-f
rv_boot e-g
mkcsr rv-e1 "/CN=$RV-e" ec
post simpleenroll "$T/rv-e1.b64" --cert "$T/rv-e.pem" --key "$T/rv-e.key"
p7_to_pem "$T/rv-e1.pem"
# An administrator's revocation publishes a CRL at once; a renewal's
# (superseded) waits until the CRL is crl_batch (60 s in the demo) old.
rv_revoke "$RV-e-f" reason=keyCompromise "${CSRF[@]}"
check "reenroll: a revocation just before (200)" 200 "$STATUS"
mkcsr rv-e2 "/CN=$RV-e" ec
post simplereenroll "$T/rv-e2.b64" --cert "$T/rv-e1.pem" --key "$T/rv-e1.key"
check "reenroll: 200" 200 "$STATUS"
rv_crl batched "$(cert_serial "$T/rv-e-f.pem")"
check "reenroll: a CRL younger than crl_batch is not rebuilt for the renewal" "" \
	"$(rv_listed "$(cert_serial "$T/rv-e1.pem")")"
openssl ocsp -issuer "$EST_CA_CERT" -cert "$T/rv-e1.pem" -no_nonce -reqout "$RVD/e1.req" 2>/dev/null
est "$EST_OCSP_URL/$(base64 -w 0 < "$RVD/e1.req" | sed 's/+/%2B/g; s/=/%3D/g')"
check_match "reenroll: OCSP says revoked (superseded) at once" "Cert Status: revoked.*Reason: superseded" \
	"$(openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1 | tr '\n' ' ')"
# The next administrator's revocation publishes the waiting one with it.
rv_revoke "$RV-e-g" reason=keyCompromise "${CSRF[@]}"
rv_crl reenrolled "$(cert_serial "$T/rv-e1.pem")" "$(cert_serial "$T/rv-e-g.pem")"
check_match "reenroll: the replaced certificate is in the CRL, reason superseded" \
	"Superseded" "$(rv_listed "$(cert_serial "$T/rv-e1.pem")")"
check "reenroll: the bootstrap certificate simpleenroll replaced is not revoked" "" \
	"$(rv_listed "$(cert_serial "$T/rv-e.pem")")"

# --- a label with a CA of its own has its own CRL and OCSP answers ---------
est "$EST_URL/rsa/cacerts"
case " ${EST_LABELS:-} $STATUS " in
*" rsa "*" 200 ")
	p7_to_pem "$RVD/rsa-ca.pem"
	mkcsr rv-r "/CN=$RV-r" rsa
	post rsa/bootstrap "$T/rv-r.b64" "${AUTH[@]}"
	check "label rsa: bootstrap 200" 200 "$STATUS"
	p7_to_pem "$T/rv-r.pem"
	check_match "label rsa: CRL Distribution Points name rsa.crl" "URI:$EST_BASE/crl/rsa.crl" \
		"$(openssl x509 -in "$T/rv-r.pem" -noout -ext crlDistributionPoints 2>&1)"
	rv_revoke "$RV-r" reason=keyCompromise "${CSRF[@]}"
	check "label rsa: revoked" 200 "$STATUS"
	sr=$(cert_serial "$T/rv-r.pem")
	for try in $(seq 1 30); do
		est "$EST_BASE/crl/rsa.crl"
		rtext=$(openssl crl -inform DER -in "$T/body" -noout -text 2>&1)
		printf '%s' "$rtext" | grep -q "Serial Number: $sr" && break
		sleep 0.2
	done
	check "label rsa: /crl/rsa.crl served" 200 "$STATUS"
	check_match "label rsa: its CRL lists the certificate" "Serial Number: $sr" "$rtext"
	check_match "label rsa: signed by the label's CA" "verify OK" \
		"$(openssl crl -inform DER -in "$T/body" -CAfile "$RVD/rsa-ca.pem" -noout 2>&1)"
	rv_crl rsa-default
	check "label rsa: the default CA's CRL does not list it" "" "$(rv_listed "$sr")"
	check_match "label rsa: OCSP says revoked, signed by the label's CA" \
		"rv-r.pem: revoked.*Response verify OK|Response verify OK.*rv-r.pem: revoked" \
		"$(openssl ocsp -issuer "$RVD/rsa-ca.pem" -CAfile "$RVD/rsa-ca.pem" -cert "$T/rv-r.pem" \
			-url "$EST_OCSP_URL" 2>&1 | tr '\n' ' ')"
	;;
*)	echo "# no CA label rsa served here: per-label CRL not checked" ;;
esac

# --- the web server's own check (Apache reads the CRL at a restart) ---------
case ${EST_SERVER:-apache} in
apache*)
	# graceful restart; returns once the new generation serves
	check_true "apache: server.sh reload (graceful restart)" \
		sh scripts/server.sh reload "$EST_RUNDIR" "$EST_PORT"
	post simplereenroll "$T/rv-b2.b64" --cert "$T/rv-b.pem" --key "$T/rv-b.key"
	check_match "apache: after a reload the revoked certificate fails the TLS handshake" \
		"^curl-failed" "$STATUS"
	rv_boot f
	mkcsr rv-f1 "/CN=$RV-f" ec
	post simpleenroll "$T/rv-f1.b64" --cert "$T/rv-f.pem" --key "$T/rv-f.key"
	check "apache: a good certificate still enrolls after the reload" 200 "$STATUS"
	;;
lighttpd)
	# lighttpd reads its CRL file at start (a SIGUSR1 restart cannot read
	# the TLS key again after dropping privileges): restart it.  With
	# ssl.verifyclient.enforce disabled the handshake completes and the
	# revoked certificate is simply not a verified one.
	SERVER=lighttpd sh scripts/server.sh start "$EST_RUNDIR" "$EST_PORT" > /dev/null
	post simplereenroll "$T/rv-b2.b64" --cert "$T/rv-b.pem" --key "$T/rv-b.key"
	expect_error "lighttpd: after a restart the revoked certificate is not verified" 403 \
		"needs the device's current certificate"
	;;
esac

# --- many concurrent revocations; readers never see a partial CRL ----------
N=20
for i in $(seq 1 $N); do rv_boot "m$i"; done
: > "$RVD/serials"
for i in $(seq 1 $N); do cert_serial "$T/rv-m$i.pem" >> "$RVD/serials"; done
touch "$RVD/reading"
(
	# Only whole answers 200 count as reads: a connection the loaded
	# server refused or reset (curl fails, though it may print 200) is
	# not a partial CRL.  A body that is not a CRL is kept for a look.
	n=0 bad=0
	while [ -f "$RVD/reading" ]; do
		code=$(curl -s --cacert "$EST_TLS_CA" -o "$RVD/r.der" -w '%{http_code}' "$EST_CRL_URL") ||
			continue
		[ "$code" = 200 ] || continue
		n=$((n + 1))
		openssl crl -inform DER -in "$RVD/r.der" -noout 2>/dev/null && continue
		bad=$((bad + 1))
		cp "$RVD/r.der" "$RVD/bad-$bad.der"
	done
	echo "$n $bad" > "$RVD/readers"
) &
reader=$!
seq 1 $N | xargs -P 10 -I{} curl -s -o /dev/null -w '%{http_code}\n' --cacert "$EST_TLS_CA" \
	-X POST -H 'Content-Length: 0' "${ADMIN[@]}" "${CSRF[@]}" \
	"$EST_API_URL/devices/$RV-m{}/revoke?reason=affiliationChanged" \
	> "$RVD/codes"
rm -f "$RVD/reading"
wait "$reader"
check "concurrent: every revocation answered 200" "$N" "$(grep -c '^200$' "$RVD/codes")"
read -r reads bad < "$RVD/readers"
check_true "concurrent: the CRL was read while revoking" test "$reads" -gt 0
check "concurrent: no read saw a partial CRL ($reads reads)" 0 "$bad"
rv_crl concurrent $(cat "$RVD/serials")
missing=0
while read -r s; do
	[ -n "$(rv_listed "$s")" ] || missing=$((missing + 1))
done < "$RVD/serials"
check "concurrent: the CRL lists all $N revocations" 0 "$missing"
check "crl: no temporary files left behind" "" \
	"$(find "$EST_RUNDIR/crl" -name '*.crl.*' ! -name '*.crl.pem' 2>/dev/null)"
