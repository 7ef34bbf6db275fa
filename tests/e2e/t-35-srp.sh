# TLS-SRP bootstrap (RFC 5054, apache-conf/estcgi-srp-vhost.conf): the
# device proves its SRP password and checks the server in the handshake,
# with no certificate; the SRP user is the enrollment user (REMOTE_USER
# through SSLUserName).  Apache only, when run.sh gave it an SRP port.
if [ -z "${EST_SRP_URL:-}" ]; then
	echo "# TLS-SRP: no SRP virtual host on ${EST_SERVER:-apache}; skipped"
	return 0
fi
# -k: an SRP suite sends no certificate; the password authenticated the
# server.  --tls-max 1.2 and curl's SRP-only cipher list keep it SRP.
SRP=(-k --tls-max 1.2 --tlsauthtype SRP --tlsuser "$EST_USER" --tlspassword "$EST_PASS")
S=srp-$$

STATUS=$(curl -sv "${SRP[@]}" -o "$T/body" -w '%{http_code}' "$EST_SRP_URL/cacerts" 2> "$T/srp.trace")
check "srp: cacerts over TLS-SRP: 200" 200 "$STATUS"
check_true "srp: an SRP cipher suite, TLS 1.2" grep -q 'SSL connection using TLSv1\.2 / SRP-' "$T/srp.trace"
check_true "srp: no server certificate sent" sh -c "! grep -q 'Server certificate:' '$T/srp.trace'"
p7_to_pem "$T/srp-cacerts.pem"
check "srp: cacerts holds the EST CA" "$(openssl x509 -in "$EST_CA_CERT" -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "$T/srp-cacerts.pem" -noout -fingerprint -sha256 2>&1)"

mkcsr "$S" "/CN=$S" ec
STATUS=$(curl -s "${SRP[@]}" -o "$T/body" -D "$T/headers" -w '%{http_code}' \
	-H 'Content-Type: application/pkcs10' --data-binary "@$T/$S.b64" "$EST_SRP_URL/bootstrap")
check "srp: bootstrap with the SRP user only: 200" 200 "$STATUS"
check "srp: bootstrap: Content-Length matches" "$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
p7_to_pem "$T/$S.pem"
check_true "srp: bootstrap certificate verifies" openssl verify -CAfile "$T/srp-cacerts.pem" "$T/$S.pem"
check_true "srp: the SRP user is the enrollment user (REMOTE_USER)" \
	grep -q "bootstrap issued device=$S .*user=$EST_USER " "$EST_RUNDIR/logs/error.log"
STATUS=$(curl -s "${SRP[@]}" -o "$T/body" -w '%{http_code}' \
	-H 'Content-Type: application/pkcs10' --data-binary "@$T/$S.b64" "$EST_SRP_URL/bootstrap")
check "srp: bootstrap again: 409" 409 "$STATUS"

# The certificate works on the certificate virtual host.
mkcsr "$S-op" "/CN=$S" ec
post simpleenroll "$T/$S-op.b64" --cert "$T/$S.pem" --key "$T/$S.key"
check "srp: simpleenroll with the SRP-bootstrapped certificate: 200" 200 "$STATUS"

# Refusals.
curl -s -k --tls-max 1.2 --tlsauthtype SRP --tlsuser "$EST_USER" --tlspassword "wrong-$EST_PASS" \
	-o /dev/null "$EST_SRP_URL/cacerts"
check "srp: wrong SRP password: handshake fails (curl 35)" 35 "$?"
curl -s -k --tls-max 1.2 --tlsauthtype SRP --tlsuser "nobody-$$" --tlspassword "$EST_PASS" \
	-o /dev/null "$EST_SRP_URL/cacerts"
check "srp: unknown SRP user: handshake fails (curl 35)" 35 "$?"
curl -s --cacert "$EST_TLS_CA" -o /dev/null "$EST_SRP_URL/cacerts"
check "srp: a client without SRP gets no handshake (curl 35)" 35 "$?"
curl -s -k --tlsv1.3 --tlsauthtype SRP --tlsuser "$EST_USER" --tlspassword "$EST_PASS" \
	-o /dev/null "$EST_SRP_URL/cacerts" 2>/dev/null
check_true "srp: TLS 1.3 refused" test "$?" -ne 0
mkcsr "$S-e" "/CN=$S-e" ec
STATUS=$(curl -s "${SRP[@]}" -o "$T/body" -D "$T/headers" -w '%{http_code}' \
	-H 'Content-Type: application/pkcs10' --data-binary "@$T/$S-e.b64" "$EST_SRP_URL/simpleenroll")
expect_error "srp: simpleenroll on the SRP virtual host" 403 "forbidden"
# On the Basic virtual host a forged SSL_SRP_USER header is no identity.
post bootstrap "$T/$S-e.b64" -H "SSL_SRP_USER: $EST_USER" -H "SSL-SRP-USER: $EST_USER"
check "srp: forged SSL_SRP_USER header: 401" 401 "$STATUS"
