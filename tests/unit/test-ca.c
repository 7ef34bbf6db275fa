/*
 * test-ca.c — ca_load(), ca_sign(), ca_serial_random(), ca_cert_serial(),
 * ca_certs_only() and ca_client_cert() against throw-away CAs made in a
 * mkdtemp(3) directory: P-256, RSA-2048, P-384, P-521 and Ed25519.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"
#include "unit.h"

#define T_PATH      512   /* longest temporary path */
#define T_CA_DAYS   3650  /* validity of the test CAs */
#define T_DAYS      30    /* validity of issued test certificates */
#define T_DRAWS     1000  /* ca_serial_random() calls checked */
#define T_SKEW_SLOP 60    /* seconds a slow (valgrind) run may take */
#define T_SAN       "DNS:dev1.example,IP:192.0.2.1"

enum ca_kind { CA_P256, CA_RSA, CA_P384, CA_P521, CA_ED25519, CA__MAX };

/* Everything the tests share; made once in setup(). */
struct fix {
	char      dir[T_PATH];
	EVP_PKEY *cakey[CA__MAX];
	X509     *cacert[CA__MAX];
	EVP_PKEY *other_key;           /* a second P-256 CA ... */
	X509     *other_same_name;     /* ... with CA_P256's name */
	X509     *other_cert;          /* ... and with its own name */
	X509     *not_ca;              /* CA_P256's key, CA:FALSE */
	X509     *ku_only;             /* CA_P256's key, no basicConstr. */
	EVP_PKEY *p256, *rsa;          /* subject keys */
};

static const char *const ca_names[CA__MAX] = {
	"Test CA P-256", "Test CA RSA", "Test CA P-384", "Test CA P-521",
	"Test CA Ed25519",
};

/* Adds extension nid = value (openssl.cnf syntax) to x, issued by iss. */
static void
add_ext(X509 *x, X509 *iss, int nid, const char *value)
{
	X509V3_CTX      ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, iss, x, NULL, NULL, 0);
	assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value));
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* Makes a self-signed certificate for key named cn; is_ca 1 adds CA
 * extensions, 2 only keyUsage keyCertSign (no basicConstraints), 0
 * CA:FALSE; ski adds a subjectKeyIdentifier.  Caller frees. */
static X509 *
make_self(EVP_PKEY *key, const char *cn, int is_ca, int ski)
{
	X509      *x;
	X509_NAME *name;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(name = X509_NAME_new());
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	X509_NAME_free(name);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), T_CA_DAYS,
	    0, NULL));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (is_ca == 1) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else if (is_ca == 2)
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	else
		add_ext(x, x, NID_basic_constraints, "critical,CA:FALSE");
	if (ski)
		add_ext(x, x, NID_subject_key_identifier, "hash");
	assert_true(X509_sign(x, key, EVP_PKEY_get_base_id(key) ==
	    EVP_PKEY_ED25519 ? NULL : EVP_sha256()) > 0);
	return x;
}

/* Writes dir/name into buf and returns buf. */
static const char *
tpath(const struct fix *f, const char *name, char buf[T_PATH])
{
	int n;

	n = snprintf(buf, T_PATH, "%s/%s", f->dir, name);
	assert_true(n > 0 && n < T_PATH);
	return buf;
}

/* Writes the certificates x[0..n) as PEM to path. */
static void
write_certs(const char *path, X509 *const *x, size_t n)
{
	BIO   *bio;
	size_t i;

	assert_non_null(bio = BIO_new_file(path, "w"));
	for (i = 0; i < n; i++)
		assert_int_equal(PEM_write_bio_X509(bio, x[i]), 1);
	BIO_free(bio);
}

/* Writes key as PEM to path, encrypted under "secret" if enc. */
static void
write_key(const char *path, EVP_PKEY *key, int enc)
{
	BIO *bio;

	assert_non_null(bio = BIO_new_file(path, "w"));
	assert_int_equal(PEM_write_bio_PrivateKey(bio, key,
	    enc ? EVP_aes_256_cbc() : NULL,
	    enc ? (const unsigned char *)"secret" : NULL, enc ? 6 : 0,
	    NULL, NULL), 1);
	BIO_free(bio);
	/* ca_load() refuses a key others may read. */
	assert_int_equal(chmod(path, 0600), 0);
}

