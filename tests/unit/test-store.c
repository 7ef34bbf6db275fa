/*
 * test-store.c — unit tests of common/store.c (cmocka).
 *
 * Each test works in a fresh mkdtemp(3) directory under /tmp and removes
 * it.  Concurrency tests fork children that open their own store, wait
 * on a pipe so they start together, and report through exit codes
 * (children never call cmocka).  Raw access to the databases, for
 * reading events and planting malformed records, goes through a private
 * Berkeley DB environment handle opened while no store is open.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <db.h>

#include <setjmp.h>
#include <cmocka.h>

#include "est.h"
#include "unit.h"

#define TMP_TEMPLATE    "/tmp/test-store.XXXXXX"
#define RACE_CHILDREN   8
#define WRITER_CHILDREN 4
#define MANY_CHILDREN   96   /* processes with the store open at once */
#define WRITER_CERTS    200
#define EVENT_COUNT     500
#define EVENT_CHILD_COUNT 250
#define EVENT_KEY_LEN   16
#define BIG_DER_LEN     EST_MAX_CERT_DER
#define RAW_ENV_FLAGS   (DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |         \
                         DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD |        \
                         DB_REGISTER | DB_RECOVER)

/* Child exit codes (not 1, which valgrind --error-exitcode=1 uses). */
#define CHILD_OK        0
#define CHILD_DUP       10
#define CHILD_OPEN_FAIL 11
#define CHILD_RUN_FAIL  12
#define CHILD_TIMEOUT_SECS 120 /* a hung child is killed */

struct tdir {
	char              path[sizeof(TMP_TEMPLATE)];
	struct est_store *st;   /* closed by teardown if a test failed */
};

/* ---- helpers ---------------------------------------------------------- */

/* cmocka setup: a fresh temporary directory in *state. */
static int
setup_dir(void **state)
{
	struct tdir *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	memcpy(t->path, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
	if (mkdtemp(t->path) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

/* cmocka teardown: removes the directory of setup_dir(). */
static int
teardown_dir(void **state)
{
	struct tdir *t = *state;

	store_close(t->st);
	rmtree(t->path);
	free(t);
	return 0;
}

/* Fills a string field of size bytes with size - 1 copies of c. */
static void
fill_max(char *field, size_t size, char c)
{
	memset(field, c, size - 1);
	field[size - 1] = '\0';
}

/* A device with every field set, strings at their longest. */
static void
device_full(struct est_device *d)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	fill_max(d->id, sizeof(d->id), 'i');
	d->state = DEV_ENROLLED;
	fill_max(d->owner, sizeof(d->owner), 'o');
	d->created = -1234567890123LL;
	d->updated = INT64_MAX;
	for (i = 0; i < EST_SERIAL_LEN; i++)
		d->serial[i] = (unsigned char)(0xf0 - i);
	d->serial_len = EST_SERIAL_LEN;
	fill_max(d->last_ip, sizeof(d->last_ip), '1');
	fill_max(d->last_ua, sizeof(d->last_ua), 'u');
}

/* A small device record named id. */
static void
device_small(struct est_device *d, const char *id, const char *owner)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->owner, sizeof(d->owner), "%s", owner);
	d->state = DEV_BOOTSTRAPPED;
	d->created = d->updated = 1700000000;
}

/* Asserts that two devices are equal field by field. */
static void
assert_device_eq(const struct est_device *a, const struct est_device *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->state, b->state);
	assert_string_equal(a->owner, b->owner);
	assert_true(a->created == b->created);
	assert_true(a->updated == b->updated);
	assert_int_equal(a->serial_len, b->serial_len);
	assert_memory_equal(a->serial, b->serial, a->serial_len);
	assert_string_equal(a->last_ip, b->last_ip);
	assert_string_equal(a->last_ua, b->last_ua);
}

/* A certificate with serial {s0, s1, s2}; der is borrowed. */
static void
cert_make(struct est_cert *c, unsigned char s0, unsigned char s1,
    unsigned char s2, const char *device, unsigned char *der, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->serial[0] = s0;
	c->serial[1] = s1;
	c->serial[2] = s2;
	c->serial_len = 3;
	snprintf(c->device, sizeof(c->device), "%s", device);
	c->status = CERT_VALID;
	c->op = EST_OP_SIMPLEENROLL;
	c->not_before = 1700000000;
	c->not_after = 1700000000 + 365 * 86400;
	c->der = der;
	c->der_len = len;
}

/* Asserts that two certificates are equal field by field. */
static void
assert_cert_eq(const struct est_cert *a, const struct est_cert *b)
{
	assert_int_equal(a->serial_len, b->serial_len);
	assert_memory_equal(a->serial, b->serial, a->serial_len);
	assert_string_equal(a->device, b->device);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->op, b->op);
	assert_true(a->not_before == b->not_before);
	assert_true(a->not_after == b->not_after);
	assert_true(a->revoked_at == b->revoked_at);
	assert_int_equal(a->reason, b->reason);
	assert_int_equal(a->der_len, b->der_len);
	if (a->der_len > 0)
		assert_memory_equal(a->der, b->der, a->der_len);
}

/* Opens a raw environment on dir and database name (dup: sorted
 * duplicates).  Returns 0 or a Berkeley DB error. */
static int
raw_open(const char *dir, const char *name, int dup, DB_ENV **envp,
    DB **dbp)
{
	DB_ENV *env = NULL;
	DB     *db = NULL;
	int     ret;

	*envp = NULL;
	*dbp = NULL;
	if ((ret = db_env_create(&env, 0)) != 0)
		return ret;
	if ((ret = env->open(env, dir, RAW_ENV_FLAGS, 0)) != 0)
		goto out;
	if ((ret = db_create(&db, env, 0)) != 0) {
		db = NULL;
		goto out;
	}
	if (dup && (ret = db->set_flags(db, DB_DUP | DB_DUPSORT)) != 0)
		goto out;
	if ((ret = db->open(db, NULL, name, NULL, DB_BTREE,
	    DB_AUTO_COMMIT | DB_THREAD, 0)) != 0)
		goto out;
	*envp = env;
	*dbp = db;
	return 0;
out:
	if (db != NULL)
		db->close(db, 0);
	env->close(env, 0);
	return ret;
}

/* Closes what raw_open() opened. */
static void
raw_close(DB_ENV *env, DB *db)
{
	db->close(db, 0);
	env->close(env, 0);
}

/* Writes one raw record into database name of dir. */
static void
raw_put(const char *dir, const char *name, const void *k, size_t klen,
    const void *v, size_t vlen)
{
	DB_ENV       *env;
	DB           *db;
	unsigned char kb[64], vb[64];
	DBT           key, data;

	assert_true(klen <= sizeof(kb) && vlen <= sizeof(vb));
	memcpy(kb, k, klen);
	memcpy(vb, v, vlen);
	assert_int_equal(raw_open(dir, name, 0, &env, &db), 0);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kb;
	key.size = (u_int32_t)klen;
	data.data = vb;
	data.size = (u_int32_t)vlen;
	assert_int_equal(db->put(db, NULL, &key, &data, 0), 0);
	raw_close(env, db);
}

