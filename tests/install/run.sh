#!/usr/bin/env bash
# run.sh — `make install` as an operator would use it: a staged install
# into a DESTDIR (layout, final paths inside the files, man pages,
# uninstall), then a real install into a scratch PREFIX, estcgi-init
# (state folder, CA generated or imported, est.conf, users), and a
# private Apache that includes only the installed a2enconf snippet and
# serves devices from the installed tree.  Output in TEST_OUT-install;
# the Apache on TEST_PORT.  Prints "install: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
TOP=$(pwd)
BUILD=${BUILD:-build}
PORT=${TEST_PORT:-18443}
OUT=${TEST_OUT:-$TOP/tests/out}-install
rm -rf "$OUT"
mkdir -p "$OUT"
T=$OUT
export T
. tests/e2e/lib.sh

if [ "$(id -u)" = 0 ]; then RUN_USER=www-data; else RUN_USER=$(id -un); fi
RUN_GROUP=$(id -gn "$RUN_USER")
# The serving user must reach the scratch tree (as server.sh does).
p=$OUT
while [ "$RUN_USER" = www-data ] && [ "$p" != / ]; do
	runuser -u www-data -- test -x "$p" 2>/dev/null || chmod o+x "$p"
	p=$(dirname "$p")
done

# ---- 1. staged: make install DESTDIR=... (PREFIX=/usr/local) -------------
S=$OUT/stage
make -s install BUILD="$BUILD" DESTDIR="$S" > "$OUT/stage.log" 2>&1
check "stage: make install DESTDIR succeeds" 0 "$?"
for f in usr/local/lib/estcgi/cacerts usr/local/lib/estcgi/bootstrap \
	usr/local/lib/estcgi/simpleenroll usr/local/lib/estcgi/simplereenroll \
	usr/local/lib/estcgi/unsupported usr/local/sbin/estcgi-init; do
	check_true "stage: $f executable" test -x "$S/$f"
done
check "stage: nph-cacerts links to cacerts" cacerts "$(readlink "$S/usr/local/lib/estcgi/nph-cacerts")"
check_true "stage: templates" test -f "$S/usr/local/share/estcgi/templates/index.html"
check_true "stage: web server files" test -f "$S/usr/local/share/estcgi/apache-conf/estcgi.conf"
check_true "stage: no demo configs" sh -c "! ls '$S/usr/local/share/estcgi/apache-conf/' | grep -q '^demo-'"
check_true "stage: est.conf.example" test -f "$S/etc/estcgi/est.conf.example"
check_true "stage: state folder" test -d "$S/var/lib/estcgi"
check "stage: a2enconf snippet names the final bin path" \
	"Define ESTCGI_BIN     /usr/local/lib/estcgi" \
	"$(grep '^Define ESTCGI_BIN' "$S/etc/apache2/conf-available/estcgi.conf")"
check "stage: a2enconf snippet includes estcgi.conf" \
	"Include /usr/local/share/estcgi/apache-conf/estcgi.conf" \
	"$(grep '^Include' "$S/etc/apache2/conf-available/estcgi.conf")"
check_true "stage: lighttpd snippet" \
	grep -q '^include "/usr/local/share/estcgi/apache-conf/lighttpd-estcgi.conf"' \
	"$S/etc/lighttpd/conf-available/50-estcgi.conf"
# The systemd units (mod_proxy_fcgi in production): paths filled in, and
# systemd-analyze accepts them (on a copy pointing into the staging tree,
# since the programs are not at their final path yet).
U=$S/usr/local/lib/systemd/system
check_true "stage: systemd units" test -f "$U/estcgi@.socket" -a -f "$U/estcgi@.service"
check "stage: service runs the installed program" "ExecStart=/usr/local/lib/estcgi/%i" \
	"$(grep '^ExecStart=' "$U/estcgi@.service")"
