/*
 * hostile-csr.c — makes the hostile inputs of tests/e2e/t-90-hostile.sh
 * that `openssl req` cannot: CSRs with a 10,000-byte CN, NUL bytes or
 * control characters in the CN or subjectAltName, 1,000 SAN entries,
 * malformed extensions, a forged version or signature algorithm; and
 * client certificates with any validity signed by a given CA key
 * (expired ones, or ones the server never issued).
 *
 *   hostile-csr csr KEY.pem CASE ID > out.der
 *   hostile-csr cert CA.pem CAKEY.pem KEY.pem CN FROM_DAYS TO_DAYS > out.pem
 *   hostile-csr list
 *
 * A test tool, not part of the server: it writes what it is told to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define HC_LONG_CN      10000 /* bytes in the huge CN */
#define HC_CN_OVER      65    /* one byte over the device-ID limit */
#define HC_MANY_SANS    1000  /* SAN entries in the crowded CSR */
#define HC_BAD_IP_LEN   5     /* an iPAddress neither IPv4 nor IPv6 */
#define HC_SERIAL_BYTES 16    /* serial size of the certificates made */
#define HC_SECS_PER_DAY 86400L
#define HC_MAX_DAYS     36500 /* validity offsets accepted */
#define HC_VERSION_BAD  2     /* a PKCS#10 version that does not exist */
#define HC_UTF8_MARK    "~~"  /* CN placeholder patched to 0xff 0xfe */
#define HC_BMP_MARK     "QQQ" /* CN placeholder retagged as BMPString */

/* What a case does to the CSR before it is signed (0 on success). */
typedef int (*hc_build_fn)(X509_REQ *req, X509_NAME *name, const char *id);

/* How a case signs, and what it changes in the DER afterwards. */
enum hc_post {
	HC_POST_NONE,
	HC_POST_VERSION,  /* version INTEGER 0 -> 2 */
	HC_POST_SIGALG,   /* ecdsa-with-SHA256 -> ecdsa-with-SHA384 */
	HC_POST_UTF8,     /* HC_UTF8_MARK -> 0xff 0xfe */
	HC_POST_BMP       /* UTF8String HC_BMP_MARK -> BMPString */
};

struct hc_case {
	const char  *name;
	const char  *what;
	hc_build_fn  build;
	int          md5;     /* sign with MD5 (an RSA KEY is needed) */
	enum hc_post post;
};

/* Adds a CN of raw bytes as a UTF8String (no length or content checks:
 * that is the point).  Returns 1 on success. */
static int
add_cn_raw(X509_NAME *name, const void *bytes, int len, int type)
{
	return X509_NAME_add_entry_by_NID(name, NID_commonName, type,
	    bytes, len, -1, 0);
}

/* Adds the plain CN id.  Returns 1 on success. */
static int
add_cn(X509_NAME *name, const char *id)
{
	return add_cn_raw(name, id, (int)strlen(id), V_ASN1_UTF8STRING);
}

/* Adds gens as the request's one subjectAltName (twice when twice).
 * Borrows gens.  Returns 1 on success. */
static int
add_sans(X509_REQ *req, GENERAL_NAMES *gens, int twice)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int                       ok = 0;

	if (X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_APPEND) != 1)
		goto out;
	if (twice && X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_APPEND) != 1)
		goto out;
	ok = X509_REQ_add_extensions(req, exts) == 1;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ok;
}

/* Appends a general name of type (GEN_DNS, GEN_EMAIL, GEN_URI: an
 * IA5String; GEN_IPADD: an OCTET STRING) holding raw bytes.  Returns 1
 * on success. */