/* Scans the events database of dir: counts records, checks each key is
 * EVENT_KEY_LEN bytes, strictly greater than the previous one and each
 * record starts with version 1.  Returns the count. */
static size_t
raw_scan_events(const char *dir)
{
	DB_ENV       *env;
	DB           *db;
	DBC          *c = NULL;
	DBT           key, data;
	unsigned char prev[EVENT_KEY_LEN];
	size_t        n = 0;
	int           ret;

	assert_int_equal(raw_open(dir, "events", 0, &env, &db), 0);
	assert_int_equal(db->cursor(db, NULL, &c, 0), 0);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	while ((ret = c->get(c, &key, &data, DB_NEXT)) == 0) {
		assert_int_equal(key.size, EVENT_KEY_LEN);
		if (n > 0)
			assert_true(memcmp(prev, key.data, EVENT_KEY_LEN) < 0);
		memcpy(prev, key.data, EVENT_KEY_LEN);
		assert_true(data.size > 0);
		assert_int_equal(((unsigned char *)data.data)[0], 1);
		n++;
	}
	assert_int_equal(ret, DB_NOTFOUND);
	c->close(c);
	free(key.data);
	free(data.data);
	raw_close(env, db);
	return n;
}

/* Returns how many certificates the certs_by_device index lists for
 * device id in dir. */
static size_t
raw_count_by_device(const char *dir, const char *id)
{
	DB_ENV   *env;
	DB       *db;
	DBC      *c = NULL;
	DBT       key, data;
	char      kb[EST_MAX_DEVICE_ID + 1];
	db_recno_t count = 0;
	int       ret;

	snprintf(kb, sizeof(kb), "%s", id);
	assert_int_equal(raw_open(dir, "certs_by_device", 1, &env, &db), 0);
	assert_int_equal(db->cursor(db, NULL, &c, 0), 0);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kb;
	key.size = (u_int32_t)strlen(kb);
	data.flags = DB_DBT_MALLOC;
	ret = c->get(c, &key, &data, DB_SET);
	if (ret == 0) {
		free(data.data);
		assert_int_equal(c->count(c, &count, 0), 0);
	} else
		assert_int_equal(ret, DB_NOTFOUND);
	c->close(c);
	raw_close(env, db);
	return count;
}

/* Forks a child running body(dir, i, barrier); the child closes the
 * barrier's write end wfd (if not -1), is killed after
 * CHILD_TIMEOUT_SECS and exits with body's result.  Returns the pid. */
static pid_t
spawn(int (*body)(const char *, int, int), const char *dir, int i,
    int barrier, int wfd)
{
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0) {
		alarm(CHILD_TIMEOUT_SECS);
		if (wfd != -1)
			close(wfd);
		_exit(body(dir, i, barrier));
	}
	return pid;
}

/* Returns how many file descriptors this process has open. */
static int
count_fds(void)
{
	DIR           *d;
	struct dirent *de;
	int            n = 0;

	assert_non_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Closes the test's store. */
static void
test_close(struct tdir *t)
{
	store_close(t->st);
	t->st = NULL;
}

/* Waits for the barrier pipe's write end to close. */
static void
barrier_wait(int fd)
{
	char c;

	while (read(fd, &c, 1) == -1 && errno == EINTR)
		continue;
	close(fd);
}

/* ---- transaction bodies used by the tests ------------------------------ */

/* Puts the est_device arg. */
static enum est_err
put_device_fn(struct est_txn *t, void *arg)
{
	return txn_device_put(t, arg);
}

/* Reads device id ((struct est_device *)arg)->id into arg. */
static enum est_err
get_device_fn(struct est_txn *t, void *arg)
{
	struct est_device *d = arg;
	char               id[EST_MAX_DEVICE_ID + 1];

	memcpy(id, d->id, sizeof(id));
	return txn_device_get(t, id, d);
}

/* Inserts the est_cert arg. */
static enum est_err
insert_cert_fn(struct est_txn *t, void *arg)
{
	return txn_cert_insert(t, arg);
}

/* Updates the est_cert arg. */
static enum est_err
update_cert_fn(struct est_txn *t, void *arg)
{
	return txn_cert_update(t, arg);
}

struct put_then_insert {
	struct est_device dev;
	struct est_cert   cert;
};

/* Puts a device, then inserts a certificate (which may fail). */
static enum est_err
put_then_insert_fn(struct est_txn *t, void *arg)
{
	struct put_then_insert *a = arg;
	enum est_err            rc;

	if ((rc = txn_device_put(t, &a->dev)) != EST_OK)
		return rc;
	return txn_cert_insert(t, &a->cert);
}

/* Puts a device, then fails. */
static enum est_err
put_then_fail_fn(struct est_txn *t, void *arg)
{
	enum est_err rc;

	if ((rc = txn_device_put(t, arg)) != EST_OK)
		return rc;
	return est_fail(EST_ERR_FORBIDDEN, "test failure");
}

/* Adds two events inside one transaction. */
static enum est_err
two_events_fn(struct est_txn *t, void *arg)
{
	struct est_event *ev = arg;
	enum est_err      rc;

	if ((rc = txn_event_add(t, &ev[0])) != EST_OK)
		return rc;
	return txn_event_add(t, &ev[1]);
}

#define RACE_ID "race-device"

/* The bootstrap race: registers RACE_ID with owner arg unless present;
 * EST_ERR_DUPLICATE if present. */
static enum est_err
race_fn(struct est_txn *t, void *arg)
{
	struct est_device d;
	enum est_err      rc;

	rc = txn_device_get(t, RACE_ID, &d);
	if (rc == EST_OK)
		return EST_ERR_DUPLICATE;
	if (rc != EST_ERR_NOT_FOUND)
		return rc;
	device_small(&d, RACE_ID, arg);
	return txn_device_put(t, &d);
}

/* A race child: opens the store, waits, races, closes. */
static int
race_child(const char *dir, int i, int barrier)
{
	struct est_store *st;
	char              owner[32];
	enum est_err      rc;

	snprintf(owner, sizeof(owner), "child-%d", i);
	if (store_open(dir, &st) != EST_OK)
		return CHILD_OPEN_FAIL;
	barrier_wait(barrier);
	rc = store_run(st, race_fn, owner);
	store_close(st);
	if (rc == EST_OK)
		return CHILD_OK;
	return rc == EST_ERR_DUPLICATE ? CHILD_DUP : CHILD_RUN_FAIL;
}

/* Fills der with a pattern identifying (child, n). */
static void
writer_der(unsigned char *der, size_t len, int child, int n)
{
	size_t i;

	for (i = 0; i < len; i++)
		der[i] = (unsigned char)(child * 31 + n * 7 + i);
}

#define WRITER_DER_LEN 300

/* A writer child: inserts WRITER_CERTS certificates, one per
 * transaction, with serials {0x10 + i, n >> 8, n & 0xff}. */
static int
writer_child(const char *dir, int i, int barrier)
{
	struct est_store *st;
	struct est_cert   c;
	unsigned char     der[WRITER_DER_LEN];
	char              dev[32];
	int               n, code = CHILD_OK;

	snprintf(dev, sizeof(dev), "writer-%d", i);
	if (store_open(dir, &st) != EST_OK)
		return CHILD_OPEN_FAIL;
	barrier_wait(barrier);
	for (n = 0; n < WRITER_CERTS; n++) {
		writer_der(der, sizeof(der), i, n);
		cert_make(&c, (unsigned char)(0x10 + i), (unsigned char)(n >> 8),
		    (unsigned char)(n & 0xff), dev, der, sizeof(der));
		if (store_run(st, insert_cert_fn, &c) != EST_OK) {
			code = CHILD_RUN_FAIL;
			break;
		}
	}
	store_close(st);
	return code;
}

/* An event child: adds EVENT_CHILD_COUNT events, each its own
 * transaction. */
static int
event_child(const char *dir, int i, int barrier)
{
	struct est_store *st;
	struct est_event  ev;
	int               n, code = CHILD_OK;

	if (store_open(dir, &st) != EST_OK)
		return CHILD_OPEN_FAIL;
	barrier_wait(barrier);
	for (n = 0; n < EVENT_CHILD_COUNT; n++) {
		memset(&ev, 0, sizeof(ev));
		ev.op = EST_OP_BOOTSTRAP;
		ev.status = 409;
		snprintf(ev.device, sizeof(ev.device), "ev-%d-%d", i, n);
		if (store_event_add(st, &ev) != EST_OK) {
			code = CHILD_RUN_FAIL;
			break;
		}
	}
	store_close(st);
	return code;
}

/* In a child: opens the store in dir, waits for the barrier (fd; -1:
 * none), puts a small device id owned by owner and closes.  Returns
 * CHILD_OK or a failure code. */
static int
child_put(const char *dir, const char *id, const char *owner, int barrier)
{
	struct est_store *st;
	struct est_device d;
	int               code = CHILD_OK;

	if (store_open(dir, &st) != EST_OK)
		return CHILD_OPEN_FAIL;
	if (barrier >= 0)
		barrier_wait(barrier);
	device_small(&d, id, owner);
	if (store_run(st, put_device_fn, &d) != EST_OK)
		code = CHILD_RUN_FAIL;
	store_close(st);
	return code;
}

/* One of many children: opens the store, waits for the others (all
 * open then), registers a device of its own, closes. */
static int
many_child(const char *dir, int i, int barrier)
{
	char id[32];

	snprintf(id, sizeof(id), "many-%d", i);
	return child_put(dir, id, id, barrier);
}

/* Runs n children of body on dir, released together; stores exit codes
 * in codes[]. */
static void
run_children(int (*body)(const char *, int, int), const char *dir, int n,
    int *codes)
{
	pid_t pids[MANY_CHILDREN];
	int   fds[2], i, status;

	assert_true(n <= (int)(sizeof(pids) / sizeof(pids[0])));
	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < n; i++)
		pids[i] = spawn(body, dir, i, fds[0], fds[1]);
	close(fds[0]);
	/* Let every child open its store before releasing them. */
	sleep(1);
	close(fds[1]);
	for (i = 0; i < n; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		codes[i] = WEXITSTATUS(status);
	}
}

