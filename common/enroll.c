/*
 * enroll.c — the three enrollment operations: bootstrap (python-est's
 * first contact), simpleenroll (RFC 7030 4.2.1) and simplereenroll
 * (RFC 7030 4.2.2).
 *
 * Checks run in this order, cheapest and least trusting first: method,
 * body size, Content-Type, who is asking, base64, DER, CSR signature
 * and policy, then one store transaction that checks the device's
 * state, signs and records the certificate and the event together, so
 * an answered certificate is always in the store and a refused request
 * leaves nothing but its audit event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "est.h"

#define HEX_SERIAL_MAX (2 * EST_SERIAL_LEN + 1) /* serial as hex + NUL */

/* One enrollment in flight; the transaction function's argument. */
struct enroll_job {
	struct est_ctx *ctx;
	enum est_op     op;
	const struct est_label *label;               /* RFC 7030 3.2.2 */
	const struct est_ca    *ca;                  /* the label's CA */
	EVP_PKEY       *skg_key;    /* serverkeygen: the key made here */
	struct est_csr  csr;
	char            id[EST_MAX_DEVICE_ID + 1];  /* from the CSR CN */
	X509           *client;                      /* TLS client cert */
	unsigned char   auth_serial[EST_SERIAL_LEN]; /* its serial */
	size_t          auth_serial_len;
	const char     *user;                        /* REMOTE_USER */
	const char     *ip;
	const char     *ua;
	int             days;
	X509           *issued;                      /* out */
	unsigned char   serial[EST_SERIAL_LEN];      /* out */
	size_t          serial_len;
	int64_t         not_after;                   /* out */
	unsigned char   key_hash[EST_KEY_HASH_LEN];  /* the requester's key */
	unsigned char  *csr_der;     /* the CSR as received (owned) */
	size_t          csr_der_len;
	int             queued;      /* out: stored for approval (202) */
	int             approved;    /* out: issued after approval */
	int             retry_after; /* out: Retry-After of a 202 or 429 */
	int             revoked;     /* out: a certificate was revoked */
};

/* Copies src into dst of size n, truncating; always NUL-terminates. */
static void
copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src != NULL ? src : "");
}

/* The name of label l as answers write it ("" is the default label). */
static const char *
label_shown(const char *l)
{
	return l[0] != '\0' ? l : "(default)";
}

/* Writes serial as lower-case hex into out (HEX_SERIAL_MAX bytes). */
static void
serial_hex(const unsigned char *s, size_t len, char out[HEX_SERIAL_MAX])
{
	static const char hx[] = "0123456789abcdef";
	size_t            i;

	for (i = 0; i < len && i < EST_SERIAL_LEN; i++) {
		out[2 * i] = hx[s[i] >> 4];
		out[2 * i + 1] = hx[s[i] & 0xf];
	}
	out[2 * i] = '\0';
}

/* Fills an event from the job (time set by the store). */
static void
job_event(const struct enroll_job *job, int status, const char *reason,
    struct est_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->op = job->op;
	ev->status = status;
	copy_str(ev->device, sizeof(ev->device), job->id);
	copy_str(ev->user, sizeof(ev->user), job->user);
	copy_str(ev->ip, sizeof(ev->ip), job->ip);
	copy_str(ev->ua, sizeof(ev->ua), job->ua);
	memcpy(ev->serial, job->serial, job->serial_len);
	ev->serial_len = job->serial_len;
	copy_str(ev->reason, sizeof(ev->reason), reason);
}

/*
 * Checks that the client certificate may enroll for job->id: it is in
 * the store, belongs to this device, is the device's current
 * certificate and is not revoked.  Marks it superseded (in the
 * transaction) since the new certificate replaces it.  dev is the
 * device as read under lock, or NULL when absent.
 */
