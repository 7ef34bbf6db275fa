/*
 * simplereenroll — RFC 7030 4.2.2: renew with the current certificate
 * as TLS client certificate; the CSR keeps Subject and subjectAltName
 * (a new key is allowed).  The new certificate supersedes the old.
 * The work is enroll_handle() in common/enroll.c.
 */
#include "est.h"

int
main(void)
{
	return est_serve("simplereenroll", EST_OP_SIMPLEREENROLL, EST_NEED_CA | EST_NEED_STORE,
	    enroll_handle);
}
