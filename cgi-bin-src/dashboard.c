/*
 * dashboard — the operators' HTML view of the fleet, server-rendered
 * from templates/ (common/tmpl.c escapes every value by default).
 *
 * Routes, relative to where the web server mounts the program
 * (SCRIPT_NAME, e.g. /dashboard):
 *   GET  /                   figures, 7-day chart, device list (q, state,
 *                            expiring, cursor), paging
 *   GET  /stats.json         the figures, for the page's auto-refresh
 *   GET  /device/<id>        one device: certificates, recent events
 *   POST /device/<id>/delete delete it (same-origin + X-EST-Admin header)
 *   GET  /pending            enrollment requests waiting for approval
 *   POST /device/<id>/approve, /device/<id>/reject (form body reason=...)
 *                            decide one (same checks as delete)
 * Admin only: the web server asks for the password, and REMOTE_USER must
 * also be one of the config's admin_users.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "est.h"

#define DASH_PAGE_SIZE     50   /* devices per page */
#define DASH_EVENTS        20   /* events on the index and a device page */
#define DASH_SOON_DAYS     30   /* "expiring soon" highlight */
#define DASH_REFRESH_MS    10000 /* figures auto-refresh period */
#define DASH_NONCE_BYTES   16   /* CSP nonce entropy */
#define DASH_TIME_MAX      40   /* formatted time */
#define DASH_CHART_W       840  /* SVG view box */
#define DASH_CHART_H       150
#define DASH_CHART_AXIS    20   /* room for day labels */
#define DASH_CERTS_SHOWN   50   /* certificates on a device page */

/* The templates, loaded once per process. */
enum page { P_HEAD, P_FOOT, P_INDEX, P_ROW, P_DEVICE, P_CERT, P_EVENT,
	P_PENDING, P_PEND_ROW, P__MAX };
static const char *const page_files[P__MAX] = { "head.html", "foot.html",
	"index.html", "device_row.html", "device.html", "cert_row.html",
	"event_row.html", "pending.html", "pending_row.html" };
static struct est_tmpl pages[P__MAX];
static int pages_ok;

/* What a template callback may need for one rendering. */
struct view {
	struct est_ctx          *ctx;
	const struct est_req    *req;
	const char              *title;
	char                     base[EST_MAX_PARAM + 2]; /* ends in '/' */
	char                     nonce[2 * DASH_NONCE_BYTES + 1];
	int64_t                  now;
	struct timespec          t0;
	const struct est_stats  *stats;
	const struct est_dev_query *query;
	struct est_buf           rows;     /* program-built rows (each value */
	struct est_buf           cert_rows; /* escaped by its template) */
	struct est_buf           event_rows;
	char                     next[EST_CURSOR_MAX + 1];
	const struct est_device *dev;      /* current row or device page */
	const struct est_cert   *cert;
	const struct est_event  *ev;
	const struct est_pending *pend;    /* current approval-queue row */
};

/* Writes unix time t as ISO 8601 in the configured zone (set once with
 * TZ), "-" for 0. */
