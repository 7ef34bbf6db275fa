/*
 * test-registry.c — unit tests of the registry part of common/store.c
 * (cmocka): device listing with cursors and filters, a device's
 * certificates, events, counters-based statistics, deletion.
 *
 * Each test works in a fresh mkdtemp(3) directory under /tmp.  The
 * concurrency test forks children that open their own store and report
 * through exit codes (children never call cmocka).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "est.h"
#include "unit.h"

#define TMP_TEMPLATE    "/tmp/test-registry.XXXXXX"
#define NOW             1800001800LL   /* a fixed "now", mid-hour */
#define DAY             86400LL
#define PAGED_DEVICES   25
#define BATCH           500            /* devices per transaction */
#define WRITERS         4              /* concurrent writer processes */
#define WRITER_DEVICES  60             /* devices each writer adds */
#define CHILD_OK        0
#define CHILD_FAIL      12

struct tdir {
	char              path[sizeof(TMP_TEMPLATE)];
	struct est_store *st;
};

/* ---- helpers ---------------------------------------------------------- */

/* cmocka setup: a fresh directory with an open store in *state. */
static int
setup_store(void **state)
{
	struct tdir *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	memcpy(t->path, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
	if (mkdtemp(t->path) == NULL || store_open(t->path, &t->st) != EST_OK) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

/* cmocka teardown: closes the store and removes the directory. */
static int
teardown_store(void **state)
{
	struct tdir *t = *state;

	store_close(t->st);
	rmtree(t->path);
	free(t);
	return 0;
}

/* A device id in state with current certificate expiring at not_after. */
static void
device_make(struct est_device *d, const char *id, enum est_dev_state state,
    int64_t not_after)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->owner, sizeof(d->owner), "estuser");
	d->state = state;
	d->created = d->updated = NOW - DAY;
	d->serial[0] = (unsigned char)strlen(id);
	d->serial[1] = (unsigned char)id[0];
	d->serial_len = 2;
	d->not_after = not_after;
	snprintf(d->last_ip, sizeof(d->last_ip), "192.0.2.7");
	snprintf(d->last_ua, sizeof(d->last_ua), "<b>ua</b>");
}

/* Several devices written in one transaction. */
struct put_many {
	struct est_device *devs;
	size_t             n;
};

static enum est_err
put_many_fn(struct est_txn *txn, void *arg)
{
	struct put_many *p = arg;
	enum est_err     rc;
	size_t           i;

	for (i = 0; i < p->n; i++)
		if ((rc = txn_device_put(txn, &p->devs[i])) != EST_OK)
			return rc;
	return EST_OK;
}

/* Writes one device in its own transaction. */
static void
put_one(struct est_store *st, const struct est_device *d)
{
	struct put_many p = { (struct est_device *)(uintptr_t)d, 1 };

	assert_int_equal(store_run(st, put_many_fn, &p), EST_OK);
}

static enum est_err
insert_cert_fn(struct est_txn *txn, void *arg)
{
	return txn_cert_insert(txn, arg);
}

/* Inserts certificate (serial {s, s}) of device id with status. */
static void
cert_add(struct est_store *st, const char *id, unsigned char s,
    enum est_cert_status status, int64_t not_before)
{
	struct est_cert c;
	unsigned char   der[] = { 0x30, 0x03, 0x02, 0x01, s };

	memset(&c, 0, sizeof(c));
	c.serial[0] = s;
	c.serial[1] = s;
	c.serial_len = 2;
	snprintf(c.device, sizeof(c.device), "%s", id);
	c.status = status;
	c.op = EST_OP_SIMPLEENROLL;
	c.not_before = not_before;
	c.not_after = not_before + 365 * DAY;
	c.der = der;
	c.der_len = sizeof(der);
	assert_int_equal(store_run(st, insert_cert_fn, &c), EST_OK);
}

/* A query with the defaults: no filter, limit. */
static void
query_init(struct est_dev_query *q, size_t limit)
{
	memset(q, 0, sizeof(*q));
	q->limit = limit;
	q->state = EST_FILTER_ANY;
	q->now = NOW;
}

/* Pages through the listing of q (limit per page) collecting IDs
 * joined by ',' into out; returns the number of pages. */
