/*
 * bootstrap — python-est's first contact: HTTP Basic only; a device ID
 * already registered gets 409 before anything is signed.  Issues a
 * short-lived bootstrap certificate the device then uses as its TLS
 * client certificate for simpleenroll.
 * The work is enroll_handle() in common/enroll.c.
 */
#include "est.h"

int
main(void)
{
	return est_serve("bootstrap", EST_OP_BOOTSTRAP, EST_NEED_CA | EST_NEED_STORE,
	    enroll_handle);
}
