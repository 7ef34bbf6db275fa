/*
 * test-label.c — CA labels: the `labels` configuration (inheritance,
 * overrides, refusals), label_from_uri() on good and hostile URIs,
 * policy_check() on CSRs built in-process, the csrattrs DER and the
 * serverkeygen answer.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"
#include "unit.h"

#define T_PATH_MAX 256 /* temp file paths */

/* A configuration whose labels exercise inheritance and overrides. */
static const char *conf_text =
    "ca = { cert = \"ca.pem\"; key = \"ca.key\"; };\n"
    "store_dir = \"db\";\n"
    "validity_days = 100;\n"
    "policy = { allowed_ou = [ \"top\" ]; };\n"
    "labels = {\n"
    "  rsa = { ca = { cert = \"rsa.pem\"; key = \"rsa.key\"; };\n"
    "          validity_days = 50;\n"
    "          csrattrs = { key = \"RSA-3072\"; oids = [ \"challengePassword\" ];\n"
    "                       extensions = [ \"subjectAltName\" ]; };\n"
    "          serverkeygen = { enabled = true; }; };\n"
    "  strict = { extended_key_usage = [ \"serverAuth\", \"1.2.3.4\" ];\n"
    "             key_usage = [ \"digitalSignature\" ];\n"
    "             policy = { key_types = [ \"P-256\", \"P-384\" ];\n"
    "                        hashes = [ \"SHA-384\" ];\n"
    "                        subject_required = [ \"CN\", \"O\" ];\n"
    "                        subject_allowed = [ \"commonName\", \"O\", \"2.5.4.11\" ];\n"
    "                        allowed_o = [ \"Acme\" ];\n"
    "                        allowed_ou = [ \"a\", \"b\" ];\n"
    "                        san_types = [ \"dns\" ];\n"
    "                        san_pattern = \"\\\\.example\\\\.com$\";\n"
    "                        max_validity_days = 7; }; };\n"
    "  manual = { };\n"
    "};\n";

