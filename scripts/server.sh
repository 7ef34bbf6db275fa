#!/bin/sh
# server.sh run|start|stop|reload RUNDIR PORT — the private web server of
# the demo and the tests, started from the shipped apache-conf/ files
# (reload: re-read the CRLs, see below).
# SERVER picks it (default apache):
#   apache      Apache httpd + mod_fcgid   (demo-httpd.conf)
#   apache-cgi  Apache httpd + mod_cgid, plain CGI, one process per request
#   lighttpd    lighttpd + mod_fastcgi     (demo-lighttpd.conf)
#   apache-proxy  Apache httpd + mod_proxy_fcgi, each program a pool of
#               FCGI_WORKERS (default 4) workers on its own UNIX socket,
#               started by spawn-fcgi (the fast setup; FASTCGI=proxy)
# RUNDIR/server names the one running; RUNDIR/server.pid is its main pid.
# SRP_PORT=N (Apache only) also serves the TLS-SRP example virtual host
# (estcgi-srp-vhost.conf) on port N, with verifiers for the demo users.
set -eu
cmd=$1 R=$2 PORT=$3
TOP=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$R"
R=$(cd "$R" && pwd)
# `stop` and `reload` act on whichever server this RUNDIR runs.
if { [ "$cmd" = stop ] || [ "$cmd" = reload ]; } && [ -f "$R/server" ]; then
	SERVER=$(cat "$R/server")
fi
SERVER=${SERVER:-apache}
[ "${CGI:-0}" = 1 ] && [ "$SERVER" = apache ] && SERVER=apache-cgi
[ "${FASTCGI:-}" = proxy ] && [ "$SERVER" = apache ] && SERVER=apache-proxy

export ESTCGI_RUNDIR="$R" ESTCGI_PORT="$PORT"
export ESTCGI_APACHE_CONF="$TOP/apache-conf"
export ESTCGI_BIN="${ESTCGI_BIN:-$TOP/${BUILD:-build}/cgi-bin}"
export ESTCGI_CONFIG="$R/est.conf"
export ESTCGI_USERS="$R/users.htpasswd"
export ESTCGI_ADMIN_USERS="$R/admin.htpasswd"
export ESTCGI_TLS_CERT="$R/tls/server.pem" ESTCGI_TLS_KEY="$R/tls/server.key"
# Client certificates of every CA label's CA (demo-init.sh).
export ESTCGI_CLIENT_CA="$R/ca/client-cas.pem"
export ESTCGI_SOCKDIR="$R/proxy"
export ESTCGI_HANDLER="${ESTCGI_HANDLER:-fcgid-script}"
if [ "$(id -u)" = 0 ]; then
	export ESTCGI_RUN_USER=www-data ESTCGI_RUN_GROUP=www-data
else
	export ESTCGI_RUN_USER="$(id -un)" ESTCGI_RUN_GROUP="$(id -gn)"
fi
APACHE_DEFINES=${APACHE_DEFINES:-}
case $SERVER in
apache)
	;;
apache-cgi)
	ESTCGI_HANDLER=cgi-script
	APACHE_DEFINES="$APACHE_DEFINES -DESTCGI_CGI"
	;;
apache-proxy)
	APACHE_DEFINES="$APACHE_DEFINES -DESTCGI_PROXY"
	;;
lighttpd)
	# lighttpd sends the certificate file as the chain: leaf, then issuer.
	export ESTCGI_TLS_CERT="$R/tls/server-chain.pem"
	;;
*)
	echo "server.sh: unknown SERVER '$SERVER' (apache, apache-cgi, apache-proxy, lighttpd)" >&2
	exit 2
	;;
esac
SRP_PORT=${SRP_PORT:-}
case $SERVER in apache*) ;; *) SRP_PORT="" ;; esac
if [ -n "$SRP_PORT" ]; then
	APACHE_DEFINES="$APACHE_DEFINES -DESTCGI_SRP"
	export ESTCGI_SRP_PORT="$SRP_PORT" ESTCGI_SRP_VERIFIERS="$R/srp/verifiers"
