/*
 * csr.c — PKCS#10 (RFC 2986) certification requests as RFC 7030 uses
 * them: strict DER parsing, proof of possession (RFC 7030 3.4), key and
 * hash policy, the device ID from the subject CN, and the RFC 7030
 * 4.2.2 re-enrollment subject check.
 */
#include <limits.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define CSR_MAX_RSA_BITS  16384 /* OpenSSL's own RSA verification limit */
#define CSR_MAX_GROUP     64    /* longest EC group name we read */
#define CSR_NO_IDX        (-1)  /* "not found" from the *_by_NID calls */
#define CSR_MAX_SANS      32    /* subjectAltName entries accepted */
#define CSR_MAX_SAN_BYTES 255   /* longest dNSName, rfc822Name or URI */
#define CSR_IPV4_LEN      4     /* RFC 5280 4.2.1.6: iPAddress octets ... */
#define CSR_IPV6_LEN      16    /* ... of IPv4 or IPv6 */

/* Characters allowed besides letters and digits (RFC 5280 4.2.1.6):
 * dNSName in preferred name syntax (RFC 1034 3.5) plus the wildcard and
 * the underscore seen in practice; rfc822Name as RFC 5322 3.2.3 atext
 * with '.' and '@'; URI as RFC 3986 2.2/2.3 plus '%'.  Never controls,
 * spaces, NUL, or the markup characters < > " outside the URI set. */
#define CSR_DNS_EXTRA   "-._*"
#define CSR_EMAIL_EXTRA "!#$%&'*+-/=?^_`{|}~.@"
#define CSR_URI_EXTRA   "-._~:/?#[]@!$&'()*+,;=%"

/*
 * The library context CSRs are parsed in: the "null" provider only, so
 * OpenSSL's opportunistic decoding of the subject key finds no decoder
 * at once (pubkey_decode() does it instead).  Made on first use, kept
 * for the process.  Returns it, or NULL when it cannot be made.
 */
