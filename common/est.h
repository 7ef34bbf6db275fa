/*
 * est.h — the one internal header of libestcgi (common/).
 *
 * Every limit is a named constant here; every error is one row of
 * EST_ERRORS, which also gives its HTTP status (the only place errors
 * are mapped to HTTP).  Each .c file in common/ has one concern:
 *
 *   err.c    error table, per-request failure reason
 *   log.c    logging to the web server's error log or syslog
 *   conf.c   libconfig configuration
 *   b64.c    RFC 4648 base64 as RFC 7030 / RFC 8951 use it
 *   csr.c    PKCS#10 parsing and checks
 *   ca.c     CA material, certificate issuance, PKCS#7 certs-only
 *   store.c  Berkeley DB store of devices, certificates and events
 *   enroll.c the enrollment operations (bootstrap, simple(re)enroll)
 *   http.c   request parsing and response writing (CGI and FastCGI)
 *   serve.c  the FastCGI/CGI accept loop every program's main() runs
 *   crl.c    CRLs (RFC 5280) from the revoked index, published
 *            atomically; CRL DP / AIA extensions; revocation reasons
 *   ocsp.c   the OCSP responder's requests and answers (RFC 6960)
 */
#ifndef EST_H
#define EST_H

#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* ---- limits ---------------------------------------------------------- */

#define EST_MAX_BODY          16384 /* largest request body read (bytes) */
#define EST_MAX_DEVICE_ID     64    /* longest device ID (CSR CN) */
#define EST_MAX_USER          128   /* longest REMOTE_USER kept */
#define EST_MAX_IP            64    /* longest REMOTE_ADDR kept */
#define EST_MAX_UA            256   /* longest User-Agent kept (truncated) */
#define EST_MAX_REASON        256   /* longest one-line failure reason */
#define EST_MAX_CERT_DER      16384 /* largest certificate stored */
#define EST_MAX_PEM           32768 /* largest SSL_CLIENT_CERT accepted */
#define EST_MAX_PARAM         256   /* longest decoded query/path value */
#define EST_SERIAL_LEN        20    /* RFC 5280 4.1.2.2: at most 20 octets */
#define EST_SERIAL_TRIES      8     /* fresh serials tried before giving up */
#define EST_TXN_RETRIES       8     /* deadlock retries per transaction */
#define EST_CLOCK_SKEW_SECS   300   /* notBefore this far in the past */
#define EST_B64_COLS          64    /* response base64 line length */
#define EST_RETRY_AFTER_SECS  5     /* Retry-After on 503 (and 202, 429) */
#define EST_MIN_RSA_BITS      2048  /* smallest RSA key accepted */
#define EST_DEFAULT_DAYS      365   /* operational certificate validity */
#define EST_DEFAULT_BOOT_DAYS 30    /* bootstrap certificate validity */
#define EST_MAX_DAYS          36500 /* longest validity configurable */
#define EST_STORE_CACHE_BYTES (4 * 1024 * 1024) /* BDB shared cache */
#define EST_DEFAULT_CONFIG    "/etc/estcgi/est.conf"
#define EST_DEFAULT_TEMPLATES "/usr/share/estcgi/templates"
#define EST_DEFAULT_ID_PATTERN "^[A-Za-z0-9._:-]{1,64}$"
#define EST_MAX_LABEL         32    /* longest CA label (RFC 7030 3.2.2) */
#define EST_MAX_LABELS        32    /* labels in one configuration */
#define EST_MAX_RSA_BITS      16384 /* largest RSA key a policy names */
#define EST_MAX_RSA_KEYGEN    4096  /* largest RSA key serverkeygen makes */

/* ---- errors ---------------------------------------------------------- */

/* E(name, HTTP status, default one-line reason) */
#define EST_ERRORS(E)                                                        \
	E(EST_OK, 200, "ok")                                                 \
	E(EST_PENDING, 202,                                                  \
	  "enrollment request is waiting for approval; retry later")         \
	E(EST_ERR_NOMEM, 500, "server out of memory")                        \
	E(EST_ERR_INTERNAL, 500, "internal server error")                    \
	E(EST_ERR_CONFIG, 500, "server configuration error")                 \
	E(EST_ERR_BAD_REQUEST, 400, "bad request")                           \
	E(EST_ERR_BAD_BASE64, 400, "request body is not valid base64")       \
	E(EST_ERR_BAD_DER, 400, "request body is not a DER PKCS#10 CSR")     \
	E(EST_ERR_BAD_SIGNATURE, 400, "CSR signature does not verify")       \
	E(EST_ERR_BAD_ID, 400, "CSR subject CN is not a valid device ID")    \
	E(EST_ERR_BAD_KEY, 400, "CSR public key type or size not accepted")  \
	E(EST_ERR_WEAK_HASH, 400, "CSR signature hash not accepted")         \
	E(EST_ERR_SUBJECT_MISMATCH, 400,                                     \
	  "CSR subject or subjectAltName differs from the current certificate") \
	E(EST_ERR_UNAUTHENTICATED, 401, "authentication required")           \
	E(EST_ERR_FORBIDDEN, 403, "not allowed")                             \
	E(EST_ERR_CERT_UNKNOWN, 403, "client certificate not issued here")   \
	E(EST_ERR_CERT_REVOKED, 403, "client certificate is revoked")        \
	E(EST_ERR_REJECTED, 403, "enrollment request rejected")              \
	E(EST_ERR_CERT_SUPERSEDED, 403,                                      \
	  "client certificate is not the device's current certificate")      \
	E(EST_ERR_ID_MISMATCH, 403,                                          \
	  "CSR device ID differs from the client certificate's")             \
	E(EST_ERR_NOT_FOUND, 404, "not found")                               \
	E(EST_ERR_METHOD, 405, "method not allowed")                         \
	E(EST_ERR_DUPLICATE, 409, "device already registered")               \
	E(EST_ERR_CONFLICT, 409, "conflicts with the request's current state") \
	E(EST_ERR_TOO_LARGE, 413, "request body too large")                  \
	E(EST_ERR_MEDIA_TYPE, 415, "unsupported Content-Type")               \
	E(EST_ERR_RATE_LIMITED, 429, "too many enrollments; retry later")    \
	E(EST_ERR_NOT_IMPLEMENTED, 501, "not implemented")                   \
	E(EST_ERR_STORE, 503, "certificate store unavailable, retry later")  \
	E(EST_ERR_DEADLOCK, 503, "certificate store busy, retry later")      \
	E(EST_ERR_EXISTS, 500, "record already exists")                     \
	E(EST_ERR_POLICY, 403, "CSR refused by the label's policy")          \
	E(EST_ERR_NO_LABEL, 404, "unknown CA label")                         \
	E(EST_ERR_WRONG_CA, 403,                                             \
	  "client certificate is not from this label's CA")

