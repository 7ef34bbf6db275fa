/*
 * ca.c — the CA: loading its certificate, key and chain, issuing
 * RFC 5280 certificates from checked CSRs, the RFC 7030 4.1.3
 * certs-only PKCS#7 body, and recognising client certificates we
 * issued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define CA_SECS_PER_DAY    86400L
#define CA_SERIAL_TRIES    64   /* redraws of a zero first serial byte */
#define CA_SERIAL_TOP_MASK 0x7f /* RFC 5280 4.1.2.2: positive */
#define CA_P384_BITS       384  /* EC group size needing SHA-384 */
#define CA_P256_BITS       256  /* EC group size needing SHA-256 */
#define CA_NO_IDX          (-1) /* "not found" from the *_by_NID calls */
#define CA_KEY_OTHER_BITS  S_IRWXO /* no access for others to the CA key */
#define CA_KEY_MODE_BITS   07777   /* permission bits shown in a refusal */
#define CA_KU_BITS         9       /* RFC 5280 4.2.1.3 KeyUsage bits */

/* PEM password callback that refuses: an encrypted key must fail at
 * once instead of prompting on a terminal nobody reads.  Returns -1. */
int
ca_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Reads the first PEM certificate of file path.  On EST_OK *out is a new
 * X509 the caller frees.  what names the file's role in the reason.
 * Returns EST_ERR_CONFIG with a reason naming the file.
 */
static enum est_err
ca_read_cert(const char *path, const char *what, X509 **out)
{
	BIO *bio;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return est_fail(EST_ERR_CONFIG, "no %s configured", what);
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		est_log_ssl(path);
		return est_fail(EST_ERR_CONFIG, "cannot open %s %s",
		    what, path);
	}
	*out = PEM_read_bio_X509(bio, NULL, ca_no_passphrase, NULL);
	BIO_free(bio);
	if (*out == NULL) {
		est_log_ssl(path);
		return est_fail(EST_ERR_CONFIG, "no PEM certificate in %s %s",
		    what, path);
	}
	return EST_OK;
}

/*
 * Reads the (unencrypted) PEM private key of file path; any key type.
 * The file must be a regular file with no permission bits for others
 * (0600 or 0640: readable only by the serving user and its group), so a
 * world-readable CA key is refused before it is read.  On EST_OK *out
 * is a new EVP_PKEY the caller frees.  Returns EST_ERR_CONFIG with a
 * reason naming the file (never its contents), or EST_ERR_NOMEM.
 */
static enum est_err
ca_read_key(const char *path, EVP_PKEY **out)
{
	struct stat st;
	FILE       *fp;
	BIO        *bio;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return est_fail(EST_ERR_CONFIG, "no CA key configured");
	if ((fp = fopen(path, "r")) == NULL)
		return est_fail(EST_ERR_CONFIG, "cannot open CA key %s: %s",
		    path, strerror(errno));
	/* Checked on the open file, so it cannot change in between. */
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		fclose(fp);
		return est_fail(EST_ERR_CONFIG, "CA key %s is not a regular "
		    "file", path);
	}
	if ((st.st_mode & CA_KEY_OTHER_BITS) != 0) {
		fclose(fp);
		return est_fail(EST_ERR_CONFIG, "CA key %s is accessible by "
		    "others (mode %04o); refusing it: chmod 600 or 640",
		    path, (unsigned)(st.st_mode & CA_KEY_MODE_BITS));
	}
	if ((bio = BIO_new_fp(fp, BIO_CLOSE)) == NULL) {
		fclose(fp);
		est_log_ssl(path);
		return est_fail(EST_ERR_NOMEM, "out of memory reading CA key "
		    "%s", path);
	}
	*out = PEM_read_bio_PrivateKey(bio, NULL, ca_no_passphrase, NULL);
	BIO_free(bio);
	if (*out == NULL) {
		est_log_ssl(path);
		return est_fail(EST_ERR_CONFIG, "no unencrypted PEM private "
		    "key in CA key %s", path);
	}
	return EST_OK;
}

/*
 * Appends every PEM certificate of file path to chain, skipping any
 * equal to cert (a chain file often repeats the issuing certificate).
 * Borrows cert; chain owns what is added.  Returns EST_OK, or
 * EST_ERR_CONFIG naming the file when it holds no certificate or a
 * broken one.
 */
