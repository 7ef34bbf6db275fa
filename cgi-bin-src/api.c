/*
 * api — the device registry as JSON, for administrators only.
 *
 *   GET    {prefix}/v1/devices         paged, filtered device list
 *   GET    {prefix}/v1/devices/{id}    a device, its certificates, events
 *   DELETE {prefix}/v1/devices/{id}    delete (certificates revoked)
 *   GET    {prefix}/v1/stats           counters
 *   GET    {prefix}/v1/events          the audit trail, newest first
 *   GET    {prefix}/v1/pending         enrollment requests (approval queue)
 *   POST   {prefix}/v1/devices/{id}/approve   approve its waiting request
 *   POST   {prefix}/v1/devices/{id}/reject    reject it ({"reason": ...})
 *   POST   {prefix}/v1/devices/{id}/revoke    revoke its certificates
 *                                  (?reason= or {"reason": name or number})
 * and python-est's unversioned {prefix}/devices, /devices/{id}, /stats.
 *
 * {prefix} is wherever the web server maps the program (SCRIPT_NAME,
 * "/api" in apache-conf/estcgi-admin.conf); routes are read from the
 * raw REQUEST_URI after it, so the ID is %-decoded exactly once, here.
 * Apache asks for the password; admin_check() checks REMOTE_USER
 * against admin_users again; DELETE, approve and reject also pass
 * admin_csrf_check().
 * Every error is JSON {"error": ..., "reason": ...}.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "est.h"

#define API_DEVICE_EVENTS 20   /* recent events on a device's answer */
#define API_NUM_MAX       16   /* longest numeric query parameter */

enum api_route {
	ROUTE_DEVICES,   /* the list */
	ROUTE_DEVICE,    /* one device */
	ROUTE_STATS,
	ROUTE_EVENTS,
	ROUTE_PENDING,   /* the approval queue */
	ROUTE_APPROVE,   /* devices/{id}/approve */
	ROUTE_REJECT,    /* devices/{id}/reject */
	ROUTE_REVOKE     /* devices/{id}/revoke */
};

struct api_path {
	enum api_route route;
	char           id[EST_MAX_DEVICE_ID + 1];  /* ROUTE_DEVICE */
};

/* Returns 1 when the n bytes at s are exactly the string lit. */
static int
seg_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/*
 * Finds the route of req: the raw path (REQUEST_URI up to '?') must
 * start with SCRIPT_NAME; after it come an optional "/v1" and
 * "/devices", "/devices/{id}", "/stats" or (versioned only) "/events",
 * "/pending", "/devices/{id}/approve" or "/devices/{id}/reject".
 * Returns EST_OK, EST_ERR_NOT_FOUND or path_device_id()'s error.
 */
static enum est_err
api_route(const struct est_conf *conf, const struct est_req *req,
    struct api_path *p)
{
	const char *uri = req->request_uri, *r, *act;
	size_t      plen = strcspn(uri, "?#"), slen = strlen(req->script_name);
	size_t      n, idlen;
	int         v1 = 0;

	memset(p, 0, sizeof(*p));
	if (slen == 0 || plen < slen || memcmp(uri, req->script_name, slen))
		return est_fail(EST_ERR_NOT_FOUND, "no such API resource");
	r = uri + slen;
	n = plen - slen;
	if (n >= 3 && memcmp(r, "/v1", 3) == 0 && (n == 3 || r[3] == '/')) {
		v1 = 1;
		r += 3;
		n -= 3;
	}
	if (seg_is(r, n, "/devices"))
		p->route = ROUTE_DEVICES;
	else if (seg_is(r, n, "/stats"))
		p->route = ROUTE_STATS;
	else if (v1 && seg_is(r, n, "/events"))
		p->route = ROUTE_EVENTS;
	else if (v1 && seg_is(r, n, "/pending"))
		p->route = ROUTE_PENDING;
	else if (n > 9 && memcmp(r, "/devices/", 9) == 0) {
		act = memchr(r + 9, '/', n - 9);
		idlen = act != NULL ? (size_t)(act - (r + 9)) : n - 9;
		if (act == NULL)
			p->route = ROUTE_DEVICE;
		else if (v1 && seg_is(act, n - 9 - idlen, "/approve"))
			p->route = ROUTE_APPROVE;
		else if (v1 && seg_is(act, n - 9 - idlen, "/reject"))
			p->route = ROUTE_REJECT;
		else if (v1 && seg_is(act, n - 9 - idlen, "/revoke"))
			p->route = ROUTE_REVOKE;
		else
			return est_fail(EST_ERR_NOT_FOUND,
			    "no such API resource");
		return path_device_id(conf, r + 9, idlen, p->id);
	} else
		return est_fail(EST_ERR_NOT_FOUND, "no such API resource");
	return EST_OK;
}