#define EST_ERR_ENUM_(name, status, text) name,
enum est_err { EST_ERRORS(EST_ERR_ENUM_) EST_ERR__MAX };
#undef EST_ERR_ENUM_

/* err.c */
int          est_err_status(enum est_err);
const char  *est_err_name(enum est_err);
const char  *est_err_text(enum est_err);
enum est_err est_fail(enum est_err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char  *est_reason(enum est_err);
void         est_reason_clear(void);

/* ---- logging (log.c) -------------------------------------------------- */

enum est_log_level { EST_LOG_ERR, EST_LOG_WARN, EST_LOG_INFO, EST_LOG_DEBUG };
void est_log_open(const char *progname, const char *dest);
void est_log(enum est_log_level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void est_log_ssl(const char *where);
size_t est_log_format(char *buf, size_t n, enum est_log_level,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- configuration (conf.c) ------------------------------------------ */

struct est_conf {
	char   *ca_cert;        /* PEM CA certificate (issuer) */
	char   *ca_key;         /* PEM CA private key */
	char   *ca_chain;       /* optional PEM of further certs for cacerts */
	int     validity_days;  /* operational certificate validity */
	int     bootstrap_days; /* bootstrap certificate validity */
	char   *id_pattern;     /* POSIX ERE a device ID must match */
	regex_t id_re;          /* id_pattern compiled */
	int     id_re_ok;       /* id_re must be regfree'd */
	char   *store_dir;      /* Berkeley DB environment directory */
	char   *log_dest;       /* "stderr", "syslog" */
	char   *templates_dir;  /* dashboard HTML templates */
	char   *time_zone;      /* TZ for times shown to people */
	char  **admin_users;    /* REMOTE_USERs allowed the API/dashboard */
	size_t  n_admin_users;
	char   *audit_log;      /* JSON-lines file, "syslog", or "" (off) */
	struct est_label *labels; /* [n_labels]: labels[0] is the default
	                           * (name ""), built from the top level;
	                           * the others from `labels` (conf.c) */
	size_t  n_labels;
	struct est_rev_conf *rev; /* revocation settings (conf_rev()) */
};

/* What a first contact for an already registered device ID gets. */
enum est_dup {
	DUP_REJECT,             /* 409 (the default, as python-est) */
	DUP_REVOKE_PREVIOUS,    /* issue; revoke the device's older certs */
	DUP_ALLOW,              /* issue; the old current one is superseded */
	DUP__MAX
};
extern const char *const est_dup_names[DUP__MAX];

/* The approval queue's part of a label's policy (queue.c,
 * conf_queue()): struct est_policy's member `queue`. */
struct est_queue_policy {
	int          approval;    /* 1: first contact waits for approval */
	int          retry_after; /* Retry-After of the 202, seconds */
	enum est_dup duplicate;
	int          rate_user;   /* enrollments per window per user; 0 off */
	int          rate_device; /* ... per device ID; 0 off */
	int          rate_window; /* seconds */
};

const char  *conf_path(void);
enum est_err conf_load(const char *path, struct est_conf *);
void         conf_free(struct est_conf *);

/* ---- base64 (b64.c) --------------------------------------------------- */

enum est_err b64_decode(const char *in, size_t inlen,
                        unsigned char **out, size_t *outlen);
enum est_err b64_encode(const unsigned char *in, size_t len,
                        char **out, size_t *outlen);

/* ---- CSRs (csr.c) ----------------------------------------------------- */

/*
 * A parsed PKCS#10 request.  req is parsed without OpenSSL decoding its
 * subject key (OpenSSL 3.0 runs its decoder search for each key:
 * ~150 us, most of a request's parsing), so X509_REQ_get0_pubkey(req)
 * is NULL: the key, decoded once by pubkey_decode(), is key.
 */
struct est_csr {
	X509_REQ *req;
	EVP_PKEY *key;
};

enum est_err csr_parse(const unsigned char *der, size_t len,
                       struct est_csr *out);
enum est_err csr_set_key(struct est_csr *, EVP_PKEY *key);
void         csr_free(struct est_csr *);
enum est_err csr_check(const struct est_csr *, const regex_t *id_re,
                       char id[EST_MAX_DEVICE_ID + 1]);
enum est_err name_device_id(const X509_NAME *name, const regex_t *id_re,
                            char id[EST_MAX_DEVICE_ID + 1]);
enum est_err csr_matches_cert(X509_REQ *req, X509 *cert);
int          csr_hash_nid(const X509_REQ *req);

/* ---- subject public keys (pubkey.c) ----------------------------------- */

enum est_err pubkey_decode(const X509_PUBKEY *pub, EVP_PKEY **out);

/* ---- CA (ca.c) -------------------------------------------------------- */

struct est_ca {
	X509           *cert;     /* issuing CA certificate */
	EVP_PKEY       *key;      /* its private key */
	STACK_OF(X509) *chain;    /* cert first, then ca_chain's certs */
	char           *cacerts;  /* ready cacerts body (base64 PKCS#7) */
	size_t          cacerts_len;
};

enum est_err ca_load(const struct est_conf *, struct est_ca *);
struct est_label;
enum est_err ca_load_label(const struct est_label *, struct est_ca *);
void         ca_free(struct est_ca *);
enum est_err ca_serial_random(unsigned char serial[EST_SERIAL_LEN],
                              size_t *len);
enum est_err ca_sign(const struct est_ca *, const struct est_csr *,
                     const unsigned char *serial, size_t serial_len,
                     int days, X509 **out);
enum est_err ca_certs_only(STACK_OF(X509) *certs, char **b64, size_t *len);
enum est_err ca_client_cert(const struct est_ca *, const char *pem,
                            X509 **out);
enum est_err ca_cert_serial(X509 *cert, unsigned char serial[EST_SERIAL_LEN],
                            size_t *len);

/* ---- store (store.c) -------------------------------------------------- */

/* The store speaks of devices, certificates and events; the backend
 * (Berkeley DB today) stays inside store.c. */

enum est_op {
	EST_OP_NONE,
	EST_OP_CACERTS,
	EST_OP_SIMPLEENROLL,
	EST_OP_SIMPLEREENROLL,
	EST_OP_BOOTSTRAP,
	EST_OP_OTHER,
	EST_OP_DELETE,          /* an admin deleted the device (registry API) */
	EST_OP_REVOKE,          /* an admin revoked the device's certificates */
	EST_OP_APPROVE,         /* an admin approved a pending request */
	EST_OP_REJECT,          /* an admin rejected a pending request */
	EST_OP_SERVERKEYGEN,    /* RFC 7030 4.4 */
	EST_OP__MAX
};
extern const char *const est_op_names[EST_OP__MAX];

enum est_dev_state {
	DEV_NONE,
	DEV_BOOTSTRAPPED,
	DEV_ENROLLED,
	DEV_PENDING,            /* first request waits for approval (queue) */
	DEV_REVOKED,            /* reserved: set by revocation (issue 4) */
	DEV_STATE__MAX
};
extern const char *const est_dev_state_names[DEV_STATE__MAX];

enum est_cert_status {
	CERT_NONE,
	CERT_VALID,
	CERT_SUPERSEDED,
	CERT_REVOKED,
	CERT_STATUS__MAX
};
extern const char *const est_cert_status_names[CERT_STATUS__MAX];

struct est_device {
	char               id[EST_MAX_DEVICE_ID + 1];
	enum est_dev_state state;
	char               owner[EST_MAX_USER + 1];  /* user that created it */
	int64_t            created;                  /* unix seconds */
	int64_t            updated;
	unsigned char      serial[EST_SERIAL_LEN];   /* current certificate */
	size_t             serial_len;
	char               last_ip[EST_MAX_IP + 1];
	char               last_ua[EST_MAX_UA + 1];
	int64_t            not_after;  /* current certificate's notAfter, 0 if
	                                * none; set by whoever sets serial */
};

struct est_cert {
	unsigned char        serial[EST_SERIAL_LEN];
	size_t               serial_len;
	char                 device[EST_MAX_DEVICE_ID + 1];
	enum est_cert_status status;
	enum est_op          op;          /* operation that issued it */
	int64_t              not_before;  /* unix seconds */
	int64_t              not_after;
	int64_t              revoked_at;  /* 0 unless revoked */
	int                  reason;      /* RFC 5280 CRLReason if revoked */
	char                 label[EST_MAX_LABEL + 1]; /* issuing CA label,
	                                   * "" = default (older records) */
	unsigned char       *der;         /* owned; free with cert_clear() */
	size_t               der_len;
};

struct est_event {
	int64_t       time_us;            /* set by the store when 0 */
	enum est_op   op;
	int           status;             /* HTTP status answered */
	char          device[EST_MAX_DEVICE_ID + 1];
	char          user[EST_MAX_USER + 1];
	char          ip[EST_MAX_IP + 1];
	char          ua[EST_MAX_UA + 1];
	unsigned char serial[EST_SERIAL_LEN];
	size_t        serial_len;
	char          reason[EST_MAX_REASON];
};

struct est_store;
struct est_txn;
typedef enum est_err (*est_txn_fn)(struct est_txn *, void *arg);

enum est_err store_open(const char *dir, struct est_store **out);
void         store_close(struct est_store *);
enum est_err store_run(struct est_store *, est_txn_fn fn, void *arg);
void         store_bulk(struct est_store *, int on);  /* loaders only */
enum est_err store_event_add(struct est_store *, struct est_event *);
enum est_err store_device_get(struct est_store *, const char *id,
                              struct est_device *out);
enum est_err store_cert_get(struct est_store *, const unsigned char *serial,
                            size_t len, struct est_cert *out);

enum est_err txn_device_get(struct est_txn *, const char *id,
                            struct est_device *out);
enum est_err txn_device_put(struct est_txn *, const struct est_device *);
enum est_err txn_cert_get(struct est_txn *, const unsigned char *serial,
                          size_t len, struct est_cert *out);
enum est_err txn_cert_insert(struct est_txn *, const struct est_cert *);
enum est_err txn_cert_update(struct est_txn *, const struct est_cert *);
enum est_err txn_event_add(struct est_txn *, struct est_event *);

void cert_clear(struct est_cert *);

/* ---- HTTP (http.c) ---------------------------------------------------- */

/* What the web server handed us.  Identity comes only from variables the
 * web server sets (REMOTE_USER, SSL_CLIENT_VERIFY, SSL_CLIENT_CERT), never
 * from request headers. */
struct est_req {
	const char *method;        /* REQUEST_METHOD */
	const char *content_type;  /* CONTENT_TYPE or NULL */
	const char *remote_user;   /* REMOTE_USER or NULL */
	const char *client_verify; /* SSL_CLIENT_VERIFY or NULL */
	const char *client_cert;   /* SSL_CLIENT_CERT (PEM) or NULL */
	const char *remote_addr;   /* REMOTE_ADDR or "" */
	const char *user_agent;    /* HTTP_USER_AGENT or "" */
	const char *path_info;     /* PATH_INFO or "" */
	const char *request_uri;   /* REQUEST_URI or "" */
	const char *script_name;   /* SCRIPT_NAME or "" */
	const char *query;         /* QUERY_STRING or "" */
	const char *origin;        /* HTTP_ORIGIN or NULL (CSRF checks only) */
	const char *host;          /* HTTP_HOST or "" */
	const char *admin_marker;  /* HTTP_X_EST_ADMIN or NULL (CSRF only) */
	char       *body;          /* owned, NUL-terminated, NULL if none */
	size_t      body_len;
	int         body_err;      /* EST_OK or why the body was not read */
	const struct est_label *label; /* RFC 7030 3.2.2 CA label of the
	                           * request (labels[0] when none); set by
	                           * serve.c for EST_NEED_CA/_LABEL programs */
};

struct est_resp {
	int         status;
	const char *content_type;
	const char *transfer_enc;  /* Content-Transfer-Encoding or NULL */
	const char *allow;         /* Allow (405) or NULL */
	int         retry_after;   /* seconds, 0 for none */
	int         www_auth;      /* send WWW-Authenticate: Basic */
	int         max_age;       /* > 0: a shared cache may keep the answer
	                            * this many seconds; 0: no-store */
	char       *body;          /* owned */
	size_t      body_len;
	char       *headers;       /* owned extra header lines (CRLF each) */
	int         secret;        /* body holds a private key: resp_free()
	                            * cleanses it (serverkeygen) */
};

/* Reads one variable of the request's environment. */
typedef const char *(*est_getenv_fn)(const char *name, void *arg);
/* Reads up to n body bytes; returns count, 0 at EOF, -1 on error. */
typedef long (*est_read_fn)(char *buf, size_t n, void *arg);
/* Writes n bytes of response; returns 0 or -1. */
typedef int (*est_write_fn)(const char *buf, size_t n, void *arg);

void         req_init(struct est_req *, est_getenv_fn, est_read_fn, void *arg);
void         req_free(struct est_req *);
int          content_type_is(const char *ctype, const char *want);
enum est_err url_decode(const char *in, size_t inlen, char *out,
                        size_t outsz);
enum est_err path_decode(const char *in, size_t inlen, char *out,
                         size_t outsz);
enum est_err query_param(const char *query, const char *name, char *out,
                         size_t outsz);
void         resp_init(struct est_resp *);
#define EST_HTTP_DATE_MAX 64 /* an IMF-fixdate (RFC 7231 7.1.1.1) and NUL */
int          http_date(time_t t, char *buf, size_t n);
void         resp_free(struct est_resp *);
void         resp_error(struct est_resp *, enum est_err);
struct est_buf;
enum est_err resp_take_buf(struct est_resp *, struct est_buf *,
                           const char *ctype);
enum est_err resp_text(struct est_resp *, int status, const char *text);
int          resp_write(const struct est_resp *, est_write_fn, void *arg);
int          resp_write_nph(const struct est_resp *, int head_only,
                            est_write_fn, void *arg);
const char  *http_reason_phrase(int status);

/* ---- the per-process context and the serving loop (serve.c) ----------- */

/* EST_NEED_LABEL: the request's CA label is resolved from its URI
 * (unknown: 404) without loading CAs; EST_NEED_CA implies it. */
enum est_need { EST_NEED_CA = 1, EST_NEED_STORE = 2, EST_NEED_LABEL = 4 };

struct est_ctx {
	const char       *progname;
	enum est_op       op;
	struct est_conf   conf;
	struct est_ca     ca;      /* the default label's CA (labels[0]) */
	struct est_ca    *cas;     /* [conf.n_labels]: cas[i] is labels[i]'s
	                            * own CA; zeroed for labels that use the
	                            * default's (see label_ca()) */
	struct est_store *store;
};

typedef enum est_err (*est_handler_fn)(struct est_ctx *,
                                       const struct est_req *,
                                       struct est_resp *);

int est_serve(const char *progname, enum est_op op, unsigned needs,
              est_handler_fn handler);

/* How the serving loop writes an error answer (default resp_error(),
 * text/plain); the API sets resp_json_error().  Call before est_serve. */
typedef void (*est_error_fn)(struct est_resp *, enum est_err);
void est_serve_error_fn(est_error_fn);

/* ---- enrollment (enroll.c) -------------------------------------------- */

enum est_err enroll_handle(struct est_ctx *, const struct est_req *,
                           struct est_resp *);

/* ---- administrators (admin.c) ------------------------------------------ */

#define EST_MAX_ADMINS 64 /* entries in admin_users */

enum est_err admin_check(const struct est_conf *, const struct est_req *);
enum est_err admin_csrf_check(const struct est_req *);
void         admin_event(struct est_event *, const struct est_req *);
enum est_err path_device_id(const struct est_conf *, const char *s,
                            size_t n, char id[EST_MAX_DEVICE_ID + 1]);

/* ---- JSON (json.c) and the audit log (audit.c) ------------------------- */

/* Registry records as jansson objects (json_t is struct json_t); every
 * function returns a new reference or NULL when out of memory. */
struct json_t;
struct est_stats;
struct json_t *json_text(const char *s);
struct json_t *json_time(int64_t secs);
struct json_t *json_event(const struct est_event *);
struct json_t *json_device(const struct est_device *, int64_t now);
struct json_t *json_cert(const struct est_cert *);
struct json_t *json_stats(const struct est_stats *);
int            iso_time(int64_t secs, char *out, size_t outsz);
const char    *event_outcome(const struct est_event *);
enum est_err   resp_json(struct est_resp *, int status, struct json_t *);
void           resp_json_error(struct est_resp *, enum est_err);

void           audit_write(const struct est_conf *, const struct est_event *);

/* ---- metrics (metrics.c) ----------------------------------------------- */

/* Request counters and latency histograms shared by all workers through
 * a small mmap'd file in the store directory; see metrics.c. */
#define EST_METRICS_FILE "metrics.v1"
struct est_buf;
void metrics_attach(const char *dir);
void metrics_observe(const char *prog, int status, enum est_err rc,
                     uint64_t elapsed_us);
void metrics_render(struct est_buf *, const struct est_stats *);

/* ---- HTML templates (tmpl.c) ------------------------------------------ */

#define TMPL_MAX_FILE   65536   /* largest template file */
#define TMPL_MAX_OUTPUT (4 * 1024 * 1024) /* largest rendered page */
#define TMPL_MAX_KEY    48      /* longest @@key@@ name */
#define TMPL_MAX_PATH   4096    /* longest template path */

/* A growing output buffer; the first error sticks in err. */
struct est_buf {
	char        *data;
	size_t       len;
	size_t       cap;
	enum est_err err;
};

struct est_tmpl {
	char   name[64];
	char  *text;
	size_t len;
};

/* Writes the value of key into b; returns 0, or -1 for an unknown key. */
typedef int (*tmpl_key_fn)(struct est_buf *b, const char *key, void *arg);

enum est_err buf_add(struct est_buf *, const char *, size_t);
enum est_err buf_printf(struct est_buf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void         buf_free(struct est_buf *);
enum est_err tmpl_put(struct est_buf *, const char *text);
enum est_err tmpl_put_url(struct est_buf *, const char *text);
enum est_err tmpl_put_raw_html(struct est_buf *, const char *html,
                               size_t len);
enum est_err tmpl_load(const char *dir, const char *name, struct est_tmpl *);
void         tmpl_free(struct est_tmpl *);
enum est_err tmpl_render(const struct est_tmpl *, struct est_buf *,
                         tmpl_key_fn fn, void *arg);

/* ---- registry (store.c) ---------------------------------------------- */

/*
 * Listing, statistics and deletion for the device API, the dashboard and
 * /metrics.  Pages are read with cursors over sorted indexes: a page
 * never costs more than EST_LIST_SCAN_MAX records examined, however big
 * the store.  Statistics come from counters the store updates in the
 * same transaction as the data (txn_device_put, txn_event_add,
 * store_device_delete); nothing is recomputed by scanning.
 */

#define EST_LIST_DEFAULT     50     /* page size when none is asked */
#define EST_LIST_MAX         500    /* largest page of devices or events */
#define EST_LIST_SCAN_MAX    10000  /* records examined per page at most;
                                     * a page cut short still has a cursor */
#define EST_LIST_OFFSET_MAX  10000  /* largest `offset` (use cursors) */
#define EST_CURSOR_MAX       160    /* longest opaque cursor string */
#define EST_MAX_DEVICE_CERTS 1000   /* certificates listed per device */
#define EST_STATS_HOURS      (7 * 24) /* hourly enrollment chart length */
#define EST_CRL_CESSATION    5      /* RFC 5280 5.3.1 cessationOfOperation */
#define EST_HEX_SERIAL_MAX   (2 * EST_SERIAL_LEN + 1) /* hex + NUL */

/* The `state` filter: a stored state, any, or "expired" (the current
 * certificate's notAfter has passed, whatever the stored state). */
#define EST_FILTER_ANY       (-1)
#define EST_FILTER_EXPIRED   (-2)

struct est_dev_query {
	size_t  limit;                      /* 1..EST_LIST_MAX */
	char    cursor[EST_CURSOR_MAX + 1]; /* "" = first page; else the
	                                     * next_cursor of the last page */
	size_t  offset;                     /* records skipped (no cursor);
	                                     * at most EST_LIST_OFFSET_MAX */
	int     state;                      /* enum est_dev_state, or
	                                     * EST_FILTER_ANY / _EXPIRED */
	char    q[EST_MAX_DEVICE_ID + 1];   /* ID prefix, "" = any */
	int     expiring_within_days;       /* > 0: only devices whose current
	                                     * cert expires in [now, now+days) */
	int64_t now;                        /* 0: the store reads the clock */
};

struct est_event_query {
	size_t limit;                       /* 1..EST_LIST_MAX */
	char   cursor[EST_CURSOR_MAX + 1];  /* "" = newest first */
	char   device[EST_MAX_DEVICE_ID + 1]; /* "" = every device */
};

struct est_stats {
	int64_t  now;                         /* when computed (unix secs) */
	uint64_t devices;                     /* registered devices */
	uint64_t by_state[DEV_STATE__MAX];    /* by stored state */
	uint64_t expired;                     /* current cert expired (also
	                                       * counted in by_state) */
	uint64_t expiring_7d;                 /* current cert expires within */
	uint64_t expiring_30d;                /* 7 / 30 days from now */
	uint64_t enroll_24h;                  /* issuances, last 24 hours */
	uint64_t refusals_24h;                /* refused requests, 24 hours */
	uint64_t enroll_total;                /* issuances ever */
	uint64_t refusals_total;              /* refusals ever */
	uint64_t deletes_total;               /* devices deleted ever */
	int64_t  hour0;                       /* start (unix secs) of the
	                                       * hour of enroll_hourly[0] */
	uint32_t enroll_hourly[EST_STATS_HOURS]; /* oldest first; the last
	                                       * is the current hour */
};

/*
 * store_devices_list: one page of devices matching q into items (q->limit
 *   entries, caller's array), *n set; next gets the cursor of the next
 *   page ("" at the end).  Sorted by ID; with expiring_within_days or
 *   EST_FILTER_EXPIRED sorted by notAfter, then ID.  EST_ERR_BAD_REQUEST
 *   for a malformed or foreign cursor, too large a limit or offset.
 * store_device_certs: certificates of device id (DER not read: der NULL),
 *   newest notBefore first, at most max into out, *n set.  A device
 *   without certificates gives *n = 0 (not an error; deleted devices
 *   keep their revoked certificates).
 * store_events_list: events newest first, of one device or all.
 * store_stats: the counters at time now (0: the clock).
 * store_device_delete: removes device id in one synced transaction:
 *   its certificates not yet revoked become CERT_REVOKED (revoked_at now,
 *   reason EST_CRL_CESSATION), the device record goes (so it may
 *   bootstrap again), and ev (user, ip, ua filled by the caller; op,
 *   device, status, reason set here) is recorded.  EST_ERR_NOT_FOUND if
 *   absent.
 * device_expired: 1 when the device's current certificate has expired.
 * est_hex: len bytes as lower-case hex into out (2 * len + 1 bytes).
 */
enum est_err store_devices_list(struct est_store *,
                                const struct est_dev_query *,
                                struct est_device *items, size_t *n,
                                char next[EST_CURSOR_MAX + 1]);
enum est_err store_device_certs(struct est_store *, const char *id,
                                struct est_cert *out, size_t max,
                                size_t *n);
enum est_err store_events_list(struct est_store *,
                               const struct est_event_query *,
                               struct est_event *items, size_t *n,
                               char next[EST_CURSOR_MAX + 1]);
enum est_err store_stats(struct est_store *, int64_t now,
                         struct est_stats *out);
enum est_err store_device_delete(struct est_store *, const char *id,
                                 struct est_event *ev);
int          device_expired(const struct est_device *, int64_t now);
void         est_hex(const unsigned char *p, size_t len, char *out);

/* ---- process manager (prefork.c) --------------------------------------- */

#define EST_MAX_WORKERS 256  /* most workers EST_WORKERS may ask for */
#define PREFORK_SERVE   (-1) /* prefork_supervise(): go on serving */
int prefork_supervise(void);

/* ---- store health (store.c) -------------------------------------------- */

#define EST_STORE_FAILS_EXIT 3 /* requests in a row without a store
                                * before a FastCGI worker exits */
int store_is_open(const struct est_store *);
void store_checkpoint(struct est_store *);
void store_checkpoint_after_request(void);

/* ---- store disk space (space.c) --------------------------------------- */

#define EST_STORE_MIN_FREE   (32 * 1024 * 1024) /* bytes a write transaction
                                  * needs free on the store's file system:
                                  * a new log file (10 MB, written out
                                  * whole) and a checkpoint's pages */
#define EST_STORE_MIN_INODES 16  /* inodes it needs free (new log files) */
enum est_err space_preallocate(const char *dir);
enum est_err space_check(const char *dir);

/* ---- revocation (crl.c, ocsp.c; the revoked index in store.c) -------- */

/*
 * Every certificate whose status becomes CERT_REVOKED is written to the
 * store's revoked index by txn_cert_insert()/txn_cert_update() in the
 * same transaction (whoever revokes: DELETE, the revoke API,
 * simplereenroll's supersede-and-revoke), and a revocation generation
 * counter goes up; CRLs are built from that index alone and OCSP
 * answers from the certificate records.
 */

#define EST_OCSP_MAX_REQUEST   4096  /* largest OCSP request body (bytes) */
#define EST_OCSP_MAX_SINGLE    16    /* certificates asked in one request */
#define EST_MAX_URL            512   /* longest configured base URL */
#define EST_CRL_REFRESH_DEF    3600  /* crl_refresh (s): CRL rebuilt when
                                      * older, even if nothing changed */
#define EST_CRL_VALIDITY_DEF   (7 * 86400) /* crl_next_update (s) */
#define EST_CRL_BATCH_DEF      60    /* crl_batch (s): a CRL this young is
                                      * not rebuilt for revocations that
                                      * renewals made (superseded) */
#define EST_OCSP_VALIDITY_DEF  3600  /* ocsp_next_update (s) */
#define EST_REV_SECS_MAX       (366 * 86400) /* largest of those three */
#define EST_CRL_LIST_MAX       (8 * 1024 * 1024) /* entries in one CRL */
#define EST_CRL_DEFAULT_NAME   "default" /* CRL file of the default label */
#define EST_REASON_MAX_TEXT    32    /* longest reason name */

/* RFC 5280 5.3.1 CRLReason (7 is unused). */
enum est_crl_reason {
	EST_REASON_UNSPECIFIED = 0,
	EST_REASON_KEY_COMPROMISE = 1,
	EST_REASON_CA_COMPROMISE = 2,
	EST_REASON_AFFILIATION_CHANGED = 3,
	EST_REASON_SUPERSEDED = 4,
	EST_REASON_CESSATION = 5,
	EST_REASON_CERTIFICATE_HOLD = 6,
	EST_REASON_REMOVE_FROM_CRL = 8,
	EST_REASON_PRIVILEGE_WITHDRAWN = 9,
	EST_REASON_AA_COMPROMISE = 10,
	EST_REASON__MAX
};
extern const char *const est_reason_names[EST_REASON__MAX];

/* est.conf's `revocation = { ... }` group (conf_rev()). */
struct est_rev_conf {
	char *crl_dir;           /* CRLs written here ("" = no CRLs) */
	char *crl_url;           /* CRL Distribution Points base URL; the
	                          * certificate gets <base>/<name>.crl */
	char *ocsp_url;          /* Authority Information Access OCSP URL */
	char *ocsp_cert;         /* delegated OCSP signer ("" = the CA) */
	char *ocsp_key;
	int   crl_refresh;       /* seconds */
	int   crl_batch;         /* seconds (0: renewals publish at once) */
	int   crl_next_update;   /* seconds from thisUpdate */
	int   ocsp_next_update;  /* seconds from thisUpdate */
	int   revoke_on_reenroll; /* simplereenroll revokes the old one */
};

/* One revoked certificate as the CRL lists it. */
struct est_revoked {
	unsigned char serial[EST_SERIAL_LEN];
	size_t        serial_len;
	int64_t       revoked_at;
	int           reason;
	int64_t       not_after;    /* the certificate's */
};

/* conf.c */
void         conf_rev_free(struct est_rev_conf *);

/* store.c: see the comments there. */
enum est_err txn_cert_revoke(struct est_txn *, struct est_cert *c,
                             int reason, int64_t when);
enum est_err store_revoked_list(struct est_store *, const char *label,
                                struct est_revoked **out, size_t *n);
enum est_err store_revoked_gen(struct est_store *, uint64_t *gen);
enum est_err store_device_revoke(struct est_store *, const char *id,
                                 int reason, struct est_event *ev,
                                 size_t *nrevoked);

/* serve.c: every label's CA into ctx (estcgi-crl loads them so too). */
enum est_err ctx_load_cas(struct est_ctx *);
void         ctx_free_cas(struct est_ctx *);

/* ca.c: the digest the CA key signs with (NULL for Ed25519/Ed448); the
 * PEM password callback that refuses (for any key read unattended). */
const EVP_MD *ca_digest(EVP_PKEY *key);
int           ca_no_passphrase(char *buf, int size, int rwflag, void *u);

/* crl.c */
int          reason_parse(const char *s, int *reason);
const char  *crl_name(const char *label);
enum est_err crl_publish_all(const struct est_ctx *, int force);
void         crl_refresh(const struct est_ctx *);
void         crl_refresh_batched(void);
void         crl_after_request(const struct est_ctx *);
void         rev_set_urls(const struct est_rev_conf *);
int          rev_add_exts(X509 *x, const struct est_label *l);

/* ocsp.c */
struct est_ocsp_signer {
	X509           *cert;     /* delegated signer, or NULL: the CA */
	EVP_PKEY       *key;
};
enum est_err ocsp_signer_load(const struct est_conf *, const struct est_ca *,
                              struct est_ocsp_signer *);
void         ocsp_signer_free(struct est_ocsp_signer *);
/* What ocsp_respond() says of caching its answer (RFC 5019 6.2). */
struct est_ocsp_cache {
	time_t this_update;
	time_t next_update;   /* 0: not to be kept by shared caches */
};
enum est_err ocsp_respond(const struct est_ctx *,
                          const struct est_ocsp_signer *,
                          const unsigned char *der, size_t len,
                          unsigned char **out, size_t *outlen,
                          struct est_ocsp_cache *cache);
enum est_err ocsp_from_get(const char *uri, unsigned char **der,
                           size_t *len);

/* ---- CA labels and per-label CSR policy (conf.c, label.c) ------------ */

/*
 * RFC 7030 3.2.2: /.well-known/est/<label>/<operation>.  Each label has
 * its CA, validity, certificate profile, csrattrs, serverkeygen switch
 * and CSR policy.  The default label (name "") is est.conf's top level;
 * every label in `labels = { name = {...}; }` starts as a copy of it
 * and overrides what it sets (conf_label()).
 */

#define EST_MAX_POLICY_LIST 32   /* entries in one policy list */
#define EST_MAX_CSRATTRS    16   /* OIDs / extension OIDs in csrattrs */
#define EST_MAX_OID_TEXT    64   /* longest OID name or dotted form */
#define EST_LABEL_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

/* Key types (struct est_policy key_types; serverkeygen's key). */
enum est_keytype {
	EST_KEY_RSA     = 1 << 0,
	EST_KEY_P256    = 1 << 1,
	EST_KEY_P384    = 1 << 2,
	EST_KEY_P521    = 1 << 3,
	EST_KEY_ED25519 = 1 << 4
};
#define EST_KEYS_DEFAULT (EST_KEY_RSA | EST_KEY_P256 | EST_KEY_P384 |      \
                          EST_KEY_ED25519)

/* CSR signature hashes (struct est_policy hashes); Ed25519 has none. */
enum est_hash {
	EST_HASH_SHA256   = 1 << 0,
	EST_HASH_SHA384   = 1 << 1,
	EST_HASH_SHA512   = 1 << 2,
	EST_HASH_SHA3_256 = 1 << 3,
	EST_HASH_SHA3_384 = 1 << 4,
	EST_HASH_SHA3_512 = 1 << 5
};
#define EST_HASHES_DEFAULT 0x3f  /* all of the above */

/* subjectAltName name types (struct est_policy san_types). */
enum est_san {
	EST_SAN_DNS   = 1 << 0,
	EST_SAN_IP    = 1 << 1,
	EST_SAN_EMAIL = 1 << 2,
	EST_SAN_URI   = 1 << 3,
	EST_SAN_OTHER = 1 << 4,  /* otherName, directoryName, registeredID */
	EST_SAN_ALL   = 0x1f
};

/* A list of strings from the configuration (owned). */
struct est_strs {
	char  **v;
	size_t  n;
};

/* Per-label CSR policy, checked before signing (policy_check()). */
struct est_policy {
	unsigned        key_types;     /* enum est_keytype bits accepted */
	int             rsa_min_bits;  /* smallest RSA key accepted */
	unsigned        hashes;        /* enum est_hash bits accepted */
	struct est_strs subj_required; /* attribute short names (CN, O..) */
	struct est_strs subj_allowed;  /* attributes allowed; empty = any */
	struct est_strs allowed_o;     /* values allowed for O; empty = any */
	struct est_strs allowed_ou;    /* values allowed for OU; empty = any */
	unsigned        san_types;     /* enum est_san bits allowed */
	char           *san_pattern;   /* POSIX ERE for dNSName, rfc822Name,
	                                * URI values; NULL = any */
	regex_t         san_re;
	int             san_re_ok;
	int             max_days;      /* longest validity issued */
	int             copy_san;      /* copy the CSR's subjectAltName */
	int             copy_exts;     /* copy its other extensions too */
	struct est_queue_policy queue; /* approval, duplicates, rate
	                               * limits (queue.c) */
};

struct est_label {
	char              name[EST_MAX_LABEL + 1]; /* "" = default */
	char             *ca_cert;     /* PEM CA certificate */
	char             *ca_key;      /* its key */
	char             *ca_chain;    /* further certificates, "" = none */
	int               own_ca;      /* 1: a CA of its own (ctx->cas[i]) */
	int               validity_days;
	int               bootstrap_days;
	unsigned          key_usage;   /* 1 << RFC 5280 KeyUsage bit number;
	                                * 0 = by key type (digitalSignature,
	                                * + keyEncipherment for RSA) */
	struct est_strs   eku;         /* extendedKeyUsage short names */
	struct est_strs   csrattr_oids; /* csrattrs: OIDs to include */
	struct est_strs   csrattr_exts; /* csrattrs: extensionRequest OIDs */
	unsigned          csrattr_key; /* csrattrs: announced key type (one
	                                * EST_KEY_*; also enforced), 0 none */
	int               rsa_bits_announced; /* with EST_KEY_RSA */
	int               serverkeygen; /* RFC 7030 4.4 enabled */
	unsigned          skg_key;     /* its key type (one EST_KEY_*) */
	int               skg_rsa_bits;
	struct est_policy pol;
};

/* Names of the bits above as est.conf spells them (label.c); each
 * table ends with a NULL name. */
struct est_name_bit {
	const char *name;
	unsigned    bit;
};
extern const struct est_name_bit est_keytype_names[];
extern const struct est_name_bit est_hash_names[];
extern const struct est_name_bit est_san_names[];
extern const struct est_name_bit est_ku_names[];
int name_bit(const struct est_name_bit *, const char *name, unsigned *bit);

/* conf.c */
const struct est_label *conf_label_find(const struct est_conf *,
                                        const char *name, size_t len);
/* label.c */
enum est_err label_from_uri(const struct est_conf *, const char *uri,
                            const struct est_label **out);
const struct est_ca *label_ca(const struct est_ctx *,
                              const struct est_label *);
enum est_err policy_check(const struct est_label *, const struct est_csr *);
unsigned     keytype_of(EVP_PKEY *pkey);
const char  *keytype_name(unsigned keytype);
enum est_err ca_sign_label(const struct est_ca *, const struct est_label *,
                           const struct est_csr *,
                           const unsigned char *serial,
                           size_t serial_len, int days, X509 **out);
enum est_err csrattrs_body(const struct est_label *, char **b64,
                           size_t *len);
/* keygen.c (RFC 7030 4.4) */
enum est_err skg_key_for(const struct est_label *, struct est_csr *,
                         EVP_PKEY **key);
enum est_err skg_response(struct est_resp *, EVP_PKEY *key, X509 *cert);

/* ---- approval queue, duplicate policy, rate limits (queue.c, store.c) -- */

/*
 * A label may make first contact (bootstrap, Basic-auth simpleenroll)
 * wait for an administrator (RFC 7030 4.2.3: 202 + Retry-After).  The
 * request is kept in the store's pending database, one per device ID;
 * see README "Approval queue" for the states and what a retry gets.
 */
#define EST_KEY_HASH_LEN        32      /* SHA-256 of a SubjectPublicKeyInfo */
#define EST_DEFAULT_RETRY_AFTER 60      /* Retry-After of a 202 (seconds) */
#define EST_MAX_RETRY_AFTER     86400   /* largest retry_after configurable */
#define EST_REJECTED_KEEP_SECS  (7 * 86400) /* a rejection answers 403 so long */
#define EST_PENDING_LIST_MAX    500     /* pending requests listed at most */
#define EST_DEFAULT_RATE_USER   1000    /* enrollments per window and user */
#define EST_DEFAULT_RATE_DEVICE 100     /* ... and per device */
#define EST_DEFAULT_RATE_WINDOW 3600    /* the window (seconds) */
#define EST_MAX_RATE            1000000 /* largest limit configurable */
#define EST_MAX_RATE_WINDOW     (30 * 86400) /* longest window */
#define EST_MAX_REJECT_REASON   200     /* longest rejection reason given */

enum est_pend_state {
	PEND_NONE,
	PEND_WAITING,           /* answered 202 until decided */
	PEND_APPROVED,          /* the next retry with the key is issued */
	PEND_REJECTED,          /* retries with the key get 403 + reason */
	PEND__MAX
};
extern const char *const est_pend_names[PEND__MAX];

/* A stored enrollment request (pending database, key = device ID). */
struct est_pending {
	char                id[EST_MAX_DEVICE_ID + 1];
	enum est_pend_state state;
	enum est_op         op;                     /* bootstrap, simpleenroll */
	unsigned char       key_hash[EST_KEY_HASH_LEN];
	char                label[EST_MAX_LABEL + 1]; /* "" = default */
	char                user[EST_MAX_USER + 1]; /* who asked */
	char                ip[EST_MAX_IP + 1];
	int64_t             created;                /* unix seconds */
	int64_t             decided;                /* 0 while waiting */
	char                decided_by[EST_MAX_USER + 1];
	char                reason[EST_MAX_REASON]; /* the rejection's */
	unsigned char      *csr;                    /* DER, owned (or NULL) */
	size_t              csr_len;
};

struct config_setting_t;
enum est_err conf_queue(struct config_setting_t *section,
                        const char *where, struct est_queue_policy *q);
void         queue_policy_default(struct est_queue_policy *out);
enum est_err csr_key_hash(X509_REQ *req,
                          unsigned char out[EST_KEY_HASH_LEN]);
void         pending_clear(struct est_pending *);
enum est_err queue_reason_check(const char *reason);
struct json_t *json_pending(const struct est_pending *);

/*
 * txn_pending_get: device id's request into out (csr malloc'd),
 *   write-locked with for_update.  EST_ERR_NOT_FOUND if none.
 * txn_pending_put: writes p (insert or overwrite).
 * txn_pending_del: removes id's request (absent is not an error).
 * txn_rate_take: counts one enrollment against the limit of (label,
 *   kind 'u' user / 'd' device, name) in a fixed window of window secs
 *   that starts with the first enrollment counted in it; at the limit
 *   returns EST_ERR_RATE_LIMITED with *retry_after the seconds until
 *   the window ends, counting nothing.  limit 0: nothing counted.  The
 *   record stays write-locked until commit: call it last.
 * txn_device_revoke_certs: every certificate of device id not yet
 *   revoked becomes CERT_REVOKED with reason and revoked_at now; *n
 *   (may be NULL) is how many.
 * store_pending_list: requests in state (PEND_NONE: any), ID order, at
 *   most max into items (csr not read), *n set.
 * store_pending_decide: approves (approve 1) or rejects a waiting
 *   request in one synced transaction with its event ev (user, ip, ua
 *   filled by the caller); a rejection removes the device's DEV_PENDING
 *   record and keeps the request (state, reason) to answer retries.
 *   EST_ERR_NOT_FOUND without a request, EST_ERR_CONFLICT when it is
 *   already decided.
 */
enum est_err txn_pending_get(struct est_txn *, const char *id,
                             struct est_pending *out, int for_update);
enum est_err txn_pending_put(struct est_txn *, const struct est_pending *);
enum est_err txn_pending_del(struct est_txn *, const char *id);
enum est_err txn_rate_take(struct est_txn *, const char *label, int kind,
                           const char *name, int limit, int window,
                           int64_t now, int *retry_after);
enum est_err txn_device_revoke_certs(struct est_txn *, const char *id,
                                     int reason, int64_t now, size_t *n);
enum est_err store_pending_list(struct est_store *, enum est_pend_state,
                                struct est_pending *items, size_t max,
                                size_t *n);
enum est_err store_pending_decide(struct est_store *, const char *id,
                                  int approve, const char *reason,
                                  struct est_event *ev);

#endif /* EST_H */
