/*
 * ocsp — the OCSP responder (RFC 6960) at /ocsp: POST with an
 * application/ocsp-request body, or GET /ocsp/<url-encoded base64 of
 * the DER request> (RFC 6960 A.1).  Anyone may ask.  Statuses come
 * from the store (common/ocsp.c); each request also checks that the
 * published CRLs are current (common/crl.c), so CRLs are refreshed even
 * when nothing is revoked for a while.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "est.h"

#define OCSP_CACHE_HEADERS 256  /* Last-Modified, Expires and ETag lines */

/* Loaded on first use, kept for the process's life. */
static struct est_ocsp_signer signer;
static int                    signer_ok;

/* Sends the OCSP response der (owned, handed to resp). */
static void
ocsp_answer(struct est_resp *resp, unsigned char *der, size_t len)
{
	resp->status = 200;
	resp->content_type = "application/ocsp-response";
	resp->body = (char *)der;
	resp->body_len = len;
}

/*
 * RFC 5019 6.2: an answer to a GET without a nonce may be kept by HTTP
 * caches until its nextUpdate: Cache-Control max-age (never past
 * nextUpdate), Last-Modified (thisUpdate), Expires (nextUpdate) and an
 * ETag (the SHA-256 of the response).  c is what ocsp_respond() said
 * of der (len bytes); anything else stays no-store.  Sets
 * resp->max_age and resp->headers (owned by resp).
 */
static void
ocsp_cache(struct est_resp *resp, const unsigned char *der, size_t len,
    const struct est_ocsp_cache *c)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen = 0, i;
	char          lm[EST_HTTP_DATE_MAX], ex[EST_HTTP_DATE_MAX];
	char          tag[2 * EVP_MAX_MD_SIZE + 1];
	time_t        now = time(NULL);
	int           n;

	if (c->next_update <= now || c->next_update - now > INT32_MAX ||
	    http_date(c->this_update, lm, sizeof(lm)) != 0 ||
	    http_date(c->next_update, ex, sizeof(ex)) != 0 ||
	    EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    (resp->headers = malloc(OCSP_CACHE_HEADERS)) == NULL)
		return;
	for (i = 0; i < mdlen; i++)
		snprintf(tag + 2 * i, 3, "%02x", md[i]);
	n = snprintf(resp->headers, OCSP_CACHE_HEADERS, "Last-Modified: "
	    "%s\r\nExpires: %s\r\nETag: \"%s\"\r\n", lm, ex, tag);
	if (n < 0 || n >= OCSP_CACHE_HEADERS) {
		free(resp->headers);
		resp->headers = NULL;
		return;
	}
	resp->max_age = (int)(c->next_update - now);
}

/* Answers one OCSP request (POST body or GET path); other methods get
 * 405, a body of another type 415. */
static enum est_err
ocsp(struct est_ctx *ctx, const struct est_req *req, struct est_resp *resp)
{
	struct est_ocsp_cache cache;
	unsigned char        *der = NULL, *out = NULL;
	size_t                len = 0, outlen = 0;
	enum est_err          rc;
	int                   get;

	get = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;
	if (!get && strcmp(req->method, "POST") != 0) {
		resp->allow = "GET, HEAD, POST";
		return est_fail(EST_ERR_METHOD, "OCSP takes POST or GET "
		    "(RFC 6960 A.1)");
	}
	if (!signer_ok) {
		if ((rc = ocsp_signer_load(&ctx->conf, &ctx->ca, &signer)))
			return rc;
		signer_ok = 1;
	}
	/* CRLs kept current when nothing else runs; a renewal burst's
	 * revocations wait for the batch here too. */
	crl_refresh_batched();
	est_reason_clear();
	if (get) {
		rc = ocsp_from_get(req->request_uri, &der, &len);
		/* Base64 that does not decode is a malformed request, in
		 * OCSP's own terms; no request at all is plain HTTP 400. */
		if (rc == EST_ERR_BAD_BASE64)
			rc = EST_OK;
		if (rc != EST_OK)
			return rc;
	} else {
		if (req->body_err != EST_OK)
			return req->body_err;
		/* RFC 6960 A.1: Content-Type application/ocsp-request. */
		if (!content_type_is(req->content_type,
		    "application/ocsp-request"))
			return est_fail(EST_ERR_MEDIA_TYPE, "Content-Type must "
			    "be application/ocsp-request");
		if (req->body_len > EST_OCSP_MAX_REQUEST)
			return est_fail(EST_ERR_TOO_LARGE, "OCSP request longer "
			    "than %d bytes", EST_OCSP_MAX_REQUEST);
		if (req->body != NULL && req->body_len > 0) {
			if ((der = malloc(req->body_len)) == NULL)
				return EST_ERR_NOMEM;
			memcpy(der, req->body, req->body_len);
			len = req->body_len;
		}
	}
	rc = ocsp_respond(ctx, &signer, der, len, &out, &outlen, &cache);
	free(der);
	if (rc != EST_OK)
		return rc;
	ocsp_answer(resp, out, outlen);
	if (get)
		ocsp_cache(resp, out, outlen, &cache);
	return EST_OK;
}

int
main(void)
{
	int st;

	st = est_serve("ocsp", EST_OP_OTHER, EST_NEED_CA | EST_NEED_STORE,
	    ocsp);
	ocsp_signer_free(&signer);
	return st;
}