/*
 * Reads the optional integer query parameter name into *out, which
 * keeps def when it is absent; it must be decimal digits within
 * [lo, hi].  Returns EST_OK or EST_ERR_BAD_REQUEST.
 */
static enum est_err
query_int(const struct est_req *req, const char *name, long def, long lo,
    long hi, long *out)
{
	char         buf[API_NUM_MAX + 1], *end;
	enum est_err rc;
	long         v;

	*out = def;
	rc = query_param(req->query, name, buf, sizeof(buf));
	if (rc == EST_ERR_NOT_FOUND)
		return EST_OK;
	if (rc != EST_OK)
		return est_fail(EST_ERR_BAD_REQUEST, "%s: bad value", name);
	if (buf[0] < '0' || buf[0] > '9')
		return est_fail(EST_ERR_BAD_REQUEST, "%s must be a number "
		    "from %ld to %ld", name, lo, hi);
	v = strtol(buf, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return est_fail(EST_ERR_BAD_REQUEST, "%s must be a number "
		    "from %ld to %ld", name, lo, hi);
	*out = v;
	return EST_OK;
}

/* Reads the optional string query parameter name into out (outsz
 * bytes, "" when absent).  Returns EST_OK or EST_ERR_BAD_REQUEST. */
static enum est_err
query_str(const struct est_req *req, const char *name, char *out,
    size_t outsz)
{
	enum est_err rc = query_param(req->query, name, out, outsz);

	if (rc == EST_ERR_NOT_FOUND)
		return EST_OK;
	if (rc != EST_OK)
		return est_fail(EST_ERR_BAD_REQUEST, "%s: %s", name,
		    est_reason(rc));
	return EST_OK;
}

/* Parses the state filter s ("" or "any", a state name, "expired")
 * into *state.  Returns EST_OK or EST_ERR_BAD_REQUEST. */
static enum est_err
parse_state(const char *s, int *state)
{
	int i;

	*state = EST_FILTER_ANY;
	if (s[0] == '\0' || strcmp(s, "any") == 0)
		return EST_OK;
	if (strcmp(s, "expired") == 0) {
		*state = EST_FILTER_EXPIRED;
		return EST_OK;
	}
	for (i = DEV_NONE + 1; i < DEV_STATE__MAX; i++)
		if (strcmp(s, est_dev_state_names[i]) == 0) {
			*state = i;
			return EST_OK;
		}
	return est_fail(EST_ERR_BAD_REQUEST, "unknown state (bootstrapped, "
	    "enrolled, pending, revoked, expired)");
}

/* Returns {"items": items, "next_cursor": next or null}, stealing
 * items; NULL when out of memory. */
static json_t *
page_json(json_t *items, const char *next)
{
	return json_pack("{s:o, s:o}", "items", items, "next_cursor",
	    next[0] != '\0' ? json_string(next) : json_null());
}

/* GET devices: one page of the list (limit, cursor, offset, state, q,
 * expiring_within_days). */
static enum est_err
get_devices(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	struct est_dev_query q;
	struct est_device   *items = NULL;
	char                 next[EST_CURSOR_MAX + 1], state[EST_MAX_PARAM];
	json_t              *arr = NULL;
	enum est_err         rc;
	long                 limit, offset, days;
	size_t               n, i;

	memset(&q, 0, sizeof(q));
	q.now = (int64_t)time(NULL);
	if ((rc = query_int(req, "limit", EST_LIST_DEFAULT, 1, EST_LIST_MAX,
	    &limit)) || (rc = query_int(req, "offset", 0, 0,
	    EST_LIST_OFFSET_MAX, &offset)) || (rc = query_int(req,
	    "expiring_within_days", 0, 0, EST_MAX_DAYS, &days)) ||
	    (rc = query_str(req, "cursor", q.cursor, sizeof(q.cursor))) ||
	    (rc = query_str(req, "q", q.q, sizeof(q.q))) ||
	    (rc = query_str(req, "state", state, sizeof(state))) ||
	    (rc = parse_state(state, &q.state)))
		goto out;
	q.limit = (size_t)limit;
	q.offset = (size_t)offset;
	q.expiring_within_days = (int)days;
	if ((items = calloc(q.limit, sizeof(*items))) == NULL) {
		rc = EST_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_devices_list(ctx->store, &q, items, &n, next)))
		goto out;
	if ((arr = json_array()) == NULL) {
		rc = EST_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_device(&items[i], q.now))) {
			rc = EST_ERR_NOMEM;
			goto out;
		}
	rc = resp_json(resp, 200, page_json(arr, next));
	arr = NULL;
