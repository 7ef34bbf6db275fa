# Hostile input, table-driven: tests/corpus/hostile/cases.tab says what
# to send and what must come back.  Each case checks the exact status,
# a one-line text reason, that the server still answers afterwards, and
# (at the end) that nothing was stored: every device ID a case used can
# still bootstrap, and the store holds no device or certificate it did
# not hold before.  The slowloris cases run in the background while the
# others are served.
H=$T/hostile
TAB=tests/corpus/hostile/cases.tab
HC=${BUILD:-build}/tools/hostile-csr
HSERVER=${EST_SERVER:-${SERVER:-apache}}
HSLOW_CROWD=20   # extra slow-header connections beside the slowloris case
HSLOW_STEPS=40   # a slow client sends for 40 s at most ...
HSLOW_MAX=60     # ... and gives up after 60 s
mkdir -p "$H"
hlog_start=$(wc -l < "$EST_RUNDIR/logs/error.log")

# hkey TYPE — the path of a private key of TYPE, made once.
hkey() {
	local f="$H/key-$1.pem"
	if [ ! -f "$f" ]; then
		case $1 in
		ec|rsa|ed25519|p384) newkey "$f" "$1" ;;
		rsa512|rsa1024)
			openssl genpkey -algorithm RSA -pkeyopt \
				"rsa_keygen_bits:${1#rsa}" -out "$f" 2>/dev/null ;;
		p224)      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out "$f" ;;
		k256)      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out "$f" ;;
		brainpool) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1 -out "$f" ;;
		explicit)  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
				-pkeyopt ec_param_enc:explicit -out "$f" ;;
		ed448)     openssl genpkey -algorithm ED448 -out "$f" ;;
		dsa)
			openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 \
				-out "$H/dsa.param" 2>/dev/null &&
			openssl genpkey -paramfile "$H/dsa.param" -out "$f" ;;
		esac
	fi
	echo "$f"
}

# hex2bin HEX — the bytes.
hex2bin() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# mutate KIND — the good CSR ($H/good.der) changed in one way.
mutate() {
	local b64 n
	b64=$(base64 -w 0 < "$H/good.der")
	case $1 in
	b64-cut)
		b64=${b64%%=*}
		n=$(( ${#b64} - 1 ))
		n=$(( n - n % 4 + 1 ))
		printf '%s\n' "${b64:0:$n}" ;;
	b64-nul)   printf '%s\0%s\n' "${b64:0:10}" "${b64:10}" ;;
	b64-space) printf '%s %s\n' "${b64:0:10}" "${b64:10}" ;;
	der-half)  head -c $(( $(wc -c < "$H/good.der") / 2 )) "$H/good.der" ;;
	trailing)  cat "$H/good.der"; printf 'junk' ;;
	twice)     cat "$H/good.der" "$H/good.der" ;;
	badsig)
		cp "$H/good.der" "$H/badsig.der"
		n=$(( $(wc -c < "$H/badsig.der") - 3 ))
		printf "\\$(printf %o $(( $(od -An -tu1 -j "$n" -N1 "$H/badsig.der") ^ 1 )))" |
			dd of="$H/badsig.der" bs=1 seek="$n" conv=notrunc 2>/dev/null
		cat "$H/badsig.der" ;;
	esac
}

# hsource NAME SOURCE — the bytes of SOURCE for case NAME (see cases.tab).
hsource() {
	local src=$2 rest n c kt k
	local -a parts
	src=${src//@ID/h-$1-$$}
	src=${src//@PID/$$}
	case $src in
	text:*) printf '%b' "${src#text:}" ;;
	fill:*)
		rest=${src#fill:}; n=${rest%%:*}; c=${rest#*:}
		if [ "$c" = '\0' ]; then head -c "$n" /dev/zero
		else head -c "$n" /dev/zero | tr '\0' "$c"; fi ;;
	hex:*) hex2bin "${src#hex:}" ;;
	der:*) cat "$H/${src#der:}.der" ;;
	csr:*)
		IFS=: read -r -a parts <<< "${src#csr:}"
		k=$(hkey "${parts[1]}")
		openssl req -new -key "$k" -subj "${parts[0]}" -outform DER "${parts[@]:2}" ;;
	tool:*)
		rest=${src#tool:}; kt=ec
		[ "$rest" != "${rest%%:*}" ] && kt=${rest#*:}
		"$HC" csr "$(hkey "$kt")" "${rest%%:*}" "h-$1-$$" ;;
	mut:*) mutate "${src#mut:}" ;;
	esac
}

