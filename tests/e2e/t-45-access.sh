# Per-endpoint access, the cases the other files leave out, on every
# web server: a client certificate is no credential for bootstrap, and
# what a wrong password beside a valid certificate gets on simpleenroll.
AUTH=(-u "$EST_USER:$EST_PASS")
A=acc-$$
mkcsr "$A" "/CN=$A" ec
post bootstrap "$T/$A.b64" "${AUTH[@]}"
check "access: bootstrap for the certificate: 200" 200 "$STATUS"
p7_to_pem "$T/$A.pem"

est --cert "$T/$A.pem" --key "$T/$A.key" "$EST_URL/cacerts"
check "access: cacerts with a client certificate: 200" 200 "$STATUS"
mkcsr "$A-b" "/CN=$A-b" ec
post bootstrap "$T/$A-b.b64" --cert "$T/$A.pem" --key "$T/$A.key"
check "access: bootstrap with a certificate and no password: 401" 401 "$STATUS"
check_match "access: bootstrap asks for Basic" '^Basic ' "$(header WWW-Authenticate)"

mkcsr "$A-op" "/CN=$A" ec
post simpleenroll "$T/$A-op.b64" --cert "$T/$A.pem" --key "$T/$A.key" -u "$EST_USER:wrong-$EST_PASS"
case ${EST_SERVER:-apache} in
lighttpd)
	# lighttpd checks Basic credentials whenever they are sent (it has
	# no "certificate or password" rule; lighttpd-estcgi.conf).
	check "access: simpleenroll, valid certificate + wrong password: 401 (lighttpd)" 401 "$STATUS" ;;
*)
	# Apache's RequireAny is satisfied by the certificate and does not
	# check the password (PLATFORM-NOTES); the program uses the
	# certificate.
	check "access: simpleenroll, valid certificate + wrong password: 200 (Apache)" 200 "$STATUS" ;;
esac
