# Per-label CSR policy, checked before signing: every refusal names its
# rule and label; nothing is stored for a refused request.  The demo's
# strict label: P-256/P-384 keys, SHA-384/512 signatures, subject CN and
# O required, only CN/O/OU, O "estcgi demo", OU "sensors"/"gateways",
# dNSName SANs under .example.com only, at most 7 days, keyUsage
# digitalSignature, EKU serverAuth.  The default label's policy: RSA >=
# 2048, P-256, P-384, Ed25519.
PO=$T/policy
mkdir -p "$PO"

# pol NAME SUBJ KEYTYPE [openssl req args] — a CSR, POSTed with Basic
# auth to strict/simpleenroll.
pol() {
	local name=$1 subj=$2 kt=$3
	shift 3
	mkcsr "pol-$name" "$subj" "$kt" "$@"
	post strict/simpleenroll "$T/pol-$name.b64" -u "$EST_USER:$EST_PASS"
}
O="/O=estcgi demo"

pol rsa "/CN=pol-rsa-$$$O" rsa -sha384
expect_error "policy: RSA at strict" 400 "^policy.key_types of label 'strict': RSA key not accepted$"
pol ed "/CN=pol-ed-$$$O" ed25519
expect_error "policy: Ed25519 at strict" 400 "^policy.key_types of label 'strict': Ed25519 key not accepted$"
pol sha256 "/CN=pol-sha256-$$$O" ec -sha256
expect_error "policy: SHA-256 at strict" 400 "^policy.hashes of label 'strict': CSR signed with SHA256, not accepted$"
pol noo "/CN=pol-noo-$$" ec -sha384
expect_error "policy: no O" 403 "^policy.subject_required of label 'strict': subject has no O$"
pol extra "/CN=pol-extra-$$$O/L=Berlin" ec -sha384
expect_error "policy: L not allowed" 403 "^policy.subject_allowed of label 'strict': subject attribute L not allowed$"
pol badorg "/CN=pol-badorg-$$/O=Evil Corp" ec -sha384
expect_error "policy: O value" 403 "^policy.allowed_o of label 'strict': subject O value not allowed$"
pol badou "/CN=pol-badou-$$$O/OU=printers" ec -sha384
expect_error "policy: OU value" 403 "^policy.allowed_ou of label 'strict': subject OU value not allowed$"
pol sanip "/CN=pol-sanip-$$$O" ec -sha384 -addext "subjectAltName=IP:10.1.2.3"
expect_error "policy: IP SAN" 403 "^policy.san_types of label 'strict': subjectAltName entry 1 of a type not allowed$"
pol sanmail "/CN=pol-sanmail-$$$O" ec -sha384 -addext "subjectAltName=DNS:a.example.com,email:x@example.com"
expect_error "policy: email SAN" 403 "policy.san_types of label 'strict': subjectAltName entry 2 "
pol sandns "/CN=pol-sandns-$$$O" ec -sha384 -addext "subjectAltName=DNS:host.example.org"
expect_error "policy: DNS SAN pattern" 403 "^policy.san_pattern of label 'strict': subjectAltName entry 1 does not match$"
pol sanwild "/CN=pol-sanwild-$$$O" ec -sha384 -addext "subjectAltName=DNS:a.b.example.com"
expect_error "policy: DNS SAN pattern (two labels)" 403 "policy.san_pattern"
# Nothing stored for the refusals: the devices do not exist.
for n in rsa sha256 noo badou sandns; do
	est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_API_URL/devices/pol-$n-$$"
	check "policy: refused pol-$n-$$ not stored" 404 "$STATUS"
done

# What the policy allows, and the label's profile on it.
pol good "/CN=pol-good-$$$O/OU=sensors" p384 -sha384 -addext "subjectAltName=DNS:pol-good.example.com"
check "policy: a conforming CSR at strict 200" 200 "$STATUS"
p7_to_pem "$PO/good.pem"
nb=$(date -d "$(openssl x509 -in "$PO/good.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$PO/good.pem" -noout -enddate | cut -d= -f2)" +%s)
check "policy: validity capped by max_validity_days (7 days + 5 min skew)" \
	$((7 * 86400 + 300)) $((na - nb))
check "policy: strict keyUsage digitalSignature only" "Digital Signature" \
	"$(openssl x509 -in "$PO/good.pem" -noout -ext keyUsage | sed -n '2s/^ *//p')"
check "policy: strict extendedKeyUsage serverAuth" "TLS Web Server Authentication" \
	"$(openssl x509 -in "$PO/good.pem" -noout -ext extendedKeyUsage | sed -n '2s/^ *//p')"
check "policy: SAN copied" "DNS:pol-good.example.com" \
	"$(openssl x509 -in "$PO/good.pem" -noout -ext subjectAltName | sed -n '2s/^ *//p')"
pol good2 "/CN=pol-good2-$$$O/OU=gateways" ec -sha512
check "policy: P-256 with SHA-512, OU gateways 200" 200 "$STATUS"

# The default label's policy: P-521 refused, the others accepted.
# (mkcsr keeps a key that exists)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$T/pol-p521.key"
mkcsr pol-p521 "/CN=pol-p521-$$" ec
post simpleenroll "$T/pol-p521.b64" -u "$EST_USER:$EST_PASS"
expect_error "policy: P-521 at the default label" 400 \
	"^policy.key_types of label '\(default\)': P-521 key not accepted$"
mkcsr pol-ed "/CN=pol-ed25519-$$" ed25519
post simpleenroll "$T/pol-ed.b64" -u "$EST_USER:$EST_PASS"
check "policy: Ed25519 at the default label 200" 200 "$STATUS"
mkcsr pol-small "/CN=pol-small-$$" rsa1024
post simpleenroll "$T/pol-small.b64" -u "$EST_USER:$EST_PASS"
expect_error "policy: RSA-1024 at the default label" 400 "too small"

# copy_extensions: label rsa copies a CSR's other extensions, the
# default label copies its subjectAltName only; neither takes a CSR's
# basicConstraints.
for lb in rsa default; do
	mkcsr "pol-ext-$lb" "/CN=pol-ext-$lb-$$" rsa \
		-addext "1.2.3.4.5=ASN1:UTF8String:hello" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "subjectAltName=DNS:pol-ext.example.com"
	if [ "$lb" = default ]; then p=simpleenroll; else p=$lb/simpleenroll; fi
	post "$p" "$T/pol-ext-$lb.b64" -u "$EST_USER:$EST_PASS"
	check "policy: extensions CSR at $lb 200" 200 "$STATUS"
	p7_to_pem "$PO/ext-$lb.pem"
	openssl x509 -in "$PO/ext-$lb.pem" -noout -text > "$PO/ext-$lb.txt"
	check_match "policy: $lb keeps CA:FALSE" 'CA:FALSE' "$(cat "$PO/ext-$lb.txt")"
	check_true "policy: $lb SAN copied" grep -q 'DNS:pol-ext.example.com' "$PO/ext-$lb.txt"
done
check_true "policy: rsa (copy_extensions) copies 1.2.3.4.5" grep -q '1\.2\.3\.4\.5' "$PO/ext-rsa.txt"
check_true "policy: default does not copy 1.2.3.4.5" sh -c "! grep -q '1\.2\.3\.4\.5' '$PO/ext-default.txt'"