/* Writes text to a new temp file; its path into path.  Returns path. */
static char *
write_tmp(char path[T_PATH_MAX], const char *text)
{
	FILE *f;
	int   fd;

	snprintf(path, T_PATH_MAX, "/tmp/test-label-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Loads text as est.conf into c; returns conf_load()'s result. */
static enum est_err
load(const char *text, struct est_conf *c)
{
	char         path[T_PATH_MAX];
	enum est_err rc;

	rc = conf_load(write_tmp(path, text), c);
	unlink(path);
	return rc;
}

/* The default label is the top level; labels inherit and override. */
static void
conf_labels_inherit(void **state)
{
	struct est_conf         c;
	const struct est_label *d, *r, *s, *m;

	(void)state;
	assert_int_equal(load(conf_text, &c), EST_OK);
	assert_int_equal(c.n_labels, 4);
	d = &c.labels[0];
	assert_string_equal(d->name, "");
	assert_true(d->own_ca);
	assert_int_equal(d->validity_days, 100);
	assert_int_equal(d->pol.key_types, EST_KEYS_DEFAULT);
	assert_false(d->serverkeygen);
	assert_non_null(r = conf_label_find(&c, "rsa", 3));
	assert_true(r->own_ca);
	assert_non_null(strstr(r->ca_cert, "/rsa.pem"));
	assert_int_equal(r->validity_days, 50);
	assert_int_equal(r->bootstrap_days, EST_DEFAULT_BOOT_DAYS);
	/* What csrattrs announces is what is accepted. */
	assert_int_equal(r->pol.key_types, EST_KEY_RSA);
	assert_int_equal(r->pol.rsa_min_bits, 3072);
	assert_true(r->serverkeygen);
	assert_int_equal(r->skg_key, EST_KEY_RSA);
	assert_int_equal(r->skg_rsa_bits, 3072);
	/* Inherited from the top level. */
	assert_int_equal(r->pol.allowed_ou.n, 1);
	assert_non_null(s = conf_label_find(&c, "strict", 6));
	assert_false(s->own_ca);
	assert_int_equal(s->validity_days, 100);
	assert_int_equal(s->pol.max_days, 7);
	assert_int_equal(s->pol.allowed_ou.n, 2);
	assert_int_equal(s->eku.n, 2);
	assert_int_equal(s->key_usage, 1u);
	assert_true(s->pol.san_re_ok);
	assert_non_null(m = conf_label_find(&c, "manual", 6));
	assert_int_equal(m->pol.key_types, EST_KEYS_DEFAULT);
	assert_null(conf_label_find(&c, "nope", 4));
	assert_ptr_equal(conf_label_find(&c, "", 0), d);
	conf_free(&c);
}

/* Configurations a label check refuses, each with EST_ERR_CONFIG. */
static void
conf_labels_refused(void **state)
{
	static const char *bad[] = {
		"labels = [ 1 ];",
		"labels = { a = 1; };",
		"labels = { a = { policy = { key_types = [ \"DSA\" ]; }; }; };",
		"labels = { a = { policy = { hashes = [ \"MD5\" ]; }; }; };",
		"labels = { a = { policy = { san_types = [ \"x400\" ]; }; }; };",
		"labels = { a = { policy = { rsa_min_bits = 1024; }; }; };",
		"labels = { a = { policy = { san_pattern = \"(\"; }; }; };",
		"labels = { a = { policy = { copy_san = 1; }; }; };",
		"labels = { a = { csrattrs = { key = \"P-999\"; }; }; };",
		"labels = { a = { csrattrs = { key = \"RSA-1024\"; }; }; };",
		"labels = { a = { csrattrs = { key = \"Ed25519\"; };\n"
		"  policy = { key_types = [ \"RSA\" ]; }; }; };",
		"labels = { a = { csrattrs = { oids = [ \"no-such-oid\" ]; }; }; };",
		"labels = { a = { extended_key_usage = [ \"bogus\" ]; }; };",
		"labels = { a = { serverkeygen = { enabled = true; key = \"P-521\"; };"
		" }; };",
		"labels = { a = { key_usage = [ \"keyCertSign\" ]; }; };",
		"labels = { a = { ca = { cert = \"x.pem\"; }; }; };",
		"labels = { a = { validity_days = 0; }; };",
		"labels = { a = { policy = { subject_allowed = [ \"Cn\" ]; }; }; };",
		"labels = { a = { policy = { subject_required = [ \"x\" ]; }; }; };",
		/* Names of crl_dir's files default.crl and all.crl.pem. */
		"labels = { default = { validity_days = 5; }; };",
		"labels = { all = { validity_days = 5; }; };",
	};
	struct est_conf c;
	char            text[2048];
	size_t          i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "ca = { cert = \"c\"; key = \"k\"; };"
		    "\nstore_dir = \"db\";\n%s\n", bad[i]);
		if (load(text, &c) != EST_ERR_CONFIG)
			fail_msg("accepted: %s", bad[i]);
	}
}

/* label_from_uri(): the default, named labels, and refusals (404). */
static void
uri_labels(void **state)
{
	static const char *refused[] = {
		"/.well-known/est/nope/cacerts",
		"/.well-known/est/../cacerts",
		"/.well-known/est/./cacerts",
		"/.well-known/est/%2e%2e/cacerts",
		"/.well-known/est/%2E/cacerts",
		"/.well-known/est/rsa%00/cacerts",
		"/.well-known/est/r%73a/cacerts",
		"/.well-known/est//cacerts",
		"/.well-known/est/rsa/x/cacerts",
		"/.well-known/est/a~b/cacerts",
		"/.well-known/est/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/cacerts",
		/* Mapped under /.well-known/est/ only once normalized. */
		"//.well-known/est/rsa/simpleenroll",
		"//.well-known/est/nosuchlabel/cacerts",
		"///.well-known//est/cacerts",
		"/./.well-known/est/cacerts",
		"/x/../.well-known/est/rsa/cacerts",
		"/%2Ewell-known/est/cacerts",
		"/.well-known/./est/cacerts?a",
		"/%2F.well-known/est/cacerts",
	};
	const struct est_label *l;
	struct est_conf         c;
	size_t                  i;

	(void)state;
	assert_int_equal(load(conf_text, &c), EST_OK);
	assert_int_equal(label_from_uri(&c, "/.well-known/est/cacerts", &l),
	    EST_OK);
	assert_ptr_equal(l, &c.labels[0]);
	assert_int_equal(label_from_uri(&c, "/.well-known/est/cacerts?x=a/b",
	    &l), EST_OK);
	assert_ptr_equal(l, &c.labels[0]);
	assert_int_equal(label_from_uri(&c, "/.well-known/est/rsa/simpleenroll",
	    &l), EST_OK);
	assert_string_equal(l->name, "rsa");
	assert_int_equal(label_from_uri(&c,
	    "/.well-known/est/strict/csrattrs?a=/b", &l), EST_OK);
	assert_string_equal(l->name, "strict");
	assert_int_equal(label_from_uri(&c, "/other/rsa/x", &l), EST_OK);
	assert_ptr_equal(l, &c.labels[0]);
	/* Elsewhere (the OCSP responder's GET, RFC 6960 A.1): the default. */
	assert_int_equal(label_from_uri(&c, "/ocsp/MEQw%2FQj%2B..%3D", &l),
	    EST_OK);
	assert_ptr_equal(l, &c.labels[0]);
	assert_int_equal(label_from_uri(&c, "//api/v1/devices?u=/.well-known/est/",
	    &l), EST_OK);
	assert_int_equal(label_from_uri(&c, "/x/.well-known/est/cacerts", &l),
	    EST_OK);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (label_from_uri(&c, refused[i], &l) != EST_ERR_NO_LABEL)
			fail_msg("not refused: %s", refused[i]);
		assert_int_equal(est_err_status(EST_ERR_NO_LABEL), 404);
	}
	conf_free(&c);
}

