#!/bin/sh
# deps.sh check|install PKG... — checks that the Debian packages are
# installed; `install` (or `check` as root) installs the missing ones.
set -eu
mode=$1; shift
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "estcgi: missing Debian packages:$missing" >&2
	echo "estcgi: install them with: sudo make deps" >&2
	exit 1
fi
echo "estcgi: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