static enum est_err
check_client_cert(struct est_txn *txn, struct enroll_job *job,
    const struct est_device *dev)
{
	struct est_cert old;
	enum est_err    rc;

	memset(&old, 0, sizeof(old));
	rc = txn_cert_get(txn, job->auth_serial, job->auth_serial_len, &old);
	if (rc == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_CERT_UNKNOWN,
		    "client certificate is not in this server's store");
	if (rc != EST_OK)
		return rc;
	if (strcmp(old.device, job->id) != 0)
		rc = est_fail(EST_ERR_ID_MISMATCH,
		    "client certificate belongs to another device");
	/* RFC 7030 3.2.2: each label is its own CA's service (labels may
	 * share a CA but not their policies, e.g. approval). */
	else if (strcmp(old.label, job->label->name) != 0)
		rc = est_fail(EST_ERR_WRONG_CA, "client certificate was issued "
		    "on label '%s', not on label '%s'", label_shown(old.label),
		    label_shown(job->label->name));
	else if (old.status == CERT_REVOKED)
		rc = est_fail(EST_ERR_CERT_REVOKED, "client certificate is "
		    "revoked (%s)", (unsigned)old.reason < EST_REASON__MAX &&
		    est_reason_names[old.reason] != NULL ?
		    est_reason_names[old.reason] : "unspecified");
	else if (dev == NULL)
		rc = est_fail(EST_ERR_CERT_UNKNOWN,
		    "device '%s' is not registered (deleted?)", job->id);
	else if (old.status != CERT_VALID || dev->serial_len != old.serial_len ||
	    memcmp(dev->serial, old.serial, old.serial_len) != 0)
		rc = est_fail(EST_ERR_CERT_SUPERSEDED, "client certificate "
		    "is not device '%s''s current certificate", job->id);
	else if (job->op == EST_OP_SIMPLEREENROLL &&
	    job->ctx->conf.rev->revoke_on_reenroll) {
		/* revoke_on_reenroll: the key it replaces is taken back
		 * (RFC 5280 5.3.1 superseded); CRL and OCSP follow. */
		rc = txn_cert_revoke(txn, &old, EST_REASON_SUPERSEDED,
		    (int64_t)time(NULL));
		job->revoked = 1;
	} else {
		old.status = CERT_SUPERSEDED;
		rc = txn_cert_update(txn, &old);
	}
	cert_clear(&old);
	return rc;
}

/*
 * Picks a fresh serial, signs the CSR and inserts the certificate
 * (RFC 5280 4.1.2.2: unique serial, checked in the store).  On success
 * job->issued and job->serial are set.
 */
static enum est_err
issue_cert(struct est_txn *txn, struct enroll_job *job)
{
	struct est_cert rec;
	unsigned char  *der = NULL, *p;
	enum est_err    rc = EST_ERR_INTERNAL;
	int             tries, len;

	for (tries = 0; tries < EST_SERIAL_TRIES; tries++) {
		X509_free(job->issued);
		job->issued = NULL;
		free(der);
		der = NULL;
		if ((rc = ca_serial_random(job->serial, &job->serial_len)) ||
		    (rc = ca_sign_label(job->ca, job->label, &job->csr,
		        job->serial, job->serial_len, job->days,
		        &job->issued)))
			break;
		if ((len = i2d_X509(job->issued, NULL)) <= 0 ||
		    len > EST_MAX_CERT_DER || (der = malloc((size_t)len)) == NULL) {
			rc = EST_ERR_INTERNAL;
			break;
		}
		p = der;
		i2d_X509(job->issued, &p);

		memset(&rec, 0, sizeof(rec));
		memcpy(rec.serial, job->serial, job->serial_len);
		rec.serial_len = job->serial_len;
		copy_str(rec.device, sizeof(rec.device), job->id);
		copy_str(rec.label, sizeof(rec.label), job->label->name);
		rec.status = CERT_VALID;
		rec.op = job->op;
		rec.not_before = (int64_t)time(NULL) - EST_CLOCK_SKEW_SECS;
		rec.not_after = (int64_t)time(NULL) + (int64_t)job->days * 86400;
		rec.der = der;
		rec.der_len = (size_t)len;
		job->not_after = rec.not_after;
		rc = txn_cert_insert(txn, &rec);
		if (rc != EST_ERR_EXISTS)
			break;
		est_log(EST_LOG_WARN, "serial collision, trying another");
	}
	free(der);
	if (rc != EST_OK) {
		X509_free(job->issued);
		job->issued = NULL;
	}
	return rc;
}

/* Counts this enrollment against the label's rate limits, per user
 * (when a password authenticated it) and per device ID; called before
 * anything is signed, so a refused request costs no signature (its
 * count is rolled back with the transaction).  Returns EST_OK, or
 * EST_ERR_RATE_LIMITED with job->retry_after set, or a store error. */
