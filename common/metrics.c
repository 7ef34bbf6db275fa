/*
 * metrics.c — request counters and latency histograms shared by every
 * worker process, and their Prometheus text exposition (format 0.0.4).
 *
 * The counters live in one small fixed-layout file in the store
 * directory (EST_METRICS_FILE), mapped MAP_SHARED by every worker; each
 * request adds to it with C11 relaxed atomic adds (lock-free and
 * address-free for 64-bit integers on the platforms we build for), so
 * counting costs a few nanoseconds and never a store transaction.  The
 * file is created and (re)initialised under an exclusive flock(2); its
 * header names the layout (a signature over the endpoint and error
 * names), and a file of another layout is reset rather than misread.
 * Counters survive worker restarts; they start again from zero only
 * when the file is removed or the layout changes, which Prometheus
 * handles as a counter reset.
 *
 * Figures about the registry itself (devices by state, expiry) come from
 * store_stats() when /metrics is rendered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "est.h"

#define METRICS_MAGIC     0x45535443u /* "ESTC" */
#define METRICS_VERSION   1
#define METRICS_CLASSES   6           /* status / 100: [0] other, 1xx..5xx */
#define METRICS_REASONS   64          /* refusal counters (>= EST_ERR__MAX) */
#define METRICS_PATH_MAX  4096
#define FNV_OFFSET        2166136261u
#define FNV_PRIME         16777619u

_Static_assert(EST_ERR__MAX <= METRICS_REASONS, "more errors than slots");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be "
    "lock-free to be shared between processes");

/* Endpoints, as the programs name themselves (est_serve's progname). */
enum metrics_ep {
	EP_CACERTS,
	EP_SIMPLEENROLL,
	EP_SIMPLEREENROLL,
	EP_BOOTSTRAP,
	EP_API,
	EP_DASHBOARD,
	EP_METRICS,
	EP_OCSP,
	EP_CSRATTRS,
	EP_SERVERKEYGEN,
	EP_OTHER,
	EP__MAX
};
static const char *const ep_names[EP__MAX] = {
	"cacerts", "simpleenroll", "simplereenroll", "bootstrap", "api",
	"dashboard", "metrics", "ocsp", "csrattrs", "serverkeygen", "other"
};

/* Upper bounds of the latency buckets in microseconds (the last bucket,
 * +Inf, is implicit). */
static const uint64_t bucket_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000
};
#define METRICS_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/* One endpoint's counters (all monotonic). */
struct metrics_endpoint {
	_Atomic uint64_t classes[METRICS_CLASSES];   /* answers by class */
	_Atomic uint64_t buckets[METRICS_BUCKETS + 1]; /* not cumulative */
	_Atomic uint64_t sum_us;
	_Atomic uint64_t count;
	_Atomic uint64_t pending;  /* 202 answers (also in classes[2]) */
};

/* The shared file's layout. */
struct metrics_map {
	_Atomic uint32_t        magic;     /* METRICS_MAGIC once initialised */
	uint32_t                version;
	uint32_t                size;      /* sizeof(struct metrics_map) */
	uint32_t                signature; /* of the names below */
	struct metrics_endpoint ep[EP__MAX];
	_Atomic uint64_t        refusals[METRICS_REASONS]; /* by est_err */
};

static struct metrics_map *map;        /* NULL: metrics are off */
static int                 attach_tried;

/* Returns the FNV-1a signature of the layout: sizes and every name the
 * counters are indexed by, so a rebuilt program with another order
 * resets the file instead of misreading it. */
static uint32_t
layout_signature(void)
{
	uint32_t    h = FNV_OFFSET;
	const char *s;
	int         i;

	h = (h ^ (uint32_t)sizeof(struct metrics_map)) * FNV_PRIME;
	for (i = 0; i < EP__MAX + EST_ERR__MAX; i++) {
		s = i < EP__MAX ? ep_names[i] : est_err_name(i - EP__MAX);
		for (; *s != '\0'; s++)
			h = (h ^ (unsigned char)*s) * FNV_PRIME;
		h = (h ^ '/') * FNV_PRIME;
	}
	return h;
}

/*
 * Maps dir/EST_METRICS_FILE, creating or resetting it as needed (under
 * an exclusive flock, so concurrent first workers agree).  Called once
 * per process, after the configuration is read; on failure it logs and
 * the process counts nothing (answers are unaffected).
 */