/* How to build one test CSR. */
struct spec {
	EVP_PKEY     *key;
	const EVP_MD *md;
	const char   *subj;   /* "CN=x,O=y" (one value per attribute) */
	const char   *san;    /* "DNS:x" or NULL */
};

/* Builds a CSR from s; the caller frees it. */
static X509_REQ *
make_req(const struct spec *s)
{
	X509_REQ                 *req;
	X509_NAME                *name;
	STACK_OF(X509_EXTENSION) *exts;
	X509_EXTENSION           *ext;
	char                      buf[256], *p, *tok, *eq, *save = NULL;

	assert_non_null(req = X509_REQ_new());
	assert_non_null(name = X509_NAME_new());
	snprintf(buf, sizeof(buf), "%s", s->subj);
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		assert_non_null(eq = strchr(tok, '='));
		*eq = '\0';
		assert_int_equal(X509_NAME_add_entry_by_txt(name, tok,
		    MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1, 0), 1);
	}
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	X509_NAME_free(name);
	if (s->san != NULL) {
		assert_non_null(exts = sk_X509_EXTENSION_new_null());
		assert_non_null(ext = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, s->san));
		sk_X509_EXTENSION_push(exts, ext);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_int_equal(X509_REQ_set_pubkey(req, s->key), 1);
	assert_true(X509_REQ_sign(req, s->key, s->md) > 0);
	return req;
}

/* Checks policy_check() of label l on s gives want; with a reason
 * containing rule when want is not EST_OK. */
static void
expect(const struct est_label *l, const struct spec *s, enum est_err want,
    const char *rule)
{
	struct est_csr csr = t_csr(make_req(s));
	enum est_err   rc = policy_check(l, &csr);

	if (rc != want)
		fail_msg("%s / %s: got %s (%s), want %s", l->name, s->subj,
		    est_err_name(rc), est_reason(rc), est_err_name(want));
	if (rule != NULL && strstr(est_reason(rc), rule) == NULL)
		fail_msg("reason '%s' does not name %s", est_reason(rc), rule);
	csr_free(&csr);
}