static enum est_err
rate_take(struct est_txn *txn, struct enroll_job *job)
{
	const struct est_queue_policy *qp = &job->label->pol.queue;
	enum est_err                   rc;
	int64_t                        now = (int64_t)time(NULL);
	int                            ra = 0;

	if ((job->user == NULL || (rc = txn_rate_take(txn, job->label->name,
	    'u', job->user, qp->rate_user, qp->rate_window, now, &ra)) ==
	    EST_OK) && (rc = txn_rate_take(txn, job->label->name, 'd', job->id,
	    qp->rate_device, qp->rate_window, now, &ra)) == EST_OK)
		return EST_OK;
	if (rc == EST_ERR_RATE_LIMITED)
		job->retry_after = ra;
	return rc;
}

/*
 * Stores job's request as waiting for approval (RFC 7030 4.2.3) with
 * its event, and a DEV_PENDING device record when the ID is new (dev,
 * exists: the device as read under lock).  Sets job->queued.  Returns
 * EST_OK or a store error.
 */
static enum est_err
queue_request(struct est_txn *txn, struct enroll_job *job,
    struct est_device *dev, int exists, int64_t now)
{
	struct est_pending p;
	struct est_event   ev;
	enum est_err       rc;

	memset(&p, 0, sizeof(p));
	copy_str(p.id, sizeof(p.id), job->id);
	p.state = PEND_WAITING;
	p.op = job->op;
	memcpy(p.key_hash, job->key_hash, sizeof(p.key_hash));
	copy_str(p.label, sizeof(p.label), job->label->name);
	copy_str(p.user, sizeof(p.user), job->user);
	copy_str(p.ip, sizeof(p.ip), job->ip);
	p.created = now;
	/* As received: the requester's own signed CSR, also for a
	 * serverkeygen request whose job->csr now has the server's key. */
	p.csr = job->csr_der;
	p.csr_len = job->csr_der_len;
	if ((rc = txn_pending_put(txn, &p)) != EST_OK)
		return rc;
	if (!exists) {
		memset(dev, 0, sizeof(*dev));
		copy_str(dev->id, sizeof(dev->id), job->id);
		copy_str(dev->owner, sizeof(dev->owner), job->user);
		dev->created = dev->updated = now;
		dev->state = DEV_PENDING;
		copy_str(dev->last_ip, sizeof(dev->last_ip), job->ip);
		copy_str(dev->last_ua, sizeof(dev->last_ua), job->ua);
		if ((rc = txn_device_put(txn, dev)) != EST_OK)
			return rc;
	}
	job->queued = 1;
	job->retry_after = job->label->pol.queue.retry_after;
	job_event(job, 202, "waiting for approval", &ev);
	return txn_event_add(txn, &ev);
}

/*
 * Makes way for the new certificate of a device that already has some,
 * by the label's duplicate policy (the RFC leaves this to the server):
 * reject is refused before (first_contact()); revoke-previous revokes
 * every older certificate (RFC 5280 5.3.1 superseded); allow marks the
 * current one superseded (it stays valid until it expires, but no
 * longer authenticates simplereenroll).  Returns EST_OK or a store
 * error.
 */
static enum est_err
replace_previous(struct est_txn *txn, struct enroll_job *job,
    const struct est_device *dev, int64_t now)
{
	struct est_cert cur;
	enum est_err    rc;

	if (job->label->pol.queue.duplicate == DUP_REVOKE_PREVIOUS) {
		job->revoked = 1;
		return txn_device_revoke_certs(txn, job->id, EST_REASON_SUPERSEDED,
		    now, NULL);
	}
	if (dev->serial_len == 0)
		return EST_OK;
	rc = txn_cert_get(txn, dev->serial, dev->serial_len, &cur);
	if (rc == EST_OK && cur.status == CERT_VALID) {
		cur.status = CERT_SUPERSEDED;
		rc = txn_cert_update(txn, &cur);
	} else if (rc == EST_ERR_NOT_FOUND)
		rc = EST_OK;
	cert_clear(&cur);
	return rc;
}

/*
 * Looks at device id's stored request, if any: whether a retry with
 * this key may go on (an approval: job->csr becomes the approved CSR,
 * job->approved set, the request removed) or is answered from it.  A
 * rejection is kept to answer retries with the same key for
 * EST_REJECTED_KEEP_SECS; a request with another key after a rejection
 * starts over.  Returns EST_OK to go on, or EST_PENDING (202, waiting),
 * EST_ERR_REJECTED (403 + reason), EST_ERR_CONFLICT (409: another key
 * or label is waiting or approved), or a store error.
 */