out:
	json_decref(arr);
	free(items);
	return rc;
}

/* GET devices/{id}: the device, all its certificates (newest first, up
 * to EST_MAX_DEVICE_CERTS) and its API_DEVICE_EVENTS latest events. */
static enum est_err
get_device(struct est_ctx *ctx, const char *id, struct est_resp *resp)
{
	struct est_device      dev;
	struct est_cert       *certs = NULL;
	struct est_event       evs[API_DEVICE_EVENTS];
	struct est_event_query eq;
	char                   next[EST_CURSOR_MAX + 1];
	json_t                *o = NULL, *ca = NULL, *ea = NULL;
	enum est_err           rc;
	size_t                 nc, ne, i;
	int64_t                now = (int64_t)time(NULL);

	if ((rc = store_device_get(ctx->store, id, &dev)) == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "no device '%s'", id);
	if (rc != EST_OK)
		return rc;
	memset(&eq, 0, sizeof(eq));
	eq.limit = API_DEVICE_EVENTS;
	snprintf(eq.device, sizeof(eq.device), "%s", id);
	if ((certs = calloc(EST_MAX_DEVICE_CERTS, sizeof(*certs))) == NULL)
		return EST_ERR_NOMEM;
	if ((rc = store_device_certs(ctx->store, id, certs,
	    EST_MAX_DEVICE_CERTS, &nc)) ||
	    (rc = store_events_list(ctx->store, &eq, evs, &ne, next)))
		goto out;
	rc = EST_ERR_NOMEM;
	if ((ca = json_array()) == NULL || (ea = json_array()) == NULL)
		goto out;
	for (i = 0; i < nc; i++)
		if (json_array_append_new(ca, json_cert(&certs[i])))
			goto out;
	for (i = 0; i < ne; i++)
		if (json_array_append_new(ea, json_event(&evs[i])))
			goto out;
	o = json_pack("{s:o, s:o, s:o}", "device", json_device(&dev, now),
	    "certificates", ca, "events", ea);
	ca = ea = NULL;
	rc = resp_json(resp, 200, o);
out:
	json_decref(ca);
	json_decref(ea);
	free(certs);
	return rc;
}

/* DELETE devices/{id}: deletes the device (store_device_delete()),
 * audits it, answers {"deleted": id}. */
static enum est_err
delete_device(struct est_ctx *ctx, const struct est_req *req,
    const char *id, struct est_resp *resp)
{
	struct est_event ev;
	enum est_err     rc;

	if ((rc = admin_csrf_check(req)) != EST_OK)
		return rc;
	admin_event(&ev, req);
	rc = store_device_delete(ctx->store, id, &ev);
	if (rc == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "no device '%s'", id);
	if (rc != EST_OK)
		return rc;
	est_log(EST_LOG_INFO, "device %s deleted by %s from %s", id,
	    req->remote_user, req->remote_addr);
	audit_write(&ctx->conf, &ev);
	crl_refresh(ctx);
	return resp_json(resp, 200, json_pack("{s:o}", "deleted",
	    json_text(id)));
}

