# CA labels (RFC 7030 3.2.2): /.well-known/est/<label>/<operation> with
# the label's own CA; unknown and malformed labels are 404; a client
# certificate counts only at its own label's CA.  The demo's labels:
# rsa (its own RSA-2048 CA), manual and strict (the default CA).
L=$T/labels
mkdir -p "$L"
check "labels: demo.env names the labels" "rsa manual strict" "$EST_LABELS"
check "labels: demo.env names the manual label" manual "$EST_MANUAL_LABEL"

# cacerts per label: its own CA (rsa), the default's (manual).
for lb in "" rsa manual strict; do
	est "$EST_URL/${lb:+$lb/}cacerts"
	check "labels: ${lb:-default} cacerts 200" 200 "$STATUS"
	p7_to_pem "$L/cacerts-${lb:-default}.pem"
done
check_match "labels: rsa cacerts is the rsa CA" 'CN ?= ?estcgi demo EST CA rsa' \
	"$(openssl x509 -in "$L/cacerts-rsa.pem" -noout -subject)"
check "labels: the rsa CA key is RSA-2048" "2048" \
	"$(openssl x509 -in "$L/cacerts-rsa.pem" -noout -text | sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p')"
check "labels: rsa cacerts equals EST_RSA_CA_CERT" \
	"$(openssl x509 -in "$EST_RSA_CA_CERT" -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "$L/cacerts-rsa.pem" -noout -fingerprint -sha256)"
check "labels: manual uses the default CA" \
	"$(openssl x509 -in "$L/cacerts-default.pem" -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "$L/cacerts-manual.pem" -noout -fingerprint -sha256)"
check_true "labels: default and rsa CAs differ" test \
	"$(openssl x509 -in "$L/cacerts-default.pem" -noout -fingerprint -sha256)" != \
	"$(openssl x509 -in "$L/cacerts-rsa.pem" -noout -fingerprint -sha256)"

# Unknown and malformed labels: 404 with a reason from the program, or
# refused by the web server before (never a certificate).
est "$EST_URL/nolabel/cacerts"
expect_error "labels: unknown label" 404 "unknown CA label 'nolabel'"
est -u "$EST_USER:$EST_PASS" -H 'Content-Type: application/pkcs10' \
	--data-binary @/dev/null "$EST_URL/nolabel/simpleenroll"
expect_error "labels: unknown label on simpleenroll" 404 "unknown CA label"
est "$EST_URL/$(printf 'a%.0s' $(seq 1 33))/cacerts"
expect_error "labels: a 33-character label" 404 "CA label is not"
for bad in '..' '%2e%2e' '%2E' '.' 'rsa%00' 'r%73a' 'rsa%2fx' 'a~b' 'a%20b' 'rsa/x'; do
	est --path-as-is "$EST_URL/$bad/cacerts"
	case $STATUS in
	400|403|404) ok "labels: '$bad' refused ($STATUS)" ;;
	*) not_ok "labels: '$bad' refused (got $STATUS)" ;;
	esac
	check_true "labels: '$bad' answers no certificate" sh -c \
		"! base64 -d < '$T/body' 2>/dev/null | openssl pkcs7 -inform DER -noout 2>/dev/null"
done

# Enrollment at the rsa label: its CA signs; the certificate verifies
# against that chain only.
mkcsr lrsa "/CN=lab-rsa-$$" rsa
post rsa/simpleenroll "$T/lrsa.b64" -u "$EST_USER:$EST_PASS"
check "labels: rsa simpleenroll 200" 200 "$STATUS"
p7_to_pem "$L/lrsa.pem"
check_true "labels: rsa certificate verifies against the rsa CA" \
	openssl verify -CAfile "$EST_RSA_CA_CERT" "$L/lrsa.pem"
check_true "labels: rsa certificate does not verify against the default CA" \
	sh -c "! openssl verify -CAfile '$EST_CA_CERT' '$L/lrsa.pem'"
