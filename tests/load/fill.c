/*
 * fill — fills a store with synthetic devices for the scale checks of
 * the registry (not part of `make test`; `make fill N=... RUNDIR=...`).
 *
 *   fill STORE_DIR N [FIRST]
 *
 * Adds devices fill-FIRST .. fill-(FIRST+N-1) (IDs zero-padded to 7
 * digits, so they sort in number order), each with one certificate
 * record and one issuance event, through the store's own transaction
 * functions, so indexes and counters stay exactly consistent.
 * EST_FILL_BATCH devices share one transaction, committed without a log
 * flush (store_bulk()).  Devices are spread
 * over the year before now: device i was created at now - 365 days +
 * i * 365 days / N; the newest 3% are bootstrapped (30-day
 * certificates), the rest enrolled (365 days), every 500th with a
 * certificate that ended 10 days ago.  The certificate DER is one
 * real template certificate (~400 bytes) copied into every record,
 * and serials are sequential, so the sizes are realistic without
 * signing a million certificates.
 *
 * Prints the time taken and the store's size per device.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "est.h"

#define EST_FILL_BATCH   1000          /* devices per transaction */
#define FILL_YEAR        (365LL * 86400)
#define FILL_BOOT_PCT    3             /* newest share bootstrapped */
#define FILL_EXPIRED_MOD 500           /* every Nth has expired */
#define FILL_MAX         100000000LL   /* most devices one run adds */
#define FILL_PATH_MAX    4096

struct batch {
	long long      first, n, total;   /* devices first..first+n-1 */
	int64_t        now;
	unsigned char *der;
	size_t         der_len;
};

/* Makes the template certificate (self-signed, P-256, CN fill-template)
 * as DER into *der.  Returns 0 or -1. */
static int
template_der(unsigned char **der, size_t *len)
{
	EVP_PKEY  *key = NULL;
	X509      *x = NULL;
	X509_NAME *name;
	int        n, rc = -1;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (x = X509_new()) == NULL || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), FILL_YEAR) == NULL ||
	    (name = X509_get_subject_name(x)) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fill-template", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
	    !X509_sign(x, key, EVP_sha256()) || (n = i2d_X509(x, der)) <= 0)
		goto out;
	*len = (size_t)n;
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/* The transaction: one batch of devices, certificates and events. */
static enum est_err
fill_fn(struct est_txn *t, void *arg)
{
	struct batch     *b = arg;
	struct est_device d;
	struct est_cert   c;
	struct est_event  ev;
	enum est_err      rc;
	long long         i, k;
	int64_t           created;
	int               boot;

	for (k = 0; k < b->n; k++) {
		i = b->first + k;
		created = b->now - FILL_YEAR + (int64_t)((double)i *
		    (double)FILL_YEAR / (double)b->total);
		boot = i >= b->total - b->total * FILL_BOOT_PCT / 100;
		memset(&d, 0, sizeof(d));
		snprintf(d.id, sizeof(d.id), "fill-%07lld", i);
		snprintf(d.owner, sizeof(d.owner), "estuser");
		snprintf(d.last_ip, sizeof(d.last_ip), "192.0.2.%lld", i % 250);
		snprintf(d.last_ua, sizeof(d.last_ua), "fill/1.0");
		d.state = boot ? DEV_BOOTSTRAPPED : DEV_ENROLLED;
		d.created = d.updated = created;
		d.not_after = created + (boot ? 30 : 365) * 86400LL;
		if (i % FILL_EXPIRED_MOD == 0)
			d.not_after = b->now - 10 * 86400LL;
		/* sequential serials: 0x7f, then i as 8 bytes */
		d.serial[0] = 0x7f;
		for (int j = 0; j < 8; j++)
			d.serial[1 + j] = (unsigned char)(i >> (8 * (7 - j)));
		d.serial_len = 9;

		memset(&c, 0, sizeof(c));
		memcpy(c.serial, d.serial, d.serial_len);
		c.serial_len = d.serial_len;
		memcpy(c.device, d.id, sizeof(c.device));
		c.status = CERT_VALID;
		c.op = boot ? EST_OP_BOOTSTRAP : EST_OP_SIMPLEENROLL;
		c.not_before = created - EST_CLOCK_SKEW_SECS;
		c.not_after = d.not_after;
		c.der = b->der;
		c.der_len = b->der_len;

		memset(&ev, 0, sizeof(ev));
		ev.time_us = created * 1000000LL + i % 1000000;
		ev.op = c.op;
		ev.status = 200;
		memcpy(ev.device, d.id, sizeof(ev.device));
		snprintf(ev.user, sizeof(ev.user), "estuser");
		memcpy(ev.ip, d.last_ip, sizeof(ev.ip));
		memcpy(ev.ua, d.last_ua, sizeof(ev.ua));
		memcpy(ev.serial, d.serial, d.serial_len);
		ev.serial_len = d.serial_len;
		snprintf(ev.reason, sizeof(ev.reason), "issued");

		if ((rc = txn_device_put(t, &d)) != EST_OK ||
		    (rc = txn_cert_insert(t, &c)) != EST_OK ||
		    (rc = txn_event_add(t, &ev)) != EST_OK)
			return rc;
	}
	return EST_OK;
}