/* Writes text to path. */
static void
write_text(const char *path, const char *text)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Loads CA kind from freshly written files; asserts success. */
static void
load_kind(struct fix *f, enum ca_kind kind, struct est_ca *ca)
{
	struct est_conf conf;
	char            cp[T_PATH], kp[T_PATH];

	write_certs(tpath(f, "ca.pem", cp), &f->cacert[kind], 1);
	write_key(tpath(f, "ca.key", kp), f->cakey[kind], 0);
	memset(&conf, 0, sizeof(conf));
	conf.ca_cert = cp;
	conf.ca_key = kp;
	assert_int_equal(ca_load(&conf, ca), EST_OK);
}

/* Makes the keys and CAs (not the files). */
static int
setup(void **state)
{
	struct fix *f;
	int         i;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-ca-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->cakey[CA_P256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->cakey[CA_RSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)EST_MIN_RSA_BITS);
	f->cakey[CA_P384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	f->cakey[CA_P521] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	f->cakey[CA_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	f->other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->rsa = f->cakey[CA_RSA];     /* RSA keys are slow to make */
	for (i = 0; i < CA__MAX; i++)
		if (f->cakey[i] == NULL)
			return -1;
	if (f->other_key == NULL || f->p256 == NULL)
		return -1;
	*state = f;
	for (i = 0; i < CA__MAX; i++)
		/* The Ed25519 CA has no SKI: AKI falls back to a hash. */
		f->cacert[i] = make_self(f->cakey[i], ca_names[i], 1,
		    i != CA_ED25519);
	f->other_same_name = make_self(f->other_key, ca_names[CA_P256], 1, 1);
	f->other_cert = make_self(f->other_key, "Other CA", 1, 1);
	f->not_ca = make_self(f->cakey[CA_P256], "Not a CA", 0, 1);
	f->ku_only = make_self(f->cakey[CA_P256], "KU only", 2, 1);
	return 0;
}

/* Frees everything and removes the temporary directory. */
static int
teardown(void **state)
{
	struct fix *f = *state;
	static const char *const files[] = { "ca.pem", "ca.key", "chain.pem",
	    "other.key", "enc.key", "garbage.pem", "notca.pem", "kuonly.pem" };
	char        p[T_PATH];
	size_t      i;
	int         k;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(tpath(f, files[i], p));
	rmdir(f->dir);
	for (k = 0; k < CA__MAX; k++) {
		EVP_PKEY_free(f->cakey[k]);
		X509_free(f->cacert[k]);
	}
	EVP_PKEY_free(f->other_key);
	EVP_PKEY_free(f->p256);
	X509_free(f->other_same_name);
	X509_free(f->other_cert);
	X509_free(f->not_ca);
	X509_free(f->ku_only);
	free(f);
	return 0;
}

/*
 * Builds a CSR for key with CN dev1, san (or none) and, when extra, a
 * CA:TRUE basicConstraints and keyCertSign keyUsage the CA must not
 * copy.  Caller frees.
 */
static X509_REQ *
make_req(EVP_PKEY *key, const char *san, int extra)
{
	X509_REQ                 *req;
	X509_NAME                *name;
	X509_EXTENSION           *ext;
	STACK_OF(X509_EXTENSION) *exts;

	assert_non_null(req = X509_REQ_new());
	assert_non_null(name = X509_NAME_new());
	assert_int_equal(X509_NAME_add_entry_by_NID(name,
	    NID_organizationName, MBSTRING_UTF8,
	    (const unsigned char *)"Example", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)"dev1", -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	X509_NAME_free(name);
	assert_non_null(exts = sk_X509_EXTENSION_new_null());
	if (san != NULL) {
		assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, NULL,
		    NID_subject_alt_name, san));
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	}
	if (extra) {
		assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, NULL,
		    NID_basic_constraints, "critical,CA:TRUE"));
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, NULL,
		    NID_key_usage, "keyCertSign"));
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	}
	if (sk_X509_EXTENSION_num(exts) > 0)
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	return req;
}

