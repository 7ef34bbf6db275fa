/*
 * test-rev.c — unit tests of revocation (cmocka): reason names, the
 * revoked index and CRL publishing (common/crl.c over a real store in a
 * mkdtemp(3) directory), and the OCSP responder's parsing and answers
 * (common/ocsp.c): GET paths, garbage, good / revoked / unknown, the
 * nonce, another CA.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"
#include "unit.h"

#define TMP_TEMPLATE  "/tmp/test-rev.XXXXXX"
#define DAY           86400LL
#define CRL_NEXT      (7 * 86400)
#define SERIAL_GOOD   0x11
#define SERIAL_KEY    0x12
#define SERIAL_UNSPEC 0x13
#define SERIAL_OLD    0x14
#define SERIAL_LATER  0x15
#define SERIAL_NONE   0x7e
#define SERIAL_BATCH  0x16
#define T_GUARD_SECS  30  /* alarm: a blocked flock() ends the test */
#define T_POLL_US     100000 /* between looks for a published CRL ... */
#define T_POLL_MAX    50     /* ... this many times at most */

/* An empty setting (revocation strings are "" when unset). */
static char no_value[1];

struct fix {
	char                path[sizeof(TMP_TEMPLATE)];
	char                crl[sizeof(TMP_TEMPLATE) + 8];
	struct est_rev_conf rc;
	struct est_label    deflt;     /* labels[0], as conf_load() makes */
	struct est_ctx      ctx;
};

/* A new self-signed P-256 CA named cn into ca (cert and key), with a
 * subjectKeyIdentifier when ski. */
static void
make_ca(struct est_ca *ca, const char *cn, int ski)
{
	X509_NAME         *n;
	BASIC_CONSTRAINTS *bc;
	X509V3_CTX         v3;
	X509_EXTENSION    *ext;

	memset(ca, 0, sizeof(*ca));
	assert_non_null(ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    "P-256"));
	assert_non_null(ca->cert = X509_new());
	assert_true(X509_set_version(ca->cert, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 1));
	assert_non_null(n = X509_get_subject_name(ca->cert));
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_issuer_name(ca->cert, n));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(ca->cert), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(ca->cert), DAY));
	assert_true(X509_set_pubkey(ca->cert, ca->key));
	assert_non_null(bc = BASIC_CONSTRAINTS_new());
	bc->ca = 1;
	assert_true(X509_add1_ext_i2d(ca->cert, NID_basic_constraints, bc, 1,
	    0));
	BASIC_CONSTRAINTS_free(bc);
	if (ski) {
		X509V3_set_ctx(&v3, ca->cert, ca->cert, NULL, NULL, 0);
		assert_non_null(ext = X509V3_EXT_conf_nid(NULL, &v3,
		    NID_subject_key_identifier, "hash"));
		assert_true(X509_add_ext(ca->cert, ext, -1));
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(ca->cert, ca->key, EVP_sha256()) > 0);
}

/* One certificate record to put in the store. */
struct tcert {
	unsigned char serial;
	int           revoked;
	int           reason;
	int64_t       not_after;
};

/* store_run() body: inserts the certificate arg. */
static enum est_err
put_cert(struct est_txn *t, void *arg)
{
	const struct tcert *tc = arg;
	struct est_cert     c;

	memset(&c, 0, sizeof(c));
	c.serial[0] = tc->serial;
	c.serial_len = 1;
	snprintf(c.device, sizeof(c.device), "dev-%02x", tc->serial);
	c.status = CERT_VALID;
	c.op = EST_OP_BOOTSTRAP;
	c.not_before = (int64_t)time(NULL) - DAY;
	c.not_after = tc->not_after;
	if (txn_cert_insert(t, &c) != EST_OK)
		return EST_ERR_INTERNAL;
	if (!tc->revoked)
		return EST_OK;
	/* txn_cert_revoke() rewrites the record: the index follows. */
	return txn_cert_revoke(t, &c, tc->reason, (int64_t)time(NULL));
}

static void
add_cert(struct fix *f, unsigned char serial, int revoked, int reason,
    int64_t not_after)
{
	struct tcert tc = { serial, revoked, reason, not_after };

	assert_int_equal(store_run(f->ctx.store, put_cert, &tc), EST_OK);
}

