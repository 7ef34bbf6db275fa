/*
 * label.c — RFC 7030 3.2.2 CA labels: which label a request names, its
 * CA, and its CSR policy (key types and sizes, signature hashes,
 * subject and subjectAltName rules), checked before anything is signed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define LABEL_PREFIX     "/.well-known/est/"
#define LABEL_NO_IDX     (-1)  /* "not found" from the *_by_NID calls */
#define LABEL_MAX_GROUP  64    /* longest EC group name read */
#define LABEL_MAX_VALUE  256   /* longest subject / SAN value checked */

const struct est_name_bit est_keytype_names[] = {
	{ "RSA", EST_KEY_RSA },
	{ "P-256", EST_KEY_P256 },
	{ "P-384", EST_KEY_P384 },
	{ "P-521", EST_KEY_P521 },
	{ "Ed25519", EST_KEY_ED25519 },
	{ NULL, 0 }
};

const struct est_name_bit est_hash_names[] = {
	{ "SHA-256", EST_HASH_SHA256 },
	{ "SHA-384", EST_HASH_SHA384 },
	{ "SHA-512", EST_HASH_SHA512 },
	{ "SHA3-256", EST_HASH_SHA3_256 },
	{ "SHA3-384", EST_HASH_SHA3_384 },
	{ "SHA3-512", EST_HASH_SHA3_512 },
	{ NULL, 0 }
};

const struct est_name_bit est_san_names[] = {
	{ "dns", EST_SAN_DNS },
	{ "ip", EST_SAN_IP },
	{ "email", EST_SAN_EMAIL },
	{ "uri", EST_SAN_URI },
	{ "other", EST_SAN_OTHER },
	{ NULL, 0 }
};

/* RFC 5280 4.2.1.3: 1 << the KeyUsage bit number. */
const struct est_name_bit est_ku_names[] = {
	{ "digitalSignature", 1u << 0 },
	{ "nonRepudiation", 1u << 1 },
	{ "keyEncipherment", 1u << 2 },
	{ "dataEncipherment", 1u << 3 },
	{ "keyAgreement", 1u << 4 },
	{ "encipherOnly", 1u << 7 },
	{ "decipherOnly", 1u << 8 },
	{ NULL, 0 }
};

/* Finds name in table (exact, case-insensitive); sets *bit.  Returns 1
 * when found, else 0. */
int
name_bit(const struct est_name_bit *table, const char *name, unsigned *bit)
{
	for (; table->name != NULL; table++)
		if (strcasecmp(table->name, name) == 0) {
			*bit = table->bit;
			return 1;
		}
	return 0;
}

/* Returns the est.conf name of one key type bit ("P-256"), or "?". */
const char *
keytype_name(unsigned keytype)
{
	const struct est_name_bit *t;

	for (t = est_keytype_names; t->name != NULL; t++)
		if (t->bit == keytype)
			return t->name;
	return "?";
}

/* Returns the EST_KEY_* bit of a public key, or 0 for any other kind
 * (other curves, explicit parameters included).  Borrows pkey. */
unsigned
keytype_of(EVP_PKEY *pkey)
{
	char   group[LABEL_MAX_GROUP];
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		return EST_KEY_RSA;
	case EVP_PKEY_ED25519:
		return EST_KEY_ED25519;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen))
			return 0;
		switch (OBJ_txt2nid(group)) {
		case NID_X9_62_prime256v1:
			return EST_KEY_P256;
		case NID_secp384r1:
			return EST_KEY_P384;
		case NID_secp521r1:
			return EST_KEY_P521;
		default:
			return 0;
		}
	default:
		return 0;
	}
}

/* Returns whether name[0..len) is a label name: 1..EST_MAX_LABEL
 * characters of EST_LABEL_CHARS, not a dot-segment (RFC 3986 3.3). */