static enum est_err
check_request(struct est_txn *txn, struct enroll_job *job, int64_t now)
{
	struct est_pending p;
	struct est_csr     approved;
	enum est_err       rc;
	int                same, live;

	rc = txn_pending_get(txn, job->id, &p, 0);
	if (rc == EST_ERR_NOT_FOUND)
		return EST_OK;
	if (rc != EST_OK)
		return rc;
	same = memcmp(p.key_hash, job->key_hash, sizeof(p.key_hash)) == 0 &&
	    strcmp(p.label, job->label->name) == 0;
	live = p.state != PEND_REJECTED ||
	    (same && now - p.decided < EST_REJECTED_KEEP_SECS);
	if (!live)
		rc = txn_pending_del(txn, job->id);
	else if (!same && strcmp(p.label, job->label->name) != 0)
		rc = est_fail(EST_ERR_CONFLICT, "device '%s' has an %s "
		    "enrollment request on label '%s'; an administrator must "
		    "reject it first", job->id, p.state == PEND_WAITING ?
		    "open" : "approved", p.label[0] ? p.label : "(default)");
	else if (!same)
		rc = est_fail(EST_ERR_CONFLICT, "device '%s' has an %s "
		    "enrollment request with another key; an administrator "
		    "must reject it first", job->id, p.state == PEND_WAITING ?
		    "open" : "approved");
	else if (p.state == PEND_WAITING) {
		job->retry_after = job->label->pol.queue.retry_after;
		rc = est_fail(EST_PENDING, "enrollment request of '%s' is "
		    "waiting for approval; retry in %d s", job->id,
		    job->retry_after);
	} else if (p.state == PEND_REJECTED)
		rc = est_fail(EST_ERR_REJECTED, "enrollment request of '%s' "
		    "was rejected by %s: %s", job->id, p.decided_by,
		    p.reason[0] ? p.reason : "no reason given");
	else if ((rc = csr_parse(p.csr, p.csr_len, &approved)) != EST_OK)
		;
	else if (job->skg_key != NULL &&
	    (rc = csr_set_key(&approved, job->skg_key)) != EST_OK)
		csr_free(&approved);
	else {
		/* What the administrator approved is what is signed (its
		 * subject and extensions, not the retry's); serverkeygen
		 * (RFC 7030 4.4): for the key made for this answer. */
		csr_free(&job->csr);
		job->csr = approved;
		job->approved = 1;
		rc = txn_pending_del(txn, job->id);
	}
	pending_clear(&p);
	return rc;
}

/*
 * Refuses a first contact for the registered device dev on another label
 * than the one it is registered under (its current certificate's): the
 * duplicate policy is that label's, and a request on another label must
 * neither replace nor revoke its certificates.  Returns EST_OK,
 * EST_ERR_CONFLICT (409) or a store error.
 */
static enum est_err
check_registered_label(struct est_txn *txn, const struct enroll_job *job,
    const struct est_device *dev)
{
	struct est_cert cur;
	enum est_err    rc;

	if (dev->serial_len == 0)
		return EST_OK;
	memset(&cur, 0, sizeof(cur));
	rc = txn_cert_get(txn, dev->serial, dev->serial_len, &cur);
	if (rc == EST_ERR_NOT_FOUND)
		rc = EST_OK;
	else if (rc == EST_OK && strcmp(cur.label, job->label->name) != 0)
		rc = est_fail(EST_ERR_CONFLICT, "device '%s' is registered "
		    "under label '%s'; delete it to enroll it on label '%s'",
		    job->id, label_shown(cur.label),
		    label_shown(job->label->name));
	cert_clear(&cur);
	return rc;
}

/*
 * First contact by password (bootstrap, Basic-auth simpleenroll), under
 * the device's write lock: the stored request (check_request()), the
 * label the device is registered under (check_registered_label()), the
 * duplicate policy and the approval queue.  dev and exists are the
 * device as read; on EST_OK dev is ready to take the new certificate,
 * or job->queued says the request was stored instead.  Returns EST_OK
 * or the refusal.
 */