if command -v systemd-analyze > /dev/null; then
	mkdir -p "$OUT/units"
	sed "s|=/usr/local/lib/estcgi/|=$S/usr/local/lib/estcgi/|" "$U/estcgi@.service" > "$OUT/units/estcgi@.service"
	cp "$U/estcgi@.socket" "$OUT/units/"
	(cd "$OUT/units" && systemd-analyze verify ./estcgi@cacerts.socket ./estcgi@cacerts.service) > "$OUT/units.log" 2>&1
	check "stage: systemd-analyze verify accepts the units" "0:" "$?:$(cat "$OUT/units.log")"
	sed "s|=/usr/local/sbin/|=$S/usr/local/sbin/|" "$U/estcgi-crl.service" > "$OUT/units/estcgi-crl.service"
	cp "$U/estcgi-crl.timer" "$OUT/units/"
	(cd "$OUT/units" && systemd-analyze verify ./estcgi-crl.timer ./estcgi-crl.service) > "$OUT/units-crl.log" 2>&1
	check "stage: systemd-analyze verify accepts the CRL timer" "0:" "$?:$(cat "$OUT/units-crl.log")"
	cp "$U/estcgi-crl-reload.path" "$U/estcgi-crl-reload.service" "$OUT/units/"
	(cd "$OUT/units" && systemd-analyze verify ./estcgi-crl-reload.path \
		./estcgi-crl-reload.service) > "$OUT/units-reload.log" 2>&1
	check "stage: systemd-analyze verify accepts the CRL reload units" "0:" \
		"$?:$(cat "$OUT/units-reload.log")"
else
	echo "# systemd-analyze not installed: unit files not verified"
fi
# Apache re-reads the CRL when all.crl.pem is published (README, Revocation).
check "stage: the reload path unit watches the installed all.crl.pem" \
	"PathChanged=/var/lib/estcgi/crl/all.crl.pem" \
	"$(grep '^PathChanged=' "$U/estcgi-crl-reload.path")"
check "stage: the reload path unit starts the reload service" \
	"Unit=estcgi-crl-reload.service" "$(grep '^Unit=' "$U/estcgi-crl-reload.path")"
check_match "stage: the reload service reloads Apache" \
	'^ExecStart=/bin/systemctl try-reload-or-restart apache2.service$' \
	"$(grep '^ExecStart=' "$U/estcgi-crl-reload.service")"
check_true "stage: no DESTDIR inside installed files" sh -c "! grep -rqF '$S' '$S'"
check_true "stage: no @placeholder@ left" sh -c "! grep -rqE '@(PREFIX|SHAREDIR|LIBDIR|SYSCONFDIR|STATEDIR)@' '$S/usr/local/sbin' '$S/usr/local/share/man' '$S/etc' '$S/usr/local/lib/systemd'"
for m in man8/estcgi.8 man5/est.conf.5; do
	f=$S/usr/local/share/man/$m
	check_true "man: $m installed" test -f "$f"
	if command -v mandoc >/dev/null; then
		mandoc -T lint -W warning "$f" > "$OUT/lint.out" 2>&1
		check "man: $m mandoc -T lint clean" "0:" "$?:$(cat "$OUT/lint.out")"
	fi
	MANWIDTH=80 man -l "$f" > "$OUT/man.out" 2> "$OUT/man.err"
	check "man: $m renders with man -l" "0:" "$?:$(grep -v '^$' "$OUT/man.err")"
done
check_true "man: estcgi(8) has EXIT STATUS and EXAMPLES" \
	sh -c "MANWIDTH=80 man -l '$S/usr/local/share/man/man8/estcgi.8' | grep -q '^EXIT STATUS' &&
	       MANWIDTH=80 man -l '$S/usr/local/share/man/man8/estcgi.8' | grep -q '^EXAMPLES'"
# est.conf(5) documents every key conf.c reads.
keys=$(grep -o 'conf_str(&cf, "[a-z_.]*"\|conf_int(&cf, "[a-z_.]*"\|config_lookup(cf, "[a-z_.]*"' common/conf.c | sed 's/.*"\(.*\)"/\1/' | sort -u)
check_true "man: conf.c keys found" test -n "$keys"
for k in $keys; do
	check_true "man: est.conf(5) documents $k" grep -q "^\.It Ic $k " man/est.conf.5
done
make -s uninstall BUILD="$BUILD" DESTDIR="$S" > "$OUT/unstage.log" 2>&1
check "stage: make uninstall succeeds" 0 "$?"
check "stage: uninstall leaves no file" "" "$(find "$S" \( -type f -o -type l \) | head -3)"

# ---- 2. real paths in a scratch prefix, then estcgi-init ----------------
P=$OUT/root
make -s install BUILD="$BUILD" PREFIX="$P/usr" SYSCONFDIR="$P/etc" \
	STATEDIR="$P/var/lib/estcgi" > "$OUT/install.log" 2>&1