static int
label_syntax_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > EST_MAX_LABEL)
		return 0;
	for (i = 0; i < len; i++)
		if (name[i] == '\0' || strchr(EST_LABEL_CHARS, name[i]) == NULL)
			return 0;
	return !(len == 1 && name[0] == '.') &&
	    !(len == 2 && name[0] == '.' && name[1] == '.');
}

/*
 * Returns 1 when the raw request URI uri names a path under
 * /.well-known/est/ only once normalized as the web server does before
 * mapping it (%-escapes decoded, RFC 3986 5.2.4 dot-segments removed,
 * repeated '/' merged, e.g. "//.well-known/est/x/cacerts"), else 0 (a
 * URI the web server refuses anyway, bad escapes, is 0); -1 when out of
 * memory.
 */
static int
label_prefix_hidden(const char *uri)
{
	size_t n = strcspn(uri, "?#"), r, s, w = 0;
	char  *dec, *out;
	int    hidden, dir;

	if ((dec = malloc(2 * n + 4)) == NULL)
		return -1;
	out = dec + n + 1;
	if (path_decode(uri, n, dec, n + 1) != EST_OK) {
		est_reason_clear();
		free(dec);
		return 0;
	}
	n = strlen(dec);
	/* Segment by segment into out, each written as "/segment". */
	for (r = 0, dir = 0; r < n; ) {
		if (dec[r] == '/') {
			dir = 1;
			r++;
			continue;
		}
		for (s = r; r < n && dec[r] != '/'; r++)
			;
		dir = r - s <= 2 && dec[s] == '.' &&
		    (r - s == 1 || dec[s + 1] == '.');
		if (r - s == 2 && dir)          /* "..": drop the last one */
			while (w > 0 && out[--w] != '/')
				;
		else if (!dir) {
			out[w++] = '/';
			memcpy(out + w, dec + s, r - s);
			w += r - s;
		}
	}
	/* A path ending in '/', "." or ".." names a directory. */
	if (dir)
		out[w++] = '/';
	out[w] = '\0';
	hidden = strncmp(out, LABEL_PREFIX, strlen(LABEL_PREFIX)) == 0;
	free(dec);
	return hidden;
}

/*
 * Finds the CA label a request URI names (RFC 7030 3.2.2):
 * /.well-known/est/<operation> is the default label (labels[0]),
 * /.well-known/est/<label>/<operation> the named one.  The raw URI is
 * read (what the client sent, before the web server decoded it): a
 * label with %-escapes, dot-segments, NUL or more path segments is
 * refused, and so is one the web server maps under /.well-known/est/
 * only after normalizing it (label_prefix_hidden()).  Any other URI
 * outside /.well-known/est/ gives the default.  Sets
 * *out (borrowed from c).  Returns EST_OK or EST_ERR_NO_LABEL (404)
 * with a reason.
 */
enum est_err
label_from_uri(const struct est_conf *c, const char *uri,
    const struct est_label **out)
{
	const char *rest, *op;
	size_t      n, oplen;
	int         hidden;

	*out = c->n_labels > 0 ? &c->labels[0] : NULL;
	if (*out == NULL)
		return est_fail(EST_ERR_INTERNAL, "no labels configured");
	if (uri == NULL)
		return EST_OK;
	if (strncmp(uri, LABEL_PREFIX, strlen(LABEL_PREFIX)) != 0) {
		/* What the web server mapped under /.well-known/est/ after
		 * normalizing must not fall back to the default label. */
		if ((hidden = label_prefix_hidden(uri)) < 0)
			return est_fail(EST_ERR_NOMEM, "out of memory");
		if (hidden)
			return est_fail(EST_ERR_NO_LABEL, "the request path is "
			    "not in normal form (RFC 3986 6.2.2); write it as "
			    "/.well-known/est/[<label>/]<operation>");
		return EST_OK;
	}
	rest = uri + strlen(LABEL_PREFIX);
	n = strcspn(rest, "/?#");
	if (rest[n] != '/')
		return EST_OK;
	op = rest + n + 1;
	oplen = strcspn(op, "/?#");
	if (op[oplen] == '/')
		return est_fail(EST_ERR_NO_LABEL, "too many path segments "
		    "after /.well-known/est/ (RFC 7030 3.2.2)");
	if (!label_syntax_ok(rest, n))
		return est_fail(EST_ERR_NO_LABEL, "CA label is not 1..%d "
		    "characters of [A-Za-z0-9._-] (RFC 7030 3.2.2)",
		    EST_MAX_LABEL);
	if ((*out = conf_label_find(c, rest, n)) == NULL) {
		*out = &c->labels[0];
		return est_fail(EST_ERR_NO_LABEL, "unknown CA label '%.*s'",
		    (int)n, rest);
	}
	return EST_OK;
}

