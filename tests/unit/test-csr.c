/*
 * test-csr.c — csr_parse(), csr_check(), name_device_id() and
 * csr_matches_cert() on CSRs built in-process with OpenSSL: good ones
 * of every accepted key type, and each malformation the checks refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define T_SMALL_RSA 1024 /* below EST_MIN_RSA_BITS */
#define T_MAX_CN    8    /* most CN entries a test subject holds */
#define T_MAX_POINT 133  /* an uncompressed P-521 point (SEC 1 2.3.3) */

/* Keys shared by the tests: generating RSA keys is slow. */
struct keys {
	EVP_PKEY *p256, *p384, *p521, *rsa2048, *rsa1024;
	EVP_PKEY *k256, *p224, *ed25519, *ed448;
	regex_t   re;
};

/* How to build one test CSR. */
struct spec {
	EVP_PKEY      *key;
	const EVP_MD  *md;          /* NULL for EdDSA */
	int            pss;         /* sign RSA with RSASSA-PSS */
	const char    *cn[T_MAX_CN];/* CNs (NUL-terminated strings) */
	const unsigned char *rawcn; /* or one raw UTF8String CN ... */
	size_t         rawcn_len;   /* ... of this length */
	const char    *org;         /* an O= entry, or NULL */
	const char    *san;         /* "DNS:x,IP:y" or NULL */
	int            two_sans;    /* add the SAN extension twice */
};

/* Builds a signed CSR from s; caller frees. */
static X509_REQ *
make_req(const struct spec *s)
{
	X509_REQ                 *req;
	X509_NAME                *name;
	X509_EXTENSION           *ext;
	STACK_OF(X509_EXTENSION) *exts;
	EVP_MD_CTX               *mctx;
	EVP_PKEY_CTX             *pctx = NULL;
	int                       i;

	assert_non_null(req = X509_REQ_new());
	assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
	assert_non_null(name = X509_NAME_new());
	if (s->org != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(name,
		    NID_organizationName, MBSTRING_UTF8,
		    (const unsigned char *)s->org, -1, -1, 0), 1);
	for (i = 0; i < T_MAX_CN && s->cn[i] != NULL; i++)
		/* V_ASN1_UTF8STRING: no RFC 5280 ub-common-name check,
		 * so overlong CNs can be built. */
		assert_int_equal(X509_NAME_add_entry_by_NID(name,
		    NID_commonName, V_ASN1_UTF8STRING,
		    (const unsigned char *)s->cn[i], -1, -1, 0), 1);
	if (s->rawcn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(name,
		    NID_commonName, V_ASN1_UTF8STRING, s->rawcn,
		    (int)s->rawcn_len, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	X509_NAME_free(name);
	if (s->san != NULL) {
		assert_non_null(exts = sk_X509_EXTENSION_new_null());
		for (i = 0; i < (s->two_sans ? 2 : 1); i++) {
			assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, NULL,
			    NID_subject_alt_name, s->san));
			assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		}
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_int_equal(X509_REQ_set_pubkey(req, s->key), 1);
	assert_non_null(mctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(mctx, &pctx, s->md, NULL,
	    s->key), 1);
	if (s->pss)
		assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING) > 0);
	assert_true(X509_REQ_sign_ctx(req, mctx) > 0);
	EVP_MD_CTX_free(mctx);
	return req;
}

/* DER-encodes req; *len gets the length, caller frees the buffer. */
static unsigned char *
req_der(X509_REQ *req, size_t *len)
{
	unsigned char *der = NULL;
	int            n;

	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	return der;
}

/* Builds s, round-trips it through DER and csr_parse(), runs
 * csr_check() and returns its result; id gets the device ID. */
static enum est_err
check_spec(struct keys *k, const struct spec *s,
    char id[EST_MAX_DEVICE_ID + 1])
{
	X509_REQ      *req;
	struct est_csr parsed;
	unsigned char *der;
	size_t         len;
	enum est_err   rc;

	req = make_req(s);
	der = req_der(req, &len);
	assert_int_equal(csr_parse(der, len, &parsed), EST_OK);
	est_reason_clear();
	rc = csr_check(&parsed, &k->re, id);
	if (rc != EST_OK)
		/* Failures carry a specific reason. */
		assert_string_not_equal(est_reason(rc), est_err_text(rc));
	OPENSSL_free(der);
	X509_REQ_free(req);
	csr_free(&parsed);
	return rc;
}

