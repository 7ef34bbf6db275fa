/*
 * fuzz-csr.c — libFuzzer target for what a CSR from the network goes
 * through: csr_parse() (strict DER), csr_check() (key and hash policy,
 * proof of possession, extensions and SAN policy, device ID), the RFC
 * 7030 4.2.2 csr_matches_cert() against a certificate, and, for a CSR
 * that passes, ca_sign() by a P-256 test CA (the SAN is copied).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define FZ_DAYS 30 /* validity of the certificates signed */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static regex_t       fz_re;
static struct est_ca fz_ca;

/* Makes the test CA (self-signed P-256, CA:TRUE, keyCertSign) and
 * compiles the default device ID pattern.  Aborts on failure. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	X509_NAME      *name;
	X509_EXTENSION *ext;
	X509V3_CTX      v3;

	(void)argc;
	(void)argv;
	if (regcomp(&fz_re, EST_DEFAULT_ID_PATTERN, REG_EXTENDED | REG_NOSUB))
		abort();
	if ((fz_ca.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (fz_ca.cert = X509_new()) == NULL ||
	    !X509_set_version(fz_ca.cert, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(fz_ca.cert), 1) ||
	    (name = X509_get_subject_name(fz_ca.cert)) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fuzz CA", -1, -1, 0) ||
	    !X509_set_issuer_name(fz_ca.cert, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(fz_ca.cert), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(fz_ca.cert), 86400L * 365) == NULL ||
	    !X509_set_pubkey(fz_ca.cert, fz_ca.key))
		abort();
	X509V3_set_ctx(&v3, fz_ca.cert, fz_ca.cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    "critical,CA:TRUE")) == NULL || !X509_add_ext(fz_ca.cert, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
	    "critical,keyCertSign")) == NULL || !X509_add_ext(fz_ca.cert, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
	if (X509_sign(fz_ca.cert, fz_ca.key, EVP_sha256()) <= 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_csr csr;
	X509         *x = NULL;
	unsigned char serial[EST_SERIAL_LEN];
	size_t        slen;
	char          id[EST_MAX_DEVICE_ID + 1];

	est_reason_clear();
	if (csr_parse(data, size, &csr) != EST_OK)
		return 0;
	(void)csr_matches_cert(csr.req, fz_ca.cert);
	if (csr_check(&csr, &fz_re, id) == EST_OK) {
		if (strlen(id) == 0 || strlen(id) > EST_MAX_DEVICE_ID)
			abort();
		if (ca_serial_random(serial, &slen) != EST_OK ||
		    ca_sign(&fz_ca, &csr, serial, slen, FZ_DAYS, &x) != EST_OK ||
		    csr_matches_cert(csr.req, x) != EST_OK)
			abort();
		X509_free(x);
	}
	csr_free(&csr);
	return 0;
}
