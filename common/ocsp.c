/*
 * ocsp.c — the OCSP responder's protocol work (RFC 6960): the request
 * from a POST body or a GET path (RFC 6960 A.1), each certificate's
 * status from the store, and the signed BasicOCSPResponse.
 *
 * Every request gets an OCSP response: a malformed one
 * malformedRequest, one naming another CA unauthorized (RFC 5019
 * 2.2.3), a store that is down tryLater, so a client always learns
 * why.  The response is signed by a delegated OCSP signing certificate
 * (RFC 6960 4.2.2.2: issued by the CA, id-kp-OCSPSigning) when one is
 * configured, which is then sent with it, else by the CA itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define OCSP_GET_PREFIX "/ocsp/"  /* GET /ocsp/<base64 request> */

/*
 * Loads the OCSP signer of conf into s (zeroed first): the delegated
 * certificate and key of revocation.ocsp_cert/ocsp_key, which must be
 * issued by ca, carry id-kp-OCSPSigning (RFC 6960 4.2.2.2) and match;
 * with none configured s stays empty and the CA signs.  On EST_OK the
 * caller frees s with ocsp_signer_free().  Returns EST_ERR_CONFIG with a
 * reason naming the file, or EST_ERR_NOMEM.
 */
enum est_err
ocsp_signer_load(const struct est_conf *conf, const struct est_ca *ca,
    struct est_ocsp_signer *s)
{
	const struct est_rev_conf *r = conf->rev;
	BIO                       *bio = NULL;
	enum est_err               rc = EST_ERR_CONFIG;

	memset(s, 0, sizeof(*s));
	if (r == NULL || r->ocsp_cert[0] == '\0')
		return EST_OK;
	if ((bio = BIO_new_file(r->ocsp_cert, "r")) == NULL ||
	    (s->cert = PEM_read_bio_X509(bio, NULL, ca_no_passphrase,
	    NULL)) == NULL) {
		est_log_ssl(r->ocsp_cert);
		est_fail(rc, "no PEM certificate in OCSP signer %s",
		    r->ocsp_cert);
		goto out;
	}
	BIO_free(bio);
	if ((bio = BIO_new_file(r->ocsp_key, "r")) == NULL ||
	    (s->key = PEM_read_bio_PrivateKey(bio, NULL, ca_no_passphrase,
	    NULL)) == NULL) {
		est_log_ssl(r->ocsp_key);
		est_fail(rc, "no unencrypted PEM key in OCSP signer key %s",
		    r->ocsp_key);
		goto out;
	}
	if (X509_check_private_key(s->cert, s->key) != 1) {
		est_fail(rc, "OCSP signer key %s does not match %s",
		    r->ocsp_key, r->ocsp_cert);
		goto out;
	}
	/* RFC 6960 4.2.2.2: issued by the CA it answers for, with the
	 * id-kp-OCSPSigning extended key usage. */
	if (X509_check_purpose(s->cert, -1, 0) != 1 ||
	    X509_check_issued(ca->cert, s->cert) != X509_V_OK ||
	    (X509_get_extension_flags(s->cert) & EXFLAG_XKUSAGE) == 0 ||
	    (X509_get_extended_key_usage(s->cert) & XKU_OCSP_SIGN) == 0) {
		est_fail(rc, "OCSP signer %s is not an OCSP signing "
		    "certificate of this CA", r->ocsp_cert);
		goto out;
	}
	rc = EST_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	if (rc != EST_OK)
		ocsp_signer_free(s);
	return rc;
}

/* Frees what s holds and zeroes it; safe on a zeroed struct. */
void
ocsp_signer_free(struct est_ocsp_signer *s)
{
	X509_free(s->cert);
	EVP_PKEY_free(s->key);
	memset(s, 0, sizeof(*s));
}

/* Encodes the unsuccessful OCSP response status (RFC 6960 4.2.1) into
 * *out (malloc'd).  Returns EST_OK or EST_ERR_NOMEM. */