/* Returns the criticality of extension nid in x, or -1 if absent. */
static int
ext_crit(X509 *x, int nid)
{
	int idx;

	if ((idx = X509_get_ext_by_NID(x, nid, -1)) < 0)
		return -1;
	/* Each extension at most once (RFC 5280 4.2). */
	assert_int_equal(X509_get_ext_by_NID(x, nid, idx), -1);
	return X509_EXTENSION_get_critical(X509_get_ext(x, idx));
}

/* Verifies x against ca as the only trust anchor, for TLS clients. */
static void
verify_chain(X509 *cacert, X509 *x)
{
	X509_STORE     *st;
	X509_STORE_CTX *ctx;

	assert_non_null(st = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(st, cacert), 1);
	assert_non_null(ctx = X509_STORE_CTX_new());
	assert_int_equal(X509_STORE_CTX_init(ctx, st, x, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx,
	    X509_PURPOSE_SSL_CLIENT), 1);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("chain: %s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
}

/* Returns x as a client receives it: encoded and decoded again (frees
 * x).  ca_sign() copies the CSR's key without decoding it. */
static X509 *
as_received(X509 *x)
{
	unsigned char       *der = NULL;
	const unsigned char *p;
	X509                *y;
	int                  len;

	assert_true((len = i2d_X509(x, &der)) > 0);
	p = der;
	assert_non_null(y = d2i_X509(NULL, &p, len));
	assert_ptr_equal(p, der + len);
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

/*
 * Issues a certificate from CA kind for subject key sk (SAN or not) and
 * checks every RFC 5280 field and extension ca_sign() promises.
 */
static void
sign_and_check(struct fix *f, enum ca_kind kind, EVP_PKEY *sk,
    const char *san, int want_sig)
{
	struct est_ca  ca;
	struct est_csr req;
	X509          *x;
	X509_EXTENSION *rext, *xext;
	STACK_OF(X509_EXTENSION) *rexts;
	const ASN1_OCTET_STRING *aki, *ski;
	unsigned char  serial[EST_SERIAL_LEN], back[EST_SERIAL_LEN];
	unsigned char  md[EVP_MAX_MD_SIZE];
	unsigned int   mdlen;
	size_t         slen, blen;
	uint32_t       want_ku;
	time_t         now;
	int            day, sec;

	load_kind(f, kind, &ca);
	req = t_csr(make_req(sk, san, 1));
	assert_int_equal(ca_serial_random(serial, &slen), EST_OK);
	now = time(NULL);
	assert_int_equal(ca_sign(&ca, &req, serial, slen, T_DAYS, &x), EST_OK);
	assert_non_null(x);
	x = as_received(x);

	/* Signed by the CA key with the expected algorithm. */
	assert_int_equal(X509_verify(x, ca.key), 1);
	assert_int_equal(X509_get_signature_nid(x), want_sig);
	assert_int_equal(X509_check_issued(ca.cert, x), X509_V_OK);
	verify_chain(ca.cert, x);

	/* RFC 5280 4.1.2.1, 4.1.2.2: v3; the serial round-trips. */
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(ca_cert_serial(x, back, &blen), EST_OK);
	assert_int_equal(blen, slen);
	assert_memory_equal(back, serial, slen);

	/* Names and key. */
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(ca.cert)), 0);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_REQ_get_subject_name(req.req)), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), sk), 1);

	/* Validity: from now - EST_CLOCK_SKEW_SECS for T_DAYS days. */
	now -= EST_CLOCK_SKEW_SECS - 1;
	assert_true(X509_cmp_time(X509_get0_notBefore(x), &now) < 0);
	now -= T_SKEW_SLOP;
	assert_true(X509_cmp_time(X509_get0_notBefore(x), &now) > 0);
	assert_int_equal(ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)), 1);
	assert_int_equal(day, T_DAYS);
	assert_int_equal(sec, EST_CLOCK_SKEW_SECS);

	/* Extensions and criticality (RFC 5280 4.2.1). */
	assert_int_equal(X509_check_purpose(x, -1, 0), 1);
	assert_int_equal(ext_crit(x, NID_basic_constraints), 1);
	assert_int_equal(X509_get_extension_flags(x) & EXFLAG_CA, 0);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(ext_crit(x, NID_key_usage), 1);
	want_ku = KU_DIGITAL_SIGNATURE;
	if (EVP_PKEY_get_base_id(sk) == EVP_PKEY_RSA)
		want_ku |= KU_KEY_ENCIPHERMENT;
	assert_int_equal(X509_get_key_usage(x), want_ku);
	assert_int_equal(ext_crit(x, NID_ext_key_usage), 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	assert_int_equal(ext_crit(x, NID_subject_key_identifier), 0);
	assert_non_null(ski = X509_get0_subject_key_id(x));
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen), 1);
	assert_int_equal(ASN1_STRING_length(ski), (int)mdlen);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, mdlen);
	assert_int_equal(ext_crit(x, NID_authority_key_identifier), 0);
	assert_non_null(aki = X509_get0_authority_key_id(x));
	if (X509_get0_subject_key_id(ca.cert) != NULL)
		assert_int_equal(ASN1_OCTET_STRING_cmp(aki,
		    X509_get0_subject_key_id(ca.cert)), 0);
	else {
		assert_int_equal(X509_pubkey_digest(ca.cert, EVP_sha1(), md,
		    &mdlen), 1);
		assert_memory_equal(ASN1_STRING_get0_data(aki), md, mdlen);
	}

	/* The SAN copied verbatim, nothing else from the CSR. */
	if (san != NULL) {
		assert_int_equal(X509_get_ext_count(x), 6);
		assert_non_null(rexts = X509_REQ_get_extensions(req.req));
		rext = X509v3_get_ext(rexts, X509v3_get_ext_by_NID(rexts,
		    NID_subject_alt_name, -1));
		xext = X509_get_ext(x, X509_get_ext_by_NID(x,
		    NID_subject_alt_name, -1));
		assert_non_null(rext);
		assert_non_null(xext);
		assert_int_equal(ASN1_OCTET_STRING_cmp(
		    X509_EXTENSION_get_data(rext),
		    X509_EXTENSION_get_data(xext)), 0);
		assert_int_equal(X509_EXTENSION_get_critical(rext),
		    X509_EXTENSION_get_critical(xext));
		sk_X509_EXTENSION_pop_free(rexts, X509_EXTENSION_free);
	} else {
		assert_int_equal(X509_get_ext_count(x), 5);
		assert_int_equal(ext_crit(x, NID_subject_alt_name), -1);
	}
	/* RFC 7030 4.2.2: this certificate can be re-enrolled. */
	assert_int_equal(csr_matches_cert(req.req, x), EST_OK);

	X509_free(x);
	csr_free(&req);
	ca_free(&ca);
}