static OSSL_LIB_CTX *
csr_bare_ctx(void)
{
	static OSSL_LIB_CTX *ctx;

	if (ctx == NULL && (ctx = OSSL_LIB_CTX_new()) != NULL &&
	    OSSL_PROVIDER_load(ctx, "null") == NULL) {
		OSSL_LIB_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/*
 * Parses one DER PKCS#10 request from der[0..len); the whole input must
 * be consumed.  The subject key is decoded by pubkey_decode(), not by
 * OpenSSL's parser.  On EST_OK *out holds a new request and key the
 * caller frees with csr_free().  Returns EST_ERR_BAD_DER or
 * EST_ERR_BAD_KEY with a reason otherwise (*out empty), EST_ERR_NOMEM.
 */
enum est_err
csr_parse(const unsigned char *der, size_t len, struct est_csr *out)
{
	const unsigned char *p = der;
	OSSL_LIB_CTX        *bare;
	X509_REQ            *req;
	enum est_err         rc;

	out->req = NULL;
	out->key = NULL;
	if (der == NULL || len == 0)
		return est_fail(EST_ERR_BAD_DER, "empty CSR");
	if (len > LONG_MAX)
		return est_fail(EST_ERR_BAD_DER, "CSR too large");
	if ((bare = csr_bare_ctx()) == NULL)
		return est_fail(EST_ERR_NOMEM, "cannot make a library context");
	/* RFC 7030 4.2.1: the body is a DER CertificationRequest. */
	if ((req = (X509_REQ *)ASN1_item_d2i_ex(NULL, &p, (long)len,
	    ASN1_ITEM_rptr(X509_REQ), bare, NULL)) == NULL) {
		est_log_ssl("csr_parse");
		return est_fail(EST_ERR_BAD_DER,
		    "request body is not a DER PKCS#10 CSR");
	}
	if (p != der + len) {
		X509_REQ_free(req);
		return est_fail(EST_ERR_BAD_DER,
		    "trailing bytes after the CSR (%zu of %zu bytes used)",
		    (size_t)(p - der), len);
	}
	if ((rc = pubkey_decode(X509_REQ_get_X509_PUBKEY(req), &out->key)) !=
	    EST_OK) {
		X509_REQ_free(req);
		return rc;
	}
	out->req = req;
	return EST_OK;
}

/*
 * Puts key into csr as its subject key (serverkeygen, RFC 7030 4.4:
 * the server's key replaces the client's).  Takes a reference to key.
 * Returns EST_OK or EST_ERR_INTERNAL (csr unchanged).
 */
enum est_err
csr_set_key(struct est_csr *csr, EVP_PKEY *key)
{
	if (!EVP_PKEY_up_ref(key))
		return est_fail(EST_ERR_INTERNAL, "cannot reference the key");
	if (!X509_REQ_set_pubkey(csr->req, key)) {
		EVP_PKEY_free(key);
		est_log_ssl("csr_set_key");
		return est_fail(EST_ERR_INTERNAL,
		    "cannot put a key into the request");
	}
	EVP_PKEY_free(csr->key);
	csr->key = key;
	return EST_OK;
}

/* Frees csr's request and key and empties it (NULL or empty: no-op). */
void
csr_free(struct est_csr *csr)
{
	if (csr == NULL)
		return;
	X509_REQ_free(csr->req);
	EVP_PKEY_free(csr->key);
	csr->req = NULL;
	csr->key = NULL;
}

/*
 * Checks the subject public key against our policy: RSA of
 * EST_MIN_RSA_BITS..CSR_MAX_RSA_BITS, EC on P-256, P-384 or P-521 with a
 * named curve, or Ed25519.  Returns EST_OK or EST_ERR_BAD_KEY naming the
 * key.  Borrows pkey.
 */
static enum est_err
csr_check_key(EVP_PKEY *pkey)
{
	char   group[CSR_MAX_GROUP];
	char   enc[CSR_MAX_GROUP];
	size_t glen = 0, elen = 0;
	int    bits, nid;

	bits = EVP_PKEY_get_bits(pkey);
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		/* NIST SP 800-131A: 2048-bit RSA at least. */
		if (bits < EST_MIN_RSA_BITS)
			return est_fail(EST_ERR_BAD_KEY, "RSA key of %d bits "
			    "is too small (minimum %d)", bits,
			    EST_MIN_RSA_BITS);
		if (bits > CSR_MAX_RSA_BITS)
			return est_fail(EST_ERR_BAD_KEY, "RSA key of %d bits "
			    "is too large (maximum %d)", bits,
			    CSR_MAX_RSA_BITS);
		return EST_OK;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group),
		    &glen)) {
			ERR_clear_error();
			return est_fail(EST_ERR_BAD_KEY,
			    "EC key without a named curve not accepted");
		}
		/* RFC 5480 2.1.1: namedCurve, not explicit parameters. */
		if (EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), &elen) &&
		    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0)
			return est_fail(EST_ERR_BAD_KEY,
			    "EC key with explicit curve parameters not "
			    "accepted");
		ERR_clear_error();
		nid = OBJ_txt2nid(group);
		if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 ||
		    nid == NID_secp521r1)
			return EST_OK;
		return est_fail(EST_ERR_BAD_KEY, "EC key on curve %s not "
		    "accepted (P-256, P-384 or P-521 only)",
		    nid != NID_undef ? OBJ_nid2sn(nid) : "unknown");
	case EVP_PKEY_ED25519:
		return EST_OK;
	default:
		return est_fail(EST_ERR_BAD_KEY, "%s key not accepted "
		    "(RSA, EC P-256/P-384/P-521 or Ed25519 only)",
		    EVP_PKEY_get0_type_name(pkey) != NULL ?
		    EVP_PKEY_get0_type_name(pkey) : "unknown");
	}
}

/* Returns whether digest nid gives at least 256-bit output (the only
 * hashes we accept for CSR signatures). */
static int
csr_hash_ok(int mdnid)
{
	switch (mdnid) {
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
	case NID_sha512_256:
	case NID_sha3_256:
	case NID_sha3_384:
	case NID_sha3_512:
		return 1;
	default:
		return 0;
	}
}

