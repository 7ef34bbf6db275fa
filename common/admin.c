/*
 * admin.c — who may use the device API and the dashboard, and the
 * cross-site protection of their state-changing requests.
 *
 * The web server asks for the password (apache-conf/estcgi-admin.conf);
 * the program checks REMOTE_USER against the config's admin_users too,
 * so a web-server mistake alone does not open the registry.
 */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "est.h"

/*
 * Returns EST_OK when REMOTE_USER is one of conf->admin_users;
 * EST_ERR_UNAUTHENTICATED (401) without a user, EST_ERR_FORBIDDEN (403)
 * for a user who is not an administrator.
 */
enum est_err
admin_check(const struct est_conf *conf, const struct est_req *req)
{
	size_t i;

	if (req->remote_user == NULL)
		return est_fail(EST_ERR_UNAUTHENTICATED,
		    "administrator login required");
	for (i = 0; i < conf->n_admin_users; i++)
		if (strcmp(conf->admin_users[i], req->remote_user) == 0)
			return EST_OK;
	return est_fail(EST_ERR_FORBIDDEN, "user is not an administrator");
}

/*
 * Cross-site request forgery check for requests that change state:
 * they must carry the header X-EST-Admin: 1 (a cross-site form cannot
 * set a custom header, and no CORS preflight is ever answered), and
 * when the browser sends Origin it must be this server's own origin
 * (https://Host).  Returns EST_OK or EST_ERR_FORBIDDEN with the reason.
 */
enum est_err
admin_csrf_check(const struct est_req *req)
{
	const char *o = req->origin;
	size_t      hl = strlen(req->host);

	if (req->admin_marker == NULL || strcmp(req->admin_marker, "1") != 0)
		return est_fail(EST_ERR_FORBIDDEN, "state-changing requests "
		    "need the header X-EST-Admin: 1 (cross-site protection)");
	if (o != NULL && !(strncmp(o, "https://", 8) == 0 &&
	    strncmp(o + 8, req->host, hl) == 0 && o[8 + hl] == '\0' && hl > 0))
		return est_fail(EST_ERR_FORBIDDEN, "cross-site request refused "
		    "(Origin is not this server)");
	return EST_OK;
}

/* Starts the event of an administrator's action (delete, revoke,
 * approve, reject): zeroed, with the user, client IP and User-Agent of
 * req; the store fills in the rest. */
void
admin_event(struct est_event *ev, const struct est_req *req)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->user, sizeof(ev->user), "%s", req->remote_user);
	snprintf(ev->ip, sizeof(ev->ip), "%s", req->remote_addr);
	snprintf(ev->ua, sizeof(ev->ua), "%s", req->user_agent);
}

/*
 * Decodes the raw path segment s (n bytes) of an API or dashboard URL
 * into a device ID: %XX escapes once (RFC 3986 2.1; '+' is a plain '+'
 * in a path), then the ID must be 1..EST_MAX_DEVICE_ID bytes, not "."
 * or "..", and match device_id_pattern.  Returns EST_OK or
 * EST_ERR_BAD_REQUEST with the reason.
 */
enum est_err
path_device_id(const struct est_conf *conf, const char *s, size_t n,
    char id[EST_MAX_DEVICE_ID + 1])
{
	enum est_err rc;

	if ((rc = path_decode(s, n, id, EST_MAX_DEVICE_ID + 1)) != EST_OK)
		return est_fail(EST_ERR_BAD_REQUEST, "bad device ID in the "
		    "URL: %s", est_reason(rc));
	if (id[0] == '\0' || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return est_fail(EST_ERR_BAD_REQUEST, "not a device ID");
	if (regexec(&conf->id_re, id, 0, NULL, 0) != 0)
		return est_fail(EST_ERR_BAD_REQUEST,
		    "device ID does not match device_id_pattern");
	return EST_OK;
}
