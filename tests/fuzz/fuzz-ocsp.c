/*
 * fuzz-ocsp.c — libFuzzer target for the OCSP responder's input
 * (common/ocsp.c): the first byte picks the path, the rest is either a
 * GET request URI's base64 part (ocsp_from_get(), then ocsp_respond()
 * on what it decodes) or a POST body (ocsp_respond()).  The responder
 * answers for a CA made at start-up over an empty store in a fresh
 * directory, so a request that names that CA reaches the store.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "est.h"

#define FZ_URI_MAX  (EST_OCSP_MAX_REQUEST * 4) /* longest URI tried */
#define FZ_TMP      "/tmp/fuzz-ocsp.XXXXXX"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct est_ctx         fz_ctx;
static struct est_rev_conf    fz_rev;
static struct est_ocsp_signer fz_signer;    /* none: the CA signs */
static char                   fz_dir[] = FZ_TMP;
static char                   fz_empty[1];

/* A self-signed P-256 CA for the responder; exits when that fails. */
static void
fz_make_ca(struct est_ca *ca)
{
	X509_NAME *n;

	if ((ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	    NULL || (ca->cert = X509_new()) == NULL ||
	    !X509_set_version(ca->cert, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(ca->cert), 1) ||
	    (n = X509_get_subject_name(ca->cert)) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fuzz CA", -1, -1, 0) ||
	    !X509_set_issuer_name(ca->cert, n) ||
	    X509_gmtime_adj(X509_getm_notBefore(ca->cert), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(ca->cert), 86400) == NULL ||
	    !X509_set_pubkey(ca->cert, ca->key) ||
	    X509_sign(ca->cert, ca->key, EVP_sha256()) <= 0)
		abort();
}

/* At exit: closes the store and removes its directory. */
static void
fz_cleanup(void)
{
	DIR           *d;
	struct dirent *de;
	char           path[sizeof(fz_dir) + 256];

	store_close(fz_ctx.store);
	ca_free(&fz_ctx.ca);
	if ((d = opendir(fz_dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", fz_dir,
			    de->d_name);
			if (de->d_name[0] != '.')
				unlink(path);
		}
		closedir(d);
	}
	rmdir(fz_dir);
}

/* Sets up the CA, the store and the revocation settings once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_make_ca(&fz_ctx.ca);
	if (mkdtemp(fz_dir) == NULL ||
	    store_open(fz_dir, &fz_ctx.store) != EST_OK)
		abort();
	fz_rev.crl_dir = fz_rev.crl_url = fz_rev.ocsp_url = fz_empty;
	fz_rev.ocsp_cert = fz_rev.ocsp_key = fz_empty;
	fz_rev.ocsp_next_update = EST_OCSP_VALIDITY_DEF;
	fz_ctx.conf.rev = &fz_rev;
	atexit(fz_cleanup);
	return 0;
}

/* Answers der (len bytes) and drops the answer. */
static void
fz_respond(const unsigned char *der, size_t len)
{
	unsigned char *out = NULL;
	size_t         outlen = 0;

	if (ocsp_respond(&fz_ctx, &fz_signer, der, len, &out, &outlen, NULL) ==
	    EST_OK && (out == NULL || outlen == 0))
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char          *uri;
	unsigned char *der = NULL;
	size_t         len = 0;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		fz_respond(data + 1, size - 1);
		return 0;
	}
	if (size - 1 > FZ_URI_MAX ||
	    (uri = malloc(sizeof("/ocsp/") + size)) == NULL)
		return 0;
	memcpy(uri, "/ocsp/", 6);
	memcpy(uri + 6, data + 1, size - 1);
	uri[6 + size - 1] = '\0';
	if (ocsp_from_get(uri, &der, &len) == EST_OK)
		fz_respond(der, len);
	free(der);
	free(uri);
	return 0;
}
