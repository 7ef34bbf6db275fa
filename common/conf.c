/*
 * conf.c — the libconfig configuration file (est.conf).
 *
 * Keys (all documented in README):
 *   ca = { cert = "..."; key = "..."; chain = "..."; };
 *   validity_days, bootstrap_validity_days, device_id_pattern,
 *   store_dir, log, templates_dir, time_zone, admin_users, audit_log,
 *   revocation = { crl_dir; crl_url; ocsp_url; ocsp_cert; ocsp_key;
 *   crl_refresh; crl_next_update; ocsp_next_update; revoke_on_reenroll }.
 * Relative paths are taken relative to the directory of est.conf.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "est.h"

#define CONF_PATH_MAX 4096 /* longest path built from the config */

/* Returns the configuration path: $EST_CONFIG or EST_DEFAULT_CONFIG. */
const char *
conf_path(void)
{
	const char *p = getenv("EST_CONFIG");

	return (p != NULL && *p != '\0') ? p : EST_DEFAULT_CONFIG;
}

/* Returns a malloc'd copy of value made absolute against dir (the config
 * file's directory) when it is relative; NULL on allocation failure. */
static char *
conf_abs(const char *dir, const char *value)
{
	char buf[CONF_PATH_MAX];
	int  n;

	if (value[0] == '/' || dir == NULL)
		return strdup(value);
	n = snprintf(buf, sizeof(buf), "%s/%s", dir, value);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return strdup(buf);
}

/* Reads string key `key` (path form "a.b") into *out (malloc'd).  A
 * missing key gives a copy of def, or EST_ERR_CONFIG when def is NULL.
 * When is_path, a relative value is made absolute against dir. */
static enum est_err
conf_str(config_t *cf, const char *key, const char *def, int is_path,
    const char *dir, char **out)
{
	const char *v = NULL;

	if (!config_lookup_string(cf, key, &v)) {
		if (def == NULL)
			return est_fail(EST_ERR_CONFIG,
			    "config: required key '%s' missing", key);
		v = def;
	}
	*out = (is_path && *v != '\0') ? conf_abs(dir, v) : strdup(v);
	if (*out == NULL)
		return est_fail(EST_ERR_CONFIG, "config: bad value for '%s'", key);
	return EST_OK;
}

/* Reads an integer key within [lo, hi] into *out (def when missing). */
static enum est_err
conf_int(config_t *cf, const char *key, int def, int lo, int hi, int *out)
{
	int v;

	if (!config_lookup_int(cf, key, &v))
		v = def;
	if (v < lo || v > hi)
		return est_fail(EST_ERR_CONFIG,
		    "config: '%s' must be between %d and %d", key, lo, hi);
	*out = v;
	return EST_OK;
}

/* Reads the optional string list `admin_users` into c (at most
 * EST_MAX_ADMINS names). */
static enum est_err
conf_admins(config_t *cf, struct est_conf *c)
{
	config_setting_t *list = config_lookup(cf, "admin_users");
	const char       *name;
	int               i, n;

	if (list == NULL)
		return EST_OK;
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return est_fail(EST_ERR_CONFIG,
		    "config: admin_users must be a list of names");
	n = config_setting_length(list);
	if (n > EST_MAX_ADMINS)
		return est_fail(EST_ERR_CONFIG, "config: more than %d "
		    "admin_users", EST_MAX_ADMINS);
	if (n == 0)
		return EST_OK;
	if ((c->admin_users = calloc((size_t)n, sizeof(char *))) == NULL)
		return EST_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((name = config_setting_get_string_elem(list, i)) == NULL ||
		    *name == '\0')
			return est_fail(EST_ERR_CONFIG,
			    "config: admin_users[%d] is not a name", i);
		if ((c->admin_users[i] = strdup(name)) == NULL)
			return EST_ERR_NOMEM;
		c->n_admin_users = (size_t)i + 1;
	}
	return EST_OK;
}

/*
 * Reads the optional `revocation = { ... }` group into a new *out
 * (defaults for what is missing; README "Revocation").  On EST_OK the
 * caller owns *out (conf_rev_free()).  Returns EST_ERR_CONFIG for a bad
 * value, EST_ERR_NOMEM.
 */
static enum est_err
conf_rev(config_t *cf, const char *dir, struct est_rev_conf **out)
{
	struct est_rev_conf *r;
	enum est_err         rc;
	int                  b;

	if ((*out = r = calloc(1, sizeof(*r))) == NULL)
		return EST_ERR_NOMEM;
	r->revoke_on_reenroll = 1;
	if (config_lookup_bool(cf, "revocation.revoke_on_reenroll", &b))
		r->revoke_on_reenroll = b != 0;
	if ((rc = conf_str(cf, "revocation.crl_dir", "", 1, dir,
	        &r->crl_dir)) ||
	    (rc = conf_str(cf, "revocation.crl_url", "", 0, dir,
	        &r->crl_url)) ||
	    (rc = conf_str(cf, "revocation.ocsp_url", "", 0, dir,
	        &r->ocsp_url)) ||
	    (rc = conf_str(cf, "revocation.ocsp_cert", "", 1, dir,
	        &r->ocsp_cert)) ||
	    (rc = conf_str(cf, "revocation.ocsp_key", "", 1, dir,
	        &r->ocsp_key)) ||
	    (rc = conf_int(cf, "revocation.crl_refresh", EST_CRL_REFRESH_DEF,
	        1, EST_REV_SECS_MAX, &r->crl_refresh)) ||
	    (rc = conf_int(cf, "revocation.crl_next_update",
	        EST_CRL_VALIDITY_DEF, 1, EST_REV_SECS_MAX,
	        &r->crl_next_update)) ||
	    (rc = conf_int(cf, "revocation.ocsp_next_update",
	        EST_OCSP_VALIDITY_DEF, 1, EST_REV_SECS_MAX,
	        &r->ocsp_next_update)))
		return rc;
	if (strlen(r->crl_url) > EST_MAX_URL || strlen(r->ocsp_url) >
	    EST_MAX_URL)
		return est_fail(EST_ERR_CONFIG, "config: revocation URLs are "
		    "limited to %d bytes", EST_MAX_URL);
	/* A nextUpdate before the next scheduled rebuild would leave
	 * relying parties with an expired CRL (RFC 5280 5.1.2.5). */
	if (r->crl_next_update <= r->crl_refresh)
		return est_fail(EST_ERR_CONFIG, "config: revocation."
		    "crl_next_update must be longer than crl_refresh");
	if ((*r->ocsp_cert == '\0') != (*r->ocsp_key == '\0'))
		return est_fail(EST_ERR_CONFIG, "config: revocation.ocsp_cert "
		    "and ocsp_key go together");
	return EST_OK;
}

