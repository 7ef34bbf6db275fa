/*
 * conf.c — the libconfig configuration file (est.conf).
 *
 * Keys (all documented in README):
 *   ca = { cert = "..."; key = "..."; chain = "..."; };
 *   validity_days, bootstrap_validity_days, device_id_pattern,
 *   store_dir, log, templates_dir, time_zone, admin_users, audit_log,
 *   revocation = { crl_dir; crl_url; ocsp_url; ocsp_cert; ocsp_key;
 *   crl_refresh; crl_batch; crl_next_update; ocsp_next_update;
 *   revoke_on_reenroll }.
 * Relative paths are taken relative to the directory of est.conf.
 * The top level is also the default CA label; `labels = { name = {...};
 * };` adds labels that inherit it (conf_label()).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>
#include <openssl/err.h>
#include <openssl/objects.h>

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
	    (rc = conf_int(cf, "revocation.crl_batch", EST_CRL_BATCH_DEF,
	        0, EST_REV_SECS_MAX, &r->crl_batch)) ||
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
	/* A batch longer than crl_refresh would outlast the CRL's own
	 * refresh period. */
	if (r->crl_batch > r->crl_refresh)
		return est_fail(EST_ERR_CONFIG, "config: revocation."
		    "crl_batch must not exceed crl_refresh");
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

/* ---- CA labels ---------------------------------------------------- */

/* Replaces *dst with a copy of src (a path made absolute against dir
 * when is_path and not empty).  Returns EST_OK or EST_ERR_NOMEM. */
static enum est_err
conf_set_str(char **dst, const char *src, int is_path, const char *dir)
{
	char *v = (is_path && *src != '\0') ? conf_abs(dir, src) : strdup(src);

	if (v == NULL)
		return est_fail(EST_ERR_CONFIG, "config: bad value '%s'", src);
	free(*dst);
	*dst = v;
	return EST_OK;
}

/* Frees the strings of l and empties it. */
static void
strs_free(struct est_strs *l)
{
	while (l->n > 0)
		free(l->v[--l->n]);
	free(l->v);
	l->v = NULL;
}

/*
 * Reads the optional string list `key` of setting s into *out,
 * replacing what it held (inherited from the default label); at most
 * max non-empty strings.  where names the label in reasons.  Returns
 * EST_OK, EST_ERR_CONFIG or EST_ERR_NOMEM (*out then holds the strings
 * read so far).
 */
static enum est_err
conf_strs_max(config_setting_t *s, const char *key, const char *where,
    int max, struct est_strs *out)
{
	config_setting_t *list = config_setting_lookup(s, key);
	const char       *v;
	int               i, n;

	if (list == NULL)
		return EST_OK;
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return est_fail(EST_ERR_CONFIG, "config: %s%s must be a list "
		    "of strings", where, key);
	if ((n = config_setting_length(list)) > max)
		return est_fail(EST_ERR_CONFIG, "config: %s%s has more than "
		    "%d entries", where, key, max);
	strs_free(out);
	if (n == 0)
		return EST_OK;
	if ((out->v = calloc((size_t)n, sizeof(char *))) == NULL)
		return EST_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((v = config_setting_get_string_elem(list, i)) == NULL ||
		    *v == '\0')
			return est_fail(EST_ERR_CONFIG, "config: %s%s[%d] is "
			    "not a string", where, key, i);
		if ((out->v[i] = strdup(v)) == NULL)
			return EST_ERR_NOMEM;
		out->n = (size_t)i + 1;
	}
	return EST_OK;
}

/* conf_strs_max() for policy lists: at most EST_MAX_POLICY_LIST. */
static enum est_err
conf_strs(config_setting_t *s, const char *key, const char *where,
    struct est_strs *out)
{
	return conf_strs_max(s, key, where, EST_MAX_POLICY_LIST, out);
}

/* Reads the optional string list `admin_users` into c (at most
 * EST_MAX_ADMINS names). */
static enum est_err
conf_admins(config_t *cf, struct est_conf *c)
{
	struct est_strs l = { NULL, 0 };
	enum est_err    rc;

	rc = conf_strs_max(config_root_setting(cf), "admin_users", "",
	    EST_MAX_ADMINS, &l);
	c->admin_users = l.v;
	c->n_admin_users = l.n;
	return rc;
}

