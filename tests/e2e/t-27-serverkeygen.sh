# /serverkeygen (RFC 7030 4.4): off by default (501); on the demo's rsa
# label the server makes an RSA-2048 key and answers multipart/mixed
# with the key as PKCS#8 and the certificate as certs-only PKCS#7, each
# base64.  The key matches the certificate and is nowhere on the server.
SK=$T/skg
mkdir -p "$SK"

# skg_split FILE — splits a multipart/mixed body (boundary from the
# Content-Type of the last answer) into $SK/part-N.hdr and .b64.
skg_split() {
	local b
	b=$(header Content-Type | sed -n 's/.*boundary=\([^;]*\).*/\1/p')
	rm -f "$SK"/part-*
	awk -v b="--$b" -v out="$SK/part-" '
		{ sub(/\r$/, "") }
		$0 == b || $0 == b "--" { n++; hdr = 1; next }
		n && hdr && $0 == "" { hdr = 0; next }
		n && hdr { print > (out n ".hdr"); next }
		n && !hdr && $0 != "" { print > (out n ".b64") }' "$1"
}

mkcsr skg "/CN=skg-$$" ec
post serverkeygen "$T/skg.b64" -u "$EST_USER:$EST_PASS"
expect_error "serverkeygen: off on the default label" 501 \
	"serverkeygen \(RFC 7030 4.4\) is not enabled for this CA label"
post manual/serverkeygen "$T/skg.b64" -u "$EST_USER:$EST_PASS"
expect_error "serverkeygen: off on label manual" 501 "not enabled"
post nolabel/serverkeygen "$T/skg.b64" -u "$EST_USER:$EST_PASS"
expect_error "serverkeygen: unknown label" 404 "unknown CA label"

post "$EST_SERVERKEYGEN_LABEL/serverkeygen" "$T/skg.b64" -u "$EST_USER:$EST_PASS"
check "serverkeygen: rsa 200" 200 "$STATUS"
check_match "serverkeygen: multipart/mixed with a boundary" \
	'^multipart/mixed; boundary=[A-Za-z0-9-]+$' "$(header Content-Type)"
check "serverkeygen: Content-Length matches the body" \
	"$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
cp "$T/body" "$SK/answer"
skg_split "$SK/answer"
check "serverkeygen: two parts" "2" "$(ls "$SK"/part-*.b64 2>/dev/null | wc -l | tr -d ' ')"
check_match "serverkeygen: part 1 is application/pkcs8" \
	'^Content-Type: application/pkcs8$' "$(grep -i '^Content-Type' "$SK/part-1.hdr")"
check_match "serverkeygen: part 1 is base64" \
	'^Content-Transfer-Encoding: base64$' "$(grep -i '^Content-Transfer' "$SK/part-1.hdr")"
check_match "serverkeygen: part 2 is certs-only PKCS#7" \
	'^Content-Type: application/pkcs7-mime; smime-type=certs-only$' \
	"$(grep -i '^Content-Type' "$SK/part-2.hdr")"
check_match "serverkeygen: part 2 is base64" \
	'^Content-Transfer-Encoding: base64$' "$(grep -i '^Content-Transfer' "$SK/part-2.hdr")"
base64 -d < "$SK/part-1.b64" > "$SK/key.der"
base64 -d < "$SK/part-2.b64" | openssl pkcs7 -inform DER -print_certs -out "$SK/cert.pem" 2>/dev/null
# PKCS#8 PrivateKeyInfo (RFC 5958): SEQUENCE { INTEGER 0, AlgorithmIdentifier,
# OCTET STRING }, not PKCS#1's bare RSAPrivateKey SEQUENCE of INTEGERs.
openssl asn1parse -inform DER -in "$SK/key.der" > "$SK/key.txt" 2>&1
check_match "serverkeygen: key is PKCS#8 (version, algorithm, OCTET STRING)" \
	'd=1 .*INTEGER +:00 .*d=1 .*cons: SEQUENCE .*d=2 .*OBJECT +:rsaEncryption .*d=1 .*prim: OCTET STRING' \
	"$(tr '\n' ' ' < "$SK/key.txt")"
