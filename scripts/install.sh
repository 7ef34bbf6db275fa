#!/bin/sh
# install.sh install|uninstall — `make install` / `make uninstall`.
# From the environment (the Makefile passes them): BUILD, PROGS, PREFIX,
# DESTDIR, SYSCONFDIR, STATEDIR, MANDIR.  Layout:
#   $PREFIX/lib/estcgi/             the programs and their nph- links
#   $PREFIX/share/estcgi/templates/ the dashboard's HTML templates
#   $PREFIX/share/estcgi/apache-conf/  the web server files (Apache,
#                                   lighttpd), as in the source tree
#   $PREFIX/sbin/estcgi-init        set-up of a real installation
#   $PREFIX/sbin/estcgi-crl         publishes the CRLs (timer, start)
#   $MANDIR/man8/estcgi.8, $MANDIR/man5/est.conf.5
#   $PREFIX/lib/systemd/system/estcgi@.socket, estcgi@.service,
#                                   estcgi-crl.service, estcgi-crl.timer,
#                                   estcgi-crl-reload.path and .service
#   $SYSCONFDIR/estcgi/est.conf.example
#   $SYSCONFDIR/apache2/conf-available/estcgi.conf   (a2enconf estcgi)
#   $SYSCONFDIR/lighttpd/conf-available/50-estcgi.conf
#                                   (lighty-enable-mod estcgi)
#   $STATEDIR                       created empty; estcgi-init owns it
# Everything under DESTDIR when set (staging; paths inside the files are
# the final ones).  uninstall removes exactly these files, never
# est.conf, users, the CA or the state.
set -eu
cmd=$1
TOP=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}" "${PREFIX:=/usr/local}" "${DESTDIR:=}"
: "${SYSCONFDIR:=/etc}" "${STATEDIR:=/var/lib/estcgi}"
: "${MANDIR:=$PREFIX/share/man}"
: "${PROGS:?PROGS (the program names) must be set}"
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac

LIBDIR=$PREFIX/lib/estcgi
SHAREDIR=$PREFIX/share/estcgi
WEBDIR=$SHAREDIR/apache-conf
D=$DESTDIR
# The web-server files that ship (the demo's own main configs do not).
WEBFILES=$(cd "$TOP/apache-conf" && ls *.conf | grep -v '^demo-')
TEMPLATES=$(cd "$TOP/templates" && ls)
MANPAGES="man8/estcgi.8 man5/est.conf.5"
# systemd units running the programs for mod_proxy_fcgi (or lighttpd)
UNITS="estcgi@.socket estcgi@.service estcgi-crl.service estcgi-crl.timer"
UNITS="$UNITS estcgi-crl-reload.path estcgi-crl-reload.service"
APACHE_SNIPPET=$SYSCONFDIR/apache2/conf-available/estcgi.conf
LIGHTTPD_SNIPPET=$SYSCONFDIR/lighttpd/conf-available/50-estcgi.conf

# subst — fills in this installation's paths (@NAME@ placeholders).
subst() {
	sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@SHAREDIR@|$SHAREDIR|g" \
	    -e "s|@LIBDIR@|$LIBDIR|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" \
	    -e "s|@STATEDIR@|$STATEDIR|g"
}

