# The approval queue (RFC 7030 4.2.3) on the demo's approval label
# (EST_MANUAL_LABEL, approval.retry_after = 30): 202 + Retry-After until
# an administrator decides; approve -> the retry gets the certificate;
# reject -> 403 with the reason.  The API and the dashboard list the
# waiting requests; deciding needs an administrator and the cross-site
# header.
if [ -z "${EST_MANUAL_LABEL:-}" ]; then
	echo "# approval queue: the instance names no EST_MANUAL_LABEL; skipped"
	return 0
fi
AUTH=(-u "$EST_USER:$EST_PASS")
ADM=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
XH=(-H 'X-EST-Admin: 1')
ML=${EST_MANUAL_LABEL:-manual}
MURL=$EST_URL/$ML
PQ=$T/pq
mkdir -p "$PQ"

# pq_csr NAME ID — a new key $PQ/NAME.key and CSR $PQ/NAME.b64 for ID.
pq_csr() {
	newkey "$PQ/$1.key" ec
	openssl req -new -key "$PQ/$1.key" -subj "/CN=$2" -outform DER |
		base64 > "$PQ/$1.b64"
}
# pq_post OP NAME [curl args] — POST $PQ/NAME.b64 to the approval label.
pq_post() {
	local op=$1 name=$2; shift 2
	est -H 'Content-Type: application/pkcs10' --data-binary "@$PQ/$name.b64" \
		"$@" "$MURL/$op"
}
# pq_decide ACTION ID [curl args] — POST the API's approve or reject
# (an empty body: lighttpd wants a Content-Length on every POST).
pq_decide() {
	local act=$1 id=$2; shift 2
	est --data-binary '' "$@" "$EST_API_URL/devices/$id/$act"
}
# key_sha256 KEY — SHA-256 (hex) of the key's SubjectPublicKeyInfo.
key_sha256() {
	openssl pkey -in "$1" -pubout -outform DER | sha256sum | cut -d' ' -f1
}

# ---- 202 until decided ----
PA=pq-a-$$
pq_csr a "$PA"
pq_post bootstrap a "${AUTH[@]}"
expect_error "pending: first request" 202 "stored; it waits for an administrator's approval, retry in 30 s"
check "pending: Retry-After is the label's retry_after" 30 "$(header Retry-After)"
pq_post bootstrap a "${AUTH[@]}"
check "pending: the retry with the same key is still 202" 202 "$STATUS"
check "pending: the retry carries Retry-After" 30 "$(header Retry-After)"
pq_csr a2 "$PA"
pq_post bootstrap a2 "${AUTH[@]}"
expect_error "pending: another key for the waiting ID" 409 "another key"
post bootstrap "$PQ/a.b64" "${AUTH[@]}"
expect_error "pending: the waiting ID on another label" 409 "open enrollment request on label '$ML'"

# Listed: API (with the key's fingerprint), device list, dashboard.
est "${ADM[@]}" "$EST_API_URL/pending"
check "pending: API list answers" 200 "$STATUS"
check "pending: API lists the request as pending" "pending $ML bootstrap $EST_USER" \
	"$(jq -r --arg d "$PA" '.items[] | select(.device == $d) | "\(.state) \(.label) \(.operation) \(.user)"' "$T/body")"
check "pending: API key_sha256 is the CSR key's" "$(key_sha256 "$PQ/a.key")" \
	"$(jq -r --arg d "$PA" '.items[] | select(.device == $d) | .key_sha256' "$T/body")"
est "${ADM[@]}" "$EST_API_URL/devices/$PA"
check "pending: the device's state is pending" pending "$(jq -r .device.state "$T/body")"
check "pending: one 202 event for the request, none for the retry" 1 \
	"$(jq '[.events[] | select(.status == 202)] | length' "$T/body")"
est "${ADM[@]}" "$EST_API_URL/devices?state=pending"
check "pending: the state filter finds it" 1 \
	"$(jq --arg d "$PA" '[.items[] | select(.id == $d)] | length' "$T/body")"
est "${ADM[@]}" "$EST_API_URL/pending?state=bogus"
check "pending: an unknown state filter is 400" 400 "$STATUS"
est "${ADM[@]}" "${EST_DASHBOARD_URL}pending"
check "pending: dashboard page answers" 200 "$STATUS"
check_true "pending: dashboard lists the device" grep -q ">$PA</a>" "$T/body"
check_true "pending: dashboard has the approve button" grep -q 'class="approve"' "$T/body"
# The page as a browser runs it (CSP with a nonce: its script must load).
if CHROME=$(command -v chromium); then
	PU="https://$EST_ADMIN_USER:$EST_ADMIN_PASS@${EST_DASHBOARD_URL#https://}pending"
	timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-quic --ignore-certificate-errors --user-data-dir="$T/chrome-pq" \
		--enable-logging=stderr --v=0 --virtual-time-budget=3000 --dump-dom "$PU" \
		> "$PQ/dom.html" 2> "$PQ/chrome.log"
	check_true "pending: chromium renders the queue with the request" grep -q ">$PA</a>" "$PQ/dom.html"
	check_true "pending: chromium reports no CSP violation" sh -c "! grep -q 'Refused to' '$PQ/chrome.log'"