/* ---- tests ------------------------------------------------------------- */

/* The name tables match the enums. */
static void
test_name_tables(void **state)
{
	(void)state;
	assert_string_equal(est_op_names[EST_OP_NONE], "none");
	assert_string_equal(est_op_names[EST_OP_BOOTSTRAP], "bootstrap");
	assert_string_equal(est_op_names[EST_OP_OTHER], "other");
	assert_string_equal(est_dev_state_names[DEV_ENROLLED], "enrolled");
	assert_string_equal(est_cert_status_names[CERT_REVOKED], "revoked");
	assert_string_equal(est_cert_status_names[CERT_SUPERSEDED],
	    "superseded");
}

/* Opening an empty directory creates the store; close on NULL is safe. */
static void
test_open_empty_dir(void **state)
{
	struct tdir      *t = *state;
	char              path[256];
	struct stat       sb;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_non_null(t->st);
	test_close(t);
	store_close(NULL);
	snprintf(path, sizeof(path), "%s/devices", t->path);
	assert_int_equal(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/certs_by_device", t->path);
	assert_int_equal(stat(path, &sb), 0);
}

/* A missing directory, or a file in its place: EST_ERR_STORE naming the
 * path. */
static void
test_open_missing_dir(void **state)
{
	struct tdir      *t = *state;
	char              path[256];
	FILE             *f;

	snprintf(path, sizeof(path), "%s/missing", t->path);
	est_reason_clear();
	assert_int_equal(store_open(path, &t->st), EST_ERR_STORE);
	assert_null(t->st);
	assert_non_null(strstr(est_reason(EST_ERR_STORE), path));

	snprintf(path, sizeof(path), "%s/file", t->path);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	assert_int_equal(store_open(path, &t->st), EST_ERR_STORE);
	assert_null(t->st);
	assert_non_null(strstr(est_reason(EST_ERR_STORE), path));
}

/* A directory the process cannot write (skipped as root). */
static void
test_open_unwritable_dir(void **state)
{
	struct tdir      *t = *state;
	char              path[256];

	if (geteuid() == 0)
		skip();
	snprintf(path, sizeof(path), "%s/ro", t->path);
	assert_int_equal(mkdir(path, 0500), 0);
	assert_int_equal(store_open(path, &t->st), EST_ERR_STORE);
	assert_null(t->st);
	assert_non_null(strstr(est_reason(EST_ERR_STORE), path));
}

/* Every device field survives put and get, strings at their longest. */
static void
test_device_roundtrip(void **state)
{
	struct tdir      *t = *state;
	struct est_device in, out;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	device_full(&in);
	assert_int_equal(store_run(t->st, put_device_fn, &in), EST_OK);

	memset(&out, 0, sizeof(out));
	memcpy(out.id, in.id, sizeof(out.id));
	assert_int_equal(store_run(t->st, get_device_fn, &out), EST_OK);
	assert_device_eq(&in, &out);

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(store_device_get(t->st, in.id, &out), EST_OK);
	assert_device_eq(&in, &out);

	/* overwrite */
	in.state = DEV_BOOTSTRAPPED;
	in.serial_len = 0;
	in.last_ua[0] = '\0';
	assert_int_equal(store_run(t->st, put_device_fn, &in), EST_OK);
	assert_int_equal(store_device_get(t->st, in.id, &out), EST_OK);
	assert_device_eq(&in, &out);
	test_close(t);
}

/* Absent devices are EST_ERR_NOT_FOUND; bad IDs and bad fields are
 * refused. */
static void
test_device_absent_and_invalid(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	char              longid[EST_MAX_DEVICE_ID + 2];

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_device_get(t->st, "nobody", &d), EST_ERR_NOT_FOUND);
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "nobody");
	assert_int_equal(store_run(t->st, get_device_fn, &d), EST_ERR_NOT_FOUND);

	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(store_device_get(t->st, longid, &d), EST_ERR_INTERNAL);
	assert_int_equal(store_device_get(t->st, "", &d), EST_ERR_INTERNAL);

	device_small(&d, "bad-state", "u");
	d.state = DEV_STATE__MAX;
	assert_int_equal(store_run(t->st, put_device_fn, &d), EST_ERR_INTERNAL);
	device_small(&d, "bad-owner", "u");
	memset(d.owner, 'o', sizeof(d.owner));  /* no NUL */
	assert_int_equal(store_run(t->st, put_device_fn, &d), EST_ERR_INTERNAL);
	assert_int_equal(store_device_get(t->st, "bad-owner", &d),
	    EST_ERR_NOT_FOUND);
	test_close(t);
}

