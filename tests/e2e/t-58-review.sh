# Findings of the review of issues 4 and 5 (CA labels, approval queue,
# duplicates, revocation), each checked here so it cannot come back.
# The test-only labels come from tests/e2e/queue-labels.conf.
if [ -z "${EST_LABELS:-}" ]; then
	echo "# review findings: the instance serves no CA labels; skipped"
	return 0
fi
AUTH=(-u "$EST_USER:$EST_PASS")
ADM=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS")
XH=(-H 'X-EST-Admin: 1')
RV=$T/review
mkdir -p "$RV"
add_test_labels tests/e2e/queue-labels.conf

# rv_csr NAME SUBJ — $RV/NAME.b64: a CSR for SUBJ with key $RV/NAME.key
# (made unless it exists).
rv_csr() {
	[ -f "$RV/$1.key" ] || newkey "$RV/$1.key" ec
	openssl req -new -key "$RV/$1.key" -subj "$2" -outform DER | base64 > "$RV/$1.b64"
}
# rv_post PATH NAME [curl args] — POST $RV/NAME.b64 to $EST_URL/PATH.
rv_post() {
	local path=$1 name=$2; shift 2
	est -H 'Content-Type: application/pkcs10' --data-binary "@$RV/$name.b64" "$@" \
		"$EST_URL/$path"
}
# rv_approve ID — an administrator approves ID's request (API).
rv_approve() {
	est --data-binary '' "${ADM[@]}" "${XH[@]}" "$EST_API_URL/devices/$1/approve"
}

# ---- 1: an approved serverkeygen retry is issued for the stored CSR ----
# The administrator approved the stored request's subject; a retry with
# the same key but another subject must not get that subject signed.
S1=rv-s1-$$
rv_csr s1 "/CN=$S1"
rv_post skg-manual/serverkeygen s1 "${AUTH[@]}"
check "skg approval: queued (202)" 202 "$STATUS"
rv_approve "$S1"
check "skg approval: approved" 200 "$STATUS"
rv_csr s1 "/CN=$S1/O=Evil Corp/OU=admins"
rv_post skg-manual/serverkeygen s1 "${AUTH[@]}"
check "skg approval: the retry is answered" 200 "$STATUS"
tr -d '\r' < "$T/body" | sed -n '/^Content-Type: application\/pkcs7-mime/,/^--/p' |
	grep -v '^--\|^Content-\|^$' | base64 -d |
	openssl pkcs7 -inform DER -print_certs -out "$RV/s1.pem" 2>/dev/null
check "skg approval: the certificate has the approved subject, not the retry's" \
	"subject=CN = $S1" "$(openssl x509 -in "$RV/s1.pem" -noout -subject 2>&1)"

# ---- 2: a first contact on another label than the device's ----
# The device registered on the default label (duplicate = reject) must
# not be re-enrolled, nor its certificate revoked, through a label whose
# duplicate policy is another (dup-revoke: revoke-previous).
S2=rv-s2-$$
rv_csr s2a "/CN=$S2"
rv_post bootstrap s2a "${AUTH[@]}"
check "registered label: bootstrap on the default label" 200 "$STATUS"
p7_to_pem "$RV/s2a.pem"
rv_csr s2b "/CN=$S2"
rv_post dup-revoke/simpleenroll s2b "${AUTH[@]}"
expect_error "registered label: another label's first contact" 409 \
	"device '$S2' is registered under label '\(default\)'"
est "${ADM[@]}" "$EST_API_URL/devices/$S2"
check "registered label: the default label's certificate is still valid" \
	"$(cert_serial "$RV/s2a.pem" | tr 'A-F' 'a-f') valid" \
	"$(jq -r '.certificates[] | "\(.serial) \(.status)"' "$T/body")"

# ---- 4: a client certificate enrolls on its own label only ----
# Label manual shares the default CA but requires approval: the default
# label's certificate must not get a certificate there without it.
rv_post "$EST_MANUAL_LABEL/simpleenroll" s2a --cert "$RV/s2a.pem" --key "$RV/s2a.key"
expect_error "client cert label: default-label cert on label $EST_MANUAL_LABEL" 403 \
	"client certificate was issued on label '\(default\)', not on label '$EST_MANUAL_LABEL'"
rv_post "$EST_MANUAL_LABEL/simplereenroll" s2a --cert "$RV/s2a.pem" --key "$RV/s2a.key"
check "client cert label: simplereenroll there too" 403 "$STATUS"
rv_post simplereenroll s2a --cert "$RV/s2a.pem" --key "$RV/s2a.key"
check "client cert label: simplereenroll on its own label" 200 "$STATUS"

