/*
 * csrattrs — RFC 7030 4.5: GET /.well-known/est/[<label>/]csrattrs.
 * Anyone may ask (4.5.1: no client authentication needed).  The answer
 * is the label's configured CSR attributes as base64 DER CsrAttrs
 * (4.5.2), application/csrattrs, or 204 when it announces none.  What
 * it announces about the key type is also what enrollment accepts
 * (conf.c makes csrattrs.key the policy's only key type).
 */
#include <string.h>

#include "est.h"

/* Answers GET/HEAD with the request's label's csrattrs; other methods
 * get 405. */
static enum est_err
csrattrs(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	enum est_err rc;

	(void)ctx;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		resp->allow = "GET, HEAD";
		return est_fail(EST_ERR_METHOD, "csrattrs takes GET only "
		    "(RFC 7030 4.5.1)");
	}
	if ((rc = csrattrs_body(req->label, &resp->body,
	    &resp->body_len)) != EST_OK)
		return rc;
	/* RFC 7030 4.5.2: no attributes, 204 No Content. */
	if (resp->body == NULL) {
		resp->status = 204;
		return EST_OK;
	}
	resp->content_type = "application/csrattrs";
	resp->transfer_enc = "base64";
	return EST_OK;
}

int
main(void)
{
	return est_serve("csrattrs", EST_OP_OTHER, EST_NEED_LABEL, csrattrs);
}