static enum est_err
first_contact(struct est_txn *txn, struct enroll_job *job,
    struct est_device *dev, int exists)
{
	const struct est_queue_policy *qp = &job->label->pol.queue;
	enum est_err                   rc;
	int64_t                        now = (int64_t)time(NULL);
	int                            registered;

	if ((rc = check_request(txn, job, now)) != EST_OK)
		return rc;
	/* A device whose only record is its request is not registered. */
	registered = exists && dev->state != DEV_PENDING;
	if (registered && (rc = check_registered_label(txn, job, dev)) != EST_OK)
		return rc;
	if (registered && qp->duplicate == DUP_REJECT)
		return est_fail(EST_ERR_DUPLICATE, "device '%s' already "
		    "registered; delete it to re-enroll", job->id);
	if (!job->approved && qp->approval)
		return queue_request(txn, job, dev, exists, now);
	if (registered)
		return replace_previous(txn, job, dev, now);
	if (!exists) {
		memset(dev, 0, sizeof(*dev));
		copy_str(dev->id, sizeof(dev->id), job->id);
		copy_str(dev->owner, sizeof(dev->owner), job->user);
		dev->created = now;
	}
	return EST_OK;
}

/*
 * The enrollment transaction (may run several times on deadlock):
 * reads the device under lock, applies the rules of the operation,
 * issues, and records device, certificate and event together.
 */
static enum est_err
enroll_txn(struct est_txn *txn, void *arg)
{
	struct enroll_job *job = arg;
	struct est_device  dev;
	struct est_event   ev;
	enum est_err       rc;
	int                exists;

	X509_free(job->issued);
	job->issued = NULL;
	job->serial_len = 0;
	job->queued = job->approved = job->retry_after = 0;

	memset(&dev, 0, sizeof(dev));
	rc = txn_device_get(txn, job->id, &dev);
	if (rc != EST_OK && rc != EST_ERR_NOT_FOUND)
		return rc;
	exists = rc == EST_OK;

	if (job->client == NULL) {
		/* First contact with a password: checked under the device's
		 * write lock before anything is signed. */
		if ((rc = first_contact(txn, job, &dev, exists)) != EST_OK)
			return rc;
		/* A queued request counts against the limits. */
		if (job->queued)
			return rate_take(txn, job);
	} else if ((rc = check_client_cert(txn, job, exists ? &dev : NULL)))
		return rc;

	/* An approved request was counted when it was queued. */
	if ((!job->approved && (rc = rate_take(txn, job)) != EST_OK) ||
	    (rc = issue_cert(txn, job)) != EST_OK)
		return rc;
	dev.state = job->op == EST_OP_BOOTSTRAP ? DEV_BOOTSTRAPPED : DEV_ENROLLED;
	dev.updated = (int64_t)time(NULL);
	memcpy(dev.serial, job->serial, job->serial_len);
	dev.serial_len = job->serial_len;
	dev.not_after = job->not_after;
	copy_str(dev.last_ip, sizeof(dev.last_ip), job->ip);
	copy_str(dev.last_ua, sizeof(dev.last_ua), job->ua);
	if ((rc = txn_device_put(txn, &dev)) != EST_OK)
		return rc;
	job_event(job, 200, job->approved ? "issued after approval" : "issued",
	    &ev);
	return txn_event_add(txn, &ev);
}

/*
 * Works out who is asking (RFC 7030 3.2.3, 3.3.2).  Identity comes only
 * from what the web server set: SSL_CLIENT_VERIFY=SUCCESS with
 * SSL_CLIENT_CERT, or REMOTE_USER from its Basic authentication.
 * bootstrap takes a password only; simplereenroll a certificate only;
 * simpleenroll prefers the certificate when both are present.
 */