/* cmocka setup: a store, a CA and revocation settings in a fresh dir. */
static int
setup(void **state)
{
	struct fix *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	memcpy(f->path, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
	if (mkdtemp(f->path) == NULL ||
	    store_open(f->path, &f->ctx.store) != EST_OK)
		return -1;
	snprintf(f->crl, sizeof(f->crl), "%s/crl", f->path);
	if (mkdir(f->crl, 0700) == -1)
		return -1;
	f->rc.crl_dir = f->crl;
	f->rc.crl_url = no_value;
	f->rc.ocsp_url = no_value;
	f->rc.ocsp_cert = no_value;
	f->rc.ocsp_key = no_value;
	f->rc.crl_refresh = 3600;
	f->rc.crl_next_update = CRL_NEXT;
	f->rc.ocsp_next_update = 3600;
	f->ctx.conf.rev = &f->rc;
	f->deflt.own_ca = 1;
	f->ctx.conf.labels = &f->deflt;
	f->ctx.conf.n_labels = 1;
	make_ca(&f->ctx.ca, "test-rev CA", 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	store_close(f->ctx.store);
	ca_free(&f->ctx.ca);
	rmtree(f->path);
	free(f);
	return 0;
}

/* Reads the published DER CRL of the default label. */
static X509_CRL *
read_crl(const struct fix *f)
{
	char      path[sizeof(f->crl) + 32];
	FILE     *fp;
	X509_CRL *crl;

	snprintf(path, sizeof(path), "%s/default.crl", f->crl);
	assert_non_null(fp = fopen(path, "rb"));
	crl = d2i_X509_CRL_fp(fp, NULL);
	fclose(fp);
	assert_non_null(crl);
	return crl;
}

/* The CRL's number as an unsigned integer. */
static uint64_t
crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n;
	uint64_t      v = 0;

	assert_non_null(n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL));
	assert_true(ASN1_INTEGER_get_uint64(&v, n));
	ASN1_INTEGER_free(n);
	return v;
}

/* The reason of serial's entry in crl: -2 when not listed, -1 when it
 * carries no reason. */
static int
entry_reason(X509_CRL *crl, unsigned char serial)
{
	X509_REVOKED    *rev = NULL;
	ASN1_INTEGER    *sn;
	ASN1_ENUMERATED *e;
	int              r;

	assert_non_null(sn = ASN1_INTEGER_new());
	assert_true(ASN1_INTEGER_set(sn, serial));
	r = X509_CRL_get0_by_serial(crl, &rev, sn);
	ASN1_INTEGER_free(sn);
	if (r == 0)
		return -2;
	if ((e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL,
	    NULL)) == NULL)
		return -1;
	r = (int)ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return r;
}

/* ---- tests ------------------------------------------------------------- */

static void
reasons(void **state)
{
	int r;

	(void)state;
	assert_int_equal(reason_parse("keyCompromise", &r), 0);
	assert_int_equal(r, 1);
	assert_int_equal(reason_parse("SUPERSEDED", &r), 0);
	assert_int_equal(r, 4);
	assert_int_equal(reason_parse("10", &r), 0);
	assert_int_equal(r, 10);
	assert_int_equal(reason_parse("0", &r), 0);
	assert_int_equal(r, 0);
	assert_int_equal(reason_parse("certificateHold", &r), -1);
	assert_int_equal(reason_parse("6", &r), -1);
	assert_int_equal(reason_parse("7", &r), -1);
	assert_int_equal(reason_parse("removeFromCRL", &r), -1);
	assert_int_equal(reason_parse("11", &r), -1);
	assert_int_equal(reason_parse("-1", &r), -1);
	assert_int_equal(reason_parse("1x", &r), -1);
	assert_int_equal(reason_parse("", &r), -1);
	assert_int_equal(reason_parse(NULL, &r), -1);
	assert_string_equal(crl_name(""), "default");
	assert_string_equal(crl_name("rsa"), "rsa");
}