/* Asserts spec s gives error want. */
static void
expect_csr(struct keys *k, const struct spec *s, enum est_err want)
{
	char id[EST_MAX_DEVICE_ID + 1];

	assert_int_equal(check_spec(k, s, id), want);
	if (want != EST_OK)
		assert_string_equal(id, "");
}

/* Generates the shared keys and the default ID pattern. */
static int
setup(void **state)
{
	struct keys *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -1;
	k->p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	k->p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	k->k256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	k->p224 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
	k->rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)EST_MIN_RSA_BITS);
	k->rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)T_SMALL_RSA);
	k->ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	if (k->p256 == NULL || k->p384 == NULL || k->p521 == NULL ||
	    k->k256 == NULL || k->p224 == NULL || k->rsa2048 == NULL ||
	    k->rsa1024 == NULL || k->ed25519 == NULL || k->ed448 == NULL)
		return -1;
	if (regcomp(&k->re, EST_DEFAULT_ID_PATTERN,
	    REG_EXTENDED | REG_NOSUB) != 0)
		return -1;
	*state = k;
	return 0;
}

/* Frees the shared keys. */
static int
teardown(void **state)
{
	struct keys *k = *state;

	EVP_PKEY_free(k->p256);
	EVP_PKEY_free(k->p384);
	EVP_PKEY_free(k->p521);
	EVP_PKEY_free(k->k256);
	EVP_PKEY_free(k->p224);
	EVP_PKEY_free(k->rsa2048);
	EVP_PKEY_free(k->rsa1024);
	EVP_PKEY_free(k->ed25519);
	EVP_PKEY_free(k->ed448);
	regfree(&k->re);
	free(k);
	return 0;
}

/* A good P-256 CSR passes and yields its CN as the device ID. */
static void
good_p256(void **state)
{
	struct keys *k = *state;
	struct spec  s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev-0001.example:a_b" }, .org = "Example",
	    .san = "DNS:dev-0001.example" };
	char         id[EST_MAX_DEVICE_ID + 1];

	assert_int_equal(check_spec(k, &s, id), EST_OK);
	assert_string_equal(id, "dev-0001.example:a_b");
}

/* Every accepted key type and hash. */
static void
good_other_keys(void **state)
{
	struct keys *k = *state;
	struct spec  s = { .cn = { "dev1" } };
	char         id[EST_MAX_DEVICE_ID + 1];

	s.key = k->p384; s.md = EVP_sha384();
	expect_csr(k, &s, EST_OK);
	s.key = k->p521; s.md = EVP_sha512();
	expect_csr(k, &s, EST_OK);
	s.key = k->p256; s.md = EVP_sha512();
	expect_csr(k, &s, EST_OK);
	s.key = k->rsa2048; s.md = EVP_sha256();
	expect_csr(k, &s, EST_OK);
	s.key = k->rsa2048; s.md = EVP_sha256(); s.pss = 1;
	expect_csr(k, &s, EST_OK);
	s.pss = 0;
	/* Ed25519: no separate hash (RFC 8410). */
	s.key = k->ed25519; s.md = NULL;
	assert_int_equal(check_spec(k, &s, id), EST_OK);
	assert_string_equal(id, "dev1");
}