static enum est_err
authenticate(struct enroll_job *job, const struct est_req *req)
{
	int          has_cert;
	enum est_err rc;

	has_cert = req->client_verify != NULL &&
	    strcmp(req->client_verify, "SUCCESS") == 0 &&
	    req->client_cert != NULL && *req->client_cert != '\0';
	job->user = req->remote_user;

	/* RFC 7030 4.4.1: serverkeygen is authenticated as simpleenroll. */
	if (job->op == EST_OP_BOOTSTRAP || ((job->op == EST_OP_SIMPLEENROLL ||
	    job->op == EST_OP_SERVERKEYGEN) && !has_cert)) {
		if (job->user == NULL)
			return est_fail(EST_ERR_UNAUTHENTICATED, "%s needs HTTP "
			    "Basic authentication", est_op_names[job->op]);
		return EST_OK;
	}
	/* RFC 7030 4.2.2: reenrollment is authenticated by the current
	 * certificate. */
	if (!has_cert)
		return est_fail(EST_ERR_FORBIDDEN, "%s needs the device's "
		    "current certificate as TLS client certificate",
		    est_op_names[job->op]);
	/* The certificate must come from the request's label's CA. */
	if ((rc = ca_client_cert(job->ca, req->client_cert,
	    &job->client)) != EST_OK) {
		if (rc == EST_ERR_CERT_UNKNOWN)
			return est_fail(EST_ERR_WRONG_CA, "client certificate "
			    "is not from the CA of label '%s'",
			    job->label->name[0] != '\0' ? job->label->name :
			    "(default)");
		return rc;
	}
	return ca_cert_serial(job->client, job->auth_serial,
	    &job->auth_serial_len);
}

/* Parses and checks the request up to the CSR (everything but the
 * store), filling job.  Returns the first failure. */
static enum est_err
enroll_prepare(struct enroll_job *job, const struct est_req *req,
    struct est_resp *resp)
{
	unsigned char *der = NULL;
	size_t         derlen = 0;
	enum est_err   rc;

	/* RFC 7030 4.4: serverkeygen only where the label enables it. */
	if (job->op == EST_OP_SERVERKEYGEN && !job->label->serverkeygen)
		return est_fail(EST_ERR_NOT_IMPLEMENTED, "serverkeygen (RFC "
		    "7030 4.4) is not enabled for this CA label");
	if (strcmp(req->method, "POST") != 0) {
		resp->allow = "POST";
		return est_fail(EST_ERR_METHOD, "%s takes POST only (RFC 7030 "
		    "4.2)", est_op_names[job->op]);
	}
	if (req->body_err != EST_OK)
		return req->body_err;
	/* RFC 7030 4.2.1: the request is application/pkcs10. */
	if (!content_type_is(req->content_type, "application/pkcs10"))
		return est_fail(EST_ERR_MEDIA_TYPE,
		    "Content-Type must be application/pkcs10");
	if ((rc = authenticate(job, req)) != EST_OK)
		return rc;
	if (req->body == NULL)
		return est_fail(EST_ERR_BAD_BASE64, "empty request body");
	/* RFC 8951: base64 with or without line breaks. */
	if ((rc = b64_decode(req->body, req->body_len, &der, &derlen)))
		return rc;
	rc = csr_parse(der, derlen, &job->csr);
	job->csr_der = der;
	job->csr_der_len = derlen;
	/* The requester's key ties a retry to its stored request (approval
	 * queue): taken before serverkeygen puts the server's key in. */
	if (rc != EST_OK ||
	    (rc = csr_check(&job->csr, &job->ctx->conf.id_re, job->id)) ||
	    (rc = csr_key_hash(job->csr.req, job->key_hash)) ||
	    (job->op == EST_OP_SERVERKEYGEN &&
	    (rc = skg_key_for(job->label, &job->csr, &job->skg_key))) ||
	    (rc = policy_check(job->label, &job->csr)))
		return rc;
	/* With a client certificate the CSR must be for that device. */
	if (job->client != NULL) {
		char cid[EST_MAX_DEVICE_ID + 1];

		if (name_device_id(X509_get_subject_name(job->client),
		    &job->ctx->conf.id_re, cid) != EST_OK)
			return est_fail(EST_ERR_CERT_UNKNOWN,
			    "client certificate has no valid device ID");
		if (strcmp(cid, job->id) != 0)
			return est_fail(EST_ERR_ID_MISMATCH, "CSR device ID '%s' "
			    "differs from the client certificate's '%s'",
			    job->id, cid);
	}
	/* RFC 7030 4.2.2: same Subject and subjectAltName on reenroll. */
	if (job->op == EST_OP_SIMPLEREENROLL &&
	    (rc = csr_matches_cert(job->csr.req, job->client)) != EST_OK)
		return rc;
	return EST_OK;
}

/*
 * The handler of bootstrap, simpleenroll and simplereenroll (ctx->op
 * says which).  On success resp holds the new certificate as
 * application/pkcs7-mime certs-only (RFC 7030 4.2.3), base64.
 */