/* GET stats. */
static enum est_err
get_stats(struct est_ctx *ctx, struct est_resp *resp)
{
	struct est_stats *s;
	enum est_err      rc;

	if ((s = malloc(sizeof(*s))) == NULL)
		return EST_ERR_NOMEM;
	if ((rc = store_stats(ctx->store, 0, s)) == EST_OK)
		rc = resp_json(resp, 200, json_stats(s));
	free(s);
	return rc;
}

/* GET events: one page, newest first (limit, cursor, device). */
static enum est_err
get_events(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	struct est_event_query q;
	struct est_event      *items = NULL;
	char                   next[EST_CURSOR_MAX + 1];
	json_t                *arr = NULL;
	enum est_err           rc;
	long                   limit;
	size_t                 n, i;

	memset(&q, 0, sizeof(q));
	if ((rc = query_int(req, "limit", EST_LIST_DEFAULT, 1, EST_LIST_MAX,
	    &limit)) ||
	    (rc = query_str(req, "cursor", q.cursor, sizeof(q.cursor))) ||
	    (rc = query_str(req, "device", q.device, sizeof(q.device))))
		return rc;
	q.limit = (size_t)limit;
	if ((items = calloc(q.limit, sizeof(*items))) == NULL)
		return EST_ERR_NOMEM;
	if ((rc = store_events_list(ctx->store, &q, items, &n, next)))
		goto out;
	if ((arr = json_array()) == NULL) {
		rc = EST_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_event(&items[i]))) {
			rc = EST_ERR_NOMEM;
			goto out;
		}
	rc = resp_json(resp, 200, page_json(arr, next));
	arr = NULL;
out:
	json_decref(arr);
	free(items);
	return rc;
}

/* GET pending: the approval queue, in device-ID order (state: pending
 * (default), approved, rejected or any; at most limit). */
static enum est_err
get_pending(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	struct est_pending *items = NULL;
	enum est_pend_state state = PEND_WAITING;
	char                sbuf[EST_MAX_PARAM];
	json_t             *arr = NULL;
	enum est_err        rc;
	long                limit;
	size_t              n, i;

	if ((rc = query_int(req, "limit", EST_PENDING_LIST_MAX, 1,
	    EST_PENDING_LIST_MAX, &limit)) ||
	    (rc = query_str(req, "state", sbuf, sizeof(sbuf))))
		return rc;
	if (strcmp(sbuf, "any") == 0)
		state = PEND_NONE;
	else if (sbuf[0] != '\0') {
		for (i = PEND_WAITING; i < PEND__MAX; i++)
			if (strcmp(sbuf, est_pend_names[i]) == 0)
				break;
		if (i == PEND__MAX)
			return est_fail(EST_ERR_BAD_REQUEST, "unknown state "
			    "(pending, approved, rejected, any)");
		state = (enum est_pend_state)i;
	}
	if ((items = calloc((size_t)limit, sizeof(*items))) == NULL)
		return EST_ERR_NOMEM;
	if ((rc = store_pending_list(ctx->store, state, items, (size_t)limit,
	    &n)) != EST_OK)
		goto out;
	if ((arr = json_array()) == NULL) {
		rc = EST_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_pending(&items[i]))) {
			rc = EST_ERR_NOMEM;
			goto out;
		}
	rc = resp_json(resp, 200, json_pack("{s:o}", "items", arr));
	arr = NULL;
out:
	json_decref(arr);
	free(items);
	return rc;
}

/*
 * Reads the optional rejection reason of a POST body: empty, or a JSON
 * object {"reason": "one line"}.  Returns EST_OK (reason "" when none)
 * or EST_ERR_BAD_REQUEST / EST_ERR_MEDIA_TYPE with the reason.
 */
