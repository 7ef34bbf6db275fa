# The OCSP responder (RFC 6960) at /ocsp with openssl ocsp as the
# client: good, revoked (time and reason), unknown; the nonce echoed;
# thisUpdate/nextUpdate; signed by the demo's delegated OCSP signer,
# which the response carries; POST and GET (A.1); bad requests answered
# with an OCSP error status or a 4xx, and the responder keeps serving.
ADMIN=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
OC=oc-$$
OCD=$T/ocsp
mkdir -p "$OCD"

# oc_boot NAME — bootstraps device $OC-NAME ($T/oc-NAME.pem, .key).
oc_boot() {
	boot_device "oc-$1" "$OC-$1" ||
		not_ok "ocsp: device $OC-$1 bootstraps ($STATUS)"
}

# oc_ask ARGS... — openssl ocsp against the responder, the answer
# verified against the EST CA only; output in OCSP_OUT.
oc_ask() {
	OCSP_OUT=$(openssl ocsp -issuer "$EST_CA_CERT" -CAfile "$EST_CA_CERT" \
		-url "$EST_OCSP_URL" -resp_text "$@" 2>&1)
}

oc_boot good
oc_boot gone
oc_boot key

# --- good, revoked, unknown ---------------------------------------------------
oc_ask -cert "$T/oc-good.pem"
check_match "ocsp: a valid certificate is good" "oc-good.pem: good" "$OCSP_OUT"
check_match "ocsp: the response verifies against the EST CA" "Response verify OK" "$OCSP_OUT"
check_match "ocsp: signed by the delegated OCSP signer" "Responder Id: .*OCSP responder" "$OCSP_OUT"
check_match "ocsp: the signer's certificate is in the response" "OCSP Signing" "$OCSP_OUT"
check_match "ocsp: thisUpdate" "This Update: " "$OCSP_OUT"
check_match "ocsp: nextUpdate" "Next Update: " "$OCSP_OUT"
tu=$(date -d "$(printf '%s\n' "$OCSP_OUT" | sed -n 's/^ *This Update: //p' | head -n 1)" +%s)
nu=$(date -d "$(printf '%s\n' "$OCSP_OUT" | sed -n 's/^ *Next Update: //p' | head -n 1)" +%s)
check "ocsp: nextUpdate is ocsp_next_update (1 h) after thisUpdate" 3600 "$((nu - tu))"
check_match "ocsp: the nonce is echoed" "OCSP Nonce" "$OCSP_OUT"
check "ocsp: openssl finds the nonce (no warning)" "" "$(printf '%s\n' "$OCSP_OUT" | grep -i 'nonce' | grep -i 'warn\|error')"

est -X DELETE "${ADMIN[@]}" -H 'X-EST-Admin: 1' "$EST_API_URL/devices/$OC-gone"
check "ocsp: device deleted" 200 "$STATUS"
oc_ask -cert "$T/oc-gone.pem"
check_match "ocsp: a deleted device's certificate is revoked" "oc-gone.pem: revoked" "$OCSP_OUT"
check_match "ocsp: with the reason" "Reason: cessationOfOperation" "$OCSP_OUT"
check_match "ocsp: with the revocation time" "Revocation Time: " "$OCSP_OUT"
est -X POST -H 'Content-Length: 0' "${ADMIN[@]}" -H 'X-EST-Admin: 1' \
	"$EST_API_URL/devices/$OC-key/revoke?reason=keyCompromise"
check "ocsp: device revoked" 200 "$STATUS"
oc_ask -cert "$T/oc-key.pem"
check_match "ocsp: revoked through the API: keyCompromise" "oc-key.pem: revoked.*Reason: keyCompromise" \
	"$(printf '%s' "$OCSP_OUT" | tr '\n' ' ')"
oc_ask -serial 0x0123456789abcdef
check_match "ocsp: a serial this CA never issued is unknown" "0x0123456789abcdef: unknown" "$OCSP_OUT"
oc_ask -cert "$T/oc-good.pem" -cert "$T/oc-gone.pem"
check_match "ocsp: two certificates in one request" \
	"oc-good.pem: good.*oc-gone.pem: revoked" "$(printf '%s' "$OCSP_OUT" | tr '\n' ' ')"