check "install: make install PREFIX=... succeeds" 0 "$?"
INIT=$P/usr/sbin/estcgi-init
C=$P/etc/estcgi V=$P/var/lib/estcgi
"$INIT" -u "$RUN_USER" --generate-ca "/O=estcgi test/CN=estcgi install test CA" \
	--user dev-enroll --admin boss > "$OUT/init.out" 2> "$OUT/init.err"
check "init: estcgi-init succeeds" 0 "$?"
check_true "init: warns that a generated CA is for testing" grep -q 'fine for testing' "$OUT/init.err"
check "init: state folder owner and mode" "$RUN_USER 750" "$(stat -c '%U %a' "$V/db")"
check "init: CA key mode" 640 "$(stat -c %a "$C/ca/ca.key")"
check_true "init: CA is a CA" sh -c "openssl x509 -in '$C/ca/ca.pem' -noout -ext basicConstraints | grep -q CA:TRUE"
PW=$(awk '$1 == "dev-enroll" { print $2 }' "$OUT/init.out")
check_true "init: a password was printed" test -n "$PW"
check_true "init: the user's entry checks" htpasswd -vb "$C/users.htpasswd" dev-enroll "$PW"
check_true "init: a device secret: SHA-256-crypt, 1000 rounds (\$5\$rounds=1000\$)" \
	grep -q '^dev-enroll:\$5\$rounds=1000\$' "$C/users.htpasswd"
check_match "init: the device secret has 128 bits (32 hex digits)" '^[0-9a-f]{32}$' "$PW"
check_true "init: the admin's entry is bcrypt (\$2y\$)" grep -q '^boss:\$2y\$' "$C/admin.htpasswd"
check_true "init: admin listed in est.conf" grep -q 'admin_users = \[ "boss" \]' "$C/est.conf"
check_true "init: est.conf points at the installed templates" grep -q "templates_dir = \"$P/usr/share/estcgi/templates\"" "$C/est.conf"
fp=$(openssl x509 -in "$C/ca/ca.pem" -noout -fingerprint -sha256)
"$INIT" -u "$RUN_USER" --generate-ca "/CN=again" > /dev/null 2> "$OUT/init2.err"
check "init: a second CA is refused without --force" 1 "$?"
check "init: the CA is unchanged" "$fp" "$(openssl x509 -in "$C/ca/ca.pem" -noout -fingerprint -sha256)"
"$INIT" -u "$RUN_USER" -c "$OUT/imp" -s "$OUT/imp-state" --import-ca "$C/ca/ca.pem" "$OUT/stage.log" > /dev/null 2>&1
check "init: import refuses a file that is no key" 1 "$?"
newkey "$OUT/other.key" ec
"$INIT" -u "$RUN_USER" -c "$OUT/imp" -s "$OUT/imp-state" --import-ca "$C/ca/ca.pem" "$OUT/other.key" > /dev/null 2>&1
check "init: import refuses a key that is not the CA's" 1 "$?"
"$INIT" -u "$RUN_USER" -c "$OUT/imp" -s "$OUT/imp-state" --import-ca "$C/ca/ca.pem" "$C/ca/ca.key" > /dev/null 2>&1
check "init: import of the CA and its key" 0 "$?"
check "init: imported CA is the same" "$fp" "$(openssl x509 -in "$OUT/imp/ca/ca.pem" -noout -fingerprint -sha256)"

# ---- 3. a private Apache from the installed a2enconf snippet -----------
A=$OUT/apache
mkdir -p "$A/fcgid" "$A/tls"
chown "$RUN_USER:$RUN_GROUP" "$A/fcgid" 2>/dev/null
newkey "$A/tls/server.key" ec
openssl req -x509 -new -key "$A/tls/server.key" -subj /CN=localhost -days 2 \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -out "$A/tls/server.pem" 2>/dev/null
cat > "$A/httpd.conf" <<EOF
ServerRoot "$A"
PidFile "$A/httpd.pid"
DefaultRuntimeDir "$A"
Mutex file:$A default
ErrorLog "$A/error.log"
TypesConfig /etc/mime.types
ServerName localhost
Listen 127.0.0.1:$PORT
User $RUN_USER
Group $RUN_GROUP
LoadModule mpm_event_module     /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authn_core_module    /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authn_file_module    /usr/lib/apache2/modules/mod_authn_file.so
LoadModule authz_core_module    /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_user_module    /usr/lib/apache2/modules/mod_authz_user.so
LoadModule auth_basic_module    /usr/lib/apache2/modules/mod_auth_basic.so
LoadModule alias_module         /usr/lib/apache2/modules/mod_alias.so
LoadModule mime_module          /usr/lib/apache2/modules/mod_mime.so
LoadModule env_module           /usr/lib/apache2/modules/mod_env.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module           /usr/lib/apache2/modules/mod_ssl.so
LoadModule fcgid_module         /usr/lib/apache2/modules/mod_fcgid.so
FcgidIPCDir "$A/fcgid"
FcgidProcessTableFile "$A/fcgid/shm"
<Directory />
    Require all denied
