/*
 * serverkeygen — RFC 7030 4.4: POST a base64 PKCS#10 CSR, authenticated
 * as simpleenroll; the server makes the key (the label's
 * serverkeygen.key) and answers multipart/mixed with the private key
 * (application/pkcs8) and the certificate (certs-only PKCS#7).  Off
 * unless the label enables it (501).  The work is enroll_handle() in
 * common/enroll.c with common/keygen.c.
 */
#include "est.h"

int
main(void)
{
	return est_serve("serverkeygen", EST_OP_SERVERKEYGEN,
	    EST_NEED_CA | EST_NEED_STORE, enroll_handle);
}