static int
list_all(struct est_store *st, struct est_dev_query *q, char *out,
    size_t outsz)
{
	struct est_device *items;
	char               next[EST_CURSOR_MAX + 1];
	size_t             n, i;
	int                pages = 0;

	out[0] = '\0';
	assert_non_null(items = calloc(q->limit, sizeof(*items)));
	q->cursor[0] = '\0';
	for (;;) {
		assert_int_equal(store_devices_list(st, q, items, &n, next),
		    EST_OK);
		pages++;
		for (i = 0; i < n; i++) {
			if (out[0] != '\0')
				strncat(out, ",", outsz - strlen(out) - 1);
			strncat(out, items[i].id, outsz - strlen(out) - 1);
		}
		if (next[0] == '\0')
			break;
		assert_true(pages < 10000);
		snprintf(q->cursor, sizeof(q->cursor), "%s", next);
	}
	free(items);
	return pages;
}

/* ---- tests ------------------------------------------------------------- */

/* An empty store lists nothing, has no next page and zero statistics. */
static void
test_empty(void **state)
{
	struct tdir         *t = *state;
	struct est_dev_query q;
	struct est_device    items[4];
	struct est_event     evs[4];
	struct est_event_query eq;
	struct est_stats     s;
	char                 next[EST_CURSOR_MAX + 1];
	size_t               n = 99;

	query_init(&q, 4);
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next), EST_OK);
	assert_int_equal(n, 0);
	assert_string_equal(next, "");
	memset(&eq, 0, sizeof(eq));
	eq.limit = 4;
	assert_int_equal(store_events_list(t->st, &eq, evs, &n, next), EST_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.devices == 0 && s.enroll_24h == 0 && s.expired == 0);
	assert_true(s.hour0 == (NOW / 3600 + 1 - EST_STATS_HOURS) * 3600);
}

/* 25 devices page in ID order across pages of 10, 10, 5 with no
 * duplicate or gap; limit 25 is one page; offset skips. */
static void
test_paging(void **state)
{
	struct tdir         *t = *state;
	struct est_device    devs[PAGED_DEVICES];
	struct put_many      p = { devs, PAGED_DEVICES };
	struct est_dev_query q;
	char                 want[2048], got[2048], id[32];
	int                  i;

	want[0] = '\0';
	for (i = 0; i < PAGED_DEVICES; i++) {
		/* written in reverse, listed sorted */
		snprintf(id, sizeof(id), "dev-%02d", PAGED_DEVICES - 1 - i);
		device_make(&devs[i], id, DEV_ENROLLED, NOW + 100 * DAY);
	}
	for (i = 0; i < PAGED_DEVICES; i++) {
		snprintf(id, sizeof(id), "%sdev-%02d", i ? "," : "", i);
		strcat(want, id);
	}
	assert_int_equal(store_run(t->st, put_many_fn, &p), EST_OK);

	query_init(&q, 10);
	assert_int_equal(list_all(t->st, &q, got, sizeof(got)), 3);
	assert_string_equal(got, want);
	query_init(&q, PAGED_DEVICES);
	assert_int_equal(list_all(t->st, &q, got, sizeof(got)), 1);
	assert_string_equal(got, want);
	query_init(&q, 1);
	assert_int_equal(list_all(t->st, &q, got, sizeof(got)), PAGED_DEVICES);
	assert_string_equal(got, want);

	query_init(&q, 3);
	q.offset = 20;
	assert_int_equal(list_all(t->st, &q, got, sizeof(got)), 2);
	assert_string_equal(got, "dev-20,dev-21,dev-22,dev-23,dev-24");
}

/* The ID prefix, the state filter (through the state index) and both
 * together, across pages. */