/* Reads the optional list `key` of names from table into *bits (all
 * names or'ed; the list replaces the inherited value).  Returns EST_OK
 * or EST_ERR_CONFIG naming the unknown name. */
static enum est_err
conf_bits(config_setting_t *s, const char *key, const char *where,
    const struct est_name_bit *table, unsigned *bits)
{
	struct est_strs l = { NULL, 0 };
	enum est_err    rc;
	unsigned        b, acc = 0;
	size_t          i;

	if (config_setting_lookup(s, key) == NULL)
		return EST_OK;
	if ((rc = conf_strs(s, key, where, &l)) != EST_OK)
		goto out;
	for (i = 0; i < l.n; i++) {
		if (!name_bit(table, l.v[i], &b)) {
			rc = est_fail(EST_ERR_CONFIG, "config: %s%s: unknown "
			    "name '%s'", where, key, l.v[i]);
			goto out;
		}
		acc |= b;
	}
	*bits = acc;
out:
	strs_free(&l);
	return rc;
}

/* Reads an optional integer key of s within [lo, hi] into *out. */
static enum est_err
conf_set_int(config_setting_t *s, const char *key, const char *where,
    int lo, int hi, int *out)
{
	int v;

	if (!config_setting_lookup_int(s, key, &v))
		return config_setting_lookup(s, key) == NULL ? EST_OK :
		    est_fail(EST_ERR_CONFIG, "config: %s%s must be an "
		    "integer", where, key);
	if (v < lo || v > hi)
		return est_fail(EST_ERR_CONFIG, "config: %s%s must be "
		    "between %d and %d", where, key, lo, hi);
	*out = v;
	return EST_OK;
}

/* Reads an optional boolean key of s into *out (0 or 1). */
static enum est_err
conf_set_bool(config_setting_t *s, const char *key, const char *where,
    int *out)
{
	config_setting_t *b = config_setting_lookup(s, key);

	if (b == NULL)
		return EST_OK;
	if (config_setting_type(b) != CONFIG_TYPE_BOOL)
		return est_fail(EST_ERR_CONFIG, "config: %s%s must be true "
		    "or false", where, key);
	*out = config_setting_get_bool(b) ? 1 : 0;
	return EST_OK;
}

/* Reads the optional key type name `key` of s ("RSA-2048", "P-256",
 * "Ed25519"...) into *type (one EST_KEY_* bit) and *rsa_bits. */
static enum est_err
conf_keytype(config_setting_t *s, const char *key, const char *where,
    unsigned *type, int *rsa_bits)
{
	const char *v;
	int         bits;

	if (!config_setting_lookup_string(s, key, &v))
		return config_setting_lookup(s, key) == NULL ? EST_OK :
		    est_fail(EST_ERR_CONFIG, "config: %s%s must be a key "
		    "type name", where, key);
	if (strncmp(v, "RSA-", 4) == 0) {
		bits = atoi(v + 4);
		if (bits < EST_MIN_RSA_BITS || bits > EST_MAX_RSA_KEYGEN)
			return est_fail(EST_ERR_CONFIG, "config: %s%s: RSA "
			    "size %s outside %d..%d", where, key, v + 4,
			    EST_MIN_RSA_BITS, EST_MAX_RSA_KEYGEN);
		*type = EST_KEY_RSA;
		*rsa_bits = bits;
		return EST_OK;
	}
	if (!name_bit(est_keytype_names, v, type) || *type == EST_KEY_RSA)
		return est_fail(EST_ERR_CONFIG, "config: %s%s: unknown key "
		    "type '%s' (RSA-2048, RSA-3072, P-256, P-384, P-521, "
		    "Ed25519)", where, key, v);
	*rsa_bits = 0;
	return EST_OK;
}

/* Reads the ca group of s into l (own_ca set when present). */
static enum est_err
conf_label_ca(config_setting_t *s, const char *dir, const char *where,
    struct est_label *l)
{
	config_setting_t *ca = config_setting_lookup(s, "ca");
	const char       *cert, *key, *chain = "";
	enum est_err      rc;