/*
 * Finds the message digest of an RSASSA-PSS signature algorithm
 * (RFC 4055 3.1: absent hashAlgorithm means SHA-1).  Returns the digest
 * nid, or NID_undef when the parameters cannot be read.  Borrows alg.
 */
static int
csr_pss_hash(const X509_ALGOR *alg)
{
	const ASN1_OBJECT *obj;
	const void        *pval;
	const ASN1_STRING *seq;
	const unsigned char *p;
	RSA_PSS_PARAMS    *pss = NULL;
	int                ptype, nid = NID_undef;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (ptype != V_ASN1_SEQUENCE || pval == NULL)
		return NID_undef;
	seq = pval;
	p = ASN1_STRING_get0_data(seq);
	pss = d2i_RSA_PSS_PARAMS(NULL, &p, ASN1_STRING_length(seq));
	if (pss == NULL) {
		ERR_clear_error();
		return NID_undef;
	}
	if (pss->hashAlgorithm == NULL)
		nid = NID_sha1;
	else {
		X509_ALGOR_get0(&obj, NULL, NULL, pss->hashAlgorithm);
		nid = OBJ_obj2nid(obj);
	}
	RSA_PSS_PARAMS_free(pss);
	return nid;
}

/*
 * Returns the digest nid of the CSR's signature algorithm (RSASSA-PSS
 * parameters read), NID_undef for Ed25519 (RFC 8410 6: PureEdDSA, no
 * prehash), or -1 for an algorithm OpenSSL does not know, one without
 * a digest or unreadable PSS parameters.  Borrows req.
 */
int
csr_hash_nid(const X509_REQ *req)
{
	const X509_ALGOR  *alg;
	const ASN1_OBJECT *obj;
	int                signid, mdnid, pknid;

	X509_REQ_get0_signature(req, NULL, &alg);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	signid = OBJ_obj2nid(obj);
	if (signid == NID_ED25519)
		return NID_undef;
	if (!OBJ_find_sigid_algs(signid, &mdnid, &pknid))
		return -1;
	if (signid == NID_rsassaPss)
		mdnid = csr_pss_hash(alg);
	/* Only Ed25519 signs without a digest here. */
	return mdnid == NID_undef ? -1 : mdnid;
}

/*
 * Checks the hash of the CSR's signature algorithm: SHA-256 or stronger
 * (no MD4, MD5, SHA-1, SHA-224); Ed25519 signs without a separate hash.
 * Returns EST_OK or EST_ERR_WEAK_HASH naming the algorithm.
 */
static enum est_err
csr_check_hash(const X509_REQ *req)
{
	const X509_ALGOR  *alg;
	const ASN1_OBJECT *obj;
	int                signid, mdnid = csr_hash_nid(req);

	if (mdnid == NID_undef)
		return EST_OK;
	X509_REQ_get0_signature(req, NULL, &alg);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	signid = OBJ_obj2nid(obj);
	if (mdnid == -1 && signid == NID_rsassaPss)
		return est_fail(EST_ERR_WEAK_HASH, "CSR signed with hash "
		    "unknown; SHA-256 or stronger required");
	if (mdnid == -1)
		return est_fail(EST_ERR_WEAK_HASH, "CSR signature algorithm "
		    "%s not accepted", signid != NID_undef ?
		    OBJ_nid2sn(signid) : "unknown");
	if (!csr_hash_ok(mdnid))
		return est_fail(EST_ERR_WEAK_HASH, "CSR signed with hash %s; "
		    "SHA-256 or stronger required", mdnid != NID_undef ?
		    OBJ_nid2sn(mdnid) : "unknown");
	return EST_OK;
}

/*
 * Finds the single subjectAltName of an extension list: *san is
 * borrowed from exts, or NULL when absent.  Returns 0, or -1 when the
 * extension appears more than once.
 */
static int
san_find(const STACK_OF(X509_EXTENSION) *exts, X509_EXTENSION **san)
{
	int idx;

	*san = NULL;
	if (exts == NULL)
		return 0;
	idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, CSR_NO_IDX);
	if (idx == CSR_NO_IDX)
		return 0;
	if (X509v3_get_ext_by_NID(exts, NID_subject_alt_name, idx) !=
	    CSR_NO_IDX)
		return -1;
	*san = X509v3_get_ext(exts, idx);
	return 0;
}