static enum est_err
ca_read_chain(const char *path, X509 *cert, STACK_OF(X509) *chain)
{
	BIO          *bio = NULL;
	X509         *x = NULL;
	enum est_err  rc = EST_ERR_CONFIG;
	unsigned long e;
	int           n = 0;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		est_log_ssl(path);
		est_fail(rc, "cannot open CA chain %s", path);
		goto out;
	}
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, ca_no_passphrase,
	    NULL)) != NULL) {
		n++;
		if (X509_cmp(x, cert) == 0) {
			X509_free(x);
			continue;
		}
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			est_fail(EST_ERR_NOMEM, "out of memory reading %s",
			    path);
			rc = EST_ERR_NOMEM;
			goto out;
		}
	}
	/* The loop ends on "no start line" at EOF; anything else is bad. */
	e = ERR_peek_last_error();
	if (n == 0 || (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE))) {
		est_log_ssl(path);
		est_fail(rc, "CA chain %s holds no or broken certificates",
		    path);
		goto out;
	}
	ERR_clear_error();
	rc = EST_OK;
out:
	BIO_free(bio);
	return rc;
}

/*
 * Loads a CA from its files: ca_cert (PEM), ca_key (unencrypted PEM,
 * any type) and optional ca_chain (PEM, several certificates).  Checks the
 * key matches and the certificate may issue certificates, builds
 * ca->chain (cert first) and the cacerts body.  *ca is zeroed first and
 * left zeroed on error; on EST_OK the caller frees it with ca_free().
 * Returns EST_OK, EST_ERR_CONFIG with a reason naming the file, or
 * EST_ERR_NOMEM.
 */
static enum est_err
ca_load_files(const char *ca_cert, const char *ca_key, const char *ca_chain,
    struct est_ca *ca)
{
	struct est_ca t;
	enum est_err  rc;

	memset(ca, 0, sizeof(*ca));
	memset(&t, 0, sizeof(t));
	if ((rc = ca_read_cert(ca_cert, "CA certificate",
	    &t.cert)) != EST_OK)
		goto out;
	if ((rc = ca_read_key(ca_key, &t.key)) != EST_OK)
		goto out;
	rc = EST_ERR_CONFIG;
	if (X509_check_private_key(t.cert, t.key) != 1) {
		est_log_ssl("ca_load");
		est_fail(rc, "CA key %s does not match CA certificate %s",
		    ca_key, ca_cert);
		goto out;
	}
	/* Cache the extensions first; X509_check_ca() reads the cache. */
	if (X509_check_purpose(t.cert, -1, 0) != 1) {
		est_log_ssl("ca_load");
		est_fail(rc, "CA certificate %s has malformed extensions",
		    ca_cert);
		goto out;
	}
	/* RFC 5280 4.2.1.9: basicConstraints with cA asserted (1; not a
	 * v1 or keyUsage-only guess); 4.2.1.3: keyCertSign if keyUsage. */
	if (X509_check_ca(t.cert) != 1 ||
	    (X509_get_key_usage(t.cert) & KU_KEY_CERT_SIGN) == 0) {
		est_fail(rc, "CA certificate %s is not a CA certificate",
		    ca_cert);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(t.cert)) < 0)
		est_log(EST_LOG_WARN, "CA certificate %s has expired",
		    ca_cert);

	rc = EST_ERR_NOMEM;
	if ((t.chain = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(t.chain, t.cert)) {
		est_fail(rc, "out of memory loading the CA");
		goto out;
	}
	X509_up_ref(t.cert);
	if (ca_chain != NULL && *ca_chain != '\0' &&
	    (rc = ca_read_chain(ca_chain, t.cert, t.chain)) != EST_OK)
		goto out;
	/* RFC 7030 4.1.3: the cacerts body never changes; build it once. */
	if ((rc = ca_certs_only(t.chain, &t.cacerts, &t.cacerts_len)) !=
	    EST_OK)
		goto out;
	*ca = t;
	memset(&t, 0, sizeof(t));
	rc = EST_OK;
out:
	ca_free(&t);
	return rc;
}

/* Loads the CA of est.conf's top level (ca_load_files()). */
enum est_err
ca_load(const struct est_conf *conf, struct est_ca *ca)
{
	return ca_load_files(conf->ca_cert, conf->ca_key, conf->ca_chain, ca);
}