# hinput NAME INPUT — writes case NAME's body to $H/NAME.body ("none":
# no file).
hinput() {
	rm -f "$H/$1.body"
	case $2 in
	none) ;;
	raw\ *) hsource "$1" "${2#raw }" > "$H/$1.body" ;;
	b64\ *) hsource "$1" "${2#b64 }" | base64 -w 64 > "$H/$1.body" ;;
	esac
}

# hauth AUTH — sets HAUTH to the curl arguments of that caller.
hauth() {
	case $1 in
	none)    HAUTH=() ;;
	user)    HAUTH=(-u "$EST_USER:$EST_PASS") ;;
	badpass) HAUTH=(-u "$EST_USER:wrong-$$") ;;
	forged)  HAUTH=(-H "REMOTE_USER: $EST_USER" -H 'SSL_CLIENT_VERIFY: SUCCESS'
	                -H "SSL_CLIENT_CERT: $(tr -d '\n' < "$H/cert-dev.pem")") ;;
	cert:*)  HAUTH=(--cert "$H/cert-${1#cert:}.pem" --key "$H/cert-${1#cert:}.key") ;;
	esac
}

# hurl OP — the URL of operation OP, or of a raw path starting with /.
hurl() { case $1 in /*) echo "$EST_BASE$1" ;; *) echo "$EST_URL/$1" ;; esac; }

# hparse FILE — splits a raw HTTP response into STATUS, $T/headers and
# $T/body.
hparse() {
	STATUS=$(head -n 1 "$1" | awk '{ print $2 }')
	[ -n "$STATUS" ] || STATUS="no-answer"
	sed -n '1,/^\r\{0,1\}$/p' "$1" | tr -d '\r' > "$T/headers"
	sed '1,/^\r\{0,1\}$/d' "$1" > "$T/body"
}

# hraw REQUEST — sends REQUEST (printf %b text) over TLS, parses the
# answer.
hraw() {
	printf '%b' "$1" | timeout 30 openssl s_client -quiet -connect "127.0.0.1:$EST_PORT" \
		-servername localhost > "$H/raw.out" 2>/dev/null
	hparse "$H/raw.out"
}

# hslow_start KIND OUT — a slowloris client in the background: after
# the request line (header) or the headers (body), one small piece per
# second for HSLOW_STEPS seconds; OUT.finished appears only if the
# server let it send everything.
hslow_start() {
	local kind=$1 out=$2 auth
	auth=$(printf '%s:%s' "$EST_USER" "$EST_PASS" | base64 -w 0)
	rm -f "$out".*
	(
		{
			if [ "$kind" = header ]; then
				printf 'POST /.well-known/est/bootstrap HTTP/1.1\r\nHost: localhost\r\n'
			else
				printf 'POST /.well-known/est/bootstrap HTTP/1.1\r\nHost: localhost\r\n'
				printf 'Authorization: Basic %s\r\nContent-Type: application/pkcs10\r\n' "$auth"
				printf 'Content-Length: %d\r\n\r\n' $(( HSLOW_STEPS * 4 ))
			fi
			for i in $(seq 1 "$HSLOW_STEPS"); do
				if [ "$kind" = header ]; then printf 'X-Slow-%d: x\r\n' "$i"
				else printf 'AAAA'; fi || exit 0
				sleep 1
			done
			: > "$out.finished"
		} | timeout "$HSLOW_MAX" openssl s_client -quiet -connect "127.0.0.1:$EST_PORT" \
			-servername localhost > "$out.resp" 2>/dev/null
	) &
}

# hrequest REQUEST... — runs one case's request (see cases.tab); sets
# STATUS, $T/headers, $T/body.
hrequest() {
	local what=$1 ct big i
	local -a args
	shift
	case $what in
	post)
		hauth "$2"; ct=${3:-application/pkcs10}
		if [ "$ct" = none ]; then args=(-H 'Content-Type:')
		else args=(-H "Content-Type: $ct"); fi
		if [ -f "$H/$NAME.body" ]; then args+=(--data-binary "@$H/$NAME.body")
		else args+=(-X POST -d ''); fi
		est "${args[@]}" "${HAUTH[@]}" "$(hurl "$1")" ;;
	send)
		hauth "$3"
		args=(-X "$1")
		[ -f "$H/$NAME.body" ] && args+=(-H 'Content-Type: application/pkcs10'
			--data-binary "@$H/$NAME.body")
		est "${args[@]}" "${HAUTH[@]}" "$(hurl "$2")" ;;
	get)
		est --path-as-is "$(hurl "$1")" ;;
	bighdr)
		big=$(head -c 10000 /dev/zero | tr '\0' a)
		est -H "X-Big: $big" "$(hurl "$1")" ;;
	manyhdr)
		args=()
		for i in $(seq 1 120); do args+=(-H "X-Many-$i: x"); done
		est "${args[@]}" "$(hurl "$1")" ;;
	longuri)
		est "$EST_URL/$(head -c 10000 /dev/zero | tr '\0' a)" ;;
	rawreq)
		case $1 in
		badcl)    hraw 'POST /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\nConnection: close\r\n\r\n' ;;
		negcl)    hraw 'POST /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\nConnection: close\r\n\r\n' ;;
		twocl)    hraw 'POST /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\nAAAAA' ;;
		badchunk) hraw "POST /.well-known/est/bootstrap HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic $(printf '%s:%s' "$EST_USER" "$EST_PASS" | base64 -w 0)\r\nContent-Type: application/pkcs10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nAAAA\r\n0\r\n\r\n" ;;
		esac ;;
	esac
}

# ---- what the cases need ------------------------------------------------
"$HC" csr "$(hkey ec)" ok "h-good-$$" > "$H/good.der"
openssl x509 -in "$EST_CA_CERT" -outform DER -out "$H/cacert.der"
curl -s --cacert "$EST_TLS_CA" "$EST_URL/cacerts" | base64 -d > "$H/pkcs7.der"
openssl pkcs8 -topk8 -nocrypt -in "$(hkey ec)" -outform DER -out "$H/pkcs8.der"
# Client certificates: two devices of ours, one from another CA, an
# expired one and one signed with our CA key but never issued (rogue).
for d in dev other revoked; do
	newkey "$H/cert-$d.key" ec
	openssl req -new -key "$H/cert-$d.key" -subj "/CN=h-$d-$$" -outform DER |
		base64 > "$H/cert-$d.b64"
	post bootstrap "$H/cert-$d.b64" -u "$EST_USER:$EST_PASS"
	check "hostile setup: device $d bootstraps" 200 "$STATUS"
	p7_to_pem "$H/cert-$d.pem"
done
# Revoked: the device deleted through the registry API.
est -X DELETE -H 'X-EST-Admin: 1' -u "$EST_ADMIN_USER:$EST_ADMIN_PASS" \
	"$EST_API_URL/devices/h-revoked-$$"
check "hostile setup: device revoked deletes" 200 "$STATUS"
newkey "$H/foreign-ca.key" ec
openssl req -x509 -new -key "$H/foreign-ca.key" -subj "/CN=estcgi demo EST CA" \
	-days 30 -out "$H/foreign-ca.pem"
for d in foreign expired rogue; do
	newkey "$H/cert-$d.key" ec
done
"$HC" cert "$H/foreign-ca.pem" "$H/foreign-ca.key" "$H/cert-foreign.key" \
	"h-dev-$$" -1 30 > "$H/cert-foreign.pem"
"$HC" cert "$EST_CA_CERT" "$EST_RUNDIR/ca/ca.key" "$H/cert-expired.key" \
	"h-dev-$$" -60 -30 > "$H/cert-expired.pem"
"$HC" cert "$EST_CA_CERT" "$EST_RUNDIR/ca/ca.key" "$H/cert-rogue.key" \
	"h-dev-$$" -1 30 > "$H/cert-rogue.pem"
check_true "hostile setup: expired certificate is expired" \
	sh -c "! openssl x509 -in '$H/cert-expired.pem' -noout -checkend 0"
check_true "hostile setup: rogue certificate verifies against our CA" \
	openssl verify -CAfile "$EST_CA_CERT" "$H/cert-rogue.pem"
hstore_before=$(store_snapshot)

# ---- the slow clients start first and hang on while the table runs -------
# hwhere — whether this server runs the case (WHERE: any, or a comma
# list of servers).
hwhere() { [ "$WHERE" = any ] || [[ ",$WHERE," == *",$HSERVER,"* ]]; }
# hcase_fields LINE — sets NAME WHERE INPUT REQ WANT REASON from a row.
hcase_fields() {
	IFS='|' read -r NAME WHERE INPUT REQ WANT REASON <<< "$1"
	NAME=$(echo $NAME); WHERE=$(echo $WHERE); INPUT=$(echo "$INPUT" | sed 's/^ *//; s/ *$//')
	REQ=$(echo $REQ); WANT=$(echo $WANT); REASON=$(echo "$REASON" | sed 's/^ *//; s/ *$//')
}
hrows=$(grep -v '^#' "$TAB" | grep -v '^ *$')
hslow=()
while IFS= read -r line; do
	hcase_fields "$line"
	[ "${REQ%% *}" = slow ] || continue
	hwhere || continue
	hslow_start "${REQ#slow }" "$H/$NAME"
	hslow+=("$NAME")
	if [ "${REQ#slow }" = header ]; then
		for i in $(seq 1 "$HSLOW_CROWD"); do
			hslow_start header "$H/$NAME-crowd$i"
		done
	fi
