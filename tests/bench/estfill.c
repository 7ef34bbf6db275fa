/*
 * estfill — fills an estcgi store with synthetic enrolled devices, for
 * the "flat with size" benchmark (make bench).
 *
 *   estfill [-p PREFIX] [-b BATCH] EST_CONFIG COUNT
 *
 * Reads est.conf (store and CA), issues ONE real certificate from the
 * CA for a fresh P-256 key, and stores COUNT devices PREFIX0, PREFIX1,
 * ... each with its own random serial, a certificate record carrying
 * that same DER, and an issuance event, through the store's own
 * transaction functions (so the registry's counters and indexes stay
 * consistent), BATCH devices per synced transaction.  Run it as the
 * store's owner.  Prints the rate and the store's size per device.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "est.h"

#define FILL_MAX_COUNT     100000000L /* most devices per run */
#define FILL_DEFAULT_BATCH 1000       /* devices per transaction */
#define FILL_MAX_BATCH     100000
#define FILL_DAYS          365
#define FILL_PATH_MAX      4096

/* One batch: devices [first, first + n) of the run. */
struct fill_batch {
	const char          *prefix;
	long                 first, n;
	const unsigned char *der;
	size_t               der_len;
	int64_t              now;
};

/* Prints why and exits 2. */
static void __attribute__((noreturn))
fail(const char *what, enum est_err rc)
{
	fprintf(stderr, "estfill: %s: %s\n", what, est_reason(rc));
	exit(2);
}

/* The batch's transaction body: device, certificate and event for each
 * device of the batch.  Returns the first store error. */
static enum est_err
fill_txn(struct est_txn *t, void *arg)
{
	const struct fill_batch *b = arg;
	struct est_device        dev;
	struct est_cert          cert;
	struct est_event         ev;
	enum est_err             rc;
	long                     i;

	for (i = b->first; i < b->first + b->n; i++) {
		memset(&dev, 0, sizeof(dev));
		memset(&cert, 0, sizeof(cert));
		memset(&ev, 0, sizeof(ev));
		snprintf(dev.id, sizeof(dev.id), "%s%ld", b->prefix, i);
		if ((rc = ca_serial_random(cert.serial, &cert.serial_len)))
			return rc;
		snprintf(cert.device, sizeof(cert.device), "%s", dev.id);
		cert.status = CERT_VALID;
		cert.op = EST_OP_SIMPLEENROLL;
		cert.not_before = b->now - EST_CLOCK_SKEW_SECS;
		cert.not_after = b->now + (int64_t)FILL_DAYS * 86400;
		cert.der = (unsigned char *)(uintptr_t)b->der;
		cert.der_len = b->der_len;
		if ((rc = txn_cert_insert(t, &cert)) != EST_OK)
			return rc;
		dev.state = DEV_ENROLLED;
		snprintf(dev.owner, sizeof(dev.owner), "estfill");
		dev.created = dev.updated = b->now;
		memcpy(dev.serial, cert.serial, cert.serial_len);
		dev.serial_len = cert.serial_len;
		snprintf(dev.last_ip, sizeof(dev.last_ip), "127.0.0.1");
		snprintf(dev.last_ua, sizeof(dev.last_ua), "estfill");
		if ((rc = txn_device_put(t, &dev)) != EST_OK)
			return rc;
		ev.op = EST_OP_SIMPLEENROLL;
		ev.status = 200;
		snprintf(ev.device, sizeof(ev.device), "%s", dev.id);
		snprintf(ev.user, sizeof(ev.user), "estfill");
		snprintf(ev.ip, sizeof(ev.ip), "127.0.0.1");
		snprintf(ev.ua, sizeof(ev.ua), "estfill");
		memcpy(ev.serial, cert.serial, cert.serial_len);
		ev.serial_len = cert.serial_len;
		snprintf(ev.reason, sizeof(ev.reason), "issued");
		if ((rc = txn_event_add(t, &ev)) != EST_OK)
			return rc;
	}
	return EST_OK;
}