static enum est_err
ocsp_status_only(int status, unsigned char **out, size_t *outlen)
{
	OCSP_RESPONSE *resp;
	unsigned char *p;
	int            len;

	*out = NULL;
	if ((resp = OCSP_response_create(status, NULL)) == NULL ||
	    (len = i2d_OCSP_RESPONSE(resp, NULL)) <= 0 ||
	    (*out = malloc((size_t)len)) == NULL) {
		OCSP_RESPONSE_free(resp);
		return est_fail(EST_ERR_NOMEM, "cannot build an OCSP response");
	}
	p = *out;
	i2d_OCSP_RESPONSE(resp, &p);
	*outlen = (size_t)len;
	OCSP_RESPONSE_free(resp);
	return EST_OK;
}

/*
 * Looks up one requested certificate (id, already known to name ca, one
 * of ctx's CAs) in ctx's store and adds its SingleResponse to basic:
 * good, revoked with time and reason, or unknown (not issued here by
 * ca).  this/next are thisUpdate and nextUpdate.  Returns EST_OK, a
 * store error, or EST_ERR_NOMEM.
 */
static enum est_err
ocsp_single(const struct est_ctx *ctx, const struct est_ca *ca,
    OCSP_BASICRESP *basic, OCSP_CERTID *id, ASN1_TIME *this,
    ASN1_TIME *next)
{
	const struct est_label *l;
	ASN1_INTEGER           *sn = NULL;
	BIGNUM                 *bn = NULL;
	ASN1_TIME              *rt = NULL;
	struct est_cert         c;
	unsigned char           serial[EST_SERIAL_LEN];
	enum est_err            rc;
	int                     n, status = V_OCSP_CERTSTATUS_UNKNOWN;
	int                     reason = 0;

	memset(&c, 0, sizeof(c));
	if (!OCSP_id_get0_info(NULL, NULL, NULL, &sn, id) ||
	    (bn = ASN1_INTEGER_to_BN(sn, NULL)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "cannot read an OCSP serial");
		goto out;
	}
	/* RFC 5280 4.1.2.2: ours are positive, at most 20 octets; any
	 * other serial was not issued here. */
	n = BN_num_bytes(bn);
	if (!BN_is_negative(bn) && !BN_is_zero(bn) && n <= EST_SERIAL_LEN &&
	    BN_bn2bin(bn, serial) == n) {
		rc = store_cert_get(ctx->store, serial, (size_t)n, &c);
		/* RFC 6960 2.2: a serial issued by another of our CAs is
		 * unknown to this one (a label without a CA of its own is
		 * the default CA's; one no longer configured, nobody's). */
		if (rc == EST_OK && ((l = conf_label_find(&ctx->conf, c.label,
		    strlen(c.label))) == NULL || label_ca(ctx, l) != ca))
			rc = EST_ERR_NOT_FOUND;
		if (rc == EST_OK && c.status == CERT_REVOKED) {
			status = V_OCSP_CERTSTATUS_REVOKED;
			reason = c.reason;
			if ((rt = ASN1_TIME_set(NULL,
			    (time_t)c.revoked_at)) == NULL) {
				rc = est_fail(EST_ERR_NOMEM, "out of memory");
				goto out;
			}
		} else if (rc == EST_OK)
			status = V_OCSP_CERTSTATUS_GOOD;
		else if (rc != EST_ERR_NOT_FOUND)
			goto out;
	}
	/* RFC 6960 4.2.2.1 (revokedInfo): the CRLReason is omitted for
	 * unspecified, as in a CRL entry. */
	if (OCSP_basic_add1_status(basic, id, status,
	    status == V_OCSP_CERTSTATUS_REVOKED &&
	    reason != EST_REASON_UNSPECIFIED ? reason : OCSP_REVOKED_STATUS_NOSTATUS,
	    rt, this, next) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "cannot add an OCSP status");
		goto out;
	}
	rc = EST_OK;
out:
	cert_clear(&c);
	BN_free(bn);
	ASN1_TIME_free(rt);
	return rc;
}

/* Returns 1 when the CertID id names ca as issuer (RFC 6960 4.1.1:
 * issuerNameHash and issuerKeyHash with id's own hash algorithm). */