/* Loads the CA a label names (ca_load_files()); the caller frees *ca
 * with ca_free(). */
enum est_err
ca_load_label(const struct est_label *l, struct est_ca *ca)
{
	return ca_load_files(l->ca_cert, l->ca_key, l->ca_chain, ca);
}

/* Frees everything a struct est_ca holds and zeroes it; safe on a
 * zeroed or NULL struct. */
void
ca_free(struct est_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	sk_X509_pop_free(ca->chain, X509_free);
	free(ca->cacerts);
	memset(ca, 0, sizeof(*ca));
}

/*
 * Draws a fresh serial number (RFC 5280 4.1.2.2): EST_SERIAL_LEN random
 * bytes, first byte nonzero with its top bit clear, so the INTEGER is
 * positive, exactly EST_SERIAL_LEN octets and carries at least 152
 * random bits.  Sets *len = EST_SERIAL_LEN.  Returns EST_OK or
 * EST_ERR_INTERNAL when the RNG fails.
 */
enum est_err
ca_serial_random(unsigned char serial[EST_SERIAL_LEN], size_t *len)
{
	int i;

	*len = 0;
	if (RAND_bytes(serial, EST_SERIAL_LEN) != 1)
		goto bad;
	serial[0] &= CA_SERIAL_TOP_MASK;
	for (i = 0; serial[0] == 0 && i < CA_SERIAL_TRIES; i++) {
		if (RAND_bytes(serial, 1) != 1)
			goto bad;
		serial[0] &= CA_SERIAL_TOP_MASK;
	}
	if (serial[0] == 0)
		goto bad;
	*len = EST_SERIAL_LEN;
	return EST_OK;
bad:
	est_log_ssl("ca_serial_random");
	return est_fail(EST_ERR_INTERNAL, "random number generator failed");
}

/*
 * Chooses the signing digest for the CA key: SHA-256 for RSA and P-256,
 * SHA-384 for P-384, SHA-512 for P-521, none for Ed25519 and Ed448.
 * Returns a static EVP_MD or NULL (no separate digest).
 */
const EVP_MD *
ca_digest(EVP_PKEY *key)
{
	int bits;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NULL;
	case EVP_PKEY_EC:
		bits = EVP_PKEY_get_bits(key);
		if (bits > CA_P384_BITS)
			return EVP_sha512();
		if (bits > CA_P256_BITS)
			return EVP_sha384();
		return EVP_sha256();
	default:
		return EVP_sha256();
	}
}

/*
 * Adds extension nid, whose decoded value (e.g. a BASIC_CONSTRAINTS) is
 * value, DER-encoded by OpenSSL, with criticality crit to x.  Borrows
 * both.  Returns 1 on success.
 */
static int
ca_add_ext(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_REPLACE) == 1;
}

/*
 * Adds the end-entity extensions to x (RFC 5280 4.2.1):
 * basicConstraints critical CA:FALSE, keyUsage critical (the label's
 * key_usage, else digitalSignature + keyEncipherment for RSA subject
 * keys), extendedKeyUsage (the label's, else clientAuth),
 * subjectKeyIdentifier and authorityKeyIdentifier.  Borrows all
 * arguments; l may be NULL (the defaults).  Returns 1 on success.
 */
