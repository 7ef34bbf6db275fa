#!/bin/sh
# srp-verifiers.sh LIST VFILE — writes the TLS-SRP verifier file VFILE
# (openssl srp format, for mod_ssl's SSLSRPVerifierFile) for the users in
# LIST: one "name:password" per line (blank lines and # comments
# skipped).  VFILE is rebuilt from LIST, so LIST is the whole truth;
# passwords go to openssl through the environment, never the command
# line.  SRP_GN sets the RFC 5054 group size (default 3072).
set -eu
list=$1 out=$2
[ -r "$list" ] || { echo "srp-verifiers: cannot read $list" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/v"
n=0
while IFS= read -r line || [ -n "$line" ]; do
	case $line in '' | '#'*) continue ;; esac
	name=${line%%:*}
	case $line in
	*:*) ;;
	*) echo "srp-verifiers: line without ':' skipped" >&2; continue ;;
	esac
	SRP_PW=${line#*:} openssl srp -srpvfile "$tmp/v" -add -gn "${SRP_GN:-3072}" \
		-passout env:SRP_PW "$name" >/dev/null 2>"$tmp/err" || {
		cat "$tmp/err" >&2
		exit 1
	}
	n=$((n + 1))
done < "$list"
umask 077
cp "$tmp/v" "$out.tmp"
mv "$out.tmp" "$out"
echo "srp-verifiers: $n user(s) in $out"