check_true "serverkeygen: openssl reads the key as PKCS#8" \
	openssl pkey -inform DER -in "$SK/key.der" -noout
check "serverkeygen: the key is RSA-2048 (the label's type)" 2048 \
	"$(openssl pkey -inform DER -in "$SK/key.der" -noout -text 2>/dev/null | sed -n 's/.*Private-Key: (\([0-9]*\) bit.*/\1/p')"
check "serverkeygen: the key matches the certificate" \
	"$(openssl x509 -in "$SK/cert.pem" -noout -pubkey)" \
	"$(openssl pkey -inform DER -in "$SK/key.der" -pubout)"
check_true "serverkeygen: the key is not the CSR's" test \
	"$(openssl pkey -in "$T/skg.key" -pubout)" != \
	"$(openssl pkey -inform DER -in "$SK/key.der" -pubout)"
check_match "serverkeygen: subject from the CSR" "CN ?= ?skg-$$" \
	"$(openssl x509 -in "$SK/cert.pem" -noout -subject)"
check_true "serverkeygen: the certificate is the rsa CA's" \
	openssl verify -CAfile "$EST_RSA_CA_CERT" "$SK/cert.pem"
# The pair works as a TLS client credential at its label.
openssl pkey -inform DER -in "$SK/key.der" -out "$SK/key.pem"
openssl req -new -key "$SK/key.pem" -subj "/CN=skg-$$" -outform DER | base64 > "$SK/re.b64"
post "$EST_SERVERKEYGEN_LABEL/simplereenroll" "$SK/re.b64" --cert "$SK/cert.pem" --key "$SK/key.pem"
check "serverkeygen: the generated key re-enrolls" 200 "$STATUS"

# The key is never stored or logged: its base64 and DER nowhere under
# the run folder (store, logs, audit log).
k64=$(sed -n 2p "$SK/part-1.b64")
check_true "serverkeygen: key base64 not in the run folder" \
	sh -c "! grep -rqF '$k64' '$EST_RUNDIR'"
# 24 bytes of the private exponent (RSAPrivateKey: version, n, e, d).
khex=$(od -An -tx1 -j 320 -N 24 "$SK/key.der" | tr -d ' \n')
check_true "serverkeygen: private exponent bytes not in the store" sh -c \
	"! cat '$EST_RUNDIR'/db/* 2>/dev/null | od -An -tx1 -v | tr -d ' \n' | grep -q '$khex'"

# /metrics counts serverkeygen as an enrolling endpoint.
est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_METRICS_URL"
check_match "serverkeygen: /metrics counts its issuances" \
	'estcgi_enrollments_total\{endpoint="serverkeygen",outcome="issued"\} [1-9]' "$(cat "$T/body")"
check_match "serverkeygen: /metrics counts the 501s" \
	'estcgi_http_responses_total\{endpoint="serverkeygen",code="5xx"\} [1-9]' "$(cat "$T/body")"

# Authentication as simpleenroll; errors as simpleenroll.
post "$EST_SERVERKEYGEN_LABEL/serverkeygen" "$T/skg.b64"
check "serverkeygen: no credentials 401" 401 "$STATUS"
post "$EST_SERVERKEYGEN_LABEL/serverkeygen" "$T/skg.b64" -u "$EST_USER:wrong"
check "serverkeygen: wrong password 401" 401 "$STATUS"
est -u "$EST_USER:$EST_PASS" "$EST_URL/$EST_SERVERKEYGEN_LABEL/serverkeygen"
expect_error "serverkeygen: GET" 405 "POST only"
est -u "$EST_USER:$EST_PASS" -H 'Content-Type: text/plain' --data-binary "@$T/skg.b64" \
	"$EST_URL/$EST_SERVERKEYGEN_LABEL/serverkeygen"
expect_error "serverkeygen: wrong Content-Type" 415 "application/pkcs10"
post "$EST_SERVERKEYGEN_LABEL/serverkeygen" "$T/skg.b64" -u "$EST_USER:$EST_PASS"
expect_error "serverkeygen: the device exists now" 409 "already registered"