/* Trailing bytes, garbage, truncation and empty input are not DER CSRs. */
static void
parse_rejects(void **state)
{
	struct keys   *k = *state;
	struct spec    s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev1" } };
	X509_REQ      *req;
	struct est_csr out;
	unsigned char *der, *longer;
	size_t         len;

	req = make_req(&s);
	der = req_der(req, &len);
	assert_non_null(longer = malloc(len + 1));
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(csr_parse(longer, len + 1, &out), EST_ERR_BAD_DER);
	assert_null(out.req);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_DER), "trailing"));
	assert_int_equal(csr_parse(der, len - 1, &out), EST_ERR_BAD_DER);
	assert_null(out.req);
	assert_int_equal(csr_parse((const unsigned char *)"hello world", 11,
	    &out), EST_ERR_BAD_DER);
	assert_null(out.req);
	assert_int_equal(csr_parse(NULL, 0, &out), EST_ERR_BAD_DER);
	assert_int_equal(csr_parse(der, 0, &out), EST_ERR_BAD_DER);
	/* And the untouched DER parses. */
	assert_int_equal(csr_parse(der, len, &out), EST_OK);
	csr_free(&out);
	free(longer);
	OPENSSL_free(der);
	X509_REQ_free(req);
}

/* RFC 2986 4.1: a CSR version other than 0 is refused. */
static void
bad_version(void **state)
{
	struct keys   *k = *state;
	struct spec    s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev1" } };
	X509_REQ      *req;
	struct est_csr out;
	unsigned char *der;
	size_t         len, i;
	char           id[EST_MAX_DEVICE_ID + 1];

	req = make_req(&s);
	der = req_der(req, &len);
	/* The first INTEGER 0 is CertificationRequestInfo.version. */
	for (i = 0; i + 2 < len; i++)
		if (der[i] == 0x02 && der[i + 1] == 0x01 && der[i + 2] == 0)
			break;
	assert_true(i + 2 < len);
	der[i + 2] = 0x01;
	assert_int_equal(csr_parse(der, len, &out), EST_OK);
	assert_int_equal(csr_check(&out, &k->re, id), EST_ERR_BAD_DER);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_DER), "version"));
	csr_free(&out);
	OPENSSL_free(der);
	X509_REQ_free(req);
}

/* A flipped signature byte fails proof of possession (RFC 7030 3.4). */
static void
bad_signature(void **state)
{
	struct keys   *k = *state;
	struct spec    s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev1" } };
	X509_REQ      *req;
	struct est_csr out;
	unsigned char *der;
	size_t         len;
	char           id[EST_MAX_DEVICE_ID + 1];

	req = make_req(&s);
	der = req_der(req, &len);
	der[len - 1] ^= 0x01; /* last byte of the signature */
	assert_int_equal(csr_parse(der, len, &out), EST_OK);
	assert_int_equal(csr_check(&out, &k->re, id), EST_ERR_BAD_SIGNATURE);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_SIGNATURE),
	    "proof of possession"));
	csr_free(&out);
	OPENSSL_free(der);
	X509_REQ_free(req);

	/* Signed by another key than the one in the CSR. */
	req = make_req(&s);
	assert_int_equal(X509_REQ_set_pubkey(req, k->p384), 1);
	der = req_der(req, &len);
	assert_int_equal(csr_parse(der, len, &out), EST_OK);
	assert_int_equal(csr_check(&out, &k->re, id), EST_ERR_BAD_SIGNATURE);
	csr_free(&out);
	OPENSSL_free(der);
	X509_REQ_free(req);
}

/* MD5, SHA-1 and SHA-224 signatures are refused, naming the hash. */
static void
weak_hash(void **state)
{
	struct keys *k = *state;
	struct spec  s = { .key = k->p256, .md = EVP_sha1(),
	    .cn = { "dev1" } };

	expect_csr(k, &s, EST_ERR_WEAK_HASH);
	assert_non_null(strstr(est_reason(EST_ERR_WEAK_HASH), "SHA1"));
	s.md = EVP_sha224();
	expect_csr(k, &s, EST_ERR_WEAK_HASH);
	s.key = k->rsa2048;
	s.md = EVP_sha1();
	expect_csr(k, &s, EST_ERR_WEAK_HASH);
	s.md = EVP_md5();
	expect_csr(k, &s, EST_ERR_WEAK_HASH);
	assert_non_null(strstr(est_reason(EST_ERR_WEAK_HASH), "MD5"));
	/* RSASSA-PSS over SHA-1. */
	s.md = EVP_sha1();
	s.pss = 1;
	expect_csr(k, &s, EST_ERR_WEAK_HASH);
}

/* Decodes key's SubjectPublicKeyInfo with pubkey_decode(); returns its
 * result and, on EST_OK, checks the key equals key. */