static int
ocsp_names_ca(OCSP_CERTID *id, const struct est_ca *ca)
{
	ASN1_OBJECT  *md_oid = NULL;
	OCSP_CERTID  *mine = NULL;
	const EVP_MD *md;
	int           same;

	if (!OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, id) ||
	    (md = EVP_get_digestbyobj(md_oid)) == NULL ||
	    (mine = OCSP_cert_to_id(md, NULL, ca->cert)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	same = OCSP_id_issuer_cmp(mine, id) == 0;
	OCSP_CERTID_free(mine);
	return same;
}

/*
 * Returns the CA of ctx (the default one, or a label's own) that the
 * CertID id names as issuer, or NULL when none does.
 */
static const struct est_ca *
ocsp_find_ca(const struct est_ctx *ctx, OCSP_CERTID *id)
{
	const struct est_ca *ca;
	size_t               i;

	if (ocsp_names_ca(id, &ctx->ca))
		return &ctx->ca;
	for (i = 1; i < ctx->conf.n_labels; i++)
		if (ctx->conf.labels[i].own_ca &&
		    (ca = label_ca(ctx, &ctx->conf.labels[i])) != NULL &&
		    ca->cert != NULL && ocsp_names_ca(id, ca))
			return ca;
	return NULL;
}

/*
 * Answers the DER OCSP request der (len bytes): on EST_OK *out is a
 * malloc'd DER OCSPResponse (*outlen bytes) for the caller to send as
 * application/ocsp-response — successful with one SingleResponse per
 * requested certificate, the nonce echoed (RFC 6960 4.4.1), thisUpdate
 * now and nextUpdate after ocsp_next_update; or malformedRequest,
 * unauthorized, tryLater, internalError.  When cache is not NULL it
 * says whether shared caches may keep the answer (RFC 5019 6.2: a
 * successful one without a nonce, which answers that one request):
 * its thisUpdate and nextUpdate, or next_update 0.  Returns
 * EST_ERR_NOMEM only when not even that could be built.
 */
enum est_err
ocsp_respond(const struct est_ctx *ctx, const struct est_ocsp_signer *s,
    const unsigned char *der, size_t len, unsigned char **out,
    size_t *outlen, struct est_ocsp_cache *cache)
{
	const unsigned char *p = der;
	OCSP_REQUEST        *req = NULL;
	OCSP_BASICRESP      *basic = NULL;
	OCSP_RESPONSE       *resp = NULL;
	ASN1_TIME           *this = NULL, *next = NULL;
	const struct est_ca *ca;
	X509                *signer;
	EVP_PKEY            *key;
	unsigned char       *q;
	time_t               now = time(NULL);
	enum est_err         rc;
	int                  status = OCSP_RESPONSE_STATUS_INTERNALERROR;
	int                  i, n, dlen, delegated, nonce;

	*out = NULL;
	*outlen = 0;
	if (cache != NULL)
		memset(cache, 0, sizeof(*cache));
	/* RFC 6960 4.1.1: one OCSPRequest, nothing after it. */
	if (len == 0 || len > EST_OCSP_MAX_REQUEST ||
	    (req = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		est_fail(EST_ERR_BAD_REQUEST, "not a DER OCSP request");
		status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		goto fail;
	}
	n = OCSP_request_onereq_count(req);
	if (n < 1 || n > EST_OCSP_MAX_SINGLE) {
		est_fail(EST_ERR_BAD_REQUEST, "OCSP request asks for %d "
		    "certificates (1..%d)", n, EST_OCSP_MAX_SINGLE);
		status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		goto fail;
	}
	/* RFC 5019 2.2.3: a CA this responder does not serve.  One
	 * response has one signer: every certificate asked must be of the
	 * same CA. */
	ca = ocsp_find_ca(ctx, OCSP_onereq_get0_id(
	    OCSP_request_onereq_get0(req, 0)));
	for (i = 0; i < n && ca != NULL; i++)
		if (!ocsp_names_ca(OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(req, i)), ca))
			ca = NULL;
	if (ca == NULL) {
		est_fail(EST_ERR_FORBIDDEN, "OCSP request names another CA");
		status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
		goto fail;
	}
	if ((basic = OCSP_BASICRESP_new()) == NULL ||
	    (this = ASN1_TIME_set(NULL, now)) == NULL ||
	    (next = ASN1_TIME_set(NULL, now +
	    ctx->conf.rev->ocsp_next_update)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		rc = ocsp_single(ctx, ca, basic, OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(req, i)), this, next);
		if (rc != EST_OK) {
			if (est_err_status(rc) == 503)
				status = OCSP_RESPONSE_STATUS_TRYLATER;
			goto fail;
		}
	}
	/* RFC 6960 4.4.1: the nonce, when the request has one (2: none). */
	if ((nonce = OCSP_copy_nonce(basic, req)) <= 0)
		goto fail;
	/* The delegated signer is the default CA's; a label's own CA
	 * signs for itself. */
	delegated = s->cert != NULL && ca == &ctx->ca;
	signer = delegated ? s->cert : ca->cert;
	key = delegated ? s->key : ca->key;
	/* A delegated signer's certificate goes with the response
	 * (RFC 6960 4.2.2.2), once: without OCSP_NOCERTS the signer's own
	 * is added, so no other certificates are passed; a client already
	 * has the CA's. */
	if (!OCSP_basic_sign(basic, signer, key, ca_digest(key), NULL,
	    delegated ? 0 : OCSP_NOCERTS))
		goto fail;
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    basic)) == NULL || (dlen = i2d_OCSP_RESPONSE(resp, NULL)) <= 0 ||
	    (*out = malloc((size_t)dlen)) == NULL)
		goto fail;
	q = *out;
	i2d_OCSP_RESPONSE(resp, &q);
	*outlen = (size_t)dlen;
	if (cache != NULL && nonce == 2) {
		cache->this_update = now;
		cache->next_update = now + ctx->conf.rev->ocsp_next_update;
	}
	rc = EST_OK;
	goto out;