static void
test_filters(void **state)
{
	struct tdir         *t = *state;
	struct est_device    d;
	struct est_dev_query q;
	char                 got[1024];

	device_make(&d, "alpha-1", DEV_ENROLLED, NOW + 50 * DAY);
	put_one(t->st, &d);
	device_make(&d, "alpha-2", DEV_BOOTSTRAPPED, NOW + 20 * DAY);
	put_one(t->st, &d);
	device_make(&d, "alpha-3", DEV_ENROLLED, NOW + 5 * DAY);
	put_one(t->st, &d);
	device_make(&d, "alphb", DEV_ENROLLED, NOW - DAY);
	put_one(t->st, &d);
	device_make(&d, "beta-1", DEV_BOOTSTRAPPED, NOW + 2 * DAY);
	put_one(t->st, &d);
	device_make(&d, "al", DEV_ENROLLED, NOW + 300 * DAY);
	put_one(t->st, &d);

	query_init(&q, 2);
	snprintf(q.q, sizeof(q.q), "alpha-");
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "alpha-1,alpha-2,alpha-3");
	snprintf(q.q, sizeof(q.q), "zzz");
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "");

	query_init(&q, 1);
	q.state = DEV_ENROLLED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "al,alpha-1,alpha-3,alphb");
	snprintf(q.q, sizeof(q.q), "alpha");
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "alpha-1,alpha-3");
	q.q[0] = '\0';
	q.state = DEV_BOOTSTRAPPED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "alpha-2,beta-1");
	q.state = DEV_REVOKED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "");

	/* Expiry filters list by notAfter, soonest first. */
	query_init(&q, 2);
	q.expiring_within_days = 30;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "beta-1,alpha-3,alpha-2");
	q.expiring_within_days = 7;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "beta-1,alpha-3");
	q.state = DEV_ENROLLED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "alpha-3");
	snprintf(q.q, sizeof(q.q), "beta");
	q.state = EST_FILTER_ANY;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "beta-1");
	query_init(&q, 2);
	q.state = EST_FILTER_EXPIRED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "alphb");
	q.expiring_within_days = 7;    /* expired and expiring: none */
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "");

	/* Only the state changes (same notAfter): the expiry index follows. */
	device_make(&d, "alpha-3", DEV_BOOTSTRAPPED, NOW + 5 * DAY);
	put_one(t->st, &d);
	query_init(&q, 1);
	q.expiring_within_days = 7;
	q.state = DEV_ENROLLED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "");
	q.state = DEV_BOOTSTRAPPED;
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "beta-1,alpha-3");
}

/* Bad limits, offsets, states and cursors are EST_ERR_BAD_REQUEST; a
 * cursor of one listing order is refused by the other. */
static void
test_bad_queries(void **state)
{
	struct tdir         *t = *state;
	struct est_device    items[2], d;
	struct est_dev_query q;
	struct est_event     evs[2];
	struct est_event_query eq;
	char                 next[EST_CURSOR_MAX + 1], xcur[EST_CURSOR_MAX + 1];
	size_t               n;
	const char          *bad[] = { "i", "i6", "i6g", "q6161", "x00",
	                               "i00", "iABCD", "x0000000000000000" };
	size_t               i;

	for (i = 0; i < 3; i++) {
		char id[8];

		snprintf(id, sizeof(id), "d%zu", i);
		device_make(&d, id, DEV_ENROLLED, NOW + DAY);
		put_one(t->st, &d);
	}
	query_init(&q, 0);
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	q.limit = EST_LIST_MAX + 1;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	query_init(&q, 2);
	q.offset = EST_LIST_OFFSET_MAX + 1;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	query_init(&q, 2);
	q.state = DEV_STATE__MAX;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	q.state = -3;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	query_init(&q, 2);
	q.expiring_within_days = -1;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		query_init(&q, 2);
		snprintf(q.cursor, sizeof(q.cursor), "%s", bad[i]);
		assert_int_equal(store_devices_list(t->st, &q, items, &n,
		    next), EST_ERR_BAD_REQUEST);
	}
	/* A cursor of the expiry order in the ID order, and back. */
	query_init(&q, 2);
	q.expiring_within_days = 10;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, xcur), EST_OK);
	assert_int_equal(n, 2);
	assert_int_equal(xcur[0], 'x');
	query_init(&q, 2);
	snprintf(q.cursor, sizeof(q.cursor), "%s", xcur);
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);
	query_init(&q, 2);
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next), EST_OK);
	assert_int_equal(next[0], 'i');
	query_init(&q, 2);
	q.state = EST_FILTER_EXPIRED;
	snprintf(q.cursor, sizeof(q.cursor), "%s", next);
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
	    EST_ERR_BAD_REQUEST);

	memset(&eq, 0, sizeof(eq));
	eq.limit = 2;
	snprintf(eq.cursor, sizeof(eq.cursor), "e00");
	assert_int_equal(store_events_list(t->st, &eq, evs, &n, next),
	    EST_ERR_BAD_REQUEST);
	eq.limit = 0;
	eq.cursor[0] = '\0';
	assert_int_equal(store_events_list(t->st, &eq, evs, &n, next),
	    EST_ERR_BAD_REQUEST);
}