/* Issuing from each CA type, for EC and RSA subject keys. */
static void
sign_p256(void **state)
{
	struct fix *f = *state;

	sign_and_check(f, CA_P256, f->p256, T_SAN, NID_ecdsa_with_SHA256);
	sign_and_check(f, CA_P256, f->rsa, NULL, NID_ecdsa_with_SHA256);
}

static void
sign_rsa(void **state)
{
	struct fix *f = *state;

	sign_and_check(f, CA_RSA, f->p256, NULL, NID_sha256WithRSAEncryption);
	sign_and_check(f, CA_RSA, f->rsa, T_SAN, NID_sha256WithRSAEncryption);
}

static void
sign_other_curves(void **state)
{
	struct fix *f = *state;

	sign_and_check(f, CA_P384, f->p256, T_SAN, NID_ecdsa_with_SHA384);
	sign_and_check(f, CA_P521, f->p256, T_SAN, NID_ecdsa_with_SHA512);
	sign_and_check(f, CA_ED25519, f->p256, T_SAN, NID_ED25519);
}

/* Bad validity and serial arguments are internal errors. */
static void
sign_bad_args(void **state)
{
	struct fix   *f = *state;
	struct est_ca ca;
	struct est_csr req;
	X509         *x = NULL;
	unsigned char serial[EST_SERIAL_LEN + 1];
	unsigned char back[EST_SERIAL_LEN];
	size_t        slen, blen;

	load_kind(f, CA_P256, &ca);
	req = t_csr(make_req(f->p256, NULL, 0));
	assert_int_equal(ca_serial_random(serial, &slen), EST_OK);
	assert_int_equal(ca_sign(&ca, &req, serial, slen, 0, &x),
	    EST_ERR_INTERNAL);
	assert_null(x);
	assert_int_equal(ca_sign(&ca, &req, serial, slen, -1, &x),
	    EST_ERR_INTERNAL);
	assert_int_equal(ca_sign(&ca, &req, serial, slen, EST_MAX_DAYS + 1,
	    &x), EST_ERR_INTERNAL);
	assert_int_equal(ca_sign(&ca, &req, serial, 0, T_DAYS, &x),
	    EST_ERR_INTERNAL);
	assert_int_equal(ca_sign(&ca, &req, serial, EST_SERIAL_LEN + 1,
	    T_DAYS, &x), EST_ERR_INTERNAL);
	assert_int_equal(ca_sign(&ca, &req, NULL, slen, T_DAYS, &x),
	    EST_ERR_INTERNAL);
	serial[0] |= 0x80;                       /* negative */
	assert_int_equal(ca_sign(&ca, &req, serial, slen, T_DAYS, &x),
	    EST_ERR_INTERNAL);
	serial[0] = 0;                           /* leading zero */
	assert_int_equal(ca_sign(&ca, &req, serial, slen, T_DAYS, &x),
	    EST_ERR_INTERNAL);
	assert_null(x);

	/* The longest validity works; a short serial round-trips too. */
	serial[0] = 0x01;
	serial[1] = 0xff;
	assert_int_equal(ca_sign(&ca, &req, serial, 2, EST_MAX_DAYS, &x),
	    EST_OK);
	assert_int_equal(ca_cert_serial(x, back, &blen), EST_OK);
	assert_int_equal(blen, 2);
	assert_memory_equal(back, serial, 2);
	X509_free(x);
	csr_free(&req);
	ca_free(&ca);
}