/* A certificate with a DER blob (small and the largest) survives insert
 * and get. */
static void
test_cert_roundtrip(void **state)
{
	struct tdir      *t = *state;
	struct est_cert   in, out;
	unsigned char    *der;
	size_t            i;

	assert_non_null(der = malloc(BIG_DER_LEN));
	for (i = 0; i < BIG_DER_LEN; i++)
		der[i] = (unsigned char)(i * 13 + 5);
	assert_int_equal(store_open(t->path, &t->st), EST_OK);

	cert_make(&in, 0x00, 0x01, 0x02, "dev-a", der, 100);
	in.status = CERT_REVOKED;
	in.op = EST_OP_BOOTSTRAP;
	in.revoked_at = 1700001234;
	in.reason = 4;
	in.not_before = -5;
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_OK);
	assert_int_equal(store_cert_get(t->st, in.serial, in.serial_len, &out),
	    EST_OK);
	assert_cert_eq(&in, &out);
	assert_true(out.der != der);
	cert_clear(&out);
	assert_null(out.der);
	assert_int_equal(out.der_len, 0);

	cert_make(&in, 0x7f, 0xff, 0xff, "dev-b", der, BIG_DER_LEN);
	for (i = 0; i < EST_SERIAL_LEN; i++)
		in.serial[i] = (unsigned char)(0x80 + i);
	in.serial_len = EST_SERIAL_LEN;
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_OK);
	assert_int_equal(store_cert_get(t->st, in.serial, in.serial_len, &out),
	    EST_OK);
	assert_cert_eq(&in, &out);
	cert_clear(&out);

	/* empty DER, absent serial, too-large DER */
	cert_make(&in, 0x03, 0x04, 0x05, "dev-c", NULL, 0);
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_OK);
	assert_int_equal(store_cert_get(t->st, in.serial, in.serial_len, &out),
	    EST_OK);
	assert_cert_eq(&in, &out);
	assert_null(out.der);
	cert_clear(&out);
	in.serial[2] = 0x06;
	assert_int_equal(store_cert_get(t->st, in.serial, in.serial_len, &out),
	    EST_ERR_NOT_FOUND);
	cert_make(&in, 0x03, 0x04, 0x07, "dev-c", der, BIG_DER_LEN + 1);
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_ERR_INTERNAL);
	in.der_len = 1;
	in.serial_len = 0;
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_ERR_INTERNAL);
	cert_clear(NULL);

	test_close(t);
	free(der);
}

/* A duplicate serial is EST_ERR_EXISTS and rolls back the whole
 * transaction (the device put before it is gone). */
static void
test_cert_duplicate_rolls_back(void **state)
{
	struct tdir           *t = *state;
	struct put_then_insert a;
	struct est_device      d;
	struct est_cert        out;
	unsigned char          der1[] = { 1, 2, 3 }, der2[] = { 9, 9 };

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	cert_make(&a.cert, 0x42, 0x42, 0x42, "first", der1, sizeof(der1));
	assert_int_equal(store_run(t->st, insert_cert_fn, &a.cert), EST_OK);

	device_small(&a.dev, "rollback-dev", "u");
	cert_make(&a.cert, 0x42, 0x42, 0x42, "rollback-dev", der2,
	    sizeof(der2));
	assert_int_equal(store_run(t->st, put_then_insert_fn, &a), EST_ERR_EXISTS);
	assert_int_equal(store_device_get(t->st, "rollback-dev", &d),
	    EST_ERR_NOT_FOUND);
	assert_int_equal(store_cert_get(t->st, a.cert.serial, 3, &out), EST_OK);
	assert_string_equal(out.device, "first");
	assert_int_equal(out.der_len, sizeof(der1));
	cert_clear(&out);
	test_close(t);
	assert_int_equal(raw_count_by_device(t->path, "first"), 1);
	assert_int_equal(raw_count_by_device(t->path, "rollback-dev"), 0);
}

/* A function returning an error leaves nothing behind. */
static void
test_fn_error_leaves_nothing(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	device_small(&d, "ghost", "u");
	assert_int_equal(store_run(t->st, put_then_fail_fn, &d),
	    EST_ERR_FORBIDDEN);
	assert_int_equal(store_device_get(t->st, "ghost", &d), EST_ERR_NOT_FOUND);
	test_close(t);
}

/* txn_cert_update changes the status; an absent serial is NOT_FOUND;
 * the index follows a device change. */
static void
test_cert_update(void **state)
{
	struct tdir      *t = *state;
	struct est_cert   c, out;
	unsigned char     der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	cert_make(&c, 0x01, 0x02, 0x03, "upd", der, sizeof(der));
	assert_int_equal(store_run(t->st, insert_cert_fn, &c), EST_OK);
	c.status = CERT_SUPERSEDED;
	assert_int_equal(store_run(t->st, update_cert_fn, &c), EST_OK);
	assert_int_equal(store_cert_get(t->st, c.serial, 3, &out), EST_OK);
	assert_int_equal(out.status, CERT_SUPERSEDED);
	assert_cert_eq(&c, &out);
	cert_clear(&out);

	c.status = CERT_REVOKED;
	c.revoked_at = 1700009999;
	c.reason = 1;
	assert_int_equal(store_run(t->st, update_cert_fn, &c), EST_OK);
	assert_int_equal(store_cert_get(t->st, c.serial, 3, &out), EST_OK);
	assert_cert_eq(&c, &out);
	cert_clear(&out);

	c.serial[0] = 0x99;
	assert_int_equal(store_run(t->st, update_cert_fn, &c), EST_ERR_NOT_FOUND);
	assert_int_equal(store_cert_get(t->st, c.serial, 3, &out),
	    EST_ERR_NOT_FOUND);
	test_close(t);
	assert_int_equal(raw_count_by_device(t->path, "upd"), 1);
}