/* policy_check(): every rule refuses, with a reason naming it. */
static void
policy_rules(void **state)
{
	struct est_conf         c;
	const struct est_label *s, *d, *r;
	EVP_PKEY               *p256, *p521, *rsa, *ed;

	(void)state;
	assert_int_equal(load(conf_text, &c), EST_OK);
	d = &c.labels[0];
	assert_non_null(r = conf_label_find(&c, "rsa", 3));
	assert_non_null(s = conf_label_find(&c, "strict", 6));
	assert_non_null(p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	assert_non_null(p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"));
	assert_non_null(rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)2048));
	assert_non_null(ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));

	/* Defaults: P-256, RSA-2048, Ed25519 yes, P-521 no. */
	expect(d, &(struct spec){ p256, EVP_sha256(), "CN=a,OU=top", NULL },
	    EST_OK, NULL);
	expect(d, &(struct spec){ ed, NULL, "CN=a", NULL }, EST_OK, NULL);
	expect(d, &(struct spec){ rsa, EVP_sha256(), "CN=a", NULL }, EST_OK,
	    NULL);
	expect(d, &(struct spec){ p521, EVP_sha512(), "CN=a", NULL },
	    EST_ERR_BAD_KEY, "policy.key_types");
	expect(d, &(struct spec){ p256, EVP_sha256(), "CN=a,OU=x", NULL },
	    EST_ERR_POLICY, "policy.allowed_ou");
	/* rsa: csrattrs announced RSA-3072. */
	expect(r, &(struct spec){ rsa, EVP_sha256(), "CN=a", NULL },
	    EST_ERR_BAD_KEY, "policy.rsa_min_bits");
	expect(r, &(struct spec){ p256, EVP_sha256(), "CN=a", NULL },
	    EST_ERR_BAD_KEY, "policy.key_types");
	/* strict. */
	expect(s, &(struct spec){ p256, EVP_sha384(),
	    "CN=a,O=Acme,OU=a", "DNS:h.example.com" }, EST_OK, NULL);
	expect(s, &(struct spec){ ed, NULL, "CN=a,O=Acme", NULL },
	    EST_ERR_BAD_KEY, "policy.key_types");
	expect(s, &(struct spec){ p256, EVP_sha256(), "CN=a,O=Acme", NULL },
	    EST_ERR_WEAK_HASH, "policy.hashes");
	expect(s, &(struct spec){ p256, EVP_sha384(), "CN=a", NULL },
	    EST_ERR_POLICY, "policy.subject_required");
	expect(s, &(struct spec){ p256, EVP_sha384(), "CN=a,O=Acme,L=x",
	    NULL }, EST_ERR_POLICY, "policy.subject_allowed");
	expect(s, &(struct spec){ p256, EVP_sha384(), "CN=a,O=Evil", NULL },
	    EST_ERR_POLICY, "policy.allowed_o");
	expect(s, &(struct spec){ p256, EVP_sha384(), "CN=a,O=Acme,OU=c",
	    NULL }, EST_ERR_POLICY, "policy.allowed_ou");
	expect(s, &(struct spec){ p256, EVP_sha384(), "CN=a,O=Acme",
	    "IP:10.0.0.1" }, EST_ERR_POLICY, "policy.san_types");
	expect(s, &(struct spec){ p256, EVP_sha384(), "CN=a,O=Acme",
	    "DNS:h.example.org" }, EST_ERR_POLICY, "policy.san_pattern");
	assert_int_equal(est_err_status(EST_ERR_POLICY), 403);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	conf_free(&c);
}

/* csrattrs: nothing announced is NULL (204); rsa's body is the DER
 * SEQUENCE of its OIDs and attributes. */
static void
csrattrs_der(void **state)
{
	struct est_conf         c;
	const struct est_label *r;
	unsigned char          *der = NULL;
	char                   *b64 = NULL, text[1024];
	size_t                  len = 0, derlen = 0;
	BIO                    *mem;
	ASN1_TYPE              *t;
	const unsigned char    *p;
	int                     n;

	(void)state;
	assert_int_equal(load(conf_text, &c), EST_OK);
	assert_int_equal(csrattrs_body(&c.labels[0], &b64, &len), EST_OK);
	assert_null(b64);
	assert_non_null(r = conf_label_find(&c, "rsa", 3));
	assert_int_equal(csrattrs_body(r, &b64, &len), EST_OK);
	assert_non_null(b64);
	assert_int_equal(b64_decode(b64, len, &der, &derlen), EST_OK);
	p = der;
	assert_non_null(t = d2i_ASN1_TYPE(NULL, &p, (long)derlen));
	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
	assert_ptr_equal(p, der + derlen);
	ASN1_TYPE_free(t);
	/* The parts, as openssl asn1parse would show them. */
	assert_non_null(mem = BIO_new(BIO_s_mem()));
	assert_int_equal(ASN1_parse_dump(mem, der, (long)derlen, 0, 0), 1);
	n = BIO_read(mem, text, sizeof(text) - 1);
	assert_true(n > 0);
	text[n] = '\0';
	assert_non_null(strstr(text, ":challengePassword"));
	assert_non_null(strstr(text, ":rsaEncryption"));
	assert_non_null(strstr(text, ":0C00"));      /* 3072 */
	assert_non_null(strstr(text, ":Extension Request"));
	assert_non_null(strstr(text, ":X509v3 Subject Alternative Name"));
	BIO_free(mem);
	free(der);
	free(b64);
	conf_free(&c);
}