/*
 * Returns whether the IA5String s is 1..CSR_MAX_SAN_BYTES bytes of
 * letters, digits and the characters of extra only.  Borrows both.
 */
static int
san_text_ok(const ASN1_STRING *s, const char *extra)
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int                  i, len = ASN1_STRING_length(s);

	if (len < 1 || len > CSR_MAX_SAN_BYTES)
		return 0;
	for (i = 0; i < len; i++) {
		if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9'))
			continue;
		if (p[i] == '\0' || strchr(extra, p[i]) == NULL)
			return 0;
	}
	return 1;
}

/*
 * Checks one subjectAltName entry (number idx, from 1) that ca_sign()
 * will copy into a certificate: dNSName, rfc822Name and URI must be
 * clean text (no NUL, control, space or markup characters: a NUL-prefix
 * name or an escape sequence must not reach a relying party or a log);
 * iPAddress must be 4 or 16 octets (RFC 5280 4.2.1.6); otherName,
 * directoryName and registeredID pass; x400Address and ediPartyName
 * are refused.  Returns EST_OK or EST_ERR_BAD_DER with a reason that
 * never quotes the entry.
 */
static enum est_err
san_entry_check(const GENERAL_NAME *gn, int idx)
{
	const ASN1_STRING *s;
	const char        *extra = NULL, *kind = NULL;
	int                type;

	s = GENERAL_NAME_get0_value(gn, &type);
	switch (type) {
	case GEN_DNS:
		extra = CSR_DNS_EXTRA;
		kind = "dNSName";
		break;
	case GEN_EMAIL:
		extra = CSR_EMAIL_EXTRA;
		kind = "rfc822Name";
		break;
	case GEN_URI:
		extra = CSR_URI_EXTRA;
		kind = "URI";
		break;
	case GEN_IPADD:
		if (ASN1_STRING_length(s) != CSR_IPV4_LEN &&
		    ASN1_STRING_length(s) != CSR_IPV6_LEN)
			return est_fail(EST_ERR_BAD_DER, "CSR subjectAltName "
			    "entry %d: iPAddress of %d octets (4 or 16 "
			    "allowed)", idx, ASN1_STRING_length(s));
		return EST_OK;
	case GEN_OTHERNAME:
	case GEN_DIRNAME:
	case GEN_RID:
		return EST_OK;
	default:
		return est_fail(EST_ERR_BAD_DER, "CSR subjectAltName entry "
		    "%d: name type %d not accepted", idx, type);
	}
	if (!san_text_ok(s, extra))
		return est_fail(EST_ERR_BAD_DER, "CSR subjectAltName entry "
		    "%d: %s empty, longer than %d bytes or with a character "
		    "not allowed", idx, kind, CSR_MAX_SAN_BYTES);
	return EST_OK;
}

/*
 * Checks the entries of a subjectAltName: 1..CSR_MAX_SANS of them, each
 * passing san_entry_check().  Borrows gens.  Returns EST_OK or
 * EST_ERR_BAD_DER with a reason.
 */
static enum est_err
san_entries_check(const GENERAL_NAMES *gens)
{
	enum est_err rc;
	int          i, n = sk_GENERAL_NAME_num(gens);

	if (n < 1)
		return est_fail(EST_ERR_BAD_DER,
		    "CSR subjectAltName is malformed");
	if (n > CSR_MAX_SANS)
		return est_fail(EST_ERR_BAD_DER, "CSR has %d subjectAltName "
		    "entries (maximum %d)", n, CSR_MAX_SANS);
	for (i = 0; i < n; i++)
		if ((rc = san_entry_check(sk_GENERAL_NAME_value(gens, i),
		    i + 1)) != EST_OK)
			return rc;
	return EST_OK;
}

/*
 * Checks the request's extensions decode and that it carries at most
 * one subjectAltName, itself well formed (RFC 2986 4.1, RFC 5280
 * 4.2.1.6) and within our policy (san_entries_check()), since
 * ca_sign() copies it verbatim.  Returns EST_OK or EST_ERR_BAD_DER with
 * a reason.
 */
