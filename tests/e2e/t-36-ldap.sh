# Enrollment users from LDAP (apache-conf/estcgi-ldap.conf): no directory
# runs here, so Apache's own syntax check of the demo configuration with
# the snippet included (mod_authnz_ldap parses the RFC 4516 URL there).
case ${EST_SERVER:-apache} in
apache*) ;;
*)	echo "# LDAP example: Apache only; skipped on $EST_SERVER"; return 0 ;;
esac
ldap_check() { # ldap_check URL — apache2 -t with estcgi-ldap.conf
	ESTCGI_LDAP_URL=$1 APACHE_DEFINES="${APACHE_DEFINES:-} -DESTCGI_LDAP" \
		SERVER=$EST_SERVER sh scripts/server.sh check "$EST_RUNDIR" "$EST_PORT" > "$T/ldap.check" 2>&1
}
ldap_check "ldaps://ldap.example.org/ou=people,dc=example,dc=org?uid?sub?(objectClass=inetOrgPerson)"
check "ldap: the snippet passes apache2 -t" 0 "$?"
check_true "ldap: Syntax OK" grep -q 'Syntax OK' "$T/ldap.check"
ldap_check "http://not-ldap.example.org/"
check_true "ldap: a URL that is not LDAP fails apache2 -t" test "$?" -ne 0
