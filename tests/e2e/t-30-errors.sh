# Every error status with its one-line reason; nothing is stored for a
# refused request (the device can still bootstrap afterwards).
AUTH=(-u "$EST_USER:$EST_PASS")
E=err-$$
mkcsr "$E" "/CN=$E" ec

post bootstrap "$T/$E.b64"
check "no credentials: 401" 401 "$STATUS"
check_match "no credentials: WWW-Authenticate Basic" '^Basic ' "$(header WWW-Authenticate)"
check "401: Content-Length matches" "$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
post bootstrap "$T/$E.b64" -u "$EST_USER:wrong-password"
check "wrong password: 401" 401 "$STATUS"
post simpleenroll "$T/$E.b64"
check "simpleenroll, no credentials: 401" 401 "$STATUS"
check_match "simpleenroll, no credentials: WWW-Authenticate" '^Basic ' "$(header WWW-Authenticate)"
post simplereenroll "$T/$E.b64"
check "simplereenroll, no client certificate: 403" 403 "$STATUS"

est -H 'Content-Type: text/plain' --data-binary "@$T/$E.b64" "${AUTH[@]}" "$EST_URL/bootstrap"
expect_error "wrong Content-Type" 415 "application/pkcs10"
est -H 'Content-Type: application/pkcs10-foo' --data-binary "@$T/$E.b64" "${AUTH[@]}" "$EST_URL/bootstrap"
expect_error "application/pkcs10-foo is not application/pkcs10" 415 "application/pkcs10"
est -H 'Content-Type:' --data-binary "@$T/$E.b64" "${AUTH[@]}" "$EST_URL/bootstrap"
expect_error "no Content-Type" 415 "application/pkcs10"
mkcsr ctcase "/CN=ctcase-$$" ec
est -H 'Content-Type: Application/PKCS10; charset=x' --data-binary "@$T/ctcase.b64" "${AUTH[@]}" "$EST_URL/simpleenroll"
check "Content-Type case and parameters ignored: 200" 200 "$STATUS"

est "${AUTH[@]}" "$EST_URL/bootstrap"
expect_error "GET bootstrap" 405 "POST"
check "GET bootstrap: Allow" POST "$(header Allow)"

printf 'this is not base64!\n' > "$T/bad64"
post bootstrap "$T/bad64" "${AUTH[@]}"
expect_error "bad base64" 400 "base64"
head -c 300 /dev/urandom | base64 > "$T/garbage"
post bootstrap "$T/garbage" "${AUTH[@]}"
expect_error "base64 of garbage" 400 "CSR|DER"
{ cat "$T/$E.der"; printf 'junk'; } | base64 > "$T/trail"
post bootstrap "$T/trail" "${AUTH[@]}"
expect_error "trailing bytes after the CSR" 400 "trailing"
# Flip a bit inside the signature (the last bytes of the DER).
cp "$T/$E.der" "$T/badsig.der"
off=$(( $(wc -c < "$T/badsig.der") - 3 ))
byte=$(od -An -tu1 -j "$off" -N1 "$T/badsig.der" | tr -d ' ')
printf "\\$(printf %o $((byte ^ 1)))" | dd of="$T/badsig.der" bs=1 seek="$off" conv=notrunc 2>/dev/null
check_true "bad signature: the CSR was changed" sh -c "! cmp -s '$T/$E.der' '$T/badsig.der'"
base64 < "$T/badsig.der" > "$T/badsig"
post bootstrap "$T/badsig" "${AUTH[@]}"
expect_error "bad CSR signature" 400 "signature"
mkcsr nocn "/O=no common name" ec
post bootstrap "$T/nocn.b64" "${AUTH[@]}"
expect_error "CSR without CN" 400 "CN"
mkcsr badcn "/CN=bad<script>" ec
post bootstrap "$T/badcn.b64" "${AUTH[@]}"
expect_error "CN outside the pattern" 400 "pattern|device ID"
check_true "CN outside the pattern: reason does not echo markup" sh -c "! grep -q '<script>' '$T/body'"
mkcsr spacecn "/CN=has space" ec
post bootstrap "$T/spacecn.b64" "${AUTH[@]}"
expect_error "CN with a space" 400 "device ID|CN|pattern"
mkcsr weak "/CN=weak-$$" rsa1024
post bootstrap "$T/weak.b64" "${AUTH[@]}"
expect_error "RSA-1024 key" 400 "RSA|key"
mkcsr sha1 "/CN=sha1-$$" ec -sha1
post bootstrap "$T/sha1.b64" "${AUTH[@]}"
expect_error "SHA-1 signed CSR" 400 "SHA-?1|hash"

head -c 20000 /dev/zero | tr '\0' 'A' > "$T/huge"
post bootstrap "$T/huge" "${AUTH[@]}"
expect_error "body over the limit" 413 "larger than"

est "$EST_URL/nosuchop"
expect_error "unknown operation" 404 "unknown EST operation"
# (with a body, as a real fullcmc request: lighttpd answers a POST with
# no Content-Length 411 itself)
est -H 'Content-Type: application/pkcs7-mime' --data-binary "@$T/$E.b64" "$EST_URL/fullcmc"
expect_error "fullcmc" 501 "fullcmc"
est "$EST_URL/csrattrs"
check "csrattrs: the default label announces nothing: 204 (RFC 7030 4.5.2)" 204 "$STATUS"

# Headers cannot forge identity: only what Apache sets counts.
post simpleenroll "$T/$E.b64" -H "REMOTE_USER: $EST_USER" -H 'SSL_CLIENT_VERIFY: SUCCESS' \
	-H 'X-Remote-User: estuser'
check "forged identity headers: 401" 401 "$STATUS"

# Nothing was stored by any refusal: the device still bootstraps.
post bootstrap "$T/$E.b64" "${AUTH[@]}"
check "after all refusals the device bootstraps: 200" 200 "$STATUS"