fail:
	est_log_ssl("ocsp");
	free(*out);
	*out = NULL;
	rc = ocsp_status_only(status, out, outlen);
out:
	OCSP_REQUEST_free(req);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	ASN1_TIME_free(this);
	ASN1_TIME_free(next);
	return rc;
}

/*
 * Extracts the DER request of a GET (RFC 6960 A.1: the URL-encoded
 * base64 of the DER request after the responder's path) from the raw
 * request URI uri.  On EST_OK *der is malloc'd (*len bytes).  Returns
 * EST_ERR_BAD_REQUEST (no request, bad escapes), EST_ERR_TOO_LARGE or
 * EST_ERR_BAD_BASE64.
 */
enum est_err
ocsp_from_get(const char *uri, unsigned char **der, size_t *len)
{
	const char  *p;
	char        *dec = NULL;
	size_t       n, max = (EST_OCSP_MAX_REQUEST + 2) / 3 * 4 + 1;
	enum est_err rc;

	*der = NULL;
	*len = 0;
	if (uri == NULL || (p = strstr(uri, OCSP_GET_PREFIX)) == NULL)
		return est_fail(EST_ERR_BAD_REQUEST, "GET needs the base64 "
		    "OCSP request after /ocsp/ (RFC 6960 A.1)");
	p += strlen(OCSP_GET_PREFIX);
	n = strcspn(p, "?#");
	if (n == 0)
		return est_fail(EST_ERR_BAD_REQUEST, "GET needs the base64 "
		    "OCSP request after /ocsp/ (RFC 6960 A.1)");
	/* Escapes only shrink the text: three bytes per decoded byte. */
	if (n > 3 * max)
		return est_fail(EST_ERR_TOO_LARGE, "OCSP request longer than "
		    "%d bytes", EST_OCSP_MAX_REQUEST);
	if ((dec = malloc(n + 1)) == NULL)
		return est_fail(EST_ERR_NOMEM, "out of memory");
	if ((rc = path_decode(p, n, dec, n + 1)) != EST_OK)
		goto out;
	if (strlen(dec) > max) {
		rc = est_fail(EST_ERR_TOO_LARGE, "OCSP request longer than %d "
		    "bytes", EST_OCSP_MAX_REQUEST);
		goto out;
	}
	rc = b64_decode(dec, strlen(dec), der, len);
out:
	free(dec);
	return rc;
}
