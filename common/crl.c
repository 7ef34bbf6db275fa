/*
 * crl.c — revocation as relying parties see it: CRLs (RFC 5280 5) built
 * from the store's revoked index and published atomically, the CRL
 * Distribution Points and Authority Information Access extensions of
 * issued certificates, and the RFC 5280 5.3.1 reason names.
 *
 * Publishing (crl_publish_all()): each CA (the default one, named
 * "default", and each label's own) has files in crl_dir:
 *   <name>.crl      DER, what the web server serves at /crl/<name>.crl
 *   <name>.crl.pem  the same CRL in PEM
 *   .<name>.state   "number generation thisUpdate" of the last CRL
 * and all.crl.pem holds every CA's PEM CRL, for the web server's own
 * client-certificate checks (SSLCARevocationFile).
 * A CRL is rebuilt when the store's revocation generation is newer than
 * the one the last CRL was built at, or when it is older than
 * crl_refresh.  Checking costs a counter read and a small file read;
 * rebuilding holds an flock() on crl_dir/.lock, and whoever gets the
 * lock after waiting checks again against the generation it read
 * before waiting, so a burst of revocations coalesces into a few
 * rebuilds instead of a stampede.  Every file is written to a
 * temporary name, flushed and renamed, so the web server never serves
 * a partial CRL.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "est.h"

#define CRL_PATH_MAX     4096  /* longest file path built here */
#define CRL_STATE_MAX    128   /* largest state file */
#define CRL_FILE_MODE    0644  /* published CRLs: anyone may read */
#define CRL_LOCK_MODE    0600  /* the rebuild lock */
#define CRL_LOCK_NAME    ".lock"
#define CRL_LOCK_BUSY    (-2)  /* crl_lock(): held elsewhere, not waited */
#define CRL_BUSY_RETRY   1     /* s before a process that found another
                                * one rebuilding looks again */
#define CRL_STATE_MAGIC  "estcgi-crl-state-1"

const char *const est_reason_names[EST_REASON__MAX] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise"
};

/* The process's revocation settings (rev_set_urls()); NULL: none. */
static const struct est_rev_conf *rev_urls;

/* What the last CRL of a label was built from. */
struct crl_state {
	uint64_t number;     /* its cRLNumber */
	uint64_t gen;        /* the store's revocation generation then */
	int64_t  this_update;
};

/*
 * Parses a revocation reason an administrator gives: an RFC 5280 5.3.1
 * name (any case) or its number.  certificateHold (this server has no
 * release from hold), removeFromCRL (delta CRLs only) and the unused 7
 * are refused.  Returns 0 and sets *reason, or -1.
 */
int
reason_parse(const char *s, int *reason)
{
	char *end;
	long  v;
	int   i;

	*reason = -1;
	if (s == NULL || *s == '\0')
		return -1;
	for (i = 0; i < EST_REASON__MAX; i++)
		if (est_reason_names[i] != NULL &&
		    strcasecmp(s, est_reason_names[i]) == 0)
			break;
	if (i == EST_REASON__MAX) {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno != 0 || *end != '\0' || v < 0 ||
		    v >= EST_REASON__MAX)
			return -1;
		i = (int)v;
	}
	if (est_reason_names[i] == NULL || i == EST_REASON_CERTIFICATE_HOLD ||
	    i == EST_REASON_REMOVE_FROM_CRL)
		return -1;
	*reason = i;
	return 0;
}

/* Returns the CRL file name of CA label: the label, or "default". */
const char *
crl_name(const char *label)
{
	return label != NULL && *label != '\0' ? label : EST_CRL_DEFAULT_NAME;
}

/* Sets the revocation settings rev_add_exts() uses in this process
 * (borrowed: they must outlive the process's issuing). */
void
rev_set_urls(const struct est_rev_conf *r)
{
	rev_urls = r;
}