fi
est "${ADM[@]}" "${EST_DASHBOARD_URL}?state=pending"
check_true "pending: the dashboard's device list filters on pending" grep -q ">$PA</a>" "$T/body"
check_true "pending: the pending filter is selected" grep -q '<option value="pending" selected>' "$T/body"

# ---- who may decide ----
pq_decide approve "$PA"
check "approve: without credentials 401" 401 "$STATUS"
pq_decide approve "$PA" "${AUTH[@]}" "${XH[@]}"
check "approve: the enrollment user is refused (401)" 401 "$STATUS"
pq_decide approve "$PA" "${ADM[@]}"
check "approve: without X-EST-Admin 403" 403 "$STATUS"
check_match "approve: the reason names the header" 'X-EST-Admin' "$(jq -r .reason "$T/body")"
pq_decide approve "$PA" "${ADM[@]}" "${XH[@]}" -H 'Origin: https://evil.example'
check "approve: a foreign Origin 403" 403 "$STATUS"
est -X GET "${ADM[@]}" "$EST_API_URL/devices/$PA/approve"
check "approve: GET is 405" 405 "$STATUS"
check "approve: 405 names POST" POST "$(header Allow)"
pq_decide approve "pq-none-$$" "${ADM[@]}" "${XH[@]}"
check "approve: a device without request is 404" 404 "$STATUS"
pq_post bootstrap a "${AUTH[@]}"
check "pending: still 202 after refused decisions" 202 "$STATUS"

# ---- approve -> 200 ----
pq_decide approve "$PA" "${ADM[@]}" "${XH[@]}"
check "approve: 200" 200 "$STATUS"
check "approve: answer" "approved" "$(jq -r .state "$T/body")"
pq_decide approve "$PA" "${ADM[@]}" "${XH[@]}"
check "approve: twice is 409" 409 "$STATUS"
pq_post bootstrap a2 "${AUTH[@]}"
check "approved: another key still 409" 409 "$STATUS"
pq_post bootstrap a "${AUTH[@]}"
check "approved: the retry gets the certificate" 200 "$STATUS"
base64 -d < "$T/body" | openssl pkcs7 -inform DER -print_certs -out "$PQ/a.pem" 2>/dev/null
est "$MURL/cacerts"
base64 -d < "$T/body" | openssl pkcs7 -inform DER -print_certs -out "$PQ/mca.pem" 2>/dev/null
check_true "approved: the certificate verifies against the label's CA" \
	openssl verify -CAfile "$PQ/mca.pem" "$PQ/a.pem"
check "approved: the certificate is for the CSR's key" "$(key_sha256 "$PQ/a.key")" \
	"$(openssl x509 -in "$PQ/a.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"
est "${ADM[@]}" "$EST_API_URL/devices/$PA"
check "approved: the device is bootstrapped" bootstrapped "$(jq -r .device.state "$T/body")"
check "approved: events show the approval" 1 \
	"$(jq '[.events[] | select(.operation == "approve")] | length' "$T/body")"
est "${ADM[@]}" "$EST_API_URL/pending?state=any"
check "approved: the request is gone once collected" 0 \
	"$(jq --arg d "$PA" '[.items[] | select(.device == $d)] | length' "$T/body")"
pq_post bootstrap a "${AUTH[@]}"
check "approved: a further first contact is a duplicate (409)" 409 "$STATUS"
# Reenrollment with the certificate is not queued.
pq_post simplereenroll a --cert "$PQ/a.pem" --key "$PQ/a.key"
check "approved: simplereenroll with the certificate is not queued" 200 "$STATUS"
check "approved: the audit log has the approval" 1 \
	"$(jq -c --arg d "$PA" 'select(.device == $d and .operation == "approve")' \
		"$EST_RUNDIR/audit/audit.log" | wc -l | tr -d ' ')"

# ---- reject -> 403 with the reason ----
PR=pq-r-$$
pq_csr r "$PR"
pq_post simpleenroll r "${AUTH[@]}"
check "reject: Basic-auth simpleenroll is queued too" 202 "$STATUS"
est "${ADM[@]}" "${XH[@]}" -H 'Content-Type: application/json' \
	--data-binary '{"reason": "line one\nline two"}' "$EST_API_URL/devices/$PR/reject"
check "reject: a reason with a line break is 400" 400 "$STATUS"
est "${ADM[@]}" "${XH[@]}" -H 'Content-Type: text/plain' \
	--data-binary 'unknown' "$EST_API_URL/devices/$PR/reject"
check "reject: a non-JSON body is 415" 415 "$STATUS"
est "${ADM[@]}" "${XH[@]}" -H 'Content-Type: application/json' \
	--data-binary '{"reason": "unknown serial number"}' "$EST_API_URL/devices/$PR/reject"