void
metrics_attach(const char *dir)
{
	struct metrics_map *m = MAP_FAILED;
	struct stat         sb;
	char                path[METRICS_PATH_MAX];
	uint32_t            sig = layout_signature();
	int                 fd = -1, n;

	if (attach_tried || dir == NULL)
		return;
	attach_tried = 1;
	n = snprintf(path, sizeof(path), "%s/%s", dir, EST_METRICS_FILE);
	if (n < 0 || (size_t)n >= sizeof(path))
		goto fail;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660)) == -1 ||
	    flock(fd, LOCK_EX) == -1 || fstat(fd, &sb) == -1)
		goto fail;
	if ((size_t)sb.st_size != sizeof(*m) &&
	    (ftruncate(fd, 0) == -1 || ftruncate(fd, sizeof(*m)) == -1))
		goto fail;
	/* Its block on disk now, not at the first count: on a full disk
	 * a write into a hole of a mapped file is SIGBUS (space.c). */
	if ((errno = posix_fallocate(fd, 0, sizeof(*m))) != 0)
		goto fail;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	if (atomic_load(&m->magic) != METRICS_MAGIC ||
	    m->version != METRICS_VERSION || m->size != sizeof(*m) ||
	    m->signature != sig) {
		if (atomic_load(&m->magic) != 0)
			est_log(EST_LOG_WARN, "metrics: %s has another layout; "
			    "counters start again", path);
		memset((void *)m, 0, sizeof(*m));
		m->version = METRICS_VERSION;
		m->size = sizeof(*m);
		m->signature = sig;
		atomic_store(&m->magic, METRICS_MAGIC);
	}
	(void)flock(fd, LOCK_UN);
	close(fd);
	map = m;
	return;
fail:
	est_log(EST_LOG_WARN, "metrics: %s: %s; requests are not counted",
	    path, strerror(errno));
	if (m != MAP_FAILED)
		munmap((void *)m, sizeof(*m));
	if (fd != -1)
		close(fd);
}

/* Returns the endpoint index of program name prog. */
static enum metrics_ep
ep_of(const char *prog)
{
	int i;

	for (i = 0; i < EP_OTHER; i++)
		if (strcmp(prog, ep_names[i]) == 0)
			return (enum metrics_ep)i;
	return EP_OTHER;
}

/* 1 when endpoint e issues certificates. */
static int
ep_enrolls(enum metrics_ep e)
{
	return e == EP_SIMPLEENROLL || e == EP_SIMPLEREENROLL ||
	    e == EP_BOOTSTRAP || e == EP_SERVERKEYGEN;
}

/*
 * Counts one answered request of program prog: its HTTP status, the
 * error it ended with (EST_OK on success; 4xx errors of the enrollment
 * endpoints count as refusals by reason) and how long it took, measured
 * by the serving loop from reading the request to writing the answer.
 * Relaxed atomic adds only; a no-op when the file is not mapped.
 */
void
metrics_observe(const char *prog, int status, enum est_err rc,
    uint64_t elapsed_us)
{
	struct metrics_endpoint *ep;
	enum metrics_ep          e;
	size_t                   b;
	int                      cls;

	if (map == NULL)
		return;
	e = ep_of(prog);
	ep = &map->ep[e];
	cls = status >= 100 && status < 600 ? status / 100 : 0;
	atomic_fetch_add_explicit(&ep->classes[cls], 1, memory_order_relaxed);
	for (b = 0; b < METRICS_BUCKETS && elapsed_us > bucket_us[b]; b++)
		;
	atomic_fetch_add_explicit(&ep->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ep->sum_us, elapsed_us,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&ep->count, 1, memory_order_relaxed);
	if (status == 202)
		atomic_fetch_add_explicit(&ep->pending, 1, memory_order_relaxed);
	if (ep_enrolls(e) && status >= 400 && status < 500 &&
	    (unsigned)rc < EST_ERR__MAX)
		atomic_fetch_add_explicit(&map->refusals[rc], 1,
		    memory_order_relaxed);
}