/* Returns a new GENERAL_NAME of type URI holding url, or NULL. */
static GENERAL_NAME *
uri_name(const char *url)
{
	GENERAL_NAME      *gn = NULL;
	ASN1_IA5STRING    *s = NULL;

	if ((gn = GENERAL_NAME_new()) == NULL ||
	    (s = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(s, url, (int)strlen(url))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

/* Adds a CRL Distribution Points extension (RFC 5280 4.2.1.13) with one
 * full-name URI to x.  Returns 1 on success. */
static int
add_cdp(X509 *x, const char *url)
{
	CRL_DIST_POINTS *cdp = NULL;
	DIST_POINT      *dp = NULL;
	GENERAL_NAME    *gn = NULL;
	int              ok = 0;

	if ((cdp = sk_DIST_POINT_new_null()) == NULL ||
	    (dp = DIST_POINT_new()) == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
	    (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL ||
	    (gn = uri_name(url)) == NULL)
		goto out;
	dp->distpoint->type = 0;    /* fullName */
	if (!sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn))
		goto out;
	gn = NULL;
	if (!sk_DIST_POINT_push(cdp, dp))
		goto out;
	dp = NULL;
	ok = X509_add1_ext_i2d(x, NID_crl_distribution_points, cdp, 0,
	    X509V3_ADD_REPLACE) == 1;
out:
	GENERAL_NAME_free(gn);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	return ok;
}

/* Adds an Authority Information Access extension (RFC 5280 4.2.2.1)
 * naming the OCSP responder url to x.  Returns 1 on success. */
static int
add_aia(X509 *x, const char *url)
{
	AUTHORITY_INFO_ACCESS *aia = NULL;
	ACCESS_DESCRIPTION    *ad = NULL;
	int                    ok = 0;

	if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL ||
	    (ad = ACCESS_DESCRIPTION_new()) == NULL)
		goto out;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(NID_ad_OCSP);
	GENERAL_NAME_free(ad->location);
	if ((ad->location = uri_name(url)) == NULL ||
	    !sk_ACCESS_DESCRIPTION_push(aia, ad))
		goto out;
	ad = NULL;
	ok = X509_add1_ext_i2d(x, NID_info_access, aia, 0,
	    X509V3_ADD_REPLACE) == 1;
out:
	ACCESS_DESCRIPTION_free(ad);
	sk_ACCESS_DESCRIPTION_pop_free(aia, ACCESS_DESCRIPTION_free);
	return ok;
}

/*
 * Adds to certificate x (being issued for label l, NULL: the default) where
 * revocation is published, as configured: CRL Distribution Points
 * <crl_url>/<name>.crl and the Authority Information Access OCSP URL.
 * Nothing when not configured.  Returns 1 on success, 0 on failure.
 */
int
rev_add_exts(X509 *x, const struct est_label *l)
{
	/* A label sharing the default CA shares its CRL. */
	const char *label = l != NULL && l->own_ca ? l->name : "";
	char url[EST_MAX_URL + EST_MAX_LABEL + sizeof("/.crl")];
	int  n;

	if (rev_urls == NULL)
		return 1;
	if (rev_urls->crl_url[0] != '\0') {
		n = snprintf(url, sizeof(url), "%s/%s.crl", rev_urls->crl_url,
		    crl_name(label));
		if (n < 0 || (size_t)n >= sizeof(url) || !add_cdp(x, url))
			return 0;
	}
	if (rev_urls->ocsp_url[0] != '\0' && !add_aia(x, rev_urls->ocsp_url))
		return 0;
	return 1;
}

/* Adds the authorityKeyIdentifier (RFC 5280 5.2.1: MUST) of issuer to
 * crl through OpenSSL's own extension builder: its subjectKeyIdentifier
 * (4.2.1.2: a conforming CA certificate has one), else its issuer name
 * and serial number.  Returns 1 on success. */
static int
crl_add_akid(X509_CRL *crl, X509 *issuer)
{
	X509V3_CTX      v3;
	X509_EXTENSION *ext;
	int             ok;

	X509V3_set_ctx(&v3, issuer, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
	    "keyid:always")) == NULL) {
		ERR_clear_error();
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3,
		    NID_authority_key_identifier, "issuer:always")) == NULL)
			return 0;
	}
	ok = X509_CRL_add_ext(crl, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* Adds one revoked certificate entry r to crl: serial, revocation date
 * and (RFC 5280 5.3.1: absent rather than unspecified) the reason.
 * Returns 1 on success. */
static int
crl_add_entry(X509_CRL *crl, const struct est_revoked *r)
{
	X509_REVOKED    *rev = NULL;
	ASN1_INTEGER    *sn = NULL;
	ASN1_TIME       *t = NULL;
	ASN1_ENUMERATED *e = NULL;
	BIGNUM          *bn = NULL;
	int              ok = 0;

	if ((rev = X509_REVOKED_new()) == NULL ||
	    (bn = BN_bin2bn(r->serial, (int)r->serial_len, NULL)) == NULL ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (t = ASN1_TIME_set(NULL, (time_t)r->revoked_at)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, sn) ||
	    !X509_REVOKED_set_revocationDate(rev, t))
		goto out;
	if (r->reason != EST_REASON_UNSPECIFIED) {
		if ((e = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(e, r->reason) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, e, 0, 0))
			goto out;
	}
	if (!X509_CRL_add0_revoked(crl, rev))
		goto out;
	rev = NULL;
	ok = 1;
out:
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(e);
	BN_free(bn);
	return ok;
}

/*
 * Builds and signs a v2 CRL (RFC 5280 5.1) of ca listing the n entries
 * of list, with cRLNumber number, thisUpdate now and nextUpdate now +
 * next secs.  On EST_OK *out is a new X509_CRL the caller frees.
 * Returns EST_ERR_INTERNAL or EST_ERR_NOMEM otherwise.
 */
static enum est_err
crl_build(const struct est_ca *ca, const struct est_revoked *list, size_t n,
    uint64_t number, int64_t now, int next, X509_CRL **out)
{
	X509_CRL     *crl = NULL;
	ASN1_TIME    *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = NULL;
	enum est_err  rc = EST_ERR_INTERNAL;
	size_t        i;

	*out = NULL;
	if ((crl = X509_CRL_new()) == NULL ||
	    (tu = ASN1_TIME_set(NULL, (time_t)now)) == NULL ||
	    (nu = ASN1_TIME_set(NULL, (time_t)(now + next))) == NULL ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_uint64(num, number))
		goto ssl;
	/* RFC 5280 5.1.2.1: v2 (1) since extensions are present. */
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    !X509_CRL_set1_lastUpdate(crl, tu) ||
	    !X509_CRL_set1_nextUpdate(crl, nu))
		goto ssl;
	for (i = 0; i < n; i++)
		if (!crl_add_entry(crl, &list[i]))
			goto ssl;
	/* RFC 5280 5.2.3: cRLNumber, monotonically increasing. */
	if (!crl_add_akid(crl, ca->cert) ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1 ||
	    !X509_CRL_sort(crl))
		goto ssl;
	if (X509_CRL_sign(crl, ca->key, ca_digest(ca->key)) <= 0)
		goto ssl;
	*out = crl;
	crl = NULL;
	rc = EST_OK;
	goto out;
ssl:
	est_log_ssl("crl_build");
	est_fail(rc, "cannot build the CRL");
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_INTEGER_free(num);
	return rc;
}