/* Events: many adds succeed, time is set, keys are unique and ordered. */
static void
test_events(void **state)
{
	struct tdir      *t = *state;
	struct est_event  ev, two[2];
	int               i;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	for (i = 0; i < EVENT_COUNT; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.op = EST_OP_SIMPLEENROLL;
		ev.status = 403;
		snprintf(ev.device, sizeof(ev.device), "dev-%d", i);
		snprintf(ev.user, sizeof(ev.user), "user");
		snprintf(ev.ip, sizeof(ev.ip), "192.0.2.1");
		snprintf(ev.reason, sizeof(ev.reason), "refused %d", i);
		assert_int_equal(store_event_add(t->st, &ev), EST_OK);
		assert_true(ev.time_us > 0);
	}
	/* Largest fields, one explicit time, two in one transaction. */
	memset(two, 0, sizeof(two));
	fill_max(two[0].device, sizeof(two[0].device), 'd');
	fill_max(two[0].user, sizeof(two[0].user), 'u');
	fill_max(two[0].ip, sizeof(two[0].ip), 'i');
	fill_max(two[0].ua, sizeof(two[0].ua), 'a');
	fill_max(two[0].reason, sizeof(two[0].reason), 'r');
	two[0].serial_len = EST_SERIAL_LEN;
	two[0].time_us = 1;
	two[1] = two[0];
	two[1].time_us = 0;
	assert_int_equal(store_run(t->st, two_events_fn, two), EST_OK);
	assert_true(two[0].time_us == 1);
	assert_true(two[1].time_us > 1);

	memset(&ev, 0, sizeof(ev));
	ev.op = EST_OP__MAX;
	assert_int_equal(store_event_add(t->st, &ev), EST_ERR_INTERNAL);
	test_close(t);
	assert_int_equal(raw_scan_events(t->path), EVENT_COUNT + 2);
}

/* Data survives close and reopen. */
static void
test_reopen_keeps_data(void **state)
{
	struct tdir      *t = *state;
	struct est_device in, out;
	struct est_cert   c, cout;
	unsigned char     der[] = { 0xde, 0xad };

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	device_full(&in);
	assert_int_equal(store_run(t->st, put_device_fn, &in), EST_OK);
	cert_make(&c, 0x0a, 0x0b, 0x0c, in.id, der, sizeof(der));
	assert_int_equal(store_run(t->st, insert_cert_fn, &c), EST_OK);
	test_close(t);

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_device_get(t->st, in.id, &out), EST_OK);
	assert_device_eq(&in, &out);
	assert_int_equal(store_cert_get(t->st, c.serial, 3, &cout), EST_OK);
	assert_cert_eq(&c, &cout);
	cert_clear(&cout);
	test_close(t);
}

/* A malformed record reads as EST_ERR_INTERNAL. */
static void
test_malformed_records(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	struct est_cert   c;
	unsigned char     serial[] = { 0x01 };
	unsigned char     trunc[] = { 1, 1, 0, 0 };
	unsigned char     badver[] = { 2, 1, 0, 0, 0, 0, 0, 0, 0, 0,
	                               0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	unsigned char     longstr[] = { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                                0, 0, 0, 0, 0, 0, 0xff, 0xff, 'x' };

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	test_close(t);
	raw_put(t->path, "devices", "trunc", 5, trunc, sizeof(trunc));
	raw_put(t->path, "devices", "badver", 6, badver, sizeof(badver));
	raw_put(t->path, "devices", "longstr", 7, longstr, sizeof(longstr));
	raw_put(t->path, "certs", serial, 1, trunc, sizeof(trunc));

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_device_get(t->st, "trunc", &d), EST_ERR_INTERNAL);
	assert_int_equal(store_device_get(t->st, "badver", &d), EST_ERR_INTERNAL);
	assert_int_equal(store_device_get(t->st, "longstr", &d),
	    EST_ERR_INTERNAL);
	assert_int_equal(store_cert_get(t->st, serial, 1, &c), EST_ERR_INTERNAL);
	assert_null(c.der);
	test_close(t);
}

/* Certificate records keep their CA label (v2), and a record written
 * before labels (v1: no label) still reads, as label "". */
static void
test_cert_label(void **state)
{
	struct tdir    *t = *state;
	struct est_cert in, out;
	unsigned char   der[] = { 0x30, 0x00 };
	unsigned char   serial[] = { 0x42 };
	/* v1: version, status, op, not_before, not_after, revoked_at,
	 * reason, device "old", der_len 2, der. */
	unsigned char   v1[] = { 1, CERT_VALID, EST_OP_SIMPLEENROLL,
	                         0, 0, 0, 0, 0, 0, 0, 1,
	                         0, 0, 0, 0, 0, 0, 0, 2,
	                         0, 0, 0, 0, 0, 0, 0, 0,
	                         0, 0, 0, 0,
	                         0, 3, 'o', 'l', 'd',
	                         0, 0, 0, 2, 0x30, 0x00 };

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	cert_make(&in, 0x11, 0x22, 0x33, "dev-l", der, sizeof(der));
	snprintf(in.label, sizeof(in.label), "rsa");
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_OK);
	assert_int_equal(store_cert_get(t->st, in.serial, in.serial_len, &out),
	    EST_OK);
	assert_string_equal(out.label, "rsa");
	cert_clear(&out);
	fill_max(in.label, sizeof(in.label), 'x');
	in.serial[0] = 0x12;
	assert_int_equal(store_run(t->st, insert_cert_fn, &in), EST_OK);
	assert_int_equal(store_cert_get(t->st, in.serial, in.serial_len, &out),
	    EST_OK);
	assert_string_equal(out.label, in.label);
	cert_clear(&out);
	test_close(t);

	raw_put(t->path, "certs", serial, 1, v1, sizeof(v1));
	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_cert_get(t->st, serial, 1, &out), EST_OK);
	assert_string_equal(out.label, "");
	assert_string_equal(out.device, "old");
	assert_int_equal(out.status, CERT_VALID);
	assert_int_equal(out.op, EST_OP_SIMPLEENROLL);
	assert_true(out.not_before == 1 && out.not_after == 2);
	assert_int_equal(out.der_len, 2);
	cert_clear(&out);
	test_close(t);
}

