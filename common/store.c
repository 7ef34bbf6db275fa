/*
 * store.c — the Berkeley DB 5.3 store of devices, certificates and
 * events.
 *
 * Every FastCGI worker opens one environment in the store directory and
 * keeps it for its life.  The environment is shared by all workers
 * (DB_REGISTER tells a fresh opener when a dead worker left it in need
 * of recovery; DB_RECOVER then runs it).  Databases:
 *
 *   devices          btree, key = device ID (no NUL)
 *   certs            btree, key = serial, big-endian bytes as given
 *   certs_by_device  btree, DB_DUP|DB_DUPSORT, secondary index of certs
 *                    keyed by the certificate's device ID
 *   events           btree, key = time_us (8 bytes BE) + pid (4 BE) +
 *                    per-process counter (4 BE): unique, time-ordered
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
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "est.h"

/* Store-internal limits and names. */
#define STORE_DB_DEVICES   "devices"
#define STORE_DB_CERTS     "certs"
#define STORE_DB_EVENTS    "events"
#define STORE_DB_BY_DEVICE "certs_by_device"
#define STORE_FILE_MODE    0660  /* environment and database files */
#define STORE_ENV_FLAGS    (DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |     \
                            DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD |    \
                            DB_REGISTER | DB_RECOVER)
#define STORE_DB_FLAGS     (DB_AUTO_COMMIT | DB_CREATE | DB_THREAD)
#define STORE_BACKOFF_NS   1000000L   /* first deadlock backoff (1 ms) */
#define STORE_BACKOFF_MAX_NS 64000000L /* longest deadlock backoff */
#define STORE_CKP_KBYTES   1024  /* checkpoint after this much log ... */
#define STORE_CKP_MINUTES  5     /* ... or this much time */
#define STORE_REC_V1       1     /* the record encoding written today */
#define STORE_STR_MAX      0xffff /* largest u16-prefixed string */
#define STORE_BLOB8_MAX    0xff  /* largest u8-prefixed blob */
#define EVENT_KEY_LEN      16    /* time_us (8) + pid (4) + counter (4) */

/* Largest encoded records (see the *_encode functions). */
#define DEV_REC_MAX   (1 + 1 + 8 + 8 + 2 + EST_MAX_USER +                  \
                       1 + EST_SERIAL_LEN + 2 + EST_MAX_IP + 2 + EST_MAX_UA)
#define CERT_REC_MAX  (1 + 1 + 1 + 8 + 8 + 8 + 4 +                         \
                       2 + EST_MAX_DEVICE_ID + 4 + EST_MAX_CERT_DER)
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
	"other", "delete"
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
};