/* Reads a shared counter. */
static uint64_t
ld(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Appends the lower-case reason label of error e ("duplicate" for
 * EST_ERR_DUPLICATE) to b. */
static void
reason_label(struct est_buf *b, enum est_err e)
{
	const char *n = est_err_name(e);
	char        lab[64];
	size_t      i;

	if (strncmp(n, "EST_ERR_", 8) == 0)
		n += 8;
	for (i = 0; n[i] != '\0' && i + 1 < sizeof(lab); i++)
		lab[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
	lab[i] = '\0';
	buf_add(b, lab, i);
}

/* Appends the request-side metrics (from the shared file) to b. */
static void
render_requests(struct est_buf *b)
{
	static const char *const outcome[METRICS_CLASSES] = {
		NULL, NULL, "issued", NULL, "refused", "error"
	};
	struct metrics_endpoint *ep;
	uint64_t                 cum;
	size_t                   i, k;
	int                      c;

	buf_printf(b, "# HELP estcgi_enrollments_total Answers of the "
	    "enrollment endpoints by outcome (issued 2xx but 202, pending "
	    "202, refused 4xx, error 5xx).\n"
	    "# TYPE estcgi_enrollments_total counter\n");
	for (i = 0; i < EP__MAX; i++) {
		if (!ep_enrolls((enum metrics_ep)i))
			continue;
		for (c = 2; c < METRICS_CLASSES; c++)
			if (outcome[c] != NULL)
				buf_printf(b, "estcgi_enrollments_total{endpoint="
				    "\"%s\",outcome=\"%s\"} %llu\n", ep_names[i],
				    outcome[c], (unsigned long long)
				    (ld(&map->ep[i].classes[c]) - (c == 2 ?
				    ld(&map->ep[i].pending) : 0)));
		buf_printf(b, "estcgi_enrollments_total{endpoint=\"%s\","
		    "outcome=\"pending\"} %llu\n", ep_names[i],
		    (unsigned long long)ld(&map->ep[i].pending));
	}
	buf_printf(b, "# HELP estcgi_refusals_total Refused enrollment "
	    "requests by reason (refusals by the web server itself, such "
	    "as a wrong password, are not seen).\n"
	    "# TYPE estcgi_refusals_total counter\n");
	for (k = 0; k < EST_ERR__MAX; k++) {
		if (est_err_status((enum est_err)k) < 400 ||
		    est_err_status((enum est_err)k) >= 500)
			continue;
		buf_printf(b, "estcgi_refusals_total{reason=\"");
		reason_label(b, (enum est_err)k);
		buf_printf(b, "\"} %llu\n",
		    (unsigned long long)ld(&map->refusals[k]));
	}
	buf_printf(b, "# HELP estcgi_http_responses_total Answers by "
	    "endpoint and status class.\n"
	    "# TYPE estcgi_http_responses_total counter\n");
	for (i = 0; i < EP__MAX; i++)
		for (c = 1; c < METRICS_CLASSES; c++)
			buf_printf(b, "estcgi_http_responses_total{endpoint="
			    "\"%s\",code=\"%dxx\"} %llu\n", ep_names[i], c,
			    (unsigned long long)ld(&map->ep[i].classes[c]));
	buf_printf(b, "# HELP estcgi_request_duration_seconds Time from "
	    "reading a request to writing its answer, per endpoint.\n"
	    "# TYPE estcgi_request_duration_seconds histogram\n");
	for (i = 0; i < EP__MAX; i++) {
		ep = &map->ep[i];
		cum = 0;
		for (k = 0; k <= METRICS_BUCKETS; k++) {
			cum += ld(&ep->buckets[k]);
			if (k < METRICS_BUCKETS)
				buf_printf(b, "estcgi_request_duration_seconds_"
				    "bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
				    ep_names[i], (double)bucket_us[k] / 1e6,
				    (unsigned long long)cum);
			else
				buf_printf(b, "estcgi_request_duration_seconds_"
				    "bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
				    ep_names[i], (unsigned long long)cum);
		}
		buf_printf(b, "estcgi_request_duration_seconds_sum{endpoint="
		    "\"%s\"} %.6f\n", ep_names[i],
		    (double)ld(&ep->sum_us) / 1e6);
		buf_printf(b, "estcgi_request_duration_seconds_count{endpoint="
		    "\"%s\"} %llu\n", ep_names[i], (unsigned long long)cum);
	}
}

/* Appends the registry figures of s to b. */
static void
render_registry(struct est_buf *b, const struct est_stats *s)
{
	int i;

	buf_printf(b, "# HELP estcgi_devices Registered devices by stored "
	    "state.\n# TYPE estcgi_devices gauge\n");
	for (i = DEV_NONE + 1; i < DEV_STATE__MAX; i++)
		buf_printf(b, "estcgi_devices{state=\"%s\"} %llu\n",
		    est_dev_state_names[i], (unsigned long long)s->by_state[i]);
	buf_printf(b, "# HELP estcgi_devices_expired Devices whose current "
	    "certificate has expired.\n# TYPE estcgi_devices_expired gauge\n"
	    "estcgi_devices_expired %llu\n", (unsigned long long)s->expired);
	buf_printf(b, "# HELP estcgi_certificates_expiring Current "
	    "certificates expiring within the given number of days.\n"
	    "# TYPE estcgi_certificates_expiring gauge\n"
	    "estcgi_certificates_expiring{within_days=\"7\"} %llu\n"
	    "estcgi_certificates_expiring{within_days=\"30\"} %llu\n",
	    (unsigned long long)s->expiring_7d,
	    (unsigned long long)s->expiring_30d);
	buf_printf(b, "# HELP estcgi_store_events_total Issuances, refusals "
	    "and deletions recorded in the store.\n"
	    "# TYPE estcgi_store_events_total counter\n"
	    "estcgi_store_events_total{outcome=\"issued\"} %llu\n"
	    "estcgi_store_events_total{outcome=\"refused\"} %llu\n"
	    "estcgi_store_events_total{outcome=\"deleted\"} %llu\n",
	    (unsigned long long)s->enroll_total,
	    (unsigned long long)s->refusals_total,
	    (unsigned long long)s->deletes_total);
}

/*
 * Appends the Prometheus text exposition (format 0.0.4) to b: the
 * request counters and histograms of the shared file (none when it is
 * not mapped) and, when s is not NULL, the registry figures.  Errors
 * are kept in b->err.
 */
void
metrics_render(struct est_buf *b, const struct est_stats *s)
{
	if (map != NULL)
		render_requests(b);
	if (s != NULL)
		render_registry(b, s);
}
