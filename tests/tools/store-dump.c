/*
 * store-dump.c — prints what a store holds, one line per record, for the
 * fault and backup tests to compare with what clients received:
 *
 *   device ID STATE CURRENT-SERIAL
 *   cert SERIAL DEVICE STATUS OP SHA-256-OF-DER
 *
 * (serials in lower-case hex, "-" for none), devices in ID order, each
 * followed by its certificates.  Reads only, through the store interface
 * of common/est.h, so it sees exactly what the programs see.
 *
 *   store-dump STORE_DIR
 *
 * Run it as the user that owns the store (as root the tests use
 * runuser): opening an environment leaves files owned by the opener.
 * Exit status 0, or 1 with a message when the store cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "est.h"

#define DUMP_PAGE EST_LIST_MAX /* devices read per page */

/* Prints one certificate line for serial of device id; reads its DER.
 * Returns EST_OK or the store's error. */
static enum est_err
dump_cert(struct est_store *st, const struct est_cert *c)
{
	struct est_cert full;
	unsigned char   md[EVP_MAX_MD_SIZE];
	unsigned int    mdlen = 0;
	char            hex[EST_HEX_SERIAL_MAX], mdhex[2 * EVP_MAX_MD_SIZE + 1];
	enum est_err    rc;

	memset(&full, 0, sizeof(full));
	if ((rc = store_cert_get(st, c->serial, c->serial_len, &full)) != EST_OK)
		return rc;
	if (full.der == NULL || EVP_Digest(full.der, full.der_len, md, &mdlen,
	    EVP_sha256(), NULL) != 1) {
		cert_clear(&full);
		return est_fail(EST_ERR_INTERNAL, "certificate without DER");
	}
	est_hex(full.serial, full.serial_len, hex);
	est_hex(md, mdlen, mdhex);
	printf("cert %s %s %s %s %s\n", hex, full.device,
	    est_cert_status_names[full.status], est_op_names[full.op], mdhex);
	cert_clear(&full);
	return EST_OK;
}

/* Prints device d and its certificates.  Returns EST_OK or an error. */
static enum est_err
dump_device(struct est_store *st, const struct est_device *d,
    struct est_cert *certs)
{
	char         hex[EST_HEX_SERIAL_MAX];
	enum est_err rc;
	size_t       i, n = 0;

	est_hex(d->serial, d->serial_len, hex);
	printf("device %s %s %s\n", d->id, est_dev_state_names[d->state],
	    d->serial_len > 0 ? hex : "-");
	if ((rc = store_device_certs(st, d->id, certs, EST_MAX_DEVICE_CERTS,
	    &n)) != EST_OK)
		return rc;
	for (i = 0; i < n && rc == EST_OK; i++)
		rc = dump_cert(st, &certs[i]);
	for (i = 0; i < n; i++)
		cert_clear(&certs[i]);
	return rc;
}

int
main(int argc, char **argv)
{
	struct est_store    *st = NULL;
	struct est_dev_query q;
	struct est_device   *devs = NULL;
	struct est_cert     *certs = NULL;
	enum est_err         rc;
	size_t               i, n;
	char                 next[EST_CURSOR_MAX + 1];

	if (argc != 2) {
		fprintf(stderr, "usage: store-dump STORE_DIR\n");
		return 2;
	}
	est_log_open("store-dump", "stderr");
	if ((devs = calloc(DUMP_PAGE, sizeof(*devs))) == NULL ||
	    (certs = calloc(EST_MAX_DEVICE_CERTS, sizeof(*certs))) == NULL) {
		rc = EST_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_open(argv[1], &st)) != EST_OK)
		goto out;
	memset(&q, 0, sizeof(q));
	q.limit = DUMP_PAGE;
	q.state = EST_FILTER_ANY;
	do {
		if ((rc = store_devices_list(st, &q, devs, &n, next)) != EST_OK)
			goto out;
		for (i = 0; i < n; i++)
			if ((rc = dump_device(st, &devs[i], certs)) != EST_OK)
				goto out;
		memcpy(q.cursor, next, sizeof(q.cursor));
	} while (next[0] != '\0');
	rc = EST_OK;
out:
	if (rc != EST_OK)
		fprintf(stderr, "store-dump: %s\n", est_reason(rc));
	store_close(st);
	free(devs);
	free(certs);
	if (fflush(stdout) != 0)
		return 1;
	return rc == EST_OK ? 0 : 1;
}