/* RFC 5280 4.1.2.2: EST_SERIAL_LEN bytes, positive, first byte set. */
static void
serial_random(void **state)
{
	unsigned char s[EST_SERIAL_LEN], prev[EST_SERIAL_LEN];
	size_t        len;
	int           i;

	(void)state;
	memset(prev, 0, sizeof(prev));
	for (i = 0; i < T_DRAWS; i++) {
		assert_int_equal(ca_serial_random(s, &len), EST_OK);
		assert_int_equal(len, EST_SERIAL_LEN);
		assert_true(s[0] >= 0x01 && s[0] <= 0x7f);
		assert_memory_not_equal(s, prev, sizeof(s));
		memcpy(prev, s, sizeof(s));
	}
}

/* Serials that are not ours: too long, negative, zero. */
static void
cert_serial_rejects(void **state)
{
	struct fix   *f = *state;
	X509         *x;
	BIGNUM       *bn;
	unsigned char s[EST_SERIAL_LEN];
	size_t        len;

	x = make_self(f->p256, "x", 0, 0);
	assert_non_null(bn = BN_new());
	/* 2^160: 21 bytes. */
	assert_int_equal(BN_set_bit(bn, EST_SERIAL_LEN * 8), 1);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	assert_int_equal(ca_cert_serial(x, s, &len), EST_ERR_CERT_UNKNOWN);
	assert_int_equal(len, 0);
	/* 2^159: exactly 20 bytes, accepted. */
	BN_zero(bn);
	assert_int_equal(BN_set_bit(bn, EST_SERIAL_LEN * 8 - 1), 1);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	assert_int_equal(ca_cert_serial(x, s, &len), EST_OK);
	assert_int_equal(len, EST_SERIAL_LEN);
	assert_int_equal(s[0], 0x80);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), -5), 1);
	assert_int_equal(ca_cert_serial(x, s, &len), EST_ERR_CERT_UNKNOWN);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 0), 1);
	assert_int_equal(ca_cert_serial(x, s, &len), EST_ERR_CERT_UNKNOWN);
	BN_free(bn);
	X509_free(x);
}