/* Returns the total size in bytes of the database files in dir (not
 * the environment's region files __db.* nor the transaction logs). */
static long long
dir_bytes(const char *dir)
{
	DIR           *d;
	struct dirent *de;
	struct stat    sb;
	char           path[FILL_PATH_MAX];
	long long      sum = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "__db.", 5) == 0 ||
		    strncmp(de->d_name, "log.", 4) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			sum += (long long)sb.st_size;
	}
	closedir(d);
	return sum;
}

int
main(int argc, char *argv[])
{
	struct est_store *st = NULL;
	struct est_stats  s;
	struct batch      b;
	struct timespec   t0, t1;
	unsigned char    *der = NULL;
	long long         n, first = 0, done;
	double            secs;
	char             *end;
	enum est_err      rc;
	int               ret = 1;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: fill STORE_DIR N [FIRST]\n");
		return 2;
	}
	est_log_open("fill", "stderr");
	errno = 0;
	n = strtoll(argv[2], &end, 10);
	if (errno || *end || n < 1 || n > FILL_MAX) {
		fprintf(stderr, "fill: N must be 1..%lld\n", FILL_MAX);
		return 2;
	}
	if (argc == 4 && ((first = strtoll(argv[3], &end, 10)) < 0 || *end)) {
		fprintf(stderr, "fill: bad FIRST\n");
		return 2;
	}
	memset(&b, 0, sizeof(b));
	if (template_der(&der, &b.der_len) == -1) {
		fprintf(stderr, "fill: cannot make the template certificate\n");
		goto out;
	}
	b.der = der;
	b.now = (int64_t)time(NULL);
	b.total = first + n;
	if ((rc = store_open(argv[1], &st)) != EST_OK) {
		fprintf(stderr, "fill: %s\n", est_reason(rc));
		goto out;
	}
	store_bulk(st, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (done = 0; done < n; done += b.n) {
		b.first = first + done;
		b.n = n - done < EST_FILL_BATCH ? n - done : EST_FILL_BATCH;
		if ((rc = store_run(st, fill_fn, &b)) != EST_OK) {
			fprintf(stderr, "fill: device %lld: %s\n", b.first,
			    est_reason(rc));
			goto out;
		}
		if ((done / EST_FILL_BATCH) % 100 == 99) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			fprintf(stderr, "fill: %lld devices, %.1f s\n",
			    done + b.n, (double)(t1.tv_sec - t0.tv_sec) +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if ((rc = store_stats(st, 0, &s)) != EST_OK) {
		fprintf(stderr, "fill: stats: %s\n", est_reason(rc));
		goto out;
	}
	store_close(st);
	st = NULL;
	printf("fill: %lld devices in %.1f s (%.0f devices/s); store now "
	    "%llu devices, %llu expired, %llu expiring in 30 days; "
	    "%.0f bytes per device on disk\n", n, secs, (double)n / secs,
	    (unsigned long long)s.devices, (unsigned long long)s.expired,
	    (unsigned long long)s.expiring_30d,
	    s.devices ? (double)dir_bytes(argv[1]) / (double)s.devices : 0.0);
	ret = 0;
out:
	store_close(st);
	OPENSSL_free(der);
	return ret;
}
