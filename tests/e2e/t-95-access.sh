# The access matrix (tests/corpus/access/matrix.tab): every endpoint x
# every caller, the exact status per cell, printed as a table; no cell
# may succeed (2xx) where the table says it must not.  Apache only (the
# table is Apache's answers; t-45-access.sh covers lighttpd's
# differences).
case ${EST_SERVER:-apache} in
apache|apache-cgi) ;;
*)	echo "# access matrix: written for Apache; skipped on $EST_SERVER"
	return 0 ;;
esac
MX=$T/matrix
MX_TAB=tests/corpus/access/matrix.tab
MX_CALLERS=(none badpass user admin cert other foreign revoked)
mkdir -p "$MX"

# mx_device NAME — bootstraps device mx-NAME-PID with a new key; leaves
# $MX/NAME.key, .pem (its certificate) and .b64 (a CSR for it).
mx_device() {
	local id="mx-$1-$$"
	newkey "$MX/$1.key" ec
	openssl req -new -key "$MX/$1.key" -subj "/CN=$id" -outform DER |
		base64 > "$MX/$1.b64"
	post bootstrap "$MX/$1.b64" -u "$EST_USER:$EST_PASS"
	[ "$STATUS" = 200 ] || { not_ok "matrix: device $id bootstraps ($STATUS)"; return; }
	p7_to_pem "$MX/$1.pem"
}

# The callers that stay the same in every cell: another device's and a
# revoked certificate, one from another CA (same issuer name).
mx_device other
mx_device revoked
post_admin_delete() {
	est -X DELETE -H 'X-EST-Admin: 1' -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" \
		"$EST_API_URL/devices/$1"
}
post_admin_delete "mx-revoked-$$"
check "matrix: the device of the revoked certificate is deleted" 200 "$STATUS"
newkey "$MX/foreign-ca.key" ec
openssl req -x509 -new -key "$MX/foreign-ca.key" -subj "/O=estcgi demo/CN=estcgi demo EST CA" \
	-days 30 -out "$MX/foreign-ca.pem"
newkey "$MX/foreign.key" ec
"${BUILD:-build}/tools/hostile-csr" cert "$MX/foreign-ca.pem" "$MX/foreign-ca.key" \
	"$MX/foreign.key" "mx-foreign-$$" -1 30 > "$MX/foreign.pem"
openssl req -new -key "$MX/foreign.key" -subj "/CN=mx-foreign-$$" -outform DER |
	base64 > "$MX/foreign.b64"

mx_n=0 mx_unauth=0 mx_bad=0
printf '# %-36s' "access matrix (expected/got)" > "$MX/table"
for c in "${MX_CALLERS[@]}"; do printf ' %-8s' "$c" >> "$MX/table"; done
echo >> "$MX/table"
while IFS='|' read -r ep want; do
	read -r method path <<< "$ep"
	read -r -a wants <<< "$want"
	printf '# %-36s' "$method $path" >> "$MX/table"
	for k in "${!MX_CALLERS[@]}"; do
		caller=${MX_CALLERS[k]}
		mx_n=$((mx_n + 1))
		cell=$mx_n
		args=()
		# Credentials and the CSR a POST carries.
		csr=""
		case $caller in
		none) ;;
		badpass) args=(-u "$EST_USER:wrong-$$") ;;
		user)    args=(-u "$EST_USER:$EST_PASS") ;;
		admin)   args=(-u "$EST_ADMIN_USER:$EST_ADMIN_PASS") ;;
		cert)    mx_device "c$cell"; args=(--cert "$MX/c$cell.pem" --key "$MX/c$cell.key")
		         csr=$MX/c$cell.b64 ;;
		other)   mx_device "o$cell"; args=(--cert "$MX/other.pem" --key "$MX/other.key")
		         csr=$MX/o$cell.b64 ;;
		foreign) args=(--cert "$MX/foreign.pem" --key "$MX/foreign.key")
		         csr=$MX/foreign.b64 ;;
		revoked) args=(--cert "$MX/revoked.pem" --key "$MX/revoked.key")
		         csr=$MX/revoked.b64 ;;
		esac
		if [ -z "$csr" ]; then
			openssl req -new -key "$MX/other.key" -subj "/CN=mx-new-$cell-$$" \
				-outform DER | base64 > "$MX/new.b64"
			csr=$MX/new.b64
		fi
		url=$EST_BASE$path
		case $path in *'{id}'*)
			mx_device "t$cell"
			url=$EST_BASE${path//\{id\}/mx-t$cell-$$} ;;
		esac
		case $method in
		POST)   est -H 'Content-Type: application/pkcs10' --data-binary "@$csr" "${args[@]}" "$url" ;;
		DELETE) est -X DELETE -H 'X-EST-Admin: 1' "${args[@]}" "$url" ;;
		*)      est -X "$method" "${args[@]}" "$url" ;;
		esac
		got=$STATUS
		if [ "$got" = "${wants[k]}" ]; then mark=""; else mark="!"; mx_bad=$((mx_bad + 1)); fi
		case $got in 2??) case ${wants[k]} in 2??) ;; *) mx_unauth=$((mx_unauth + 1)) ;; esac ;; esac
		check "matrix: $method $path as $caller" "${wants[k]}" "$got"
		printf ' %-8s' "${wants[k]}/$got$mark" >> "$MX/table"
	done
	echo >> "$MX/table"
done < <(grep -v '^#' "$MX_TAB" | grep -v '^ *$')
cat "$MX/table"
post simpleenroll "$MX/revoked.b64" --cert "$MX/revoked.pem" --key "$MX/revoked.key"
expect_error "matrix: the revoked certificate is refused as revoked" 403 "revoked"
echo "# access matrix: $mx_n cells, $mx_bad differ from the table, $mx_unauth unauthorized successes"
check "matrix: no unauthorized success" 0 "$mx_unauth"

# Secrets at rest: the demo's private keys are not readable by others
# (0600, or 0640 to the serving user's group when Apache runs as root);
# ca_load() refuses a CA key others may read (unit test test-ca).
for k in "$EST_RUNDIR/ca/ca.key" "$EST_RUNDIR/ca/ocsp.key" "$EST_RUNDIR/ca-rsa/ca.key" "$EST_RUNDIR/tls/server.key" "$EST_RUNDIR/tls/root.key"; do
	check_match "keys: ${k#$EST_RUNDIR/} mode $(stat -c %a "$k")" '^6[04]0$' "$(stat -c %a "$k")"
done
