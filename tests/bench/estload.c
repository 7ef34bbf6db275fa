/*
 * estload — a load generator for EST servers (RFC 7030), ours or any
 * other.
 *
 * Everything a device would compute (keys, CSRs, the request bytes) is
 * prepared before the clock starts; then C threads send the N requests
 * over TLS, each on a new connection (a fleet of devices) or on kept-
 * alive HTTP/1.1 connections, and the tool reports the rate, latency
 * percentiles and the statuses seen.  `-o cacerts` sends the same
 * connections and handshakes to the trivial cacerts answer: the ceiling
 * an enrollment run is compared with.
 *
 *   estload [options] https://127.0.0.1:8443/.well-known/est
 *
 * Run with -h for the options.  The exit status is 0 when every request
 * got the expected answer, 1 otherwise, 2 on a usage or set-up error.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define LOAD_MAX_REQUESTS  1000000 /* most requests in one run */
#define LOAD_MAX_CONC      1024    /* most concurrent clients */
#define LOAD_MAX_URL       1024    /* longest URL accepted */
#define LOAD_MAX_HOST      256     /* longest host name */
#define LOAD_MAX_HEAD      8192    /* longest response header block */
#define LOAD_MAX_BODY      (1024 * 1024) /* largest response body read */
#define LOAD_MAX_ID        64      /* longest device ID (CN) */
#define LOAD_RSA_BITS      2048    /* RSA CSR key size */
#define LOAD_RSA_KEYS      8       /* RSA keys shared by the CSRs */
#define LOAD_DEFAULT_N     1000
#define LOAD_DEFAULT_C     16
#define LOAD_DEFAULT_SECS  60      /* the run stops after this long */
#define LOAD_STATUS_MAX    600     /* HTTP statuses counted 0..599 */
#define LOAD_ERR_CONNECT   0       /* pseudo-status: connect/TLS failed */
#define LOAD_ERR_IO        1       /* pseudo-status: send/receive failed */
#define LOAD_ERR_BODY      2       /* pseudo-status: 200, body not PKCS#7 */
#define LOAD_ERR_SKIPPED   3       /* pseudo-status: not sent (time up) */
#define LOAD_PORT_DEFAULT  "443"
#define LOAD_UA            "estload/1"
#define LOAD_NS            1000000000LL
#define LOAD_LO_SOURCES    65534   /* loopback source addresses used in
                                    * turn: 127.1.0.1 and up */

/* What one run does (from the command line). */
struct opts {
	const char *url;
	const char *op;         /* EST operation; "cacerts" is a GET */
	long        n;          /* timed requests */
	long        warm;       /* untimed requests first */
	int         conc;
	int         keepalive;
	const char *userpass;   /* HTTP Basic "user:pass" */
	const char *cert_file;  /* one client certificate for all */
	const char *key_file;
	int         renew;      /* per-device client certs (bootstrap first) */
	int         tls;        /* 0 any, 12 or 13 */
	const char *cafile;     /* verify the server when set */
	int         rsa;        /* RSA-2048 CSR keys instead of P-256 */
	const char *prefix;     /* device ID prefix */
	int         secs;       /* time limit of the timed phase */
	const char *label;
	int         quiet;      /* row only, no header */
	const char *trace;      /* -S: one line per timed request */
};

/* The server, from the URL. */
struct target {
	char             host[LOAD_MAX_HOST];
	char             port[8];
	char             base[LOAD_MAX_URL];  /* path without trailing / */
	struct addrinfo *ai;
};

/* One prepared request and its outcome. */
struct job {
	char     *req;         /* the HTTP request bytes */
	size_t    req_len;
	EVP_PKEY *key;         /* device key (renew: TLS client key) */
	X509     *cert;        /* renew: the device's certificate */
	int       status;      /* HTTP status or LOAD_ERR_* */
	long long lat_ns;
	long long start_ns;    /* sent at, from the phase's start */
	long long tcp_ns;      /* of lat_ns: TCP connect (0: kept alive) */
	long long tls_ns;      /* of lat_ns: TLS handshake */
};

/* A client connection. */
struct conn {
	int   fd;
	SSL  *ssl;
	int   used;            /* requests already sent on it */
};

/* Shared state of one phase. */
struct phase {
	const struct opts   *o;
	const struct target *t;
	SSL_CTX             *ctx;
	struct job          *jobs;
	long                 first, count;  /* jobs[first .. first+count) */
	int                  expect_p7;     /* 200 bodies must be PKCS#7 */
	int                  keep_cert;     /* keep the issued cert (renew prep) */
	int                  keepalive;
	long long            deadline;      /* monotonic ns */
	atomic_long          next;
	pthread_barrier_t    start;
	long long            t0, t_end;
	pthread_mutex_t      end_mu;
};

