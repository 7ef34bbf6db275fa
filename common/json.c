/*
 * json.c — the registry's records as JSON (jansson): devices,
 * certificates, events and statistics, shared by the device API and
 * the audit log so both speak the same shapes.
 *
 * Times are ISO 8601 in UTC ("2026-11-27T02:55:38Z"); serials are
 * lower-case hex.  Text that came from a device or a request (IDs, user
 * agents, reasons) may hold any bytes: what is not valid UTF-8 becomes
 * '?' so the document stays valid JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "est.h"

#define JSON_TIME_MAX 32 /* "YYYY-MM-DDTHH:MM:SSZ" and NUL, with room */

/* Returns a new JSON string of s (NULL counts as ""); when s is not
 * valid UTF-8, every non-ASCII byte becomes '?'.  Control characters
 * are escaped by jansson.  NULL only when out of memory. */
json_t *
json_text(const char *s)
{
	json_t *j;
	char   *copy;
	size_t  i;

	if (s == NULL)
		s = "";
	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Writes unix time secs as ISO 8601 UTC into out (JSON_TIME_MAX+ bytes).
 * Returns 0, or -1 if the time cannot be represented. */
int
iso_time(int64_t secs, char *out, size_t outsz)
{
	struct tm tm;
	time_t    t = (time_t)secs;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* Returns a JSON string of unix time secs in ISO 8601 UTC, or JSON null
 * for 0 (never). */
json_t *
json_time(int64_t secs)
{
	char buf[JSON_TIME_MAX];

	if (secs == 0 || iso_time(secs, buf, sizeof(buf)) == -1)
		return json_null();
	return json_string(buf);
}

/* Returns a JSON string of serial (len bytes) as hex, or null if empty. */
static json_t *
json_serial(const unsigned char *serial, size_t len)
{
	char hex[EST_HEX_SERIAL_MAX];

	if (len == 0 || len > EST_SERIAL_LEN)
		return json_null();
	est_hex(serial, len, hex);
	return json_string(hex);
}

/* Sets key of obj to v (which it steals); returns -1 if v is NULL or the
 * set fails, so a chain of sets can be checked once. */
static int
set(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v);
}

/* Returns what an event's outcome is called: issued, refused, deleted,
 * approved, rejected, pending (a 202 of the approval queue) or ok. */
const char *
event_outcome(const struct est_event *ev)
{
	if (ev->status >= 400)
		return "refused";
	if (ev->op == EST_OP_DELETE)
		return "deleted";
	if (ev->op == EST_OP_APPROVE)
		return "approved";
	if (ev->op == EST_OP_REJECT)
		return "rejected";
	if (ev->status == 202)
		return "pending";
	if (ev->status == 200 && (ev->op == EST_OP_BOOTSTRAP ||
	    ev->op == EST_OP_SIMPLEENROLL || ev->op == EST_OP_SIMPLEREENROLL))
		return "issued";
	return "ok";
}

/*
 * Returns a new JSON object of event ev: time (ISO 8601 UTC), time_us,
 * operation, device, user, ip, user_agent, serial, status, outcome,
 * reason.  NULL when out of memory.
 */
json_t *
json_event(const struct est_event *ev)
{
	json_t *o;
	int     bad = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	bad |= set(o, "time", json_time(ev->time_us / 1000000));
	bad |= set(o, "time_us", json_integer(ev->time_us));
	bad |= set(o, "operation", json_string((unsigned)ev->op < EST_OP__MAX ?
	    est_op_names[ev->op] : "unknown"));
	bad |= set(o, "device", ev->device[0] ? json_text(ev->device)
	                                      : json_null());
	bad |= set(o, "user", ev->user[0] ? json_text(ev->user) : json_null());
	bad |= set(o, "ip", json_text(ev->ip));
	bad |= set(o, "user_agent", json_text(ev->ua));
	bad |= set(o, "serial", json_serial(ev->serial, ev->serial_len));
	bad |= set(o, "status", json_integer(ev->status));
	bad |= set(o, "outcome", json_string(event_outcome(ev)));
	bad |= set(o, "reason", json_text(ev->reason));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Returns a new JSON object of device dev as of unix time now: id,
 * state (stored), expired, owner, created, updated, serial (current
 * certificate), not_after, days_left (whole days until notAfter,
 * negative once expired, null without certificate), last_ip,
 * last_user_agent.  NULL when out of memory.
 */
json_t *
json_device(const struct est_device *dev, int64_t now)
{
	json_t *o;
	int     bad = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	bad |= set(o, "id", json_text(dev->id));
	bad |= set(o, "state", json_string((unsigned)dev->state <
	    DEV_STATE__MAX ? est_dev_state_names[dev->state] : "unknown"));
	bad |= set(o, "expired", json_boolean(device_expired(dev, now)));
	bad |= set(o, "owner", json_text(dev->owner));
	bad |= set(o, "created", json_time(dev->created));
	bad |= set(o, "updated", json_time(dev->updated));
	bad |= set(o, "serial", json_serial(dev->serial, dev->serial_len));
	bad |= set(o, "not_after", json_time(dev->not_after));
	bad |= set(o, "days_left", dev->not_after == 0 ? json_null() :
	    json_integer(dev->not_after >= now ?
	    (dev->not_after - now) / 86400 :
	    -((now - dev->not_after + 86399) / 86400)));
	bad |= set(o, "last_ip", json_text(dev->last_ip));
	bad |= set(o, "last_user_agent", json_text(dev->last_ua));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Returns a new JSON object of certificate c (DER not included): serial,
 * status, operation, not_before, not_after, revoked_at, revocation_reason
 * (RFC 5280 CRLReason code, null unless revoked) and
 * revocation_reason_name (its RFC 5280 5.3.1 name).  NULL when out of
 * memory.
 */
json_t *
json_cert(const struct est_cert *c)
{
	json_t *o;
	int     bad = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	bad |= set(o, "serial", json_serial(c->serial, c->serial_len));
	bad |= set(o, "status", json_string((unsigned)c->status <
	    CERT_STATUS__MAX ? est_cert_status_names[c->status] : "unknown"));
	bad |= set(o, "operation", json_string((unsigned)c->op < EST_OP__MAX ?
	    est_op_names[c->op] : "unknown"));
	/* RFC 7030 3.2.2: the CA label that issued it ("" = default). */
	bad |= set(o, "label", json_text(c->label));
	bad |= set(o, "not_before", json_time(c->not_before));
	bad |= set(o, "not_after", json_time(c->not_after));
	bad |= set(o, "revoked_at", json_time(c->revoked_at));
	bad |= set(o, "revocation_reason", c->status == CERT_REVOKED ?
	    json_integer(c->reason) : json_null());
	bad |= set(o, "revocation_reason_name", c->status == CERT_REVOKED &&
	    (unsigned)c->reason < EST_REASON__MAX &&
	    est_reason_names[c->reason] != NULL ?
	    json_string(est_reason_names[c->reason]) : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Returns a new JSON object of the statistics s: time, devices,
 * by_state {name: count}, expired, expiring_7d, expiring_30d,
 * enrollments_24h, refusals_24h, enrollments_total, refusals_total,
 * deletions_total, enrollments_hourly {start, hours: [...]} (oldest
 * first, the last is the current hour).  NULL when out of memory.
 */
json_t *
json_stats(const struct est_stats *s)
{
	json_t *o, *states = NULL, *hourly = NULL, *hours = NULL;
	int     bad = 0, i;

	if ((o = json_object()) == NULL)
		return NULL;
	if ((states = json_object()) == NULL || (hourly = json_object()) == NULL ||
	    (hours = json_array()) == NULL) {
		json_decref(states);
		json_decref(hourly);
		json_decref(o);
		return NULL;
	}
	for (i = DEV_NONE + 1; i < DEV_STATE__MAX; i++)
		bad |= set(states, est_dev_state_names[i],
		    json_integer((json_int_t)s->by_state[i]));
	for (i = 0; i < EST_STATS_HOURS; i++)
		bad |= json_array_append_new(hours,
		    json_integer(s->enroll_hourly[i]));
	bad |= set(hourly, "start", json_time(s->hour0));
	bad |= set(hourly, "hours", hours);
	bad |= set(o, "time", json_time(s->now));
	bad |= set(o, "devices", json_integer((json_int_t)s->devices));
	bad |= set(o, "by_state", states);
	bad |= set(o, "expired", json_integer((json_int_t)s->expired));
	bad |= set(o, "expiring_7d", json_integer((json_int_t)s->expiring_7d));
	bad |= set(o, "expiring_30d",
	    json_integer((json_int_t)s->expiring_30d));
	bad |= set(o, "enrollments_24h",
	    json_integer((json_int_t)s->enroll_24h));
	bad |= set(o, "refusals_24h",
	    json_integer((json_int_t)s->refusals_24h));
	bad |= set(o, "enrollments_total",
	    json_integer((json_int_t)s->enroll_total));
	bad |= set(o, "refusals_total",
	    json_integer((json_int_t)s->refusals_total));
	bad |= set(o, "deletions_total",
	    json_integer((json_int_t)s->deletes_total));
	bad |= set(o, "enrollments_hourly", hourly);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Serializes j (compact, one line, plus a newline) into resp as
 * application/json with the given status; takes ownership of j.
 * Returns EST_OK or EST_ERR_NOMEM.
 */
enum est_err
resp_json(struct est_resp *resp, int status, json_t *j)
{
	char  *s;
	size_t n;

	if (j == NULL)
		return est_fail(EST_ERR_NOMEM, "out of memory building JSON");
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		return est_fail(EST_ERR_NOMEM, "out of memory building JSON");
	n = strlen(s);
	free(resp->body);
	if ((resp->body = malloc(n + 2)) == NULL) {
		free(s);
		return est_fail(EST_ERR_NOMEM, "out of memory building JSON");
	}
	memcpy(resp->body, s, n);
	resp->body[n] = '\n';
	resp->body[n + 1] = '\0';
	resp->body_len = n + 1;
	free(s);
	resp->status = status;
	resp->content_type = "application/json";
	resp->transfer_enc = NULL;
	return EST_OK;
}

/* Returns the "error" word of the JSON error body for HTTP status. */
static const char *
error_word(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 413: return "too_large";
	case 415: return "unsupported_media_type";
	case 501: return "not_implemented";
	case 503: return "unavailable";
	default:  return status >= 500 ? "internal_error" : "error";
	}
}

/*
 * The JSON twin of resp_error(): turns resp into the error answer for e,
 * {"error": word, "reason": one line}, with the status of e, Retry-After
 * on 503 and WWW-Authenticate on 401; an Allow header set for 405 is
 * kept.  Falls back to resp_error() when out of memory.
 */
void
resp_json_error(struct est_resp *resp, enum est_err e)
{
	int     status = est_err_status(e);
	json_t *o;

	o = json_pack("{s:s, s:o}", "error", error_word(status), "reason",
	    json_text(est_reason(e)));
	if (resp_json(resp, status, o) != EST_OK) {
		resp_error(resp, e);
		return;
	}
	if (status == 503)
		resp->retry_after = EST_RETRY_AFTER_SECS;
	if (status == 401)
		resp->www_auth = 1;
}