/* A page examines at most EST_LIST_SCAN_MAX records: a rare match
 * behind many non-matching ones arrives on a later page, through the
 * cursor of a short (here empty) page. */
static void
test_scan_budget(void **state)
{
	struct tdir         *t = *state;
	struct est_device   *devs, items[5];
	struct put_many      p;
	struct est_dev_query q;
	char                 next[EST_CURSOR_MAX + 1];
	size_t               n, i, total = EST_LIST_SCAN_MAX + 10, done;
	int                  pages = 0, found = 0;

	assert_non_null(devs = calloc(BATCH, sizeof(*devs)));
	for (done = 0; done < total; done += p.n) {
		p.devs = devs;
		p.n = total - done < BATCH ? total - done : BATCH;
		for (i = 0; i < p.n; i++) {
			char id[32];

			snprintf(id, sizeof(id), "bulk-%06zu", done + i);
			device_make(&devs[i], id, DEV_ENROLLED, NOW + DAY);
		}
		assert_int_equal(store_run(t->st, put_many_fn, &p), EST_OK);
	}
	free(devs);
	{
		struct est_device d;

		device_make(&d, "zz-rare", DEV_BOOTSTRAPPED, NOW + 2 * DAY);
		put_one(t->st, &d);
	}
	query_init(&q, 5);
	q.expiring_within_days = 3;
	q.state = DEV_BOOTSTRAPPED;
	for (;;) {
		assert_int_equal(store_devices_list(t->st, &q, items, &n, next),
		    EST_OK);
		pages++;
		if (pages == 1) {
			assert_int_equal(n, 0);   /* cut short, not the end */
			assert_true(next[0] != '\0');
		}
		for (i = 0; i < n; i++) {
			assert_string_equal(items[i].id, "zz-rare");
			found++;
		}
		if (next[0] == '\0')
			break;
		snprintf(q.cursor, sizeof(q.cursor), "%s", next);
	}
	assert_int_equal(pages, 2);
	assert_int_equal(found, 1);
	/* The state index finds it at once. */
	query_init(&q, 5);
	q.state = DEV_BOOTSTRAPPED;
	assert_int_equal(store_devices_list(t->st, &q, items, &n, next), EST_OK);
	assert_int_equal(n, 1);
	assert_string_equal(next, "");
}

/* Statistics follow puts, state changes, renewals and deletions. */
static void
test_stats_follow_changes(void **state)
{
	struct tdir      *t = *state;
	struct est_device d;
	struct est_stats  s;
	struct est_event  ev;

	device_make(&d, "s1", DEV_BOOTSTRAPPED, NOW + 3 * DAY);
	put_one(t->st, &d);
	device_make(&d, "s2", DEV_ENROLLED, NOW + 20 * DAY);
	put_one(t->st, &d);
	device_make(&d, "s3", DEV_ENROLLED, NOW - 2 * DAY);
	put_one(t->st, &d);
	device_make(&d, "s4", DEV_ENROLLED, NOW + 200 * DAY);
	put_one(t->st, &d);
	device_make(&d, "s5", DEV_BOOTSTRAPPED, 0);   /* no certificate */
	put_one(t->st, &d);
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.devices == 5);
	assert_true(s.by_state[DEV_BOOTSTRAPPED] == 2);
	assert_true(s.by_state[DEV_ENROLLED] == 3);
	assert_true(s.expired == 1);
	assert_true(s.expiring_7d == 1);
	assert_true(s.expiring_30d == 2);

	/* s1 enrolls: state and expiry move; overwriting with the same
	 * values changes nothing. */
	device_make(&d, "s1", DEV_ENROLLED, NOW + 365 * DAY);
	put_one(t->st, &d);
	put_one(t->st, &d);
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.devices == 5);
	assert_true(s.by_state[DEV_BOOTSTRAPPED] == 1);
	assert_true(s.by_state[DEV_ENROLLED] == 4);
	assert_true(s.expiring_7d == 0);
	assert_true(s.expiring_30d == 1);

	/* A revoked device leaves the expiry figures. */
	device_make(&d, "s2", DEV_REVOKED, NOW + 20 * DAY);
	put_one(t->st, &d);
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.by_state[DEV_REVOKED] == 1);
	assert_true(s.expiring_30d == 0);

	/* Deletions. */
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(store_device_delete(t->st, "s3", &ev), EST_OK);
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(store_device_delete(t->st, "s2", &ev), EST_OK);
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.devices == 3);
	assert_true(s.by_state[DEV_ENROLLED] == 2);
	assert_true(s.by_state[DEV_REVOKED] == 0);
	assert_true(s.expired == 0);
	assert_true(s.deletes_total == 2);

	/* Time passing moves devices into "expired" with no write. */
	assert_int_equal(store_stats(t->st, NOW + 400 * DAY, &s), EST_OK);
	assert_true(s.expired == 2);
	assert_true(s.devices == 3);
}