static int
ca_add_fixed_exts(X509 *x, X509 *issuer, EVP_PKEY *subject_key,
    const struct est_label *l)
{
	ASN1_OBJECT        *obj;
	size_t              i;
	int                 bit;
	BASIC_CONSTRAINTS  *bc = NULL;
	ASN1_BIT_STRING    *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OCTET_STRING  *skid = NULL;
	AUTHORITY_KEYID    *akid = NULL;
	const ASN1_OCTET_STRING *iskid;
	unsigned char       md[EVP_MAX_MD_SIZE];
	unsigned int        mdlen;
	int                 ok = 0;

	/* RFC 5280 4.2.1.9: end entity, critical. */
	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto out;
	bc->ca = 0;
	if (!ca_add_ext(x, NID_basic_constraints, bc, 1))
		goto out;

	/* RFC 5280 4.2.1.3: critical; by default keyEncipherment only for
	 * RSA.  A label's key_usage holds 1 << KeyUsage bit number. */
	if ((ku = ASN1_BIT_STRING_new()) == NULL)
		goto out;
	if (l != NULL && l->key_usage != 0) {
		for (bit = 0; bit < CA_KU_BITS; bit++)
			if ((l->key_usage & (1u << bit)) != 0 &&
			    !ASN1_BIT_STRING_set_bit(ku, bit, 1))
				goto out;
	} else if (!ASN1_BIT_STRING_set_bit(ku, 0, 1) || /* digitalSig. */
	    (EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA &&
	    !ASN1_BIT_STRING_set_bit(ku, 2, 1)))      /* keyEncipherment */
		goto out;
	if (!ca_add_ext(x, NID_key_usage, ku, 1))
		goto out;

	/* RFC 5280 4.2.1.12: the label's purposes, by default TLS client
	 * authentication. */
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		goto out;
	for (i = 0; l != NULL && i < l->eku.n; i++) {
		if ((obj = OBJ_txt2obj(l->eku.v[i], 0)) == NULL)
			goto out;
		if (!sk_ASN1_OBJECT_push(eku, obj)) {
			ASN1_OBJECT_free(obj);
			goto out;
		}
	}
	if (sk_ASN1_OBJECT_num(eku) == 0 &&
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)))
		goto out;
	if (!ca_add_ext(x, NID_ext_key_usage, eku, 0))
		goto out;

	/* RFC 5280 4.2.1.2 method (1): SHA-1 of subjectPublicKey. */
	if (!X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) ||
	    (skid = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(skid, md, (int)mdlen))
		goto out;
	if (!ca_add_ext(x, NID_subject_key_identifier, skid, 0))
		goto out;

	/* RFC 5280 4.2.1.1: the issuer's key identifier, or computed the
	 * same way when the CA certificate has none. */
	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		goto out;
	if ((iskid = X509_get0_subject_key_id(issuer)) != NULL) {
		if ((akid->keyid = ASN1_OCTET_STRING_dup(iskid)) == NULL)
			goto out;
	} else {
		if (!X509_pubkey_digest(issuer, EVP_sha1(), md, &mdlen) ||
		    (akid->keyid = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(akid->keyid, md, (int)mdlen))
			goto out;
	}
	if (!ca_add_ext(x, NID_authority_key_identifier, akid, 0))
		goto out;
	ok = 1;
out:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	/* OBJ_nid2obj() objects are static (freeing them is a no-op);
	 * OBJ_txt2obj() ones are not. */
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_OCTET_STRING_free(skid);
	AUTHORITY_KEYID_free(akid);
	return ok;
}

/* Returns whether nid is an extension ca_add_fixed_exts() sets itself
 * (never copied from a CSR). */
static int
ca_ext_is_ours(int nid)
{
	return nid == NID_basic_constraints || nid == NID_key_usage ||
	    nid == NID_ext_key_usage || nid == NID_subject_key_identifier ||
	    nid == NID_authority_key_identifier;
}

/*
 * Copies extensions of the CSR's extension request (RFC 2986 4.1) into
 * x: its subjectAltName verbatim unless l's policy says copy_san =
 * false, and, when l's policy says copy_extensions, every other one
 * except those the CA sets itself.  l NULL: the subjectAltName only.
 * Borrows all.  Returns EST_OK (also when there is none),
 * EST_ERR_BAD_DER for a malformed request, or EST_ERR_NOMEM.
 */