static void
fmt_time(int64_t t, char out[DASH_TIME_MAX])
{
	struct tm tm;
	time_t    tt = (time_t)t;
	long      off;
	size_t    n;

	if (t == 0 || localtime_r(&tt, &tm) == NULL) {
		snprintf(out, DASH_TIME_MAX, "-");
		return;
	}
	n = strftime(out, DASH_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	off = tm.tm_gmtoff / 60;
	if (off == 0)
		snprintf(out + n, DASH_TIME_MAX - n, "Z");
	else
		snprintf(out + n, DASH_TIME_MAX - n, "%c%02ld:%02ld",
		    off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* The state shown for a device: "expired" wins over the stored one. */
static const char *
shown_state(const struct est_device *d, int64_t now)
{
	if (d->state != DEV_REVOKED && device_expired(d, now))
		return "expired";
	return (unsigned)d->state < DEV_STATE__MAX ?
	    est_dev_state_names[d->state] : "none";
}

/* Days from now until t, rounded down; 0 for no certificate. */
static long
days_left(int64_t t, int64_t now)
{
	return t == 0 ? 0 : (long)((t - now) / 86400);
}

/* Writes the 7-day hourly enrollment chart as inline SVG (numbers and
 * program-made labels only). */
static void
put_chart(struct est_buf *b, const struct view *v)
{
	const struct est_stats *s = v->stats;
	uint32_t                max = 1;
	double                  bw = (double)DASH_CHART_W / EST_STATS_HOURS;
	int                     i, plot = DASH_CHART_H - DASH_CHART_AXIS;
	char                    when[DASH_TIME_MAX];

	for (i = 0; i < EST_STATS_HOURS; i++)
		if (s->enroll_hourly[i] > max)
			max = s->enroll_hourly[i];
	buf_printf(b, "<svg class=\"chart\" id=\"chart\" viewBox=\"0 0 %d %d\" "
	    "preserveAspectRatio=\"none\" role=\"img\" aria-label=\"enrollments "
	    "per hour\">", DASH_CHART_W, DASH_CHART_H);
	buf_printf(b, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
	    "stroke=\"#9ca3af\"/>", plot, DASH_CHART_W, plot);
	for (i = 0; i < EST_STATS_HOURS; i++) {
		uint32_t c = s->enroll_hourly[i];
		double   h = (double)c * (plot - 4) / max;

		fmt_time(s->hour0 + (int64_t)i * 3600, when);
		if (i % 24 == 0)
			buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
			    "fill=\"#6b7280\">%.10s</text>", i * bw,
			    DASH_CHART_H - 5, when);
		if (c == 0)
			continue;
		buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" fill=\"#2563eb\"><title>%s: %u</title>"
		    "</rect>", i * bw, plot - h, bw * 0.9, h, when, c);
	}
	buf_printf(b, "<text x=\"2\" y=\"12\" font-size=\"11\" "
	    "fill=\"#6b7280\">max %u/h</text></svg>", max);
}

/* Values shared by every page; returns 0, or -1 for an unknown key. */
static int
common_key(struct est_buf *b, const char *key, struct view *v)
{
	char t[DASH_TIME_MAX];

	if (strcmp(key, "title") == 0)
		tmpl_put(b, v->title);
	else if (strcmp(key, "nonce") == 0)
		tmpl_put(b, v->nonce);
	else if (strcmp(key, "base") == 0)
		tmpl_put(b, v->base);
	else if (strcmp(key, "user") == 0)
		tmpl_put(b, v->req->remote_user);
	else if (strcmp(key, "now") == 0) {
		fmt_time(v->now, t);
		tmpl_put(b, t);
	} else if (strcmp(key, "tz") == 0)
		tmpl_put(b, v->ctx->conf.time_zone);
	else if (strcmp(key, "render_us") == 0) {
		struct timespec t1;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		buf_printf(b, "%ld", (long)((t1.tv_sec - v->t0.tv_sec) * 1000000 +
		    (t1.tv_nsec - v->t0.tv_nsec) / 1000));
	} else if (strcmp(key, "rows") == 0)
		tmpl_put_raw_html(b, v->rows.data ? v->rows.data : "",
		    v->rows.len);
	else if (strcmp(key, "cert_rows") == 0)
		tmpl_put_raw_html(b, v->cert_rows.data ? v->cert_rows.data : "",
		    v->cert_rows.len);
	else if (strcmp(key, "event_rows") == 0)
		tmpl_put_raw_html(b, v->event_rows.data ? v->event_rows.data :
		    "", v->event_rows.len);
	else
		return -1;
	return 0;
}

/* Keys of a device (a list row or the device page). */
static int
device_key(struct est_buf *b, const char *key, struct view *v)
{
	const struct est_device *d = v->dev;
	char                     t[DASH_TIME_MAX], hex[EST_HEX_SERIAL_MAX];
	long                     left = days_left(d->not_after, v->now);

	if (strcmp(key, "id") == 0)
		tmpl_put(b, d->id);
	else if (strcmp(key, "id_url") == 0)
		tmpl_put_url(b, d->id);
	else if (strcmp(key, "state") == 0)
		tmpl_put(b, shown_state(d, v->now));
	else if (strcmp(key, "row_class") == 0) {
		const char *st = shown_state(d, v->now);

		if (strcmp(st, "expired") == 0 || strcmp(st, "revoked") == 0)
			tmpl_put(b, st);
		else if (d->not_after != 0 && left < DASH_SOON_DAYS)
			tmpl_put(b, "soon");
	} else if (strcmp(key, "owner") == 0)
		tmpl_put(b, d->owner);
	else if (strcmp(key, "created") == 0 || strcmp(key, "updated") == 0 ||
	    strcmp(key, "expires") == 0) {
		fmt_time(key[0] == 'c' ? d->created : key[0] == 'u' ?
		    d->updated : d->not_after, t);
		tmpl_put(b, t);
	} else if (strcmp(key, "days_left") == 0) {
		if (d->not_after != 0)
			buf_printf(b, "%ld", left);
	} else if (strcmp(key, "last_ip") == 0)
		tmpl_put(b, d->last_ip);
	else if (strcmp(key, "last_ua") == 0)
		tmpl_put(b, d->last_ua);
	else if (strcmp(key, "serial") == 0) {
		est_hex(d->serial, d->serial_len, hex);
		tmpl_put(b, hex);
	} else
		return common_key(b, key, v);
	return 0;
}

/* Keys of a certificate row. */
static int
cert_key(struct est_buf *b, const char *key, void *arg)
{
	struct view           *v = arg;
	const struct est_cert *c = v->cert;
	char                   t[DASH_TIME_MAX], hex[EST_HEX_SERIAL_MAX];

	if (strcmp(key, "serial") == 0) {
		est_hex(c->serial, c->serial_len, hex);
		tmpl_put(b, hex);
	} else if (strcmp(key, "status") == 0)
		tmpl_put(b, (unsigned)c->status < CERT_STATUS__MAX ?
		    est_cert_status_names[c->status] : "?");
	else if (strcmp(key, "op") == 0)
		tmpl_put(b, (unsigned)c->op < EST_OP__MAX ?
		    est_op_names[c->op] : "?");
	else if (strcmp(key, "not_before") == 0 ||
	    strcmp(key, "not_after") == 0 || strcmp(key, "revoked") == 0) {
		fmt_time(key[0] == 'r' ? c->revoked_at : key[4] == 'b' ?
		    c->not_before : c->not_after, t);
		tmpl_put(b, t);
	} else if (strcmp(key, "reason") == 0)
		tmpl_put(b, c->status != CERT_REVOKED ? "" :
		    (unsigned)c->reason < EST_REASON__MAX &&
		    est_reason_names[c->reason] != NULL ?
		    est_reason_names[c->reason] : "?");
	else
		return common_key(b, key, v);
	return 0;
}

/* Keys of an event row. */
static int
event_key(struct est_buf *b, const char *key, void *arg)
{
	struct view            *v = arg;
	const struct est_event *e = v->ev;
	char                    t[DASH_TIME_MAX];

	if (strcmp(key, "time") == 0) {
		fmt_time(e->time_us / 1000000, t);
		tmpl_put(b, t);
	} else if (strcmp(key, "op") == 0)
		tmpl_put(b, (unsigned)e->op < EST_OP__MAX ?
		    est_op_names[e->op] : "?");
	else if (strcmp(key, "status") == 0)
		buf_printf(b, "%d", e->status);
	else if (strcmp(key, "user") == 0)
		tmpl_put(b, e->user);
	else if (strcmp(key, "ip") == 0)
		tmpl_put(b, e->ip);
	else if (strcmp(key, "ua") == 0)
		tmpl_put(b, e->ua);
	else if (strcmp(key, "reason") == 0)
		tmpl_put(b, e->reason);
	else if (strcmp(key, "device") == 0)
		tmpl_put(b, e->device);
	else
		return common_key(b, key, v);
	return 0;
}

/* Keys of an approval-queue row. */
static int
pend_key(struct est_buf *b, const char *key, void *arg)
{
	struct view              *v = arg;
	const struct est_pending *p = v->pend;
	char                      t[DASH_TIME_MAX];
	char                      hex[2 * EST_KEY_HASH_LEN + 1];

	if (strcmp(key, "id") == 0)
		tmpl_put(b, p->id);
	else if (strcmp(key, "id_url") == 0)
		tmpl_put_url(b, p->id);
	else if (strcmp(key, "label") == 0)
		tmpl_put(b, p->label[0] ? p->label : "(default)");
	else if (strcmp(key, "op") == 0)
		tmpl_put(b, (unsigned)p->op < EST_OP__MAX ?
		    est_op_names[p->op] : "?");
	else if (strcmp(key, "requester") == 0)
		tmpl_put(b, p->user);
	else if (strcmp(key, "ip") == 0)
		tmpl_put(b, p->ip);
	else if (strcmp(key, "created") == 0) {
		fmt_time(p->created, t);
		tmpl_put(b, t);
	} else if (strcmp(key, "key") == 0) {
		est_hex(p->key_hash, sizeof(p->key_hash), hex);
		tmpl_put(b, hex);
	} else
		return common_key(b, key, v);
	return 0;
}

/* Callback adapters with the template engine's signature. */
static int
row_key(struct est_buf *b, const char *key, void *arg)
{
	return device_key(b, key, arg);
}

static int
page_key(struct est_buf *b, const char *key, void *arg)
{
	return common_key(b, key, arg);
}

/* Keys of the index page: figures, chart, search form, pager. */
static int
index_key(struct est_buf *b, const char *key, void *arg)
{
	struct view            *v = arg;
	const struct est_stats *s = v->stats;
	const struct est_dev_query *q = v->query;
	static const char *const states[] = { "", "bootstrapped", "enrolled",
	    "pending", "revoked", "expired" };
	static const int         filters[] = { EST_FILTER_ANY,
	    DEV_BOOTSTRAPPED, DEV_ENROLLED, DEV_PENDING, DEV_REVOKED,
	    EST_FILTER_EXPIRED };
	size_t                  i;

	if (strcmp(key, "total") == 0)
		buf_printf(b, "%llu", (unsigned long long)s->devices);
	else if (strcmp(key, "pending") == 0)
		buf_printf(b, "%llu",
		    (unsigned long long)s->by_state[DEV_PENDING]);
	else if (strcmp(key, "bootstrapped") == 0)
		buf_printf(b, "%llu",
		    (unsigned long long)s->by_state[DEV_BOOTSTRAPPED]);
	else if (strcmp(key, "enrolled") == 0)
		buf_printf(b, "%llu",
		    (unsigned long long)s->by_state[DEV_ENROLLED]);
	else if (strcmp(key, "revoked") == 0)
		buf_printf(b, "%llu",
		    (unsigned long long)s->by_state[DEV_REVOKED]);
	else if (strcmp(key, "enroll_24h") == 0)
		buf_printf(b, "%llu", (unsigned long long)s->enroll_24h);
	else if (strcmp(key, "refused_24h") == 0)
		buf_printf(b, "%llu", (unsigned long long)s->refusals_24h);
	else if (strcmp(key, "expiring_7d") == 0)
		buf_printf(b, "%llu", (unsigned long long)s->expiring_7d);
	else if (strcmp(key, "expiring_30d") == 0)
		buf_printf(b, "%llu", (unsigned long long)s->expiring_30d);
	else if (strcmp(key, "chart") == 0)
		put_chart(b, v);
	else if (strcmp(key, "q") == 0)
		tmpl_put(b, q->q);
	else if (strcmp(key, "expiring_checked") == 0) {
		if (q->expiring_within_days > 0)
			buf_add(b, "checked", 7);
	} else if (strcmp(key, "refresh_ms") == 0)
		buf_printf(b, "%d", DASH_REFRESH_MS);
	else if (strcmp(key, "state_options") == 0) {
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			int sel = q->state == filters[i];

			buf_printf(b, "<option value=\"%s\"%s>%s</option>",
			    states[i], sel ? " selected" : "",
			    i == 0 ? "any state" : states[i]);
		}
	} else if (strcmp(key, "pager") == 0) {
		buf_printf(b, "<a href=\"");
		tmpl_put(b, v->base);
		buf_printf(b, "\">first page</a>");
		if (v->next[0] != '\0') {
			buf_printf(b, "<a id=\"next\" href=\"");
			tmpl_put(b, v->base);
			buf_printf(b, "?q=");
			tmpl_put_url(b, q->q);
			buf_printf(b, "&amp;state=%s&amp;cursor=",
			    q->state == EST_FILTER_EXPIRED ? "expired" :
			    q->state > 0 ? est_dev_state_names[q->state] : "");
			tmpl_put_url(b, v->next);
			if (q->expiring_within_days > 0)
				buf_printf(b, "&amp;expiring=%d",
				    q->expiring_within_days);
			buf_printf(b, "\">next page</a>");
		}
	} else
		return common_key(b, key, v);
	return 0;
}