fi
APACHE="apache2 -f $TOP/apache-conf/demo-httpd.conf $APACHE_DEFINES"
LIGHTTPD="lighttpd -f $TOP/apache-conf/demo-lighttpd.conf"
case $SERVER in
lighttpd) PIDFILE="$R/lighttpd/lighttpd.pid" ;;
*)        PIDFILE="$R/apache/httpd.pid" ;;
esac

# The main pid: through RUNDIR/server.pid (whichever server ran last in
# RUNDIR), else this server's own pid file.
main_pid() {
	if [ -f "$R/server.pid" ]; then cat "$R/server.pid"
	elif [ -f "$PIDFILE" ]; then cat "$PIDFILE"
	else return 1
	fi
}
running() { pid=$(main_pid) && kill -0 "$pid" 2>/dev/null; }

# As root the workers run as www-data: they must reach the programs and
# the run directory, and own what they write (PLATFORM-NOTES).
fix_perms() {
	[ "$(id -u)" = 0 ] || return 0
	for d in "$ESTCGI_BIN" "$R"; do
		p=$d
		while [ "$p" != / ]; do
			if ! runuser -u www-data -- test -x "$p" 2>/dev/null; then
				echo "estcgi: giving others search (x) permission on $p so www-data can reach $d"
				chmod o+x "$p"
			fi
			p=$(dirname "$p")
		done
	done
	chmod 755 "$R" "$R/ca" "$R/tls"
	if [ -d "$R/ca-rsa" ]; then      # CA label rsa (demo-init.sh)
		chmod 755 "$R/ca-rsa"
		chgrp www-data "$R/ca-rsa/ca.key"
		chmod 640 "$R/ca-rsa/ca.key"
		chmod 644 "$R/ca-rsa/ca.pem"
	fi
	chmod 644 "$R/ca/client-cas.pem"
	chown -R www-data:www-data "$R/db" "$R/fcgid"
	chown -R www-data:www-data "$R/audit"
	chown -R www-data:www-data "$R/crl"
	chgrp www-data "$R/ca/ocsp.key"
	chmod 640 "$R/ca/ocsp.key"
	chgrp www-data "$R/ca/ca.key" "$R/est.conf" "$R/users.htpasswd" "$R/admin.htpasswd"
	chmod 640 "$R/ca/ca.key" "$R/est.conf" "$R/users.htpasswd" "$R/admin.htpasswd"
	chmod 644 "$R/ca/ca.pem" "$R/ca/ocsp.pem"
	# mod_cgid's workers (www-data) reach its daemon through
	# RUNDIR/apache/cgid.sock.
	if [ "$SERVER" = apache-cgi ]; then
		chmod 711 "$R/apache"
	fi
	# lighttpd opens its logs and sockets after dropping to www-data.
	if [ "$SERVER" = lighttpd ]; then
		chown -R www-data:www-data "$R/logs" "$R/lighttpd"
	fi
}

write_env() {
	{
		echo "# estcgi demo instance: source this file (. $R/demo.env)"
		echo "EST_BASE=https://127.0.0.1:$PORT"
		echo "EST_URL=https://127.0.0.1:$PORT/.well-known/est"
		echo "EST_API_URL=https://127.0.0.1:$PORT/api/v1"
		echo "EST_DASHBOARD_URL=https://127.0.0.1:$PORT/dashboard/"
		echo "EST_METRICS_URL=https://127.0.0.1:$PORT/metrics"
		echo "EST_CRL_URL=https://127.0.0.1:$PORT/crl/default.crl"
		echo "EST_OCSP_URL=https://127.0.0.1:$PORT/ocsp"
		echo "EST_TLS_CA=$R/tls/root.pem"
		echo "EST_CA_CERT=$R/ca/ca.pem"
		echo "EST_LABELS=\"rsa manual strict\""
		echo "EST_MANUAL_LABEL=manual"
		echo "EST_SERVERKEYGEN_LABEL=rsa"
		echo "EST_RSA_CA_CERT=$R/ca-rsa/ca.pem"
		cat "$R/users.env"
		echo "EST_RUNDIR=$R"
		echo "EST_CONFIG=$R/est.conf"
		echo "EST_PORT=$PORT"
		echo "EST_SERVER=$SERVER"
		[ -z "$SRP_PORT" ] || echo "EST_SRP_URL=https://127.0.0.1:$SRP_PORT/.well-known/est"
	} > "$R/demo.env.tmp"
	chmod 600 "$R/demo.env.tmp"
	mv "$R/demo.env.tmp" "$R/demo.env"
}

