/*
 * queue.c — the approval queue's, duplicate policy's and rate limits'
 * settings (one label's `approval`, `duplicate` and `rate_limit`), the
 * public-key fingerprint that ties a retry to its pending request, and
 * the pending request as JSON.  The records live in store.c; the
 * decisions are taken in enroll.c's transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libconfig.h>
#include <openssl/evp.h>

#include "est.h"

const char *const est_dup_names[DUP__MAX] = {
	"reject", "revoke-previous", "allow"
};

const char *const est_pend_names[PEND__MAX] = {
	"none", "pending", "approved", "rejected"
};

/* Sets the built-in defaults: no approval, duplicates refused, rate
 * limits EST_DEFAULT_RATE_USER / _DEVICE per EST_DEFAULT_RATE_WINDOW. */
void
queue_policy_default(struct est_queue_policy *q)
{
	memset(q, 0, sizeof(*q));
	q->approval = 0;
	q->retry_after = EST_DEFAULT_RETRY_AFTER;
	q->duplicate = DUP_REJECT;
	q->rate_user = EST_DEFAULT_RATE_USER;
	q->rate_device = EST_DEFAULT_RATE_DEVICE;
	q->rate_window = EST_DEFAULT_RATE_WINDOW;
}

/* Reads integer key of group g into *out when present; it must lie in
 * [lo, hi].  where and grp name it in the reason.  Returns EST_OK or
 * EST_ERR_CONFIG. */
static enum est_err
queue_int(config_setting_t *g, const char *key, const char *where,
    const char *grp, int lo, int hi, int *out)
{
	int v;

	if (config_setting_lookup(g, key) == NULL)
		return EST_OK;
	if (!config_setting_lookup_int(g, key, &v) || v < lo || v > hi)
		return est_fail(EST_ERR_CONFIG, "config: %s%s.%s must be a "
		    "number from %d to %d", where, grp, key, lo, hi);
	*out = v;
	return EST_OK;
}

/*
 * Applies the queue settings of section s (est.conf's top level or one
 * labels.NAME group; where is "" or "labels.NAME." for reasons) to q,
 * keeping what s does not set:
 *   approval   = { required = true; retry_after = 60; };
 *   duplicate  = "reject" | "revoke-previous" | "allow";
 *   rate_limit = { per_user = 1000; per_device = 100; window = 3600; };
 * Returns EST_OK or EST_ERR_CONFIG with the reason.
 */
enum est_err
conf_queue(config_setting_t *s, const char *where,
    struct est_queue_policy *q)
{
	config_setting_t *g;
	const char       *dup;
	enum est_err      rc;
	int               b, i;

	if ((g = config_setting_lookup(s, "approval")) !=
	    NULL) {
		if (!config_setting_is_group(g))
			return est_fail(EST_ERR_CONFIG, "config: %sapproval "
			    "must be a group: { required = true; "
			    "retry_after = 60; }", where);
		if (config_setting_lookup(g, "required") != NULL) {
			if (!config_setting_lookup_bool(g, "required", &b))
				return est_fail(EST_ERR_CONFIG, "config: "
				    "%sapproval.required must be true or "
				    "false", where);
			q->approval = b != 0;
		}
		if ((rc = queue_int(g, "retry_after", where, "approval", 1,
		    EST_MAX_RETRY_AFTER, &q->retry_after)) != EST_OK)
			return rc;
	}
	if (config_setting_lookup(s, "duplicate") != NULL) {
		if (!config_setting_lookup_string(s, "duplicate", &dup))
			dup = "";
		for (i = 0; i < DUP__MAX; i++)
			if (strcmp(dup, est_dup_names[i]) == 0)
				break;
		if (i == DUP__MAX)
			return est_fail(EST_ERR_CONFIG, "config: %sduplicate "
			    "must be \"reject\", \"revoke-previous\" or "
			    "\"allow\"", where);
		q->duplicate = (enum est_dup)i;
	}
	if ((g = config_setting_lookup(s, "rate_limit")) ==
	    NULL)
		return EST_OK;
	if (!config_setting_is_group(g))
		return est_fail(EST_ERR_CONFIG, "config: %srate_limit must be "
		    "a group: { per_user = N; per_device = N; window = "
		    "SECONDS; }", where);
	if ((rc = queue_int(g, "per_user", where, "rate_limit", 0,
	    EST_MAX_RATE, &q->rate_user)) ||
	    (rc = queue_int(g, "per_device", where, "rate_limit", 0,
	    EST_MAX_RATE, &q->rate_device)) ||
	    (rc = queue_int(g, "window", where, "rate_limit", 1,
	    EST_MAX_RATE_WINDOW, &q->rate_window)))
		return rc;
	return EST_OK;
}