/* Events: issuances and refusals feed the hourly and 24-hour counters;
 * the list is newest first, pages by cursor, filters by device. */
static void
test_events_and_activity(void **state)
{
	struct tdir           *t = *state;
	struct est_event       ev, items[3];
	struct est_event_query eq;
	struct est_stats       s;
	char                   next[EST_CURSOR_MAX + 1], got[1024];
	size_t                 n, i;
	int64_t                hour = 3600LL * 1000000;
	int64_t                now_us = NOW * 1000000LL;
	int                    k, pages;

	/* 6 issuances for dev-a in the current hour, 2 for dev-b two hours
	 * ago, 1 refusal for dev-ab now, 1 issuance 30 hours ago, 1 eight
	 * days ago, 1 200 of cacerts (not an issuance). */
	for (k = 0; k < 12; k++) {
		memset(&ev, 0, sizeof(ev));
		ev.op = EST_OP_SIMPLEENROLL;
		ev.status = 200;
		snprintf(ev.device, sizeof(ev.device), "dev-a");
		ev.time_us = now_us - 1000 * (12 - k);
		if (k < 2) {
			snprintf(ev.device, sizeof(ev.device), "dev-b");
			ev.time_us = now_us - 2 * hour - k;
		} else if (k == 8) {
			snprintf(ev.device, sizeof(ev.device), "dev-ab");
			ev.status = 409;
		} else if (k == 9) {
			ev.time_us = now_us - 30 * hour;
		} else if (k == 10) {
			ev.time_us = now_us - 8 * 24 * hour;
		} else if (k == 11) {
			ev.op = EST_OP_CACERTS;
			ev.device[0] = '\0';
		}
		snprintf(ev.reason, sizeof(ev.reason), "r%d", k);
		assert_int_equal(store_event_add(t->st, &ev), EST_OK);
	}
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.enroll_24h == 2 + 6);
	assert_true(s.refusals_24h == 1);
	assert_true(s.enroll_total == 10);
	assert_true(s.refusals_total == 1);
	assert_int_equal(s.enroll_hourly[EST_STATS_HOURS - 1], 6);
	assert_int_equal(s.enroll_hourly[EST_STATS_HOURS - 3], 2);
	assert_int_equal(s.enroll_hourly[EST_STATS_HOURS - 31], 1);

	/* All events, newest first, in pages of 3. */
	memset(&eq, 0, sizeof(eq));
	eq.limit = 3;
	got[0] = '\0';
	pages = 0;
	for (;;) {
		int64_t prev = INT64_MAX;

		assert_int_equal(store_events_list(t->st, &eq, items, &n, next),
		    EST_OK);
		pages++;
		for (i = 0; i < n; i++) {
			assert_true(items[i].time_us <= prev);
			prev = items[i].time_us;
			strcat(got, items[i].reason);
			strcat(got, " ");
		}
		if (next[0] == '\0')
			break;
		snprintf(eq.cursor, sizeof(eq.cursor), "%s", next);
	}
	assert_int_equal(pages, 4);
	assert_string_equal(got,
	    "r11 r8 r7 r6 r5 r4 r3 r2 r0 r1 r9 r10 ");

	/* One device: dev-a only, not dev-ab. */
	memset(&eq, 0, sizeof(eq));
	eq.limit = 3;
	snprintf(eq.device, sizeof(eq.device), "dev-a");
	got[0] = '\0';
	for (;;) {
		assert_int_equal(store_events_list(t->st, &eq, items, &n, next),
		    EST_OK);
		for (i = 0; i < n; i++) {
			assert_string_equal(items[i].device, "dev-a");
			strcat(got, items[i].reason);
			strcat(got, " ");
		}
		if (next[0] == '\0')
			break;
		snprintf(eq.cursor, sizeof(eq.cursor), "%s", next);
	}
	assert_string_equal(got, "r7 r6 r5 r4 r3 r2 r9 r10 ");
	snprintf(eq.device, sizeof(eq.device), "dev-ab");
	eq.cursor[0] = '\0';
	assert_int_equal(store_events_list(t->st, &eq, items, &n, next), EST_OK);
	assert_int_equal(n, 1);
	assert_int_equal(items[0].status, 409);
	snprintf(eq.device, sizeof(eq.device), "dev");
	assert_int_equal(store_events_list(t->st, &eq, items, &n, next), EST_OK);
	assert_int_equal(n, 0);
}