done <<< "$hrows"

# ---- the table -------------------------------------------------------------
hcases=0 hskipped=0
hids=()
while IFS= read -r line; do
	hcase_fields "$line"
	[ "${REQ%% *}" = slow ] && continue
	if ! hwhere; then
		echo "# skip $NAME (only on $WHERE)"
		hskipped=$((hskipped + 1))
		continue
	fi
	hcases=$((hcases + 1))
	hinput "$NAME" "$INPUT"
	case $INPUT in *@ID*|*tool:*) hids+=("h-$NAME-$$") ;; esac
	# shellcheck disable=SC2086
	hrequest $REQ
	if [ "$WANT" = tls ]; then
		check_match "hostile $NAME: TLS handshake refused, no HTTP answer" \
			'^curl-failed:(35|56)$' "$STATUS"
		# Why: the alert the client got and mod_ssl's log line.
		hlog_n=$(grep -c 'AH02039' "$EST_RUNDIR/logs/error.log")
		check_match "hostile $NAME: the client is told why" "$REASON" \
			"$(curl -sS -o /dev/null --cacert "$EST_TLS_CA" "${HAUTH[@]}" \
				"$EST_URL/cacerts" 2>&1)"
		check "hostile $NAME: mod_ssl logs the verification error" \
			$((hlog_n + 1)) "$(grep -c 'AH02039' "$EST_RUNDIR/logs/error.log")"
	else
		expect_error "hostile $NAME" "$WANT" "$REASON"
	fi
	est "$EST_URL/cacerts"
	check "hostile $NAME: server answers afterwards" 200 "$STATUS"