static enum est_err
decode_of(EVP_PKEY *key)
{
	X509_PUBKEY *pub = NULL;
	EVP_PKEY    *got = NULL;
	enum est_err rc;

	assert_int_equal(X509_PUBKEY_set(&pub, key), 1);
	rc = pubkey_decode(pub, &got);
	if (rc == EST_OK)
		assert_int_equal(EVP_PKEY_eq(got, key), 1);
	else
		assert_null(got);
	EVP_PKEY_free(got);
	X509_PUBKEY_free(pub);
	return rc;
}

/* Decodes an SPKI of algorithm nid (parameters ptype/pval, given to the
 * SPKI) with key bits bits[0..len); returns pubkey_decode()'s result. */
static enum est_err
decode_raw(int nid, int ptype, void *pval, const unsigned char *bits,
    int len)
{
	X509_PUBKEY   *pub;
	EVP_PKEY      *got = NULL;
	unsigned char *copy;
	enum est_err   rc;

	assert_non_null(pub = X509_PUBKEY_new());
	assert_non_null(copy = OPENSSL_memdup(bits, (size_t)len));
	assert_int_equal(X509_PUBKEY_set0_param(pub, OBJ_nid2obj(nid), ptype,
	    pval, copy, len), 1);
	rc = pubkey_decode(pub, &got);
	EVP_PKEY_free(got);
	X509_PUBKEY_free(pub);
	return rc;
}

/* pubkey_decode(): the keys built directly (named-curve EC, RSA,
 * Ed25519) and those left to OpenSSL's decoders come out equal to the
 * encoded key; malformed key bits are refused. */
static void
pubkey_direct(void **state)
{
	struct keys   *k = *state;
	EVP_PKEY      *keys[] = { k->p256, k->p384, k->p521, k->rsa2048,
	    k->rsa1024, k->ed25519, k->k256, k->p224, k->ed448 };
	unsigned char  pt[T_MAX_POINT], *der = NULL;
	size_t         i, ptlen = 0;
	int            len;
	/* RSAPublicKey { modulus -1, exponent 3 }, then one with a third
	 * INTEGER, then a valid { 0x7f, 3 } with a byte after it. */
	static const unsigned char neg[] = { 0x30, 0x06, 0x02, 0x01, 0xff,
	    0x02, 0x01, 0x03 };
	static const unsigned char three[] = { 0x30, 0x09, 0x02, 0x01, 0x7f,
	    0x02, 0x01, 0x03, 0x02, 0x01, 0x03 };
	static const unsigned char trail[] = { 0x30, 0x06, 0x02, 0x01, 0x7f,
	    0x02, 0x01, 0x03, 0x00 };

	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		assert_int_equal(decode_of(keys[i]), EST_OK);
	assert_int_equal(pubkey_decode(NULL, &keys[0]), EST_ERR_BAD_KEY);
	assert_null(keys[0]);

	/* RFC 3279 2.3.1: exactly two INTEGERs, positive, nothing after. */
	assert_int_equal(decode_raw(NID_rsaEncryption, V_ASN1_NULL, NULL,
	    neg, sizeof(neg)), EST_ERR_BAD_KEY);
	assert_int_equal(decode_raw(NID_rsaEncryption, V_ASN1_NULL, NULL,
	    three, sizeof(three)), EST_ERR_BAD_KEY);
	assert_int_equal(decode_raw(NID_rsaEncryption, V_ASN1_NULL, NULL,
	    trail, sizeof(trail)), EST_ERR_BAD_KEY);
	assert_int_equal(decode_raw(NID_rsaEncryption, V_ASN1_NULL, NULL,
	    trail, sizeof(trail) - 1), EST_OK);

	/* SEC 1 2.3.4: a P-256 point moved off the curve is refused; the
	 * point itself decodes. */
	assert_int_equal(EVP_PKEY_get_octet_string_param(k->p256,
	    OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptlen), 1);
	assert_int_equal(decode_raw(NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT,
	    OBJ_nid2obj(NID_X9_62_prime256v1), pt, (int)ptlen), EST_OK);
	pt[ptlen - 1] ^= 0x01;
	assert_int_equal(decode_raw(NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT,
	    OBJ_nid2obj(NID_X9_62_prime256v1), pt, (int)ptlen),
	    EST_ERR_BAD_KEY);
	/* RFC 8410 3: Ed25519 keys are 32 bytes. */
	assert_int_equal(decode_raw(NID_ED25519, V_ASN1_UNDEF, NULL, pt, 31),
	    EST_ERR_BAD_KEY);

	/* The parsed CSR's key is pubkey_decode()'s, not OpenSSL's. */
	{
		struct spec    s = { .key = k->rsa2048, .md = EVP_sha256(),
		    .cn = { "dev1" } };
		X509_REQ      *req = make_req(&s);
		struct est_csr csr;

		assert_true((len = i2d_X509_REQ(req, &der)) > 0);
		assert_int_equal(csr_parse(der, (size_t)len, &csr), EST_OK);
		assert_null(X509_REQ_get0_pubkey(csr.req));
		assert_int_equal(EVP_PKEY_eq(csr.key, k->rsa2048), 1);
		csr_free(&csr);
		csr_free(&csr);         /* emptied: a second call is a no-op */
		OPENSSL_free(der);
		X509_REQ_free(req);
	}
}