static enum est_err
ca_copy_exts(X509 *x, X509_REQ *req, const struct est_label *l)
{
	STACK_OF(X509_EXTENSION) *exts;
	X509_EXTENSION           *e;
	enum est_err              rc = EST_OK;
	int                       i, nid, idx;

	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		est_log_ssl("ca_copy_exts");
		return est_fail(EST_ERR_BAD_DER,
		    "CSR extension request is malformed");
	}
	for (i = 0; i < sk_X509_EXTENSION_num(exts) && rc == EST_OK; i++) {
		e = sk_X509_EXTENSION_value(exts, i);
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(e));
		if (nid == NID_subject_alt_name ? l != NULL &&
		    !l->pol.copy_san : l == NULL || !l->pol.copy_exts ||
		    ca_ext_is_ours(nid))
			continue;
		/* RFC 5280 4.2: at most one instance of an extension. */
		idx = X509v3_get_ext_by_OBJ(exts,
		    X509_EXTENSION_get_object(e), i);
		if (idx != CA_NO_IDX)
			rc = est_fail(EST_ERR_BAD_DER, "CSR has more than one "
			    "%s extension", nid == NID_subject_alt_name ?
			    "subjectAltName" : "instance of an");
		else if (!X509_add_ext(x, e, -1))
			rc = est_fail(EST_ERR_NOMEM,
			    "cannot copy a CSR extension");
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/*
 * Copies the CSR's SubjectPublicKeyInfo into x exactly as encoded
 * (algorithm, parameters, key bits).  X509_set_pubkey() would encode
 * the decoded key and decode it again through OpenSSL 3's decoders,
 * which cost more than signing and verifying together (callgrind:
 * ~2 M instructions per issuance); this copies a few bytes.  The key
 * in x is therefore not decoded: X509_get0_pubkey(x) returns NULL, and
 * whoever needs the key object decodes the certificate's DER.  Returns
 * 1, or 0 (x unchanged) for parameters of an unexpected ASN.1 type.
 */
static int
ca_copy_pubkey(X509 *x, X509_REQ *req)
{
	X509_PUBKEY         *src, *dst;
	X509_ALGOR          *alg;
	const ASN1_OBJECT   *oid;
	const void          *pval;
	const unsigned char *bits;
	ASN1_OBJECT         *oid2 = NULL;
	void                *pval2 = NULL;
	unsigned char       *bits2 = NULL;
	int                  ptype, len;

	if ((src = X509_REQ_get_X509_PUBKEY(req)) == NULL ||
	    (dst = X509_get_X509_PUBKEY(x)) == NULL ||
	    !X509_PUBKEY_get0_param(NULL, &bits, &len, &alg, src) ||
	    len <= 0)
		return 0;
	X509_ALGOR_get0(&oid, &ptype, &pval, alg);
	switch (ptype) {
	case V_ASN1_UNDEF:      /* Ed25519, Ed448: no parameters */
	case V_ASN1_NULL:       /* RSA */
		break;
	case V_ASN1_OBJECT:     /* EC: the named curve */
		if ((pval2 = OBJ_dup(pval)) == NULL)
			return 0;
		break;
	case V_ASN1_SEQUENCE:   /* RSA-PSS, explicit EC parameters */
		if ((pval2 = ASN1_STRING_dup(pval)) == NULL)
			return 0;
		break;
	default:
		return 0;
	}
	if ((oid2 = OBJ_dup(oid)) == NULL ||
	    (bits2 = OPENSSL_memdup(bits, (size_t)len)) == NULL ||
	    !X509_PUBKEY_set0_param(dst, oid2, ptype, pval2, bits2, len))
		goto fail;
	return 1;
fail:
	ASN1_OBJECT_free(oid2);
	OPENSSL_free(bits2);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pval2);
	else
		ASN1_STRING_free(pval2);
	return 0;
}

/* Issues with the default profile: ca_sign_label() without a label. */
enum est_err
ca_sign(const struct est_ca *ca, const struct est_csr *csr,
    const unsigned char *serial, size_t serial_len, int days, X509 **out)
{
	return ca_sign_label(ca, NULL, csr, serial, serial_len, days, out);
}

/*
 * Issues a v3 certificate for a checked CSR: the given serial
 * (big-endian, positive, no leading zero byte, 1..EST_SERIAL_LEN
 * bytes), issuer = CA subject, the CSR's subject and key, valid from
 * now - EST_CLOCK_SKEW_SECS for days (1..EST_MAX_DAYS) days, label l's
 * profile (keyUsage, extendedKeyUsage; NULL: the defaults) and the CSR
 * extensions its policy copies (ca_copy_exts()), signed by the CA key.
 * Borrows ca, csr and serial.  On EST_OK *out is a new X509 the caller
 * frees.  Its public key is the CSR's, copied as encoded and not
 * decoded (see ca_copy_pubkey()): use its DER or the CSR's key.
 * Returns EST_ERR_INTERNAL on bad arguments or signing failure,
 * EST_ERR_BAD_KEY, EST_ERR_BAD_DER or EST_ERR_NOMEM.
 */