/* Decodes a cacerts body and checks it holds exactly want[0..n). */
static void
check_certs_only(const char *b64, size_t len, X509 *const *want, int n)
{
	unsigned char       *der;
	const unsigned char *p;
	size_t               dlen;
	PKCS7               *p7;
	STACK_OF(X509)      *certs;
	int                  i;

	assert_int_equal(b64_decode(b64, len, &der, &dlen), EST_OK);
	p = der;
	assert_non_null(p7 = d2i_PKCS7(NULL, &p, (long)dlen));
	assert_ptr_equal(p, der + dlen);
	/* RFC 5652 5.1 / RFC 7030 4.1.3: signed, no signers, no content. */
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)),
	    0);
	assert_true(PKCS7_type_is_data(p7->d.sign->contents));
	assert_null(p7->d.sign->contents->d.data);
	assert_null(p7->d.sign->crl);
	certs = p7->d.sign->cert;
	assert_int_equal(sk_X509_num(certs), n);
	for (i = 0; i < n; i++)
		assert_int_equal(X509_cmp(sk_X509_value(certs, i), want[i]), 0);
	PKCS7_free(p7);
	free(der);
}

/* ca_load: chain order, duplicate skipping, the cacerts body. */
static void
load_and_cacerts(void **state)
{
	struct fix     *f = *state;
	struct est_conf conf;
	struct est_ca   ca;
	X509           *files[2], *want[2];
	char            cp[T_PATH], kp[T_PATH], chp[T_PATH];

	load_kind(f, CA_P256, &ca);
	assert_int_equal(sk_X509_num(ca.chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(ca.chain, 0),
	    f->cacert[CA_P256]), 0);
	assert_non_null(ca.cacerts);
	assert_int_equal(strlen(ca.cacerts), ca.cacerts_len);
	check_certs_only(ca.cacerts, ca.cacerts_len, &f->cacert[CA_P256], 1);
	ca_free(&ca);
	assert_null(ca.cert);
	ca_free(&ca); /* twice is fine */

	/* A chain file repeating the CA certificate, plus another one. */
	files[0] = f->cacert[CA_P256];
	files[1] = f->other_cert;
	write_certs(tpath(f, "chain.pem", chp), files, 2);
	write_certs(tpath(f, "ca.pem", cp), &f->cacert[CA_P256], 1);
	write_key(tpath(f, "ca.key", kp), f->cakey[CA_P256], 0);
	memset(&conf, 0, sizeof(conf));
	conf.ca_cert = cp;
	conf.ca_key = kp;
	conf.ca_chain = chp;
	assert_int_equal(ca_load(&conf, &ca), EST_OK);
	want[0] = f->cacert[CA_P256];
	want[1] = f->other_cert;
	assert_int_equal(sk_X509_num(ca.chain), 2);
	check_certs_only(ca.cacerts, ca.cacerts_len, want, 2);
	ca_free(&ca);

	/* ca_certs_only directly: refuses an empty list. */
	{
		char  *b64 = NULL;
		size_t len;
		STACK_OF(X509) *none = sk_X509_new_null();

		assert_int_equal(ca_certs_only(none, &b64, &len),
		    EST_ERR_INTERNAL);
		assert_null(b64);
		sk_X509_free(none);
	}
}

