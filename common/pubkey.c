/*
 * pubkey.c — a SubjectPublicKeyInfo (RFC 5280 4.1.2.7) made into an
 * EVP_PKEY directly from its fields.  OpenSSL 3.0 decodes every key it
 * parses through a decoder chain it builds anew for each key (~150 us
 * here, more than verifying the CSR's signature); the keys EST clients
 * send (RFC 5480 named-curve EC, RFC 3279 RSA, RFC 8410 Ed25519) are
 * built here from their fields in a fifth of that or less.  Anything
 * else goes through OpenSSL's decoders as before.
 */
#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "est.h"

#define PK_RSA_FIELDS 2 /* RFC 3279 2.3.1: RSAPublicKey ::= SEQUENCE {
                         * modulus, publicExponent } */

/* The named curves built directly (RFC 5480 2.1.1.1), by the names
 * OpenSSL's EC key manager takes. */
static const struct {
	int         nid;
	const char *group;
} pk_curves[] = {
	{ NID_X9_62_prime256v1, "P-256" },
	{ NID_secp384r1,        "P-384" },
	{ NID_secp521r1,        "P-521" },
};

/* Builds a public key of type from the parameters in bld
 * (EVP_PKEY_fromdata), then frees bld (NULL: fails).  Returns the new
 * key the caller frees, or NULL. */
static EVP_PKEY *
pk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM   *params = NULL;
	EVP_PKEY     *key = NULL;

	if (bld != NULL && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) != NULL &&
	    (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0))
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return key;
}

/* Parameter-only keys of the curves of pk_curves, made on first use and
 * kept for the process: a copy of one given the point costs a fourth
 * of EVP_PKEY_fromdata(), which builds the curve's group anew each
 * time. */
static EVP_PKEY *pk_groups[sizeof(pk_curves) / sizeof(*pk_curves)];

/* Returns the parameter-only key of pk_curves[i] (borrowed), or NULL
 * when it cannot be made. */
static EVP_PKEY *
pk_group(size_t i)
{
	EVP_PKEY_CTX *ctx;

	if (pk_groups[i] != NULL)
		return pk_groups[i];
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
	    (EVP_PKEY_paramgen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_group_name(ctx, pk_curves[i].group) <= 0 ||
	    EVP_PKEY_paramgen(ctx, &pk_groups[i]) <= 0))
		pk_groups[i] = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk_groups[i];
}

/* An EC key on the curve named by curve (an OID) from the point
 * pt[0..len) (SEC 1 2.3.4; the key manager checks it is on the curve).
 * Returns the new key, NULL for a failure, or *other set for a curve
 * not in pk_curves. */
static EVP_PKEY *
pk_ec(const ASN1_OBJECT *curve, const unsigned char *pt, int len,
    int *other)
{
	EVP_PKEY *tmpl, *key;
	size_t    i;
	int       nid = OBJ_obj2nid(curve);

	for (i = 0; i < sizeof(pk_curves) / sizeof(*pk_curves); i++)
		if (pk_curves[i].nid == nid)
			break;
	if (i == sizeof(pk_curves) / sizeof(*pk_curves)) {
		*other = 1;
		return NULL;
	}
	if ((tmpl = pk_group(i)) == NULL || (key = EVP_PKEY_dup(tmpl)) == NULL)
		return NULL;
	if (!EVP_PKEY_set1_encoded_public_key(key, pt, (size_t)len)) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/* An RSA key from the DER RSAPublicKey der[0..len) (RFC 3279 2.3.1):
 * two positive INTEGERs and nothing after them.  Returns the new key or
 * NULL. */
static EVP_PKEY *
pk_rsa(const unsigned char *der, int len)
{
	const unsigned char *p = der;
	ASN1_SEQUENCE_ANY   *seq;
	const ASN1_TYPE     *t;
	BIGNUM              *bn[PK_RSA_FIELDS] = { NULL, NULL };
	OSSL_PARAM_BLD      *bld;
	EVP_PKEY            *key = NULL;
	int                  i;

	if ((seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len)) == NULL)
		return NULL;
	if (p != der + len || sk_ASN1_TYPE_num(seq) != PK_RSA_FIELDS)
		goto out;
	for (i = 0; i < PK_RSA_FIELDS; i++) {
		t = sk_ASN1_TYPE_value(seq, i);
		if (ASN1_TYPE_get(t) != V_ASN1_INTEGER ||
		    (bn[i] = ASN1_INTEGER_to_BN(t->value.integer, NULL)) ==
		    NULL)
			goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) != NULL &&
	    (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn[0]) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn[1]))) {
		OSSL_PARAM_BLD_free(bld);
		bld = NULL;
	}
	key = pk_fromdata("RSA", bld);
out:
	BN_free(bn[0]);
	BN_free(bn[1]);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	return key;
}

/* Any other key, through OpenSSL's decoders (the default library
 * context).  Returns the new key or NULL. */
static EVP_PKEY *
pk_generic(const X509_PUBKEY *pub)
{
	const unsigned char *p;
	unsigned char       *der = NULL;
	EVP_PKEY            *key = NULL;
	int                  len;

	if ((len = i2d_X509_PUBKEY(pub, &der)) > 0) {
		p = der;
		key = d2i_PUBKEY_ex(NULL, &p, len, NULL, NULL);
	}
	OPENSSL_free(der);
	return key;
}

/*
 * Makes pub's key into an EVP_PKEY: EC on P-256, P-384 or P-521 with a
 * named curve, RSA (rsaEncryption) and Ed25519 directly, anything else
 * through OpenSSL's decoders.  Policy (which keys are accepted) is the
 * caller's.  Borrows pub.  On EST_OK *out is a new key the caller
 * frees; EST_ERR_BAD_KEY when the key cannot be decoded.
 */
enum est_err
pubkey_decode(const X509_PUBKEY *pub, EVP_PKEY **out)
{
	ASN1_OBJECT         *oid;
	X509_ALGOR          *alg;
	const void          *pval;
	const unsigned char *bits;
	EVP_PKEY            *key = NULL;
	int                  len, ptype, other = 0;

	*out = NULL;
	if (pub == NULL ||
	    !X509_PUBKEY_get0_param(&oid, &bits, &len, &alg, pub) ||
	    len <= 0)
		return est_fail(EST_ERR_BAD_KEY, "CSR has no public key");
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	switch (OBJ_obj2nid(oid)) {
	case NID_X9_62_id_ecPublicKey:
		/* RFC 5480 2.1.1: parameters are the namedCurve OID. */
		if (ptype == V_ASN1_OBJECT)
			key = pk_ec(pval, bits, len, &other);
		else
			other = 1;
		break;
	case NID_rsaEncryption:
		/* RFC 3279 2.3.1: parameters NULL (absent seen too). */
		if (ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF)
			key = pk_rsa(bits, len);
		else
			other = 1;
		break;
	case NID_ED25519:
		/* RFC 8410 3: parameters absent; 32 bytes of key. */
		if (ptype == V_ASN1_UNDEF)
			key = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519",
			    NULL, bits, (size_t)len);
		else
			other = 1;
		break;
	default:
		other = 1;
		break;
	}
	if (other)
		key = pk_generic(pub);
	if (key == NULL) {
		est_log_ssl("pubkey_decode");
		return est_fail(EST_ERR_BAD_KEY,
		    "CSR public key cannot be decoded");
	}
	*out = key;
	return EST_OK;
}