enum est_err
ca_sign_label(const struct est_ca *ca, const struct est_label *l,
    const struct est_csr *csr, const unsigned char *serial,
    size_t serial_len, int days, X509 **out)
{
	X509_REQ     *req;
	X509         *x = NULL;
	BIGNUM       *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	EVP_PKEY     *pk;
	enum est_err  rc = EST_ERR_INTERNAL;
	time_t        now;

	*out = NULL;
	if (ca == NULL || ca->cert == NULL || ca->key == NULL || csr == NULL ||
	    (req = csr->req) == NULL || (pk = csr->key) == NULL)
		return est_fail(rc, "ca_sign: no CA or no CSR");
	/* RFC 5280 4.1.2.2: positive, at most 20 octets. */
	if (serial == NULL || serial_len == 0 ||
	    serial_len > EST_SERIAL_LEN || serial[0] == 0 ||
	    (serial[0] & ~CA_SERIAL_TOP_MASK) != 0)
		return est_fail(rc, "ca_sign: bad serial number");
	if (days < 1 || days > EST_MAX_DAYS)
		return est_fail(rc, "ca_sign: validity of %d days out of "
		    "range 1..%d", days, EST_MAX_DAYS);
	rc = EST_ERR_NOMEM;
	if ((x = X509_new()) == NULL ||
	    (bn = BN_bin2bn(serial, (int)serial_len, NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		goto fail;
	/* RFC 5280 4.1.2.1: v3 since we add extensions. */
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, ai) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !X509_set_subject_name(x, X509_REQ_get_subject_name(req)) ||
	    (!ca_copy_pubkey(x, req) && !X509_set_pubkey(x, pk)))
		goto fail;
	/* RFC 5280 4.1.2.5: UTCTime through 2049, then GeneralizedTime. */
	now = time(NULL);
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0,
	    -EST_CLOCK_SKEW_SECS, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL)
		goto fail;
	if (!ca_add_fixed_exts(x, ca->cert, pk, l))
		goto fail;
	if ((rc = ca_copy_exts(x, req, l)) != EST_OK)
		goto out;
	rc = EST_ERR_INTERNAL;
	/* Where revocation is published: CRL DP, OCSP URL (crl.c). */
	if (!rev_add_exts(x, l)) {
		est_log_ssl("ca_sign");
		est_fail(rc, "cannot add the revocation extensions");
		goto out;
	}
	if (X509_sign(x, ca->key, ca_digest(ca->key)) <= 0) {
		est_log_ssl("ca_sign");
		est_fail(rc, "signing the certificate failed");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = EST_OK;
	goto out;
fail:
	est_log_ssl("ca_sign");
	est_fail(rc, "cannot build the certificate");
out:
	X509_free(x);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return rc;
}

/*
 * Builds the RFC 7030 4.1.3 cacerts body: a degenerate "certs-only"
 * CMS SignedData (RFC 5652 5.1; PKCS#7 signed, no signers, content type
 * data without content) holding certs, DER, then base64 with CRLF line
 * breaks.  Borrows certs (at least one).  On EST_OK *b64 is a malloc'd
 * NUL-terminated string the caller frees with free(), *len its length.
 * Returns EST_ERR_INTERNAL or EST_ERR_NOMEM otherwise.
 */
enum est_err
ca_certs_only(STACK_OF(X509) *certs, char **b64, size_t *len)
{
	PKCS7         *p7 = NULL, *inner = NULL;
	unsigned char *der = NULL, *p;
	enum est_err   rc = EST_ERR_INTERNAL;
	int            i, dlen;

	*b64 = NULL;
	*len = 0;
	if (certs == NULL || sk_X509_num(certs) < 1)
		return est_fail(rc, "no certificates for cacerts");
	/* RFC 5652 5.1: SignedData; "certs-only" has no signerInfos and
	 * encapContentInfo of type id-data with eContent absent. */
	if ((p7 = PKCS7_new()) == NULL ||
	    !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    (inner = PKCS7_new()) == NULL ||
	    !PKCS7_set0_type_other(inner, NID_pkcs7_data, NULL))
		goto ssl;
	if (!PKCS7_set_content(p7, inner))
		goto ssl;
	inner = NULL; /* owned by p7 now */
	for (i = 0; i < sk_X509_num(certs); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i)))
			goto ssl;
	/* Two-pass DER with a length check. */
	if ((dlen = i2d_PKCS7(p7, NULL)) <= 0)
		goto ssl;
	if ((der = malloc((size_t)dlen)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "out of memory for cacerts");
		goto out;
	}
	p = der;
	if (i2d_PKCS7(p7, &p) != dlen || p != der + dlen)
		goto ssl;
	rc = b64_encode(der, (size_t)dlen, b64, len);
	goto out;