/* Asserts ca_load(conf) fails with EST_ERR_CONFIG naming file. */
static void
expect_config_error(const struct est_conf *conf, const char *file)
{
	struct est_ca ca;

	memset(&ca, 0xa5, sizeof(ca));
	est_reason_clear();
	assert_int_equal(ca_load(conf, &ca), EST_ERR_CONFIG);
	assert_null(ca.cert);
	assert_null(ca.key);
	assert_null(ca.chain);
	assert_null(ca.cacerts);
	if (file != NULL)
		assert_non_null(strstr(est_reason(EST_ERR_CONFIG), file));
	ca_free(&ca);
}

/* Wrong key, not a CA, missing, encrypted and garbage files. */
static void
load_errors(void **state)
{
	struct fix     *f = *state;
	struct est_conf conf;
	char            cp[T_PATH], kp[T_PATH], okp[T_PATH], ekp[T_PATH];
	char            gp[T_PATH], ncp[T_PATH], chp[T_PATH], kup[T_PATH];
	char            nocert[] = "/nonexistent/ca.pem";
	char            nochain[] = "/nonexistent/chain.pem";

	write_certs(tpath(f, "ca.pem", cp), &f->cacert[CA_P256], 1);
	write_key(tpath(f, "ca.key", kp), f->cakey[CA_P256], 0);
	write_key(tpath(f, "other.key", okp), f->other_key, 0);
	write_key(tpath(f, "enc.key", ekp), f->cakey[CA_P256], 1);
	write_text(tpath(f, "garbage.pem", gp), "not a certificate\n");
	write_certs(tpath(f, "notca.pem", ncp), &f->not_ca, 1);
	write_certs(tpath(f, "kuonly.pem", kup), &f->ku_only, 1);
	tpath(f, "chain.pem", chp);
	memset(&conf, 0, sizeof(conf));
	conf.ca_cert = cp;

	conf.ca_key = okp;                       /* wrong key */
	expect_config_error(&conf, okp);
	conf.ca_key = ekp;                       /* encrypted: no prompt */
	expect_config_error(&conf, ekp);
	conf.ca_key = gp;
	expect_config_error(&conf, gp);
	conf.ca_key = NULL;
	expect_config_error(&conf, NULL);
	conf.ca_key = kp;
	conf.ca_cert = ncp;                      /* CA:FALSE */
	expect_config_error(&conf, ncp);
	conf.ca_cert = kup;                      /* no basicConstraints */
	expect_config_error(&conf, kup);
	conf.ca_cert = gp;
	expect_config_error(&conf, gp);
	conf.ca_cert = nocert;
	expect_config_error(&conf, nocert);
	conf.ca_cert = cp;
	conf.ca_chain = gp;                      /* chain without certs */
	expect_config_error(&conf, gp);
	conf.ca_chain = nochain;
	expect_config_error(&conf, nochain);
	/* A certificate followed by junk in the chain file. */
	write_certs(chp, &f->other_cert, 1);
	{
		FILE *fp;

		assert_non_null(fp = fopen(chp, "a"));
		fputs("-----BEGIN CERTIFICATE-----\nAAAA\n"
		    "-----END CERTIFICATE-----\n", fp);
		fclose(fp);
	}
	conf.ca_chain = chp;
	expect_config_error(&conf, chp);
}

/* Secrets at rest: a CA key others may access is refused with a reason
 * naming the file; 0600 and 0640 load. */
