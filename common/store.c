/*
 * store.c — the Berkeley DB 5.3 store of devices, certificates and
 * events.
 *
 * Every FastCGI worker opens one environment in the store directory and
 * keeps it for its life.  The environment is shared by all workers
 * (DB_REGISTER tells a fresh opener when a dead worker left it in need
 * of cleaning up; DB_FAILCHK does that in the live environment, and
 * DB_RECOVER runs full recovery only when failchk cannot).  Databases:
 *
 *   devices          btree, key = device ID (no NUL)
 *   certs            btree, key = serial, big-endian bytes as given
 *   certs_by_device  btree, DB_DUP|DB_DUPSORT, secondary index of certs
 *                    keyed by the certificate's device ID
 *   events           btree, key = time_us (8 bytes BE) + pid (4 BE) +
 *                    per-process counter (4 BE): unique, time-ordered
 *   events_by_device btree, key = device ID + NUL + event key, no data:
 *                    a device's events in time order
 *   devidx           btree; keys 's' + state (1) + ID, no data (devices
 *                    by stored state, in ID order) and 'x' + notAfter
 *                    (8 BE) + ID, data the state byte (devices by expiry
 *                    of the current certificate; revoked ones left out)
 *   pending          btree, key = device ID: its enrollment request
 *                    waiting for approval, approved or rejected
 *                    (approval queue section at the end)
 *   ratelimit        btree, key = label + NUL + 'u' user / 'd' device +
 *                    name, data = version + window start + count
 *   counters         btree, value = 8-byte BE signed count; keys
 *                    's' + state (devices by state), 'x' + hour (4 BE,
 *                    unix hours) of notAfter (expiry buckets, as devidx
 *                    'x'), 'e' + hour (issuances), 'r' + hour (refusals),
 *                    "te", "tr", "td" (totals: issuances, refusals,
 *                    deletions), "rv" (revocation generation: +1 per
 *                    certificate revoked)
 *   revoked          btree, key = CA label + NUL + serial, data = version
 *                    (1) + revoked_at (8 BE) + reason (1) + notAfter (8
 *                    BE): the revoked certificates, per label, for CRLs
 *
 * devidx, events_by_device and counters are maintained by
 * txn_device_put(), txn_event_add() and store_device_delete() in the
 * caller's transaction.  Counter changes are collected during the
 * transaction and applied, in key order, just before it commits, so the
 * few hot counter pages are write-locked only for the commit itself.
 *
 * Records are explicitly encoded byte strings: a version byte, then
 * big-endian fixed-width integers and length-prefixed strings and blobs.
 * Decoding checks every length against the record's size.  Structs are
 * never copied raw.
 *
 * Writes happen in store_run(), which wraps a caller's function in a
 * transaction, retries it on deadlock, and reopens the environment once
 * if Berkeley DB reports DB_RUNRECOVERY (another worker died and the
 * next opener ran recovery).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>
#include <openssl/evp.h>

#include "est.h"

/* Store-internal limits and names. */
#define STORE_DB_DEVICES   "devices"
#define STORE_DB_CERTS     "certs"
#define STORE_DB_EVENTS    "events"
#define STORE_DB_BY_DEVICE "certs_by_device"
#define STORE_DB_EV_BY_DEV "events_by_device"
#define STORE_DB_DEVIDX    "devidx"
#define STORE_DB_COUNTERS  "counters"
#define STORE_DB_PENDING   "pending"   /* approval queue */
#define STORE_DB_RATE      "ratelimit" /* rate-limit windows */
#define STORE_DB_REVOKED   "revoked"
#define STORE_MAX_LOCKS    20000 /* lock table (set when the env is made) */
#define STORE_MAX_MUTEXES  20000 /* mutex region (set when the env is made):
                                  * each process with the store open takes
                                  * about 37 (handles of 10 databases); the
                                  * size Berkeley DB works out alone ran
                                  * out at about 64 processes (BDB2034,
                                  * every transaction then failed) */
#define STORE_REC_V2       2     /* device record with notAfter */
#define IDX_STATE          's'   /* devidx/counters: by state */
#define IDX_EXPIRY         'x'   /* devidx/counters: by expiry */
#define CTR_ENROLL_HOUR    'e'   /* counters: issuances per hour */
#define CTR_REFUSE_HOUR    'r'   /* counters: refusals per hour */
#define CTR_KEY_MAX        (1 + 8 + EST_MAX_DEVICE_ID) /* longest key */
#define CTR_DELTAS_MIN     16    /* first allocation of counter deltas */
#define SECS_PER_HOUR      3600
#define SECS_PER_DAY       86400
#define IDX_KEY_MAX        (1 + 8 + EST_MAX_DEVICE_ID) /* devidx key */
#define EVDEV_KEY_MAX      (EST_MAX_DEVICE_ID + 1 + EVENT_KEY_LEN)
#define STORE_CERTS_READ_MAX 100000 /* certificates read for one device */
#define STORE_FILE_MODE    0660  /* environment and database files */
#define STORE_ENV_FLAGS    (DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |     \
                            DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD |    \
                            DB_REGISTER | DB_RECOVER | DB_FAILCHK)
#define STORE_THREADS      1024  /* processes (one thread each) failchk
                                  * tracks at once */
#define STORE_DB_FLAGS     (DB_AUTO_COMMIT | DB_CREATE | DB_THREAD)
#define STORE_BACKOFF_NS   1000000L   /* first deadlock backoff (1 ms) */
#define STORE_BACKOFF_MAX_NS 64000000L /* longest deadlock backoff */
#define STORE_OPEN_TRIES   4     /* environment opens per store_open() or
                                  * reopen while the failure is transient */
#define STORE_OPEN_TIMEOUT 60    /* seconds this process's environment
                                  * open (failchk, recovery) may go on,
                                  * holding the open lock, without using
                                  * STORE_OPEN_PROGRESS_NS of CPU before
                                  * it gives up and exits: only for a
                                  * process that will never finish
                                  * (exiting inside Berkeley DB may leave
                                  * a mutex held) */
#define STORE_OPEN_PROGRESS_NS 100000000L /* CPU time (100 ms) that shows
                                  * a long open (a slow recovery) is
                                  * working, not waiting on a mutex */
#define STORE_OPEN_WAIT    25    /* seconds a store open waits for other
                                  * processes' opens (the open lock)
                                  * before it gives up (503): below the
                                  * web servers' FastCGI timeouts (40 s) */
#define STORE_OPEN_POLL_NS 10000000L /* the wait checks every 10 ms */
#define STORE_REGISTRY     "__db.register" /* DB_REGISTER's file */
#define STORE_REGISTRY_BYTE 1    /* its byte Berkeley DB 5.3 write-locks
                                  * while an open is in progress
                                  * (env_register.c) */
#define STORE_STUCK_EXIT   75    /* exit status then (EX_TEMPFAIL) */
#define STORE_STUCK_LINE   1024  /* longest log line of the watchdog */
#define STORE_PROC_STAT    512   /* bytes of /proc/PID/stat read */
#define STORE_PROC_PATH    64    /* room for "/proc/PID/stat" */
#define STORE_ALIVE_MEMO   STORE_THREADS /* processes an open's failchk
                                  * remembers it counted alive */
#define STORE_CKP_KBYTES   1024  /* checkpoint after this much log ... */
#define STORE_CKP_MINUTES  5     /* ... or this much time */
#define STORE_CKP_BULK_KBYTES (256 * 1024) /* ... in bulk mode */
#define STORE_CKP_PAUSE_US 1000  /* a checkpoint's pause before it looks
                                  * again at pages others were changing
                                  * (Berkeley DB's own: 1 s) */
#define STORE_REC_V1       1     /* the record encoding written today */
#define STORE_CERT_V2      2     /* certificate record with its CA label */
#define STORE_STR_MAX      0xffff /* largest u16-prefixed string */
#define STORE_BLOB8_MAX    0xff  /* largest u8-prefixed blob */
#define EVENT_KEY_LEN      16    /* time_us (8) + pid (4) + counter (4) */

/* Largest encoded records (see the *_encode functions). */
#define DEV_REC_MAX   (1 + 1 + 8 + 8 + 2 + EST_MAX_USER +                  \
                       1 + EST_SERIAL_LEN + 2 + EST_MAX_IP + 2 + EST_MAX_UA \
                       + 8)
#define CERT_REC_MAX  (1 + 1 + 1 + 8 + 8 + 8 + 4 +                         \
                       2 + EST_MAX_DEVICE_ID + 4 + EST_MAX_CERT_DER +     \
                       2 + EST_MAX_LABEL)
#define EVENT_REC_MAX (1 + 1 + 4 + 2 + EST_MAX_DEVICE_ID + 2 + EST_MAX_USER + \
                       2 + EST_MAX_IP + 2 + EST_MAX_UA +                   \
                       1 + EST_SERIAL_LEN + 2 + EST_MAX_REASON)

/* How a transaction of store_loop() commits. */
enum store_mode {
	STORE_SYNC,     /* durable: the log is flushed at commit */
	STORE_NOSYNC,   /* DB_TXN_WRITE_NOSYNC: written, not flushed */
	STORE_NOTXN     /* no transaction: single reads */
};

const char *const est_op_names[EST_OP__MAX] = {
	"none", "cacerts", "simpleenroll", "simplereenroll", "bootstrap",
	"other", "delete", "revoke", "approve", "reject", "serverkeygen"
};

const char *const est_dev_state_names[DEV_STATE__MAX] = {
	"none", "bootstrapped", "enrolled", "pending", "revoked"
};

const char *const est_cert_status_names[CERT_STATUS__MAX] = {
	"none", "valid", "superseded", "revoked"
};

struct est_store {
	char   *dir;        /* environment directory (owned) */
	DB_ENV *env;        /* NULL while closed after a failed reopen */
	DB     *devices;
	DB     *certs;
	DB     *by_device;
	DB     *events;
	DB     *ev_by_dev;
	DB     *devidx;
	DB     *pending;    /* approval queue (queue section) */
	DB     *rate;       /* rate-limit windows (queue section) */
	DB     *counters;
	DB     *revoked;    /* revoked index (revocation section) */
	int     bulk;       /* store_bulk(): no log flush, rare checkpoints */
	int     regfd;      /* STORE_REGISTRY, from the wait for the open
	                     * lock until the environment is closed, or -1 */
};

/* One pending change of a counter (key, amount). */
struct ctr_delta {
	unsigned char key[CTR_KEY_MAX];
	size_t        klen;
	int64_t       delta;
};

struct est_txn {
	struct est_store *st;
	DB_TXN           *tid;      /* NULL for STORE_NOTXN reads */
	int               deadlock; /* a call hit DB_LOCK_DEADLOCK */
	int               panic;    /* a call hit DB_RUNRECOVERY */
	struct ctr_delta *deltas;   /* counter changes applied at commit */
	size_t            ndeltas;
	size_t            cdeltas;  /* allocated */
	int               nomem;    /* recording a delta failed */
};

/* Arguments of the single-read functions run through store_loop(). */
struct store_get_arg {
	const char          *id;
	struct est_device   *dev;
	const unsigned char *serial;
	size_t               serial_len;
	struct est_cert     *cert;
};

/* Per-process counter making event keys unique within a microsecond. */
static uint32_t event_seq;

/* ---- record encoding ------------------------------------------------- */

/* An encoder writing into a caller's buffer; overflow is sticky. */
struct enc {
	unsigned char *buf;
	size_t         cap;
	size_t         len;
	int            overflow;
};

/* A decoder reading a record; any short or bad field makes it bad. */
struct dec {
	const unsigned char *p;
	size_t               len;
	size_t               off;
	int                  bad;
};

/* Appends n bytes; sets overflow instead if they do not fit. */
static void
enc_bytes(struct enc *e, const void *p, size_t n)
{
	if (e->overflow || n > e->cap - e->len) {
		e->overflow = 1;
		return;
	}
	if (n > 0)
		memcpy(e->buf + e->len, p, n);
	e->len += n;
}

