#!/bin/sh
# server.sh run|start|stop RUNDIR PORT — the private Apache of the demo
# and the tests, started from the shipped apache-conf/ files.
set -eu
cmd=$1 R=$2 PORT=$3
TOP=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$R"
R=$(cd "$R" && pwd)
PIDFILE="$R/apache/httpd.pid"

export ESTCGI_RUNDIR="$R" ESTCGI_PORT="$PORT"
export ESTCGI_APACHE_CONF="$TOP/apache-conf"
export ESTCGI_BIN="${ESTCGI_BIN:-$TOP/${BUILD:-build}/cgi-bin}"
export ESTCGI_CONFIG="$R/est.conf"
export ESTCGI_USERS="$R/users.htpasswd"
export ESTCGI_TLS_CERT="$R/tls/server.pem" ESTCGI_TLS_KEY="$R/tls/server.key"
export ESTCGI_CLIENT_CA="$R/ca/ca.pem"
export ESTCGI_HANDLER="${ESTCGI_HANDLER:-fcgid-script}"
if [ "$(id -u)" = 0 ]; then
	export ESTCGI_RUN_USER=www-data ESTCGI_RUN_GROUP=www-data
else
	export ESTCGI_RUN_USER="$(id -un)" ESTCGI_RUN_GROUP="$(id -gn)"
fi
APACHE="apache2 -f $TOP/apache-conf/demo-httpd.conf ${APACHE_DEFINES:-}"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

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
	chown -R www-data:www-data "$R/db" "$R/fcgid"
	chgrp www-data "$R/ca/ca.key" "$R/est.conf" "$R/users.htpasswd" "$R/admin.htpasswd"
	chmod 640 "$R/ca/ca.key" "$R/est.conf" "$R/users.htpasswd" "$R/admin.htpasswd"
	chmod 644 "$R/ca/ca.pem"
}

write_env() {
	{
		echo "# estcgi demo instance: source this file (. $R/demo.env)"
		echo "EST_BASE=https://127.0.0.1:$PORT"
		echo "EST_URL=https://127.0.0.1:$PORT/.well-known/est"
		echo "EST_TLS_CA=$R/tls/root.pem"
		echo "EST_CA_CERT=$R/ca/ca.pem"
		cat "$R/users.env"
		echo "EST_RUNDIR=$R"
		echo "EST_CONFIG=$R/est.conf"
		echo "EST_PORT=$PORT"
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
		running || break
		sleep 0.2
		i=$((i + 1))
	done
	echo "estcgi: server did not come up; see $R/logs/error.log" >&2
	tail -n 20 "$R/logs/error.log" >&2 2>/dev/null || true
	return 1
}

stop() {
	running || return 0
	pid=$(cat "$PIDFILE")
	$APACHE -k stop 2>/dev/null || kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
}

prepare() {
	sh "$TOP/scripts/demo-init.sh" "$R"
	fix_perms
	$APACHE -t >/dev/null 2>"$R/logs/configtest.log" || {
		cat "$R/logs/configtest.log" >&2
		exit 1
	}
	write_env
}

case $cmd in
start)
	stop
	prepare
	$APACHE -k start
	wait_up
	echo "estcgi: serving https://127.0.0.1:$PORT/.well-known/est ; settings in $R/demo.env"
	;;
run)
	stop
	prepare
	echo "estcgi: serving https://127.0.0.1:$PORT/.well-known/est (Ctrl-C stops)"
	echo "estcgi: settings for clients: . $R/demo.env"
	exec $APACHE -DFOREGROUND
	;;
stop)
	stop
	;;
*)
	echo "usage: server.sh run|start|stop RUNDIR PORT" >&2
	exit 2
	;;
esac