check_match "labels: rsa profile: clientAuth and serverAuth" \
	'TLS Web Server Authentication, TLS Web Client Authentication|TLS Web Client Authentication, TLS Web Server Authentication' \
	"$(openssl x509 -in "$L/lrsa.pem" -noout -ext extendedKeyUsage)"
mkcsr ldef "/CN=lab-def-$$" ec
post simpleenroll "$T/ldef.b64" -u "$EST_USER:$EST_PASS"
check "labels: default simpleenroll 200" 200 "$STATUS"
p7_to_pem "$L/ldef.pem"
check_true "labels: default certificate verifies against the default CA" \
	openssl verify -CAfile "$EST_CA_CERT" "$L/ldef.pem"
check_true "labels: default certificate does not verify against the rsa CA" \
	sh -c "! openssl verify -CAfile '$EST_RSA_CA_CERT' '$L/ldef.pem'"
check "labels: default profile: clientAuth only" "TLS Web Client Authentication" \
	"$(openssl x509 -in "$L/ldef.pem" -noout -ext extendedKeyUsage | sed -n '2s/^ *//p')"
# bootstrap per label too.
mkcsr lboot "/CN=lab-boot-$$" rsa
post rsa/bootstrap "$T/lboot.b64" -u "$EST_USER:$EST_PASS"
check "labels: rsa bootstrap 200" 200 "$STATUS"
p7_to_pem "$L/lboot.pem"
check_true "labels: rsa bootstrap certificate is the rsa CA's" \
	openssl verify -CAfile "$EST_RSA_CA_CERT" "$L/lboot.pem"

# The store keeps the label with each certificate (registry API).
est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_API_URL/devices/lab-rsa-$$"
check "labels: API device 200" 200 "$STATUS"
check "labels: the stored certificate names label rsa" rsa \
	"$(jq -r '.certificates[0].label' "$T/body")"
est -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" "$EST_API_URL/devices/lab-def-$$"
check "labels: the default label is stored as \"\"" "" \
	"$(jq -r '.certificates[0].label' "$T/body")"

# A client certificate counts at its own label's CA only (403 with the
# reason elsewhere); at its own label it re-enrolls.
openssl req -new -key "$T/lrsa.key" -subj "/CN=lab-rsa-$$" -outform DER |
	base64 > "$L/lrsa-re.b64"
post simplereenroll "$L/lrsa-re.b64" --cert "$L/lrsa.pem" --key "$T/lrsa.key"
expect_error "labels: rsa certificate at the default label" 403 \
	"not from the CA of label '\(default\)'"
post manual/simplereenroll "$L/lrsa-re.b64" --cert "$L/lrsa.pem" --key "$T/lrsa.key"
expect_error "labels: rsa certificate at label manual" 403 \
	"not from the CA of label 'manual'"
openssl req -new -key "$T/ldef.key" -subj "/CN=lab-def-$$" -outform DER |
	base64 > "$L/ldef-re.b64"
post rsa/simplereenroll "$L/ldef-re.b64" --cert "$L/ldef.pem" --key "$T/ldef.key"
expect_error "labels: default certificate at label rsa" 403 \
	"not from the CA of label 'rsa'"
post rsa/simpleenroll "$L/ldef-re.b64" --cert "$L/ldef.pem" --key "$T/ldef.key"
expect_error "labels: default certificate, simpleenroll at label rsa" 403 \
	"not from the CA of label 'rsa'"
post rsa/simplereenroll "$L/lrsa-re.b64" --cert "$L/lrsa.pem" --key "$T/lrsa.key"
check "labels: rsa certificate re-enrolls at label rsa" 200 "$STATUS"
p7_to_pem "$L/lrsa2.pem"
check_true "labels: the renewed certificate is the rsa CA's" \
	openssl verify -CAfile "$EST_RSA_CA_CERT" "$L/lrsa2.pem"