check "reject: 200" 200 "$STATUS"
check "reject: answer" rejected "$(jq -r .state "$T/body")"
pq_post simpleenroll r "${AUTH[@]}"
expect_error "rejected: the retry" 403 "rejected by $EST_ADMIN_USER: unknown serial number"
est "${ADM[@]}" "$EST_API_URL/devices/$PR"
check "rejected: no device record is left" 404 "$STATUS"
est "${ADM[@]}" "$EST_API_URL/pending?state=rejected"
check "rejected: listed with its reason" "unknown serial number" \
	"$(jq -r --arg d "$PR" '.items[] | select(.device == $d) | .reason' "$T/body")"
pq_csr r2 "$PR"
pq_post simpleenroll r2 "${AUTH[@]}"
check "rejected: a new key is a new request (202)" 202 "$STATUS"
pq_post simpleenroll r "${AUTH[@]}"
check "rejected: the old key then meets the new request (409)" 409 "$STATUS"

# ---- the dashboard's buttons (form body, same checks) ----
PD=pq-d-$$
pq_csr d "$PD"
pq_post bootstrap d "${AUTH[@]}"
check "dashboard: queued" 202 "$STATUS"
est "${ADM[@]}" --data-binary 'reason=no+thanks' "${EST_DASHBOARD_URL}device/$PD/reject"
check "dashboard: reject without X-EST-Admin 403" 403 "$STATUS"
est "${ADM[@]}" "${XH[@]}" --data-binary 'reason=no+thanks' "${EST_DASHBOARD_URL}device/$PD/reject"
check "dashboard: reject 200" 200 "$STATUS"
pq_post bootstrap d "${AUTH[@]}"
expect_error "dashboard: the rejected retry" 403 "no thanks"
pq_decide reject "$PD" "${ADM[@]}" "${XH[@]}"
check "dashboard: deciding twice is 409" 409 "$STATUS"
PE=pq-e-$$
pq_csr e "$PE"
pq_post bootstrap e "${AUTH[@]}"
est --data-binary '' "${ADM[@]}" "${XH[@]}" "${EST_DASHBOARD_URL}device/$PE/approve"
check "dashboard: approve 200" 200 "$STATUS"
pq_post bootstrap e "${AUTH[@]}"
check "dashboard: the approved retry gets the certificate" 200 "$STATUS"

# ---- serverkeygen behind approval (test-only label skg-manual) ----
# The requester's own key identifies the request; once approved, the
# server makes a key for that answer (RFC 7030 4.4), never kept.
add_test_labels tests/e2e/queue-labels.conf
PS=pq-s-$$
pq_csr s "$PS"
pq_skg() {
	est -H 'Content-Type: application/pkcs10' --data-binary "@$PQ/s.b64" "${AUTH[@]}" \
		"$EST_URL/skg-manual/serverkeygen"
}
pq_skg
check "serverkeygen: queued (202)" 202 "$STATUS"
check "serverkeygen: Retry-After of the label" 5 "$(header Retry-After)"
pq_skg
check "serverkeygen: the retry (a new server key each time) is still 202" 202 "$STATUS"
est "${ADM[@]}" "$EST_API_URL/pending"
check "serverkeygen: the request shows the requester's key" "$(key_sha256 "$PQ/s.key")" \
	"$(jq -r --arg d "$PS" '.items[] | select(.device == $d) | .key_sha256' "$T/body")"
pq_decide approve "$PS" "${ADM[@]}" "${XH[@]}"
check "serverkeygen: approved" 200 "$STATUS"
pq_skg
check "serverkeygen: the retry after approval is answered" 200 "$STATUS"
tr -d '\r' < "$T/body" > "$PQ/s.mp"
sed -n '/^Content-Type: application\/pkcs8/,/^--/p' "$PQ/s.mp" |
	grep -v '^--\|^Content-\|^$' | base64 -d > "$PQ/s-key.der"
sed -n '/^Content-Type: application\/pkcs7-mime/,/^--/p' "$PQ/s.mp" |
	grep -v '^--\|^Content-\|^$' | base64 -d |
	openssl pkcs7 -inform DER -print_certs -out "$PQ/s.pem" 2>/dev/null
check "serverkeygen: the certificate is for the key in the answer" \
	"$(openssl pkey -inform DER -in "$PQ/s-key.der" -pubout 2>/dev/null | sha256sum)" \
	"$(openssl x509 -in "$PQ/s.pem" -noout -pubkey 2>/dev/null | sha256sum)"
check_true "serverkeygen: not for the requester's key" sh -c \
	"[ '$(openssl pkey -in "$PQ/s.key" -pubout | sha256sum)' != '$(openssl x509 -in "$PQ/s.pem" -noout -pubkey 2>/dev/null | sha256sum)' ]"

# ---- deleting a waiting device drops its request ----
PX=pq-x-$$
pq_csr x "$PX"
pq_post bootstrap x "${AUTH[@]}"
est -X DELETE "${ADM[@]}" "${XH[@]}" "$EST_API_URL/devices/$PX"
check "delete: a waiting device can be deleted" 200 "$STATUS"
est "${ADM[@]}" "$EST_API_URL/pending?state=any"
check "delete: its request is gone" 0 \
	"$(jq --arg d "$PX" '[.items[] | select(.device == $d)] | length' "$T/body")"
pq_post bootstrap x "${AUTH[@]}"
check "delete: the device starts over (202)" 202 "$STATUS"