	if (ca == NULL)
		return EST_OK;
	if (!config_setting_lookup_string(ca, "cert", &cert) ||
	    !config_setting_lookup_string(ca, "key", &key))
		return est_fail(EST_ERR_CONFIG, "config: %sca needs cert and "
		    "key", where);
	(void)config_setting_lookup_string(ca, "chain", &chain);
	if ((rc = conf_set_str(&l->ca_cert, cert, 1, dir)) ||
	    (rc = conf_set_str(&l->ca_key, key, 1, dir)) ||
	    (rc = conf_set_str(&l->ca_chain, chain, 1, dir)))
		return rc;
	l->own_ca = 1;
	return EST_OK;
}

/*
 * Applies the label settings found in setting s (the top level for the
 * default label, then a labels.NAME group) to l: what s does not set
 * keeps its value, so a label inherits the default's.  dir makes
 * relative paths absolute; where ("" or "labels.NAME.") prefixes
 * reasons.  Returns EST_OK, EST_ERR_CONFIG or EST_ERR_NOMEM.
 */
static enum est_err
conf_label(config_setting_t *s, const char *dir, const char *where,
    struct est_label *l)
{
	config_setting_t  *g;
	struct est_policy *p = &l->pol;
	enum est_err       rc;
	const char        *pat;
	char               w[EST_MAX_LABEL + 32];

	if ((rc = conf_label_ca(s, dir, where, l)) ||
	    (rc = conf_set_int(s, "validity_days", where, 1, EST_MAX_DAYS,
	        &l->validity_days)) ||
	    (rc = conf_set_int(s, "bootstrap_validity_days", where, 1,
	        EST_MAX_DAYS, &l->bootstrap_days)) ||
	    (rc = conf_bits(s, "key_usage", where, est_ku_names,
	        &l->key_usage)) ||
	    (rc = conf_strs(s, "extended_key_usage", where, &l->eku)) ||
	    (rc = conf_queue(s, where, &l->pol.queue)))
		return rc;
	if ((g = config_setting_lookup(s, "csrattrs")) != NULL) {
		snprintf(w, sizeof(w), "%scsrattrs.", where);
		if ((rc = conf_strs(g, "oids", w, &l->csrattr_oids)) ||
		    (rc = conf_strs(g, "extensions", w, &l->csrattr_exts)) ||
		    (rc = conf_keytype(g, "key", w, &l->csrattr_key,
		        &l->rsa_bits_announced)))
			return rc;
	}
	if ((g = config_setting_lookup(s, "serverkeygen")) != NULL) {
		snprintf(w, sizeof(w), "%sserverkeygen.", where);
		if ((rc = conf_set_bool(g, "enabled", w, &l->serverkeygen)) ||
		    (rc = conf_keytype(g, "key", w, &l->skg_key,
		        &l->skg_rsa_bits)))
			return rc;
	}
	if ((g = config_setting_lookup(s, "policy")) == NULL)
		return EST_OK;
	snprintf(w, sizeof(w), "%spolicy.", where);
	if ((rc = conf_bits(g, "key_types", w, est_keytype_names,
	        &p->key_types)) ||
	    (rc = conf_set_int(g, "rsa_min_bits", w, EST_MIN_RSA_BITS,
	        EST_MAX_RSA_BITS, &p->rsa_min_bits)) ||
	    (rc = conf_bits(g, "hashes", w, est_hash_names, &p->hashes)) ||
	    (rc = conf_strs(g, "subject_required", w, &p->subj_required)) ||
	    (rc = conf_strs(g, "subject_allowed", w, &p->subj_allowed)) ||
	    (rc = conf_strs(g, "allowed_o", w, &p->allowed_o)) ||
	    (rc = conf_strs(g, "allowed_ou", w, &p->allowed_ou)) ||
	    (rc = conf_bits(g, "san_types", w, est_san_names,
	        &p->san_types)) ||
	    (rc = conf_set_int(g, "max_validity_days", w, 1, EST_MAX_DAYS,
	        &p->max_days)) ||
	    (rc = conf_set_bool(g, "copy_san", w, &p->copy_san)) ||
	    (rc = conf_set_bool(g, "copy_extensions", w, &p->copy_exts)))
		return rc;
	if (config_setting_lookup_string(g, "san_pattern", &pat) &&
	    (rc = conf_set_str(&p->san_pattern, pat, 0, dir)) != EST_OK)
		return rc;
	return EST_OK;
}