/* Prints a message with errno-free formatting to stderr and exits 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "estload: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* Returns the monotonic clock in nanoseconds. */
static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * LOAD_NS + ts.tv_nsec;
}

static void
usage(void)
{
	fprintf(stderr,
"usage: estload [options] https://HOST[:PORT]/.well-known/est[/label]\n"
"  -o OP      simpleenroll (default), bootstrap, simplereenroll, or\n"
"             cacerts (GET: the ceiling, no CSR)\n"
"  -n N       timed requests (default %d)\n"
"  -c C       concurrent clients (default %d)\n"
"  -w W       warm-up requests before the clock (not counted)\n"
"  -k         keep-alive (HTTP/1.1); default a new TLS connection each\n"
"  -u U:P     HTTP Basic credentials\n"
"  -E CERT -K KEY  one TLS client certificate (PEM) for every request\n"
"  -R         per-device client certificates: before the clock, bootstrap\n"
"             each device with -u, then send OP with its certificate\n"
"  -t 1.2|1.3 TLS version (default: the highest both speak)\n"
"  -C CAFILE  verify the server certificate (default: not verified)\n"
"  -a ec|rsa  CSR keys: P-256 (default, one each) or RSA-2048 (%d shared)\n"
"  -p PREFIX  device ID prefix (default: random, unique per run)\n"
"  -T SECS    stop sending after SECS seconds (default %d)\n"
"  -l LABEL   the row's label; -q prints the row without the header\n"
"  -S FILE    write each timed request to FILE: start, TCP connect,\n"
"             TLS handshake, whole latency (ms) and status\n",
	    LOAD_DEFAULT_N, LOAD_DEFAULT_C, LOAD_RSA_KEYS, LOAD_DEFAULT_SECS);
	exit(2);
}

/* Parses a decimal option value in [lo, hi]; dies otherwise. */
static long
num_arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi)
		die("%s must be a number from %ld to %ld", what, lo, hi);
	return v;
}

/* Fills o from argv; dies on a usage error. */
static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->op = "simpleenroll";
	o->n = LOAD_DEFAULT_N;
	o->conc = LOAD_DEFAULT_C;
	o->secs = LOAD_DEFAULT_SECS;
	while ((ch = getopt(argc, argv, "o:n:c:w:ku:E:K:Rt:C:a:p:T:l:qS:h")) != -1) {
		switch (ch) {
		case 'o': o->op = optarg; break;
		case 'n': o->n = num_arg(optarg, 1, LOAD_MAX_REQUESTS, "-n"); break;
		case 'c': o->conc = (int)num_arg(optarg, 1, LOAD_MAX_CONC, "-c"); break;
		case 'w': o->warm = num_arg(optarg, 0, LOAD_MAX_REQUESTS, "-w"); break;
		case 'k': o->keepalive = 1; break;
		case 'u': o->userpass = optarg; break;
		case 'E': o->cert_file = optarg; break;
		case 'K': o->key_file = optarg; break;
		case 'R': o->renew = 1; break;
		case 't':
			if (strcmp(optarg, "1.2") == 0)
				o->tls = 12;
			else if (strcmp(optarg, "1.3") == 0)
				o->tls = 13;
			else
				die("-t takes 1.2 or 1.3");
			break;
		case 'C': o->cafile = optarg; break;
		case 'a':
			if (strcmp(optarg, "rsa") == 0)
				o->rsa = 1;
			else if (strcmp(optarg, "ec") != 0)
				die("-a takes ec or rsa");
			break;
		case 'p': o->prefix = optarg; break;
		case 'T': o->secs = (int)num_arg(optarg, 1, 3600, "-T"); break;
		case 'l': o->label = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'S': o->trace = optarg; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	o->url = argv[optind];
	if (strspn(o->op, "abcdefghijklmnopqrstuvwxyz") != strlen(o->op) ||
	    *o->op == '\0')
		die("-o takes an operation name such as simpleenroll");
	if ((o->cert_file == NULL) != (o->key_file == NULL))
		die("-E and -K go together");
	if (o->renew && (o->userpass == NULL || o->cert_file != NULL))
		die("-R needs -u (to bootstrap) and no -E");
	if (o->renew && o->keepalive)
		die("-R uses one connection per device; drop -k");
	if (o->n + o->warm > LOAD_MAX_REQUESTS)
		die("-n plus -w must not exceed %d", LOAD_MAX_REQUESTS);
	if (o->label == NULL)
		o->label = o->op;
}

/* Splits https://host[:port]/path into t and resolves the host. */
static void
parse_url(const char *url, struct target *t)
{
	const char     *p, *hend, *path;
	size_t          hl;
	struct addrinfo hints;
	int             ret;

	memset(t, 0, sizeof(*t));
	if (strlen(url) >= LOAD_MAX_URL || strncmp(url, "https://", 8) != 0)
		die("the URL must start with https:// (got %s)", url);
	p = url + 8;
	path = p + strcspn(p, "/");
	if (*p == '[') {
		if ((hend = memchr(p, ']', (size_t)(path - p))) == NULL)
			die("bad IPv6 host in %s", url);
		hl = (size_t)(hend - p - 1);
		memcpy(t->host, p + 1, hl < LOAD_MAX_HOST ? hl : 0);
		p = hend + 1;
	} else {
		hend = p + strcspn(p, ":/");
		hl = (size_t)(hend - p);
		if (hl >= LOAD_MAX_HOST)
			die("host name too long");
		memcpy(t->host, p, hl);
		p = hend;
	}
	if (t->host[0] == '\0')
		die("no host in %s", url);
	if (*p == ':') {
		hl = (size_t)(path - p - 1);
		if (hl == 0 || hl >= sizeof(t->port))
			die("bad port in %s", url);
		memcpy(t->port, p + 1, hl);
	} else
		snprintf(t->port, sizeof(t->port), "%s", LOAD_PORT_DEFAULT);
	snprintf(t->base, sizeof(t->base), "%s", *path ? path : "/");
	hl = strlen(t->base);
	while (hl > 0 && t->base[hl - 1] == '/')
		t->base[--hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((ret = getaddrinfo(t->host, t->port, &hints, &t->ai)) != 0)
		die("%s: %s", t->host, gai_strerror(ret));
}

/* Makes a new key of the run's type.  Returns it (caller frees). */
static EVP_PKEY *
new_key(int rsa)
{
	EVP_PKEY *k;

	k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)LOAD_RSA_BITS)
	        : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		die("key generation failed");
	return k;
}