/* Renders a whole page: head, body template with fn, foot. */
static enum est_err
render_page(struct view *v, enum page body, tmpl_key_fn fn,
    struct est_resp *resp)
{
	struct est_buf out;
	enum est_err   rc;

	memset(&out, 0, sizeof(out));
	if ((rc = tmpl_render(&pages[P_HEAD], &out, page_key, v)) ||
	    (rc = tmpl_render(&pages[body], &out, fn, v)) ||
	    (rc = tmpl_render(&pages[P_FOOT], &out, page_key, v))) {
		buf_free(&out);
		return rc;
	}
	return resp_take_buf(resp, &out, "text/html; charset=utf-8");
}

/* Parses the list query (q, state, expiring, cursor) into q. */
static enum est_err
parse_query(const struct est_req *req, struct est_dev_query *q)
{
	char         v[EST_MAX_PARAM];
	enum est_err rc;
	int          i;

	memset(q, 0, sizeof(*q));
	q->limit = DASH_PAGE_SIZE;
	q->state = EST_FILTER_ANY;
	if ((rc = query_param(req->query, "q", q->q, sizeof(q->q))) &&
	    rc != EST_ERR_NOT_FOUND)
		return rc;
	if ((rc = query_param(req->query, "cursor", q->cursor,
	    sizeof(q->cursor))) && rc != EST_ERR_NOT_FOUND)
		return rc;
	if ((rc = query_param(req->query, "state", v, sizeof(v))) == EST_OK &&
	    v[0] != '\0') {
		if (strcmp(v, "expired") == 0)
			q->state = EST_FILTER_EXPIRED;
		else {
			for (i = 1; i < DEV_STATE__MAX; i++)
				if (strcmp(v, est_dev_state_names[i]) == 0)
					q->state = i;
			if (q->state == EST_FILTER_ANY)
				return est_fail(EST_ERR_BAD_REQUEST,
				    "unknown state filter");
		}
	} else if (rc != EST_OK && rc != EST_ERR_NOT_FOUND)
		return rc;
	if ((rc = query_param(req->query, "expiring", v, sizeof(v))) ==
	    EST_OK && v[0] != '\0') {
		q->expiring_within_days = atoi(v);
		if (q->expiring_within_days <= 0 ||
		    q->expiring_within_days > EST_MAX_DAYS)
			return est_fail(EST_ERR_BAD_REQUEST,
			    "expiring must be a number of days");
	} else if (rc != EST_OK && rc != EST_ERR_NOT_FOUND)
		return rc;
	return EST_OK;
}