/* Small RSA, other curves and other key types are refused. */
static void
bad_keys(void **state)
{
	struct keys *k = *state;
	struct spec  s = { .md = EVP_sha256(), .cn = { "dev1" } };

	s.key = k->rsa1024;
	expect_csr(k, &s, EST_ERR_BAD_KEY);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_KEY), "RSA"));
	s.key = k->k256;
	expect_csr(k, &s, EST_ERR_BAD_KEY);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_KEY), "secp256k1"));
	s.key = k->p224;
	expect_csr(k, &s, EST_ERR_BAD_KEY);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_KEY), "secp224r1"));
	s.key = k->ed448;
	s.md = NULL;
	expect_csr(k, &s, EST_ERR_BAD_KEY);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_KEY), "ED448"));
}

/* Missing, repeated, hostile, overlong, NUL-bearing and non-UTF-8 CNs. */
static void
bad_ids(void **state)
{
	static const unsigned char nul[] = { 'd', 'e', 'v', 0, 'x' };
	struct keys *k = *state;
	struct spec  s = { .key = k->p256, .md = EVP_sha256(),
	    .org = "Example" };
	char         cn65[EST_MAX_DEVICE_ID + 2], id[EST_MAX_DEVICE_ID + 1];

	expect_csr(k, &s, EST_ERR_BAD_ID);          /* no CN */
	assert_string_equal(est_reason(EST_ERR_BAD_ID),
	    "CSR subject has no CN");
	s.cn[0] = "dev1";
	s.cn[1] = "dev2";
	expect_csr(k, &s, EST_ERR_BAD_ID);          /* two CNs */
	s.cn[1] = NULL;
	s.cn[0] = "dev<script>";
	expect_csr(k, &s, EST_ERR_BAD_ID);
	assert_null(strstr(est_reason(EST_ERR_BAD_ID), "<"));
	s.cn[0] = "dev 1";
	expect_csr(k, &s, EST_ERR_BAD_ID);
	s.cn[0] = "d\xc3\xa9v";                       /* UTF-8, not allowed */
	expect_csr(k, &s, EST_ERR_BAD_ID);
	memset(cn65, 'a', sizeof(cn65) - 1);
	cn65[sizeof(cn65) - 1] = '\0';                /* 65 characters */
	s.cn[0] = cn65;
	expect_csr(k, &s, EST_ERR_BAD_ID);
	cn65[EST_MAX_DEVICE_ID] = '\0';               /* 64: fine */
	assert_int_equal(check_spec(k, &s, id), EST_OK);
	assert_string_equal(id, cn65);
	s.cn[0] = NULL;
	s.rawcn = nul;
	s.rawcn_len = sizeof(nul);
	expect_csr(k, &s, EST_ERR_BAD_ID);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_ID), "NUL"));
	s.rawcn = (const unsigned char *)"";
	s.rawcn_len = 0;
	expect_csr(k, &s, EST_ERR_BAD_ID);
}