static void
crl_lists_revoked(void **state)
{
	struct fix *f = *state;
	X509_CRL   *crl;
	int64_t     now = (int64_t)time(NULL), year = now + 365 * DAY;
	uint64_t    gen, n1, n2;
	char        path[sizeof(f->crl) + 32];

	add_cert(f, SERIAL_GOOD, 0, 0, year);
	add_cert(f, SERIAL_KEY, 1, EST_REASON_KEY_COMPROMISE, year);
	add_cert(f, SERIAL_UNSPEC, 1, EST_REASON_UNSPECIFIED, year);
	/* Expired long before: dropped (RFC 5280 5.1.2.6). */
	add_cert(f, SERIAL_OLD, 1, EST_REASON_SUPERSEDED, now - 30 * DAY);
	assert_int_equal(store_revoked_gen(f->ctx.store, &gen), EST_OK);
	assert_int_equal(gen, 3);

	assert_int_equal(crl_publish_all(&f->ctx, 0), EST_OK);
	crl = read_crl(f);
	assert_int_equal(X509_CRL_verify(crl, f->ctx.ca.key), 1);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	/* RFC 5280 5.2.1: the CA's key identifier. */
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier,
	    -1) >= 0);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	assert_int_equal(entry_reason(crl, SERIAL_KEY), 1);
	assert_int_equal(entry_reason(crl, SERIAL_UNSPEC), -1);
	assert_int_equal(entry_reason(crl, SERIAL_GOOD), -2);
	assert_int_equal(entry_reason(crl, SERIAL_OLD), -2);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl),
	    (time_t)(now + CRL_NEXT - 60)) > 0, 1);
	n1 = crl_number(crl);
	X509_CRL_free(crl);
	snprintf(path, sizeof(path), "%s/default.crl.pem", f->crl);
	assert_int_equal(access(path, R_OK), 0);

	/* Nothing changed: no new CRL. */
	assert_int_equal(crl_publish_all(&f->ctx, 0), EST_OK);
	crl = read_crl(f);
	assert_true(crl_number(crl) == n1);
	X509_CRL_free(crl);

	/* A revocation: a new CRL with a larger number lists it. */
	add_cert(f, SERIAL_LATER, 1, EST_REASON_CESSATION, year);
	assert_int_equal(crl_publish_all(&f->ctx, 0), EST_OK);
	crl = read_crl(f);
	n2 = crl_number(crl);
	assert_true(n2 > n1);
	assert_int_equal(entry_reason(crl, SERIAL_LATER), 5);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);
	X509_CRL_free(crl);

	/* Forced: rebuilt anyway. */
	assert_int_equal(crl_publish_all(&f->ctx, 1), EST_OK);
	crl = read_crl(f);
	n1 = crl_number(crl);
	assert_true(n1 > n2);
	X509_CRL_free(crl);

	/* The state file lost (or a crash before it was written): the
	 * number still grows past the published CRL's (RFC 5280 5.2.3). */
	snprintf(path, sizeof(path), "%s/.default.state", f->crl);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(crl_publish_all(&f->ctx, 1), EST_OK);
	crl = read_crl(f);
	assert_true(crl_number(crl) > n1);
	X509_CRL_free(crl);

	/* A CA without subjectKeyIdentifier: issuer and serial instead. */
	ca_free(&f->ctx.ca);
	make_ca(&f->ctx.ca, "test-rev CA", 0);
	assert_int_equal(crl_publish_all(&f->ctx, 1), EST_OK);
	crl = read_crl(f);
	assert_int_equal(X509_CRL_verify(crl, f->ctx.ca.key), 1);
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier,
	    -1) >= 0);
	X509_CRL_free(crl);

	/* No crl_dir: nothing to do, no error. */
	f->rc.crl_dir = no_value;
	assert_int_equal(crl_publish_all(&f->ctx, 1), EST_OK);
	f->rc.crl_dir = f->crl;
}

/* The number of the published default CRL. */
static uint64_t
published_number(const struct fix *f)
{
	X509_CRL *crl = read_crl(f);
	uint64_t  n = crl_number(crl);

	X509_CRL_free(crl);
	return n;
}

/* crl_refresh_batched() publishes nothing itself; crl_after_request()
 * (run once the answer is out) does, and does not wait for a rebuild
 * another process holds the lock for: it goes on, then publishes on a
 * later request once the lock is free. */