/* GET /: figures, chart and one page of devices. */
static enum est_err
page_index(struct view *v, struct est_resp *resp)
{
	struct est_stats     st;
	struct est_dev_query q;
	struct est_device    items[DASH_PAGE_SIZE];
	struct est_event     evs[DASH_EVENTS];
	struct est_event_query eq;
	char                 evnext[EST_CURSOR_MAX + 1];
	size_t               n = 0, ne = 0, i;
	enum est_err         rc;

	memset(&eq, 0, sizeof(eq));
	eq.limit = DASH_EVENTS;
	if ((rc = parse_query(v->req, &q)) ||
	    (rc = store_stats(v->ctx->store, v->now, &st)) ||
	    (rc = store_devices_list(v->ctx->store, &q, items, &n, v->next)) ||
	    (rc = store_events_list(v->ctx->store, &eq, evs, &ne, evnext)))
		return rc;
	for (i = 0; i < ne; i++) {
		v->ev = &evs[i];
		if ((rc = tmpl_render(&pages[P_EVENT], &v->event_rows,
		    event_key, v)))
			return rc;
	}
	v->stats = &st;
	v->query = &q;
	v->title = "devices";
	for (i = 0; i < n; i++) {
		v->dev = &items[i];
		if ((rc = tmpl_render(&pages[P_ROW], &v->rows, row_key, v)))
			return rc;
	}
	if (n == 0)
		buf_printf(&v->rows, "<tr><td colspan=\"8\" class=\"muted\">"
		    "no devices</td></tr>");
	return render_page(v, P_INDEX, index_key, resp);
}