do_install() {
	for p in $PROGS; do
		[ -x "$BUILD/cgi-bin/$p" ] || { echo "install: $BUILD/cgi-bin/$p missing; run make" >&2; exit 1; }
	done
	install -d -m 755 "$D$LIBDIR" "$D$SHAREDIR/templates" "$D$WEBDIR" \
		"$D$PREFIX/sbin" "$D$MANDIR/man8" "$D$MANDIR/man5" \
		"$D$SYSCONFDIR/estcgi" "$D$SYSCONFDIR/apache2/conf-available" \
		"$D$SYSCONFDIR/lighttpd/conf-available"
	install -d -m 750 "$D$STATEDIR"
	for p in $PROGS; do
		install -m 755 "$BUILD/cgi-bin/$p" "$D$LIBDIR/$p"
		ln -sf "$p" "$D$LIBDIR/nph-$p"
	done
	for t in $TEMPLATES; do
		install -m 644 "$TOP/templates/$t" "$D$SHAREDIR/templates/$t"
	done
	for f in $WEBFILES; do
		install -m 644 "$TOP/apache-conf/$f" "$D$WEBDIR/$f"
	done
	for m in $MANPAGES; do
		subst < "$TOP/man/$(basename "$m")" > "$D$MANDIR/$m"
		chmod 644 "$D$MANDIR/$m"
	done
	install -d -m 755 "$D$PREFIX/lib/systemd/system"
	for u in $UNITS; do
		subst < "$TOP/apache-conf/$u" > "$D$PREFIX/lib/systemd/system/$u"
		chmod 644 "$D$PREFIX/lib/systemd/system/$u"
	done
	subst < "$TOP/scripts/estcgi-init" > "$D$PREFIX/sbin/estcgi-init"
	chmod 755 "$D$PREFIX/sbin/estcgi-init"
	install -m 755 "$BUILD/sbin/estcgi-crl" "$D$PREFIX/sbin/estcgi-crl"

	cat > "$D$SYSCONFDIR/estcgi/est.conf.example" <<EOF
# estcgi configuration example (est.conf(5)).  estcgi-init writes a real
# est.conf next to it; or copy this to est.conf and adjust.
ca = {
    cert  = "ca/ca.pem";    # issuing CA certificate (PEM), relative to here
    key   = "ca/ca.key";    # its key, readable by the serving user only
    chain = "";             # further certificates for cacerts (PEM)
};
validity_days = 365;
bootstrap_validity_days = 30;
device_id_pattern = "^[A-Za-z0-9._:-]{1,64}\$";
store_dir = "$STATEDIR/db";  # owned by the serving user
log = "stderr";              # or "syslog"
templates_dir = "$SHAREDIR/templates";
time_zone = "UTC";
admin_users = [ ];           # names from admin.htpasswd
audit_log = "";              # "", "syslog" or a file
revocation = {
    crl_dir = "$STATEDIR/crl";   # CRLs published here (estcgi-crl)
    crl_url = "";                # CRL Distribution Points base URL
    ocsp_url = "";               # Authority Information Access OCSP URL
    ocsp_cert = "";              # delegated OCSP signer; "" = the CA
    ocsp_key = "";
    crl_refresh = 3600;          # seconds
    crl_batch = 60;              # seconds a renewal's revocation may wait
    crl_next_update = 604800;    # seconds
    ocsp_next_update = 3600;     # seconds
    revoke_on_reenroll = true;
};
EOF
	chmod 644 "$D$SYSCONFDIR/estcgi/est.conf.example"

	cat > "$D$APACHE_SNIPPET" <<EOF
# estcgi for Debian's Apache: a2enmod ssl fcgid && a2enconf estcgi
# (plain CGI instead: a2enmod cgid, ESTCGI_HANDLER cgi-script and
# Define ESTCGI_CGI).  Set up est.conf, the CA and users with
# estcgi-init first.  See estcgi(8).
Define ESTCGI_BIN     $LIBDIR
Define ESTCGI_CONFIG  $SYSCONFDIR/estcgi/est.conf
Define ESTCGI_USERS   $SYSCONFDIR/estcgi/users.htpasswd
Define ESTCGI_HANDLER fcgid-script
# CRLs (revocation.crl_dir) at /crl/, and for the virtual host's
# client-certificate checks (estcgi-vhost.conf).
Define ESTCGI_CRL_DIR $STATEDIR/crl
Include $WEBDIR/estcgi.conf
# The registry (API, dashboard, /metrics) for administrators:
#Define ESTCGI_ADMIN_USERS $SYSCONFDIR/estcgi/admin.htpasswd
#Include $WEBDIR/estcgi-admin.conf
# Enrollment users from LDAP instead: Define ESTCGI_LDAP_URL, then
#Include $WEBDIR/estcgi-ldap.conf
# Your TLS virtual host needs the client-certificate settings of
# $WEBDIR/estcgi-vhost.conf:
#   SSLVerifyClient optional_no_ca
#   SSLCACertificateFile $SYSCONFDIR/estcgi/ca/ca.pem
#   SSLOptions is set by estcgi.conf for the programs' folder.
EOF
	chmod 644 "$D$APACHE_SNIPPET"

	cat > "$D$LIGHTTPD_SNIPPET" <<EOF
# estcgi for Debian's lighttpd: lighty-enable-mod estcgi (and the TLS
# socket's settings from $WEBDIR/lighttpd-estcgi-tls.conf:
# client certificates optional and exported, the EST CA as
# ssl.verifyclient.ca-file).  See estcgi(8).
var.estcgi_bin     = "$LIBDIR"
var.estcgi_config  = "$SYSCONFDIR/estcgi/est.conf"
var.estcgi_users   = "$SYSCONFDIR/estcgi/users.htpasswd"
var.estcgi_sockets = "/run/lighttpd"
var.estcgi_crl_dir = "$STATEDIR/crl"
include "$WEBDIR/lighttpd-estcgi.conf"
# The registry (API, dashboard, /metrics) for administrators:
#var.estcgi_admin_users = "$SYSCONFDIR/estcgi/admin.htpasswd"
#include "$WEBDIR/lighttpd-estcgi-admin.conf"
EOF
	chmod 644 "$D$LIGHTTPD_SNIPPET"
	echo "estcgi installed under ${D:-/} (PREFIX=$PREFIX); next: estcgi-init (see estcgi(8))"
}

do_uninstall() {
	for p in $PROGS; do rm -f "$D$LIBDIR/$p" "$D$LIBDIR/nph-$p"; done
	for t in $TEMPLATES; do rm -f "$D$SHAREDIR/templates/$t"; done
	for f in $WEBFILES; do rm -f "$D$WEBDIR/$f"; done
	for m in $MANPAGES; do rm -f "$D$MANDIR/$m"; done
	for u in $UNITS; do rm -f "$D$PREFIX/lib/systemd/system/$u"; done
	rm -f "$D$PREFIX/sbin/estcgi-crl"
	rm -f "$D$PREFIX/sbin/estcgi-init" "$D$SYSCONFDIR/estcgi/est.conf.example" \
		"$D$APACHE_SNIPPET" "$D$LIGHTTPD_SNIPPET"
	rmdir "$D$LIBDIR" "$D$SHAREDIR/templates" "$D$WEBDIR" "$D$SHAREDIR" 2>/dev/null || true
	echo "estcgi uninstalled from ${D:-/} (kept: $SYSCONFDIR/estcgi, $STATEDIR)"
}

case $cmd in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: install.sh install|uninstall" >&2; exit 2 ;;
esac