static enum est_err
csr_check_exts(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION           *ext;
	GENERAL_NAMES            *gens = NULL;
	enum est_err              rc = EST_ERR_BAD_DER;

	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		est_log_ssl("csr_check_exts");
		est_fail(rc, "CSR extension request is malformed");
		goto out;
	}
	/* RFC 5280 4.2: an extension appears at most once. */
	if (san_find(exts, &ext) < 0) {
		est_fail(rc, "CSR has more than one subjectAltName");
		goto out;
	}
	if (ext != NULL && (gens = X509V3_EXT_d2i(ext)) == NULL) {
		ERR_clear_error();
		est_fail(rc, "CSR subjectAltName is malformed");
		goto out;
	}
	if (gens != NULL && (rc = san_entries_check(gens)) != EST_OK)
		goto out;
	rc = EST_OK;
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/*
 * Checks a parsed CSR: version, key policy, signature hash, the
 * self-signature (proof of possession, RFC 7030 3.4 and RFC 2986 3),
 * well-formed extensions, and the device ID from its subject (copied
 * into id).
 * Policy runs before any signature arithmetic on refused keys.  Borrows
 * csr and id_re.  Returns EST_OK or the first error, with a reason.
 */
enum est_err
csr_check(const struct est_csr *csr, const regex_t *id_re,
    char id[EST_MAX_DEVICE_ID + 1])
{
	X509_REQ    *req;
	EVP_PKEY    *pkey;
	enum est_err rc;

	id[0] = '\0';
	if (csr == NULL || (req = csr->req) == NULL ||
	    (pkey = csr->key) == NULL)
		return est_fail(EST_ERR_INTERNAL, "csr_check: no CSR");
	/* RFC 2986 4.1: version is 0 (v1). */
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1)
		return est_fail(EST_ERR_BAD_DER, "CSR version %ld unknown",
		    X509_REQ_get_version(req));
	if ((rc = csr_check_key(pkey)) != EST_OK)
		return rc;
	if ((rc = csr_check_hash(req)) != EST_OK)
		return rc;
	/* RFC 7030 3.4 / RFC 2986 3: the CSR is signed with its own key
	 * (in the default library context: req's has no algorithms). */
	if (X509_REQ_verify_ex(req, pkey, NULL, NULL) != 1) {
		est_log_ssl("csr_check");
		return est_fail(EST_ERR_BAD_SIGNATURE, "CSR signature does "
		    "not verify (proof of possession failed)");
	}
	if ((rc = csr_check_exts(req)) != EST_OK)
		return rc;
	return name_device_id(X509_REQ_get_subject_name(req), id_re, id);
}

/*
 * Returns whether s[0..len) is well-formed UTF-8 (RFC 3629 4: no
 * overlong forms, no surrogates, nothing above U+10FFFF).
 */