/* Eight processes bootstrap one ID at once: exactly one wins. */
static void
test_race_bootstrap(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	int               codes[RACE_CHILDREN], i, ok = 0, dup = 0, winner = -1;
	char              owner[32];

	/* Create the environment first so children only join it. */
	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	test_close(t);
	run_children(race_child, t->path, RACE_CHILDREN, codes);
	for (i = 0; i < RACE_CHILDREN; i++) {
		if (codes[i] == CHILD_OK) {
			ok++;
			winner = i;
		} else if (codes[i] == CHILD_DUP)
			dup++;
		else
			fail_msg("child %d exited %d", i, codes[i]);
	}
	assert_int_equal(ok, 1);
	assert_int_equal(dup, RACE_CHILDREN - 1);

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_device_get(t->st, RACE_ID, &d), EST_OK);
	snprintf(owner, sizeof(owner), "child-%d", winner);
	assert_string_equal(d.owner, owner);
	test_close(t);
}

/* MANY_CHILDREN processes (FastCGI workers) with the store open at once
 * each commit a transaction: the environment's mutex region is sized
 * for them (it once ran out at about 64 processes and every
 * transaction failed with ENOMEM). */
static void
test_many_processes(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	int               codes[MANY_CHILDREN], i;
	char              id[32];

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	test_close(t);
	run_children(many_child, t->path, MANY_CHILDREN, codes);
	for (i = 0; i < MANY_CHILDREN; i++)
		if (codes[i] != CHILD_OK)
			fail_msg("child %d exited %d", i, codes[i]);
	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	for (i = 0; i < MANY_CHILDREN; i++) {
		snprintf(id, sizeof(id), "many-%d", i);
		assert_int_equal(store_device_get(t->st, id, &d), EST_OK);
	}
	test_close(t);
}

/* Four processes, starting on an empty directory, each insert
 * WRITER_CERTS certificates; all are readable afterwards. */
static void
test_multi_writer(void **state)
{
	struct tdir      *t = *state;
	struct est_cert   want, got;
	unsigned char     der[WRITER_DER_LEN];
	char              dev[32];
	int               codes[WRITER_CHILDREN], i, n;

	run_children(writer_child, t->path, WRITER_CHILDREN, codes);
	for (i = 0; i < WRITER_CHILDREN; i++)
		if (codes[i] != CHILD_OK)
			fail_msg("writer %d exited %d", i, codes[i]);

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	for (i = 0; i < WRITER_CHILDREN; i++) {
		snprintf(dev, sizeof(dev), "writer-%d", i);
		for (n = 0; n < WRITER_CERTS; n++) {
			writer_der(der, sizeof(der), i, n);
			cert_make(&want, (unsigned char)(0x10 + i),
			    (unsigned char)(n >> 8), (unsigned char)(n & 0xff),
			    dev, der, sizeof(der));
			assert_int_equal(store_cert_get(t->st, want.serial, 3,
			    &got), EST_OK);
			assert_cert_eq(&want, &got);
			cert_clear(&got);
		}
	}
	test_close(t);
	for (i = 0; i < WRITER_CHILDREN; i++) {
		snprintf(dev, sizeof(dev), "writer-%d", i);
		assert_int_equal(raw_count_by_device(t->path, dev),
		    WRITER_CERTS);
	}
}

/* The store crash_child() never closes (static: reachable, not leaked). */
static struct est_store *crashed_store;

/* Four processes add events at once: none lost, keys unique and
 * ordered. */
static void
test_multi_process_events(void **state)
{
	struct tdir *t = *state;
	int          codes[WRITER_CHILDREN], i;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	test_close(t);
	run_children(event_child, t->path, WRITER_CHILDREN, codes);
	for (i = 0; i < WRITER_CHILDREN; i++)
		if (codes[i] != CHILD_OK)
			fail_msg("event writer %d exited %d", i, codes[i]);
	assert_int_equal(raw_scan_events(t->path),
	    WRITER_CHILDREN * EVENT_CHILD_COUNT);
}

/* A child that opens the store and dies without closing it. */
static int
crash_child(const char *dir, int i, int barrier)
{
	(void)i;
	(void)barrier;
	if (store_open(dir, &crashed_store) != EST_OK)
		return CHILD_OPEN_FAIL;
	return CHILD_OK;        /* _exit without store_close() */
}

/* A child that opens the store (running recovery) and adds a device. */
static int
after_crash_child(const char *dir, int i, int barrier)
{
	(void)i;
	(void)barrier;
	return child_put(dir, "after", "b", -1);
}

/* Another worker dies, the next opener runs recovery; this process's
 * handles then see DB_RUNRECOVERY and the store reopens transparently,
 * leaking no descriptors. */
static void
test_recover_after_crash(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	int               status, fds;
	pid_t             pid;

	fds = count_fds();
	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	device_small(&d, "before", "a");
	assert_int_equal(store_run(t->st, put_device_fn, &d), EST_OK);

	pid = spawn(crash_child, t->path, 0, -1, -1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pid = spawn(after_crash_child, t->path, 0, -1, -1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), CHILD_OK);

	assert_int_equal(store_device_get(t->st, "after", &d), EST_OK);
	assert_string_equal(d.owner, "b");
	assert_int_equal(store_device_get(t->st, "before", &d), EST_OK);
	device_small(&d, "later", "a");
	assert_int_equal(store_run(t->st, put_device_fn, &d), EST_OK);
	test_close(t);
	assert_int_equal(count_fds(), fds);
}

/* ---- a killed worker not yet reaped (issue 7) ------------------------- */

#define ZOMBIE_WRITE_SECS 30 /* the writer is killed after this long */

/* Reads device "z" with a write lock (DB_RMW) in a transaction, tells
 * the parent through the pipe's write end fd, and waits to be killed
 * holding the lock. */
static enum est_err
zombie_hold_fn(struct est_txn *t, void *arg)
{
	struct est_device d;
	int               fd = *(int *)arg;
	enum est_err      rc;

	if ((rc = txn_device_get(t, "z", &d)) != EST_OK)
		return rc;
	if (write(fd, "h", 1) != 1)
		return EST_ERR_INTERNAL;
	for (;;)
		pause();
}

/* Child: opens the store and holds device "z" locked until killed
 * (fd: the pipe's write end).  Returns an exit code only on failure. */
static int
zombie_holder(const char *dir, int fd, int barrier)
{
	struct est_store *st;

	(void)barrier;
	if (store_open(dir, &st) != EST_OK)
		return CHILD_OPEN_FAIL;
	(void)store_run(st, zombie_hold_fn, &fd);
	return CHILD_RUN_FAIL;
}

/* Child: opens the store (the open's failchk must free the killed
 * holder's lock) and rewrites device "z" within ZOMBIE_WRITE_SECS.
 * Returns CHILD_OK or a failure code. */
static int
zombie_writer(const char *dir, int i, int barrier)
{
	(void)i;
	(void)barrier;
	alarm(ZOMBIE_WRITE_SECS);
	return child_put(dir, "z", "after", -1);
}

/* A worker killed holding a lock and not yet reaped by its parent (a
 * zombie, as between a kill -9 and the supervisor's waitpid()): the
 * next opener's failchk counts it dead and frees its lock, so a write
 * waiting for that lock goes through (it waited for ever when the
 * is-alive check counted a zombie alive). */