enum est_err
enroll_handle(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	struct enroll_job job;
	struct est_event  ev;
	STACK_OF(X509)   *sk = NULL;
	enum est_err      rc;
	char              hex[HEX_SERIAL_MAX];
	int               recorded = 0;

	memset(&job, 0, sizeof(job));
	job.ctx = ctx;
	job.op = ctx->op;
	job.ip = req->remote_addr;
	job.ua = req->user_agent;
	job.label = req->label != NULL ? req->label : &ctx->conf.labels[0];
	job.ca = label_ca(ctx, job.label);
	job.days = ctx->op == EST_OP_BOOTSTRAP ? job.label->bootstrap_days
	                                       : job.label->validity_days;
	/* The label's policy caps the validity. */
	if (job.days > job.label->pol.max_days)
		job.days = job.label->pol.max_days;

	if ((rc = enroll_prepare(&job, req, resp)) == EST_OK)
		rc = store_run(ctx->store, enroll_txn, &job);
	if (rc == EST_OK && job.queued) {
		/* RFC 7030 4.2.3: accepted, not yet issued; the event went
		 * into the store with the request. */
		rc = est_fail(EST_PENDING, "enrollment request of '%s' stored; "
		    "it waits for an administrator's approval, retry in %d s",
		    job.id, job.retry_after);
		recorded = 1;
	} else if (rc == EST_OK) {
		if ((sk = sk_X509_new_null()) == NULL ||
		    !sk_X509_push(sk, job.issued))
			rc = EST_ERR_NOMEM;
		else if (job.skg_key != NULL)
			/* RFC 7030 4.4.2: the key and its certificate. */
			rc = skg_response(resp, job.skg_key, job.issued);
		else if ((rc = ca_certs_only(sk, &resp->body,
		    &resp->body_len)) == EST_OK) {
			resp->status = 200;
			resp->content_type =
			    "application/pkcs7-mime; smime-type=certs-only";
			resp->transfer_enc = "base64";
		}
		sk_X509_free(sk);
	}

	serial_hex(job.serial, job.serial_len, hex);
	if (rc == EST_OK) {
		est_log(EST_LOG_INFO, "%s issued device=%s serial=%s user=%s "
		    "ip=%s", est_op_names[job.op], job.id, hex,
		    job.user ? job.user : "-", job.ip);
		job_event(&job, 200, job.approved ? "issued after approval" :
		    "issued", &ev);
	} else {
		est_log(EST_LOG_INFO, "%s %s %d device=%s user=%s ip=%s: "
		    "%s", est_op_names[job.op], rc == EST_PENDING ? "pending" :
		    "refused", est_err_status(rc),
		    job.id[0] ? job.id : "-", job.user ? job.user : "-", job.ip,
		    est_reason(rc));
		job.serial_len = 0;
		job_event(&job, est_err_status(rc), est_reason(rc), &ev);
		/* Record the refusal; a store that is down is already the
		 * answer, so this is best effort.  A retry of a waiting
		 * request (202) is not one: its event was stored with the
		 * request, and a device polling every Retry-After would
		 * fill the event log (the audit log still has each). */
		if (est_err_status(rc) != 503 && !recorded && rc != EST_PENDING)
			(void)store_event_add(ctx->store, &ev);
	}
	/* RFC 7030 4.2.3 (202) and RFC 6585 4 (429): when to come back. */
	if (rc == EST_PENDING || rc == EST_ERR_RATE_LIMITED)
		resp->retry_after = job.retry_after;
	/* Every issuance and refusal is also one JSON line (audit_log). */
	audit_write(&ctx->conf, &ev);
	/* Superseded in the transaction (revoke_on_reenroll, a duplicate
	 * policy): the CRL is refreshed, batched, after the answer. */
	if (rc == EST_OK && job.revoked)
		crl_refresh_batched();
	/* The store and the audit log may record reasons of their own
	 * (handled lookups included): the answer keeps the refusal's. */
	if (rc != EST_OK)
		(void)est_fail(rc, "%s", ev.reason);
	X509_free(job.issued);
	X509_free(job.client);
	csr_free(&job.csr);
	EVP_PKEY_free(job.skg_key);
	free(job.csr_der);
	return rc;
}