wait_up() {
	i=0
	while [ $i -lt 100 ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$R/tls/root.pem" \
			"https://127.0.0.1:$PORT/.well-known/est/cacerts" 2>/dev/null || true)
		[ "$code" = 200 ] && return 0
		# (a server started undetached writes its pid file a moment later)
		running || [ $i -lt 25 ] || break
		sleep 0.2
		i=$((i + 1))
	done
	echo "estcgi: server did not come up; see $R/logs/error.log" >&2
	tail -n 20 "$R/logs/error.log" >&2 2>/dev/null || true
	return 1
}

# The programs apache-conf/estcgi-proxy-fcgi.conf maps (those built).
PROXY_PROGS="cacerts bootstrap simpleenroll simplereenroll csrattrs serverkeygen unsupported api dashboard metrics ocsp"

# apache-proxy: starts each program as FCGI_WORKERS workers on
# RUNDIR/proxy/NAME.sock: spawn-fcgi makes the socket (connectable by
# the serving user only) and starts the program, whose EST_WORKERS
# supervisor forks the workers and replaces any that dies.  spawn-fcgi
# gives its program /dev/null as stderr: a shell first points it at the
# error log (opened before setpriv drops to the serving user, as Apache
# does for mod_fcgid's workers).
start_workers() {
	mkdir -p "$ESTCGI_SOCKDIR"
	chmod 755 "$ESTCGI_SOCKDIR"
	own="" as=""
	if [ "$(id -u)" = 0 ]; then
		own="-U www-data -G www-data"
		as="setpriv --reuid=www-data --regid=www-data --init-groups --"
	fi
	for p in $PROXY_PROGS; do
		[ -x "$ESTCGI_BIN/$p" ] || continue
		rm -f "$ESTCGI_SOCKDIR/$p.sock"
		EST_CONFIG="$ESTCGI_CONFIG" EST_WORKERS="${FCGI_WORKERS:-4}" \
			spawn-fcgi -s "$ESTCGI_SOCKDIR/$p.sock" -M 0600 $own \
			-P "$ESTCGI_SOCKDIR/$p.pid" -- /bin/sh -c \
			'exec 2>>"$0"; exec "$@"' "$R/logs/error.log" \
			$as "$ESTCGI_BIN/$p" >/dev/null </dev/null
	done
}

# Stops the apache-proxy workers: SIGTERM to each supervisor, which
# stops its workers (they close the store) and exits.
stop_workers() {
	for f in "$ESTCGI_SOCKDIR"/*.pid; do
		[ -f "$f" ] || continue
		wpid=$(cat "$f")
		kill -TERM "$wpid" 2>/dev/null || true
		i=0
		while kill -0 "$wpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$wpid" 2>/dev/null || true
		rm -f "$f" "${f%.pid}.sock"
	done
}

stop() {
	if ! running; then
		stop_workers
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$(readlink -f "$R/server.pid")" "$PIDFILE" "$R/server.pid"
	stop_workers
}

# config_test — the server's own syntax check of the demo config.
config_test() {
	case $SERVER in
	lighttpd) $LIGHTTPD -tt ;;
	*)        $APACHE -t ;;
	esac
}

# publish_crl — the CRLs (estcgi-crl), before the web server starts: it
# reads the PEM CRL for its client-certificate checks.  Runs as the
# serving user, who owns the store.
publish_crl() {
	crl="$ESTCGI_BIN/../sbin/estcgi-crl"
	[ -x "$crl" ] || crl="$TOP/${BUILD:-build}/sbin/estcgi-crl"
	if [ "$(id -u)" = 0 ]; then
		runuser -u www-data -- env EST_CONFIG="$ESTCGI_CONFIG" "$crl"
	else
		EST_CONFIG="$ESTCGI_CONFIG" "$crl"
	fi
}

prepare() {
	sh "$TOP/scripts/demo-init.sh" "$R"
	# A demo folder made before CA labels: its one CA.
	[ -f "$R/ca/client-cas.pem" ] || cp "$R/ca/ca.pem" "$R/ca/client-cas.pem"
	if [ "$SERVER" = lighttpd ]; then
		mkdir -p "$R/lighttpd/sockets" "$R/lighttpd/htdocs"
		touch "$R/logs/error.log" "$R/logs/access.log"
		cat "$R/tls/server.pem" "$R/tls/root.pem" > "$R/tls/server-chain.pem"
	fi
	# TLS-SRP: the demo's enrollment user as an SRP user, same password.
	if [ -n "$SRP_PORT" ]; then
		mkdir -p "$R/srp"
		(umask 077; . "$R/users.env"; printf '%s:%s\n' "$EST_USER" "$EST_PASS" > "$R/srp/users.list")
		sh "$TOP/scripts/srp-verifiers.sh" "$R/srp/users.list" "$R/srp/verifiers" >/dev/null
	fi
	fix_perms
	publish_crl
	config_test >/dev/null 2>"$R/logs/configtest.log" || {
		cat "$R/logs/configtest.log" >&2
		exit 1
	}
	echo "$SERVER" > "$R/server"
	# One place for the main pid whatever the server (tests/e2e/lib.sh).
	ln -sf "${PIDFILE#"$R/"}" "$R/server.pid"
	write_env
}

case $cmd in
start)
	stop
	prepare
	case $SERVER in
	# The programs inherit lighttpd's stderr (a daemonized lighttpd gives
	# them /dev/null): run it undetached with stderr on the error log.
	lighttpd) setsid $LIGHTTPD -D </dev/null >/dev/null 2>>"$R/logs/error.log" & ;;
	apache-proxy) start_workers; $APACHE -k start ;;
	*)        $APACHE -k start ;;
	esac
	wait_up
	echo "estcgi: serving https://127.0.0.1:$PORT/.well-known/est ($SERVER); settings in $R/demo.env"
	;;
run)
	stop
	prepare
	echo "estcgi: serving https://127.0.0.1:$PORT/.well-known/est ($SERVER; Ctrl-C stops)"
	echo "estcgi: settings for clients: . $R/demo.env"
	case $SERVER in
	lighttpd) exec $LIGHTTPD -D 2>>"$R/logs/error.log" ;;
	apache-proxy)
		start_workers
		trap stop_workers EXIT INT TERM
		$APACHE -DFOREGROUND ;;
	*)        exec $APACHE -DFOREGROUND ;;
	esac
	;;
stop)
	stop
	;;
reload)
	# Re-reads the CRL (mod_ssl reads all.crl.pem only when it starts):
	# Apache restarts gracefully, after a config check, and this waits
	# for its log to say the new generation serves; lighttpd cannot
	# re-read its TLS key after dropping privileges, so it restarts.
	running || { echo "server.sh: no server runs in $R" >&2; exit 1; }
	case $SERVER in
	lighttpd) exec env SERVER=lighttpd sh "$0" start "$R" "$PORT" ;;
	esac
	config_test >/dev/null 2>"$R/logs/configtest.log" || {
		cat "$R/logs/configtest.log" >&2
		exit 1
	}
	gen=$(grep -c 'resuming normal operations' "$R/logs/error.log" || true)
	kill -USR1 "$pid"
	i=0
	while [ "$(grep -c 'resuming normal operations' "$R/logs/error.log" || true)" -le "$gen" ]; do
		[ $i -lt 100 ] || { echo "server.sh: no graceful restart; see $R/logs/error.log" >&2; exit 1; }
		sleep 0.1
		i=$((i + 1))
	done
	wait_up
	;;
check)
	# The server's own syntax check of its demo config for RUNDIR as it
	# is (APACHE_DEFINES honoured); tests check optional snippets so.
	config_test
	;;
*)
	echo "usage: server.sh run|start|stop|reload|check RUNDIR PORT" >&2
	exit 2
	;;
esac