static void
test_failchk_zombie(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	siginfo_t         si;
	int               p[2], status;
	pid_t             holder, writer;
	char              c;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	device_small(&d, "z", "before");
	assert_int_equal(store_run(t->st, put_device_fn, &d), EST_OK);
	test_close(t);

	assert_int_equal(pipe(p), 0);
	holder = spawn(zombie_holder, t->path, p[1], -1, p[0]);
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(kill(holder, SIGKILL), 0);
	/* dead but not reaped (WNOWAIT) */
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)holder, &si, WEXITED | WNOWAIT),
	    0);
	assert_int_equal(si.si_pid, holder);

	writer = spawn(zombie_writer, t->path, 0, -1, -1);
	assert_int_equal(waitpid(writer, &status, 0), writer);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), CHILD_OK);
	assert_int_equal(waitpid(holder, &status, 0), holder);

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_device_get(t->st, "z", &d), EST_OK);
	assert_string_equal(d.owner, "after");
	test_close(t);
}

/* ---- approval queue, duplicate policy, rate limits -------------------- */

#define RATE_LIMIT    5     /* limit the rate-limit race enforces */
#define RATE_WINDOW   3600
#define RATE_NOW      1700000000

/* A waiting request of device id with key hash byte k and a short CSR. */
static void
pending_make(struct est_pending *p, const char *id, unsigned char k)
{
	static unsigned char csr[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };

	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->state = PEND_WAITING;
	p->op = EST_OP_BOOTSTRAP;
	memset(p->key_hash, k, sizeof(p->key_hash));
	snprintf(p->label, sizeof(p->label), "manual");
	snprintf(p->user, sizeof(p->user), "estuser");
	snprintf(p->ip, sizeof(p->ip), "127.0.0.1");
	p->created = RATE_NOW;
	p->csr = csr;
	p->csr_len = sizeof(csr);
}

/* Puts the est_pending arg and a DEV_PENDING device of the same ID. */
static enum est_err
pending_put_fn(struct est_txn *t, void *arg)
{
	struct est_pending *p = arg;
	struct est_device   d;
	enum est_err        rc;

	if ((rc = txn_pending_put(t, p)) != EST_OK)
		return rc;
	device_small(&d, p->id, "estuser");
	d.state = DEV_PENDING;
	return txn_device_put(t, &d);
}

/* Reads the pending request of the device ID arg points to (first
 * member of struct est_pending). */
static enum est_err
pending_get_fn(struct est_txn *t, void *arg)
{
	struct est_pending *p = arg;
	char                id[EST_MAX_DEVICE_ID + 1];

	snprintf(id, sizeof(id), "%s", p->id);
	return txn_pending_get(t, id, p, 1);
}

/* One rate-limit take: arg is an int[2] {limit, retry_after out}, the
 * key ("", 'u', "estuser") at RATE_NOW + 10. */
static enum est_err
rate_fn(struct est_txn *t, void *arg)
{
	int *a = arg;

	return txn_rate_take(t, "", 'u', "estuser", a[0], RATE_WINDOW,
	    RATE_NOW + 10, &a[1]);
}

/* One take with limit 2 for the user named by arg (any length). */
static enum est_err
rate_name_fn(struct est_txn *t, void *arg)
{
	int ra;

	return txn_rate_take(t, "", 'u', arg, 2, RATE_WINDOW, RATE_NOW, &ra);
}

/* A rate child: takes once from the shared key with limit RATE_LIMIT. */
static int
rate_child(const char *dir, int i, int barrier)
{
	struct est_store *st;
	enum est_err      rc;
	int               a[2] = { RATE_LIMIT, 0 };

	(void)i;
	if (store_open(dir, &st) != EST_OK)
		return CHILD_OPEN_FAIL;
	barrier_wait(barrier);
	rc = store_run(st, rate_fn, a);
	store_close(st);
	if (rc == EST_OK)
		return CHILD_OK;
	return rc == EST_ERR_RATE_LIMITED ? CHILD_DUP : CHILD_RUN_FAIL;
}

/* Revokes the certificates of "dup-dev", n out in *(size_t *)arg. */
static enum est_err
revoke_all_fn(struct est_txn *t, void *arg)
{
	return txn_device_revoke_certs(t, "dup-dev", EST_REASON_SUPERSEDED,
	    RATE_NOW, arg);
}

/* A pending request round-trips with every field; absent is
 * NOT_FOUND; the list filters by state. */
static void
test_pending_roundtrip(void **state)
{
	struct tdir       *t = *state;
	struct est_pending p, q, items[4];
	size_t             n;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	pending_make(&p, "pend-1", 0xab);
	assert_int_equal(store_run(t->st, pending_put_fn, &p), EST_OK);
	memset(&q, 0, sizeof(q));
	snprintf(q.id, sizeof(q.id), "pend-1");
	assert_int_equal(store_run(t->st, pending_get_fn, &q), EST_OK);
	assert_int_equal(q.state, PEND_WAITING);
	assert_int_equal(q.op, EST_OP_BOOTSTRAP);
	assert_memory_equal(q.key_hash, p.key_hash, EST_KEY_HASH_LEN);
	assert_string_equal(q.label, "manual");
	assert_string_equal(q.user, "estuser");
	assert_int_equal(q.created, RATE_NOW);
	assert_int_equal(q.csr_len, p.csr_len);
	assert_memory_equal(q.csr, p.csr, p.csr_len);
	pending_clear(&q);
	snprintf(q.id, sizeof(q.id), "pend-none");
	assert_int_equal(store_run(t->st, pending_get_fn, &q),
	    EST_ERR_NOT_FOUND);

	pending_make(&p, "pend-2", 0xcd);
	assert_int_equal(store_run(t->st, pending_put_fn, &p), EST_OK);
	assert_int_equal(store_pending_list(t->st, PEND_NONE, items, 4, &n),
	    EST_OK);
	assert_int_equal(n, 2);
	assert_string_equal(items[0].id, "pend-1");
	assert_null(items[0].csr);
	assert_int_equal(store_pending_list(t->st, PEND_APPROVED, items, 4,
	    &n), EST_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_pending_list(t->st, PEND_WAITING, items, 1,
	    &n), EST_OK);
	assert_int_equal(n, 1);
	store_close(t->st);
	t->st = NULL;
}

/* Approve and reject: once only; a rejection keeps the request with its
 * reason and removes the DEV_PENDING device; both are events. */