/* Returns the CA of label l (its own, else the default's).  Borrowed
 * from ctx. */
const struct est_ca *
label_ca(const struct est_ctx *ctx, const struct est_label *l)
{
	size_t i;

	if (l == NULL || !l->own_ca || ctx->cas == NULL)
		return &ctx->ca;
	i = (size_t)(l - ctx->conf.labels);
	return i == 0 || i >= ctx->conf.n_labels ? &ctx->ca : &ctx->cas[i];
}

/* Returns the EST_HASH_* bit of digest nid, 0 for any other. */
static unsigned
hash_bit(int nid)
{
	switch (nid) {
	case NID_sha256:   return EST_HASH_SHA256;
	case NID_sha384:   return EST_HASH_SHA384;
	case NID_sha512:   return EST_HASH_SHA512;
	case NID_sha3_256: return EST_HASH_SHA3_256;
	case NID_sha3_384: return EST_HASH_SHA3_384;
	case NID_sha3_512: return EST_HASH_SHA3_512;
	default:           return 0;
	}
}

/* Returns whether one of the attribute names of l (short, long or
 * dotted: CN, commonName, 2.5.4.3) is nid. */
static int
strs_has_nid(const struct est_strs *l, int nid)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (OBJ_txt2nid(l->v[i]) == nid)
			return 1;
	return 0;
}