# ---- 3: OCSP answers for the CA the CertID names only ----
# RFC 6960 2.2: a certificate of the rsa label's CA asked for with the
# default CA as issuer is unknown there, not good.
if [ -n "${EST_RSA_CA_CERT:-}" ] && [ -n "${EST_OCSP_URL:-}" ]; then
	S3=rv-s3-$$
	newkey "$RV/s3.key" rsa
	rv_csr s3 "/CN=$S3"
	rv_post "$EST_SERVERKEYGEN_LABEL/bootstrap" s3 "${AUTH[@]}"
	check "ocsp issuer: bootstrap on label $EST_SERVERKEYGEN_LABEL" 200 "$STATUS"
	p7_to_pem "$RV/s3.pem"
	check_match "ocsp issuer: good for its own CA" "s3.pem: good" \
		"$(openssl ocsp -issuer "$EST_RSA_CA_CERT" -cert "$RV/s3.pem" -url "$EST_OCSP_URL" -noverify 2>&1)"
	# -serial: the CertID of that serial with the default CA's name and
	# key hashes (with -cert openssl would hash the certificate's issuer).
	check_match "ocsp issuer: unknown for the default CA" "0x$(cert_serial "$RV/s3.pem"): unknown" \
		"$(openssl ocsp -issuer "$EST_CA_CERT" -serial "0x$(cert_serial "$RV/s3.pem")" -url "$EST_OCSP_URL" -noverify 2>&1)"
	check_match "ocsp issuer: a default-label certificate is unknown for the rsa CA" \
		"0x$(cert_serial "$RV/s2a.pem"): unknown" \
		"$(openssl ocsp -issuer "$EST_RSA_CA_CERT" -serial "0x$(cert_serial "$RV/s2a.pem")" -url "$EST_OCSP_URL" -noverify 2>&1)"
	check_match "ocsp issuer: ... and known to its own (revoked on reenrollment)" \
		"0x$(cert_serial "$RV/s2a.pem"): revoked" \
		"$(openssl ocsp -issuer "$EST_CA_CERT" -serial "0x$(cert_serial "$RV/s2a.pem")" -url "$EST_OCSP_URL" -noverify 2>&1)"
fi

# ---- 5: a path the web server normalizes keeps its label ----
# Web servers merge repeated slashes and remove dot-segments before
# mapping; the program must not read such a path as the default label
# (label manual requires approval; the default label does not).
EST_ROOT=${EST_URL%/.well-known/est}
S5=rv-s5-$$
rv_csr s5 "/CN=$S5"
for p in "//.well-known/est/$EST_MANUAL_LABEL/simpleenroll" \
	"/./.well-known/est/$EST_MANUAL_LABEL/simpleenroll" \
	"/.well-known//est/$EST_MANUAL_LABEL/simpleenroll"; do
	est --path-as-is -H 'Content-Type: application/pkcs10' --data-binary "@$RV/s5.b64" \
		"${AUTH[@]}" "$EST_ROOT$p"
	check_match "normal form: $p is not the default label (not 200)" '^(202|40[0-4])$' "$STATUS"
done
est --path-as-is "$EST_ROOT//.well-known/est/nosuchlabel/cacerts"
check "normal form: //.well-known/est/nosuchlabel/cacerts is 404" 404 "$STATUS"
est "${ADM[@]}" "$EST_API_URL/devices/$S5"
check "normal form: no certificate was issued for $S5" 0 \
	"$(jq '[.certificates[]?] | length' "$T/body" 2>/dev/null || echo 0)"

# ---- 6: OCSP GET with the base64 fully URL-encoded (RFC 6960 A.1) ----
# A request whose base64 has a '/', sent as %2F (nonces differ, so a few
# tries find one).
if [ -n "${EST_OCSP_URL:-}" ]; then
	for _ in $(seq 1 50); do
		openssl ocsp -issuer "$EST_CA_CERT" -cert "$RV/s2a.pem" -reqout "$RV/g6.req" 2>/dev/null
		case $(base64 -w 0 < "$RV/g6.req") in */*) break ;; esac
	done
	b64=$(base64 -w 0 < "$RV/g6.req")
	check_match "ocsp %2F: the request's base64 has a '/'" / "$b64"
	est "$EST_OCSP_URL/$(printf '%s' "$b64" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')"
	check_match "ocsp %2F: GET with %2F answers the status" "200 .*Cert Status: revoked" \
		"$STATUS $(openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1 | tr '\n' ' ')"
fi

# ---- 7: the serverkeygen multipart body is CRLF throughout ----
# MIME canonical form (RFC 2045 2.10, RFC 2046 5.1.1; RFC 7030 4.4.2):
# the base64 lines of both parts end in CRLF like the part headers.
S7=rv-s7-$$
rv_csr s7 "/CN=$S7"
rv_post "$EST_SERVERKEYGEN_LABEL/serverkeygen" s7 "${AUTH[@]}"
check "skg CRLF: serverkeygen answers" 200 "$STATUS"
check "skg CRLF: no line of the body ends in a bare LF" 0 "$(grep -c $'[^\r]$' "$T/body")"
check_true "skg CRLF: the body has lines" grep -q $'\r$' "$T/body"

# ---- 8: the delegated OCSP signer's certificate is sent once ----
if [ -n "${EST_OCSP_URL:-}" ]; then
	openssl ocsp -issuer "$EST_CA_CERT" -cert "$RV/s2a.pem" -url "$EST_OCSP_URL" \
		-noverify -respout "$RV/o8.der" > /dev/null 2>&1
	check "ocsp signer: its certificate is in the response once" 1 \
		"$(openssl ocsp -respin "$RV/o8.der" -resp_text -noverify 2>/dev/null | grep -c '^Certificate:')"
fi
