# lib.sh — helpers for the end-to-end tests (sourced by run.sh).
# Each test file is sourced in order; it calls the helpers below, and
# every check prints "ok - ..." or "not ok - ..." and is counted.
# Clients are curl and the openssl CLI only.

PASS=0
FAIL=0

ok()     { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }

# check NAME EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}
# check_match NAME REGEX ACTUAL
check_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then ok "$1"; else not_ok "$1 ('$3' does not match /$2/)"; fi
}
# check_true NAME COMMAND... — passes when the command succeeds
check_true() {
	local name=$1; shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name (command failed: $*)"; fi
}

# newkey FILE [ec|rsa|rsa1024|ed25519|p384] — a private key of that type
newkey() {
	case ${2:-ec} in
	ec)      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
	p384)    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1" ;;
	rsa)     openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
	rsa1024) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$1" 2>/dev/null ;;
	ed25519) openssl genpkey -algorithm ED25519 -out "$1" ;;
	esac
}

# mkcsr NAME SUBJ [KEYTYPE] [openssl req args...] — writes $T/NAME.key
# (a new key unless it exists), $T/NAME.der and $T/NAME.b64 (64-column
# base64, LF, final newline as base64(1) writes it).
mkcsr() {
	local name=$1 subj=$2 kt=${3:-ec}
	shift 3 2>/dev/null || shift $#
	[ -f "$T/$name.key" ] || newkey "$T/$name.key" "$kt"
	openssl req -new -key "$T/$name.key" -subj "$subj" -outform DER -out "$T/$name.der" "$@"
	base64 -w 64 < "$T/$name.der" > "$T/$name.b64"
}

# boot_device NAME ID — bootstraps device ID with a new key and CSR
# ($T/NAME.key, .b64) as the enrollment user; its certificate goes to
# $T/NAME.pem.  Sets STATUS; returns 0 when it was issued.
boot_device() {
	mkcsr "$1" "/CN=$2" ec
	post bootstrap "$T/$1.b64" -u "$EST_USER:$EST_PASS"
	[ "$STATUS" = 200 ] && p7_to_pem "$T/$1.pem"
}

# est REQUEST-ARGS... — one curl call to the server.  Sets STATUS and
# leaves the body in $T/body and the headers in $T/headers.
est() {
	STATUS=$(curl -s --cacert "$EST_TLS_CA" -o "$T/body" -D "$T/headers" \
		-w '%{http_code}' "$@") || STATUS="curl-failed:$?"
}

# post OP FILE [curl args...] — POST FILE as application/pkcs10 to OP.
post() {
	local op=$1 file=$2; shift 2
	est -H 'Content-Type: application/pkcs10' --data-binary "@$file" "$@" "$EST_URL/$op"
}

# header NAME — the value of response header NAME (case-insensitive).
header() {
	grep -i "^$1:" "$T/headers" | tail -n 1 | sed 's/^[^:]*: *//; s/\r$//'
}

# body_line — the response body's first line.
body_line() { head -n 1 "$T/body" | tr -d '\r'; }

# p7_to_pem OUT — decodes the PKCS#7 body into PEM certificates in OUT.
p7_to_pem() {
	base64 -d < "$T/body" | openssl pkcs7 -inform DER -print_certs -out "$1" 2>/dev/null
}

# cert_serial PEM — the serial in hex (openssl's upper case).
cert_serial() { openssl x509 -in "$1" -noout -serial | sed 's/serial=//'; }

# expect_error NAME STATUS REASON-REGEX — checks an error answer: the
# status, text/plain, a Content-Length equal to the body, and one line.
expect_error() {
	check "$1: status" "$2" "$STATUS"
	check_match "$1: text/plain" '^text/plain' "$(header Content-Type)"
	check "$1: Content-Length" "$(wc -c < "$T/body" | tr -d ' ')" "$(header Content-Length)"
	check "$1: one line" 1 "$(wc -l < "$T/body" | tr -d ' ')"
	check_match "$1: reason" "$3" "$(body_line)"
}

# worker_pids PROGRAM — this instance's FastCGI workers of PROGRAM
# (descendants of its web server, whose main pid scripts/server.sh keeps
# in RUNDIR/server.pid, so another instance is left alone).
worker_pids() {
	local main
	main=$(cat "$EST_RUNDIR/server.pid")
	# apache-proxy: the workers are children of the program's supervisor.
	[ "${EST_SERVER:-}" != apache-proxy ] ||
		main=$(cat "$EST_RUNDIR/proxy/$1.pid" 2>/dev/null)
	ps -eo pid=,ppid=,args= | awk -v main="$main" -v prog="/cgi-bin/$1" '
		{ parent[$1] = $2; args[$1] = $3 }
		END { for (p in args) if (args[p] ~ prog "$")
			for (q = parent[p]; q > 1; q = parent[q]) if (q == main) { print p; break } }'
}

# restart_workers PROGRAM — stops this instance's FastCGI workers of
# PROGRAM (SIGTERM: they close the store cleanly); the web server starts
# new ones, which read the configuration again, on the next request.
restart_workers() {
	local pids
	pids=$(worker_pids "$1")
	[ -n "$pids" ] && kill -TERM $pids
	for _ in $(seq 1 50); do
		[ -z "$(worker_pids "$1")" ] && break
		sleep 0.1
	done
}

# store_snapshot — what the instance's store holds (tests/tools/store-dump:
# "device ID STATE SERIAL" and "cert SERIAL DEVICE STATUS OP SHA256"
# lines), read as the store's owner so no file changes hands.
store_snapshot() {
	local tool="${BUILD:-build}/tools/store-dump" db="$EST_RUNDIR/db"
	if [ "$(id -u)" = 0 ] && [ "$(stat -c %u "$db")" != 0 ]; then
		runuser -u "$(stat -c %U "$db")" -- "$tool" "$db"
	else
		"$tool" "$db"
	fi
}

# add_test_labels FRAGMENT — adds the label groups in FRAGMENT (a file
# of "name = { ... };" lines) to the instance's est.conf, once, inside
# its `labels` group (made if missing); the file keeps its owner and
# mode.  The enrollment workers are restarted to read it.
add_test_labels() {
	local conf="$EST_RUNDIR/est.conf" tmp="$T/est.conf.new" first
	first=$(grep -v '^ *#' "$1" | grep -m1 -o '^ *[A-Za-z0-9._-]* =' | tr -d ' =')
	grep -q "^ *$first = " "$conf" && return 0
	if grep -q '^labels = {' "$conf"; then
		sed "/^labels = {/r $1" "$conf" > "$tmp"
	else
		{ cat "$conf"; echo 'labels = {'; cat "$1"; echo '};'; } > "$tmp"
	fi
	cat "$tmp" > "$conf"
	for p in bootstrap simpleenroll simplereenroll serverkeygen cacerts csrattrs; do restart_workers "$p"; done
}