/* Returns whether s is one of the strings of l. */
static int
strs_has(const struct est_strs *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

/* Checks the key type and size and the signature hash against p
 * (label name in reasons).  Returns EST_OK, EST_ERR_BAD_KEY or
 * EST_ERR_WEAK_HASH naming the rule. */
static enum est_err
policy_key(const struct est_policy *p, const char *lname,
    const struct est_csr *csr)
{
	EVP_PKEY *pk = csr->key;
	unsigned  kt;
	int       md;

	if (pk == NULL)
		return est_fail(EST_ERR_BAD_KEY, "CSR public key cannot be "
		    "decoded");
	kt = keytype_of(pk);
	if ((p->key_types & kt) == 0)
		return est_fail(EST_ERR_BAD_KEY, "policy.key_types of label "
		    "'%s': %s key not accepted", lname, kt != 0 ?
		    keytype_name(kt) : "this kind of");
	if (kt == EST_KEY_RSA && EVP_PKEY_get_bits(pk) < p->rsa_min_bits)
		return est_fail(EST_ERR_BAD_KEY, "policy.rsa_min_bits of "
		    "label '%s': RSA key of %d bits (minimum %d)", lname,
		    EVP_PKEY_get_bits(pk), p->rsa_min_bits);
	md = csr_hash_nid(csr->req);
	if (md != NID_undef && (p->hashes & hash_bit(md)) == 0)
		return est_fail(EST_ERR_WEAK_HASH, "policy.hashes of label "
		    "'%s': CSR signed with %s, not accepted", lname,
		    md > 0 ? OBJ_nid2sn(md) : "an unknown hash");
	return EST_OK;
}

/*
 * Checks the subject against p: every attribute allowed
 * (subject_allowed, short names such as CN, O, OU), the required ones
 * present, O and OU values among allowed_o / allowed_ou.  Returns
 * EST_OK or EST_ERR_POLICY naming the rule (values never quoted).
 */
static enum est_err
policy_subject(const struct est_policy *p, const char *lname, X509_REQ *req)
{
	const X509_NAME *name = X509_REQ_get_subject_name(req);
	const X509_NAME_ENTRY *ne;
	unsigned char   *utf8 = NULL;
	const char      *sn;
	enum est_err     rc = EST_OK;
	size_t           i;
	int              k, nid, len;

	for (i = 0; i < p->subj_required.n; i++) {
		nid = OBJ_txt2nid(p->subj_required.v[i]);
		if (nid == NID_undef || X509_NAME_get_index_by_NID(name, nid,
		    LABEL_NO_IDX) == LABEL_NO_IDX)
			return est_fail(EST_ERR_POLICY, "policy.subject_required "
			    "of label '%s': subject has no %s", lname,
			    p->subj_required.v[i]);
	}
	for (k = 0; k < X509_NAME_entry_count(name) && rc == EST_OK; k++) {
		ne = X509_NAME_get_entry(name, k);
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		sn = nid != NID_undef ? OBJ_nid2sn(nid) : "unknown";
		if (p->subj_allowed.n > 0 && (nid == NID_undef ||
		    !strs_has_nid(&p->subj_allowed, nid)))
			return est_fail(EST_ERR_POLICY, "policy.subject_allowed "
			    "of label '%s': subject attribute %s not allowed",
			    lname, sn);
		if ((nid != NID_organizationName || p->allowed_o.n == 0) &&
		    (nid != NID_organizationalUnitName || p->allowed_ou.n == 0))
			continue;
		len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne));
		if (len < 0 || (size_t)len != strlen((char *)utf8) ||
		    !strs_has(nid == NID_organizationName ? &p->allowed_o :
		    &p->allowed_ou, (char *)utf8))
			rc = est_fail(EST_ERR_POLICY, "policy.%s of label '%s': "
			    "subject %s value not allowed", nid ==
			    NID_organizationName ? "allowed_o" : "allowed_ou",
			    lname, sn);
		OPENSSL_free(utf8);
		utf8 = NULL;
	}
	return rc;
}

/* Returns the EST_SAN_* bit of a GENERAL_NAME type (0: none). */
static unsigned
san_bit(int type)
{
	switch (type) {
	case GEN_DNS:       return EST_SAN_DNS;
	case GEN_IPADD:     return EST_SAN_IP;
	case GEN_EMAIL:     return EST_SAN_EMAIL;
	case GEN_URI:       return EST_SAN_URI;
	case GEN_OTHERNAME:
	case GEN_DIRNAME:
	case GEN_RID:       return EST_SAN_OTHER;
	default:            return 0;
	}
}

/*
 * Checks the CSR's subjectAltName entries against p: each type among
 * san_types, and each dNSName, rfc822Name and URI matching san_pattern
 * (csr_check() already refused malformed text).  Returns EST_OK,
 * EST_ERR_BAD_DER or EST_ERR_POLICY naming the rule.
 */
