# /csrattrs (RFC 7030 4.5): 204 where a label announces nothing, else
# application/csrattrs, base64 DER that openssl asn1parse decodes; what
# it announces about the key is what enrollment accepts.  The demo's rsa
# label announces challengePassword, sha256WithRSAEncryption, an RSA
# key of 2048 bits and an extensionRequest for subjectAltName.
CA=$T/csrattrs
mkdir -p "$CA"

est "$EST_URL/csrattrs"
check "csrattrs: default label announces nothing: 204" 204 "$STATUS"
check "csrattrs: 204 has no body" 0 "$(wc -c < "$T/body" | tr -d ' ')"
est "$EST_URL/manual/csrattrs"
check "csrattrs: manual (inherits the default) 204" 204 "$STATUS"

est "$EST_URL/rsa/csrattrs"
check "csrattrs: rsa 200" 200 "$STATUS"
check "csrattrs: Content-Type application/csrattrs" application/csrattrs \
	"$(header Content-Type)"
check "csrattrs: Content-Transfer-Encoding base64" base64 \
	"$(header Content-Transfer-Encoding)"
check "csrattrs: Content-Length matches the body" \
	"$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
base64 -d < "$T/body" > "$CA/rsa.der"
check_true "csrattrs: openssl asn1parse decodes the body" \
	openssl asn1parse -inform DER -in "$CA/rsa.der"
openssl asn1parse -inform DER -in "$CA/rsa.der" > "$CA/rsa.txt" 2>&1
check_match "csrattrs: a SEQUENCE at the top" '^ *0:d=0 .*cons: SEQUENCE' \
	"$(head -n 1 "$CA/rsa.txt")"
check_match "csrattrs: challengePassword OID" 'd=1 .*OBJECT +:challengePassword' \
	"$(cat "$CA/rsa.txt")"
check_match "csrattrs: signature algorithm OID" 'd=1 .*OBJECT +:sha256WithRSAEncryption' \
	"$(cat "$CA/rsa.txt")"
check_match "csrattrs: key attribute rsaEncryption" 'd=2 .*OBJECT +:rsaEncryption' \
	"$(cat "$CA/rsa.txt")"
check_match "csrattrs: key size 2048 (INTEGER 0x800)" 'd=3 .*INTEGER +:0800' \
	"$(cat "$CA/rsa.txt")"
check_match "csrattrs: extensionRequest attribute" 'd=2 .*OBJECT +:Extension Request' \
	"$(cat "$CA/rsa.txt")"
check_match "csrattrs: extensionRequest names subjectAltName" \
	'd=3 .*OBJECT +:X509v3 Subject Alternative Name' "$(cat "$CA/rsa.txt")"
check "csrattrs: the DER is all used" "$(wc -c < "$CA/rsa.der" | tr -d ' ')" \
	"$(openssl asn1parse -inform DER -in "$CA/rsa.der" | head -n 1 |
	   sed -n 's/.*hl=\([0-9]*\) l= *\([0-9]*\).*/\1 \2/p' | awk '{print $1 + $2}')"

est -X POST --data-binary x "$EST_URL/rsa/csrattrs"
expect_error "csrattrs: POST" 405 "csrattrs takes GET"
check "csrattrs: 405 names GET" "GET, HEAD" "$(header Allow)"
est "$EST_URL/nolabel/csrattrs"
expect_error "csrattrs: unknown label" 404 "unknown CA label"

# What is announced is enforced: rsa accepts RSA-2048 only.
mkcsr cattr-ec "/CN=cattr-ec-$$" ec
post rsa/simpleenroll "$T/cattr-ec.b64" -u "$EST_USER:$EST_PASS"
expect_error "csrattrs: an EC key at label rsa" 400 \
	"policy.key_types of label 'rsa': P-256 key not accepted"
mkcsr cattr-ed "/CN=cattr-ed-$$" ed25519
post rsa/simpleenroll "$T/cattr-ed.b64" -u "$EST_USER:$EST_PASS"
expect_error "csrattrs: an Ed25519 key at label rsa" 400 "policy.key_types"
mkcsr cattr-rsa "/CN=cattr-rsa-$$" rsa
post rsa/simpleenroll "$T/cattr-rsa.b64" -u "$EST_USER:$EST_PASS"
check "csrattrs: the announced RSA-2048 key at label rsa 200" 200 "$STATUS"