/*
 * Computes the SHA-256 of req's SubjectPublicKeyInfo (DER) into out:
 * what ties a retried request to the pending one (the CSR's signature
 * proves the requester holds that key, RFC 2986).  Returns EST_OK or
 * EST_ERR_BAD_KEY / EST_ERR_INTERNAL.
 */
enum est_err
csr_key_hash(X509_REQ *req, unsigned char out[EST_KEY_HASH_LEN])
{
	X509_PUBKEY   *pk;
	unsigned char *der = NULL;
	unsigned int   mdlen = 0;
	enum est_err   rc = EST_ERR_INTERNAL;
	int            len;

	/* The CSR's own SubjectPublicKeyInfo, encoded again from its
	 * parsed fields (i2d_PUBKEY of the EVP_PKEY would run OpenSSL 3's
	 * encoder search: 0.9M instructions per request). */
	if ((pk = X509_REQ_get_X509_PUBKEY(req)) == NULL)
		return est_fail(EST_ERR_BAD_KEY, "CSR has no public key");
	if ((len = i2d_X509_PUBKEY(pk, &der)) <= 0)
		goto out;
	if (EVP_Digest(der, (size_t)len, out, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != EST_KEY_HASH_LEN)
		goto out;
	rc = EST_OK;
out:
	OPENSSL_free(der);
	if (rc != EST_OK)
		est_log_ssl("csr_key_hash");
	return rc;
}

/* Checks an administrator's rejection reason, which a device later
 * reads as its one-line 403 answer: at most EST_MAX_REJECT_REASON
 * bytes, no control characters.  Returns EST_OK or
 * EST_ERR_BAD_REQUEST. */
enum est_err
queue_reason_check(const char *reason)
{
	const unsigned char *p;

	if (strlen(reason) > EST_MAX_REJECT_REASON)
		return est_fail(EST_ERR_BAD_REQUEST, "reason longer than %d "
		    "bytes", EST_MAX_REJECT_REASON);
	for (p = (const unsigned char *)reason; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return est_fail(EST_ERR_BAD_REQUEST, "reason must be "
			    "one line without control characters");
	return EST_OK;
}

/* Frees p->csr and zeroes p.  Safe on NULL. */
void
pending_clear(struct est_pending *p)
{
	if (p == NULL)
		return;
	free(p->csr);
	memset(p, 0, sizeof(*p));
}

/*
 * Returns a new JSON object of pending request p: device, state, label,
 * operation, user, ip, key_sha256 (hex), created, decided, decided_by,
 * reason.  NULL when out of memory.
 */
json_t *
json_pending(const struct est_pending *p)
{
	char    hex[2 * EST_KEY_HASH_LEN + 1];
	json_t *o;

	est_hex(p->key_hash, sizeof(p->key_hash), hex);
	o = json_pack("{s:o, s:s, s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, "
	    "s:o}",
	    "device", json_text(p->id),
	    "state", (unsigned)p->state < PEND__MAX ?
	        est_pend_names[p->state] : "unknown",
	    "label", json_text(p->label),
	    "operation", (unsigned)p->op < EST_OP__MAX ?
	        est_op_names[p->op] : "unknown",
	    "user", json_text(p->user),
	    "ip", json_text(p->ip),
	    "key_sha256", hex,
	    "created", json_time(p->created),
	    "decided", p->decided ? json_time(p->decided) : json_null(),
	    "decided_by", p->decided_by[0] ? json_text(p->decided_by)
	                                   : json_null(),
	    "reason", p->reason[0] ? json_text(p->reason) : json_null());
	return o;
}