/* Appends an unsigned integer of width bytes, big-endian. */
static void
enc_uint(struct enc *e, uint64_t v, size_t width)
{
	unsigned char b[8];
	size_t        i;

	for (i = 0; i < width; i++)
		b[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
	enc_bytes(e, b, width);
}

/* Appends a string with a 16-bit length prefix. */
static void
enc_str(struct enc *e, const char *s, size_t len)
{
	if (len > STORE_STR_MAX) {
		e->overflow = 1;
		return;
	}
	enc_uint(e, len, 2);
	enc_bytes(e, s, len);
}

/* Appends a blob with an 8-bit length prefix. */
static void
enc_blob8(struct enc *e, const unsigned char *p, size_t len)
{
	if (len > STORE_BLOB8_MAX) {
		e->overflow = 1;
		return;
	}
	enc_uint(e, len, 1);
	enc_bytes(e, p, len);
}

/* Returns a pointer to the next n bytes of the record, or NULL (and
 * marks the decoder bad) if fewer remain. */
static const unsigned char *
dec_take(struct dec *d, size_t n)
{
	const unsigned char *p;

	if (d->bad || n > d->len - d->off) {
		d->bad = 1;
		return NULL;
	}
	p = d->p + d->off;
	d->off += n;
	return p;
}

/* Reads a big-endian unsigned integer of width bytes; 0 if short. */
static uint64_t
dec_uint(struct dec *d, size_t width)
{
	const unsigned char *p;
	uint64_t             v = 0;
	size_t               i;

	if ((p = dec_take(d, width)) == NULL)
		return 0;
	for (i = 0; i < width; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reads a 16-bit-length string into out (size bytes, NUL-terminated);
 * a string that does not fit or holds a NUL makes the decoder bad. */
static void
dec_str(struct dec *d, char *out, size_t size)
{
	const unsigned char *p;
	size_t               len;

	len = (size_t)dec_uint(d, 2);
	if (d->bad || len >= size || (p = dec_take(d, len)) == NULL ||
	    memchr(p, '\0', len) != NULL) {
		d->bad = 1;
		out[0] = '\0';
		return;
	}
	memcpy(out, p, len);
	out[len] = '\0';
}

/* Reads an 8-bit-length blob into out (at most size bytes). */
static void
dec_blob8(struct dec *d, unsigned char *out, size_t size, size_t *outlen)
{
	const unsigned char *p;
	size_t               len;

	*outlen = 0;
	len = (size_t)dec_uint(d, 1);
	if (d->bad || len > size || (p = dec_take(d, len)) == NULL) {
		d->bad = 1;
		return;
	}
	memcpy(out, p, len);
	*outlen = len;
}

/* Sets *len to the length of the NUL-terminated string in a field of
 * size bytes.  Returns 0, or -1 if the field holds no NUL. */
static int
field_len(const char *s, size_t size, size_t *len)
{
	*len = strnlen(s, size);
	return *len < size ? 0 : -1;
}

/* Encodes a device record (v2: version, state, created, updated, owner,
 * serial, last_ip, last_ua, not_after; v1 lacked not_after) into buf (DEV_REC_MAX bytes).  Returns the
 * record length, or 0 if a field is out of range. */
static size_t
device_encode(const struct est_device *dev, unsigned char *buf)
{
	struct enc e = { buf, DEV_REC_MAX, 0, 0 };
	size_t     owner, ip, ua;

	if ((unsigned)dev->state >= DEV_STATE__MAX ||
	    dev->serial_len > EST_SERIAL_LEN ||
	    field_len(dev->owner, sizeof(dev->owner), &owner) == -1 ||
	    field_len(dev->last_ip, sizeof(dev->last_ip), &ip) == -1 ||
	    field_len(dev->last_ua, sizeof(dev->last_ua), &ua) == -1)
		return 0;
	enc_uint(&e, STORE_REC_V2, 1);
	enc_uint(&e, (uint64_t)dev->state, 1);
	enc_uint(&e, (uint64_t)dev->created, 8);
	enc_uint(&e, (uint64_t)dev->updated, 8);
	enc_str(&e, dev->owner, owner);
	enc_blob8(&e, dev->serial, dev->serial_len);
	enc_str(&e, dev->last_ip, ip);
	enc_str(&e, dev->last_ua, ua);
	enc_uint(&e, (uint64_t)dev->not_after, 8);
	return e.overflow ? 0 : e.len;
}

/* Decodes a device record whose key is the device ID into out.
 * Returns EST_OK or EST_ERR_INTERNAL for a malformed record. */
static enum est_err
device_decode(const DBT *key, const DBT *data, struct est_device *out)
{
	struct dec d = { data->data, data->size, 0, 0 };
	unsigned   state, version;

	memset(out, 0, sizeof(*out));
	if (key->size == 0 || key->size > EST_MAX_DEVICE_ID ||
	    memchr(key->data, '\0', key->size) != NULL)
		goto bad;
	memcpy(out->id, key->data, key->size);
	out->id[key->size] = '\0';
	version = (unsigned)dec_uint(&d, 1);
	if (version != STORE_REC_V1 && version != STORE_REC_V2)
		goto bad;
	state = (unsigned)dec_uint(&d, 1);
	out->created = (int64_t)dec_uint(&d, 8);
	out->updated = (int64_t)dec_uint(&d, 8);
	dec_str(&d, out->owner, sizeof(out->owner));
	dec_blob8(&d, out->serial, sizeof(out->serial), &out->serial_len);
	dec_str(&d, out->last_ip, sizeof(out->last_ip));
	dec_str(&d, out->last_ua, sizeof(out->last_ua));
	if (version == STORE_REC_V2)
		out->not_after = (int64_t)dec_uint(&d, 8);
	if (d.bad || d.off != d.len || state >= DEV_STATE__MAX)
		goto bad;
	out->state = (enum est_dev_state)state;
	return EST_OK;
bad:
	memset(out, 0, sizeof(*out));
	est_log(EST_LOG_ERR, "store: malformed device record (%u bytes)",
	    (unsigned)data->size);
	return est_fail(EST_ERR_INTERNAL, "store: malformed device record");
}

/* Encodes a certificate record (v2: version, status, op, not_before,
 * not_after, revoked_at, reason, device, der, CA label; v1 records end
 * after der and are read with label "") into buf (CERT_REC_MAX bytes).
 * Returns the record length, or 0 if a field is out of range. */
static size_t
cert_encode(const struct est_cert *c, unsigned char *buf)
{
	struct enc e = { buf, CERT_REC_MAX, 0, 0 };
	size_t     dev, lab;

	if ((unsigned)c->status >= CERT_STATUS__MAX ||
	    (unsigned)c->op >= EST_OP__MAX ||
	    field_len(c->device, sizeof(c->device), &dev) == -1 ||
	    field_len(c->label, sizeof(c->label), &lab) == -1 ||
	    c->der_len > EST_MAX_CERT_DER ||
	    (c->der_len > 0 && c->der == NULL))
		return 0;
	enc_uint(&e, STORE_CERT_V2, 1);
	enc_uint(&e, (uint64_t)c->status, 1);
	enc_uint(&e, (uint64_t)c->op, 1);
	enc_uint(&e, (uint64_t)c->not_before, 8);
	enc_uint(&e, (uint64_t)c->not_after, 8);
	enc_uint(&e, (uint64_t)c->revoked_at, 8);
	enc_uint(&e, (uint32_t)c->reason, 4);
	enc_str(&e, c->device, dev);
	enc_uint(&e, c->der_len, 4);
	enc_bytes(&e, c->der, c->der_len);
	enc_str(&e, c->label, lab);
	return e.overflow ? 0 : e.len;
}

/* Finds the device ID inside an encoded certificate record: sets *off
 * and *len to where it lies in data.  Returns 0, or -1 if malformed. */
static int
cert_rec_device(const DBT *data, size_t *off, size_t *len)
{
	struct dec d = { data->data, data->size, 0, 0 };
	unsigned   v = (unsigned)dec_uint(&d, 1);

	if (v != STORE_REC_V1 && v != STORE_CERT_V2)
		return -1;
	(void)dec_take(&d, 1 + 1 + 8 + 8 + 8 + 4);
	*len = (size_t)dec_uint(&d, 2);
	*off = d.off;
	if (d.bad || *len > EST_MAX_DEVICE_ID || dec_take(&d, *len) == NULL)
		return -1;
	return 0;
}

/* Decodes a certificate record whose key is the serial into out; with
 * want_der, out->der is malloc'd (NULL when empty) and the caller frees
 * it with cert_clear(); without, der stays NULL (der_len is set).
 * Returns EST_OK, EST_ERR_NOMEM, or EST_ERR_INTERNAL if malformed. */
static enum est_err
cert_decode(const DBT *key, const DBT *data, struct est_cert *out,
    int want_der)
{
	struct dec           d = { data->data, data->size, 0, 0 };
	const unsigned char *der;
	unsigned             status, op, version;
	size_t               der_len;

	memset(out, 0, sizeof(*out));
	if (key->size == 0 || key->size > EST_SERIAL_LEN)
		goto bad;
	memcpy(out->serial, key->data, key->size);
	out->serial_len = key->size;
	version = (unsigned)dec_uint(&d, 1);
	if (version != STORE_REC_V1 && version != STORE_CERT_V2)
		goto bad;
	status = (unsigned)dec_uint(&d, 1);
	op = (unsigned)dec_uint(&d, 1);
	out->not_before = (int64_t)dec_uint(&d, 8);
	out->not_after = (int64_t)dec_uint(&d, 8);
	out->revoked_at = (int64_t)dec_uint(&d, 8);
	out->reason = (int)(int32_t)(uint32_t)dec_uint(&d, 4);
	dec_str(&d, out->device, sizeof(out->device));
	der_len = (size_t)dec_uint(&d, 4);
	der = dec_take(&d, der_len);
	if (version == STORE_CERT_V2)
		dec_str(&d, out->label, sizeof(out->label));
	if (d.bad || der_len > EST_MAX_CERT_DER || der == NULL ||
	    d.off != d.len ||
	    status >= CERT_STATUS__MAX || op >= EST_OP__MAX)
		goto bad;
	out->status = (enum est_cert_status)status;
	out->op = (enum est_op)op;
	if (!want_der)
		out->der_len = der_len;
	else if (der_len > 0) {
		if ((out->der = malloc(der_len)) == NULL) {
			memset(out, 0, sizeof(*out));
			return est_fail(EST_ERR_NOMEM, "store: out of memory");
		}
		memcpy(out->der, der, der_len);
		out->der_len = der_len;
	}
	return EST_OK;
bad:
	memset(out, 0, sizeof(*out));
	est_log(EST_LOG_ERR, "store: malformed certificate record (%u bytes)",
	    (unsigned)data->size);
	return est_fail(EST_ERR_INTERNAL,
	    "store: malformed certificate record");
}

/* Encodes an event record (v1: version, op, status, device, user, ip,
 * ua, serial, reason; the time is in the key) into buf (EVENT_REC_MAX
 * bytes).  Returns the record length, or 0 if a field is out of range. */
static size_t
event_encode(const struct est_event *ev, unsigned char *buf)
{
	struct enc e = { buf, EVENT_REC_MAX, 0, 0 };
	size_t     dev, user, ip, ua, reason;

	if ((unsigned)ev->op >= EST_OP__MAX ||
	    ev->serial_len > EST_SERIAL_LEN ||
	    field_len(ev->device, sizeof(ev->device), &dev) == -1 ||
	    field_len(ev->user, sizeof(ev->user), &user) == -1 ||
	    field_len(ev->ip, sizeof(ev->ip), &ip) == -1 ||
	    field_len(ev->ua, sizeof(ev->ua), &ua) == -1 ||
	    field_len(ev->reason, sizeof(ev->reason), &reason) == -1)
		return 0;
	enc_uint(&e, STORE_REC_V1, 1);
	enc_uint(&e, (uint64_t)ev->op, 1);
	enc_uint(&e, (uint32_t)ev->status, 4);
	enc_str(&e, ev->device, dev);
	enc_str(&e, ev->user, user);
	enc_str(&e, ev->ip, ip);
	enc_str(&e, ev->ua, ua);
	enc_blob8(&e, ev->serial, ev->serial_len);
	enc_str(&e, ev->reason, reason);
	return e.overflow ? 0 : e.len;
}

/* ---- errors ------------------------------------------------------------ */

/* Returns whether process pid is a zombie: dead, its files closed and
 * its mappings gone, but not yet reaped by its parent (the state letter
 * after the last ')' of /proc/PID/stat is Z or X).  0 when unknown. */
static int
store_pid_zombie(pid_t pid)
{
	char    path[STORE_PROC_PATH], buf[STORE_PROC_STAT];
	char   *p;
	ssize_t n;
	int     fd;

	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2] == 'Z' || p[2] == 'X';
}

/* The processes this process's failchk counted alive during the
 * environment open in progress (store_handles_open() turns the memo on
 * and empties it). */
static pid_t  alive_seen[STORE_ALIVE_MEMO];
static size_t alive_nseen;
static int    alive_memo;

/* Berkeley DB's is-alive test for failchk (DB_ENV->set_isalive): a
 * worker is alive while its pid exists and is not a zombie.  A worker
 * killed a moment ago stays a zombie until its supervisor reaps it:
 * counted alive, failchk would leave its locks and transactions in
 * place for the other workers to wait on.  During an open, a process
 * once counted alive stays alive: failchk checks locks, transactions
 * and mutexes one after another, and a worker dying in between had its
 * mutexes freed but not its locks, on which the next failchk panicked
 * and deadlocked (issue 7); left whole, the next failchk frees it all.
 * Returns 1 if alive. */
static int
store_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	size_t i;
	int    alive;

	(void)env;
	(void)tid;
	(void)flags;
	for (i = 0; alive_memo && i < alive_nseen; i++)
		if (alive_seen[i] == pid)
			return 1;
	alive = !(kill(pid, 0) == -1 && errno == ESRCH) &&
	    !store_pid_zombie(pid);
	if (alive && alive_memo && alive_nseen < STORE_ALIVE_MEMO)
		alive_seen[alive_nseen++] = pid;
	return alive;
}

/* Routes Berkeley DB's own diagnostics to our log. */
static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	est_log(EST_LOG_WARN, "store: berkeley db: %s", msg);
}

/* Routes Berkeley DB's informational messages to our log. */
static void
store_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	est_log(EST_LOG_INFO, "store: berkeley db: %s", msg);
}

/* Logs and records a store failure: what failed in dir, and why.
 * Returns EST_ERR_STORE. */
static enum est_err
store_fail(const char *dir, const char *what, int ret)
{
	if (ret == ENOSPC)
		est_log(EST_LOG_ERR, "store: %s: disk full", dir);
	est_log(EST_LOG_ERR, "store: %s: %s: %s", dir, what, db_strerror(ret));
	return est_fail(EST_ERR_STORE, "store: %s: %s: %s", dir, what,
	    db_strerror(ret));
}

/* Classifies a Berkeley DB error inside a transaction: deadlocks and
 * panics mark t so store_loop() retries or recovers.  Returns
 * EST_ERR_DEADLOCK or EST_ERR_STORE. */
static enum est_err
txn_fail(struct est_txn *t, const char *what, int ret)
{
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED) {
		t->deadlock = 1;
		return EST_ERR_DEADLOCK;
	}
	if (ret == DB_RUNRECOVERY)
		t->panic = 1;
	return store_fail(t->st->dir, what, ret);
}

/* Returns the error to give before touching Berkeley DB in a transaction
 * that already hit a deadlock or panic (it may only be aborted), else
 * EST_OK. */
static enum est_err
txn_usable(const struct est_txn *t)
{
	if (t->deadlock)
		return EST_ERR_DEADLOCK;
	if (t->panic || t->st->env == NULL)
		return est_fail(EST_ERR_STORE, "store: %s: needs recovery",
		    t->st->dir);
	return EST_OK;
}

/* ---- opening and closing ------------------------------------------------ */

/*
 * The secondary-index callback: sets skey to the device ID inside the
 * certificate record pdata (pointing into pdata, no allocation).
 * Returns 0, or DB_DONOTINDEX for a certificate without device or a
 * malformed record (which must not stop the index from being built).
 */
static int
by_device_key(DB *sdb, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	unsigned char *base = pdata->data;
	size_t         off, len;

	(void)sdb;
	(void)pkey;
	if (cert_rec_device(pdata, &off, &len) == -1) {
		est_log(EST_LOG_WARN, "store: malformed certificate record "
		    "(%u bytes) not indexed", (unsigned)pdata->size);
		return DB_DONOTINDEX;
	}
	if (len == 0)
		return DB_DONOTINDEX;
	memset(skey, 0, sizeof(*skey));
	skey->data = base + off;
	skey->size = (u_int32_t)len;
	return 0;
}

/* Returns the next number of a small per-process pseudo-random sequence
 * (xorshift32, seeded from the pid and clock): jitter, not security. */
static uint32_t
store_jitter(void)
{
	static uint32_t x;
	struct timespec ts;

	if (x == 0) {
		(void)clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint32_t)getpid() * 2654435761u ^ (uint32_t)ts.tv_nsec;
		if (x == 0)
			x = 1;
	}
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* Sleeps before deadlock retry attempt (from 1): a random time up to
 * STORE_BACKOFF_NS doubled per attempt, capped at STORE_BACKOFF_MAX_NS,
 * so the transactions that collided do not collide again in step. */
static void
store_backoff(int attempt)
{
	struct timespec ts;
	long            max = STORE_BACKOFF_NS, ns;
	int             i;

	for (i = 1; i < attempt && max < STORE_BACKOFF_MAX_NS; i++)
		max *= 2;
	if (max > STORE_BACKOFF_MAX_NS)
		max = STORE_BACKOFF_MAX_NS;
	ns = max / 2 + (long)(store_jitter() % (uint32_t)(max / 2 + 1));
	ts.tv_sec = ns / 1000000000L;
	ts.tv_nsec = ns % 1000000000L;
	(void)nanosleep(&ts, NULL);
}

/* Closes st's databases (the index first) and sets them to NULL;
 * errors (as after a panic) are logged, not returned. */
static void
store_dbs_close(struct est_store *st)
{
	DB   **dbs[] = { &st->by_device, &st->certs, &st->devices,
	                 &st->ev_by_dev, &st->events, &st->devidx,
	                 &st->pending, &st->rate,
	                 &st->counters, &st->revoked };
	size_t i;
	int    ret;

	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if (*dbs[i] == NULL)
			continue;
		if ((ret = (*dbs[i])->close(*dbs[i], 0)) != 0)
			est_log(EST_LOG_WARN, "store: %s: close database: %s",
			    st->dir, db_strerror(ret));
		*dbs[i] = NULL;
	}
}

/* Closes every handle of st (databases, then the environment) and sets
 * them to NULL; errors are logged, not returned.  After a panic Berkeley
 * DB closes the files but does not free the handles (about 23 KB per
 * recovery; freeing them would mean writing to the recovered log). */
static void
store_handles_close(struct est_store *st)
{
	int ret;

	store_dbs_close(st);
	if (st->env != NULL) {
		if ((ret = st->env->close(st->env, 0)) != 0)
			est_log(EST_LOG_WARN, "store: %s: close environment: %s",
			    st->dir, db_strerror(ret));
		st->env = NULL;
	}
	if (st->regfd != -1) {
		(void)close(st->regfd);
		st->regfd = -1;
	}
}

/* Creates and opens one btree database of st's environment into *out
 * (dup: sorted duplicates allowed).  Returns 0 or a Berkeley DB error;
 * *out stays NULL on error. */
static int
store_db_open(struct est_store *st, DB **out, const char *name, int dup)
{
	DB  *db = NULL;
	int  ret;

	if ((ret = db_create(&db, st->env, 0)) != 0)
		return ret;
	if (dup && (ret = db->set_flags(db, DB_DUP | DB_DUPSORT)) != 0)
		goto out;
	ret = db->open(db, NULL, name, NULL, DB_BTREE, STORE_DB_FLAGS,
	    STORE_FILE_MODE);
out:
	if (ret != 0)
		(void)db->close(db, 0);
	else
		*out = db;
	return ret;
}

/* Opens the databases of st and associates the index once.
 * Returns 0 or a Berkeley DB error with *what naming the step. */