static enum est_err
reject_reason(const struct est_req *req, char *out, size_t outsz)
{
	json_t      *o = NULL, *v;
	enum est_err rc = EST_OK;

	out[0] = '\0';
	if (req->body_err != EST_OK)
		return req->body_err;
	if (req->body == NULL || req->body_len == 0)
		return EST_OK;
	if (!content_type_is(req->content_type, "application/json"))
		return est_fail(EST_ERR_MEDIA_TYPE, "the body must be "
		    "application/json: {\"reason\": \"...\"}");
	if ((o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL || !json_is_object(o)) {
		rc = est_fail(EST_ERR_BAD_REQUEST, "the body is not a JSON "
		    "object");
		goto out;
	}
	if ((v = json_object_get(o, "reason")) != NULL) {
		if (!json_is_string(v)) {
			rc = est_fail(EST_ERR_BAD_REQUEST, "reason must be a "
			    "string");
			goto out;
		}
		if ((rc = queue_reason_check(json_string_value(v))) != EST_OK)
			goto out;
		snprintf(out, outsz, "%s", json_string_value(v));
	}
out:
	json_decref(o);
	return rc;
}

/* POST devices/{id}/approve or /reject: decides the device's waiting
 * request (store_pending_decide()), audits it, answers {"device": id,
 * "state": "approved" | "rejected"}. */
static enum est_err
decide_device(struct est_ctx *ctx, const struct est_req *req,
    const char *id, int approve, struct est_resp *resp)
{
	struct est_event ev;
	char             reason[EST_MAX_REJECT_REASON + 1];
	enum est_err     rc;

	reason[0] = '\0';
	if ((rc = admin_csrf_check(req)) != EST_OK ||
	    (!approve && (rc = reject_reason(req, reason, sizeof(reason)))))
		return rc;
	admin_event(&ev, req);
	rc = store_pending_decide(ctx->store, id, approve, reason, &ev);
	if (rc == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "device '%s' has no "
		    "enrollment request", id);
	if (rc != EST_OK)
		return rc;
	est_log(EST_LOG_INFO, "request of %s %s by %s from %s", id,
	    approve ? "approved" : "rejected", req->remote_user,
	    req->remote_addr);
	audit_write(&ctx->conf, &ev);
	return resp_json(resp, 200, json_pack("{s:o, s:s}", "device",
	    json_text(id), "state", approve ? "approved" : "rejected"));
}

/*
 * Reads the revocation reason (RFC 5280 5.3.1) of a revoke request: the
 * query parameter reason, or a JSON body {"reason": name or number};
 * none is unspecified.  Returns EST_OK with *reason set, or
 * EST_ERR_BAD_REQUEST / EST_ERR_MEDIA_TYPE with the reason.
 */
static enum est_err
revoke_reason(const struct est_req *req, int *reason)
{
	char         buf[EST_REASON_MAX_TEXT + 1];
	json_t      *o = NULL, *v;
	enum est_err rc;

	*reason = EST_REASON_UNSPECIFIED;
	buf[0] = '\0';
	rc = query_param(req->query, "reason", buf, sizeof(buf));
	if (rc != EST_OK && rc != EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_BAD_REQUEST, "reason: bad value");
	if (rc == EST_ERR_NOT_FOUND && req->body_err != EST_OK)
		return req->body_err;
	if (rc == EST_ERR_NOT_FOUND && req->body != NULL &&
	    req->body_len > 0) {
		if (!content_type_is(req->content_type, "application/json"))
			return est_fail(EST_ERR_MEDIA_TYPE, "the body must be "
			    "application/json: {\"reason\": \"...\"}");
		if ((o = json_loadb(req->body, req->body_len,
		    JSON_REJECT_DUPLICATES, NULL)) == NULL ||
		    !json_is_object(o)) {
			rc = est_fail(EST_ERR_BAD_REQUEST, "the body is not a "
			    "JSON object");
			goto out;
		}
		v = json_object_get(o, "reason");
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_string(v))
			snprintf(buf, sizeof(buf), "%s", json_string_value(v));
		else if (v != NULL) {
			rc = est_fail(EST_ERR_BAD_REQUEST, "reason must be a "
			    "name or a number");
			goto out;
		}
	}
	rc = EST_OK;
	if (buf[0] != '\0' && reason_parse(buf, reason) != 0)
		rc = est_fail(EST_ERR_BAD_REQUEST, "reason: not a revocation "
		    "reason (RFC 5280 5.3.1: unspecified, keyCompromise, "
		    "cACompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, privilegeWithdrawn, aACompromise, "
		    "or 0-5, 9, 10)");
out:
	json_decref(o);
	return rc;
}