/* Returns a DER CSR for CN=id signed by key, base64 on one line
 * (RFC 8951 allows it); malloc'd, caller frees. */
static char *
make_csr_b64(const char *id, EVP_PKEY *key, size_t *len)
{
	X509_REQ      *req;
	X509_NAME     *name;
	unsigned char *der = NULL, *p;
	char          *b64;
	int            dlen;

	if ((req = X509_REQ_new()) == NULL ||
	    (name = X509_REQ_get_subject_name(req)) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)id, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (dlen = i2d_X509_REQ(req, NULL)) <= 0 ||
	    (der = malloc((size_t)dlen)) == NULL)
		die("cannot build a CSR");
	p = der;
	i2d_X509_REQ(req, &p);
	if ((b64 = malloc(4 * (((size_t)dlen + 2) / 3) + 1)) == NULL)
		die("out of memory");
	*len = (size_t)EVP_EncodeBlock((unsigned char *)b64, der, dlen);
	free(der);
	X509_REQ_free(req);
	return b64;
}

/* Returns "Authorization: Basic ...\r\n" for user:pass (malloc'd), or
 * an empty string when up is NULL. */
static char *
auth_header(const char *up)
{
	size_t n;
	char  *h;
	int    off;

	if (up == NULL)
		return strdup("");
	n = strlen(up);
	if ((h = malloc(4 * ((n + 2) / 3) + 64)) == NULL)
		die("out of memory");
	off = sprintf(h, "Authorization: Basic ");
	off += EVP_EncodeBlock((unsigned char *)h + off,
	    (const unsigned char *)up, (int)n);
	strcpy(h + off, "\r\n");
	return h;
}

/* Builds the HTTP/1.1 request for op (GET for cacerts, else POST of
 * body) into a malloc'd buffer; sets *len. */
static char *
make_request(const struct target *t, const char *op, const char *auth,
    const char *body, size_t body_len, int keepalive, size_t *len)
{
	size_t cap = strlen(t->base) + strlen(op) + strlen(auth) +
	    strlen(t->host) + body_len + 512;
	char  *r;
	int    n;

	if ((r = malloc(cap)) == NULL)
		die("out of memory");
	if (body == NULL)
		n = snprintf(r, cap, "GET %s/%s HTTP/1.1\r\nHost: %s:%s\r\n"
		    "User-Agent: " LOAD_UA "\r\n%s%s\r\n", t->base, op,
		    t->host, t->port, auth,
		    keepalive ? "" : "Connection: close\r\n");
	else
		n = snprintf(r, cap, "POST %s/%s HTTP/1.1\r\nHost: %s:%s\r\n"
		    "User-Agent: " LOAD_UA "\r\nContent-Type: "
		    "application/pkcs10\r\nContent-Length: %zu\r\n%s%s\r\n%s",
		    t->base, op, t->host, t->port, body_len, auth,
		    keepalive ? "" : "Connection: close\r\n", body);
	if (n < 0 || (size_t)n >= cap)
		die("request too long");
	*len = (size_t)n;
	return r;
}