done <<< "$hrows"

# ---- the slow clients: cut off by the server, answered, others served ------
for NAME in "${hslow[@]}"; do
	wait
	hcases=$((hcases + 1))
	hparse "$H/$NAME.resp"
	hcase_fields "$(grep "^$NAME " "$TAB")"
	expect_error "hostile $NAME" "$WANT" "$REASON"
	check_true "hostile $NAME: cut off before the client finished" test ! -e "$H/$NAME.finished"
	if [ "${REQ#slow }" = header ]; then
		n=0
		for i in $(seq 1 "$HSLOW_CROWD"); do
			[ ! -e "$H/$NAME-crowd$i.finished" ] &&
				head -n 1 "$H/$NAME-crowd$i.resp" | grep -q ' 408 ' && n=$((n + 1))
		done
		check "hostile $NAME: $HSLOW_CROWD more slow clients all cut off with 408" "$HSLOW_CROWD" "$n"
	fi
done

# ---- nothing was stored ---------------------------------------------------------
n=0
for id in "${hids[@]}"; do
	openssl req -new -key "$(hkey ec)" -subj "/CN=$id" -outform DER | base64 > "$H/after.b64"
	post bootstrap "$H/after.b64" -u "$EST_USER:$EST_PASS"
	if [ "$STATUS" = 200 ]; then n=$((n + 1)); else echo "# $id: $STATUS $(body_line)"; fi
done
check "hostile: all ${#hids[@]} device IDs used by refused cases still bootstrap" "${#hids[@]}" "$n"
hstore_after=$(store_snapshot)
check "hostile: the store gained exactly those ${#hids[@]} devices" \
	$(( $(printf '%s\n' "$hstore_before" | grep -c '^device ') + ${#hids[@]} )) \
	"$(printf '%s\n' "$hstore_after" | grep -c '^device ')"
check "hostile: no worker crashed (error log)" 0 \
	"$(tail -n +$((hlog_start + 1)) "$EST_RUNDIR/logs/error.log" |
		grep -Ec 'signal (6|11)|AddressSanitizer|runtime error|core dumped')"
echo "# hostile: $hcases cases run, $hskipped skipped on $HSERVER"