/* POST devices/{id}/revoke: revokes the device's certificates
 * (store_device_revoke()), audits it, publishes the CRL, answers
 * {"device": id, "state": "revoked", "reason": name, "revoked": n}. */
static enum est_err
revoke_device(struct est_ctx *ctx, const struct est_req *req,
    const char *id, struct est_resp *resp)
{
	struct est_event ev;
	enum est_err     rc;
	size_t           n;
	int              reason;

	if ((rc = admin_csrf_check(req)) != EST_OK ||
	    (rc = revoke_reason(req, &reason)) != EST_OK)
		return rc;
	admin_event(&ev, req);
	rc = store_device_revoke(ctx->store, id, reason, &ev, &n);
	if (rc == EST_ERR_NOT_FOUND)
		return est_fail(EST_ERR_NOT_FOUND, "no device '%s'", id);
	if (rc != EST_OK)
		return rc;
	est_log(EST_LOG_INFO, "device %s: %zu certificates revoked (%s) by "
	    "%s from %s", id, n, est_reason_names[reason], req->remote_user,
	    req->remote_addr);
	audit_write(&ctx->conf, &ev);
	crl_refresh(ctx);
	return resp_json(resp, 200, json_pack("{s:o, s:s, s:s, s:I}",
	    "device", json_text(id), "state", "revoked", "reason",
	    est_reason_names[reason], "revoked", (json_int_t)n));
}

/* Refuses a method a route does not take: 405 with Allow. */
static enum est_err
bad_method(const struct est_req *req, struct est_resp *resp,
    const char *allow)
{
	resp->allow = allow;
	return est_fail(EST_ERR_METHOD, "%s not allowed here (allowed: %s)",
	    req->method, allow);
}

/* The handler: administrator check, route, method. */
static enum est_err
api(struct est_ctx *ctx, const struct est_req *req, struct est_resp *resp)
{
	struct api_path p;
	enum est_err    rc;
	int             get;

	if ((rc = admin_check(&ctx->conf, req)) != EST_OK ||
	    (rc = api_route(&ctx->conf, req, &p)) != EST_OK)
		return rc;
	get = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;
	switch (p.route) {
	case ROUTE_DEVICES:
		return get ? get_devices(ctx, req, resp) :
		    bad_method(req, resp, "GET, HEAD");
	case ROUTE_DEVICE:
		if (get)
			return get_device(ctx, p.id, resp);
		if (strcmp(req->method, "DELETE") == 0)
			return delete_device(ctx, req, p.id, resp);
		return bad_method(req, resp, "GET, HEAD, DELETE");
	case ROUTE_STATS:
		return get ? get_stats(ctx, resp) :
		    bad_method(req, resp, "GET, HEAD");
	case ROUTE_EVENTS:
		return get ? get_events(ctx, req, resp) :
		    bad_method(req, resp, "GET, HEAD");
	case ROUTE_PENDING:
		return get ? get_pending(ctx, req, resp) :
		    bad_method(req, resp, "GET, HEAD");
	case ROUTE_APPROVE:
	case ROUTE_REJECT:
		return strcmp(req->method, "POST") == 0 ?
		    decide_device(ctx, req, p.id, p.route == ROUTE_APPROVE,
		    resp) : bad_method(req, resp, "POST");
	case ROUTE_REVOKE:
		return strcmp(req->method, "POST") == 0 ?
		    revoke_device(ctx, req, p.id, resp) :
		    bad_method(req, resp, "POST");
	}
	return est_fail(EST_ERR_NOT_FOUND, "no such API resource");
}

int
main(void)
{
	est_serve_error_fn(resp_json_error);
	/* The CA: revocations publish the CRL at once (crl.c). */
	return est_serve("api", EST_OP_OTHER, EST_NEED_STORE | EST_NEED_CA,
	    api);
}