static enum est_err
policy_san(const struct est_policy *p, const char *lname, X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES            *gens = NULL;
	const GENERAL_NAME       *gn;
	const ASN1_STRING        *s;
	enum est_err              rc = EST_OK;
	char                      v[LABEL_MAX_VALUE + 1];
	int                       i, idx, type, len;

	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		rc = est_fail(EST_ERR_BAD_DER, "CSR extension request is "
		    "malformed");
		goto out;
	}
	idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, LABEL_NO_IDX);
	if (idx == LABEL_NO_IDX)
		goto out;
	if ((gens = X509V3_EXT_d2i(X509v3_get_ext(exts, idx))) == NULL) {
		rc = est_fail(EST_ERR_BAD_DER, "CSR subjectAltName is "
		    "malformed");
		goto out;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		s = GENERAL_NAME_get0_value(gn, &type);
		if ((p->san_types & san_bit(type)) == 0) {
			rc = est_fail(EST_ERR_POLICY, "policy.san_types of "
			    "label '%s': subjectAltName entry %d of a type "
			    "not allowed", lname, i + 1);
			goto out;
		}
		if (!p->san_re_ok || (type != GEN_DNS && type != GEN_EMAIL &&
		    type != GEN_URI))
			continue;
		len = ASN1_STRING_length(s);
		if (len < 0 || len > LABEL_MAX_VALUE)
			len = 0;
		memcpy(v, ASN1_STRING_get0_data(s), (size_t)len);
		v[len] = '\0';
		if (len == 0 || regexec(&p->san_re, v, 0, NULL, 0) != 0) {
			rc = est_fail(EST_ERR_POLICY, "policy.san_pattern of "
			    "label '%s': subjectAltName entry %d does not "
			    "match", lname, i + 1);
			goto out;
		}
	}
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/*
 * Checks a CSR that passed csr_check() against label l's policy, before
 * anything is signed: key type and size, signature hash (400), subject
 * and subjectAltName rules (403).  Borrows both.  Returns EST_OK or the
 * refusal with a reason naming the rule and the label.
 */
enum est_err
policy_check(const struct est_label *l, const struct est_csr *csr)
{
	const char  *lname = l->name[0] != '\0' ? l->name : "(default)";
	enum est_err rc;

	if ((rc = policy_key(&l->pol, lname, csr)) != EST_OK ||
	    (rc = policy_subject(&l->pol, lname, csr->req)) != EST_OK)
		return rc;
	return policy_san(&l->pol, lname, csr->req);
}

/* Appends the DER of one AttrOrOID (RFC 7030 4.5.2) to b: len bytes of
 * der, freed here (OPENSSL_free).  Returns EST_OK or b's error. */
static enum est_err
attr_put(struct est_buf *b, unsigned char *der, int len)
{
	if (len <= 0 || der == NULL)
		b->err = est_fail(EST_ERR_INTERNAL, "cannot encode csrattrs");
	else
		(void)buf_add(b, (const char *)der, (size_t)len);
	OPENSSL_free(der);
	return b->err;
}

/* Appends the OID named txt (OpenSSL name or dotted) to b. */
static enum est_err
attr_oid(struct est_buf *b, const char *txt)
{
	ASN1_OBJECT   *o = OBJ_txt2obj(txt, 0);
	unsigned char *der = NULL;
	int            len = o != NULL ? i2d_ASN1_OBJECT(o, &der) : -1;

	ASN1_OBJECT_free(o);
	return attr_put(b, der, len);
}

/*
 * Appends the Attribute announcing the key type kt (and rsa_bits) to b,
 * as RFC 7030 4.5.2's example and the LAMPS clarification of csrattrs
 * spell it: id-ecPublicKey with the named curve as value, rsaEncryption
 * with the modulus size as INTEGER value; Ed25519 (no parameters) as
 * the bare OID id-Ed25519.
 */
static enum est_err
attr_key(struct est_buf *b, unsigned kt, int rsa_bits)
{
	X509_ATTRIBUTE *a = NULL;
	ASN1_INTEGER   *n = NULL;
	unsigned char  *der = NULL;
	int             curve = NID_undef, len = -1;

	switch (kt) {
	case EST_KEY_ED25519:
		return attr_oid(b, SN_ED25519);
	case EST_KEY_P256: curve = NID_X9_62_prime256v1; break;
	case EST_KEY_P384: curve = NID_secp384r1; break;
	case EST_KEY_P521: curve = NID_secp521r1; break;
	default: break;
	}
	if (curve != NID_undef)
		a = X509_ATTRIBUTE_create(NID_X9_62_id_ecPublicKey,
		    V_ASN1_OBJECT, OBJ_nid2obj(curve));
	else if ((n = ASN1_INTEGER_new()) != NULL &&
	    ASN1_INTEGER_set(n, rsa_bits) == 1) {
		a = X509_ATTRIBUTE_create(NID_rsaEncryption, V_ASN1_INTEGER, n);
		if (a != NULL)
			n = NULL; /* owned by a */
	}
	if (a != NULL)
		len = i2d_X509_ATTRIBUTE(a, &der);
	X509_ATTRIBUTE_free(a);
	ASN1_INTEGER_free(n);
	return attr_put(b, der, len);
}