static int
utf8_valid(const unsigned char *s, size_t len)
{
	size_t   i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1; cp = s[i] & 0x1f; min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2; cp = s[i] & 0x0f; min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3; cp = s[i] & 0x07; min = 0x10000;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/*
 * Extracts the device ID from a subject name: exactly one commonName,
 * valid UTF-8 without NUL, 1..EST_MAX_DEVICE_ID bytes, matching id_re.
 * Copies it NUL-terminated into id (left "" on error).  Borrows name
 * and id_re.  Returns EST_OK or EST_ERR_BAD_ID with a reason that never
 * quotes the CN.
 */
enum est_err
name_device_id(const X509_NAME *name, const regex_t *id_re,
    char id[EST_MAX_DEVICE_ID + 1])
{
	const X509_NAME_ENTRY *ne;
	const ASN1_STRING     *data;
	unsigned char         *utf8 = NULL;
	enum est_err           rc = EST_ERR_BAD_ID;
	int                    idx, len;

	id[0] = '\0';
	if (id_re == NULL)
		return est_fail(EST_ERR_INTERNAL, "no device ID pattern");
	if (name == NULL)
		return est_fail(rc, "CSR has no subject");
	/* RFC 7030 3.5 leaves the ID to policy: ours is the one CN. */
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, CSR_NO_IDX);
	if (idx == CSR_NO_IDX)
		return est_fail(rc, "CSR subject has no CN");
	if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) !=
	    CSR_NO_IDX)
		return est_fail(rc, "CSR subject has more than one CN");
	ne = X509_NAME_get_entry(name, idx);
	data = X509_NAME_ENTRY_get_data(ne);
	if ((len = ASN1_STRING_to_UTF8(&utf8, data)) < 0) {
		ERR_clear_error();
		est_fail(rc, "CSR subject CN is not a valid string");
		goto out;
	}
	if ((size_t)len != strlen((char *)utf8)) {
		est_fail(rc, "CSR subject CN contains a NUL byte");
		goto out;
	}
	if (!utf8_valid(utf8, (size_t)len)) {
		est_fail(rc, "CSR subject CN is not valid UTF-8");
		goto out;
	}
	if (len == 0) {
		est_fail(rc, "CSR subject CN is empty");
		goto out;
	}
	if (len > EST_MAX_DEVICE_ID) {
		est_fail(rc, "CSR subject CN is %d bytes (maximum %d)",
		    len, EST_MAX_DEVICE_ID);
		goto out;
	}
	if (regexec(id_re, (char *)utf8, 0, NULL, 0) != 0) {
		est_fail(rc, "device ID does not match the allowed pattern");
		goto out;
	}
	/* IDs appear as URL path segments (registry API): RFC 3986 5.2.4
	 * dot-segments are never IDs, whatever the pattern allows. */
	if (strcmp((char *)utf8, ".") == 0 || strcmp((char *)utf8, "..") == 0) {
		est_fail(rc, "device ID may not be a dot-segment ('.' or '..')");
		goto out;
	}
	memcpy(id, utf8, (size_t)len + 1);
	rc = EST_OK;
out:
	OPENSSL_free(utf8);
	return rc;
}

/*
 * RFC 7030 4.2.2: a re-enrollment CSR must carry the same Subject and
 * subjectAltName as the certificate being renewed (SAN both absent, or
 * both present with equal DER).  Borrows req and cert.  Returns EST_OK
 * or EST_ERR_SUBJECT_MISMATCH saying which differs.
 */
enum est_err
csr_matches_cert(X509_REQ *req, X509 *cert)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION           *rsan, *csan;
	enum est_err              rc = EST_ERR_SUBJECT_MISMATCH;

	if (req == NULL || cert == NULL)
		return est_fail(EST_ERR_INTERNAL, "csr_matches_cert: NULL");
	/* RFC 7030 4.2.2: "the Subject field ... MUST be identical". */
	if (X509_NAME_cmp(X509_REQ_get_subject_name(req),
	    X509_get_subject_name(cert)) != 0) {
		est_fail(rc, "CSR subject differs from the current "
		    "certificate's subject");
		goto out;
	}
	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		est_log_ssl("csr_matches_cert");
		est_fail(EST_ERR_BAD_DER, "CSR extension request is malformed");
		rc = EST_ERR_BAD_DER;
		goto out;
	}
	if (san_find(exts, &rsan) < 0 ||
	    san_find(X509_get0_extensions(cert), &csan) < 0) {
		est_fail(rc, "more than one subjectAltName");
		goto out;
	}
	/* RFC 7030 4.2.2: "... and SubjectAltName extension MUST be
	 * identical to the corresponding fields in the certificate". */
	if ((rsan == NULL) != (csan == NULL)) {
		est_fail(rc, "CSR subjectAltName %s but the current "
		    "certificate's is %s", rsan == NULL ? "absent" : "present",
		    csan == NULL ? "absent" : "present");
		goto out;
	}
	if (rsan != NULL && ASN1_OCTET_STRING_cmp(X509_EXTENSION_get_data(rsan),
	    X509_EXTENSION_get_data(csan)) != 0) {
		est_fail(rc, "CSR subjectAltName differs from the current "
		    "certificate's subjectAltName");
		goto out;
	}
	rc = EST_OK;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}
