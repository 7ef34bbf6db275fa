/*
 * keygen.c — RFC 7030 4.4 server-side key generation: the key made per
 * the label's serverkeygen.key, put into the request in place of the
 * client's, and the multipart/mixed answer (4.4.2): the private key as
 * PKCS#8 (application/pkcs8) and the certificate as certs-only PKCS#7,
 * each base64.  The key is never stored or logged; every buffer that
 * held it is cleansed before it is freed.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "est.h"

/* The multipart boundary: base64 never contains '-', so it cannot occur
 * inside a part (RFC 2046 5.1.1). */
#define SKG_BOUNDARY "estcgi-serverkeygen-part"

/* RFC 7030 4.4.1.1 DecryptKeyIdentifier and 4.4.1.2
 * AsymmetricDecryptKeyIdentifier: CSR attributes asking for the returned
 * key encrypted, which is not offered (4.4.2 without them: protected by
 * TLS only). */
static const char *const skg_encrypt_oids[] = {
	"1.2.840.113549.1.9.16.2.37",   /* id-aa-decryptKeyID */
	"1.2.840.113549.1.9.16.2.54",   /* id-aa-asymmDecryptKeyID */
};

/*
 * Makes a new key of label l's serverkeygen type (RFC 7030 4.4.1: the
 * server generates it) and puts it into csr in place of the client's
 * (csr_set_key()), so the certificate is issued for it.  On EST_OK *key is
 * the new key the caller frees (EVP_PKEY_free clears it).  Returns
 * EST_OK, EST_ERR_NOT_IMPLEMENTED when the CSR asks for the key
 * encrypted (skg_encrypt_oids), or EST_ERR_INTERNAL.
 */
enum est_err
skg_key_for(const struct est_label *l, struct est_csr *csr, EVP_PKEY **key)
{
	EVP_PKEY    *k = NULL;
	ASN1_OBJECT *obj;
	size_t       i;
	int          idx;

	*key = NULL;
	for (i = 0; i < sizeof(skg_encrypt_oids) / sizeof(*skg_encrypt_oids);
	    i++) {
		if ((obj = OBJ_txt2obj(skg_encrypt_oids[i], 1)) == NULL)
			return est_fail(EST_ERR_NOMEM, "out of memory");
		idx = X509_REQ_get_attr_by_OBJ(csr->req, obj, -1);
		ASN1_OBJECT_free(obj);
		if (idx >= 0)
			return est_fail(EST_ERR_NOT_IMPLEMENTED, "serverkeygen: "
			    "an encrypted key (RFC 7030 4.4.1.1, 4.4.1.2) is not "
			    "offered; the key is protected by TLS only");
	}
	switch (l->skg_key) {
	case EST_KEY_RSA:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)l->skg_rsa_bits);
		break;
	case EST_KEY_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case EST_KEY_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case EST_KEY_P521:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	case EST_KEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		break;
	}
	if (k == NULL) {
		est_log_ssl("skg_key_for");
		return est_fail(EST_ERR_INTERNAL, "server key generation "
		    "failed");
	}
	if (csr_set_key(csr, k) != EST_OK) {
		EVP_PKEY_free(k);
		return EST_ERR_INTERNAL;
	}
	*key = k;
	return EST_OK;
}

/* Part headers and the closing delimiter (RFC 2046 5.1.1). */
#define SKG_KEY_HEAD  "--" SKG_BOUNDARY "\r\nContent-Type: application/pkcs8" \
                      "\r\nContent-Transfer-Encoding: base64\r\n\r\n"
#define SKG_CERT_HEAD "\r\n--" SKG_BOUNDARY "\r\nContent-Type: "          \
                      "application/pkcs7-mime; smime-type=certs-only\r\n"  \
                      "Content-Transfer-Encoding: base64\r\n\r\n"
#define SKG_END       "\r\n--" SKG_BOUNDARY "--\r\n"

/* Copies n bytes of s to *p and advances it. */
static void
skg_put(char **p, const char *s, size_t n)
{
	memcpy(*p, s, n);
	*p += n;
}

/* Returns how many LF the n bytes of s hold. */
static size_t
skg_lines(const char *s, size_t n)
{
	size_t i, lf = 0;

	for (i = 0; i < n; i++)
		lf += s[i] == '\n';
	return lf;
}

/* Copies the n bytes of base64 text s (b64_encode()'s LF lines) to *p
 * with CRLF line ends, MIME's canonical form inside a multipart body
 * (RFC 2045 2.10, RFC 2046 5.1.1, as in RFC 7030 4.4.2), and advances
 * *p by n plus skg_lines(s, n). */
static void
skg_put_crlf(char **p, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			*(*p)++ = '\r';
		*(*p)++ = s[i];
	}
}

/*
 * Builds the RFC 7030 4.4.2 answer into resp: multipart/mixed with the
 * private key key as PKCS#8 PrivateKeyInfo (RFC 5958; unencrypted, the
 * TLS session protects it: 4.4.2 without DecryptKeyIdentifier) and the
 * certificate cert as certs-only PKCS#7, both base64.  resp->secret is
 * set so the body is cleansed when freed.  Borrows key and cert.
 * Returns EST_OK, EST_ERR_INTERNAL or EST_ERR_NOMEM.
 */
enum est_err
skg_response(struct est_resp *resp, EVP_PKEY *key, X509 *cert)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	STACK_OF(X509)      *sk = NULL;
	unsigned char       *der = NULL;
	char                *keyb64 = NULL, *certb64 = NULL, *p;
	size_t               keylen = 0, certlen = 0, total;
	enum est_err         rc = EST_ERR_INTERNAL;
	int                  len = -1;

	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL ||
	    (len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0) {
		est_log_ssl("skg_response");
		est_fail(rc, "cannot encode the generated key as PKCS#8");
		goto out;
	}
	if ((rc = b64_encode(der, (size_t)len, &keyb64, &keylen)) != EST_OK)
		goto out;
	if ((sk = sk_X509_new_null()) == NULL || !sk_X509_push(sk, cert)) {
		rc = est_fail(EST_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = ca_certs_only(sk, &certb64, &certlen)) != EST_OK)
		goto out;
	/* RFC 7030 4.4.2: the key part first, then the certificate; one
	 * allocation of the exact size, so no copy of the key is left
	 * behind by a reallocation. */
	total = strlen(SKG_KEY_HEAD) + keylen + skg_lines(keyb64, keylen) +
	    strlen(SKG_CERT_HEAD) + certlen + skg_lines(certb64, certlen) +
	    strlen(SKG_END);
	if ((p = resp->body = malloc(total + 1)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "out of memory");
		goto out;
	}
	skg_put(&p, SKG_KEY_HEAD, strlen(SKG_KEY_HEAD));
	skg_put_crlf(&p, keyb64, keylen);
	skg_put(&p, SKG_CERT_HEAD, strlen(SKG_CERT_HEAD));
	skg_put_crlf(&p, certb64, certlen);
	skg_put(&p, SKG_END, strlen(SKG_END));
	*p = '\0';
	resp->body_len = total;
	resp->secret = 1;
	resp->status = 200;
	resp->content_type = "multipart/mixed; boundary=" SKG_BOUNDARY;
	rc = EST_OK;
out:
	/* The key's other copies: DER and base64. */
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)len);
	if (keyb64 != NULL)
		OPENSSL_cleanse(keyb64, keylen);
	free(keyb64);
	free(certb64);
	sk_X509_free(sk);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rc;
}