/* GET /stats.json: the figures the index page refreshes (numbers only,
 * so no JSON escaping is involved). */
static enum est_err
page_stats(struct view *v, struct est_resp *resp)
{
	struct est_stats st;
	struct est_buf   out;
	char             t[DASH_TIME_MAX];
	enum est_err     rc;

	if ((rc = store_stats(v->ctx->store, v->now, &st)) != EST_OK)
		return rc;
	fmt_time(v->now, t);
	memset(&out, 0, sizeof(out));
	buf_printf(&out, "{\"total\":%llu,\"bootstrapped\":%llu,"
	    "\"enrolled\":%llu,\"revoked\":%llu,\"enroll_24h\":%llu,"
	    "\"refused_24h\":%llu,\"expiring_7d\":%llu,"
	    "\"expiring_30d\":%llu,\"now\":\"%s\"}\n",
	    (unsigned long long)st.devices,
	    (unsigned long long)st.by_state[DEV_BOOTSTRAPPED],
	    (unsigned long long)st.by_state[DEV_ENROLLED],
	    (unsigned long long)st.by_state[DEV_REVOKED],
	    (unsigned long long)st.enroll_24h,
	    (unsigned long long)st.refusals_24h,
	    (unsigned long long)st.expiring_7d,
	    (unsigned long long)st.expiring_30d, t);
	return resp_take_buf(resp, &out, "application/json");
}