/* Deleting revokes every certificate not yet revoked (reason
 * cessationOfOperation), removes the device, records an event; the ID
 * may be registered again; unknown IDs are NOT_FOUND. */
static void
test_delete(void **state)
{
	struct tdir           *t = *state;
	struct est_device      d;
	struct est_cert        certs[4];
	struct est_event       ev, evs[2];
	struct est_event_query eq;
	struct est_dev_query   q;
	char                   next[EST_CURSOR_MAX + 1], got[256];
	size_t                 n, i;
	int64_t                before = (int64_t)time(NULL);

	device_make(&d, "gone", DEV_ENROLLED, NOW + 100 * DAY);
	put_one(t->st, &d);
	cert_add(t->st, "gone", 1, CERT_SUPERSEDED, NOW - 10 * DAY);
	cert_add(t->st, "gone", 2, CERT_VALID, NOW - DAY);
	cert_add(t->st, "gone", 3, CERT_REVOKED, NOW - 20 * DAY);
	cert_add(t->st, "gone-too", 4, CERT_VALID, NOW);

	assert_int_equal(store_device_certs(t->st, "gone", certs, 4, &n), EST_OK);
	assert_int_equal(n, 3);
	assert_int_equal(certs[0].serial[0], 2);    /* newest first */
	assert_int_equal(certs[1].serial[0], 1);
	assert_int_equal(certs[2].serial[0], 3);
	assert_null(certs[0].der);
	assert_int_equal(certs[0].der_len, 5);
	/* Issued in the same second: the valid one comes first. */
	cert_add(t->st, "same", 9, CERT_SUPERSEDED, NOW);
	cert_add(t->st, "same", 8, CERT_VALID, NOW);
	cert_add(t->st, "same", 7, CERT_SUPERSEDED, NOW);
	assert_int_equal(store_device_certs(t->st, "same", certs, 4, &n), EST_OK);
	assert_int_equal(n, 3);
	assert_int_equal(certs[0].serial[0], 8);
	assert_int_equal(certs[1].serial[0], 7);
	assert_int_equal(certs[2].serial[0], 9);
	assert_int_equal(store_device_certs(t->st, "gone", certs, 1, &n), EST_OK);
	assert_int_equal(n, 1);
	assert_int_equal(certs[0].serial[0], 2);

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.user, sizeof(ev.user), "admin");
	snprintf(ev.ip, sizeof(ev.ip), "192.0.2.9");
	assert_int_equal(store_device_delete(t->st, "gone", &ev), EST_OK);
	assert_int_equal(store_device_get(t->st, "gone", &d), EST_ERR_NOT_FOUND);
	assert_int_equal(store_device_certs(t->st, "gone", certs, 4, &n), EST_OK);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(certs[i].status, CERT_REVOKED);
	assert_int_equal(certs[0].reason, EST_CRL_CESSATION);
	assert_true(certs[0].revoked_at >= before);
	assert_int_equal(certs[2].reason, 0);   /* already revoked: kept */
	assert_int_equal(store_device_certs(t->st, "gone-too", certs, 4, &n),
	    EST_OK);
	assert_int_equal(certs[0].status, CERT_VALID);

	memset(&eq, 0, sizeof(eq));
	eq.limit = 2;
	snprintf(eq.device, sizeof(eq.device), "gone");
	assert_int_equal(store_events_list(t->st, &eq, evs, &n, next), EST_OK);
	assert_int_equal(n, 1);
	assert_int_equal(evs[0].op, EST_OP_DELETE);
	assert_string_equal(evs[0].user, "admin");
	assert_string_equal(evs[0].ip, "192.0.2.9");

	query_init(&q, 10);
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "");
	memset(&ev, 0, sizeof(ev));
	assert_int_equal(store_device_delete(t->st, "gone", &ev),
	    EST_ERR_NOT_FOUND);
	assert_int_equal(store_device_delete(t->st, "never", &ev),
	    EST_ERR_NOT_FOUND);

	device_make(&d, "gone", DEV_BOOTSTRAPPED, NOW + 30 * DAY);
	put_one(t->st, &d);
	list_all(t->st, &q, got, sizeof(got));
	assert_string_equal(got, "gone");
}