/* Builds a name with one raw UTF8String CN; caller frees. */
static X509_NAME *
raw_name(const unsigned char *cn, size_t len)
{
	X509_NAME *name;

	assert_non_null(name = X509_NAME_new());
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
	    V_ASN1_UTF8STRING, cn, (int)len, -1, 0), 1);
	return name;
}

/*
 * name_device_id() directly: a pattern that admits UTF-8, no pattern,
 * and malformed UTF-8 (OpenSSL will not encode such a name, so these
 * cannot arrive in a CSR that parses; checked anyway).
 */
static void
name_id_direct(void **state)
{
	static const unsigned char badutf[] = { 'd', 0xc3, 0x28 };
	static const unsigned char overlong[] = { 'd', 0xc0, 0xaf };
	static const unsigned char surrogate[] = { 'd', 0xed, 0xa0, 0x80 };
	static const unsigned char good[] = { 'd', 0xc3, 0xa9, 'v' };
	regex_t    any;
	X509_NAME *name;
	char       id[EST_MAX_DEVICE_ID + 1];

	(void)state;
	assert_int_equal(regcomp(&any, "^.+$", REG_EXTENDED | REG_NOSUB), 0);
	name = raw_name(good, sizeof(good));
	assert_int_equal(name_device_id(name, &any, id), EST_OK);
	assert_string_equal(id, "d\xc3\xa9v");
	assert_int_equal(name_device_id(name, NULL, id), EST_ERR_INTERNAL);
	X509_NAME_free(name);
	assert_int_equal(name_device_id(NULL, &any, id), EST_ERR_BAD_ID);

	name = raw_name(badutf, sizeof(badutf));
	assert_int_equal(name_device_id(name, &any, id), EST_ERR_BAD_ID);
	assert_string_equal(id, "");
	X509_NAME_free(name);
	name = raw_name(overlong, sizeof(overlong));
	assert_int_equal(name_device_id(name, &any, id), EST_ERR_BAD_ID);
	X509_NAME_free(name);
	name = raw_name(surrogate, sizeof(surrogate));
	assert_int_equal(name_device_id(name, &any, id), EST_ERR_BAD_ID);
	X509_NAME_free(name);
	regfree(&any);
}

/* subjectAltName policy: clean text names, 4- or 16-octet addresses,
 * at most 32 entries; dot-segment device IDs are refused. */
static void
san_policy(void **state)
{
	static const char *const good[] = {
		"DNS:dev-1.example,DNS:*.dev_1.example",
		"IP:192.0.2.1,IP:2001:db8::1",
		"email:a.b+c@example.com",
		"URI:https://example.com/a?b=c%20d#e,RID:1.2.3.4",
	};
	static const char *const bad[] = {
		"DNS:<script>", "DNS:a b.example", "DNS:a\"b",
		"email:<x>@example.com", "URI:https://example.com/<b>",
		"URI:https://example.com/a b",
	};
	struct keys *k = *state;
	struct spec  s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev1" } };
	char         id[EST_MAX_DEVICE_ID + 1], many[33 * 9 + 1];
	size_t       i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		s.san = good[i];
		assert_int_equal(check_spec(k, &s, id), EST_OK);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.san = bad[i];
		expect_csr(k, &s, EST_ERR_BAD_DER);
		assert_non_null(strstr(est_reason(EST_ERR_BAD_DER),
		    "not allowed"));
		assert_null(strchr(est_reason(EST_ERR_BAD_DER), '<'));
	}
	/* 32 entries pass, 33 do not. */
	many[0] = '\0';
	for (i = 0; i < 32; i++)
		strcat(many, i ? ",DNS:a.ex" : "DNS:a.ex");
	s.san = many;
	assert_int_equal(check_spec(k, &s, id), EST_OK);
	strcat(many, ",DNS:a.ex");
	expect_csr(k, &s, EST_ERR_BAD_DER);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_DER), "maximum 32"));

	s.san = NULL;
	s.cn[0] = "..";
	expect_csr(k, &s, EST_ERR_BAD_ID);
	assert_non_null(strstr(est_reason(EST_ERR_BAD_ID), "dot-segment"));
	s.cn[0] = ".";
	expect_csr(k, &s, EST_ERR_BAD_ID);
	s.cn[0] = "...";
	assert_int_equal(check_spec(k, &s, id), EST_OK);
}