/* ---- connections ------------------------------------------------------ */

/* Closes c (a TLS close_notify, then the socket). */
static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->used = 0;
}

/* Connects c to the target and completes the TLS handshake, with the
 * job's own certificate when it has one.  Returns 0 or -1. */
static int
conn_open(struct conn *c, const struct phase *ph, struct job *j)
{
	long long           t = now_ns();
	static atomic_uint  next_source;
	struct addrinfo    *ai;
	struct sockaddr_in  src;
	unsigned            n;
	int                 one = 1;

	c->fd = -1;
	c->ssl = NULL;
	c->used = 0;
	for (ai = ph->t->ai; ai != NULL; ai = ai->ai_next) {
		if ((c->fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) < 0)
			continue;
		/* To a loopback server, each connection from the next of
		 * many source addresses: from one, the ~28,000 ephemeral
		 * ports come round again within the server's TIME_WAIT
		 * (60 s; it closes first) at a few hundred connections a
		 * second, and a SYN meeting such a socket waits 1 s for
		 * its retransmission: seconds-long outliers in the rows
		 * that are the test tool's, not the server's. */
		if (ai->ai_family == AF_INET && (ntohl(((struct sockaddr_in *)
		    (void *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127) {
			n = atomic_fetch_add(&next_source, 1) % LOAD_LO_SOURCES;
			memset(&src, 0, sizeof(src));
			src.sin_family = AF_INET;
			src.sin_addr.s_addr = htonl(0x7f010001u + n);
			(void)bind(c->fd, (struct sockaddr *)&src, sizeof(src));
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(c->fd);
		c->fd = -1;
	}
	if (c->fd < 0)
		return -1;
	j->tcp_ns = now_ns() - t;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->ssl = SSL_new(ph->ctx)) == NULL ||
	    !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_set_tlsext_host_name(c->ssl, ph->t->host))
		goto fail;
	if (ph->o->cafile != NULL &&
	    !SSL_set1_host(c->ssl, ph->t->host))
		goto fail;
	if (j->cert != NULL && (!SSL_use_certificate(c->ssl, j->cert) ||
	    !SSL_use_PrivateKey(c->ssl, j->key)))
		goto fail;
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	j->tls_ns = now_ns() - t - j->tcp_ns;
	return 0;
fail:
	ERR_clear_error();
	conn_close(c);
	return -1;
}

/* Writes all n bytes of buf to c.  Returns 0 or -1. */
static int
conn_write(struct conn *c, const char *buf, size_t n)
{
	size_t done = 0;
	int    w;

	while (done < n) {
		w = SSL_write(c->ssl, buf + done, (int)(n - done));
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* Reads into buf at *have (capacity cap).  Returns bytes read, 0 at
 * EOF, -1 on error. */
static int
conn_read(struct conn *c, char *buf, size_t *have, size_t cap)
{
	int r;

	if (*have >= cap)
		return -1;
	r = SSL_read(c->ssl, buf + *have, (int)(cap - *have));
	if (r <= 0) {
		int e = SSL_get_error(c->ssl, r);

		ERR_clear_error();
		return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
	}
	*have += (size_t)r;
	return r;
}

/* Finds header name (case-insensitive) in the header block head (NUL-
 * terminated, lines end in CRLF).  Returns its value or NULL. */
static const char *
find_header(const char *head, const char *name)
{
	const char *p = head;
	size_t      nl = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

/*
 * Reads one HTTP/1.1 response from c into buf (cap bytes): the status
 * line, headers, and a body of Content-Length bytes (or up to EOF when
 * there is none; chunked responses are not supported).  Sets *status,
 * *body and *body_len, *close_after when the server will close.  Returns 0,
 * or -1 (with *got_any telling whether any byte arrived).
 */
static int
read_response(struct conn *c, char *buf, size_t cap, int *status,
    const char **body, size_t *body_len, int *close_after, int *got_any)
{
	size_t      have = 0, hlen, want;
	const char *v;
	char       *end;
	long        cl = -1;
	int         r;

	*got_any = 0;
	*close_after = 0;
	for (;;) {
		buf[have] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
		if (have >= LOAD_MAX_HEAD)
			return -1;
		if ((r = conn_read(c, buf, &have, LOAD_MAX_HEAD)) <= 0)
			return -1;
		*got_any = 1;
	}
	hlen = (size_t)(end - buf) + 4;
	*end = '\0';
	if (strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
	    (*status = atoi(buf + 9)) < 100 || *status >= LOAD_STATUS_MAX)
		return -1;
	if ((v = find_header(buf, "Transfer-Encoding")) != NULL &&
	    strncasecmp(v, "chunked", 7) == 0)
		return -1;
	if ((v = find_header(buf, "Content-Length")) != NULL) {
		cl = strtol(v, NULL, 10);
		if (cl < 0 || cl > LOAD_MAX_BODY)
			return -1;
	}
	if ((v = find_header(buf, "Connection")) != NULL &&
	    strncasecmp(v, "close", 5) == 0)
		*close_after = 1;
	if (strncmp(buf, "HTTP/1.0", 8) == 0 &&
	    (v == NULL || strncasecmp(v, "keep-alive", 10) != 0))
		*close_after = 1;
	if (cl < 0)
		*close_after = 1;
	want = cl < 0 ? cap - 1 : hlen + (size_t)cl;
	if (want >= cap)
		return -1;
	while (have < want) {
		if ((r = conn_read(c, buf, &have, want)) < 0)
			return -1;
		if (r == 0) {
			if (cl >= 0)
				return -1;
			break;
		}
	}
	buf[have] = '\0';
	*body = buf + hlen;
	*body_len = have - hlen;
	return 0;
}

/* Decodes base64 b64 (len bytes, line breaks allowed) into a malloc'd
 * buffer *der (caller frees).  Returns its length, or -1. */
static int
b64_to_der(const char *b64, size_t len, unsigned char **der)
{
	EVP_ENCODE_CTX *ectx;
	int             n = 0, m = 0, ret = -1;

	if ((*der = malloc(len + 1)) == NULL)
		return -1;
	if ((ectx = EVP_ENCODE_CTX_new()) == NULL)
		goto out;
	EVP_DecodeInit(ectx);
	if (EVP_DecodeUpdate(ectx, *der, &n, (const unsigned char *)b64,
	    (int)len) >= 0 && EVP_DecodeFinal(ectx, *der + n, &m) >= 0)
		ret = n + m;
	EVP_ENCODE_CTX_free(ectx);
out:
	if (ret < 0) {
		free(*der);
		*der = NULL;
	}
	return ret;
}

/* Decodes a base64 PKCS#7 certs-only body and returns its first
 * certificate (caller frees), or NULL when it is not one. */
static X509 *
p7_first_cert(const char *b64, size_t len)
{
	unsigned char       *der;
	const unsigned char *p;
	PKCS7               *p7 = NULL;
	STACK_OF(X509)      *certs = NULL;
	X509                *x = NULL;
	int                  n;

	if ((n = b64_to_der(b64, len, &der)) < 0)
		return NULL;
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, n)) == NULL ||
	    !PKCS7_type_is_signed(p7) || p7->d.sign == NULL)
		goto out;
	certs = p7->d.sign->cert;
	if (sk_X509_num(certs) > 0 && (x = sk_X509_value(certs, 0)) != NULL)
		X509_up_ref(x);
out:
	ERR_clear_error();
	PKCS7_free(p7);
	free(der);
	return x;
}

/* Reads the DER header at *p (end at end) into its tag, class and
 * content length and moves *p to the content.  Returns 0, or -1 when it
 * is malformed or runs past end. */
static int
der_next(const unsigned char **p, const unsigned char *end, int *tag,
    int *cls, long *clen)
{
	if (*p >= end || (ASN1_get_object(p, clen, tag, cls, end - *p) &
	    0x80) || *clen > end - *p)
		return -1;
	return 0;
}

/*
 * The cheap check of a body whose certificate is not kept: base64 of a
 * DER ContentInfo spanning all of it, signedData (RFC 5652 5.1) whose
 * SignedData holds certificates ([0] after version, digestAlgorithms
 * and encapContentInfo).  Decoding the certificate itself would cost
 * the load tool (on the server's cores) more than the server spends
 * signing it.  Returns 1 when the body passes.
 */
static int
p7_looks_right(const char *b64, size_t len)
{
	static const unsigned char signed_data[] = { 0x2a, 0x86, 0x48, 0x86,
	    0xf7, 0x0d, 0x01, 0x07, 0x02 };
	unsigned char       *der;
	const unsigned char *p, *end;
	long                 clen;
	int                  n, tag, cls, i, ok = 0;

	if ((n = b64_to_der(b64, len, &der)) < 0)
		return 0;
	p = der;
	end = der + n;
	if (der_next(&p, end, &tag, &cls, &clen) || tag != V_ASN1_SEQUENCE ||
	    p + clen != end ||                          /* ContentInfo */
	    der_next(&p, end, &tag, &cls, &clen) || tag != V_ASN1_OBJECT ||
	    clen != (long)sizeof(signed_data) ||
	    memcmp(p, signed_data, sizeof(signed_data)) != 0)
		goto out;
	p += clen;
	if (der_next(&p, end, &tag, &cls, &clen) ||   /* [0] EXPLICIT */
	    cls != V_ASN1_CONTEXT_SPECIFIC || tag != 0 ||
	    der_next(&p, end, &tag, &cls, &clen) || tag != V_ASN1_SEQUENCE)
		goto out;                                 /* SignedData */
	for (i = 0; i < 3; i++) {   /* version, digestAlgorithms, encap. */
		if (der_next(&p, end, &tag, &cls, &clen))
			goto out;
		p += clen;
	}
	if (der_next(&p, end, &tag, &cls, &clen) == 0 &&
	    cls == V_ASN1_CONTEXT_SPECIFIC && tag == 0 && clen > 0)
		ok = 1;                                   /* certificates */
out:
	free(der);
	return ok;
}

/*
 * Sends job j on c (opening it when needed) and reads the answer into
 * j->status.  On a kept-alive connection that the server had closed
 * (nothing came back), reconnects and sends once more.
 */
static void
do_job(struct phase *ph, struct conn *c, struct job *j, char *buf,
    size_t cap)
{
	const char *body = NULL;
	size_t      body_len = 0;
	int         status = 0, close_after = 0, got_any = 0, tries;
	X509       *x;

	for (tries = 0; tries < 2; tries++) {
		int reused = c->ssl != NULL;

		if (c->ssl == NULL && conn_open(c, ph, j) != 0) {
			j->status = LOAD_ERR_CONNECT;
			return;
		}
		c->used++;
		if (conn_write(c, j->req, j->req_len) == 0 &&
		    read_response(c, buf, cap, &status, &body, &body_len,
		    &close_after, &got_any) == 0)
			break;
		conn_close(c);
		if (!reused || got_any) {
			j->status = LOAD_ERR_IO;
			return;
		}
	}
	if (tries == 2) {
		j->status = LOAD_ERR_IO;
		return;
	}
	j->status = status;
	if (status == 200 && ph->expect_p7) {
		if (!ph->keep_cert) {
			if (!p7_looks_right(body, body_len))
				j->status = LOAD_ERR_BODY;
		} else if ((x = p7_first_cert(body, body_len)) == NULL)
			j->status = LOAD_ERR_BODY;
		else
			j->cert = x;
	}
	if (!ph->keepalive || close_after)
		conn_close(c);
}

/* A client thread: takes the next job until none is left or time is up. */
static void *
client(void *arg)
{
	struct phase *ph = arg;
	struct conn   c = { -1, NULL, 0 };
	struct job   *j;
	char         *buf;
	size_t        cap = LOAD_MAX_HEAD + LOAD_MAX_BODY + 1;
	long long     t;
	long          i;

	if ((buf = malloc(cap)) == NULL)
		die("out of memory");
	pthread_barrier_wait(&ph->start);
	for (;;) {
		i = atomic_fetch_add(&ph->next, 1);
		if (i >= ph->count)
			break;
		j = &ph->jobs[ph->first + i];
		t = now_ns();
		if (t >= ph->deadline) {
			j->status = LOAD_ERR_SKIPPED;
			continue;
		}
		j->start_ns = t - ph->t0;
		do_job(ph, &c, j, buf, cap);
		j->lat_ns = now_ns() - t;
		if (j->status < 100 && j->status != LOAD_ERR_BODY)
			usleep(1000); /* no busy loop against a dead server */
	}
	conn_close(&c);
	t = now_ns();
	pthread_mutex_lock(&ph->end_mu);
	if (t > ph->t_end)
		ph->t_end = t;
	pthread_mutex_unlock(&ph->end_mu);
	free(buf);
	return NULL;
}

/* Runs jobs [first, first+count) with o->conc clients; returns the
 * elapsed nanoseconds from the common start to the last answer. */
static long long
run_phase(struct phase *ph)
{
	pthread_t *th;
	int        i, n = ph->o->conc;

	if (n > ph->count)
		n = (int)ph->count;
	if ((th = calloc((size_t)n, sizeof(*th))) == NULL)
		die("out of memory");
	atomic_store(&ph->next, 0);
	pthread_barrier_init(&ph->start, NULL, (unsigned)n + 1);
	pthread_mutex_init(&ph->end_mu, NULL);
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, client, ph) != 0)
			die("cannot start a client thread");
	ph->t0 = now_ns();
	ph->t_end = ph->t0;
	ph->deadline = ph->t0 + (long long)ph->o->secs * LOAD_NS;
	pthread_barrier_wait(&ph->start);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&ph->start);
	pthread_mutex_destroy(&ph->end_mu);
	free(th);
	return ph->t_end - ph->t0;
}