/* GET /device/<id>: the device, its certificates and recent events. */
static enum est_err
page_device(struct view *v, const char *id, struct est_resp *resp)
{
	struct est_device      dev;
	struct est_cert        certs[DASH_CERTS_SHOWN];
	struct est_event       evs[DASH_EVENTS];
	struct est_event_query eq;
	size_t                 nc = 0, ne = 0, i;
	enum est_err           rc;

	if ((rc = store_device_get(v->ctx->store, id, &dev)) == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "no device '%s'", id);
	if (rc != EST_OK ||
	    (rc = store_device_certs(v->ctx->store, id, certs,
	        DASH_CERTS_SHOWN, &nc)))
		return rc;
	memset(&eq, 0, sizeof(eq));
	eq.limit = DASH_EVENTS;
	snprintf(eq.device, sizeof(eq.device), "%s", id);
	if ((rc = store_events_list(v->ctx->store, &eq, evs, &ne, v->next)))
		return rc;
	v->dev = &dev;
	v->title = dev.id;

	for (i = 0; i < nc; i++) {
		v->cert = &certs[i];
		if ((rc = tmpl_render(&pages[P_CERT], &v->cert_rows, cert_key,
		    v)))
			return rc;
	}
	for (i = 0; i < ne; i++) {
		v->ev = &evs[i];
		if ((rc = tmpl_render(&pages[P_EVENT], &v->event_rows,
		    event_key, v)))
			return rc;
	}
	return render_page(v, P_DEVICE, row_key, resp);
}