# The nonce, byte for byte: the request's (saved) equals the response's.
openssl ocsp -issuer "$EST_CA_CERT" -cert "$T/oc-good.pem" -reqout "$OCD/n.req" 2>/dev/null
openssl ocsp -reqin "$OCD/n.req" -url "$EST_OCSP_URL" -respout "$OCD/n.resp" -noverify > /dev/null 2>&1
reqnonce=$(openssl ocsp -reqin "$OCD/n.req" -req_text 2>/dev/null | grep -A 1 'OCSP Nonce' | tail -n 1 | tr -d ' ')
respnonce=$(openssl ocsp -respin "$OCD/n.resp" -resp_text -noverify 2>/dev/null | grep -A 1 'OCSP Nonce' | tail -n 1 | tr -d ' ')
check_true "ocsp: the request had a nonce" test -n "$reqnonce"
check "ocsp: the response's nonce is the request's" "$reqnonce" "$respnonce"
oc_ask -cert "$T/oc-good.pem" -no_nonce
check "ocsp: no nonce asked, none sent" "" "$(printf '%s\n' "$OCSP_OUT" | grep -o 'OCSP Nonce')"
check_match "ocsp: ... and still good" "oc-good.pem: good" "$OCSP_OUT"

# --- POST and GET on the wire ------------------------------------------------
openssl ocsp -issuer "$EST_CA_CERT" -cert "$T/oc-gone.pem" -no_nonce -reqout "$OCD/g.req" 2>/dev/null
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/g.req" "$EST_OCSP_URL"
check "post: 200" 200 "$STATUS"
check "post: application/ocsp-response" application/ocsp-response "$(header Content-Type)"
check "post: Content-Length" "$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
check_match "post: revoked" "Cert Status: revoked" \
	"$(openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1)"
# RFC 6960 A.1: GET {url}/{url-encoding of base64 of the DER request}.
b64=$(base64 -w 0 < "$OCD/g.req")
enc=$(printf '%s' "$b64" | sed 's/+/%2B/g; s/=/%3D/g')
check "post: not cached (Cache-Control: no-store)" no-store "$(header Cache-Control)"
est "$EST_OCSP_URL/$enc"
check "get: 200" 200 "$STATUS"
check "get: application/ocsp-response" application/ocsp-response "$(header Content-Type)"
check_match "get: revoked" "Cert Status: revoked" \
	"$(openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1)"
# RFC 5019 6.2: without a nonce a GET answer may be cached to nextUpdate.
cc=$(header Cache-Control)
check_match "get: cacheable (RFC 5019 6.2)" '^max-age=[0-9]+, public, no-transform, must-revalidate$' "$cc"
age=$(printf '%s' "$cc" | sed -n 's/^max-age=\([0-9]*\),.*/\1/p')
check_true "get: max-age within ocsp_next_update (1..3600 s)" test "${age:-0}" -ge 1 -a "${age:-0}" -le 3600
nu=$(date -d "$(openssl ocsp -respin "$T/body" -resp_text -noverify 2>/dev/null | sed -n 's/^ *Next Update: //p' | head -n 1)" +%s)
check "get: Expires is the nextUpdate" "$nu" "$(date -d "$(header Expires)" +%s 2>/dev/null)"
tu=$(date -d "$(openssl ocsp -respin "$T/body" -resp_text -noverify 2>/dev/null | sed -n 's/^ *This Update: //p' | head -n 1)" +%s)
check "get: Last-Modified is the thisUpdate" "$tu" "$(date -d "$(header Last-Modified)" +%s 2>/dev/null)"
check "get: ETag is the response's SHA-256" "\"$(sha256sum < "$T/body" | cut -d' ' -f1)\"" "$(header ETag)"
nb64=$(base64 -w 0 < "$OCD/n.req" | sed 's/+/%2B/g; s/=/%3D/g')
est "$EST_OCSP_URL/$nb64"
check "get with a nonce: 200, not cached (no-store)" "200 no-store" "$STATUS $(header Cache-Control)"
est "$EST_OCSP_URL/$b64"
check_match "get: base64 unescaped ('+', '/', '=' as they are) works too" "200 .*Cert Status: revoked" \
	"$STATUS $(openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1 | tr '\n' ' ')"
est -I "$EST_OCSP_URL/$enc"
check "get: HEAD 200" 200 "$STATUS"