/* Frees what conf_rev() allocated; safe on NULL. */
void
conf_rev_free(struct est_rev_conf *r)
{
	if (r == NULL)
		return;
	free(r->crl_dir);
	free(r->crl_url);
	free(r->ocsp_url);
	free(r->ocsp_cert);
	free(r->ocsp_key);
	free(r);
}

/*
 * Loads the configuration file at path into c (zeroed first).  On
 * success the caller owns c and frees it with conf_free(); on failure c
 * is already freed and the reason is recorded with est_fail().
 */
enum est_err
conf_load(const char *path, struct est_conf *c)
{
	config_t     cf;
	char        *pathcopy = NULL, *dir;
	enum est_err rc;
	int          rerr;

	memset(c, 0, sizeof(*c));
	config_init(&cf);
	if (!config_read_file(&cf, path)) {
		rc = est_fail(EST_ERR_CONFIG, "config %s:%d: %s", path,
		    config_error_line(&cf),
		    config_error_text(&cf) ? config_error_text(&cf)
		                           : strerror(errno));
		goto out;
	}
	if ((pathcopy = strdup(path)) == NULL) {
		rc = EST_ERR_NOMEM;
		goto out;
	}
	dir = dirname(pathcopy);

	if ((rc = conf_str(&cf, "ca.cert", NULL, 1, dir, &c->ca_cert)) ||
	    (rc = conf_str(&cf, "ca.key", NULL, 1, dir, &c->ca_key)) ||
	    (rc = conf_str(&cf, "ca.chain", "", 1, dir, &c->ca_chain)) ||
	    (rc = conf_str(&cf, "store_dir", NULL, 1, dir, &c->store_dir)) ||
	    (rc = conf_str(&cf, "device_id_pattern", EST_DEFAULT_ID_PATTERN,
	        0, dir, &c->id_pattern)) ||
	    (rc = conf_str(&cf, "log", "stderr", 0, dir, &c->log_dest)) ||
	    (rc = conf_str(&cf, "templates_dir", EST_DEFAULT_TEMPLATES, 1, dir,
	        &c->templates_dir)) ||
	    (rc = conf_str(&cf, "time_zone", "UTC", 0, dir, &c->time_zone)) ||
	    (rc = conf_str(&cf, "audit_log", "", 0, dir, &c->audit_log)) ||
	    (rc = conf_int(&cf, "validity_days", EST_DEFAULT_DAYS, 1,
	        EST_MAX_DAYS, &c->validity_days)) ||
	    (rc = conf_int(&cf, "bootstrap_validity_days",
	        EST_DEFAULT_BOOT_DAYS, 1, EST_MAX_DAYS, &c->bootstrap_days)))
		goto out;

	if ((rc = conf_admins(&cf, c)) != EST_OK)
		goto out;
	if ((rc = conf_rev(&cf, dir, &c->rev)) != EST_OK)
		goto out;
	/* audit_log is a path unless "syslog" or "" (off). */
	if (c->audit_log[0] != '\0' && strcmp(c->audit_log, "syslog") != 0 &&
	    c->audit_log[0] != '/') {
		char *abs = conf_abs(dir, c->audit_log);

		if (abs == NULL) {
			rc = est_fail(EST_ERR_CONFIG,
			    "config: bad value for 'audit_log'");
			goto out;
		}
		free(c->audit_log);
		c->audit_log = abs;
	}
	if ((rerr = regcomp(&c->id_re, c->id_pattern,
	    REG_EXTENDED | REG_NOSUB)) != 0) {
		rc = est_fail(EST_ERR_CONFIG,
		    "config: device_id_pattern is not a valid regular expression");
		goto out;
	}
	c->id_re_ok = 1;
	rc = EST_OK;
out:
	config_destroy(&cf);
	free(pathcopy);
	if (rc != EST_OK)
		conf_free(c);
	return rc;
}

/* Frees everything conf_load() allocated; safe on a zeroed struct. */
void
conf_free(struct est_conf *c)
{
	free(c->ca_cert);
	free(c->ca_key);
	free(c->ca_chain);
	free(c->id_pattern);
	free(c->store_dir);
	free(c->log_dest);
	free(c->templates_dir);
	free(c->time_zone);
	free(c->audit_log);
	conf_rev_free(c->rev);
	while (c->n_admin_users > 0)
		free(c->admin_users[--c->n_admin_users]);
	free(c->admin_users);
	if (c->id_re_ok)
		regfree(&c->id_re);
	memset(c, 0, sizeof(*c));
}