/* A device record written before notAfter was stored (version 1) still
 * reads, with not_after 0; device_expired and est_hex. */
static void
test_helpers(void **state)
{
	struct est_device d;
	unsigned char     b[] = { 0x00, 0x9f, 0xff };
	char              hex[7];

	(void)state;
	device_make(&d, "h", DEV_ENROLLED, NOW);
	assert_true(device_expired(&d, NOW));
	assert_false(device_expired(&d, NOW - 1));
	d.not_after = 0;
	assert_false(device_expired(&d, NOW));
	est_hex(b, sizeof(b), hex);
	assert_string_equal(hex, "009fff");
	assert_string_equal(est_dev_state_names[DEV_REVOKED], "revoked");
	assert_string_equal(est_dev_state_names[DEV_PENDING], "pending");
	assert_string_equal(est_op_names[EST_OP_DELETE], "delete");
}

/* Child of test_concurrent_counters: adds WRITER_DEVICES devices, one
 * transaction each, plus an event each. */
static int
writer_child(const char *dir, int i)
{
	struct est_store *st;
	struct est_device d;
	struct est_event  ev;
	char              id[32];
	int               k, rc = CHILD_OK;

	if (store_open(dir, &st) != EST_OK)
		return CHILD_FAIL;
	for (k = 0; k < WRITER_DEVICES && rc == CHILD_OK; k++) {
		struct put_many p = { &d, 1 };

		snprintf(id, sizeof(id), "w%d-%03d", i, k);
		device_make(&d, id, k % 2 ? DEV_ENROLLED : DEV_BOOTSTRAPPED,
		    NOW + (k % 10) * DAY);
		memset(&ev, 0, sizeof(ev));
		ev.op = EST_OP_BOOTSTRAP;
		ev.status = 200;
		snprintf(ev.device, sizeof(ev.device), "%s", id);
		if (store_run(st, put_many_fn, &p) != EST_OK ||
		    store_event_add(st, &ev) != EST_OK)
			rc = CHILD_FAIL;
	}
	store_close(st);
	return rc;
}

/* Several processes writing at once: the counters add up exactly. */
static void
test_concurrent_counters(void **state)
{
	struct tdir     *t = *state;
	struct est_stats s;
	pid_t            pids[WRITERS];
	int              i, status;

	for (i = 0; i < WRITERS; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (pids[i] == 0)
			_exit(writer_child(t->path, i));
	}
	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), CHILD_OK);
	}
	assert_int_equal(store_stats(t->st, NOW, &s), EST_OK);
	assert_true(s.devices == WRITERS * WRITER_DEVICES);
	assert_true(s.by_state[DEV_ENROLLED] == WRITERS * WRITER_DEVICES / 2);
	assert_true(s.enroll_total == WRITERS * WRITER_DEVICES);
	assert_true(s.expiring_7d == WRITERS * (WRITER_DEVICES / 10) * 7);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_store, teardown_store)
	const struct CMUnitTest tests[] = {
		T(test_empty),
		T(test_paging),
		T(test_filters),
		T(test_bad_queries),
		T(test_scan_budget),
		T(test_stats_follow_changes),
		T(test_events_and_activity),
		T(test_delete),
		cmocka_unit_test(test_helpers),
		T(test_concurrent_counters),
	};
#undef T

	est_log_open("test-registry", "stderr");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