/* Appends Attribute extensionRequest whose values are the OIDs of the
 * extensions l wants (RFC 7030 4.5.2's example form). */
static enum est_err
attr_exts(struct est_buf *b, const struct est_label *l)
{
	X509_ATTRIBUTE *a;
	ASN1_OBJECT    *o;
	unsigned char  *der = NULL;
	size_t          i;
	int             len = -1, ok = 1;

	if ((a = X509_ATTRIBUTE_new()) == NULL ||
	    !X509_ATTRIBUTE_set1_object(a, OBJ_nid2obj(NID_ext_req)))
		ok = 0;
	for (i = 0; ok && i < l->csrattr_exts.n; i++) {
		o = OBJ_txt2obj(l->csrattr_exts.v[i], 0);
		ok = o != NULL && X509_ATTRIBUTE_set1_data(a, V_ASN1_OBJECT, o,
		    -1);
		ASN1_OBJECT_free(o);
	}
	if (ok)
		len = i2d_X509_ATTRIBUTE(a, &der);
	X509_ATTRIBUTE_free(a);
	return attr_put(b, der, len);
}

/*
 * Builds label l's csrattrs body (RFC 7030 4.5.2): the DER of CsrAttrs
 * ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID, base64 with line breaks.
 * *b64 NULL (and EST_OK) when l announces nothing (4.5.2: 204).  On
 * EST_OK the caller frees *b64.  Returns EST_OK, EST_ERR_INTERNAL or
 * EST_ERR_NOMEM.
 */
enum est_err
csrattrs_body(const struct est_label *l, char **b64, size_t *len)
{
	struct est_buf attrs = { NULL, 0, 0, EST_OK }, seq = { NULL, 0, 0,
	                       EST_OK };
	enum est_err   rc = EST_OK;
	unsigned char  hdr[1 + 1 + sizeof(size_t)];
	size_t         i, n, hl = 0;

	*b64 = NULL;
	*len = 0;
	if (l->csrattr_oids.n == 0 && l->csrattr_key == 0 &&
	    l->csrattr_exts.n == 0)
		return EST_OK;
	for (i = 0; i < l->csrattr_oids.n && rc == EST_OK; i++)
		rc = attr_oid(&attrs, l->csrattr_oids.v[i]);
	if (rc == EST_OK && l->csrattr_key != 0)
		rc = attr_key(&attrs, l->csrattr_key, l->rsa_bits_announced);
	if (rc == EST_OK && l->csrattr_exts.n > 0)
		rc = attr_exts(&attrs, l);
	if (rc != EST_OK)
		goto out;
	/* X.690 8.9 SEQUENCE, 8.1.3 definite length (short or long form). */
	hdr[hl++] = V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED;
	if (attrs.len < 0x80)
		hdr[hl++] = (unsigned char)attrs.len;
	else {
		for (n = 0, i = attrs.len; i > 0; i >>= 8)
			n++;
		hdr[hl++] = (unsigned char)(0x80 | n);
		while (n-- > 0)
			hdr[hl++] = (unsigned char)(attrs.len >> (8 * n));
	}
	if (buf_add(&seq, (const char *)hdr, hl) != EST_OK ||
	    buf_add(&seq, attrs.data, attrs.len) != EST_OK) {
		rc = seq.err;
		goto out;
	}
	rc = b64_encode((unsigned char *)seq.data, seq.len, b64, len);
out:
	buf_free(&attrs);
	buf_free(&seq);
	return rc;
}