struct est_txn {
	struct est_store *st;
	DB_TXN           *tid;      /* NULL for STORE_NOTXN reads */
	int               deadlock; /* a call hit DB_LOCK_DEADLOCK */
	int               panic;    /* a call hit DB_RUNRECOVERY */
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

/* Encodes a device record (v1: version, state, created, updated, owner,
 * serial, last_ip, last_ua) into buf (DEV_REC_MAX bytes).  Returns the
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
	enc_uint(&e, STORE_REC_V1, 1);
	enc_uint(&e, (uint64_t)dev->state, 1);
	enc_uint(&e, (uint64_t)dev->created, 8);
	enc_uint(&e, (uint64_t)dev->updated, 8);
	enc_str(&e, dev->owner, owner);
	enc_blob8(&e, dev->serial, dev->serial_len);
	enc_str(&e, dev->last_ip, ip);
	enc_str(&e, dev->last_ua, ua);
	return e.overflow ? 0 : e.len;
}

/* Decodes a device record whose key is the device ID into out.
 * Returns EST_OK or EST_ERR_INTERNAL for a malformed record. */
static enum est_err
device_decode(const DBT *key, const DBT *data, struct est_device *out)
{
	struct dec d = { data->data, data->size, 0, 0 };
	unsigned   state;

	memset(out, 0, sizeof(*out));
	if (key->size == 0 || key->size > EST_MAX_DEVICE_ID ||
	    memchr(key->data, '\0', key->size) != NULL)
		goto bad;
	memcpy(out->id, key->data, key->size);
	out->id[key->size] = '\0';
	if (dec_uint(&d, 1) != STORE_REC_V1)
		goto bad;
	state = (unsigned)dec_uint(&d, 1);
	out->created = (int64_t)dec_uint(&d, 8);
	out->updated = (int64_t)dec_uint(&d, 8);
	dec_str(&d, out->owner, sizeof(out->owner));
	dec_blob8(&d, out->serial, sizeof(out->serial), &out->serial_len);
	dec_str(&d, out->last_ip, sizeof(out->last_ip));
	dec_str(&d, out->last_ua, sizeof(out->last_ua));
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

/* Encodes a certificate record (v1: version, status, op, not_before,
 * not_after, revoked_at, reason, device, der) into buf (CERT_REC_MAX
 * bytes).  Returns the record length, or 0 if a field is out of range. */
static size_t
cert_encode(const struct est_cert *c, unsigned char *buf)
{
	struct enc e = { buf, CERT_REC_MAX, 0, 0 };
	size_t     dev;

	if ((unsigned)c->status >= CERT_STATUS__MAX ||
	    (unsigned)c->op >= EST_OP__MAX ||
	    field_len(c->device, sizeof(c->device), &dev) == -1 ||
	    c->der_len > EST_MAX_CERT_DER ||
	    (c->der_len > 0 && c->der == NULL))
		return 0;
	enc_uint(&e, STORE_REC_V1, 1);
	enc_uint(&e, (uint64_t)c->status, 1);
	enc_uint(&e, (uint64_t)c->op, 1);
	enc_uint(&e, (uint64_t)c->not_before, 8);
	enc_uint(&e, (uint64_t)c->not_after, 8);
	enc_uint(&e, (uint64_t)c->revoked_at, 8);
	enc_uint(&e, (uint32_t)c->reason, 4);
	enc_str(&e, c->device, dev);
	enc_uint(&e, c->der_len, 4);
	enc_bytes(&e, c->der, c->der_len);
	return e.overflow ? 0 : e.len;
}

/* Finds the device ID inside an encoded certificate record: sets *off
 * and *len to where it lies in data.  Returns 0, or -1 if malformed. */
static int
cert_rec_device(const DBT *data, size_t *off, size_t *len)
{
	struct dec d = { data->data, data->size, 0, 0 };

	if (dec_uint(&d, 1) != STORE_REC_V1)
		return -1;
	(void)dec_take(&d, 1 + 1 + 8 + 8 + 8 + 4);
	*len = (size_t)dec_uint(&d, 2);
	*off = d.off;
	if (d.bad || *len > EST_MAX_DEVICE_ID || dec_take(&d, *len) == NULL)
		return -1;
	return 0;
}

/* Decodes a certificate record whose key is the serial into out; out->der
 * is malloc'd (NULL when empty) and the caller frees it with cert_clear().
 * Returns EST_OK, EST_ERR_NOMEM, or EST_ERR_INTERNAL if malformed. */
static enum est_err
cert_decode(const DBT *key, const DBT *data, struct est_cert *out)
{
	struct dec           d = { data->data, data->size, 0, 0 };
	const unsigned char *der;
	unsigned             status, op;
	size_t               der_len;

	memset(out, 0, sizeof(*out));
	if (key->size == 0 || key->size > EST_SERIAL_LEN)
		goto bad;
	memcpy(out->serial, key->data, key->size);
	out->serial_len = key->size;
	if (dec_uint(&d, 1) != STORE_REC_V1)
		goto bad;
	status = (unsigned)dec_uint(&d, 1);
	op = (unsigned)dec_uint(&d, 1);
	out->not_before = (int64_t)dec_uint(&d, 8);
	out->not_after = (int64_t)dec_uint(&d, 8);
	out->revoked_at = (int64_t)dec_uint(&d, 8);
	out->reason = (int)(int32_t)(uint32_t)dec_uint(&d, 4);
	dec_str(&d, out->device, sizeof(out->device));
	der_len = (size_t)dec_uint(&d, 4);
	if (d.bad || der_len > EST_MAX_CERT_DER ||
	    (der = dec_take(&d, der_len)) == NULL || d.off != d.len ||
	    status >= CERT_STATUS__MAX || op >= EST_OP__MAX)
		goto bad;
	out->status = (enum est_cert_status)status;
	out->op = (enum est_op)op;
	if (der_len > 0) {
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

/* Routes Berkeley DB's own diagnostics to our log. */
static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	est_log(EST_LOG_WARN, "store: berkeley db: %s", msg);
}

/* Logs and records a store failure: what failed in dir, and why.
 * Returns EST_ERR_STORE. */
static enum est_err
store_fail(const char *dir, const char *what, int ret)
{
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
	                 &st->events };
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

/* Opens the four databases of st and associates the index once.
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

/* Opens (or joins) the environment in st->dir and its databases.
 * Returns EST_OK, or EST_ERR_STORE with every handle closed. */
static enum est_err
store_handles_open(struct est_store *st)
{
	DB_ENV      *env = NULL;
	const char  *what;
	enum est_err rc = EST_ERR_STORE;
	int          ret;

	what = "create environment";
	if ((ret = db_env_create(&env, 0)) != 0) {
		env = NULL;
		goto fail;
	}
	env->set_errcall(env, store_errcall);
	what = "set cache size";
	if ((ret = env->set_cachesize(env, 0, EST_STORE_CACHE_BYTES, 1)) != 0)
		goto fail;
	what = "set deadlock detection";
	if ((ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0)
		goto fail;
	what = "set log auto-remove";
	if ((ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0)
		goto fail;
	what = "open environment";
	if ((ret = env->open(env, st->dir, STORE_ENV_FLAGS,
	    STORE_FILE_MODE)) != 0)
		goto fail;
	st->env = env;
	env = NULL;
	rc = store_dbs_open(st);
	goto out;
fail:
	rc = store_fail(st->dir, what, ret);
out:
	if (env != NULL)
		(void)env->close(env, 0);
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

/* Checkpoints and closes the store's databases and environment and
 * frees st.  Safe on NULL. */
void
store_close(struct est_store *st)
{
	int ret;

	if (st == NULL)
		return;
	if (st->env != NULL &&
	    (ret = st->env->txn_checkpoint(st->env, 0, 0, 0)) != 0)
		est_log(EST_LOG_WARN, "store: %s: checkpoint: %s", st->dir,
		    db_strerror(ret));
	store_handles_close(st);
	free(st->dir);
	free(st);
}

/* ---- transactions ----------------------------------------------------- */

/* Runs fn once in a transaction of the given mode (none for
 * STORE_NOTXN): commits on EST_OK, otherwise aborts.  t reports
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
	int            attempt = 0, reopened = 0, ret;

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
	if (rc == EST_OK && mode != STORE_NOTXN && (ret =
	    st->env->txn_checkpoint(st->env, STORE_CKP_KBYTES,
	    STORE_CKP_MINUTES, 0)) != 0)
		est_log(EST_LOG_WARN, "store: %s: checkpoint: %s", st->dir,
		    db_strerror(ret));
	return rc;
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
	return store_loop(st, fn, arg, STORE_SYNC);
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

/* Reads device id into out, write-locking it until the transaction
 * ends.  Returns EST_OK, EST_ERR_NOT_FOUND (out zeroed),
 * EST_ERR_DEADLOCK, EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_device_get(struct est_txn *t, const char *id, struct est_device *out)
{
	char         kbuf[EST_MAX_DEVICE_ID];
	DBT          key, data;
	enum est_err rc;
	int          ret;

	memset(out, 0, sizeof(*out));
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	if ((rc = txn_usable(t)) != EST_OK ||
	    (rc = device_key(id, kbuf, &key)) != EST_OK)
		goto out;
	ret = t->st->devices->get(t->st->devices, t->tid, &key, &data,
	    txn_read_flags(t));
	if (ret == DB_NOTFOUND)
		rc = EST_ERR_NOT_FOUND;
	else if (ret != 0)
		rc = txn_fail(t, "read device", ret);
	else
		rc = device_decode(&key, &data, out);
out:
	free(data.data);
	return rc;
}

/* Writes dev (inserting or overwriting the record of dev->id).  Returns
 * EST_OK, EST_ERR_DEADLOCK, EST_ERR_INTERNAL or EST_ERR_STORE. */
enum est_err
txn_device_put(struct est_txn *t, const struct est_device *dev)
{
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
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.size = (u_int32_t)len;
	if ((ret = t->st->devices->put(t->st->devices, t->tid, &key, &data,
	    0)) != 0)
		return txn_fail(t, "write device", ret);
	return EST_OK;
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
		rc = cert_decode(&key, &data, out);
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
		rc = EST_OK;
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
 * microseconds) when it is 0.  Returns EST_OK, EST_ERR_DEADLOCK,
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
	return EST_OK;
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