ssl:
	est_log_ssl("ca_certs_only");
	est_fail(rc, "cannot build the PKCS#7 certs-only structure");
out:
	free(der);
	PKCS7_free(inner);
	PKCS7_free(p7);
	return rc;
}

/*
 * Parses the client certificate the web server passed (SSL_CLIENT_CERT,
 * PEM) and checks we issued it: its issuer is our CA's subject and its
 * signature verifies with our CA key (RFC 5280 6.1.3 (a)(1), (a)(4)).
 * Borrows ca and pem.  On EST_OK *out is a new X509 the caller frees.
 * Returns EST_ERR_UNAUTHENTICATED when there is none,
 * EST_ERR_BAD_REQUEST when it does not parse, EST_ERR_CERT_UNKNOWN
 * when another CA issued it.
 */
enum est_err
ca_client_cert(const struct est_ca *ca, const char *pem, X509 **out)
{
	BIO         *bio = NULL;
	X509        *x = NULL;
	EVP_PKEY    *capk;
	enum est_err rc = EST_ERR_BAD_REQUEST;
	size_t       len;

	*out = NULL;
	if (ca == NULL || ca->cert == NULL)
		return est_fail(EST_ERR_INTERNAL, "ca_client_cert: no CA");
	if (pem == NULL || *pem == '\0')
		return est_fail(EST_ERR_UNAUTHENTICATED,
		    "no TLS client certificate presented");
	if ((len = strnlen(pem, EST_MAX_PEM + 1)) > EST_MAX_PEM)
		return est_fail(rc, "client certificate larger than %d "
		    "bytes", EST_MAX_PEM);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((x = PEM_read_bio_X509(bio, NULL, ca_no_passphrase,
	    NULL)) == NULL) {
		est_log_ssl("ca_client_cert");
		est_fail(rc, "client certificate is not a PEM certificate");
		goto out;
	}
	rc = EST_ERR_CERT_UNKNOWN;
	if (X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(ca->cert)) != 0) {
		est_fail(rc, "client certificate issuer is not this CA");
		goto out;
	}
	if ((capk = X509_get0_pubkey(ca->cert)) == NULL ||
	    X509_verify(x, capk) != 1) {
		ERR_clear_error();
		est_fail(rc, "client certificate signature is not this CA's");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = EST_OK;
out:
	X509_free(x);
	BIO_free(bio);
	return rc;
}

/*
 * Copies cert's serial number as big-endian unsigned bytes without
 * leading zeros (the bytes ca_sign() was given) into serial, sets *len.
 * Borrows cert.  Returns EST_OK, EST_ERR_CERT_UNKNOWN for a negative,
 * zero or longer than EST_SERIAL_LEN serial (RFC 5280 4.1.2.2; never
 * ours), or EST_ERR_NOMEM.
 */
enum est_err
ca_cert_serial(X509 *cert, unsigned char serial[EST_SERIAL_LEN], size_t *len)
{
	BIGNUM      *bn = NULL;
	enum est_err rc = EST_ERR_CERT_UNKNOWN;
	int          n;

	*len = 0;
	if (cert == NULL)
		return est_fail(EST_ERR_INTERNAL, "ca_cert_serial: NULL");
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert),
	    NULL)) == NULL) {
		est_log_ssl("ca_cert_serial");
		rc = est_fail(EST_ERR_NOMEM, "cannot read the serial number");
		goto out;
	}
	n = BN_num_bytes(bn);
	/* RFC 5280 4.1.2.2: positive, at most 20 octets. */
	if (BN_is_negative(bn) || BN_is_zero(bn) || n > EST_SERIAL_LEN) {
		est_fail(rc, "certificate serial number is not one of ours");
		goto out;
	}
	if (BN_bn2bin(bn, serial) != n)
		goto out;
	*len = (size_t)n;
	rc = EST_OK;
out:
	BN_free(bn);
	return rc;
}