static void
load_key_modes(void **state)
{
	struct fix     *f = *state;
	struct est_conf conf;
	struct est_ca   ca;
	char            cp[T_PATH], kp[T_PATH];
	static const mode_t refused[] = { 0644, 0604, 0602, 0601, 0666 };
	static const mode_t accepted[] = { 0600, 0640, 0400, 0440 };
	size_t          i;

	write_certs(tpath(f, "ca.pem", cp), &f->cacert[CA_P256], 1);
	write_key(tpath(f, "ca.key", kp), f->cakey[CA_P256], 0);
	memset(&conf, 0, sizeof(conf));
	conf.ca_cert = cp;
	conf.ca_key = kp;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(chmod(kp, refused[i]), 0);
		expect_config_error(&conf, kp);
		assert_non_null(strstr(est_reason(EST_ERR_CONFIG),
		    "accessible by others"));
	}
	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		assert_int_equal(chmod(kp, accepted[i]), 0);
		assert_int_equal(ca_load(&conf, &ca), EST_OK);
		ca_free(&ca);
	}
	/* A directory is not a key file. */
	conf.ca_key = f->dir;
	expect_config_error(&conf, f->dir);
	assert_int_equal(chmod(kp, 0600), 0);
}

/* Returns x as PEM text; caller frees. */
static char *
to_pem(X509 *x)
{
	BIO  *bio;
	char *data, *out;
	long  n;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	assert_non_null(out = malloc((size_t)n + 1));
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

/* Certificates we issued are recognised; others, none and junk not. */
static void
client_cert(void **state)
{
	struct fix   *f = *state;
	struct est_ca ca;
	struct est_csr req;
	X509         *x, *got, *forged;
	unsigned char serial[EST_SERIAL_LEN];
	size_t        slen;
	char         *pem, *big;

	load_kind(f, CA_P256, &ca);
	req = t_csr(make_req(f->p256, T_SAN, 0));
	assert_int_equal(ca_serial_random(serial, &slen), EST_OK);
	assert_int_equal(ca_sign(&ca, &req, serial, slen, T_DAYS, &x), EST_OK);
	pem = to_pem(x);
	assert_int_equal(ca_client_cert(&ca, pem, &got), EST_OK);
	assert_int_equal(X509_cmp(got, x), 0);
	X509_free(got);
	free(pem);

	/* Same issuer name, signed by another key. */
	forged = X509_dup(x);
	assert_true(X509_sign(forged, f->other_key, EVP_sha256()) > 0);
	pem = to_pem(forged);
	got = NULL;
	assert_int_equal(ca_client_cert(&ca, pem, &got), EST_ERR_CERT_UNKNOWN);
	assert_null(got);
	free(pem);
	X509_free(forged);

	/* Another CA's certificates (its own, self-issued). */
	pem = to_pem(f->other_cert);
	assert_int_equal(ca_client_cert(&ca, pem, &got), EST_ERR_CERT_UNKNOWN);
	free(pem);
	pem = to_pem(f->other_same_name);
	assert_int_equal(ca_client_cert(&ca, pem, &got), EST_ERR_CERT_UNKNOWN);
	free(pem);

	assert_int_equal(ca_client_cert(&ca, NULL, &got),
	    EST_ERR_UNAUTHENTICATED);
	assert_int_equal(ca_client_cert(&ca, "", &got),
	    EST_ERR_UNAUTHENTICATED);
	assert_int_equal(ca_client_cert(&ca, "garbage", &got),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(ca_client_cert(&ca, "-----BEGIN CERTIFICATE-----\n"
	    "AAAA\n-----END CERTIFICATE-----\n", &got), EST_ERR_BAD_REQUEST);
	assert_null(got);
	assert_non_null(big = malloc(EST_MAX_PEM + 2));
	memset(big, 'A', EST_MAX_PEM + 1);
	big[EST_MAX_PEM + 1] = '\0';
	assert_int_equal(ca_client_cert(&ca, big, &got), EST_ERR_BAD_REQUEST);
	free(big);

	X509_free(x);
	csr_free(&req);
	ca_free(&ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(load_and_cacerts),
		cmocka_unit_test(load_errors),
		cmocka_unit_test(load_key_modes),
		cmocka_unit_test(sign_p256),
		cmocka_unit_test(sign_rsa),
		cmocka_unit_test(sign_other_curves),
		cmocka_unit_test(sign_bad_args),
		cmocka_unit_test(serial_random),
		cmocka_unit_test(cert_serial_rejects),
		cmocka_unit_test(client_cert),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