/*
 * POST /device/<id>/delete.  Cross-site requests cannot delete: the
 * request must carry X-EST-Admin (a cross-site form cannot set a custom
 * header, and we answer no CORS preflight) and, when the browser sends
 * Origin, it must be this server's own.
 */
static enum est_err
page_delete(struct view *v, const char *id, struct est_resp *resp)
{
	struct est_event ev;
	char             msg[EST_MAX_REASON + EST_MAX_PARAM];
	enum est_err     rc;

	if ((rc = admin_csrf_check(v->req)) != EST_OK)
		return rc;
	admin_event(&ev, v->req);
	if ((rc = store_device_delete(v->ctx->store, id, &ev)) ==
	    EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "no device '%s'", id);
	if (rc != EST_OK)
		return rc;
	crl_refresh(v->ctx);
	snprintf(msg, sizeof(msg), "device '%s' deleted; its certificates "
	    "are revoked", id);
	return resp_text(resp, 200, msg);
}

/* GET /pending: the requests waiting for approval, with approve and
 * reject buttons. */
static enum est_err
page_pending(struct view *v, struct est_resp *resp)
{
	struct est_pending *items;
	enum est_err        rc;
	size_t              n = 0, i;

	if ((items = calloc(EST_PENDING_LIST_MAX, sizeof(*items))) == NULL)
		return EST_ERR_NOMEM;
	if ((rc = store_pending_list(v->ctx->store, PEND_WAITING, items,
	    EST_PENDING_LIST_MAX, &n)) != EST_OK)
		goto out;
	v->title = "approval queue";
	for (i = 0; i < n; i++) {
		v->pend = &items[i];
		if ((rc = tmpl_render(&pages[P_PEND_ROW], &v->rows, pend_key,
		    v)))
			goto out;
	}
	if (n == 0)
		buf_printf(&v->rows, "<tr><td colspan=\"8\" class=\"muted\">"
		    "no request is waiting</td></tr>");
	rc = render_page(v, P_PENDING, page_key, resp);
out:
	free(items);
	return rc;
}

/*
 * POST /device/<id>/approve or /reject (the form body's reason=...):
 * decides the device's waiting request, with the delete button's
 * cross-site checks.  Answers one line of text.
 */
static enum est_err
page_decide(struct view *v, const char *id, int approve,
    struct est_resp *resp)
{
	struct est_event ev;
	char             reason[EST_MAX_REJECT_REASON + 1];
	char             msg[EST_MAX_REASON + EST_MAX_PARAM];
	enum est_err     rc;

	reason[0] = '\0';
	if ((rc = admin_csrf_check(v->req)) != EST_OK)
		return rc;
	if (!approve && v->req->body != NULL) {
		rc = query_param(v->req->body, "reason", reason,
		    sizeof(reason));
		if (rc == EST_ERR_NOT_FOUND)
			reason[0] = '\0';
		else if (rc != EST_OK ||
		    (rc = queue_reason_check(reason)) != EST_OK)
			return est_fail(EST_ERR_BAD_REQUEST, "bad reason: %s",
			    est_reason(rc));
	}
	admin_event(&ev, v->req);
	rc = store_pending_decide(v->ctx->store, id, approve, reason, &ev);
	if (rc == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "device '%s' has no "
		    "enrollment request", id);
	if (rc != EST_OK)
		return rc;
	audit_write(&v->ctx->conf, &ev);
	snprintf(msg, sizeof(msg), "request of '%s' %s", id,
	    approve ? "approved" : "rejected");
	return resp_text(resp, 200, msg);
}

/* Loads the templates once per process. */
static enum est_err
load_pages(const struct est_conf *conf)
{
	enum est_err rc;
	int          i;

	if (pages_ok)
		return EST_OK;
	for (i = 0; i < P__MAX; i++)
		if ((rc = tmpl_load(conf->templates_dir, page_files[i],
		    &pages[i])) != EST_OK) {
			while (i-- > 0)
				tmpl_free(&pages[i]);
			est_log(EST_LOG_ERR, "%s", est_reason(rc));
			return rc;
		}
	setenv("TZ", conf->time_zone, 1);
	tzset();
	pages_ok = 1;
	return EST_OK;
}

