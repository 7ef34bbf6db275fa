#!/bin/sh
# demo-init.sh RUNDIR — creates, once, everything a demo instance needs:
# a demo EST CA (ECDSA P-256, or RSA-2048 with CA_KEY=rsa), a separate
# TLS root and server certificate for 127.0.0.1/localhost, demo users
# with random passwords, and est.conf.  THE DEMO CA IS FOR TESTING ONLY.
set -eu
R=$1
TOP=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$R/est.conf" ] && exit 0
umask 077
mkdir -p "$R/ca" "$R/tls" "$R/db" "$R/logs" "$R/apache" "$R/fcgid" "$R/audit" "$R/crl"

keygen() { # keygen FILE — a new private key of the demo's type
	if [ "${CA_KEY:-ec}" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
	fi
}

cat > "$R/ca/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ocsp]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
CNF="$R/ca/openssl.cnf"

# The EST CA: issues device certificates.
keygen "$R/ca/ca.key"
openssl req -x509 -new -config "$CNF" -extensions ca -key "$R/ca/ca.key" \
	-subj "/O=estcgi demo/CN=estcgi demo EST CA" -days 3650 -out "$R/ca/ca.pem"

# CA label rsa's own CA (RFC 7030 3.2.2): RSA-2048 whatever CA_KEY says.
mkdir -p "$R/ca-rsa"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$R/ca-rsa/ca.key" 2>/dev/null
openssl req -x509 -new -config "$CNF" -extensions ca -key "$R/ca-rsa/ca.key" \
	-subj "/O=estcgi demo/CN=estcgi demo EST CA rsa" -days 3650 \
	-out "$R/ca-rsa/ca.pem"
# The web server accepts client certificates of every label's CA; the
# programs check the one of the request's label.
cat "$R/ca/ca.pem" "$R/ca-rsa/ca.pem" > "$R/ca/client-cas.pem"

# The delegated OCSP signer (RFC 6960 4.2.2.2: id-kp-OCSPSigning, issued
# by the EST CA; id-pkix-ocsp-nocheck, 4.2.2.2.1), so the CA key signs
# no OCSP answers.
keygen "$R/ca/ocsp.key"
openssl req -new -config "$CNF" -key "$R/ca/ocsp.key" \
	-subj "/O=estcgi demo/CN=estcgi demo OCSP responder" |
	openssl x509 -req -CA "$R/ca/ca.pem" -CAkey "$R/ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 825 \
		-extfile "$CNF" -extensions ocsp -out "$R/ca/ocsp.pem" 2>/dev/null

# A separate TLS root and the web server's certificate.
keygen "$R/tls/root.key"
openssl req -x509 -new -config "$CNF" -extensions ca -key "$R/tls/root.key" \
	-subj "/O=estcgi demo/CN=estcgi demo TLS root" -days 3650 -out "$R/tls/root.pem"
keygen "$R/tls/server.key"
openssl req -new -config "$CNF" -key "$R/tls/server.key" -subj "/CN=localhost" |
	openssl x509 -req -CA "$R/tls/root.pem" -CAkey "$R/tls/root.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 825 \
		-extfile "$CNF" -extensions server -out "$R/tls/server.pem" 2>/dev/null

# Demo users: one that may bootstrap and enroll, one admin.  The
# enrollment user's is a generated 128-bit device secret: SHA-256-crypt,
# 1000 rounds (README, "Device secrets"); the admin's, bcrypt.
pw_user=$(openssl rand -hex 16)
pw_admin=$(openssl rand -hex 12)
htpasswd -cb2 -r 1000 "$R/users.htpasswd" estuser "$pw_user" 2>/dev/null
htpasswd -cbB -C 5 "$R/admin.htpasswd" admin "$pw_admin" 2>/dev/null
printf 'EST_USER=estuser\nEST_PASS=%s\nEST_ADMIN_USER=admin\nEST_ADMIN_PASS=%s\n' \
	"$pw_user" "$pw_admin" > "$R/users.env"

cat > "$R/est.conf" <<CONF
# estcgi configuration for the demo instance (see README, "Configuration").
ca = {
    cert = "ca/ca.pem";
    key = "ca/ca.key";
    chain = "";
};
validity_days = 365;
bootstrap_validity_days = 30;
device_id_pattern = "^[A-Za-z0-9._:-]{1,64}\$";
store_dir = "db";
log = "stderr";
templates_dir = "$TOP/templates";
time_zone = "UTC";
admin_users = [ "admin" ];
audit_log = "audit/audit.log";
# CA labels (README, "Configuration"): /.well-known/est/<label>/<op>.
labels = {
    # Its own RSA-2048 CA; server-side key generation; csrattrs asks for
    # RSA-2048 keys, which is then the only key type accepted.
    rsa = {
        ca = { cert = "ca-rsa/ca.pem"; key = "ca-rsa/ca.key"; };
        extended_key_usage = [ "clientAuth", "serverAuth" ];
        csrattrs = {
            oids = [ "challengePassword", "sha256WithRSAEncryption" ];
            key = "RSA-2048";
            extensions = [ "subjectAltName" ];
        };
        serverkeygen = { enabled = true; };
        policy = { copy_extensions = true; };
    };
    # The default CA; requests wait for an administrator's approval.
    manual = {
        approval = { required = true; retry_after = 30; };
    };
    # The default CA with a strict CSR policy.
    strict = {
        key_usage = [ "digitalSignature" ];
        extended_key_usage = [ "serverAuth" ];
        policy = {
            key_types = [ "P-256", "P-384" ];
            hashes = [ "SHA-384", "SHA-512" ];
            subject_required = [ "CN", "O" ];
            subject_allowed = [ "CN", "O", "OU" ];
            allowed_o = [ "estcgi demo" ];
            allowed_ou = [ "sensors", "gateways" ];
            san_types = [ "dns" ];
            san_pattern = "^[a-z0-9-]+\\\\.example\\\\.com\$";
            max_validity_days = 7;
        };
    };
};
# Rate limits (README, "Approval queue, duplicates and rate limits"):
# the demo's load and fault tests enroll thousands of devices as one
# user, so no per-user limit; per device the default, 100 an hour.
rate_limit = { per_user = 0; };
revocation = {
    crl_dir = "crl";
    crl_url = "https://127.0.0.1:${ESTCGI_PORT:-8443}/crl";
    ocsp_url = "https://127.0.0.1:${ESTCGI_PORT:-8443}/ocsp";
    ocsp_cert = "ca/ocsp.pem";
    ocsp_key = "ca/ocsp.key";
    crl_refresh = 3600;
    crl_batch = 60;
    crl_next_update = 604800;
    ocsp_next_update = 3600;
    revoke_on_reenroll = true;
};
CONF
echo "estcgi: demo CA and users created in $R (the demo CA is for testing only)"