/* Issues the one certificate all synthetic devices carry; returns its
 * DER (malloc'd) and sets *len. */
static unsigned char *
template_der(const struct est_ca *ca, size_t *len)
{
	EVP_PKEY      *k;
	X509_REQ      *req;
	X509          *x = NULL;
	unsigned char  serial[EST_SERIAL_LEN], *der = NULL;
	size_t         slen;
	enum est_err   rc;
	int            n;

	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (req = X509_REQ_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_ASC, (const unsigned char *)"estfill-template", -1, -1,
	    0) || !X509_REQ_set_pubkey(req, k) ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0) {
		fprintf(stderr, "estfill: cannot make a CSR\n");
		exit(2);
	}
	if ((rc = ca_serial_random(serial, &slen)) != EST_OK ||
	    (rc = ca_sign(ca, req, serial, slen, FILL_DAYS, &x)) != EST_OK)
		fail("issuing the template certificate", rc);
	if ((n = i2d_X509(x, &der)) <= 0) {
		fprintf(stderr, "estfill: cannot encode the certificate\n");
		exit(2);
	}
	*len = (size_t)n;
	X509_free(x);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return der;
}

/* Returns the total size in bytes of the regular files in dir. */
static long long
dir_bytes(const char *dir)
{
	DIR           *d;
	struct dirent *e;
	struct stat    st;
	char           p[FILL_PATH_MAX];
	long long      sum = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >=
		    sizeof(p))
			continue;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			sum += (long long)st.st_size;
	}
	closedir(d);
	return sum;
}

/* Parses a count in [lo, hi] or exits. */
static long
count_arg(const char *s, long lo, long hi)
{
	char *end;
	long  v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "estfill: %s: expected %ld..%ld\n", s, lo, hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct est_conf   conf;
	struct est_ca     ca;
	struct est_store *st = NULL;
	struct fill_batch b;
	struct timespec   t0, t1;
	const char       *prefix = "fill-";
	unsigned char    *der;
	size_t            der_len;
	enum est_err      rc;
	long              count, batch = FILL_DEFAULT_BATCH, done;
	long long         before, after;
	double            secs;
	int               ch;

	while ((ch = getopt(argc, argv, "p:b:")) != -1) {
		switch (ch) {
		case 'p': prefix = optarg; break;
		case 'b': batch = count_arg(optarg, 1, FILL_MAX_BATCH); break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	count = count_arg(argv[optind + 1], 0, FILL_MAX_COUNT);
	est_log_open("estfill", "stderr");
	memset(&conf, 0, sizeof(conf));
	if ((rc = conf_load(argv[optind], &conf)) != EST_OK)
		fail(argv[optind], rc);
	if ((rc = ca_load(&conf, &ca)) != EST_OK)
		fail("CA", rc);
	der = template_der(&ca, &der_len);
	if ((rc = store_open(conf.store_dir, &st)) != EST_OK)
		fail(conf.store_dir, rc);
	before = dir_bytes(conf.store_dir);

	memset(&b, 0, sizeof(b));
	b.prefix = prefix;
	b.der = der;
	b.der_len = der_len;
	b.now = (int64_t)time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (done = 0; done < count; done += b.n) {
		b.first = done;
		b.n = count - done < batch ? count - done : batch;
		if ((rc = store_run(st, fill_txn, &b)) != EST_OK)
			fail("store", rc);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	store_close(st);
	after = dir_bytes(conf.store_dir);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("estfill: %ld devices in %.1f s (%.0f/s); store %.1f MB, "
	    "+%.0f bytes per device (certificate DER %zu bytes)\n", count,
	    secs, secs > 0 ? (double)count / secs : 0, (double)after / 1e6,
	    count > 0 ? (double)(after - before) / (double)count : 0,
	    der_len);
	OPENSSL_free(der);
	ca_free(&ca);
	conf_free(&conf);
	return 0;
usage:
	fprintf(stderr, "usage: estfill [-p PREFIX] [-b BATCH] EST_CONFIG "
	    "COUNT\n");
	return 2;
}