/* Builds dir/prefix+name+suffix into buf (CRL_PATH_MAX bytes).
 * Returns 0, or -1 if it does not fit. */
static int
crl_path(char *buf, const char *dir, const char *prefix, const char *name,
    const char *suffix)
{
	int n = snprintf(buf, CRL_PATH_MAX, "%s/%s%s%s", dir, prefix, name,
	    suffix);

	return n < 0 || n >= CRL_PATH_MAX ? -1 : 0;
}

/*
 * Writes len bytes of data to path atomically: a temporary file in the
 * same folder, written, flushed to disk, given mode CRL_FILE_MODE, then
 * renamed over path, so readers see the old file or the new one, never
 * a part.  Returns EST_OK or EST_ERR_INTERNAL (the temporary removed).
 */
static enum est_err
write_atomic(const char *path, const void *data, size_t len)
{
	char        tmp[CRL_PATH_MAX];
	const char *p = data;
	ssize_t     w;
	int         fd = -1, n;

	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return est_fail(EST_ERR_INTERNAL, "CRL path too long");
	if ((fd = mkstemp(tmp)) == -1)
		return est_fail(EST_ERR_INTERNAL, "cannot create %s: %s", tmp,
		    strerror(errno));
	while (len > 0) {
		if ((w = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, CRL_FILE_MODE) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	return EST_OK;
fail:
	est_fail(EST_ERR_INTERNAL, "cannot write %s: %s", path,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return EST_ERR_INTERNAL;
}

/* Reads the state file path into st (zeroed when absent or bad). */
static void
state_read(const char *path, struct crl_state *st)
{
	char    buf[CRL_STATE_MAX], magic[sizeof(CRL_STATE_MAGIC) + 1];
	FILE   *fp;
	size_t  n;

	memset(st, 0, sizeof(*st));
	if ((fp = fopen(path, "r")) == NULL)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if (sscanf(buf, "%19s %" SCNu64 " %" SCNu64 " %" SCNd64, magic,
	    &st->number, &st->gen, &st->this_update) != 4 ||
	    strcmp(magic, CRL_STATE_MAGIC) != 0)
		memset(st, 0, sizeof(*st));
}

/* Returns 1 when the CRL described by st needs no rebuild at now:
 * built at generation gen or later and not older than refresh seconds,
 * or (revocations that may wait) younger than batch seconds. */
static int
state_fresh(const struct crl_state *st, uint64_t gen, int64_t now,
    int refresh, int batch)
{
	int64_t age = now - st->this_update;

	if (st->this_update <= 0 || now < st->this_update)
		return 0;
	return (st->gen >= gen && age < refresh) || age < batch;
}

/* When the CRL described by st was left as it is although revocations
 * (generation gen) came after it, only because it is younger than
 * batch seconds: lowers *due (0: none) to when they are due. */
static void
crl_defer(const struct crl_state *st, uint64_t gen, int batch, int64_t *due)
{
	int64_t when = st->this_update + batch;

	if (st->gen < gen && (*due == 0 || when < *due))
		*due = when;
}

/* Encodes crl as DER (*der) and PEM (*pem), both malloc'd for the
 * caller.  Returns EST_OK or EST_ERR_NOMEM / EST_ERR_INTERNAL. */
static enum est_err
crl_encode(X509_CRL *crl, unsigned char **der, size_t *derlen, char **pem,
    size_t *pemlen)
{
	BIO           *bio = NULL;
	unsigned char *p;
	char          *mem;
	long           mlen;
	int            len;
	enum est_err   rc = EST_ERR_INTERNAL;

	*der = NULL;
	*pem = NULL;
	if ((len = i2d_X509_CRL(crl, NULL)) <= 0)
		goto ssl;
	if ((*der = malloc((size_t)len)) == NULL)
		return est_fail(EST_ERR_NOMEM, "out of memory for the CRL");
	p = *der;
	if (i2d_X509_CRL(crl, &p) != len || p != *der + len)
		goto ssl;
	*derlen = (size_t)len;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_CRL(bio, crl) ||
	    (mlen = BIO_get_mem_data(bio, &mem)) <= 0)
		goto ssl;
	if ((*pem = malloc((size_t)mlen)) == NULL) {
		rc = est_fail(EST_ERR_NOMEM, "out of memory for the CRL");
		goto out;
	}
	memcpy(*pem, mem, (size_t)mlen);
	*pemlen = (size_t)mlen;
	rc = EST_OK;
	goto out;
ssl:
	est_log_ssl("crl_encode");
	est_fail(rc, "cannot encode the CRL");
out:
	BIO_free(bio);
	if (rc != EST_OK) {
		free(*der);
		free(*pem);
		*der = NULL;
		*pem = NULL;
	}
	return rc;
}

/*
 * The labels whose certificates one CRL lists (RFC 5280: a CRL covers
 * every certificate of its issuer): a label with a CA of its own alone,
 * named after it; the default CA's CRL ("default") every label sharing
 * that CA.
 */
struct crl_group {
	const char *name;                       /* file name */
	const char *labels[EST_MAX_LABELS + 1];
	size_t      n;
};

/* Fills g with the labels of the CRL of ctx's label i (0: the default
 * CA; a label of its own CA otherwise). */
static void
crl_group(const struct est_conf *conf, size_t i, struct crl_group *g)
{
	size_t j;

	memset(g, 0, sizeof(*g));
	if (i > 0) {
		g->name = crl_name(conf->labels[i].name);
		g->labels[g->n++] = conf->labels[i].name;
		return;
	}
	g->name = crl_name("");
	g->labels[g->n++] = "";
	for (j = 1; j < conf->n_labels && g->n < EST_MAX_LABELS + 1; j++)
		if (!conf->labels[j].own_ca)
			g->labels[g->n++] = conf->labels[j].name;
}

/* Reads the revoked entries of every label of g into *out (*n). */
static enum est_err
group_list(struct est_store *st, const struct crl_group *g,
    struct est_revoked **out, size_t *n)
{
	struct est_revoked *all = NULL, *one, *p;
	enum est_err        rc;
	size_t              k, m;

	*out = NULL;
	*n = 0;
	for (k = 0; k < g->n; k++) {
		if ((rc = store_revoked_list(st, g->labels[k], &one, &m)))
			goto fail;
		if (m > 0 && (p = realloc(all, (*n + m) * sizeof(*p))) ==
		    NULL) {
			free(one);
			rc = est_fail(EST_ERR_NOMEM, "out of memory for the CRL");
			goto fail;
		}
		if (m > 0) {
			all = p;
			memcpy(all + *n, one, m * sizeof(*one));
			*n += m;
		}
		free(one);
	}
	*out = all;
	return EST_OK;
fail:
	free(all);
	*n = 0;
	return rc;
}

/*
 * Returns the cRLNumber of the CRL published as crl_dir/<name>.crl, or 0
 * when there is none (or it cannot be read): a floor for the next
 * number should the state file be lost or stale (a crash between
 * publishing the CRL and writing the state).
 */
static uint64_t
crl_published_number(const char *dir, const char *name)
{
	X509_CRL     *crl = NULL;
	ASN1_INTEGER *num = NULL;
	BIO          *bio = NULL;
	char          path[CRL_PATH_MAX];
	uint64_t      v = 0;

	if (crl_path(path, dir, "", name, ".crl") == -1 ||
	    (bio = BIO_new_file(path, "rb")) == NULL ||
	    (crl = d2i_X509_CRL_bio(bio, NULL)) == NULL ||
	    (num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL,
	    NULL)) == NULL || !ASN1_INTEGER_get_uint64(&v, num))
		v = 0;
	ERR_clear_error();
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	BIO_free(bio);
	return v;
}

/*
 * Builds the CRL of group g (CA ca) from the store at generation gen and
 * writes its files (DER, PEM, state) atomically; the caller holds the
 * lock.  prev is the previous state (its number is exceeded).  Returns
 * EST_OK or an error.
 */
static enum est_err
crl_write(const struct est_conf *conf, const struct est_ca *ca,
    const struct crl_group *g, struct est_store *st, uint64_t gen,
    const struct crl_state *prev)
{
	const char         *dir = conf->rev->crl_dir, *name = g->name;
	struct est_revoked *list = NULL;
	X509_CRL           *crl = NULL;
	unsigned char      *der = NULL;
	char               *pem = NULL;
	char                path[CRL_PATH_MAX], state[CRL_STATE_MAX];
	size_t              n = 0, derlen = 0, pemlen = 0, i, j;
	uint64_t            number, published;
	int64_t             now = (int64_t)time(NULL);
	enum est_err        rc;
	int                 len;

	if ((rc = group_list(st, g, &list, &n)) != EST_OK)
		goto out;
	/* RFC 5280 5.1.2.6 (revokedCertificates): an entry may go once it
	 * appeared on a CRL issued after the certificate expired. */
	for (i = j = 0; i < n; i++)
		if (list[i].not_after <= 0 || list[i].not_after +
		    conf->rev->crl_next_update > now)
			list[j++] = list[i];
	n = j;
	/* RFC 5280 5.2.3: increasing, past the state's number and the
	 * published CRL's (the state may be lost or behind it); the clock
	 * keeps it so even if both are lost. */
	number = prev->number;
	if ((published = crl_published_number(dir, name)) > number)
		number = published;
	number++;
	if (now > 0 && (uint64_t)now > number)
		number = (uint64_t)now;
	if ((rc = crl_build(ca, list, n, number, now,
	    conf->rev->crl_next_update, &crl)) != EST_OK ||
	    (rc = crl_encode(crl, &der, &derlen, &pem, &pemlen)) != EST_OK)
		goto out;
	rc = EST_ERR_INTERNAL;
	if (crl_path(path, dir, "", name, ".crl") == -1 ||
	    (rc = write_atomic(path, der, derlen)) != EST_OK)
		goto out;
	if (crl_path(path, dir, "", name, ".crl.pem") == -1 ||
	    (rc = write_atomic(path, pem, pemlen)) != EST_OK)
		goto out;
	len = snprintf(state, sizeof(state), "%s %" PRIu64 " %" PRIu64 " %"
	    PRId64 "\n", CRL_STATE_MAGIC, number, gen, now);
	if (len < 0 || (size_t)len >= sizeof(state) ||
	    crl_path(path, dir, ".", name, ".state") == -1 ||
	    (rc = write_atomic(path, state, (size_t)len)) != EST_OK)
		goto out;
	est_log(EST_LOG_INFO, "CRL %s published: number %" PRIu64 ", %zu "
	    "revoked", name, number, n);
	rc = EST_OK;
out:
	X509_CRL_free(crl);
	free(list);
	free(der);
	free(pem);
	return rc;
}

/* Opens and locks (flock, exclusive) crl_dir/.lock, waiting for it
 * when wait, else not.  Returns the descriptor (close() releases it),
 * CRL_LOCK_BUSY when another process holds it and !wait, or -1 with the
 * reason set. */
static int
crl_lock(const char *dir, int wait)
{
	char path[CRL_PATH_MAX];
	int  fd;

	if (crl_path(path, dir, "", CRL_LOCK_NAME, "") == -1) {
		est_fail(EST_ERR_CONFIG, "crl_dir path too long");
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
	    CRL_LOCK_MODE)) == -1) {
		est_fail(EST_ERR_CONFIG, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1)
		if (!wait && errno == EWOULDBLOCK) {
			close(fd);
			return CRL_LOCK_BUSY;
		} else if (errno != EINTR) {
			est_fail(EST_ERR_INTERNAL, "cannot lock %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
	return fd;
}

/*
 * Publishes the CRL of group g (CA ca) into conf->rev->crl_dir when the
 * revoked set changed since the last one, when that one is older than
 * crl_refresh, or always with force; with batch, not while the last
 * one is younger than batch seconds (*due then says when the waiting
 * revocations are due, the earliest of the groups').  Without wait,
 * finding another process rebuilding is not waited for: *due then says
 * to look again in CRL_BUSY_RETRY s.  *wrote says whether it wrote.
 * Safe to call from every worker at once: one rebuilds while the others
 * wait for it and then find the CRL current (or, without wait, go on).
 * Returns EST_OK or an error (the previous CRL stays).
 */
static enum est_err
crl_publish(const struct est_conf *conf, const struct est_ca *ca,
    const struct crl_group *g, struct est_store *st, int force, int batch,
    int wait, int *wrote, int64_t *due)
{
	struct crl_state prev;
	const char      *dir = conf->rev->crl_dir;
	char             spath[CRL_PATH_MAX];
	uint64_t         gen;
	int64_t          now = (int64_t)time(NULL);
	enum est_err     rc;
	int              fd;

	if (crl_path(spath, dir, ".", g->name, ".state") == -1)
		return est_fail(EST_ERR_CONFIG, "crl_dir path too long");
	if ((rc = store_revoked_gen(st, &gen)) != EST_OK)
		return rc;
	state_read(spath, &prev);
	if (!force && state_fresh(&prev, gen, now, conf->rev->crl_refresh,
	    batch)) {
		crl_defer(&prev, gen, batch, due);
		return EST_OK;
	}
	if ((fd = crl_lock(dir, wait)) == CRL_LOCK_BUSY) {
		if (*due == 0 || now + CRL_BUSY_RETRY < *due)
			*due = now + CRL_BUSY_RETRY;
		return EST_OK;
	}
	if (fd == -1)
		return EST_ERR_INTERNAL;
	/* Another worker may have published while this one waited, from
	 * a generation at least as new as the one read above (so with
	 * every revocation this caller knows of): then nothing to do. */
	now = (int64_t)time(NULL);
	state_read(spath, &prev);
	if (!force && state_fresh(&prev, gen, now, conf->rev->crl_refresh,
	    batch)) {
		crl_defer(&prev, gen, batch, due);
		goto out;
	}
	/* The generation is read before the list, so the CRL holds at
	 * least every revocation up to it. */
	if ((rc = store_revoked_gen(st, &gen)) == EST_OK &&
	    (rc = crl_write(conf, ca, g, st, gen, &prev)) == EST_OK)
		*wrote = 1;
out:
	close(fd);      /* releases the lock */
	return rc;
}

/*
 * Writes crl_dir/all.crl.pem, every CA's PEM CRL in one file (what the
 * web server's client-certificate check reads: SSLCARevocationFile
 * with SSLCARevocationCheck chain wants one for each CA), atomically,
 * under the lock.  Returns EST_OK or an error.
 */
static enum est_err
crl_bundle(const struct est_ctx *ctx)
{
	const struct est_conf *conf = &ctx->conf;
	struct crl_group       g;
	char                   path[CRL_PATH_MAX];
	char                  *all = NULL, *p;
	size_t                 len = 0, i, n = conf->n_labels ? conf->n_labels : 1;
	enum est_err           rc = EST_ERR_INTERNAL;
	FILE                  *fp;
	long                   sz;
	int                    fd;

	if ((fd = crl_lock(conf->rev->crl_dir, 1)) == -1)
		return EST_ERR_INTERNAL;
	for (i = 0; i < n; i++) {
		if (i > 0 && !conf->labels[i].own_ca)
			continue;
		crl_group(conf, i, &g);
		if (crl_path(path, conf->rev->crl_dir, "", g.name,
		    ".crl.pem") == -1 || (fp = fopen(path, "r")) == NULL)
			continue;
		if (fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) > 0 &&
		    fseek(fp, 0, SEEK_SET) == 0 &&
		    (p = realloc(all, len + (size_t)sz)) != NULL) {
			all = p;
			len += fread(all + len, 1, (size_t)sz, fp);
		}
		fclose(fp);
	}
	if (crl_path(path, conf->rev->crl_dir, "", "all", ".crl.pem") == -1)
		est_fail(rc, "crl_dir path too long");
	else if (len > 0)
		rc = write_atomic(path, all, len);
	else
		est_fail(rc, "no CRL to bundle");
	free(all);
	close(fd);
	return rc;
}

/*
 * Publishes, into revocation.crl_dir, the CRLs of ctx's CAs that are due
 * (or all with force; none younger than batch seconds): the default
 * CA's and that of every label with a CA of its own; then the bundle
 * all.crl.pem when any changed or it is missing.  Nothing when crl_dir
 * is "".  wait: see crl_publish().  Returns EST_OK or the first error.
 */
static enum est_err
crl_publish_due(const struct est_ctx *ctx, int force, int batch, int wait,
    int64_t *due)
{
	const struct est_conf *conf = &ctx->conf;
	struct crl_group       g;
	struct stat            sb;
	char                   path[CRL_PATH_MAX];
	enum est_err           rc = EST_OK, r;
	size_t                 i, n = conf->n_labels ? conf->n_labels : 1;
	int                    wrote = 0;

	if (conf->rev == NULL || conf->rev->crl_dir[0] == '\0')
		return EST_OK;
	for (i = 0; i < n; i++) {
		if (i > 0 && !conf->labels[i].own_ca)
			continue;
		crl_group(conf, i, &g);
		r = crl_publish(conf, i > 0 ? label_ca(ctx, &conf->labels[i]) :
		    &ctx->ca, &g, ctx->store, force, batch, wait, &wrote, due);
		if (r != EST_OK && rc == EST_OK)
			rc = r;
	}
	if (crl_path(path, conf->rev->crl_dir, "", "all", ".crl.pem") == 0 &&
	    (wrote || stat(path, &sb) == -1) && (r = crl_bundle(ctx)) !=
	    EST_OK && rc == EST_OK)
		rc = r;
	return rc;
}

/* Publishes every CRL that is due, or all with force (estcgi-crl).
 * Returns EST_OK or the first error. */
enum est_err
crl_publish_all(const struct est_ctx *ctx, int force)
{
	int64_t due = 0;

	return crl_publish_due(ctx, force, 0, 1, &due);
}

/* When this process left revocations out of a CRL younger than
 * crl_batch (0: it did not): crl_after_request() publishes them. */
static int64_t crl_due;
/* A request asked for a batched refresh (crl_refresh_batched()). */
static int crl_batched;

/* Publishes the CRLs that are due, none younger than batch seconds
 * (wait: see crl_publish()), and notes when what that left out is due.
 * A failure is logged, not returned: the revocation stands, OCSP
 * already says so, and the next request or estcgi-crl publishes. */
static void
crl_refresh_with(const struct est_ctx *ctx, int batch, int wait)
{
	enum est_err rc;
	int64_t      due = 0;

	if ((rc = crl_publish_due(ctx, 0, batch, wait, &due)) != EST_OK)
		est_log(EST_LOG_WARN, "CRL not published: %s", est_reason(rc));
	crl_due = due;
}

/* After a request that may have revoked certificates (an
 * administrator's): publishes the CRLs that are due before the answer,
 * waiting for another process's rebuild (a counter read when none is
 * due). */
void
crl_refresh(const struct est_ctx *ctx)
{
	crl_refresh_with(ctx, 0, 1);
}

/* Asks for crl_after_request() to refresh the CRLs batched, after the
 * answer: after a renewal that superseded a certificate and on /ocsp
 * requests.  A CRL younger than revocation.crl_batch seconds is left as
 * it is, so a burst of renewals rebuilds it once per batch instead of
 * once each (the rebuild lists every revoked certificate); OCSP answers
 * from the store at once meanwhile. */
void
crl_refresh_batched(void)
{
	crl_batched = 1;
}

/*
 * Run by the server loop once a request's answer is out (serve.c), so
 * no client waits for a rebuild: the batched refresh a request asked
 * for, else, when revocations this process left waiting for crl_batch
 * are due, publishes them (a clock read otherwise), so they wait no
 * longer than the batch while requests come; the estcgi-crl timer
 * covers a server that goes quiet.  A rebuild another process is doing
 * is not waited for (it would hold every worker that found the same
 * CRL due): this process looks again CRL_BUSY_RETRY s later.
 */
void
crl_after_request(const struct est_ctx *ctx)
{
	if (crl_batched) {
		crl_batched = 0;
		crl_refresh_with(ctx, ctx->conf.rev ?
		    ctx->conf.rev->crl_batch : 0, 0);
	} else if (crl_due != 0 && (int64_t)time(NULL) >= crl_due)
		crl_refresh_with(ctx, 0, 0);
}