static int
push_name(GENERAL_NAMES *gens, int type, const void *bytes, int len)
{
	GENERAL_NAME      *gn = NULL;
	ASN1_STRING       *s = NULL;

	if ((s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() :
	    ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(s, bytes, len) ||
	    (gn = GENERAL_NAME_new()) == NULL)
		goto fail;
	GENERAL_NAME_set0_value(gn, type, s);
	s = NULL;
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto fail;
	return 1;
fail:
	ASN1_STRING_free(s);
	GENERAL_NAME_free(gn);
	return 0;
}

/* Adds one SAN of type with raw bytes, and the CN id.  Returns 1. */
static int
one_san(X509_REQ *req, X509_NAME *name, const char *id, int type,
    const void *bytes, int len, int twice)
{
	GENERAL_NAMES *gens;
	int            ok;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return 0;
	ok = add_cn(name, id) && (len < 0 ||
	    push_name(gens, type, bytes, len)) && add_sans(req, gens, twice);
	GENERAL_NAMES_free(gens);
	return ok;
}

/* ---- the cases ----------------------------------------------------- */

static int
b_ok(X509_REQ *req, X509_NAME *name, const char *id)
{
	(void)req;
	return add_cn(name, id);
}

static int
b_cn_long(X509_REQ *req, X509_NAME *name, const char *id)
{
	char *cn;
	int   ok;

	(void)req;
	(void)id;
	if ((cn = malloc(HC_LONG_CN)) == NULL)
		return 0;
	memset(cn, 'A', HC_LONG_CN);
	ok = add_cn_raw(name, cn, HC_LONG_CN, V_ASN1_UTF8STRING);
	free(cn);
	return ok;
}

static int
b_cn_over(X509_REQ *req, X509_NAME *name, const char *id)
{
	char cn[HC_CN_OVER];

	(void)req;
	(void)id;
	memset(cn, 'b', sizeof(cn));
	return add_cn_raw(name, cn, (int)sizeof(cn), V_ASN1_UTF8STRING);
}

static int
b_cn_empty(X509_REQ *req, X509_NAME *name, const char *id)
{
	(void)req;
	(void)id;
	return add_cn_raw(name, "", 0, V_ASN1_UTF8STRING);
}

/* The ID, a NUL, then ".evil": a classic NUL-prefix name. */
static int
b_cn_nul(X509_REQ *req, X509_NAME *name, const char *id)
{
	char buf[256];
	int  n;

	(void)req;
	n = snprintf(buf, sizeof(buf), "%s%c.evil", id, '\0');
	return n > 0 && (size_t)n < sizeof(buf) &&
	    add_cn_raw(name, buf, n, V_ASN1_UTF8STRING);
}

static int
b_cn_ctrl(X509_REQ *req, X509_NAME *name, const char *id)
{
	char buf[256];
	int  n;

	(void)req;
	n = snprintf(buf, sizeof(buf), "%s\033[31m\a", id);
	return n > 0 && (size_t)n < sizeof(buf) &&
	    add_cn_raw(name, buf, n, V_ASN1_UTF8STRING);
}

static int
b_cn_newline(X509_REQ *req, X509_NAME *name, const char *id)
{
	char buf[256];
	int  n;

	(void)req;
	n = snprintf(buf, sizeof(buf), "%s\r\nX-Injected: 1", id);
	return n > 0 && (size_t)n < sizeof(buf) &&
	    add_cn_raw(name, buf, n, V_ASN1_UTF8STRING);
}

/* A placeholder the DER patch turns into invalid UTF-8 (OpenSSL will
 * not encode such a name itself). */
static int
b_cn_bad_utf8(X509_REQ *req, X509_NAME *name, const char *id)
{
	char buf[256];
	int  n;

	(void)req;
	n = snprintf(buf, sizeof(buf), "%s%s", id, HC_UTF8_MARK);
	return n > 0 && (size_t)n < sizeof(buf) &&
	    add_cn_raw(name, buf, n, V_ASN1_UTF8STRING);
}

/* A 3-byte placeholder the DER patch retags as a BMPString (odd length:
 * not UTF-16, cannot be converted). */
static int
b_cn_bmp_odd(X509_REQ *req, X509_NAME *name, const char *id)
{
	(void)req;
	(void)id;
	return add_cn_raw(name, HC_BMP_MARK, (int)strlen(HC_BMP_MARK),
	    V_ASN1_UTF8STRING);
}

static int
b_san_many(X509_REQ *req, X509_NAME *name, const char *id)
{
	GENERAL_NAMES *gens;
	int            i, ok = 0;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return 0;
	for (i = 0; i < HC_MANY_SANS; i++)
		if (!push_name(gens, GEN_DNS, "a", 1))
			goto out;
	ok = add_cn(name, id) && add_sans(req, gens, 0);
out:
	GENERAL_NAMES_free(gens);
	return ok;
}

static int
b_san_dns_nul(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const char v[] = "good.example\0.evil.example";

	return one_san(req, name, id, GEN_DNS, v, (int)sizeof(v) - 1, 0);
}

static int
b_san_dns_ctrl(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const char v[] = "dev\033[2J.example";

	return one_san(req, name, id, GEN_DNS, v, (int)sizeof(v) - 1, 0);
}

static int
b_san_dns_markup(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const char v[] = "<img src=x onerror=alert(1)>";

	return one_san(req, name, id, GEN_DNS, v, (int)sizeof(v) - 1, 0);
}

static int
b_san_email_markup(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const char v[] = "<script>@example.com";

	return one_san(req, name, id, GEN_EMAIL, v, (int)sizeof(v) - 1, 0);
}

static int
b_san_uri_space(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const char v[] = "https://example.com/a b\n";

	return one_san(req, name, id, GEN_URI, v, (int)sizeof(v) - 1, 0);
}

static int
b_san_ip5(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const unsigned char v[HC_BAD_IP_LEN] = { 10, 0, 0, 1, 9 };

	return one_san(req, name, id, GEN_IPADD, v, HC_BAD_IP_LEN, 0);
}

static int
b_san_empty(X509_REQ *req, X509_NAME *name, const char *id)
{
	return one_san(req, name, id, GEN_DNS, NULL, -1, 0);
}

static int
b_san_twice(X509_REQ *req, X509_NAME *name, const char *id)
{
	static const char v[] = "dev.example";

	return one_san(req, name, id, GEN_DNS, v, (int)sizeof(v) - 1, 1);
}

/* An extensionRequest attribute that is not a list of extensions. */
static int
b_ext_garbage(X509_REQ *req, X509_NAME *name, const char *id)
{
	return add_cn(name, id) && X509_REQ_add1_attr_by_NID(req, NID_ext_req,
	    V_ASN1_UTF8STRING, (const unsigned char *)"junk", 4) == 1;
}

static const struct hc_case cases[] = {
	{ "ok", "a valid CSR (sanity)", b_ok, 0, HC_POST_NONE },
	{ "cn-long", "CN of 10,000 bytes", b_cn_long, 0, HC_POST_NONE },
	{ "cn-over", "CN of 65 bytes", b_cn_over, 0, HC_POST_NONE },
	{ "cn-empty", "empty CN", b_cn_empty, 0, HC_POST_NONE },
	{ "cn-nul", "NUL byte inside the CN", b_cn_nul, 0, HC_POST_NONE },
	{ "cn-ctrl", "ESC and BEL in the CN", b_cn_ctrl, 0, HC_POST_NONE },
	{ "cn-newline", "CR LF in the CN", b_cn_newline, 0, HC_POST_NONE },
	{ "cn-bad-utf8", "invalid UTF-8 in the CN", b_cn_bad_utf8, 0,
	  HC_POST_UTF8 },
	{ "cn-bmp-odd", "BMPString CN of odd length", b_cn_bmp_odd, 0,
	  HC_POST_BMP },
	{ "san-many", "1,000 subjectAltName entries", b_san_many, 0,
	  HC_POST_NONE },
	{ "san-dns-nul", "NUL byte in a dNSName", b_san_dns_nul, 0,
	  HC_POST_NONE },
	{ "san-dns-ctrl", "escape sequence in a dNSName", b_san_dns_ctrl, 0,
	  HC_POST_NONE },
	{ "san-dns-markup", "HTML markup as a dNSName", b_san_dns_markup, 0,
	  HC_POST_NONE },
	{ "san-email-markup", "markup in an rfc822Name", b_san_email_markup,
	  0, HC_POST_NONE },
	{ "san-uri-space", "space and LF in a URI", b_san_uri_space, 0,
	  HC_POST_NONE },
	{ "san-ip5", "iPAddress of 5 bytes", b_san_ip5, 0, HC_POST_NONE },
	{ "san-empty", "empty subjectAltName", b_san_empty, 0, HC_POST_NONE },
	{ "san-twice", "two subjectAltName extensions", b_san_twice, 0,
	  HC_POST_NONE },
	{ "ext-garbage", "extensionRequest that is a string", b_ext_garbage,
	  0, HC_POST_NONE },
	{ "md5", "signed with MD5 (RSA key)", b_ok, 1, HC_POST_NONE },
	{ "version", "PKCS#10 version 3", b_ok, 0, HC_POST_VERSION },
	{ "sigalg", "signature algorithm changed after signing", b_ok, 0,
	  HC_POST_SIGALG },
};

/* ---- DER patches after signing ---------------------------------------- */

/* Finds the last occurrence of pat (n bytes) in der; NULL if none. */
static unsigned char *
find_last(unsigned char *der, size_t len, const unsigned char *pat,
    size_t n)
{
	size_t i;

	if (n > len)
		return NULL;
	for (i = len - n + 1; i-- > 0;)
		if (memcmp(der + i, pat, n) == 0)
			return der + i;
	return NULL;
}

/* Applies post to the signed DER.  Returns 1 on success. */
static int
patch(unsigned char *der, size_t len, enum hc_post post)
{
	/* version INTEGER 0 is the first field of certificationRequestInfo */
	static const unsigned char v0[] = { 0x02, 0x01, 0x00 };
	/* ecdsa-with-SHA256 and ecdsa-with-SHA384 differ in the last byte */
	static const unsigned char sha256ec[] = { 0x06, 0x08, 0x2a, 0x86,
	    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	static const unsigned char bmp[] = { V_ASN1_UTF8STRING, 3, 'Q', 'Q',
	    'Q' };
	unsigned char *p;

	switch (post) {
	case HC_POST_NONE:
		return 1;
	case HC_POST_VERSION:
		if (len < 16 || (p = memchr(der, 0x02, 16)) == NULL ||
		    (size_t)(p - der) + sizeof(v0) > len ||
		    memcmp(p, v0, sizeof(v0)) != 0)
			return 0;
		p[2] = HC_VERSION_BAD;
		return 1;
	case HC_POST_SIGALG:
		if ((p = find_last(der, len, sha256ec,
		    sizeof(sha256ec))) == NULL)
			return 0; /* needs an EC key signed with SHA-256 */
		p[sizeof(sha256ec) - 1] = 0x03;
		return 1;
	case HC_POST_UTF8:
		if ((p = find_last(der, len, (const unsigned char *)HC_UTF8_MARK,
		    strlen(HC_UTF8_MARK))) == NULL)
			return 0;
		p[0] = 0xff;
		p[1] = 0xfe;
		return 1;
	case HC_POST_BMP:
		if ((p = find_last(der, len, bmp, sizeof(bmp))) == NULL)
			return 0;
		p[0] = V_ASN1_BMPSTRING;
		return 1;
	}
	return 0;
}

/* Reads the PEM private key of path; NULL (with a message) on error. */
static EVP_PKEY *
read_key(const char *path)
{
	FILE     *fp;
	EVP_PKEY *k;

	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		return NULL;
	}
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (k == NULL)
		fprintf(stderr, "%s: no PEM private key\n", path);
	return k;
}

/* Returns the digest to sign with key (NULL for EdDSA). */
static const EVP_MD *
sign_md(EVP_PKEY *key, int md5)
{
	int id = EVP_PKEY_get_base_id(key);

	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
		return NULL;
	return md5 ? EVP_md5() : EVP_sha256();
}

/* `csr KEY CASE ID`: writes the case's signed CSR as DER to stdout.
 * Returns the exit status. */
static int
cmd_csr(const char *keypath, const char *casename, const char *id)
{
	const struct hc_case *c = NULL;
	X509_REQ             *req = NULL;
	X509_NAME            *name = NULL;
	EVP_PKEY             *key = NULL;
	unsigned char        *der = NULL;
	size_t                i;
	int                   len, rc = 1;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(cases[i].name, casename) == 0)
			c = &cases[i];
	if (c == NULL) {
		fprintf(stderr, "unknown case %s (try: hostile-csr list)\n",
		    casename);
		return 2;
	}
	if ((key = read_key(keypath)) == NULL)
		goto out;
	if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !c->build(req, name, id) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, sign_md(key, c->md5)) <= 0)
		goto ssl;
	if ((len = i2d_X509_REQ(req, &der)) <= 0)
		goto ssl;
	if (!patch(der, (size_t)len, c->post)) {
		fprintf(stderr, "%s: cannot apply the DER patch\n", c->name);
		goto out;
	}
	if (fwrite(der, 1, (size_t)len, stdout) != (size_t)len ||
	    fflush(stdout) != 0) {
		perror("stdout");
		goto out;
	}
	rc = 0;
	goto out;