/* Sets the built-in defaults of a label before any setting applies. */
static void
conf_label_defaults(struct est_label *l)
{
	memset(l, 0, sizeof(*l));
	l->validity_days = EST_DEFAULT_DAYS;
	l->bootstrap_days = EST_DEFAULT_BOOT_DAYS;
	l->pol.key_types = EST_KEYS_DEFAULT;
	l->pol.rsa_min_bits = EST_MIN_RSA_BITS;
	l->pol.hashes = EST_HASHES_DEFAULT;
	l->pol.san_types = EST_SAN_ALL;
	l->pol.max_days = EST_MAX_DAYS;
	l->pol.copy_san = 1;
	queue_policy_default(&l->pol.queue);
}

/* Returns whether every string of l is an OID OpenSSL knows by name or
 * a dotted OID. */
static int
oids_ok(const struct est_strs *l)
{
	ASN1_OBJECT *o;
	size_t       i;

	for (i = 0; i < l->n; i++) {
		if ((o = OBJ_txt2obj(l->v[i], 0)) == NULL) {
			ERR_clear_error();
			return 0;
		}
		ASN1_OBJECT_free(o);
	}
	return 1;
}

/*
 * Checks one label once all settings applied and compiles its pattern:
 * the key type csrattrs announces is the only one accepted (RFC 7030
 * 4.5.2: what is announced is enforced), serverkeygen's key must pass
 * the policy.  Returns EST_OK or EST_ERR_CONFIG.
 */
static enum est_err
conf_label_finish(struct est_label *l, const char *where)
{
	struct est_policy *p = &l->pol;

	if (l->csrattr_key != 0) {
		p->key_types &= l->csrattr_key;
		if (p->key_types == 0)
			return est_fail(EST_ERR_CONFIG, "config: %scsrattrs.key "
			    "is not among policy.key_types", where);
		if (l->csrattr_key == EST_KEY_RSA &&
		    p->rsa_min_bits < l->rsa_bits_announced)
			p->rsa_min_bits = l->rsa_bits_announced;
	}
	if (l->serverkeygen && l->skg_key == 0) {
		l->skg_key = EST_KEY_P256;
		if (l->csrattr_key != 0) {
			l->skg_key = l->csrattr_key;
			l->skg_rsa_bits = l->rsa_bits_announced;
		}
	}
	if (l->serverkeygen && ((p->key_types & l->skg_key) == 0 ||
	    (l->skg_key == EST_KEY_RSA && l->skg_rsa_bits < p->rsa_min_bits)))
		return est_fail(EST_ERR_CONFIG, "config: %sserverkeygen.key "
		    "is not accepted by the label's policy", where);
	if (!oids_ok(&l->eku) || !oids_ok(&l->csrattr_oids) ||
	    !oids_ok(&l->csrattr_exts))
		return est_fail(EST_ERR_CONFIG, "config: %sextended_key_usage "
		    "or csrattrs names an unknown OID", where);
	if (!oids_ok(&p->subj_required) || !oids_ok(&p->subj_allowed))
		return est_fail(EST_ERR_CONFIG, "config: %spolicy.subject_"
		    "required or subject_allowed names an unknown attribute",
		    where);
	if (p->san_pattern != NULL) {
		if (regcomp(&p->san_re, p->san_pattern,
		    REG_EXTENDED | REG_NOSUB) != 0)
			return est_fail(EST_ERR_CONFIG, "config: %s"
			    "policy.san_pattern is not a valid regular "
			    "expression", where);
		p->san_re_ok = 1;
	}
	return EST_OK;
}