/* Two subjectAltName extensions are refused. */
static void
two_sans(void **state)
{
	struct keys *k = *state;
	struct spec  s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev1" }, .san = "DNS:a.example", .two_sans = 1 };

	expect_csr(k, &s, EST_ERR_BAD_DER);
}

/* Builds a certificate with req's subject (or subject_cn) and san
 * (NULL: none), self-signed with key; caller frees. */
static X509 *
make_cert(X509_REQ *req, const char *subject_cn, const char *san,
    EVP_PKEY *key)
{
	X509           *x;
	X509_NAME      *name;
	X509_EXTENSION *ext;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	if (subject_cn != NULL) {
		assert_non_null(name = X509_NAME_new());
		assert_int_equal(X509_NAME_add_entry_by_NID(name,
		    NID_commonName, MBSTRING_UTF8,
		    (const unsigned char *)subject_cn, -1, -1, 0), 1);
		assert_int_equal(X509_set_subject_name(x, name), 1);
		X509_NAME_free(name);
	} else
		assert_int_equal(X509_set_subject_name(x,
		    X509_REQ_get_subject_name(req)), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)),
	    1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (san != NULL) {
		assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, NULL,
		    NID_subject_alt_name, san));
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* RFC 7030 4.2.2: same subject and SAN pass; any difference fails. */
static void
matches_cert(void **state)
{
	struct keys *k = *state;
	struct spec  s = { .key = k->p256, .md = EVP_sha256(),
	    .cn = { "dev1" }, .org = "Example",
	    .san = "DNS:dev1.example,IP:192.0.2.1" };
	X509_REQ    *req, *nosan;
	X509        *x;

	req = make_req(&s);
	s.san = NULL;
	nosan = make_req(&s);

	x = make_cert(req, NULL, "DNS:dev1.example,IP:192.0.2.1", k->p384);
	assert_int_equal(csr_matches_cert(req, x), EST_OK);
	assert_int_equal(csr_matches_cert(nosan, x),
	    EST_ERR_SUBJECT_MISMATCH);
	assert_non_null(strstr(est_reason(EST_ERR_SUBJECT_MISMATCH),
	    "subjectAltName"));
	X509_free(x);

	x = make_cert(req, NULL, "DNS:dev2.example,IP:192.0.2.1", k->p384);
	assert_int_equal(csr_matches_cert(req, x), EST_ERR_SUBJECT_MISMATCH);
	assert_non_null(strstr(est_reason(EST_ERR_SUBJECT_MISMATCH),
	    "subjectAltName"));
	X509_free(x);

	x = make_cert(req, NULL, NULL, k->p384);
	assert_int_equal(csr_matches_cert(req, x), EST_ERR_SUBJECT_MISMATCH);
	assert_int_equal(csr_matches_cert(nosan, x), EST_OK);
	X509_free(x);

	x = make_cert(req, "dev1", "DNS:dev1.example,IP:192.0.2.1", k->p384);
	assert_int_equal(csr_matches_cert(req, x), EST_ERR_SUBJECT_MISMATCH);
	assert_non_null(strstr(est_reason(EST_ERR_SUBJECT_MISMATCH),
	    "subject differs"));
	X509_free(x);

	X509_REQ_free(req);
	X509_REQ_free(nosan);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_p256),
		cmocka_unit_test(good_other_keys),
		cmocka_unit_test(parse_rejects),
		cmocka_unit_test(bad_version),
		cmocka_unit_test(bad_signature),
		cmocka_unit_test(weak_hash),
		cmocka_unit_test(bad_keys),
		cmocka_unit_test(pubkey_direct),
		cmocka_unit_test(bad_ids),
		cmocka_unit_test(name_id_direct),
		cmocka_unit_test(two_sans),
		cmocka_unit_test(san_policy),
		cmocka_unit_test(matches_cert),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