ssl:
	fprintf(stderr, "%s: OpenSSL failed\n", c->name);
	ERR_print_errors_fp(stderr);
out:
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

/* Reads the first PEM certificate of path; NULL on error. */
static X509 *
read_cert(const char *path)
{
	FILE *fp;
	X509 *x;

	if ((fp = fopen(path, "r")) == NULL) {
		perror(path);
		return NULL;
	}
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL)
		fprintf(stderr, "%s: no PEM certificate\n", path);
	return x;
}

/* Parses a day offset in [-HC_MAX_DAYS, HC_MAX_DAYS]; 0 on error. */
static int
parse_days(const char *s, long *out)
{
	char *end;
	long  v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < -HC_MAX_DAYS ||
	    v > HC_MAX_DAYS)
		return 0;
	*out = v;
	return 1;
}

/* Adds extension nid with the config-style value to x.  Returns 1. */
static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX      v3;
	X509_EXTENSION *ext;
	int             ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* `cert CA CAKEY KEY CN FROM TO`: a client certificate for KEY, issued
 * by CA, valid from FROM to TO days from now, as PEM on stdout.
 * Returns the exit status. */
static int
cmd_cert(char **av)
{
	X509          *ca = NULL, *x = NULL;
	EVP_PKEY      *cakey = NULL, *key = NULL;
	X509_NAME     *name = NULL;
	BIGNUM        *bn = NULL;
	unsigned char  serial[HC_SERIAL_BYTES];
	long           from, to;
	int            rc = 1;

	if (!parse_days(av[4], &from) || !parse_days(av[5], &to) ||
	    from >= to) {
		fprintf(stderr, "FROM and TO: days from now, FROM < TO\n");
		return 2;
	}
	if ((ca = read_cert(av[0])) == NULL ||
	    (cakey = read_key(av[1])) == NULL || (key = read_key(av[2])) == NULL)
		goto out;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto ssl;
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    (name = X509_NAME_new()) == NULL || !add_cn(name, av[3]) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), (int)from, 0, NULL) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)to, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, key) ||
	    !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca, NID_ext_key_usage, "clientAuth") ||
	    !add_ext(x, ca, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, ca, NID_authority_key_identifier, "keyid") ||
	    X509_sign(x, cakey, sign_md(cakey, 0)) <= 0)
		goto ssl;
	if (PEM_write_X509(stdout, x) != 1 || fflush(stdout) != 0)
		goto ssl;
	rc = 0;
	goto out;
ssl:
	fprintf(stderr, "cert: OpenSSL failed\n");
	ERR_print_errors_fp(stderr);
out:
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	return rc;
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			printf("%-18s %s\n", cases[i].name, cases[i].what);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "csr") == 0)
		return cmd_csr(argv[2], argv[3], argv[4]);
	if (argc == 8 && strcmp(argv[1], "cert") == 0)
		return cmd_cert(argv + 2);
	fprintf(stderr, "usage: hostile-csr csr KEY CASE ID > out.der\n"
	    "       hostile-csr cert CA CAKEY KEY CN FROM_DAYS TO_DAYS > out.pem\n"
	    "       hostile-csr list\n");
	return 2;
}
