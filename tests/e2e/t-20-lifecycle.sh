# The whole life of a device: bootstrap with a password, simpleenroll
# with the bootstrap certificate, simplereenroll with the operational
# one (RFC 7030 4.2.1, 4.2.2), each certificate verified with openssl.
AUTH=(-u "$EST_USER:$EST_PASS")
DEV=life-$$

mkcsr boot "/CN=$DEV/O=estcgi test" ec -addext "subjectAltName=DNS:$DEV.example"
post bootstrap "$T/boot.b64" "${AUTH[@]}"
check "bootstrap: 200" 200 "$STATUS"
check "bootstrap: Content-Type" "application/pkcs7-mime; smime-type=certs-only" "$(header Content-Type)"
check "bootstrap: Content-Transfer-Encoding" base64 "$(header Content-Transfer-Encoding)"
check "bootstrap: Content-Length matches" "$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
p7_to_pem "$T/boot.pem"
check_true "bootstrap: cert verifies against cacerts" openssl verify -CAfile "$T/cacerts.pem" "$T/boot.pem"
check_match "bootstrap: subject kept" "CN ?= ?$DEV" "$(openssl x509 -in "$T/boot.pem" -noout -subject)"
check_match "bootstrap: SAN copied" "DNS:$DEV.example" "$(openssl x509 -in "$T/boot.pem" -noout -ext subjectAltName)"
check_match "bootstrap: clientAuth" "TLS Web Client Authentication" "$(openssl x509 -in "$T/boot.pem" -noout -ext extendedKeyUsage)"
check_match "bootstrap: CA:FALSE critical" "critical" "$(openssl x509 -in "$T/boot.pem" -noout -ext basicConstraints)"
check_true "bootstrap: key matches CSR" cmp <(openssl x509 -in "$T/boot.pem" -noout -pubkey) <(openssl pkey -in "$T/boot.key" -pubout)
days=$(( ( $(date -d "$(openssl x509 -in "$T/boot.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ) / 86400 ))
check_match "bootstrap: 30-day certificate" "^(29|30)$" "$days"
serial_hex=$(cert_serial "$T/boot.pem")
check_true "bootstrap: serial has >= 127 bits" test "${#serial_hex}" -ge 32

post bootstrap "$T/boot.b64" "${AUTH[@]}"
expect_error "bootstrap again" 409 "device '$DEV' already registered; delete it to re-enroll"

# simpleenroll with the bootstrap certificate: operational certificate.
mkcsr op1 "/CN=$DEV/O=estcgi test" ec -addext "subjectAltName=DNS:$DEV.example"
post simpleenroll "$T/op1.b64" --cert "$T/boot.pem" --key "$T/boot.key"
check "simpleenroll with bootstrap cert: 200" 200 "$STATUS"
p7_to_pem "$T/op1.pem"
check_true "simpleenroll: cert verifies" openssl verify -CAfile "$T/cacerts.pem" "$T/op1.pem"
days=$(( ( $(date -d "$(openssl x509 -in "$T/op1.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ) / 86400 ))
check_match "simpleenroll: 365-day certificate" "^(364|365)$" "$days"

post simpleenroll "$T/op1.b64" --cert "$T/boot.pem" --key "$T/boot.key"
expect_error "simpleenroll with superseded bootstrap cert" 403 "not device '$DEV''s current certificate"

mkcsr other "/CN=other-$$" ec
post simpleenroll "$T/other.b64" --cert "$T/op1.pem" --key "$T/op1.key"
expect_error "simpleenroll for another device ID" 403 "differs from the client certificate"

# simplereenroll: same subject and SAN, new key (rekey).
mkcsr op2 "/CN=$DEV/O=estcgi test" ec -addext "subjectAltName=DNS:$DEV.example"
post simplereenroll "$T/op2.b64" --cert "$T/op1.pem" --key "$T/op1.key"
check "simplereenroll: 200" 200 "$STATUS"
p7_to_pem "$T/op2.pem"
check_true "simplereenroll: cert verifies" openssl verify -CAfile "$T/cacerts.pem" "$T/op2.pem"
check_true "simplereenroll: new serial" test "$(cert_serial "$T/op1.pem")" != "$(cert_serial "$T/op2.pem")"
check_true "simplereenroll: new key" cmp <(openssl x509 -in "$T/op2.pem" -noout -pubkey) <(openssl pkey -in "$T/op2.key" -pubout)

# The demo has revoke_on_reenroll on: the replaced certificate is revoked.
post simplereenroll "$T/op2.b64" --cert "$T/op1.pem" --key "$T/op1.key"
expect_error "simplereenroll with the superseded cert" 403 "^client certificate is revoked \(superseded\)$"

mkcsr op3 "/CN=$DEV/O=other org" ec -addext "subjectAltName=DNS:$DEV.example"
post simplereenroll "$T/op3.b64" --cert "$T/op2.pem" --key "$T/op2.key"
expect_error "simplereenroll with a changed subject" 400 "[Ss]ubject"
mkcsr op4 "/CN=$DEV/O=estcgi test" ec -addext "subjectAltName=DNS:evil.example"
post simplereenroll "$T/op4.b64" --cert "$T/op2.pem" --key "$T/op2.key"
expect_error "simplereenroll with a changed SAN" 400 "subjectAltName"

post simplereenroll "$T/op2.b64" "${AUTH[@]}"
check "simplereenroll with a password only: 403" 403 "$STATUS"

# simpleenroll with a password: first contact of a new device.
mkcsr pw "/CN=pw-$$" ec
post simpleenroll "$T/pw.b64" "${AUTH[@]}"
check "simpleenroll with password: 200" 200 "$STATUS"
post simpleenroll "$T/pw.b64" "${AUTH[@]}"
expect_error "simpleenroll with password, known device" 409 "already registered"

# Key types accepted: RSA-2048, P-384, Ed25519.
for kt in rsa p384 ed25519; do
	mkcsr "kt-$kt" "/CN=kt-$kt-$$" "$kt"
	post bootstrap "$T/kt-$kt.b64" "${AUTH[@]}"
	check "bootstrap with a $kt key: 200" 200 "$STATUS"
done
