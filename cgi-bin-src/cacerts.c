/*
 * cacerts — RFC 7030 4.1: GET /.well-known/est/[<label>/]cacerts.
 * Anyone may ask (4.1.1: no client authentication required); the answer
 * is the request's CA label's chain as base64 PKCS#7 certs-only (4.1.3),
 * built once at start-up by ca_load().
 */
#include <stdlib.h>
#include <string.h>

#include "est.h"

/* Answers GET/HEAD with the label's ready cacerts body; other methods
 * get 405. */
static enum est_err
cacerts(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	const struct est_ca *ca = label_ca(ctx, req->label);

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		resp->allow = "GET, HEAD";
		return est_fail(EST_ERR_METHOD, "cacerts takes GET only "
		    "(RFC 7030 4.1.2)");
	}
	if ((resp->body = malloc(ca->cacerts_len + 1)) == NULL)
		return EST_ERR_NOMEM;
	memcpy(resp->body, ca->cacerts, ca->cacerts_len + 1);
	resp->body_len = ca->cacerts_len;
	resp->content_type = "application/pkcs7-mime";
	resp->transfer_enc = "base64";
	return EST_OK;
}

int
main(void)
{
	return est_serve("cacerts", EST_OP_CACERTS, EST_NEED_CA, cacerts);
}