static int
store_dbs_open_once(struct est_store *st, const char **what)
{
	int ret;

	*what = STORE_DB_DEVICES;
	if ((ret = store_db_open(st, &st->devices, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_CERTS;
	if ((ret = store_db_open(st, &st->certs, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_BY_DEVICE;
	if ((ret = store_db_open(st, &st->by_device, *what, 1)) != 0)
		return ret;
	*what = STORE_DB_EVENTS;
	if ((ret = store_db_open(st, &st->events, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_EV_BY_DEV;
	if ((ret = store_db_open(st, &st->ev_by_dev, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_DEVIDX;
	if ((ret = store_db_open(st, &st->devidx, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_PENDING;
	if ((ret = store_db_open(st, &st->pending, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_RATE;
	if ((ret = store_db_open(st, &st->rate, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_COUNTERS;
	if ((ret = store_db_open(st, &st->counters, *what, 0)) != 0)
		return ret;
	*what = STORE_DB_REVOKED;
	if ((ret = store_db_open(st, &st->revoked, *what, 0)) != 0)
		return ret;
	*what = "associate " STORE_DB_BY_DEVICE;
	return st->certs->associate(st->certs, NULL, st->by_device,
	    by_device_key, DB_CREATE);
}

/* Opens the databases of st; on a deadlock (several workers creating
 * them at once) closes them and retries up to EST_TXN_RETRIES times.
 * Returns EST_OK or EST_ERR_STORE (the databases closed). */
static enum est_err
store_dbs_open(struct est_store *st)
{
	const char *what = "open databases";
	int         ret, attempt;

	for (attempt = 0; ; attempt++) {
		if ((ret = store_dbs_open_once(st, &what)) == 0)
			return EST_OK;
		store_dbs_close(st);
		if ((ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED) ||
		    attempt >= EST_TXN_RETRIES)
			break;
		store_backoff(attempt + 1);
	}
	return store_fail(st->dir, what, ret);
}

/* Set while this process runs a checkpoint (store_ckp()). */
static int store_in_ckp;

/*
 * Berkeley DB's pause (db_env_set_func_yield(); its own is select()):
 * secs and usecs 0 give up the processor, else the thread sleeps that
 * long, except in a checkpoint, where a pause is at most
 * STORE_CKP_PAUSE_US.  A checkpoint that finds a dirty page another
 * worker is changing at that moment skips it and, once through its
 * list, pauses a whole second before it looks again (__memp_sync_int)
 * although the page is free within microseconds; meanwhile every other
 * worker that has answered waits for the checkpoint mutex, so every
 * request in flight waited a second.  Returns 0 or errno.
 */
static int
store_yield(u_long secs, u_long usecs)
{
	struct timespec ts;

	if (store_in_ckp && (secs > 0 || usecs > STORE_CKP_PAUSE_US)) {
		secs = 0;
		usecs = STORE_CKP_PAUSE_US;
	}
	if (secs == 0 && usecs == 0)
		return sched_yield() == 0 ? 0 : errno;
	ts.tv_sec = (time_t)(secs + usecs / 1000000);
	ts.tv_nsec = (long)(usecs % 1000000) * 1000;
	/* A signal ends the pause early, as it does Berkeley DB's. */
	(void)nanosleep(&ts, NULL);
	return 0;
}

/* Creates an environment handle for st->dir, configures it and opens
 * (or joins) the environment: one attempt.  Returns 0 with st->env set
 * (the caller owns it), or a Berkeley DB error with *what naming the
 * step and nothing left open. */
static int
store_env_open(struct est_store *st, const char **what)
{
	DB_ENV  *env = NULL;
	uint32_t mutexes = 0;
	int      ret;

	/* Process-wide; before any handle, as its manual says. */
	*what = "set yield function";
	if ((ret = db_env_set_func_yield(store_yield)) != 0)
		return ret;
	*what = "create environment";
	if ((ret = db_env_create(&env, 0)) != 0)
		return ret;
	env->set_errcall(env, store_errcall);
	/* Informational messages (failchk's "Freeing ...") go to stdout
	 * by default: that is the answer of a plain-CGI (nph) program. */
	env->set_msgcall(env, store_msgcall);
	*what = "set cache size";
	if ((ret = env->set_cachesize(env, 0, EST_STORE_CACHE_BYTES, 1)) != 0)
		goto out;
	*what = "set lock table size";
	if ((ret = env->set_lk_max_locks(env, STORE_MAX_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, STORE_MAX_LOCKS)) != 0)
		goto out;
	/* All made with the region (initial = maximum): its size is
	 * fixed when the environment is made, nothing grows later. */
	*what = "set mutex count";
	if ((ret = env->mutex_set_init(env, STORE_MAX_MUTEXES)) != 0 ||
	    (ret = env->mutex_set_max(env, STORE_MAX_MUTEXES)) != 0)
		goto out;
	*what = "set deadlock detection";
	if ((ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0)
		goto out;
	*what = "set log auto-remove";
	if ((ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		goto out;
	/* New log files written out whole when made (not sparse): a log
	 * write then never needs a new block (space.c). */
	*what = "set log zero";
	if ((ret = env->log_set_config(env, DB_LOG_ZERO, 1)) != 0)
		goto out;
	/* A worker killed with its environment open (kill -9, crash): the
	 * next opener runs failchk (DB_FAILCHK), which releases the dead
	 * process's locks and aborts its transactions in the live
	 * environment; only when that cannot be done (it died holding a
	 * mutex) does Berkeley DB fall back to recovery. */
	*what = "set thread count";
	if ((ret = env->set_thread_count(env, STORE_THREADS)) != 0)
		goto out;
	*what = "set is-alive";
	if ((ret = env->set_isalive(env, store_isalive)) != 0)
		goto out;
	/* Write the shared region files out in full when they are created,
	 * so a full disk fails the open (503) instead of a later SIGBUS in
	 * whichever worker first touches an unbacked page of one.  (Parts
	 * Berkeley DB adds to a region later are not covered: README.) */
	*what = "set region init";
	if ((ret = env->set_flags(env, DB_REGION_INIT, 1)) != 0)
		goto out;
	*what = "open environment";
	if ((ret = env->open(env, st->dir, STORE_ENV_FLAGS,
	    STORE_FILE_MODE)) != 0)
		goto out;
	/* The mutex region's size is set when the environment is made; one
	 * an older estcgi made keeps its smaller one (BDB2034 with many
	 * workers) until recovery remakes it. */
	if (env->mutex_get_max(env, &mutexes) == 0 &&
	    mutexes < STORE_MAX_MUTEXES)
		est_log(EST_LOG_WARN, "store: %s: mutex region smaller than "
		    "%d mutexes (made by an older estcgi; many workers will "
		    "fail with BDB2034): stop every worker and run "
		    "db5.3_recover -h %s as the store's owner to remake it",
		    st->dir, STORE_MAX_MUTEXES, st->dir);
	st->env = env;
	env = NULL;
out:
	if (env != NULL)
		(void)env->close(env, 0);
	return ret;
}

/* Returns whether a failed environment open may succeed at once when
 * tried again: another process was recovering or checking the
 * environment (DB_RUNRECOVERY, a lock conflict), or failchk could not
 * yet free a dead worker's mutexes (EBUSY; the next open frees them). */
static int
store_open_transient(int ret)
{
	return ret == EBUSY || ret == EAGAIN || ret == DB_RUNRECOVERY ||
	    ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED;
}

/* The watchdog's log line, written ready before it is armed. */
static char   stuck_line[STORE_STUCK_LINE];
static size_t stuck_len;

/* This process's CPU time when the watchdog was armed or last found
 * the open working. */
static struct timespec stuck_cpu;

/* What arming the open watchdog replaced, put back by disarming. */
struct store_watchdog {
	struct sigaction old;   /* the previous SIGALRM action */
	unsigned         prev;  /* seconds left on a previous alarm() */
	time_t           armed; /* when the watchdog was armed */
};

/* SIGALRM while an environment open is in progress: it waits for
 * something that will not come (a mutex this process or a dead one
 * holds: Berkeley DB deadlocked on itself after a failed failchk in
 * issue 7), holding the open lock all others wait for.  Writes the
 * prepared line to the error log (fd 2) and exits, so the supervisor
 * (prefork.c, mod_fcgid, lighttpd, systemd) starts a fresh worker; the
 * next opener's failchk or recovery deals with what this one held.
 * An open that used STORE_OPEN_PROGRESS_NS of CPU since the last look
 * is working (recovery of a long log on a slow disk) and gets another
 * STORE_OPEN_TIMEOUT; a deadlocked one sleeps on a futex.  Only
 * async-signal-safe calls: clock_gettime(), alarm(), write(), _exit(). */
static void
store_open_stuck(int sig)
{
	struct timespec now;
	ssize_t         n;

	(void)sig;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) == 0 &&
	    (now.tv_sec - stuck_cpu.tv_sec) * 1000000000L +
	    (now.tv_nsec - stuck_cpu.tv_nsec) >= STORE_OPEN_PROGRESS_NS) {
		stuck_cpu = now;
		(void)alarm(STORE_OPEN_TIMEOUT);
		return;
	}
	n = write(STDERR_FILENO, stuck_line, stuck_len);
	(void)n;
	_exit(STORE_STUCK_EXIT);
}

/* Arms the open watchdog for dir: writes its log line (est_log()'s
 * stderr line, est_log_format()) and has SIGALRM end the process after
 * STORE_OPEN_TIMEOUT seconds.  The previous SIGALRM action and alarm
 * are saved in *wd for store_watchdog_disarm(). */
static void
store_watchdog_arm(const char *dir, struct store_watchdog *wd)
{
	struct sigaction sa;

	stuck_len = est_log_format(stuck_line, sizeof(stuck_line),
	    EST_LOG_ERR, "store: %s: opening the environment made no "
	    "progress for %d s (deadlocked in Berkeley DB?); worker exiting",
	    dir, STORE_OPEN_TIMEOUT);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = store_open_stuck;
	sigemptyset(&sa.sa_mask);
	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &stuck_cpu);
	(void)sigaction(SIGALRM, &sa, &wd->old);
	wd->armed = time(NULL);
	wd->prev = alarm(STORE_OPEN_TIMEOUT);
}

/* Disarms the open watchdog and restores the SIGALRM action and the
 * rest of any previous alarm saved in *wd (at least a second). */
static void
store_watchdog_disarm(const struct store_watchdog *wd)
{
	time_t spent;

	(void)alarm(0);
	(void)sigaction(SIGALRM, &wd->old, NULL);
	if (wd->prev == 0)
		return;
	spent = time(NULL) - wd->armed;
	(void)alarm(spent >= 0 && (time_t)wd->prev > spent ?
	    wd->prev - (unsigned)spent : 1);
}

/* Returns the seconds of CLOCK_MONOTONIC. */
static time_t
store_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The process found holding the open lock for STORE_OPEN_WAIT seconds
 * (one store per process): later opens give up at once while it still
 * holds it, so each request is not kept waiting again. */
static pid_t store_stuck_pid = -1;

/*
 * Waits for the lock Berkeley DB serialises environment opens with
 * (STORE_REGISTRY_BYTE of STORE_REGISTRY) and takes it, so that the
 * environment open that follows in this process goes straight through
 * and only its own work is timed by the watchdog.  Berkeley DB's open
 * takes the same lock (a process's own locks do not conflict) and
 * releases it when done.  Any descriptor of the file being closed drops
 * all of this process's locks on it, Berkeley DB's included, so
 * st->regfd stays open until the environment is closed
 * (store_handles_close()).  Returns EST_OK holding the lock, EST_OK
 * without it when the file cannot be opened or locked (no environment
 * yet, no permission: the open itself then reports), or EST_ERR_STORE
 * when one other process has held the lock for STORE_OPEN_WAIT seconds
 * (stuck inside Berkeley DB, as in issue 7), or still holds it after
 * an earlier wait of this process gave up on it, or the lock is still
 * taken at deadline (store_now(): one for the whole store open, so
 * holders that take turns cannot make a request wait longer).
 */
static enum est_err
store_open_wait(struct est_store *st, time_t deadline)
{
	struct timespec nap = { 0, STORE_OPEN_POLL_NS };
	struct flock    fl;
	char            path[PATH_MAX];
	int             n;

	n = snprintf(path, sizeof(path), "%s/%s", st->dir, STORE_REGISTRY);
	if (n < 0 || (size_t)n >= sizeof(path))
		return EST_OK;
	if (st->regfd == -1 &&
	    (st->regfd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return EST_OK;
	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = STORE_REGISTRY_BYTE;
		fl.l_len = 1;
		if (fcntl(st->regfd, F_SETLK, &fl) == 0) {
			store_stuck_pid = -1;
			return EST_OK;
		}
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return EST_OK;
		if (fcntl(st->regfd, F_GETLK, &fl) == 0 &&
		    fl.l_type != F_UNLCK) {
			if (fl.l_pid == store_stuck_pid)
				return est_fail(EST_ERR_STORE, "store: %s: "
				    "process %ld's open is stuck", st->dir,
				    (long)fl.l_pid);
			if (store_now() >= deadline) {
				est_log(EST_LOG_ERR, "store: %s: waited %d s "
				    "for other processes' opens, process %ld "
				    "still opening (stuck in Berkeley DB?); not "
				    "waiting longer", st->dir, STORE_OPEN_WAIT,
				    (long)fl.l_pid);
				store_stuck_pid = fl.l_pid;
				return est_fail(EST_ERR_STORE, "store: %s: "
				    "process %ld's open is stuck", st->dir,
				    (long)fl.l_pid);
			}
		}
		(void)nanosleep(&nap, NULL);
	}
}

/* Opens (or joins) the environment in st->dir and its databases,
 * trying the environment up to STORE_OPEN_TRIES times while the failure
 * is transient (store_open_transient()).  Each try first waits its turn
 * (store_open_wait()); the environment open is then bounded by the
 * watchdog: one still going after STORE_OPEN_TIMEOUT seconds ends the
 * process (issue 7: a worker deadlocked inside DB_ENV->open with
 * DB_FAILCHK, and every later open waited behind it).  Returns EST_OK,
 * or EST_ERR_STORE with every handle closed. */
static enum est_err
store_handles_open(struct est_store *st)
{
	struct store_watchdog wd;
	const char           *what = "open environment";
	enum est_err          rc;
	time_t                deadline = store_now() + STORE_OPEN_WAIT;
	int                   ret, attempt;

	for (attempt = 1; ; attempt++) {
		if ((rc = store_open_wait(st, deadline)) != EST_OK)
			goto out;
		store_watchdog_arm(st->dir, &wd);
		alive_memo = 1;
		ret = store_env_open(st, &what);
		alive_memo = 0;
		alive_nseen = 0;
		store_watchdog_disarm(&wd);
		if (ret == 0)
			break;
		if (!store_open_transient(ret) || attempt >= STORE_OPEN_TRIES) {
			rc = store_fail(st->dir, what, ret);
			goto out;
		}
		est_log(EST_LOG_WARN, "store: %s: %s: %s; trying again",
		    st->dir, what, db_strerror(ret));
		store_backoff(attempt);
	}
	/* The disk blocks behind the mapped regions and the log (space.c). */
	if ((rc = space_preallocate(st->dir)) == EST_OK)
		rc = store_dbs_open(st);
out:
	if (rc != EST_OK)
		store_handles_close(st);
	return rc;
}

/*
 * Opens the store in directory dir (which must exist and be writable),
 * creating the environment and databases when missing and running
 * recovery when a dead worker left it inconsistent.  On EST_OK the
 * caller owns *out and closes it with store_close(); a store must not
 * be used across fork(): each process opens its own.  Returns EST_OK,
 * EST_ERR_NOMEM or EST_ERR_STORE (reason names dir and the cause).
 */
enum est_err
store_open(const char *dir, struct est_store **out)
{
	struct est_store *st = NULL;
	enum est_err      rc;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->dir = strdup(dir)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	st->regfd = -1;
	if ((rc = store_handles_open(st)) != EST_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	if (st != NULL) {
		free(st->dir);
		free(st);
	}
	return rc;
}

/* Checkpoints st's environment (DB_ENV->txn_checkpoint with kbytes and
 * minutes, 0 and 0 for now) with short pauses (store_yield()).  A
 * failure is logged. */
static void
store_ckp(struct est_store *st, u_int32_t kbytes, u_int32_t minutes)
{
	int ret;

	store_in_ckp = 1;
	ret = st->env->txn_checkpoint(st->env, kbytes, minutes, 0);
	store_in_ckp = 0;
	if (ret != 0)
		est_log(EST_LOG_WARN, "store: %s: checkpoint: %s", st->dir,
		    db_strerror(ret));
}

/* Checkpoints and closes the store's databases and environment and
 * frees st.  Safe on NULL.  A checkpoint opens log files by name: in a
 * store directory this process can no longer read (permissions changed
 * under it) that fails and panics the environment for every worker,
 * so then the handles are closed without one (the next checkpoint of
 * any worker covers it). */
void
store_close(struct est_store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL && access(st->dir, R_OK | W_OK | X_OK) != 0)
		est_log(EST_LOG_WARN, "store: %s: %s; closed without a "
		    "checkpoint", st->dir, strerror(errno));
	else if (st->env != NULL)
		store_ckp(st, 0, 0);
	store_handles_close(st);
	free(st->dir);
	free(st);
}

/* ---- transactions ----------------------------------------------------- */

static enum est_err ctr_apply(struct est_txn *);

/* Runs fn once in a transaction of the given mode (none for
 * STORE_NOTXN): on EST_OK applies the counter changes fn's calls
 * recorded and commits, otherwise aborts.  t reports
 * deadlock and panic.  Returns fn's or the commit's error. */
static enum est_err
store_once(struct est_store *st, est_txn_fn fn, void *arg,
    enum store_mode mode, struct est_txn *t)
{
	DB_TXN      *tid = NULL;
	enum est_err rc;
	u_int32_t    flags;
	int          ret;

	memset(t, 0, sizeof(*t));
	t->st = st;
	if (mode != STORE_NOTXN) {
		flags = mode == STORE_SYNC ? DB_TXN_SYNC : DB_TXN_WRITE_NOSYNC;
		if ((ret = st->env->txn_begin(st->env, NULL, &tid,
		    flags)) != 0)
			return txn_fail(t, "begin transaction", ret);
		t->tid = tid;
	}
	rc = fn(t, arg);
	if (rc == EST_OK && t->nomem)
		rc = est_fail(EST_ERR_NOMEM, "store: out of memory");
	if (rc == EST_OK && !t->deadlock && !t->panic)
		rc = ctr_apply(t);
	free(t->deltas);
	t->deltas = NULL;
	t->ndeltas = t->cdeltas = 0;
	if (tid != NULL) {
		t->tid = NULL;
		if (rc == EST_OK && !t->deadlock && !t->panic) {
			/* commit frees tid whether or not it succeeds */
			if ((ret = tid->commit(tid, 0)) != 0)
				rc = txn_fail(t, "commit", ret);
		} else if ((ret = tid->abort(tid)) != 0)
			(void)txn_fail(t, "abort", ret);
	}
	if (t->deadlock)
		rc = EST_ERR_DEADLOCK;
	else if (t->panic && rc == EST_OK)
		rc = EST_ERR_STORE;
	return rc;
}

/* store_checkpoint_after_request() was called: store_loop() does not
 * checkpoint. */
static int ckp_after_request;

/* Runs fn through store_once(), retrying on deadlock up to
 * EST_TXN_RETRIES times and, after DB_RUNRECOVERY (or a store left
 * closed by a failed reopen), reopening every handle and retrying once.
 * Returns fn's result, EST_ERR_DEADLOCK or EST_ERR_STORE. */
static enum est_err
store_loop(struct est_store *st, est_txn_fn fn, void *arg,
    enum store_mode mode)
{
	struct est_txn t;
	enum est_err   rc;
	int            attempt = 0, reopened = 0;

	/* A write needs room on the disk (space.c); refused before it
	 * starts, it leaves nothing behind. */
	if (mode != STORE_NOTXN && (rc = space_check(st->dir)) != EST_OK)
		return rc;
	for (;;) {
		if (st->env == NULL) {
			memset(&t, 0, sizeof(t));
			t.panic = 1;
			rc = EST_ERR_STORE;
		} else
			rc = store_once(st, fn, arg, mode, &t);
		if (t.panic) {
			if (reopened) {
				rc = est_fail(EST_ERR_STORE, "store: %s: still "
				    "failing after recovery", st->dir);
				break;
			}
			reopened = 1;
			attempt = 0;
			est_log(EST_LOG_WARN, "store: %s: reopening the "
			    "environment for recovery", st->dir);
			store_handles_close(st);
			if ((rc = store_handles_open(st)) != EST_OK)
				break;
			continue;
		}
		if (!t.deadlock)
			break;
		if (++attempt > EST_TXN_RETRIES) {
			est_log(EST_LOG_WARN, "store: %s: deadlock, gave up "
			    "after %d retries", st->dir, EST_TXN_RETRIES);
			rc = est_fail(EST_ERR_DEADLOCK, "store: busy, gave up "
			    "after %d retries", EST_TXN_RETRIES);
			break;
		}
		store_backoff(attempt);
	}
	if (rc == EST_OK && mode != STORE_NOTXN && !ckp_after_request)
		store_checkpoint(st);
	return rc;
}

/*
 * Checkpoints st when due (STORE_CKP_KBYTES of log or STORE_CKP_MINUTES
 * since the last one; a position check otherwise): writes the cache's
 * dirty pages to the database files so that recovery stays short and
 * old log files can go.  A due checkpoint can take a second on a slow
 * disk.  A failure is logged.
 */
void
store_checkpoint(struct est_store *st)
{
	if (st != NULL && st->env != NULL)
		store_ckp(st, st->bulk ? STORE_CKP_BULK_KBYTES :
		    STORE_CKP_KBYTES, STORE_CKP_MINUTES);
}

/* Leaves checkpoints to the caller's store_checkpoint() after each
 * answer is sent (FastCGI workers, serve.c), so no client waits for
 * one; else each write transaction checkpoints when due. */
void
store_checkpoint_after_request(void)
{
	ckp_after_request = 1;
}

/*
 * Runs fn(txn, arg) in one durable (synced) transaction: commits when fn
 * returns EST_OK, otherwise aborts and returns fn's error.  After a
 * deadlock (fn's txn_* calls return EST_ERR_DEADLOCK) the transaction is
 * aborted and fn is run again, up to EST_TXN_RETRIES times; after
 * DB_RUNRECOVERY the store is reopened and fn run once more.  So fn may
 * run several times: it must be idempotent apart from the store (reset
 * its outputs at entry, allocate nothing it cannot free on failure).
 * The txn handle is valid only during fn.  Returns fn's result,
 * EST_ERR_DEADLOCK or EST_ERR_STORE.
 */
enum est_err
store_run(struct est_store *st, est_txn_fn fn, void *arg)
{
	return store_loop(st, fn, arg, st->bulk ? STORE_NOSYNC : STORE_SYNC);
}

/* Turns bulk loading on or off for this handle (the loader's): its
 * store_run() transactions are written but not flushed at commit
 * (DB_TXN_WRITE_NOSYNC: a crash may lose the last ones, never corrupt)
 * and checkpoints come every STORE_CKP_BULK_KBYTES of log instead of
 * STORE_CKP_KBYTES.  store_close() checkpoints. */
void
store_bulk(struct est_store *st, int on)
{
	st->bulk = on != 0;
}

/* store_event_add()'s transaction body: adds the event arg. */
static enum est_err
event_add_fn(struct est_txn *t, void *arg)
{
	return txn_event_add(t, arg);
}

/* Adds ev in its own transaction, written but not flushed at commit (an
 * audit record must not cost an fsync); sets ev->time_us when 0.
 * Retried like store_run().  Returns EST_OK or a store error. */
enum est_err
store_event_add(struct est_store *st, struct est_event *ev)
{
	return store_loop(st, event_add_fn, ev, STORE_NOSYNC);
}

/* store_device_get()'s body: a plain read of one device. */
static enum est_err
device_get_fn(struct est_txn *t, void *arg)
{
	struct store_get_arg *a = arg;

	return txn_device_get(t, a->id, a->dev);
}

/* store_cert_get()'s body: a plain read of one certificate. */
static enum est_err
cert_get_fn(struct est_txn *t, void *arg)
{
	struct store_get_arg *a = arg;

	return txn_cert_get(t, a->serial, a->serial_len, a->cert);
}

/* Reads device id outside any transaction into out.  Returns EST_OK,
 * EST_ERR_NOT_FOUND or a store error. */
enum est_err
store_device_get(struct est_store *st, const char *id, struct est_device *out)
{
	struct store_get_arg a;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.dev = out;
	return store_loop(st, device_get_fn, &a, STORE_NOTXN);
}

/* Reads certificate serial outside any transaction into out (out->der
 * malloc'd; free with cert_clear()).  Returns EST_OK, EST_ERR_NOT_FOUND
 * or a store error. */
enum est_err
store_cert_get(struct est_store *st, const unsigned char *serial,
    size_t len, struct est_cert *out)
{
	struct store_get_arg a;

	memset(&a, 0, sizeof(a));
	a.serial = serial;
	a.serial_len = len;
	a.cert = out;
	return store_loop(st, cert_get_fn, &a, STORE_NOTXN);
}

/* ---- operations inside a transaction ---------------------------------- */

static enum est_err dev_index_change(struct est_txn *,
    const struct est_device *, const struct est_device *);
static enum est_err revoked_index(struct est_txn *, const struct est_cert *,
    int update);
static enum est_err event_index(struct est_txn *, const struct est_event *,
    const unsigned char *);

/* Copies device id into buf (EST_MAX_DEVICE_ID bytes) and points key at
 * it.  Returns EST_OK or EST_ERR_INTERNAL for an empty or long id. */
static enum est_err
device_key(const char *id, char *buf, DBT *key)
{
	size_t len = strnlen(id, EST_MAX_DEVICE_ID + 1);

	if (len == 0 || len > EST_MAX_DEVICE_ID)
		return est_fail(EST_ERR_INTERNAL,
		    "store: device ID empty or longer than %d bytes",
		    EST_MAX_DEVICE_ID);
	memcpy(buf, id, len);
	memset(key, 0, sizeof(*key));
	key->data = buf;
	key->size = (u_int32_t)len;
	return EST_OK;
}

/* Copies serial (len bytes) into buf (EST_SERIAL_LEN bytes) and points
 * key at it.  Returns EST_OK or EST_ERR_INTERNAL for a bad length. */
static enum est_err
cert_key(const unsigned char *serial, size_t len, unsigned char *buf,
    DBT *key)
{
	if (len == 0 || len > EST_SERIAL_LEN)
		return est_fail(EST_ERR_INTERNAL,
		    "store: serial length %zu not in 1..%d", len,
		    EST_SERIAL_LEN);
	memcpy(buf, serial, len);
	memset(key, 0, sizeof(*key));
	key->data = buf;
	key->size = (u_int32_t)len;
	return EST_OK;
}

/* Read flags for a get in t: DB_RMW (write lock, so that concurrent
 * read-then-write transactions serialize) inside a transaction. */
static u_int32_t
txn_read_flags(const struct est_txn *t)
{
	return t->tid != NULL ? DB_RMW : 0;
}

/* Reads the record keyed by device id in db (devices, pending) with
 * get flags into data (malloc'd: the caller frees data->data, also on
 * error) and key (pointing into kbuf).  what names the read in errors.
 * Returns EST_OK, EST_ERR_NOT_FOUND, EST_ERR_INTERNAL or txn_fail()'s
 * error. */
static enum est_err
txn_id_get(struct est_txn *t, DB *db, const char *id, u_int32_t flags,
    const char *what, char kbuf[EST_MAX_DEVICE_ID], DBT *key, DBT *data)
{
	enum est_err rc;
	int          ret;

	memset(data, 0, sizeof(*data));
	data->flags = DB_DBT_MALLOC;
	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = device_key(id, kbuf, key)) != EST_OK)
		return rc;
	ret = db->get(db, t->tid, key, data, flags);
	if (ret == DB_NOTFOUND)
		return EST_ERR_NOT_FOUND;
	if (ret != 0)
		return txn_fail(t, what, ret);
	return EST_OK;
}

/* Reads device id into out, write-locking it until the transaction
 * ends.  Returns EST_OK, EST_ERR_NOT_FOUND (out zeroed),
 * EST_ERR_DEADLOCK, EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_device_get(struct est_txn *t, const char *id, struct est_device *out)
{
	char         kbuf[EST_MAX_DEVICE_ID];
	DBT          key, data;
	enum est_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = txn_id_get(t, t->st->devices, id, txn_read_flags(t),
	    "read device", kbuf, &key, &data)) == EST_OK)
		rc = device_decode(&key, &data, out);
	free(data.data);
	return rc;
}

/* Writes dev (inserting or overwriting the record of dev->id), keeping
 * the device indexes and counters in step.  Returns EST_OK,
 * EST_ERR_DEADLOCK, EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_device_put(struct est_txn *t, const struct est_device *dev)
{
	struct est_device old;
	unsigned char buf[DEV_REC_MAX];
	char          kbuf[EST_MAX_DEVICE_ID];
	DBT           key, data;
	enum est_err  rc;
	size_t        len;
	int           ret;

	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = device_key(dev->id, kbuf, &key)) != EST_OK)
		return rc;
	if ((len = device_encode(dev, buf)) == 0)
		return est_fail(EST_ERR_INTERNAL,
		    "store: device %s has a field out of range", dev->id);
	/* The record it replaces, for the indexes and counters. */
	rc = txn_device_get(t, dev->id, &old);
	if (rc == EST_ERR_INTERNAL)
		est_log(EST_LOG_WARN, "store: overwriting the malformed record "
		    "of device %s", dev->id);
	else if (rc != EST_OK && rc != EST_ERR_NOT_FOUND)
		return rc;
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.size = (u_int32_t)len;
	if ((ret = t->st->devices->put(t->st->devices, t->tid, &key, &data,
	    0)) != 0)
		return txn_fail(t, "write device", ret);
	return dev_index_change(t, rc == EST_OK ? &old : NULL, dev);
}

/* Reads certificate serial (len bytes) into out, write-locking it until
 * the transaction ends; out->der is malloc'd, free it with cert_clear().
 * Returns EST_OK, EST_ERR_NOT_FOUND (out zeroed), EST_ERR_NOMEM,
 * EST_ERR_DEADLOCK, EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_cert_get(struct est_txn *t, const unsigned char *serial, size_t len,
    struct est_cert *out)
{
	unsigned char kbuf[EST_SERIAL_LEN];
	DBT           key, data;
	enum est_err  rc;
	int           ret;

	memset(out, 0, sizeof(*out));
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = cert_key(serial, len, kbuf, &key)) != EST_OK)
		goto out;
	ret = t->st->certs->get(t->st->certs, t->tid, &key, &data,
	    txn_read_flags(t));
	if (ret == DB_NOTFOUND)
		rc = EST_ERR_NOT_FOUND;
	else if (ret != 0)
		rc = txn_fail(t, "read certificate", ret);
	else
		rc = cert_decode(&key, &data, out, 1);
out:
	free(data.data);
	return rc;
}

/*
 * Write-locks key in db (DB_RMW) and checks it is absent.  Taking the
 * write lock first spares the put a read lock it would later upgrade:
 * two writers upgrading on one page deadlock, and appends (events) or
 * index updates (certificates) often share a page.  Returns EST_OK if
 * absent, EST_ERR_EXISTS if present, or txn_fail()'s error.
 */
static enum est_err
txn_lock_absent(struct est_txn *t, DB *db, DBT *key, const char *what)
{
	int ret;

	ret = db->exists(db, t->tid, key, txn_read_flags(t));
	if (ret == DB_NOTFOUND)
		return EST_OK;
	if (ret == 0)
		return est_fail(EST_ERR_EXISTS, "store: %s key already stored",
		    what);
	return txn_fail(t, "look up key", ret);
}

/* Writes certificate c with put flags (0 or DB_NOOVERWRITE); the
 * encoding buffer is malloc'd and freed here.  Returns EST_OK,
 * EST_ERR_EXISTS, EST_ERR_NOMEM, EST_ERR_DEADLOCK, EST_ERR_INTERNAL or
 * EST_ERR_STORE. */
static enum est_err
cert_put(struct est_txn *t, const struct est_cert *c, u_int32_t flags)
{
	unsigned char  kbuf[EST_SERIAL_LEN];
	unsigned char *buf = NULL;
	DBT            key, data;
	enum est_err   rc;
	size_t         len;
	int            ret;

	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = cert_key(c->serial, c->serial_len, kbuf, &key)) != EST_OK)
		goto out;
	if ((buf = malloc(CERT_REC_MAX)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "store: out of memory");
		goto out;
	}
	if ((len = cert_encode(c, buf)) == 0) {
		rc = est_fail(EST_ERR_INTERNAL, "store: certificate of %s has "
		    "a field out of range", c->device);
		goto out;
	}
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.size = (u_int32_t)len;
	ret = t->st->certs->put(t->st->certs, t->tid, &key, &data, flags);
	if (ret == DB_KEYEXIST)
		rc = est_fail(EST_ERR_EXISTS, "store: certificate key already "
		    "stored");
	else if (ret != 0)
		rc = txn_fail(t, "write certificate", ret);
	else
		rc = revoked_index(t, c, flags == 0);
out:
	free(buf);
	return rc;
}

/* Inserts a new certificate record.  Returns EST_OK, EST_ERR_EXISTS if
 * the serial is already stored (the transaction stays usable), or
 * another error as cert_put(). */
enum est_err
txn_cert_insert(struct est_txn *t, const struct est_cert *c)
{
	unsigned char kbuf[EST_SERIAL_LEN];
	DBT           key;
	enum est_err  rc;

	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = cert_key(c->serial, c->serial_len, kbuf, &key)) != EST_OK ||
	    (rc = txn_lock_absent(t, t->st->certs, &key, "certificate")) !=
	    EST_OK)
		return rc;
	return cert_put(t, c, DB_NOOVERWRITE);
}

/* Overwrites an existing certificate record (status, revocation...).
 * Returns EST_OK, EST_ERR_NOT_FOUND if the serial is not stored, or
 * another error as cert_put(). */
enum est_err
txn_cert_update(struct est_txn *t, const struct est_cert *c)
{
	unsigned char kbuf[EST_SERIAL_LEN];
	DBT           key;
	enum est_err  rc;
	int           ret;

	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = cert_key(c->serial, c->serial_len, kbuf, &key)) != EST_OK)
		return rc;
	ret = t->st->certs->exists(t->st->certs, t->tid, &key,
	    txn_read_flags(t));
	if (ret == DB_NOTFOUND)
		return EST_ERR_NOT_FOUND;
	if (ret != 0)
		return txn_fail(t, "read certificate", ret);
	return cert_put(t, c, 0);
}

/* Adds event ev, setting ev->time_us to the current time (CLOCK_REALTIME
 * microseconds) when it is 0, with its index entry and counters.  Returns EST_OK, EST_ERR_DEADLOCK,
 * EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_event_add(struct est_txn *t, struct est_event *ev)
{
	unsigned char   buf[EVENT_REC_MAX];
	unsigned char   kbuf[EVENT_KEY_LEN];
	struct enc      ke = { kbuf, sizeof(kbuf), 0, 0 };
	struct timespec ts;
	DBT             key, data;
	enum est_err    rc;
	size_t          len;
	int             ret;

	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	if (ev->time_us == 0) {
		if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
			return est_fail(EST_ERR_INTERNAL, "store: clock: %s",
			    strerror(errno));
		ev->time_us = (int64_t)ts.tv_sec * 1000000 +
		    ts.tv_nsec / 1000;
	}
	if ((len = event_encode(ev, buf)) == 0)
		return est_fail(EST_ERR_INTERNAL,
		    "store: event has a field out of range");
	enc_uint(&ke, (uint64_t)ev->time_us, 8);
	enc_uint(&ke, (uint32_t)getpid(), 4);
	enc_uint(&ke, event_seq++, 4);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)ke.len;
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.size = (u_int32_t)len;
	if ((rc = txn_lock_absent(t, t->st->events, &key, "event")) != EST_OK)
		return rc;
	ret = t->st->events->put(t->st->events, t->tid, &key, &data,
	    DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST)
		return est_fail(EST_ERR_EXISTS, "store: event key already stored");
	if (ret != 0)
		return txn_fail(t, "write event", ret);
	return event_index(t, ev, kbuf);
}

/* Frees c->der and zeroes c, so it can be reused.  Safe on NULL. */
void
cert_clear(struct est_cert *c)
{
	if (c == NULL)
		return;
	free(c->der);
	memset(c, 0, sizeof(*c));
}

/* ---- counters ------------------------------------------------------------ */

/* Writes v as an unsigned big-endian integer of width bytes into p. */
static void
put_be(unsigned char *p, uint64_t v, size_t width)
{
	size_t i;

	for (i = 0; i < width; i++)
		p[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
}

/* Reads an unsigned big-endian integer of width bytes at p. */
static uint64_t
get_be(const unsigned char *p, size_t width)
{
	uint64_t v = 0;
	size_t   i;

	for (i = 0; i < width; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Returns the unix hour of unix time secs (0 for times before 1970). */
static uint32_t
hour_of(int64_t secs)
{
	return secs <= 0 ? 0 : (uint32_t)(secs / SECS_PER_HOUR);
}

/* Builds the counter key kind + hour (4 BE) into k; returns its length. */
static size_t
ctr_key_hour(unsigned char *k, int kind, uint32_t hour)
{
	k[0] = (unsigned char)kind;
	put_be(k + 1, hour, 4);
	return 5;
}

/* Records that counter key (klen bytes) changes by delta when t commits
 * (ctr_apply()).  On allocation failure marks t->nomem, which fails the
 * transaction with EST_ERR_NOMEM. */
static void
ctr_add(struct est_txn *t, const unsigned char *key, size_t klen,
    int64_t delta)
{
	struct ctr_delta *d;
	size_t            ncap;

	if (delta == 0 || klen == 0 || klen > CTR_KEY_MAX)
		return;
	if (t->ndeltas == t->cdeltas) {
		ncap = t->cdeltas ? t->cdeltas * 2 : CTR_DELTAS_MIN;
		if (ncap > SIZE_MAX / sizeof(*d) ||
		    (d = realloc(t->deltas, ncap * sizeof(*d))) == NULL) {
			t->nomem = 1;
			return;
		}
		t->deltas = d;
		t->cdeltas = ncap;
	}
	d = &t->deltas[t->ndeltas++];
	memcpy(d->key, key, klen);
	d->klen = klen;
	d->delta = delta;
}

/* Records a change of the one-byte-plus-state counter (kind, state). */
static void
ctr_add_state(struct est_txn *t, enum est_dev_state state, int64_t delta)
{
	unsigned char k[2] = { IDX_STATE, (unsigned char)state };

	ctr_add(t, k, sizeof(k), delta);
}

/* Records a change of the hourly counter kind for unix time secs. */
static void
ctr_add_hour(struct est_txn *t, int kind, int64_t secs, int64_t delta)
{
	unsigned char k[CTR_KEY_MAX];

	ctr_add(t, k, ctr_key_hour(k, kind, hour_of(secs)), delta);
}

/* Records a change of the total named name ("te", "tr", "td"). */
static void
ctr_add_total(struct est_txn *t, const char *name, int64_t delta)
{
	ctr_add(t, (const unsigned char *)name, strlen(name), delta);
}

/* qsort comparison of two deltas by key bytes, shorter first. */
static int
ctr_cmp(const void *a, const void *b)
{
	const struct ctr_delta *x = a, *y = b;
	size_t                  n = x->klen < y->klen ? x->klen : y->klen;
	int                     c;

	if ((c = memcmp(x->key, y->key, n)) != 0)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Adds delta to counter key (klen bytes) in t: reads it write-locked,
 * writes the sum, deletes it at zero.  A sum below zero (an
 * inconsistency) is logged and stored as zero.  Returns EST_OK,
 * EST_ERR_INTERNAL for a malformed value, or txn_fail()'s error. */
static enum est_err
ctr_update(struct est_txn *t, const unsigned char *k, size_t klen,
    int64_t delta)
{
	unsigned char kbuf[CTR_KEY_MAX], vbuf[8];
	DBT           key, data;
	DB           *db = t->st->counters;
	int64_t       v = 0;
	int           ret;

	memcpy(kbuf, k, klen);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	memset(&data, 0, sizeof(data));
	data.data = vbuf;
	data.ulen = sizeof(vbuf);
	data.flags = DB_DBT_USERMEM;
	ret = db->get(db, t->tid, &key, &data, txn_read_flags(t));
	if (ret == 0 && data.size == sizeof(vbuf))
		v = (int64_t)get_be(vbuf, 8);
	else if (ret == 0 || ret == DB_BUFFER_SMALL)
		return est_fail(EST_ERR_INTERNAL, "store: malformed counter");
	else if (ret != DB_NOTFOUND)
		return txn_fail(t, "read counter", ret);
	v += delta;
	if (v < 0) {
		est_log(EST_LOG_WARN, "store: counter '%c' went below zero; "
		    "kept at 0", kbuf[0]);
		v = 0;
	}
	if (v == 0) {
		ret = db->del(db, t->tid, &key, 0);
		if (ret != 0 && ret != DB_NOTFOUND)
			return txn_fail(t, "delete counter", ret);
		return EST_OK;
	}
	put_be(vbuf, (uint64_t)v, 8);
	memset(&data, 0, sizeof(data));
	data.data = vbuf;
	data.size = sizeof(vbuf);
	if ((ret = db->put(db, t->tid, &key, &data, 0)) != 0)
		return txn_fail(t, "write counter", ret);
	return EST_OK;
}

/* Applies t's recorded counter changes in key order (so transactions
 * lock counter pages in one order), merging changes of one key.  Called
 * by store_once() just before commit.  Returns EST_OK or ctr_update()'s
 * error. */
static enum est_err
ctr_apply(struct est_txn *t)
{
	enum est_err rc;
	int64_t      sum;
	size_t       i, j;

	if (t->ndeltas == 0)
		return EST_OK;
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	qsort(t->deltas, t->ndeltas, sizeof(t->deltas[0]), ctr_cmp);
	for (i = 0; i < t->ndeltas; i = j) {
		sum = 0;
		for (j = i; j < t->ndeltas &&
		    ctr_cmp(&t->deltas[i], &t->deltas[j]) == 0; j++)
			sum += t->deltas[j].delta;
		if (sum != 0 && (rc = ctr_update(t, t->deltas[i].key,
		    t->deltas[i].klen, sum)) != EST_OK)
			return rc;
	}
	return EST_OK;
}

/* ---- device and event indexes ------------------------------------------- */

/* 1 when dev is in the expiry index and buckets: it has a current
 * certificate and is not revoked. */
static int
dev_has_expiry(const struct est_device *dev)
{
	return dev->not_after > 0 && dev->state != DEV_REVOKED;
}

/* Builds dev's devidx key of kind IDX_STATE or IDX_EXPIRY into k
 * (IDX_KEY_MAX bytes); returns its length. */
static size_t
idx_key(unsigned char *k, int kind, const struct est_device *dev)
{
	size_t idlen = strnlen(dev->id, EST_MAX_DEVICE_ID), off;

	k[0] = (unsigned char)kind;
	if (kind == IDX_STATE) {
		k[1] = (unsigned char)dev->state;
		off = 2;
	} else {
		put_be(k + 1, (uint64_t)dev->not_after, 8);
		off = 9;
	}
	memcpy(k + off, dev->id, idlen);
	return off + idlen;
}

/* Puts (add: with data the state byte, or none when state is DEV_NONE)
 * or deletes (!add) devidx key k (klen bytes) in t; deleting an absent
 * key is not an error.  Returns EST_OK or txn_fail()'s. */
static enum est_err
idx_write(struct est_txn *t, const unsigned char *k, size_t klen, int add,
    enum est_dev_state state)
{
	unsigned char sbuf = (unsigned char)state;
	unsigned char kbuf[IDX_KEY_MAX];
	DBT           key, data;
	DB           *db = t->st->devidx;
	int           ret;

	memcpy(kbuf, k, klen);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	memset(&data, 0, sizeof(data));
	if (state != DEV_NONE) {
		data.data = &sbuf;
		data.size = 1;
	}
	if (add)
		ret = db->put(db, t->tid, &key, &data, 0);
	else if ((ret = db->del(db, t->tid, &key, 0)) == DB_NOTFOUND)
		ret = 0;
	return ret == 0 ? EST_OK : txn_fail(t, "write device index", ret);
}

/*
 * Keeps devidx and the device counters in step with a device changing
 * from old (NULL: it is new) to dev (NULL: it is deleted); both have
 * the same ID.  Returns EST_OK or idx_write()'s error.
 */
static enum est_err
dev_index_change(struct est_txn *t, const struct est_device *old,
    const struct est_device *dev)
{
	unsigned char k[IDX_KEY_MAX];
	enum est_err  rc;
	int           oldx, newx, same;

	if (old != NULL && (dev == NULL || old->state != dev->state)) {
		if ((rc = idx_write(t, k, idx_key(k, IDX_STATE, old), 0,
		    DEV_NONE)))
			return rc;
		ctr_add_state(t, old->state, -1);
	}
	if (dev != NULL && (old == NULL || old->state != dev->state)) {
		if ((rc = idx_write(t, k, idx_key(k, IDX_STATE, dev), 1,
		    DEV_NONE)))
			return rc;
		ctr_add_state(t, dev->state, 1);
	}
	oldx = old != NULL && dev_has_expiry(old);
	newx = dev != NULL && dev_has_expiry(dev);
	same = oldx && newx && old->not_after == dev->not_after;
	if (oldx && !same) {
		if ((rc = idx_write(t, k, idx_key(k, IDX_EXPIRY, old), 0,
		    DEV_NONE)))
			return rc;
		ctr_add_hour(t, IDX_EXPIRY, old->not_after, -1);
	}
	/* The entry carries the state: rewritten when only that changes. */
	if (newx && (!same || old->state != dev->state)) {
		if ((rc = idx_write(t, k, idx_key(k, IDX_EXPIRY, dev), 1,
		    dev->state)))
			return rc;
		if (!same)
			ctr_add_hour(t, IDX_EXPIRY, dev->not_after, 1);
	}
	return EST_OK;
}

/* 1 when op issues certificates (its 200 events are issuances). */
static int
op_issues(enum est_op op)
{
	return op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL ||
	    op == EST_OP_BOOTSTRAP;
}

/*
 * Indexes event ev (stored under event key evkey, EVENT_KEY_LEN bytes)
 * by device and records its counters: an issuance (200 of an issuing
 * operation), a refusal (status >= 400) or a deletion.  Returns EST_OK
 * or txn_fail()'s error.
 */
static enum est_err
event_index(struct est_txn *t, const struct est_event *ev,
    const unsigned char *evkey)
{
	unsigned char kbuf[EVDEV_KEY_MAX];
	DBT           key, data;
	size_t        dlen = strnlen(ev->device, EST_MAX_DEVICE_ID);
	int64_t       secs = ev->time_us / 1000000;
	int           ret;

	if (ev->status == 200 && op_issues(ev->op)) {
		ctr_add_hour(t, CTR_ENROLL_HOUR, secs, 1);
		ctr_add_total(t, "te", 1);
	} else if (ev->status >= 400) {
		ctr_add_hour(t, CTR_REFUSE_HOUR, secs, 1);
		ctr_add_total(t, "tr", 1);
	} else if (ev->op == EST_OP_DELETE)
		ctr_add_total(t, "td", 1);
	if (dlen == 0)
		return EST_OK;
	memcpy(kbuf, ev->device, dlen);
	kbuf[dlen] = '\0';
	memcpy(kbuf + dlen + 1, evkey, EVENT_KEY_LEN);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)(dlen + 1 + EVENT_KEY_LEN);
	memset(&data, 0, sizeof(data));
	if ((ret = t->st->ev_by_dev->put(t->st->ev_by_dev, t->tid, &key, &data,
	    0)) != 0)
		return txn_fail(t, "write event index", ret);
	return EST_OK;
}

/* ---- registry: cursors ---------------------------------------------------- */

/* Writes len bytes at p as lower-case hex into out (2 * len + 1 bytes,
 * NUL-terminated). */
void
est_hex(const unsigned char *p, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t            i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* Returns the value of lower-case hex digit c, or -1. */
static int
hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes the lower-case hex string s (n digits) into out (at most max
 * bytes); sets *len.  Returns 0, or -1 for odd length, a non-hex digit
 * or too many bytes. */
static int
hex_decode(const char *s, size_t n, unsigned char *out, size_t max,
    size_t *len)
{
	size_t i;
	int    hi, lo;

	if (n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hex_val(s[2 * i])) < 0 ||
		    (lo = hex_val(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

/* A position in a device listing: after (exp, id). */
struct dev_pos {
	int     kind;                        /* 'i' (ID order), 'x' (expiry) */
	int64_t exp;                         /* notAfter ('x' only) */
	char    id[EST_MAX_DEVICE_ID + 1];
};

/* Writes the opaque cursor of position p into out (EST_CURSOR_MAX + 1):
 * 'i' + hex(ID), or 'x' + 16 hex digits of notAfter + hex(ID). */
static void
dev_pos_format(const struct dev_pos *p, char *out)
{
	unsigned char be[8];
	size_t        off = 1;

	out[0] = (char)p->kind;
	if (p->kind == IDX_EXPIRY) {
		put_be(be, (uint64_t)p->exp, 8);
		est_hex(be, 8, out + 1);
		off += 16;
	}
	est_hex((const unsigned char *)p->id, strlen(p->id), out + off);
}

/* Parses cursor s into p.  Returns EST_OK or EST_ERR_BAD_REQUEST. */
static enum est_err
dev_pos_parse(const char *s, struct dev_pos *p)
{
	unsigned char be[8];
	size_t        n = strnlen(s, EST_CURSOR_MAX + 1), off = 1, len;

	memset(p, 0, sizeof(*p));
	if (n < 3 || n > EST_CURSOR_MAX || (s[0] != 'i' && s[0] != IDX_EXPIRY))
		goto bad;
	p->kind = s[0];
	if (p->kind == IDX_EXPIRY) {
		if (n < 1 + 16 + 2 || hex_decode(s + 1, 16, be, 8, &len) == -1)
			goto bad;
		p->exp = (int64_t)get_be(be, 8);
		off += 16;
	}
	if (hex_decode(s + off, n - off, (unsigned char *)p->id,
	    EST_MAX_DEVICE_ID, &len) == -1 || len == 0 ||
	    memchr(p->id, '\0', len) != NULL)
		goto bad;
	p->id[len] = '\0';
	return EST_OK;
bad:
	return est_fail(EST_ERR_BAD_REQUEST, "malformed cursor");
}

/* ---- registry: device listing --------------------------------------------- */

/* What store_devices_list() walks. */
enum list_mode {
	LIST_BY_ID,       /* devices, in ID order */
	LIST_BY_STATE,    /* devidx 's' + state, in ID order */
	LIST_BY_EXPIRY    /* devidx 'x', notAfter in [lo, hi), then ID */
};

struct list_arg {
	const struct est_dev_query *q;
	struct est_device          *items;
	size_t                     *n;
	char                       *next;
	enum list_mode              mode;
	int64_t                     lo, hi;     /* LIST_BY_EXPIRY range */
	int                         have_after; /* start after `after` */
	struct dev_pos              after;
};

/* 1 when id starts with prefix. */
static int
has_prefix(const char *id, const char *prefix)
{
	return strncmp(id, prefix, strlen(prefix)) == 0;
}

/*
 * Builds the key where the walk of a starts (the first key to look at,
 * >= it) into k (IDX_KEY_MAX bytes); returns its length.  The listing
 * starts at the later of the cursor position and the ID prefix.
 */
static size_t
list_start_key(const struct list_arg *a, unsigned char *k)
{
	const char *id = a->q->q;
	size_t      off = 0, idlen;

	if (a->have_after && (a->mode == LIST_BY_EXPIRY ||
	    strcmp(a->after.id, id) > 0))
		id = a->after.id;
	if (a->mode == LIST_BY_STATE) {
		k[off++] = IDX_STATE;
		k[off++] = (unsigned char)a->q->state;
	} else if (a->mode == LIST_BY_EXPIRY) {
		k[off++] = IDX_EXPIRY;
		if (a->have_after && a->after.exp >= a->lo) {
			put_be(k + off, (uint64_t)a->after.exp, 8);
		} else {
			put_be(k + off, (uint64_t)a->lo, 8);
			id = "";
		}
		off += 8;
	}
	idlen = strlen(id);
	memcpy(k + off, id, idlen);
	return off + idlen;
}

/*
 * Reads the position (notAfter, ID) of the record at key for a's mode
 * into p.  Returns 1 when the key is inside the walk's key range, 0
 * when the walk is past its end, -1 for a malformed key (skipped).
 */
static int
list_key_pos(const struct list_arg *a, const DBT *key, struct dev_pos *p)
{
	const unsigned char *k = key->data;
	size_t               off, idlen;

	memset(p, 0, sizeof(*p));
	p->kind = a->mode == LIST_BY_EXPIRY ? IDX_EXPIRY : 'i';
	if (a->mode == LIST_BY_ID)
		off = 0;
	else if (a->mode == LIST_BY_STATE) {
		if (key->size < 2 || k[0] != IDX_STATE ||
		    k[1] != (unsigned char)a->q->state)
			return 0;
		off = 2;
	} else {
		if (key->size < 9 || k[0] != IDX_EXPIRY)
			return 0;
		p->exp = (int64_t)get_be(k + 1, 8);
		if (p->exp >= a->hi)
			return 0;
		off = 9;
	}
	idlen = key->size - off;
	if (idlen == 0 || idlen > EST_MAX_DEVICE_ID ||
	    memchr(k + off, '\0', idlen) != NULL)
		return -1;
	memcpy(p->id, k + off, idlen);
	p->id[idlen] = '\0';
	/* Keys in ID order past the prefix end the walk. */
	if (a->mode != LIST_BY_EXPIRY && !has_prefix(p->id, a->q->q) &&
	    strcmp(p->id, a->q->q) > 0)
		return 0;
	return 1;
}

/* 1 when position p is at or before the cursor position of a (to be
 * skipped: the cursor's own record was on the previous page). */
static int
list_before_cursor(const struct list_arg *a, const struct dev_pos *p)
{
	if (!a->have_after)
		return 0;
	if (a->mode == LIST_BY_EXPIRY && p->exp != a->after.exp)
		return p->exp < a->after.exp;
	return strcmp(p->id, a->after.id) <= 0;
}

/*
 * Decides whether the record at position p (data: the device record in
 * LIST_BY_ID, the state byte in LIST_BY_EXPIRY) matches the query; fills
 * dev.  Returns 1
 * (match), 0 (no match), or -1 with *rc set on a store error.
 */
static int
list_match(struct est_txn *t, const struct list_arg *a,
    const struct dev_pos *p, const DBT *key, const DBT *data,
    struct est_device *dev, enum est_err *rc)
{
	enum est_err e;

	if (!has_prefix(p->id, a->q->q))
		return 0;
	/* Expiry entries carry the state: most misses need no read. */
	if (a->mode == LIST_BY_EXPIRY && a->q->state >= 0 && data->size == 1 &&
	    *(const unsigned char *)data->data != (unsigned char)a->q->state)
		return 0;
	if (a->mode == LIST_BY_ID)
		e = device_decode(key, data, dev);
	else
		e = txn_device_get(t, p->id, dev);
	if (e == EST_ERR_NOT_FOUND || e == EST_ERR_INTERNAL)
		return 0;      /* deleted meanwhile, or malformed: skip */
	if (e != EST_OK) {
		*rc = e;
		return -1;
	}
	/* Index entries read without a transaction may be a moment old. */
	if (a->mode == LIST_BY_STATE && (int)dev->state != a->q->state)
		return 0;
	if (a->mode == LIST_BY_EXPIRY) {
		if (!dev_has_expiry(dev) || dev->not_after != p->exp)
			return 0;
		if (a->q->state >= 0 && (int)dev->state != a->q->state)
			return 0;
	}
	return 1;
}

/* store_devices_list()'s body (run without a transaction). */
static enum est_err
devices_list_fn(struct est_txn *t, void *arg)
{
	struct list_arg   *a = arg;
	struct est_device  dev;
	struct dev_pos     pos, last;
	unsigned char      kbuf[IDX_KEY_MAX];
	DBC               *c = NULL;
	DB                *db;
	DBT                key, data;
	enum est_err       rc = EST_OK;
	size_t             scanned = 0, skipped = 0, budget, offset;
	int                ret, in, m, more = 0, have_last = 0;
	u_int32_t          flag;

	*a->n = 0;
	a->next[0] = '\0';
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	offset = a->have_after ? 0 : a->q->offset;
	budget = EST_LIST_SCAN_MAX + offset;
	db = a->mode == LIST_BY_ID ? t->st->devices : t->st->devidx;
	if ((ret = db->cursor(db, t->tid, &c, 0)) != 0)
		return txn_fail(t, "open cursor", ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.ulen = sizeof(kbuf);
	key.flags = DB_DBT_USERMEM;
	data.flags = DB_DBT_REALLOC;
	key.size = (u_int32_t)list_start_key(a, kbuf);
	flag = key.size > 0 ? DB_SET_RANGE : DB_FIRST;
	for (;; flag = DB_NEXT) {
		ret = c->get(c, &key, &data, flag);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = txn_fail(t, "read device list", ret);
			goto out;
		}
		if ((in = list_key_pos(a, &key, &pos)) == 0)
			break;
		if (in < 0 || list_before_cursor(a, &pos))
			continue;
		if (scanned++ >= budget) {
			more = 1;      /* page cut short: resume after `last` */
			break;
		}
		last = pos;
		have_last = 1;
		if ((m = list_match(t, a, &pos, &key, &data, &dev, &rc)) < 0)
			goto out;
		if (m == 0)
			continue;
		if (skipped < offset) {
			skipped++;
			continue;
		}
		if (*a->n == a->q->limit) {
			/* One more exists: resume after the last item. */
			more = 1;
			last.exp = a->items[*a->n - 1].not_after;
			memcpy(last.id, a->items[*a->n - 1].id, sizeof(last.id));
			break;
		}
		a->items[(*a->n)++] = dev;
	}
	/* Cut short by the budget: resume after the last record examined
	 * (none after the last item matched). */
	if (more && have_last)
		dev_pos_format(&last, a->next);
	rc = EST_OK;
out:
	free(data.data);
	if ((ret = c->close(c)) != 0 && rc == EST_OK)
		rc = txn_fail(t, "close cursor", ret);
	if (rc != EST_OK)
		*a->n = 0;
	return rc;
}

/*
 * Lists one page of devices matching q into items (q->limit entries,
 * the caller's array); sets *n and next (the cursor of the next page,
 * "" when there is none).  Devices in ID order; with
 * expiring_within_days or EST_FILTER_EXPIRED in (notAfter, ID) order.
 * q->offset matching devices are skipped first (only without a cursor).
 * At most EST_LIST_SCAN_MAX (+ offset) index records are examined: a
 * page may then hold fewer than limit items and still have a cursor.
 * Returns EST_OK, EST_ERR_BAD_REQUEST (limit, offset, state or cursor
 * out of range) or a store error.
 */
enum est_err
store_devices_list(struct est_store *st, const struct est_dev_query *q,
    struct est_device *items, size_t *n, char next[EST_CURSOR_MAX + 1])
{
	struct list_arg a;
	int64_t         now = q->now != 0 ? q->now : (int64_t)time(NULL);
	enum est_err    rc;

	*n = 0;
	next[0] = '\0';
	memset(&a, 0, sizeof(a));
	a.q = q;
	a.items = items;
	a.n = n;
	a.next = next;
	if (q->limit < 1 || q->limit > EST_LIST_MAX)
		return est_fail(EST_ERR_BAD_REQUEST, "limit must be 1..%d",
		    EST_LIST_MAX);
	if (q->offset > EST_LIST_OFFSET_MAX)
		return est_fail(EST_ERR_BAD_REQUEST, "offset must be at most "
		    "%d (use the cursor)", EST_LIST_OFFSET_MAX);
	if (q->state >= DEV_STATE__MAX || q->state == DEV_NONE ||
	    (q->state < 0 && q->state != EST_FILTER_ANY &&
	    q->state != EST_FILTER_EXPIRED))
		return est_fail(EST_ERR_BAD_REQUEST, "unknown state filter");
	if (q->expiring_within_days < 0 ||
	    q->expiring_within_days > EST_MAX_DAYS)
		return est_fail(EST_ERR_BAD_REQUEST, "expiring_within_days "
		    "must be 0..%d", EST_MAX_DAYS);
	if (q->expiring_within_days > 0 || q->state == EST_FILTER_EXPIRED) {
		a.mode = LIST_BY_EXPIRY;
		a.lo = 1;
		a.hi = INT64_MAX;
		if (q->state == EST_FILTER_EXPIRED)
			a.hi = now;
		if (q->expiring_within_days > 0) {
			if (now > a.lo)
				a.lo = now;
			if (now + (int64_t)q->expiring_within_days *
			    SECS_PER_DAY < a.hi)
				a.hi = now + (int64_t)q->expiring_within_days *
				    SECS_PER_DAY;
		}
		if (a.lo >= a.hi)
			return EST_OK;
	} else if (q->state >= 0)
		a.mode = LIST_BY_STATE;
	else
		a.mode = LIST_BY_ID;
	if (q->cursor[0] != '\0') {
		if ((rc = dev_pos_parse(q->cursor, &a.after)) != EST_OK)
			return rc;
		if ((a.after.kind == IDX_EXPIRY) != (a.mode == LIST_BY_EXPIRY))
			return est_fail(EST_ERR_BAD_REQUEST, "cursor belongs "
			    "to a listing with other filters");
		a.have_after = 1;
	}
	return store_loop(st, devices_list_fn, &a, STORE_NOTXN);
}

/* 1 when the device's current certificate has expired at unix time now. */
int
device_expired(const struct est_device *dev, int64_t now)
{
	return dev->not_after > 0 && dev->not_after <= now;
}

/* ---- registry: events ------------------------------------------------------ */

/* Decodes an event record stored under key (EVENT_KEY_LEN bytes) into
 * out.  Returns EST_OK or EST_ERR_INTERNAL if malformed. */
static enum est_err
event_decode(const DBT *key, const DBT *data, struct est_event *out)
{
	struct dec d = { data->data, data->size, 0, 0 };
	unsigned   op;

	memset(out, 0, sizeof(*out));
	if (key->size != EVENT_KEY_LEN || dec_uint(&d, 1) != STORE_REC_V1)
		goto bad;
	out->time_us = (int64_t)get_be(key->data, 8);
	op = (unsigned)dec_uint(&d, 1);
	out->status = (int)(uint32_t)dec_uint(&d, 4);
	dec_str(&d, out->device, sizeof(out->device));
	dec_str(&d, out->user, sizeof(out->user));
	dec_str(&d, out->ip, sizeof(out->ip));
	dec_str(&d, out->ua, sizeof(out->ua));
	dec_blob8(&d, out->serial, sizeof(out->serial), &out->serial_len);
	dec_str(&d, out->reason, sizeof(out->reason));
	if (d.bad || d.off != d.len || op >= EST_OP__MAX)
		goto bad;
	out->op = (enum est_op)op;
	return EST_OK;
bad:
	memset(out, 0, sizeof(*out));
	est_log(EST_LOG_ERR, "store: malformed event record (%u bytes)",
	    (unsigned)data->size);
	return est_fail(EST_ERR_INTERNAL, "store: malformed event record");
}

struct evlist_arg {
	const struct est_event_query *q;
	struct est_event             *items;
	size_t                       *n;
	char                         *next;
	unsigned char                 after[EVENT_KEY_LEN]; /* cursor */
	int                           have_after;
};

/* Reads event evkey into out (a plain read).  Returns EST_OK,
 * EST_ERR_NOT_FOUND, EST_ERR_INTERNAL or txn_fail()'s error. */
static enum est_err
event_get(struct est_txn *t, const unsigned char *evkey,
    struct est_event *out)
{
	unsigned char kbuf[EVENT_KEY_LEN];
	DBT           key, data;
	enum est_err  rc;
	int           ret;

	memcpy(kbuf, evkey, sizeof(kbuf));
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = sizeof(kbuf);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = t->st->events->get(t->st->events, t->tid, &key, &data, 0);
	if (ret == DB_NOTFOUND)
		rc = EST_ERR_NOT_FOUND;
	else if (ret != 0)
		rc = txn_fail(t, "read event", ret);
	else
		rc = event_decode(&key, &data, out);
	free(data.data);
	return rc;
}

/*
 * store_events_list()'s body: walks events (or events_by_device for
 * one device) backwards from the cursor, newest first.  Keys of
 * events_by_device are device + NUL + event key, so one device's
 * entries are contiguous and in time order.
 */
static enum est_err
events_list_fn(struct est_txn *t, void *arg)
{
	struct evlist_arg *a = arg;
	struct est_event   ev;
	unsigned char      kbuf[EVDEV_KEY_MAX], last[EVENT_KEY_LEN];
	const unsigned char *evkey;
	DBC               *c = NULL;
	DB                *db;
	DBT                key, data;
	enum est_err       rc = EST_OK, e;
	size_t             dlen = strlen(a->q->device), plen = 0, scanned = 0;
	int                ret, more = 0, have_last = 0;
	u_int32_t          flag;

	*a->n = 0;
	a->next[0] = '\0';
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	db = dlen > 0 ? t->st->ev_by_dev : t->st->events;
	if ((ret = db->cursor(db, t->tid, &c, 0)) != 0)
		return txn_fail(t, "open cursor", ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.ulen = sizeof(kbuf);
	key.flags = DB_DBT_USERMEM;
	data.flags = DB_DBT_REALLOC;
	/* Position at the first key after the range, then step back. */
	if (dlen > 0) {
		memcpy(kbuf, a->q->device, dlen);
		kbuf[dlen] = '\0';
		plen = dlen + 1;
	}
	if (a->have_after) {
		memcpy(kbuf + plen, a->after, EVENT_KEY_LEN);
		key.size = (u_int32_t)(plen + EVENT_KEY_LEN);
	} else if (dlen > 0) {
		kbuf[dlen] = '\001';     /* just past device + NUL + anything */
		key.size = (u_int32_t)(dlen + 1);
	}
	if (key.size > 0) {
		ret = c->get(c, &key, &data, DB_SET_RANGE);
		flag = ret == DB_NOTFOUND ? DB_LAST : DB_PREV;
		if (ret != 0 && ret != DB_NOTFOUND) {
			rc = txn_fail(t, "read events", ret);
			goto out;
		}
	} else
		flag = DB_LAST;
	for (;; flag = DB_PREV) {
		ret = c->get(c, &key, &data, flag);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = txn_fail(t, "read events", ret);
			goto out;
		}
		/* Walking backwards, a key not starting with device + NUL
		 * is before the device's entries. */
		if (plen > 0 && (key.size < plen ||
		    memcmp(kbuf, a->q->device, dlen) != 0 || kbuf[dlen] != '\0'))
			break;
		if (key.size != plen + EVENT_KEY_LEN)
			continue;        /* malformed key */
		evkey = kbuf + plen;
		if (*a->n == a->q->limit) {
			more = 1;
			break;
		}
		if (scanned++ >= EST_LIST_SCAN_MAX) {
			more = 1;
			break;
		}
		memcpy(last, evkey, EVENT_KEY_LEN);
		have_last = 1;
		if (plen == 0)
			e = event_decode(&key, &data, &ev);
		else
			e = event_get(t, evkey, &ev);
		if (e == EST_ERR_NOT_FOUND || e == EST_ERR_INTERNAL)
			continue;
		if (e != EST_OK) {
			rc = e;
			goto out;
		}
		a->items[(*a->n)++] = ev;
	}
	if (more && have_last) {
		a->next[0] = 'e';
		est_hex(last, EVENT_KEY_LEN, a->next + 1);
	}
out:
	free(data.data);
	if ((ret = c->close(c)) != 0 && rc == EST_OK)
		rc = txn_fail(t, "close cursor", ret);
	if (rc != EST_OK)
		*a->n = 0;
	return rc;
}

/*
 * Lists events newest first, of one device (q->device) or all, one page
 * of at most q->limit into items (the caller's array); sets *n and next
 * (cursor of the next page, "" when there is none).  Returns EST_OK,
 * EST_ERR_BAD_REQUEST (limit or cursor) or a store error.
 */
enum est_err
store_events_list(struct est_store *st, const struct est_event_query *q,
    struct est_event *items, size_t *n, char next[EST_CURSOR_MAX + 1])
{
	struct evlist_arg a;
	size_t            len, clen;

	*n = 0;
	next[0] = '\0';
	memset(&a, 0, sizeof(a));
	a.q = q;
	a.items = items;
	a.n = n;
	a.next = next;
	if (q->limit < 1 || q->limit > EST_LIST_MAX)
		return est_fail(EST_ERR_BAD_REQUEST, "limit must be 1..%d",
		    EST_LIST_MAX);
	if (strnlen(q->device, sizeof(q->device)) >= sizeof(q->device))
		return est_fail(EST_ERR_BAD_REQUEST, "device ID too long");
	if (q->cursor[0] != '\0') {
		clen = strnlen(q->cursor, sizeof(q->cursor));
		if (clen != 1 + 2 * EVENT_KEY_LEN || q->cursor[0] != 'e' ||
		    hex_decode(q->cursor + 1, clen - 1, a.after,
		    EVENT_KEY_LEN, &len) == -1 || len != EVENT_KEY_LEN)
			return est_fail(EST_ERR_BAD_REQUEST,
			    "malformed cursor");
		a.have_after = 1;
	}
	return store_loop(st, events_list_fn, &a, STORE_NOTXN);
}

/* ---- registry: a device's certificates ---------------------------------- */

struct certs_arg {
	const char      *id;
	struct est_cert *all;      /* every certificate read (owned) */
	size_t           nall;
	size_t           cap;
	int              want_der;
};

/* Appends c to a->all.  Returns EST_OK or EST_ERR_NOMEM. */
static enum est_err
certs_push(struct certs_arg *a, const struct est_cert *c)
{
	struct est_cert *p;
	size_t           ncap;

	if (a->nall == a->cap) {
		ncap = a->cap ? a->cap * 2 : CTR_DELTAS_MIN;
		if (ncap > SIZE_MAX / sizeof(*p) ||
		    (p = realloc(a->all, ncap * sizeof(*p))) == NULL)
			return est_fail(EST_ERR_NOMEM, "store: out of memory");
		a->all = p;
		a->cap = ncap;
	}
	a->all[a->nall++] = *c;
	return EST_OK;
}

/* Frees what a->all holds and empties it. */
static void
certs_reset(struct certs_arg *a)
{
	size_t i;

	for (i = 0; i < a->nall; i++)
		cert_clear(&a->all[i]);
	a->nall = 0;
}

/* Reads every certificate of device a->id through certs_by_device into
 * a->all (DER only with a->want_der).  Runs in t (a transaction or
 * none).  Returns EST_OK or an error (a->all emptied). */
static enum est_err
device_certs_fn(struct est_txn *t, void *arg)
{
	struct certs_arg *a = arg;
	struct est_cert   c;
	char              kbuf[EST_MAX_DEVICE_ID];
	DBC              *dc = NULL;
	DBT               skey, pkey, data;
	enum est_err      rc;
	u_int32_t         flag;
	int               ret;

	certs_reset(a);
	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = device_key(a->id, kbuf, &skey)) != EST_OK)
		return rc;
	if ((ret = t->st->by_device->cursor(t->st->by_device, t->tid, &dc,
	    0)) != 0)
		return txn_fail(t, "open cursor", ret);
	memset(&pkey, 0, sizeof(pkey));
	memset(&data, 0, sizeof(data));
	pkey.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	for (flag = DB_SET;; flag = DB_NEXT_DUP) {
		ret = dc->pget(dc, &skey, &pkey, &data, flag);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = txn_fail(t, "read certificates", ret);
			goto out;
		}
		if (!a->want_der && a->nall >= STORE_CERTS_READ_MAX) {
			est_log(EST_LOG_WARN, "store: device %s has more than "
			    "%d certificates; the rest are not listed", a->id,
			    STORE_CERTS_READ_MAX);
			break;
		}
		if ((rc = cert_decode(&pkey, &data, &c, a->want_der)) != EST_OK)
			goto out;
		if ((rc = certs_push(a, &c)) != EST_OK) {
			cert_clear(&c);
			goto out;
		}
	}
	rc = EST_OK;
out:
	free(pkey.data);
	free(data.data);
	if ((ret = dc->close(dc)) != 0 && rc == EST_OK)
		rc = txn_fail(t, "close cursor", ret);
	if (rc != EST_OK)
		certs_reset(a);
	return rc;
}

/* qsort comparison: newer notBefore first; within one second (a renewal
 * right after issuance) the valid certificate, then the later notAfter,
 * then serial, so the order never depends on the sort. */
static int
cert_newest_first(const void *x, const void *y)
{
	const struct est_cert *a = x, *b = y;
	size_t                 n;
	int                    c;

	if (a->not_before != b->not_before)
		return a->not_before < b->not_before ? 1 : -1;
	if ((a->status == CERT_VALID) != (b->status == CERT_VALID))
		return a->status == CERT_VALID ? -1 : 1;
	if (a->not_after != b->not_after)
		return a->not_after < b->not_after ? 1 : -1;
	n = a->serial_len < b->serial_len ? a->serial_len : b->serial_len;
	if ((c = memcmp(a->serial, b->serial, n)) != 0)
		return c;
	return (a->serial_len > b->serial_len) - (a->serial_len < b->serial_len);
}

/*
 * Lists the certificates of device id, newest notBefore first, at most
 * max of them into out (the caller's array; der is NULL, der_len set);
 * sets *n.  Deleted devices keep their (revoked) certificates, so a
 * re-bootstrapped device lists its old ones too.  Returns EST_OK (*n
 * may be 0), EST_ERR_NOMEM or a store error.
 */
enum est_err
store_device_certs(struct est_store *st, const char *id,
    struct est_cert *out, size_t max, size_t *n)
{
	struct certs_arg a;
	enum est_err     rc;

	*n = 0;
	memset(&a, 0, sizeof(a));
	a.id = id;
	if ((rc = store_loop(st, device_certs_fn, &a, STORE_NOTXN)) == EST_OK) {
		/* A pending device has none (qsort must not see NULL). */
		if (a.nall > 1)
			qsort(a.all, a.nall, sizeof(a.all[0]),
			    cert_newest_first);
		*n = a.nall < max ? a.nall : max;
		if (*n > 0)
			memcpy(out, a.all, *n * sizeof(out[0]));
	}
	free(a.all);
	return rc;
}

/* ---- registry: statistics ------------------------------------------------ */

/* Reads counter key (klen bytes) into *v (0 when absent).  Returns
 * EST_OK, EST_ERR_INTERNAL or txn_fail()'s error. */
static enum est_err
ctr_get(struct est_txn *t, const unsigned char *k, size_t klen, int64_t *v)
{
	unsigned char kbuf[CTR_KEY_MAX], vbuf[8];
	DBT           key, data;
	int           ret;

	*v = 0;
	memcpy(kbuf, k, klen);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)klen;
	memset(&data, 0, sizeof(data));
	data.data = vbuf;
	data.ulen = sizeof(vbuf);
	data.flags = DB_DBT_USERMEM;
	ret = t->st->counters->get(t->st->counters, t->tid, &key, &data, 0);
	if (ret == DB_NOTFOUND)
		return EST_OK;
	if (ret == DB_BUFFER_SMALL || (ret == 0 && data.size != sizeof(vbuf)))
		return est_fail(EST_ERR_INTERNAL, "store: malformed counter");
	if (ret != 0)
		return txn_fail(t, "read counter", ret);
	*v = (int64_t)get_be(vbuf, 8);
	return EST_OK;
}

/* Called by ctr_range() for each hourly counter: hour and value. */
typedef void (*ctr_hour_fn)(uint32_t hour, int64_t v, void *arg);

/* Walks the hourly counters of kind from hour `from` up to (not
 * including) hour `to`, calling fn for each present one.  Returns
 * EST_OK or an error. */
static enum est_err
ctr_range(struct est_txn *t, int kind, uint32_t from, uint32_t to,
    ctr_hour_fn fn, void *arg)
{
	unsigned char kbuf[CTR_KEY_MAX], vbuf[8];
	DBC          *c = NULL;
	DBT           key, data;
	enum est_err  rc = EST_OK;
	uint32_t      hour;
	u_int32_t     flag;
	int           ret;

	if (from >= to)
		return EST_OK;
	if ((ret = t->st->counters->cursor(t->st->counters, t->tid, &c, 0)))
		return txn_fail(t, "open cursor", ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.ulen = sizeof(kbuf);
	key.flags = DB_DBT_USERMEM;
	data.data = vbuf;
	data.ulen = sizeof(vbuf);
	data.flags = DB_DBT_USERMEM;
	key.size = (u_int32_t)ctr_key_hour(kbuf, kind, from);
	for (flag = DB_SET_RANGE;; flag = DB_NEXT) {
		ret = c->get(c, &key, &data, flag);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = txn_fail(t, "read counters", ret);
			break;
		}
		if (key.size != 5 || kbuf[0] != (unsigned char)kind)
			break;
		if ((hour = (uint32_t)get_be(kbuf + 1, 4)) >= to)
			break;
		if (data.size != sizeof(vbuf)) {
			rc = est_fail(EST_ERR_INTERNAL, "store: malformed "
			    "counter");
			break;
		}
		fn(hour, (int64_t)get_be(vbuf, 8), arg);
	}
	if ((ret = c->close(c)) != 0 && rc == EST_OK)
		rc = txn_fail(t, "close cursor", ret);
	return rc;
}

struct stats_arg {
	int64_t           now;
	struct est_stats *out;
};

/* ctr_range() callbacks filling the statistics. */
static void
stats_expiry(uint32_t hour, int64_t v, void *arg)
{
	struct stats_arg *a = arg;
	uint32_t          now_h = hour_of(a->now);

	if (v <= 0)
		return;
	if (hour < now_h)
		a->out->expired += (uint64_t)v;
	else {
		if (hour < now_h + 7 * 24)
			a->out->expiring_7d += (uint64_t)v;
		a->out->expiring_30d += (uint64_t)v;
	}
}

static void
stats_enroll(uint32_t hour, int64_t v, void *arg)
{
	struct stats_arg *a = arg;
	uint32_t          now_h = hour_of(a->now), first;

	if (v <= 0)
		return;
	first = now_h + 1 - EST_STATS_HOURS;
	a->out->enroll_hourly[hour - first] = v > UINT32_MAX ? UINT32_MAX
	                                                      : (uint32_t)v;
	if (hour + 24 > now_h)
		a->out->enroll_24h += (uint64_t)v;
}

static void
stats_refuse(uint32_t hour, int64_t v, void *arg)
{
	struct stats_arg *a = arg;

	(void)hour;
	if (v > 0)
		a->out->refusals_24h += (uint64_t)v;
}

/* store_stats()'s body: reads the counters (no transaction). */
static enum est_err
stats_fn(struct est_txn *t, void *arg)
{
	struct stats_arg *a = arg;
	struct est_stats *s = a->out;
	unsigned char     k[2] = { IDX_STATE, 0 };
	uint32_t          now_h = hour_of(a->now);
	enum est_err      rc;
	int64_t           v;
	int               i;

	memset(s, 0, sizeof(*s));
	s->now = a->now;
	s->hour0 = ((int64_t)now_h + 1 - EST_STATS_HOURS) * SECS_PER_HOUR;
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	for (i = 0; i < DEV_STATE__MAX; i++) {
		k[1] = (unsigned char)i;
		if ((rc = ctr_get(t, k, sizeof(k), &v)) != EST_OK)
			return rc;
		s->by_state[i] = v > 0 ? (uint64_t)v : 0;
		s->devices += s->by_state[i];
	}
	if ((rc = ctr_get(t, (const unsigned char *)"te", 2, &v)) != EST_OK)
		return rc;
	s->enroll_total = v > 0 ? (uint64_t)v : 0;
	if ((rc = ctr_get(t, (const unsigned char *)"tr", 2, &v)) != EST_OK)
		return rc;
	s->refusals_total = v > 0 ? (uint64_t)v : 0;
	if ((rc = ctr_get(t, (const unsigned char *)"td", 2, &v)) != EST_OK)
		return rc;
	s->deletes_total = v > 0 ? (uint64_t)v : 0;
	/* Expiry buckets: everything before the current hour has expired;
	 * 7 and 30 days are counted from the start of the current hour. */
	if ((rc = ctr_range(t, IDX_EXPIRY, 0, now_h + 30 * 24, stats_expiry,
	    a)) != EST_OK ||
	    (rc = ctr_range(t, CTR_ENROLL_HOUR, now_h + 1 - EST_STATS_HOURS,
	    now_h + 1, stats_enroll, a)) != EST_OK ||
	    (rc = ctr_range(t, CTR_REFUSE_HOUR, now_h + 1 - 24, now_h + 1,
	    stats_refuse, a)) != EST_OK)
		return rc;
	return EST_OK;
}

/*
 * Reads the registry's counters as of unix time now (0: the clock) into
 * out.  Hourly figures are by the hour: "last 24 hours" is the current
 * hour and the 23 before it; expiry is bucketed by the hour of notAfter.
 * Costs a handful of reads plus one walk over the expiry buckets up to
 * 30 days ahead, whatever the number of devices.  Returns EST_OK or a
 * store error.
 */
enum est_err
store_stats(struct est_store *st, int64_t now, struct est_stats *out)
{
	struct stats_arg a;

	a.now = now != 0 ? now : (int64_t)time(NULL);
	if (a.now < (int64_t)EST_STATS_HOURS * SECS_PER_HOUR)
		a.now = (int64_t)EST_STATS_HOURS * SECS_PER_HOUR;
	a.out = out;
	return store_loop(st, stats_fn, &a, STORE_NOTXN);
}

/* ---- registry: deleting a device ------------------------------------------ */

static enum est_err txn_device_del(struct est_txn *,
    const struct est_device *);

struct delete_arg {
	const char       *id;
	struct est_event *ev;
};

/* store_device_delete()'s transaction: revokes the device's
 * certificates not yet revoked, removes the device with its index
 * entries and counters, records the event. */
static enum est_err
delete_fn(struct est_txn *t, void *arg)
{
	struct delete_arg *a = arg;
	struct est_device  dev;
	enum est_err       rc;
	int64_t            now = (int64_t)time(NULL);

	/* Its enrollment request, whatever its state, goes too. */
	if ((rc = txn_device_get(t, a->id, &dev)) != EST_OK ||
	    (rc = txn_device_revoke_certs(t, a->id, EST_CRL_CESSATION, now,
	    NULL)) != EST_OK || (rc = txn_device_del(t, &dev)) != EST_OK ||
	    (rc = txn_pending_del(t, a->id)) != EST_OK)
		return rc;
	a->ev->time_us = 0;
	return txn_event_add(t, a->ev);
}

/*
 * Deletes device id so that it may bootstrap again, in one synced
 * transaction: every certificate of it not yet revoked becomes
 * CERT_REVOKED (revoked_at now, reason cessationOfOperation, RFC 5280
 * 5.3.1), the device record and its index entries go, the counters
 * follow, and ev is recorded (the caller fills user, ip and ua; op,
 * status 200, device and reason are set here).  Returns EST_OK,
 * EST_ERR_NOT_FOUND, EST_ERR_NOMEM or a store error.
 */
enum est_err
store_device_delete(struct est_store *st, const char *id,
    struct est_event *ev)
{
	struct delete_arg a;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.ev = ev;
	ev->op = EST_OP_DELETE;
	ev->status = 200;
	ev->serial_len = 0;
	snprintf(ev->device, sizeof(ev->device), "%s", id);
	snprintf(ev->reason, sizeof(ev->reason), "deleted; certificates "
	    "revoked (cessationOfOperation)");
	return store_run(st, delete_fn, &a);
}

/* Returns whether st has its environment open (a failed open or reopen
 * leaves it closed; the next use tries again).  Safe on NULL. */
int
store_is_open(const struct est_store *st)
{
	return st != NULL && st->env != NULL;
}

/* ---- revocation: the revoked index ---------------------------------------- */

#define REV_REC_V1    1      /* revoked index record version */
#define REV_LABEL_MAX 64     /* longest label in a revoked index key */
#define REV_REC_LEN   (1 + 8 + 1 + 8)
#define REV_KEY_MAX   (REV_LABEL_MAX + 1 + EST_SERIAL_LEN)
#define REV_GEN_KEY   "rv"   /* counters: revocation generation */
#define REV_LIST_MIN  256    /* first allocation of a revoked list */

/* The CA label a certificate record belongs to ("" = default). */
static const char *
cert_label(const struct est_cert *c)
{
	return c->label;
}

/* Builds the revoked index key label + NUL + serial into k
 * (REV_KEY_MAX bytes).  Returns its length, or 0 if out of range. */
static size_t
rev_key(unsigned char *k, const char *label, const unsigned char *serial,
    size_t serial_len)
{
	size_t llen = strnlen(label, REV_LABEL_MAX + 1);

	if (llen > REV_LABEL_MAX || serial_len == 0 ||
	    serial_len > EST_SERIAL_LEN)
		return 0;
	memcpy(k, label, llen);
	k[llen] = '\0';
	memcpy(k + llen + 1, serial, serial_len);
	return llen + 1 + serial_len;
}

/*
 * Keeps the revoked index in step with certificate c just written in t:
 * a revoked certificate is (re)indexed with its time and reason, and the
 * revocation generation counter goes up when the entry is new or
 * changed; with update, a certificate that is not revoked loses any
 * entry.  Returns EST_OK, EST_ERR_INTERNAL or txn_fail()'s error.
 */
static enum est_err
revoked_index(struct est_txn *t, const struct est_cert *c, int update)
{
	unsigned char k[REV_KEY_MAX], v[REV_REC_LEN], old[REV_REC_LEN];
	DB           *db = t->st->revoked;
	DBT           key, data;
	size_t        klen;
	int           ret;

	if (c->status != CERT_REVOKED && !update)
		return EST_OK;
	if ((klen = rev_key(k, cert_label(c), c->serial, c->serial_len)) == 0)
		return est_fail(EST_ERR_INTERNAL, "store: revoked index key "
		    "out of range");
	memset(&key, 0, sizeof(key));
	key.data = k;
	key.size = (u_int32_t)klen;
	if (c->status != CERT_REVOKED) {
		ret = db->del(db, t->tid, &key, 0);
		if (ret != 0 && ret != DB_NOTFOUND)
			return txn_fail(t, "write revoked index", ret);
		return EST_OK;
	}
	v[0] = REV_REC_V1;
	put_be(v + 1, (uint64_t)c->revoked_at, 8);
	v[9] = (unsigned char)c->reason;
	put_be(v + 10, (uint64_t)c->not_after, 8);
	memset(&data, 0, sizeof(data));
	data.data = old;
	data.ulen = sizeof(old);
	data.flags = DB_DBT_USERMEM;
	ret = db->get(db, t->tid, &key, &data, txn_read_flags(t));
	if (ret == 0 && data.size == sizeof(old) &&
	    memcmp(old, v, sizeof(v)) == 0)
		return EST_OK;
	if (ret != 0 && ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL)
		return txn_fail(t, "read revoked index", ret);
	memset(&data, 0, sizeof(data));
	data.data = v;
	data.size = sizeof(v);
	if ((ret = db->put(db, t->tid, &key, &data, 0)) != 0)
		return txn_fail(t, "write revoked index", ret);
	ctr_add_total(t, REV_GEN_KEY, 1);
	return EST_OK;
}

/*
 * Revokes certificate c (read in t, DER included) in t: status
 * CERT_REVOKED, revoked_at when, reason (RFC 5280 5.3.1 CRLReason) and
 * writes it, which indexes it for the CRL.  c is updated in place; an
 * already revoked certificate keeps its first time and reason.
 * Returns EST_OK or txn_cert_update()'s error.
 */
enum est_err
txn_cert_revoke(struct est_txn *t, struct est_cert *c, int reason,
    int64_t when)
{
	if (c->status == CERT_REVOKED)
		return EST_OK;
	c->status = CERT_REVOKED;
	c->revoked_at = when;
	c->reason = reason;
	return txn_cert_update(t, c);
}

/* store_revoked_list()'s read. */
struct revlist_arg {
	const char         *label;
	struct est_revoked *v;      /* owned until handed out */
	size_t              n;
	size_t              cap;
};

/* Reads every revoked index entry of a->label into a->v (emptied
 * first, so a retry starts over).  Returns EST_OK or an error. */
static enum est_err
revoked_list_fn(struct est_txn *t, void *arg)
{
	struct revlist_arg *a = arg;
	struct est_revoked *r, *p;
	unsigned char       k[REV_KEY_MAX], vbuf[REV_REC_LEN];
	DBC                *dc = NULL;
	DBT                 key, data;
	enum est_err        rc = EST_OK;
	size_t              plen, ncap;
	u_int32_t           flag;
	int                 ret;

	a->n = 0;
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	plen = strnlen(a->label, REV_LABEL_MAX + 1);
	if (plen > REV_LABEL_MAX)
		return est_fail(EST_ERR_INTERNAL, "store: label too long");
	memcpy(k, a->label, plen);
	k[plen] = '\0';
	plen++;
	if ((ret = t->st->revoked->cursor(t->st->revoked, t->tid, &dc, 0)))
		return txn_fail(t, "open cursor", ret);
	memset(&key, 0, sizeof(key));
	key.data = k;
	key.size = (u_int32_t)plen;
	key.ulen = sizeof(k);
	key.flags = DB_DBT_USERMEM;
	memset(&data, 0, sizeof(data));
	data.data = vbuf;
	data.ulen = sizeof(vbuf);
	data.flags = DB_DBT_USERMEM;
	for (flag = DB_SET_RANGE;; flag = DB_NEXT) {
		ret = dc->get(dc, &key, &data, flag);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = txn_fail(t, "read revoked index", ret);
			goto out;
		}
		/* Past this label's entries. */
		if (key.size <= plen || memcmp(k, a->label, plen - 1) != 0 ||
		    k[plen - 1] != '\0')
			break;
		if (data.size != REV_REC_LEN || vbuf[0] != REV_REC_V1 ||
		    key.size - plen > EST_SERIAL_LEN) {
			est_log(EST_LOG_WARN, "store: malformed revoked index "
			    "entry skipped");
			continue;
		}
		if (a->n >= EST_CRL_LIST_MAX) {
			rc = est_fail(EST_ERR_INTERNAL, "store: more than %d "
			    "revoked certificates", EST_CRL_LIST_MAX);
			goto out;
		}
		if (a->n == a->cap) {
			ncap = a->cap ? a->cap * 2 : REV_LIST_MIN;
			if ((p = realloc(a->v, ncap * sizeof(*p))) == NULL) {
				rc = est_fail(EST_ERR_NOMEM, "store: out of "
				    "memory");
				goto out;
			}
			a->v = p;
			a->cap = ncap;
		}
		r = &a->v[a->n++];
		memset(r, 0, sizeof(*r));
		r->serial_len = key.size - plen;
		memcpy(r->serial, k + plen, r->serial_len);
		r->revoked_at = (int64_t)get_be(vbuf + 1, 8);
		r->reason = vbuf[9];
		r->not_after = (int64_t)get_be(vbuf + 10, 8);
	}
out:
	if ((ret = dc->close(dc)) != 0 && rc == EST_OK)
		rc = txn_fail(t, "close cursor", ret);
	return rc;
}

/*
 * Lists the revoked certificates of CA label ("" = default) from the
 * revoked index only, in serial order, without a transaction (each
 * entry is read committed; one committed during the read may or may
 * not be listed, and the next CRL lists it).  On EST_OK *out is a
 * malloc'd array of *n entries (NULL when none) the caller frees.
 * Returns EST_OK, EST_ERR_NOMEM, EST_ERR_INTERNAL or a store error.
 */
enum est_err
store_revoked_list(struct est_store *st, const char *label,
    struct est_revoked **out, size_t *n)
{
	struct revlist_arg a;
	enum est_err       rc;

	memset(&a, 0, sizeof(a));
	a.label = label;
	*out = NULL;
	*n = 0;
	rc = store_loop(st, revoked_list_fn, &a, STORE_NOTXN);
	if (rc != EST_OK) {
		free(a.v);
		return rc;
	}
	*out = a.v;
	*n = a.n;
	return EST_OK;
}

/* store_revoked_gen()'s read. */
static enum est_err
revoked_gen_fn(struct est_txn *t, void *arg)
{
	int64_t     *v = arg;
	enum est_err rc;

	*v = 0;
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	return ctr_get(t, (const unsigned char *)REV_GEN_KEY,
	    strlen(REV_GEN_KEY), v);
}

/* Reads the revocation generation (how many revocations the store has
 * recorded; it only grows) into *gen: a cheap way to learn that the
 * revoked set changed.  Returns EST_OK or a store error. */
enum est_err
store_revoked_gen(struct est_store *st, uint64_t *gen)
{
	int64_t      v = 0;
	enum est_err rc;

	rc = store_loop(st, revoked_gen_fn, &v, STORE_NOTXN);
	*gen = v > 0 ? (uint64_t)v : 0;
	return rc;
}

/* store_device_revoke()'s transaction. */
struct revoke_arg {
	const char       *id;
	int               reason;
	struct est_event *ev;
	size_t            nrevoked;
};

/* Revokes every certificate of device a->id not yet revoked, sets the
 * device's state to DEV_REVOKED and records the event. */
static enum est_err
device_revoke_fn(struct est_txn *t, void *arg)
{
	struct revoke_arg *a = arg;
	struct est_device  dev;
	enum est_err       rc;
	int64_t            now = (int64_t)time(NULL);

	a->nrevoked = 0;
	if ((rc = txn_device_get(t, a->id, &dev)) != EST_OK ||
	    (rc = txn_device_revoke_certs(t, a->id, a->reason, now,
	    &a->nrevoked)) != EST_OK)
		return rc;
	dev.state = DEV_REVOKED;
	dev.updated = now;
	if ((rc = txn_device_put(t, &dev)) != EST_OK)
		return rc;
	a->ev->time_us = 0;
	return txn_event_add(t, a->ev);
}

/*
 * Revokes device id in one synced transaction: each of its certificates
 * not yet revoked becomes CERT_REVOKED (revoked_at now, reason, RFC
 * 5280 5.3.1) and enters the revoked index, the device stays registered
 * in state DEV_REVOKED (so it can neither renew nor bootstrap again
 * until deleted), and ev is recorded (caller fills user, ip, ua; op,
 * status, device and reason set here).  *nrevoked gets how many were
 * revoked now.  Returns EST_OK, EST_ERR_NOT_FOUND, EST_ERR_NOMEM or a
 * store error.
 */
enum est_err
store_device_revoke(struct est_store *st, const char *id, int reason,
    struct est_event *ev, size_t *nrevoked)
{
	struct revoke_arg a;
	enum est_err      rc;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.reason = reason;
	a.ev = ev;
	ev->op = EST_OP_REVOKE;
	ev->status = 200;
	ev->serial_len = 0;
	snprintf(ev->device, sizeof(ev->device), "%s", id);
	snprintf(ev->reason, sizeof(ev->reason), "certificates revoked (%s)",
	    (unsigned)reason < EST_REASON__MAX && est_reason_names[reason] ?
	    est_reason_names[reason] : "?");
	rc = store_run(st, device_revoke_fn, &a);
	*nrevoked = a.nrevoked;
	return rc;
}

/* ---- approval queue: pending requests ------------------------------------- */

/* Largest encoded pending request (see pending_encode()). */
#define PEND_REC_MAX  (1 + 1 + 1 + 8 + 8 + 1 + EST_KEY_HASH_LEN +          \
                       2 + EST_MAX_LABEL + 2 + EST_MAX_USER +         \
                       2 + EST_MAX_IP + 2 + EST_MAX_USER +                 \
                       2 + EST_MAX_REASON + 2 + EST_MAX_BODY)

/* Encodes pending request p (v1: version, state, op, created, decided,
 * key hash, label, user, ip, decided_by, reason, CSR DER; the device ID
 * is the key) into buf (PEND_REC_MAX bytes).  Returns the record length,
 * or 0 if a field is out of range. */
static size_t
pending_encode(const struct est_pending *p, unsigned char *buf)
{
	struct enc e = { buf, PEND_REC_MAX, 0, 0 };
	size_t     label, user, ip, by, reason;

	if ((unsigned)p->state >= PEND__MAX || (unsigned)p->op >= EST_OP__MAX ||
	    p->csr_len > EST_MAX_BODY || (p->csr_len > 0 && p->csr == NULL) ||
	    field_len(p->label, sizeof(p->label), &label) == -1 ||
	    field_len(p->user, sizeof(p->user), &user) == -1 ||
	    field_len(p->ip, sizeof(p->ip), &ip) == -1 ||
	    field_len(p->decided_by, sizeof(p->decided_by), &by) == -1 ||
	    field_len(p->reason, sizeof(p->reason), &reason) == -1)
		return 0;
	enc_uint(&e, STORE_REC_V1, 1);
	enc_uint(&e, (uint64_t)p->state, 1);
	enc_uint(&e, (uint64_t)p->op, 1);
	enc_uint(&e, (uint64_t)p->created, 8);
	enc_uint(&e, (uint64_t)p->decided, 8);
	enc_blob8(&e, p->key_hash, sizeof(p->key_hash));
	enc_str(&e, p->label, label);
	enc_str(&e, p->user, user);
	enc_str(&e, p->ip, ip);
	enc_str(&e, p->decided_by, by);
	enc_str(&e, p->reason, reason);
	enc_uint(&e, p->csr_len, 2);
	enc_bytes(&e, p->csr, p->csr_len);
	return e.overflow ? 0 : e.len;
}

/* Decodes the pending request under key (the device ID) into out; the
 * CSR is copied (malloc'd) only with want_csr.  Returns EST_OK,
 * EST_ERR_NOMEM or EST_ERR_INTERNAL for a malformed record. */
static enum est_err
pending_decode(const DBT *key, const DBT *data, struct est_pending *out,
    int want_csr)
{
	struct dec           d = { data->data, data->size, 0, 0 };
	const unsigned char *csr;
	unsigned             state, op;
	size_t               hlen, clen;

	memset(out, 0, sizeof(*out));
	if (key->size == 0 || key->size > EST_MAX_DEVICE_ID)
		goto bad;
	memcpy(out->id, key->data, key->size);
	if (dec_uint(&d, 1) != STORE_REC_V1)
		goto bad;
	state = (unsigned)dec_uint(&d, 1);
	op = (unsigned)dec_uint(&d, 1);
	out->created = (int64_t)dec_uint(&d, 8);
	out->decided = (int64_t)dec_uint(&d, 8);
	dec_blob8(&d, out->key_hash, sizeof(out->key_hash), &hlen);
	dec_str(&d, out->label, sizeof(out->label));
	dec_str(&d, out->user, sizeof(out->user));
	dec_str(&d, out->ip, sizeof(out->ip));
	dec_str(&d, out->decided_by, sizeof(out->decided_by));
	dec_str(&d, out->reason, sizeof(out->reason));
	clen = (size_t)dec_uint(&d, 2);
	csr = dec_take(&d, clen);
	if (d.bad || d.off != d.len || hlen != EST_KEY_HASH_LEN ||
	    state == PEND_NONE || state >= PEND__MAX || op >= EST_OP__MAX ||
	    clen > EST_MAX_BODY)
		goto bad;
	out->state = (enum est_pend_state)state;
	out->op = (enum est_op)op;
	out->csr_len = clen;
	if (want_csr && clen > 0) {
		if ((out->csr = malloc(clen)) == NULL) {
			memset(out, 0, sizeof(*out));
			return est_fail(EST_ERR_NOMEM, "store: out of memory");
		}
		memcpy(out->csr, csr, clen);
	}
	return EST_OK;
bad:
	memset(out, 0, sizeof(*out));
	return est_fail(EST_ERR_INTERNAL, "store: malformed pending request");
}

/* Reads device id's pending request into out (out->csr malloc'd; free
 * with pending_clear()), write-locked until the transaction ends with
 * for_update, else read-locked (the pending database is small: every
 * first contact reads it, few write it).  Returns EST_OK,
 * EST_ERR_NOT_FOUND (out zeroed), EST_ERR_NOMEM, EST_ERR_DEADLOCK,
 * EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_pending_get(struct est_txn *t, const char *id, struct est_pending *out,
    int for_update)
{
	char         kbuf[EST_MAX_DEVICE_ID];
	DBT          key, data;
	enum est_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = txn_id_get(t, t->st->pending, id, for_update ?
	    txn_read_flags(t) : 0, "read pending request", kbuf, &key,
	    &data)) == EST_OK)
		rc = pending_decode(&key, &data, out, 1);
	free(data.data);
	return rc;
}

/* Writes pending request p (inserting or overwriting p->id's).  Returns
 * EST_OK, EST_ERR_NOMEM, EST_ERR_DEADLOCK, EST_ERR_INTERNAL or
 * EST_ERR_STORE. */
enum est_err
txn_pending_put(struct est_txn *t, const struct est_pending *p)
{
	char           kbuf[EST_MAX_DEVICE_ID];
	unsigned char *buf = NULL;
	DBT            key, data;
	enum est_err   rc;
	size_t         len;
	int            ret;

	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = device_key(p->id, kbuf, &key)) != EST_OK)
		return rc;
	if ((buf = malloc(PEND_REC_MAX)) == NULL)
		return est_fail(EST_ERR_NOMEM, "store: out of memory");
	if ((len = pending_encode(p, buf)) == 0) {
		rc = est_fail(EST_ERR_INTERNAL, "store: pending request of %s "
		    "has a field out of range", p->id);
		goto out;
	}
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.size = (u_int32_t)len;
	if ((ret = t->st->pending->put(t->st->pending, t->tid, &key, &data,
	    0)) != 0)
		rc = txn_fail(t, "write pending request", ret);
out:
	free(buf);
	return rc;
}

/* Removes device id's pending request; none is not an error.  Returns
 * EST_OK or a store error. */
enum est_err
txn_pending_del(struct est_txn *t, const char *id)
{
	char         kbuf[EST_MAX_DEVICE_ID];
	DBT          key;
	enum est_err rc;
	int          ret;

	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = device_key(id, kbuf, &key)) != EST_OK)
		return rc;
	ret = t->st->pending->del(t->st->pending, t->tid, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return txn_fail(t, "delete pending request", ret);
	return EST_OK;
}

/* Removes device record dev (as read under lock) with its index entries
 * and counters.  Returns EST_OK or a store error. */
static enum est_err
txn_device_del(struct est_txn *t, const struct est_device *dev)
{
	char         kbuf[EST_MAX_DEVICE_ID];
	DBT          key;
	enum est_err rc;
	int          ret;

	if ((rc = device_key(dev->id, kbuf, &key)) != EST_OK)
		return rc;
	if ((ret = t->st->devices->del(t->st->devices, t->tid, &key, 0)) != 0)
		return txn_fail(t, "delete device", ret);
	return dev_index_change(t, dev, NULL);
}

/* Revokes (txn_cert_revoke(): status CERT_REVOKED, reason, revoked_at
 * now, into the revoked index) every certificate of device id not yet
 * revoked, in t; *n (if not NULL) is set to how many.  Returns EST_OK, EST_ERR_NOMEM or a store error. */
enum est_err
txn_device_revoke_certs(struct est_txn *t, const char *id, int reason,
    int64_t now, size_t *n)
{
	struct certs_arg a;
	enum est_err     rc;
	size_t           i, done = 0;

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.want_der = 1;    /* the update rewrites whole records */
	if ((rc = device_certs_fn(t, &a)) != EST_OK)
		goto out;
	for (i = 0; i < a.nall; i++) {
		if (a.all[i].status == CERT_REVOKED)
			continue;
		if ((rc = txn_cert_revoke(t, &a.all[i], reason, now)) != EST_OK)
			goto out;
		done++;
	}
out:
	if (n != NULL)
		*n = done;
	certs_reset(&a);
	free(a.all);
	return rc;
}

struct pend_list_arg {
	enum est_pend_state state;  /* PEND_NONE: any */
	struct est_pending *items;
	size_t              max;
	size_t              n;
};

/* store_pending_list()'s body: walks the pending database in ID order
 * (at most EST_LIST_SCAN_MAX records). */
static enum est_err
pending_list_fn(struct est_txn *t, void *arg)
{
	struct pend_list_arg *a = arg;
	struct est_pending    p;
	DBC                  *c = NULL;
	DBT                   key, data;
	enum est_err          rc;
	size_t                scanned = 0;
	int                   ret;

	a->n = 0;
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	if ((ret = t->st->pending->cursor(t->st->pending, t->tid, &c, 0)) != 0)
		return txn_fail(t, "open cursor", ret);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	while (a->n < a->max && scanned++ < EST_LIST_SCAN_MAX) {
		if ((ret = c->get(c, &key, &data, DB_NEXT)) == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = txn_fail(t, "read pending requests", ret);
			break;
		}
		if (pending_decode(&key, &data, &p, 0) != EST_OK) {
			est_log(EST_LOG_WARN, "store: malformed pending request "
			    "skipped");
			continue;
		}
		if (a->state == PEND_NONE || p.state == a->state)
			a->items[a->n++] = p;
	}
	free(key.data);
	free(data.data);
	if ((ret = c->close(c)) != 0 && rc == EST_OK)
		rc = txn_fail(t, "close cursor", ret);
	return rc;
}

/*
 * Lists pending requests in state (PEND_NONE: every state) in device-ID
 * order, at most max into items (the caller's array; csr NULL), and
 * sets *n.  Reads at most EST_LIST_SCAN_MAX records.  Returns EST_OK or
 * a store error.
 */
enum est_err
store_pending_list(struct est_store *st, enum est_pend_state state,
    struct est_pending *items, size_t max, size_t *n)
{
	struct pend_list_arg a;
	enum est_err         rc;

	memset(&a, 0, sizeof(a));
	a.state = state;
	a.items = items;
	a.max = max;
	rc = store_loop(st, pending_list_fn, &a, STORE_NOTXN);
	*n = rc == EST_OK ? a.n : 0;
	return rc;
}

struct decide_arg {
	const char       *id;
	int               approve;
	const char       *reason;
	struct est_event *ev;
};

/* store_pending_decide()'s transaction. */
static enum est_err
decide_fn(struct est_txn *t, void *arg)
{
	struct decide_arg *a = arg;
	struct est_pending p;
	struct est_device  dev;
	enum est_err       rc;
	int                has_dev;

	/* The device first, as an enrollment locks it (lock order). */
	rc = txn_device_get(t, a->id, &dev);
	if (rc != EST_OK && rc != EST_ERR_NOT_FOUND)
		return rc;
	has_dev = rc == EST_OK;
	if ((rc = txn_pending_get(t, a->id, &p, 1)) != EST_OK)
		return rc;
	if (p.state != PEND_WAITING) {
		rc = est_fail(EST_ERR_CONFLICT, "the request of '%s' is "
		    "already %s", a->id, est_pend_names[p.state]);
		goto out;
	}
	p.state = a->approve ? PEND_APPROVED : PEND_REJECTED;
	p.decided = (int64_t)time(NULL);
	snprintf(p.decided_by, sizeof(p.decided_by), "%s", a->ev->user);
	snprintf(p.reason, sizeof(p.reason), "%s", a->reason);
	if (!a->approve) {
		/* The CSR is not needed to answer 403; the device record
		 * that only said "pending" goes. */
		free(p.csr);
		p.csr = NULL;
		p.csr_len = 0;
		if (has_dev && dev.state == DEV_PENDING &&
		    (rc = txn_device_del(t, &dev)) != EST_OK)
			goto out;
	}
	if ((rc = txn_pending_put(t, &p)) != EST_OK)
		goto out;
	a->ev->time_us = 0;
	rc = txn_event_add(t, a->ev);
out:
	pending_clear(&p);
	return rc;
}

/*
 * Approves (approve 1) or rejects (with reason, "" for none) the waiting
 * request of device id in one synced transaction that also records ev
 * (the caller fills user, ip and ua; op, status 200, device and reason
 * are set here).  An approved request is issued at the device's next
 * retry with the same key; a rejected one answers 403 with the reason.
 * Returns EST_OK, EST_ERR_NOT_FOUND (no request), EST_ERR_CONFLICT
 * (already decided), or a store error.
 */
enum est_err
store_pending_decide(struct est_store *st, const char *id, int approve,
    const char *reason, struct est_event *ev)
{
	struct decide_arg a;

	a.id = id;
	a.approve = approve;
	a.reason = reason != NULL ? reason : "";
	a.ev = ev;
	ev->op = approve ? EST_OP_APPROVE : EST_OP_REJECT;
	ev->status = 200;
	ev->serial_len = 0;
	snprintf(ev->device, sizeof(ev->device), "%s", id);
	snprintf(ev->reason, sizeof(ev->reason), "%s%s%s",
	    approve ? "approved" : "rejected", a.reason[0] ? ": " : "",
	    a.reason);
	return store_run(st, decide_fn, &a);
}

/* ---- rate limits ------------------------------------------------------------ */

#define RATE_KEY_MAX  (EST_MAX_LABEL + 1 + 1 + EST_MAX_USER)
#define RATE_REC_LEN  (1 + 8 + 4)  /* version, window start, count */
#define RATE_HASHED   0x80  /* kind flag: the name is its SHA-256 */

/*
 * Counts one enrollment against (label, kind, name): the record holds
 * the start of the current window and the enrollments counted in it; a
 * window is `window` seconds from the first enrollment counted after the
 * previous one ended (a fixed window, not sliding).  At limit, returns
 * EST_ERR_RATE_LIMITED with *retry_after the seconds left in the window
 * and writes nothing; limit 0 counts nothing.  The record is
 * write-locked until t ends, so all workers count together.  A name
 * longer than EST_MAX_USER (a long REMOTE_USER) is keyed by its SHA-256.
 * Returns EST_OK, EST_ERR_RATE_LIMITED or a store error.
 */
enum est_err
txn_rate_take(struct est_txn *t, const char *label, int kind,
    const char *name, int limit, int window, int64_t now, int *retry_after)
{
	unsigned char kbuf[RATE_KEY_MAX], vbuf[RATE_REC_LEN];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  mdlen = 0;
	DBT           key, data;
	DB           *db = t->st->rate;
	size_t        llen = strnlen(label, EST_MAX_LABEL + 1);
	size_t        nlen = strlen(name);
	const void   *kname = name;
	int64_t       start = now;
	uint32_t      count = 0;
	enum est_err  rc;
	int           ret;

	*retry_after = 0;
	if (limit <= 0 || nlen == 0)
		return EST_OK;
	if ((rc = txn_usable(t)) != EST_OK)
		return rc;
	if (llen > EST_MAX_LABEL)
		return est_fail(EST_ERR_INTERNAL, "store: rate-limit key too "
		    "long");
	if (nlen > EST_MAX_USER) {
		if (EVP_Digest(name, nlen, md, &mdlen, EVP_sha256(), NULL) != 1)
			return est_fail(EST_ERR_INTERNAL, "store: cannot hash "
			    "a rate-limit name");
		kname = md;
		nlen = mdlen;
		kind |= RATE_HASHED;
	}
	memcpy(kbuf, label, llen);
	kbuf[llen] = '\0';
	kbuf[llen + 1] = (unsigned char)kind;
	memcpy(kbuf + llen + 2, kname, nlen);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = (u_int32_t)(llen + 2 + nlen);
	memset(&data, 0, sizeof(data));
	data.data = vbuf;
	data.ulen = sizeof(vbuf);
	data.flags = DB_DBT_USERMEM;
	ret = db->get(db, t->tid, &key, &data, txn_read_flags(t));
	if (ret == 0 && data.size == RATE_REC_LEN && vbuf[0] == STORE_REC_V1) {
		start = (int64_t)get_be(vbuf + 1, 8);
		count = (uint32_t)get_be(vbuf + 9, 4);
	} else if (ret == 0 || ret == DB_BUFFER_SMALL)
		est_log(EST_LOG_WARN, "store: malformed rate-limit record "
		    "replaced");
	else if (ret != DB_NOTFOUND)
		return txn_fail(t, "read rate limit", ret);
	if (now >= start + window || now < start) {
		start = now;
		count = 0;
	}
	if (count >= (uint32_t)limit) {
		*retry_after = (int)(start + window - now);
		return est_fail(EST_ERR_RATE_LIMITED, "rate limit: %d "
		    "enrollments per %d s for %s '%s' reached; retry in %d s",
		    limit, window, (kind & ~RATE_HASHED) == 'u' ? "user" :
		    "device", name,
		    *retry_after);
	}
	vbuf[0] = STORE_REC_V1;
	put_be(vbuf + 1, (uint64_t)start, 8);
	put_be(vbuf + 9, count + 1, 4);
	memset(&data, 0, sizeof(data));
	data.data = vbuf;
	data.size = RATE_REC_LEN;
	if ((ret = db->put(db, t->tid, &key, &data, 0)) != 0)
		return txn_fail(t, "write rate limit", ret);
	return EST_OK;
}