static void
test_pending_decide(void **state)
{
	struct tdir       *t = *state;
	struct est_pending p, q;
	struct est_device  d;
	struct est_event   ev;
	struct est_stats   s;

	assert_string_equal(est_op_names[EST_OP_APPROVE], "approve");
	assert_string_equal(est_op_names[EST_OP_REJECT], "reject");
	assert_string_equal(est_pend_names[PEND_WAITING], "pending");
	assert_string_equal(est_dup_names[DUP_REVOKE_PREVIOUS],
	    "revoke-previous");
	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	pending_make(&p, "dec-a", 1);
	assert_int_equal(store_run(t->st, pending_put_fn, &p), EST_OK);
	pending_make(&p, "dec-r", 2);
	assert_int_equal(store_run(t->st, pending_put_fn, &p), EST_OK);

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.user, sizeof(ev.user), "admin");
	assert_int_equal(store_pending_decide(t->st, "dec-a", 1, "", &ev),
	    EST_OK);
	assert_int_equal(ev.op, EST_OP_APPROVE);
	assert_int_equal(store_pending_decide(t->st, "dec-a", 0, "late", &ev),
	    EST_ERR_CONFLICT);
	assert_int_equal(store_pending_decide(t->st, "dec-none", 1, "", &ev),
	    EST_ERR_NOT_FOUND);
	memset(&q, 0, sizeof(q));
	snprintf(q.id, sizeof(q.id), "dec-a");
	assert_int_equal(store_run(t->st, pending_get_fn, &q), EST_OK);
	assert_int_equal(q.state, PEND_APPROVED);
	assert_string_equal(q.decided_by, "admin");
	assert_true(q.decided > 0);
	assert_true(q.csr_len > 0);
	pending_clear(&q);
	assert_int_equal(store_device_get(t->st, "dec-a", &d), EST_OK);
	assert_int_equal(d.state, DEV_PENDING);

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.user, sizeof(ev.user), "admin");
	assert_int_equal(store_pending_decide(t->st, "dec-r", 0, "unknown "
	    "device", &ev), EST_OK);
	assert_string_equal(ev.reason, "rejected: unknown device");
	snprintf(q.id, sizeof(q.id), "dec-r");
	assert_int_equal(store_run(t->st, pending_get_fn, &q), EST_OK);
	assert_int_equal(q.state, PEND_REJECTED);
	assert_string_equal(q.reason, "unknown device");
	assert_int_equal(q.csr_len, 0);
	pending_clear(&q);
	assert_int_equal(store_device_get(t->st, "dec-r", &d),
	    EST_ERR_NOT_FOUND);
	assert_int_equal(store_stats(t->st, 0, &s), EST_OK);
	assert_int_equal(s.by_state[DEV_PENDING], 1);
	store_close(t->st);
	t->st = NULL;
}

/* The rate limit: limit takes pass, the next is refused with the
 * seconds left in the window and counts nothing; limit 0 is off. */
static void
test_rate_limit(void **state)
{
	struct tdir *t = *state;
	int          a[2] = { 3, 0 }, i;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	for (i = 0; i < 3; i++)
		assert_int_equal(store_run(t->st, rate_fn, a), EST_OK);
	assert_int_equal(store_run(t->st, rate_fn, a), EST_ERR_RATE_LIMITED);
	assert_int_equal(a[1], RATE_WINDOW);
	/* A higher limit sees 3 counted, not 4: the refusal took none. */
	a[0] = 4;
	assert_int_equal(store_run(t->st, rate_fn, a), EST_OK);
	assert_int_equal(store_run(t->st, rate_fn, a), EST_ERR_RATE_LIMITED);
	a[0] = 0;
	assert_int_equal(store_run(t->st, rate_fn, a), EST_OK);
	store_close(t->st);
	t->st = NULL;
}

/* A REMOTE_USER longer than EST_MAX_USER is counted (by its hash), each
 * such name on its own, not refused as a store error. */
static void
test_rate_limit_long_user(void **state)
{
	struct tdir *t = *state;
	char         a[3 * EST_MAX_USER], b[3 * EST_MAX_USER];

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 2] = 'y';
	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	assert_int_equal(store_run(t->st, rate_name_fn, a), EST_OK);
	assert_int_equal(store_run(t->st, rate_name_fn, a), EST_OK);
	assert_int_equal(store_run(t->st, rate_name_fn, a),
	    EST_ERR_RATE_LIMITED);
	assert_int_equal(store_run(t->st, rate_name_fn, b), EST_OK);
	store_close(t->st);
	t->st = NULL;
}

/* 8 processes take at once from one key with limit 5: exactly 5 pass. */
static void
test_rate_limit_race(void **state)
{
	struct tdir *t = *state;
	int          codes[RACE_CHILDREN], i, ok = 0, limited = 0;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	store_close(t->st);
	t->st = NULL;
	run_children(rate_child, t->path, RACE_CHILDREN, codes);
	for (i = 0; i < RACE_CHILDREN; i++) {
		ok += codes[i] == CHILD_OK;
		limited += codes[i] == CHILD_DUP;
	}
	assert_int_equal(ok, RATE_LIMIT);
	assert_int_equal(limited, RACE_CHILDREN - RATE_LIMIT);
}

/* txn_device_revoke_certs revokes what is not revoked yet, with the
 * reason given, and says how many. */
static void
test_revoke_device_certs(void **state)
{
	struct tdir    *t = *state;
	struct est_cert c, out[3];
	unsigned char   der[16] = { 0x30 };
	size_t          n = 0, i;

	assert_int_equal(store_open(t->path, &t->st), EST_OK);
	for (i = 0; i < 3; i++) {
		cert_make(&c, 0x40, 0, (unsigned char)i, "dup-dev", der,
		    sizeof(der));
		if (i == 0) {
			c.status = CERT_REVOKED;
			c.reason = EST_CRL_CESSATION;
			c.revoked_at = 1;
		}
		assert_int_equal(store_run(t->st, insert_cert_fn, &c), EST_OK);
	}
	assert_int_equal(store_run(t->st, revoke_all_fn, &n), EST_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_device_certs(t->st, "dup-dev", out, 3, &n),
	    EST_OK);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(out[i].status, CERT_REVOKED);
		assert_int_equal(out[i].reason, out[i].revoked_at == 1 ?
		    EST_CRL_CESSATION : EST_REASON_SUPERSEDED);
	}
	store_close(t->st);
	t->st = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_tables),
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
		T(test_open_empty_dir),
		T(test_open_missing_dir),
		T(test_open_unwritable_dir),
		T(test_device_roundtrip),
		T(test_device_absent_and_invalid),
		T(test_cert_roundtrip),
		T(test_cert_duplicate_rolls_back),
		T(test_fn_error_leaves_nothing),
		T(test_cert_update),
		T(test_events),
		T(test_reopen_keeps_data),
		T(test_malformed_records),
		T(test_cert_label),
		T(test_race_bootstrap),
		T(test_many_processes),
		T(test_multi_writer),
		T(test_multi_process_events),
		T(test_recover_after_crash),
		T(test_failchk_zombie),
		T(test_pending_roundtrip),
		T(test_pending_decide),
		T(test_rate_limit),
		T(test_rate_limit_long_user),
		T(test_rate_limit_race),
		T(test_revoke_device_certs),
#undef T
	};

	est_log_open("test-store", "stderr");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