/* qsort comparison of latencies. */
static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* Returns the q-quantile (0..1) of sorted v[0..n) in milliseconds
 * (nearest rank). */
static double
quantile_ms(const long long *v, long n, double q)
{
	long k;

	if (n == 0)
		return 0;
	k = (long)(q * (double)n + 0.999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return (double)v[k] / 1e6;
}

/* Prints the table row (and header unless quiet) for the timed jobs.
 * Returns 0 when every answer was the expected 200. */
static int
report(const struct opts *o, const struct job *jobs, long first, long n,
    long long elapsed)
{
	static const char *const pseudo[] = { "connect-error", "io-error",
	    "bad-body", "not-sent" };
	long       counts[LOAD_STATUS_MAX];
	long long *lat;
	long       i, done = 0, ok = 0;
	double     secs = (double)elapsed / 1e9;
	char       st[512];
	size_t     off = 0;
	int        s;

	memset(counts, 0, sizeof(counts));
	if ((lat = malloc((size_t)n * sizeof(*lat))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		s = jobs[first + i].status;
		counts[s]++;
		if (s == LOAD_ERR_SKIPPED)
			continue;
		lat[done++] = jobs[first + i].lat_ns;
		if (s == 200)
			ok++;
	}
	qsort(lat, (size_t)done, sizeof(*lat), cmp_ll);
	st[0] = '\0';
	for (s = 0; s < LOAD_STATUS_MAX && off < sizeof(st) - 32; s++) {
		if (counts[s] == 0)
			continue;
		if (s < (int)(sizeof(pseudo) / sizeof(pseudo[0])))
			off += (size_t)snprintf(st + off, sizeof(st) - off,
			    "%s%s=%ld", off ? "," : "", pseudo[s], counts[s]);
		else
			off += (size_t)snprintf(st + off, sizeof(st) - off,
			    "%s%d=%ld", off ? "," : "", s, counts[s]);
	}
	if (!o->quiet)
		printf("%-22s %-4s %-3s %4s %7s %7s %9s %7s %7s %7s %8s  %s\n",
		    "label", "conn", "tls", "c", "sent", "ok", "req/s",
		    "p50ms", "p90ms", "p99ms", "maxms", "statuses");
	printf("%-22s %-4s %-3s %4d %7ld %7ld %9.1f %7.2f %7.2f %7.2f %8.2f  %s\n",
	    o->label, o->keepalive ? "keep" : "new",
	    o->tls == 12 ? "1.2" : o->tls == 13 ? "1.3" : "any", o->conc,
	    done, ok, secs > 0 ? (double)done / secs : 0,
	    quantile_ms(lat, done, 0.50), quantile_ms(lat, done, 0.90),
	    quantile_ms(lat, done, 0.99), done ? (double)lat[done - 1] / 1e6 : 0,
	    st);
	fflush(stdout);
	free(lat);
	return ok == n ? 0 : 1;
}

/* Makes the client TLS context of the run. */
static SSL_CTX *
make_ctx(const struct opts *o)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new failed");
	/* Each connection is a new device: no session resumption. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_min_proto_version(ctx, o->tls == 13 ? TLS1_3_VERSION
	    : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, o->tls == 12 ? TLS1_2_VERSION
	    : 0))
		die("cannot set the TLS version");
	if (o->cafile != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, o->cafile, NULL))
			die("cannot read %s", o->cafile);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (o->cert_file != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key_file,
	    SSL_FILETYPE_PEM) != 1))
		die("cannot use %s / %s", o->cert_file, o->key_file);
	return ctx;
}

/*
 * Prepares jobs[0 .. total): a device ID each (prefix + index), a key
 * (P-256 each, or one of LOAD_RSA_KEYS RSA keys), its CSR and the
 * request bytes.  For -R the requests are the bootstrap requests; the
 * timed ones are built after the certificates are in (renew_requests).
 */
static void
prepare(const struct opts *o, const struct target *t, struct job *jobs,
    long total, const char *prefix)
{
	EVP_PKEY *rsa_keys[LOAD_RSA_KEYS] = { NULL };
	char     *auth, *b64, id[LOAD_MAX_ID + 1];
	int       get = strcmp(o->op, "cacerts") == 0;
	long      i;
	size_t    blen = 0;

	auth = auth_header(o->userpass);
	for (i = 0; i < total; i++) {
		struct job *j = &jobs[i];

		if (!get) {
			if (o->rsa) {
				if (rsa_keys[i % LOAD_RSA_KEYS] == NULL)
					rsa_keys[i % LOAD_RSA_KEYS] = new_key(1);
				j->key = rsa_keys[i % LOAD_RSA_KEYS];
				EVP_PKEY_up_ref(j->key);
			} else
				j->key = new_key(0);
			if ((size_t)snprintf(id, sizeof(id), "%s%ld", prefix,
			    i) >= sizeof(id))
				die("device ID prefix too long");
			b64 = make_csr_b64(id, j->key, &blen);
		} else
			b64 = NULL;
		j->req = make_request(t, o->renew ? "bootstrap" : o->op, auth,
		    b64, blen, o->keepalive, &j->req_len);
		free(b64);
	}
	for (i = 0; i < LOAD_RSA_KEYS; i++)
		EVP_PKEY_free(rsa_keys[i]);
	free(auth);
}

/* -R: replaces each bootstrapped job's request with op for the same
 * device and key, authenticated by its certificate (no Basic). */
static long
renew_requests(const struct opts *o, const struct target *t,
    struct job *jobs, long total)
{
	char     *b64;
	X509_NAME *name;
	char      id[LOAD_MAX_ID + 1];
	size_t    blen;
	long      i, bad = 0;

	for (i = 0; i < total; i++) {
		struct job *j = &jobs[i];

		free(j->req);
		j->req = NULL;
		if (j->cert == NULL) {
			bad++;
			j->req = make_request(t, o->op, "", "", 0, 0,
			    &j->req_len);
			continue;
		}
		name = X509_get_subject_name(j->cert);
		if (X509_NAME_get_text_by_NID(name, NID_commonName, id,
		    sizeof(id)) <= 0)
			die("bootstrap certificate without CN");
		b64 = make_csr_b64(id, j->key, &blen);
		j->req = make_request(t, o->op, "", b64, blen, 0, &j->req_len);
		j->status = 0;
		j->lat_ns = j->tcp_ns = j->tls_ns = 0;
		free(b64);
	}
	return bad;
}

/* Writes the timed jobs, one line each in the order sent, to path
 * (-S): start, TCP connect, TLS handshake and whole latency in ms, and
 * the status; dies when it cannot. */
static void
write_trace(const char *path, const struct job *jobs, long first, long n)
{
	FILE *fp;
	long  i;

	if ((fp = fopen(path, "w")) == NULL)
		die("cannot write %s", path);
	fprintf(fp, "# start_ms tcp_ms tls_ms latency_ms status\n");
	for (i = first; i < first + n; i++)
		if (jobs[i].status != LOAD_ERR_SKIPPED)
			fprintf(fp, "%.3f %.3f %.3f %.3f %d\n",
			    (double)jobs[i].start_ns / 1e6,
			    (double)jobs[i].tcp_ns / 1e6,
			    (double)jobs[i].tls_ns / 1e6,
			    (double)jobs[i].lat_ns / 1e6, jobs[i].status);
	if (fclose(fp) != 0)
		die("cannot write %s", path);
}

int
main(int argc, char **argv)
{
	struct opts   o;
	struct target t;
	struct phase  ph;
	struct job   *jobs;
	char          prefix[LOAD_MAX_ID + 1];
	unsigned char rnd[4];
	long          total, i;
	long long     elapsed;
	int           rc;

	/* A server that drops a connection: a write to it must fail
	 * (EPIPE), not kill the load tool with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	parse_opts(argc, argv, &o);
	parse_url(o.url, &t);
	if (o.prefix != NULL)
		snprintf(prefix, sizeof(prefix), "%s", o.prefix);
	else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			die("RAND_bytes failed");
		snprintf(prefix, sizeof(prefix), "load-%02x%02x%02x%02x-",
		    rnd[0], rnd[1], rnd[2], rnd[3]);
	}
	total = o.n + o.warm;
	if ((jobs = calloc((size_t)total, sizeof(*jobs))) == NULL)
		die("out of memory");
	prepare(&o, &t, jobs, total, prefix);

	memset(&ph, 0, sizeof(ph));
	ph.o = &o;
	ph.t = &t;
	ph.ctx = make_ctx(&o);
	ph.jobs = jobs;
	ph.expect_p7 = 1;
	ph.keepalive = o.keepalive;
	if (o.renew) {
		/* Untimed: every device gets its certificate first. */
		ph.first = 0;
		ph.count = total;
		ph.keep_cert = 1;
		(void)run_phase(&ph);
		if ((i = renew_requests(&o, &t, jobs, total)) > 0)
			fprintf(stderr, "estload: %ld of %ld bootstraps "
			    "failed\n", i, total);
		ph.keep_cert = 0;
	}
	if (o.warm > 0) {
		ph.first = 0;
		ph.count = o.warm;
		(void)run_phase(&ph);
	}
	ph.first = o.warm;
	ph.count = o.n;
	elapsed = run_phase(&ph);
	rc = report(&o, jobs, o.warm, o.n, elapsed);
	if (o.trace != NULL)
		write_trace(o.trace, jobs, o.warm, o.n);

	for (i = 0; i < total; i++) {
		free(jobs[i].req);
		EVP_PKEY_free(jobs[i].key);
		X509_free(jobs[i].cert);
	}
	free(jobs);
	SSL_CTX_free(ph.ctx);
	freeaddrinfo(t.ai);
	return rc;
}