/* serverkeygen: the key replaces the CSR's, the answer is two base64
 * parts, the first a PKCS#8 PrivateKeyInfo of that key. */
static void
skg_answer(void **state)
{
	struct est_conf         c;
	struct est_label        l;
	struct est_resp         resp;
	EVP_PKEY               *client, *key = NULL, *got;
	X509_REQ               *req;
	struct est_csr          csr;
	X509                   *x;
	PKCS8_PRIV_KEY_INFO    *p8;
	const unsigned char    *p;
	unsigned char          *der = NULL;
	char                   *a, *b;
	size_t                  derlen = 0, i;

	(void)state;
	assert_int_equal(load(conf_text, &c), EST_OK);
	l = c.labels[0];
	l.skg_key = EST_KEY_P384;
	assert_non_null(client = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	csr = t_csr(make_req(&(struct spec){ client, EVP_sha256(), "CN=k",
	    NULL }));
	assert_int_equal(skg_key_for(&l, &csr, &key), EST_OK);
	assert_int_equal(keytype_of(csr.key), EST_KEY_P384);
	assert_int_equal(EVP_PKEY_eq(key, csr.key), 1);
	/* The request itself carries it: what the certificate copies. */
	assert_int_equal(EVP_PKEY_eq(key, X509_REQ_get0_pubkey(csr.req)), 1);
	/* Any certificate does for the answer's shape. */
	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha384()) > 0);
	resp_init(&resp);
	assert_int_equal(skg_response(&resp, key, x), EST_OK);
	assert_true(resp.secret);
	assert_string_equal(resp.content_type,
	    "multipart/mixed; boundary=estcgi-serverkeygen-part");
	assert_non_null(a = strstr(resp.body, "application/pkcs8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"));
	a = strstr(a, "\r\n\r\n") + 4;
	assert_non_null(b = strstr(a, "\r\n--estcgi-serverkeygen-part\r\n"));
	assert_non_null(strstr(b, "application/pkcs7-mime; "
	    "smime-type=certs-only"));
	assert_non_null(strstr(b, "--estcgi-serverkeygen-part--\r\n"));
	/* MIME's canonical form: every line of the body ends in CRLF. */
	for (i = 0; i < resp.body_len; i++)
		if (resp.body[i] == '\n' && (i == 0 || resp.body[i - 1] != '\r'))
			fail_msg("bare LF at byte %zu of the answer", i);
	assert_int_equal(b64_decode(a, (size_t)(b - a), &der, &derlen), EST_OK);
	p = der;
	assert_non_null(p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)derlen));
	assert_non_null(got = EVP_PKCS82PKEY(p8));
	assert_int_equal(EVP_PKEY_eq(got, key), 1);
	EVP_PKEY_free(got);
	PKCS8_PRIV_KEY_INFO_free(p8);
	free(der);
	resp_free(&resp);
	X509_free(x);
	csr_free(&csr);
	EVP_PKEY_free(key);
	/* RFC 7030 4.4.1.1: asking for the key encrypted is refused. */
	req = make_req(&(struct spec){ client, EVP_sha256(), "CN=k", NULL });
	assert_int_equal(X509_REQ_add1_attr_by_txt(req,
	    "1.2.840.113549.1.9.16.2.37", V_ASN1_OCTET_STRING,
	    (const unsigned char *)"kid", 3), 1);
	key = NULL;
	csr = t_csr(req);
	assert_int_equal(skg_key_for(&l, &csr, &key), EST_ERR_NOT_IMPLEMENTED);
	assert_null(key);
	assert_non_null(strstr(est_reason(EST_ERR_NOT_IMPLEMENTED),
	    "4.4.1.1"));
	csr_free(&csr);
	EVP_PKEY_free(client);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conf_labels_inherit),
		cmocka_unit_test(conf_labels_refused),
		cmocka_unit_test(uri_labels),
		cmocka_unit_test(policy_rules),
		cmocka_unit_test(csrattrs_der),
		cmocka_unit_test(skg_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