/* Frees what a label holds (not the struct itself). */
static void
conf_label_free(struct est_label *l)
{
	struct est_policy *p = &l->pol;

	free(l->ca_cert);
	free(l->ca_key);
	free(l->ca_chain);
	strs_free(&l->eku);
	strs_free(&l->csrattr_oids);
	strs_free(&l->csrattr_exts);
	strs_free(&p->subj_required);
	strs_free(&p->subj_allowed);
	strs_free(&p->allowed_o);
	strs_free(&p->allowed_ou);
	free(p->san_pattern);
	if (p->san_re_ok)
		regfree(&p->san_re);
	memset(l, 0, sizeof(*l));
}

/*
 * Builds c->labels: [0] the default (the top level), then one per group
 * of `labels`, each the top level's settings overridden by its own.  A
 * label name is 1..EST_MAX_LABEL characters of EST_LABEL_CHARS (RFC
 * 7030 3.2.2: a path segment), never "." or "..", nor "default" or
 * "all" (CRL file names).
 */
static enum est_err
conf_labels(config_t *cf, const char *dir, struct est_conf *c)
{
	config_setting_t *root = config_root_setting(cf), *ls, *g;
	const char       *name;
	enum est_err      rc;
	char              where[EST_MAX_LABEL + 16];
	int               i, n = 0;

	if ((ls = config_lookup(cf, "labels")) != NULL) {
		if (!config_setting_is_group(ls))
			return est_fail(EST_ERR_CONFIG, "config: labels must be "
			    "a group: labels = { name = { ... }; };");
		n = config_setting_length(ls);
	}
	if (n > EST_MAX_LABELS)
		return est_fail(EST_ERR_CONFIG, "config: more than %d labels",
		    EST_MAX_LABELS);
	if ((c->labels = calloc((size_t)n + 1, sizeof(*c->labels))) == NULL)
		return EST_ERR_NOMEM;
	for (i = 0; i <= n; i++) {
		conf_label_defaults(&c->labels[i]);
		c->n_labels = (size_t)i + 1;
		if ((rc = conf_label(root, dir, "", &c->labels[i])) != EST_OK)
			return rc;
		c->labels[i].own_ca = i == 0;
		if (i == 0) {
			if ((rc = conf_label_finish(&c->labels[i], "")))
				return rc;
			continue;
		}
		g = config_setting_get_elem(ls, (unsigned)i - 1);
		name = config_setting_name(g);
		if (name == NULL || !config_setting_is_group(g))
			return est_fail(EST_ERR_CONFIG, "config: labels.%d is "
			    "not a group", i - 1);
		if (strlen(name) > EST_MAX_LABEL ||
		    strspn(name, EST_LABEL_CHARS) != strlen(name) ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return est_fail(EST_ERR_CONFIG, "config: label name "
			    "'%s' is not 1..%d of [A-Za-z0-9._-]", name,
			    EST_MAX_LABEL);
		/* crl_dir's files: default.crl (the default CA) and
		 * all.crl.pem (every CA) beside <label>.crl. */
		if (strcmp(name, "default") == 0 || strcmp(name, "all") == 0)
			return est_fail(EST_ERR_CONFIG, "config: label name "
			    "'%s' is reserved (the CRL files default.crl and "
			    "all.crl.pem)", name);
		snprintf(c->labels[i].name, sizeof(c->labels[i].name), "%s",
		    name);
		snprintf(where, sizeof(where), "labels.%s.", name);
		if ((rc = conf_label(g, dir, where, &c->labels[i])) ||
		    (rc = conf_label_finish(&c->labels[i], where)))
			return rc;
	}
	return EST_OK;
}

/* Returns the label named name[0..len) (len 0: the default), or NULL. */
const struct est_label *
conf_label_find(const struct est_conf *c, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		if (strlen(c->labels[i].name) == len &&
		    memcmp(c->labels[i].name, name, len) == 0)
			return &c->labels[i];
	return NULL;
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

	if ((rc = conf_admins(&cf, c)) != EST_OK ||
	    (rc = conf_labels(&cf, dir, c)) != EST_OK)
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
	while (c->n_labels > 0)
		conf_label_free(&c->labels[--c->n_labels]);
	free(c->labels);
	if (c->id_re_ok)
		regfree(&c->id_re);
	memset(c, 0, sizeof(*c));
}