</Directory>
# exactly what a2enconf estcgi enables
Include "$P/etc/apache2/conf-available/estcgi.conf"
<VirtualHost *:$PORT>
    SSLEngine on
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCertificateFile "$A/tls/server.pem"
    SSLCertificateKeyFile "$A/tls/server.key"
    SSLCACertificateFile "$C/ca/ca.pem"
    SSLVerifyClient optional_no_ca
</VirtualHost>
EOF
apache2 -t -f "$A/httpd.conf" > "$OUT/apache-t.log" 2>&1
check "serve: apache2 -t with the installed snippet" 0 "$?"
apache2 -f "$A/httpd.conf" -k start > "$OUT/apache-start.log" 2>&1
check "serve: Apache starts" 0 "$?"
stop_apache() {
	[ -f "$A/httpd.pid" ] || return 0
	local pid
	pid=$(cat "$A/httpd.pid")
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
trap stop_apache EXIT
EST_TLS_CA=$A/tls/server.pem
EST_URL=https://127.0.0.1:$PORT/.well-known/est
for _ in $(seq 1 50); do
	est "$EST_URL/cacerts"
	[ "$STATUS" = 200 ] && break
	sleep 0.2
done
check "serve: cacerts from the installed programs" 200 "$STATUS"
p7_to_pem "$OUT/cacerts.pem"
check "serve: cacerts is the estcgi-init CA" "$fp" "$(openssl x509 -in "$OUT/cacerts.pem" -noout -fingerprint -sha256 2>&1)"
mkcsr dev "/CN=installed-dev-$$" ec
post bootstrap "$T/dev.b64" -u "dev-enroll:wrong-password"
check "serve: wrong password: 401" 401 "$STATUS"
post bootstrap "$T/dev.b64" -u "dev-enroll:$PW"
check "serve: bootstrap with the estcgi-init user: 200" 200 "$STATUS"
p7_to_pem "$OUT/dev.pem"
check_true "serve: certificate chains to the init CA" openssl verify -CAfile "$C/ca/ca.pem" "$OUT/dev.pem"
mkcsr op "/CN=installed-dev-$$" ec
post simpleenroll "$T/op.b64" --cert "$OUT/dev.pem" --key "$T/dev.key"
check "serve: simpleenroll with the bootstrap certificate: 200" 200 "$STATUS"
check_true "serve: the store is in the state folder" test -f "$V/db/devices"
est "$EST_URL/fullcmc"
check "serve: unknown operations reach unsupported" 501 "$STATUS"
stop_apache
trap - EXIT

# ---- 4. the lighttpd snippet parses ---------------------------------------
cat > "$OUT/lighttpd.conf" <<EOF
server.document-root = "$OUT"
server.bind = "127.0.0.1"
server.port = $PORT
include "$P/etc/lighttpd/conf-available/50-estcgi.conf"
EOF
lighttpd -t -f "$OUT/lighttpd.conf" > "$OUT/lighttpd-t.log" 2>&1
check "lighttpd: the installed snippet passes lighttpd -t" 0 "$?"

make -s uninstall BUILD="$BUILD" PREFIX="$P/usr" SYSCONFDIR="$P/etc" \
	STATEDIR="$P/var/lib/estcgi" > /dev/null 2>&1
check_true "uninstall keeps est.conf, the CA and the state" \
	test -f "$C/est.conf" -a -f "$C/ca/ca.key" -a -f "$V/db/devices"
check_true "uninstall removes the programs" test ! -e "$P/usr/lib/estcgi/cacerts"

echo "install: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
