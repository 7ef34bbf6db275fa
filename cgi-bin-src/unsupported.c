/*
 * unsupported — every /.well-known/est/ path no other program serves:
 * fullcmc (RFC 7030 4.3) answers 501, anything else is an unknown
 * operation or CA label, 404 — each with a one-line reason.
 */
#include <string.h>

#include "est.h"

#define OP_NAME_MAX 32 /* longest operation name echoed back */

/* Returns the last path segment of the request URI (query stripped). */
static void
last_segment(const char *uri, char *out, size_t outsz)
{
	const char *slash = strrchr(uri, '/');
	size_t      n;

	uri = slash != NULL ? slash + 1 : uri;
	n = strcspn(uri, "?");
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, uri, n);
	out[n] = '\0';
}

/* Answers 501 for the RFC 7030 operations we do not offer, 404 else. */
static enum est_err
unsupported(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	char op[OP_NAME_MAX];

	(void)ctx;
	(void)resp;
	last_segment(req->request_uri, op, sizeof(op));
	if (strcmp(op, "fullcmc") == 0)
		return est_fail(EST_ERR_NOT_IMPLEMENTED, "fullcmc (RFC 7030 "
		    "4.3) is not supported; use simpleenroll");
	return est_fail(EST_ERR_NOT_FOUND, "unknown EST operation");
}

int
main(void)
{
	/* The label is resolved first: an unknown one is 404. */
	return est_serve("unsupported", EST_OP_OTHER, EST_NEED_LABEL,
	    unsupported);
}
