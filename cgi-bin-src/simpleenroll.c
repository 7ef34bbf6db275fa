/*
 * simpleenroll — RFC 7030 4.2.1: POST a base64 PKCS#10 CSR, get the
 * device's operational certificate.  Authenticated by the web server:
 * a client certificate this CA issued (the device's current one, for the
 * CSR's own device ID) or HTTP Basic for a device not yet registered.
 * The work is enroll_handle() in common/enroll.c.
 */
#include "est.h"

int
main(void)
{
	return est_serve("simpleenroll", EST_OP_SIMPLEENROLL, EST_NEED_CA | EST_NEED_STORE,
	    enroll_handle);
}