static void
crl_after_answer(void **state)
{
	struct fix *f = *state;
	X509_CRL   *crl;
	int64_t     year = (int64_t)time(NULL) + 365 * DAY;
	uint64_t    n1;
	char        path[sizeof(f->crl) + 32];
	int         fd, i;

	f->rc.crl_batch = 0;
	assert_int_equal(crl_publish_all(&f->ctx, 0), EST_OK);
	n1 = published_number(f);
	add_cert(f, SERIAL_BATCH, 1, EST_REASON_SUPERSEDED, year);
	crl_refresh_batched();
	assert_true(published_number(f) == n1);

	/* Another process rebuilding: this one does not wait. */
	snprintf(path, sizeof(path), "%s/.lock", f->crl);
	assert_true((fd = open(path, O_RDWR | O_CREAT, 0600)) >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	alarm(T_GUARD_SECS);
	crl_after_request(&f->ctx);
	alarm(0);
	assert_true(published_number(f) == n1);
	close(fd);

	/* Lock free: a later request publishes (about a second on). */
	for (i = 0; i < T_POLL_MAX && published_number(f) == n1; i++) {
		usleep(T_POLL_US);
		crl_after_request(&f->ctx);
	}
	crl = read_crl(f);
	assert_true(crl_number(crl) > n1);
	assert_int_equal(entry_reason(crl, SERIAL_BATCH),
	    EST_REASON_SUPERSEDED);
	X509_CRL_free(crl);

	/* Nothing waiting: a request after that publishes nothing. */
	n1 = published_number(f);
	crl_after_request(&f->ctx);
	assert_true(published_number(f) == n1);
}

static void
ocsp_get_paths(void **state)
{
	unsigned char *der = NULL;
	size_t         len = 0;
	char           big[EST_OCSP_MAX_REQUEST * 3];

	(void)state;
	/* "AAEC/w==" is 00 01 02 ff; '+' '/' '=' escaped or not. */
	assert_int_equal(ocsp_from_get("/ocsp/AAEC%2Fw%3D%3D", &der, &len),
	    EST_OK);
	assert_int_equal(len, 4);
	assert_int_equal(der[3], 0xff);
	free(der);
	assert_int_equal(ocsp_from_get("/ocsp/AAEC/w==?x=1", &der, &len),
	    EST_OK);
	assert_int_equal(len, 4);
	free(der);
	assert_int_equal(ocsp_from_get("/ocsp", &der, &len),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(ocsp_from_get("/ocsp/", &der, &len),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(ocsp_from_get("/ocsp/%zz", &der, &len),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(ocsp_from_get("/ocsp/%00AA", &der, &len),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(ocsp_from_get("/ocsp/not*base64", &der, &len),
	    EST_ERR_BAD_BASE64);
	memset(big, 'A', sizeof(big) - 1);
	memcpy(big, "/ocsp/", 6);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ocsp_from_get(big, &der, &len), EST_ERR_TOO_LARGE);
	assert_null(der);
}

/* The OCSP response status of DER out (and frees out). */
static int
resp_status(unsigned char *out, size_t len, OCSP_BASICRESP **basic)
{
	const unsigned char *p = out;
	OCSP_RESPONSE       *r;
	int                  st;

	assert_non_null(r = d2i_OCSP_RESPONSE(NULL, &p, (long)len));
	st = OCSP_response_status(r);
	if (basic != NULL)
		*basic = st == OCSP_RESPONSE_STATUS_SUCCESSFUL ?
		    OCSP_response_get1_basic(r) : NULL;
	OCSP_RESPONSE_free(r);
	free(out);
	return st;
}

/* A DER OCSP request for serials of issuer (with a nonce when nonce). */
static unsigned char *
make_req(X509 *issuer, const unsigned char *serials, int n, int nonce,
    size_t *len)
{
	OCSP_REQUEST  *req;
	OCSP_CERTID   *id;
	ASN1_INTEGER  *sn;
	X509_NAME     *name = X509_get_subject_name(issuer);
	unsigned char *der = NULL;
	int            i, l;

	assert_non_null(req = OCSP_REQUEST_new());
	for (i = 0; i < n; i++) {
		assert_non_null(sn = ASN1_INTEGER_new());
		assert_true(ASN1_INTEGER_set(sn, serials[i]));
		assert_non_null(id = OCSP_cert_id_new(EVP_sha1(), name,
		    X509_get0_pubkey_bitstr(issuer), sn));
		ASN1_INTEGER_free(sn);
		assert_non_null(OCSP_request_add0_id(req, id));
	}
	if (nonce)
		assert_true(OCSP_request_add1_nonce(req, NULL, -1));
	assert_true((l = i2d_OCSP_REQUEST(req, &der)) > 0);
	OCSP_REQUEST_free(req);
	*len = (size_t)l;
	return der;
}

/* The status of serial in basic. */
static int
single_status(OCSP_BASICRESP *basic, X509 *issuer, unsigned char serial,
    int *reason)
{
	OCSP_CERTID  *id;
	ASN1_INTEGER *sn;
	int           st = -1;

	assert_non_null(sn = ASN1_INTEGER_new());
	assert_true(ASN1_INTEGER_set(sn, serial));
	assert_non_null(id = OCSP_cert_id_new(EVP_sha1(),
	    X509_get_subject_name(issuer), X509_get0_pubkey_bitstr(issuer),
	    sn));
	ASN1_INTEGER_free(sn);
	assert_true(OCSP_resp_find_status(basic, id, &st, reason, NULL, NULL,
	    NULL));
	OCSP_CERTID_free(id);
	return st;
}

static void
ocsp_answers(void **state)
{
	struct fix            *f = *state;
	struct est_ocsp_signer s;
	struct est_ca          other;
	OCSP_BASICRESP        *basic = NULL;
	unsigned char         *req, *out;
	unsigned char          serials[] = { SERIAL_GOOD, SERIAL_KEY,
	                                     SERIAL_NONE };
	unsigned char          many[EST_OCSP_MAX_SINGLE + 1];
	const unsigned char    garbage[] = { 0x30, 0x03, 0x02, 0x01 };
	size_t                 len, outlen;
	int                    reason = -1;
	OCSP_REQUEST          *oreq;
	STACK_OF(X509)        *cas;
	const unsigned char   *p;

	memset(&s, 0, sizeof(s));
	add_cert(f, SERIAL_GOOD, 0, 0, (int64_t)time(NULL) + DAY);
	add_cert(f, SERIAL_KEY, 1, EST_REASON_KEY_COMPROMISE,
	    (int64_t)time(NULL) + DAY);

	/* Garbage, nothing, trailing bytes: malformedRequest. */
	assert_int_equal(ocsp_respond(&f->ctx, &s, garbage, sizeof(garbage),
	    &out, &outlen, NULL), EST_OK);
	assert_int_equal(resp_status(out, outlen, NULL),
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	assert_int_equal(ocsp_respond(&f->ctx, &s, NULL, 0, &out, &outlen,
	    NULL), EST_OK);
	assert_int_equal(resp_status(out, outlen, NULL),
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	req = make_req(f->ctx.ca.cert, serials, 1, 0, &len);
	assert_non_null(req = realloc(req, len + 1));
	req[len] = 0;
	assert_int_equal(ocsp_respond(&f->ctx, &s, req, len + 1, &out,
	    &outlen, NULL), EST_OK);
	assert_int_equal(resp_status(out, outlen, NULL),
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	OPENSSL_free(req);

	/* Too many certificates in one request. */
	memset(many, SERIAL_GOOD, sizeof(many));
	req = make_req(f->ctx.ca.cert, many, (int)sizeof(many), 0, &len);
	assert_int_equal(ocsp_respond(&f->ctx, &s, req, len, &out, &outlen,
	    NULL), EST_OK);
	assert_int_equal(resp_status(out, outlen, NULL),
	    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	OPENSSL_free(req);

	/* good, revoked (keyCompromise), unknown; the nonce echoed; signed
	 * by the CA when no delegated signer is loaded. */
	req = make_req(f->ctx.ca.cert, serials, 3, 1, &len);
	assert_int_equal(ocsp_respond(&f->ctx, &s, req, len, &out, &outlen,
	    NULL), EST_OK);
	assert_int_equal(resp_status(out, outlen, &basic),
	    OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_non_null(basic);
	assert_int_equal(single_status(basic, f->ctx.ca.cert, SERIAL_GOOD,
	    &reason), V_OCSP_CERTSTATUS_GOOD);
	assert_int_equal(single_status(basic, f->ctx.ca.cert, SERIAL_KEY,
	    &reason), V_OCSP_CERTSTATUS_REVOKED);
	assert_int_equal(reason, EST_REASON_KEY_COMPROMISE);
	assert_int_equal(single_status(basic, f->ctx.ca.cert, SERIAL_NONE,
	    &reason), V_OCSP_CERTSTATUS_UNKNOWN);
	p = req;
	assert_non_null(oreq = d2i_OCSP_REQUEST(NULL, &p, (long)len));
	assert_int_equal(OCSP_check_nonce(oreq, basic), 1);
	/* Signed by the CA key (no delegated signer loaded). */
	assert_non_null(cas = sk_X509_new_null());
	assert_true(sk_X509_push(cas, f->ctx.ca.cert));
	assert_int_equal(OCSP_basic_verify(basic, cas, NULL, OCSP_NOVERIFY),
	    1);
	sk_X509_free(cas);
	OCSP_REQUEST_free(oreq);
	OCSP_BASICRESP_free(basic);
	OPENSSL_free(req);

	/* Another CA's certificate: unauthorized. */
	make_ca(&other, "another CA", 0);
	req = make_req(other.cert, serials, 1, 0, &len);
	assert_int_equal(ocsp_respond(&f->ctx, &s, req, len, &out, &outlen,
	    NULL), EST_OK);
	assert_int_equal(resp_status(out, outlen, NULL),
	    OCSP_RESPONSE_STATUS_UNAUTHORIZED);
	OPENSSL_free(req);
	ca_free(&other);
}

/* The thisUpdate and nextUpdate of DER response out's first
 * SingleResponse, into *tu and *nu. */
static void
resp_times(const unsigned char *out, size_t len, time_t *tu, time_t *nu)
{
	const unsigned char  *p = out;
	OCSP_RESPONSE        *r;
	OCSP_BASICRESP       *bs;
	ASN1_GENERALIZEDTIME *t = NULL, *n = NULL;
	struct tm             tm;

	assert_non_null(r = d2i_OCSP_RESPONSE(NULL, &p, (long)len));
	assert_non_null(bs = OCSP_response_get1_basic(r));
	assert_true(OCSP_single_get0_status(OCSP_resp_get0(bs, 0), NULL, NULL,
	    &t, &n) >= 0);
	assert_non_null(t);
	assert_non_null(n);
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	*tu = timegm(&tm);
	assert_int_equal(ASN1_TIME_to_tm(n, &tm), 1);
	*nu = timegm(&tm);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
}

/* RFC 5019 6.2: only a successful answer without a nonce is cacheable,
 * until its nextUpdate (ocsp_next_update after thisUpdate); what
 * ocsp_respond() says is what the response holds. */
static void
ocsp_cacheable(void **state)
{
	struct fix            *f = *state;
	struct est_ocsp_signer s;
	struct est_ocsp_cache  c;
	unsigned char          serials[] = { SERIAL_GOOD };
	const unsigned char    garbage[] = { 0x30, 0x03, 0x02, 0x01 };
	unsigned char         *req, *out;
	size_t                 len, outlen;
	time_t                 tu = 0, nu = 0, now = time(NULL);

	memset(&s, 0, sizeof(s));
	add_cert(f, SERIAL_GOOD, 0, 0, (int64_t)now + DAY);
	req = make_req(f->ctx.ca.cert, serials, 1, 0, &len);
	assert_int_equal(ocsp_respond(&f->ctx, &s, req, len, &out, &outlen,
	    &c), EST_OK);
	assert_true(c.this_update >= now - 1 && c.this_update <= now + 1);
	assert_int_equal(c.next_update - c.this_update,
	    f->ctx.conf.rev->ocsp_next_update);
	resp_times(out, outlen, &tu, &nu);
	assert_int_equal(tu, c.this_update);
	assert_int_equal(nu, c.next_update);
	free(out);
	OPENSSL_free(req);

	req = make_req(f->ctx.ca.cert, serials, 1, 1, &len);
	assert_int_equal(ocsp_respond(&f->ctx, &s, req, len, &out, &outlen,
	    &c), EST_OK);
	assert_int_equal(c.next_update, 0);
	free(out);
	OPENSSL_free(req);

	/* malformedRequest is not cached either. */
	assert_int_equal(ocsp_respond(&f->ctx, &s, garbage, sizeof(garbage),
	    &out, &outlen, &c), EST_OK);
	assert_int_equal(c.next_update, 0);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reasons),
		cmocka_unit_test(ocsp_get_paths),
		cmocka_unit_test_setup_teardown(crl_after_answer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(crl_lists_revoked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(ocsp_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(ocsp_cacheable, setup,
		    teardown),
	};

	est_log_open("test-rev", "stderr");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