# --- bad requests -------------------------------------------------------------
# oc_status — the OCSP responseStatus of the last answer.
oc_status() { openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1 | sed -n 's/.*Response Status: //p; s/.*Responder Error: //p' | head -n 1; }
head -c 300 /dev/urandom > "$OCD/garbage"
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/garbage" "$EST_OCSP_URL"
check "bad: garbage is an OCSP malformedRequest" "200 malformedrequest (1)" "$STATUS $(oc_status)"
est -H 'Content-Type: application/ocsp-request' --data-binary "" "$EST_OCSP_URL"
check "bad: an empty body is malformedRequest" "200 malformedrequest (1)" "$STATUS $(oc_status)"
cat "$OCD/g.req" "$OCD/g.req" > "$OCD/twice"
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/twice" "$EST_OCSP_URL"
check "bad: trailing data after the request" "200 malformedrequest (1)" "$STATUS $(oc_status)"
est "$EST_OCSP_URL/not*base64!"
check "bad: GET with no base64" "200 malformedrequest (1)" "$STATUS $(oc_status)"
est "$EST_OCSP_URL/%zz"
check "bad: GET with a broken escape (the web server or the program)" 400 "$STATUS"
est "$EST_OCSP_URL"
expect_error "bad: GET without a request" 400 "RFC 6960 A.1"
est -H 'Content-Type: application/pkcs10' --data-binary "@$OCD/g.req" "$EST_OCSP_URL"
expect_error "bad: wrong Content-Type" 415 "application/ocsp-request"
est -X PUT -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/g.req" "$EST_OCSP_URL"
expect_error "bad: PUT" 405 "POST or GET"
check "bad: PUT names what is allowed" "GET, HEAD, POST" "$(header Allow)"
head -c 5000 /dev/zero > "$OCD/big"
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/big" "$EST_OCSP_URL"
expect_error "bad: over the 4096-byte OCSP limit" 413 "4096"
head -c 200000 /dev/zero > "$OCD/huge"
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/huge" "$EST_OCSP_URL"
check "bad: a huge body is 413" 413 "$STATUS"
est "$EST_OCSP_URL/$(head -c 7000 /dev/zero | base64 -w 0)"
check_match "bad: a huge GET is refused (413, or 414/431 by the web server)" "^4(13|14|31)$" "$STATUS"
# More certificates in one request than EST_OCSP_MAX_SINGLE (16).
args=()
for i in $(seq 1 17); do args+=(-serial "$i"); done
openssl ocsp -issuer "$EST_CA_CERT" "${args[@]}" -reqout "$OCD/many.req" 2>/dev/null
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/many.req" "$EST_OCSP_URL"
check "bad: 17 certificates in one request" "200 malformedrequest (1)" "$STATUS $(oc_status)"
# Another CA's certificate: this responder is not authoritative.
newkey "$OCD/fca.key" ec
openssl req -x509 -new -key "$OCD/fca.key" -subj "/CN=another CA" -days 2 -out "$OCD/fca.pem"
newkey "$OCD/fee.key" ec
openssl req -new -key "$OCD/fee.key" -subj "/CN=foreign" |
	openssl x509 -req -CA "$OCD/fca.pem" -CAkey "$OCD/fca.key" -days 2 -out "$OCD/fee.pem" 2>/dev/null
openssl ocsp -issuer "$OCD/fca.pem" -cert "$OCD/fee.pem" -reqout "$OCD/foreign.req" 2>/dev/null
est -H 'Content-Type: application/ocsp-request' --data-binary "@$OCD/foreign.req" "$EST_OCSP_URL"
check "bad: another CA's certificate is unauthorized (RFC 5019 2.2.3)" "200 unauthorized (6)" "$STATUS $(oc_status)"

# Still serving after all that.
oc_ask -cert "$T/oc-good.pem"
check_match "ocsp: still answering after the bad requests" "oc-good.pem: good" "$OCSP_OUT"

# /metrics times the responder as its own endpoint.
est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_METRICS_URL"
check_match "metrics: the OCSP responder is an endpoint" \
	'^estcgi_request_duration_seconds_count\{endpoint="ocsp"\} [1-9]' \
	"$(grep 'duration_seconds_count{endpoint="ocsp"}' "$T/body")"