/* Routes one request (see the top of the file). */
static enum est_err
dashboard(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	struct view   v;
	struct est_buf hdr;
	const char   *path;
	char          id[EST_MAX_DEVICE_ID + 1];
	unsigned char rnd[DASH_NONCE_BYTES];
	enum est_err  rc;
	size_t        plen;
	int           is_get;

	if ((rc = load_pages(&ctx->conf)) != EST_OK)
		return rc;
	if ((rc = admin_check(&ctx->conf, req)) != EST_OK)
		return rc;
	memset(&v, 0, sizeof(v));
	v.ctx = ctx;
	v.req = req;
	v.now = (int64_t)time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &v.t0);
	/* Links are made from where the program is mounted, with exactly
	 * one slash after it (never "//", a protocol-relative URL). */
	plen = strlen(req->script_name);
	while (plen > 0 && req->script_name[plen - 1] == '/')
		plen--;
	snprintf(v.base, sizeof(v.base), "%.*s/", (int)plen, req->script_name);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return EST_ERR_INTERNAL;
	est_hex(rnd, sizeof(rnd), v.nonce);
	memset(&hdr, 0, sizeof(hdr));
	buf_printf(&hdr, "Content-Security-Policy: default-src 'none'; "
	    "script-src 'nonce-%s'; style-src 'nonce-%s'; connect-src 'self'; "
	    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
	    "base-uri 'none'\r\nX-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n", v.nonce, v.nonce);
	if (hdr.err != EST_OK) {
		buf_free(&hdr);
		return EST_ERR_NOMEM;
	}
	resp->headers = hdr.data;

	path = req->path_info[0] != '\0' ? req->path_info : "/";
	is_get = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;
	if (strcmp(path, "/pending") == 0) {
		if (!is_get) {
			resp->allow = "GET, HEAD";
			return est_fail(EST_ERR_METHOD, "GET only");
		}
		rc = page_pending(&v, resp);
	} else if (strcmp(path, "/") == 0 || strcmp(path, "/stats.json") == 0) {
		if (!is_get) {
			resp->allow = "GET, HEAD";
			return est_fail(EST_ERR_METHOD, "GET only");
		}
		rc = path[1] == '\0' ? page_index(&v, resp)
		                     : page_stats(&v, resp);
	} else if (strncmp(path, "/device/", 8) == 0) {
		path += 8;
		plen = strcspn(path, "/");
		if ((rc = path_device_id(&ctx->conf, path, plen, id)) != EST_OK)
			return rc;
		if (path[plen] == '\0') {
			if (!is_get) {
				resp->allow = "GET, HEAD";
				return est_fail(EST_ERR_METHOD, "GET only");
			}
			rc = page_device(&v, id, resp);
		} else if (strcmp(path + plen, "/delete") == 0) {
			if (strcmp(req->method, "POST") != 0) {
				resp->allow = "POST";
				return est_fail(EST_ERR_METHOD, "POST only");
			}
			rc = page_delete(&v, id, resp);
		} else if (strcmp(path + plen, "/approve") == 0 ||
		    strcmp(path + plen, "/reject") == 0) {
			if (strcmp(req->method, "POST") != 0) {
				resp->allow = "POST";
				return est_fail(EST_ERR_METHOD, "POST only");
			}
			rc = page_decide(&v, id, path[plen + 1] == 'a', resp);
		} else
			rc = est_fail(EST_ERR_NOT_FOUND, "no such page");
	} else
		rc = est_fail(EST_ERR_NOT_FOUND, "no such page");
	buf_free(&v.rows);
	buf_free(&v.cert_rows);
	buf_free(&v.event_rows);
	return rc;
}

int
main(void)
{
	/* The CA: a deletion publishes the CRL at once (crl.c). */
	return est_serve("dashboard", EST_OP_OTHER,
	    EST_NEED_STORE | EST_NEED_CA, dashboard);
}
