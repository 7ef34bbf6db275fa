/*
 * enroll-storm.c — many concurrent enrollments, each answer recorded, for
 * the fault tests (tests/faults/): what every client received can then
 * be compared with what the store holds (tests/tools/store-dump).
 *
 *   enroll-storm [-n N] [-c C] [-o OP] [-p PREFIX] [-s] [-T SECS]
 *                -u USER:PASS URL > results
 *
 * N requests (default 1000), C at a time (default 16), each on a new TLS
 * connection with HTTP Basic credentials, POST URL/OP (default
 * bootstrap) of a CSR with CN PREFIX-<i> and a fresh P-256 key (-s: all
 * for the one device PREFIX).  No retries: a request broken by a fault
 * is recorded as such.  One line per request on stdout:
 *
 *   DEVICE-ID STATUS SERIAL SHA-256-OF-CERT-DER
 *
 * STATUS is the HTTP status, 0 when the request was sent but no answer
 * came (the connection was cut), or -1 when the server could not be
 * reached for ST_CONNECT_TRIES tries ST_CONNECT_WAIT_MS apart (nothing
 * was sent: a restarting server); SERIAL and the hash (lower-case hex,
 * as store-dump prints them) are "-" unless the answer was a
 * certificate.  Requests
 * not sent before SECS seconds (default 300) are not printed.  A
 * summary of the statuses goes to stderr.  Exit status 0, or 2 on a
 * usage or set-up error.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "est.h"

#define ST_MAX_N       100000  /* most requests */
#define ST_MAX_C       256     /* most concurrent clients */
#define ST_MAX_HOST    256
#define ST_MAX_PATH    512
#define ST_MAX_ID      EST_MAX_DEVICE_ID
#define ST_MAX_REQ     8192    /* request head + body */
#define ST_MAX_RESP    65536   /* response read */
#define ST_STATUSES    600
#define ST_IO_SECS     30      /* socket send/receive timeout */
#define ST_DEFAULT_N   1000
#define ST_DEFAULT_C   16
#define ST_DEFAULT_T   300
#define ST_CONNECT_TRIES 100   /* connection attempts per request ... */
#define ST_CONNECT_WAIT_MS 100 /* ... this far apart */

struct st_opts {
	long        n;
	int         c;
	const char *op;
	const char *prefix;
	int         same;
	int         secs;
	const char *userpass;
	char        host[ST_MAX_HOST];
	char        port[16];
	char        path[ST_MAX_PATH];
};

/* One request's outcome. */
struct st_result {
	int  sent;
	int  status;
	char id[ST_MAX_ID + 1];
	char serial[EST_HEX_SERIAL_MAX];
	char sha[2 * EVP_MAX_MD_SIZE + 1];
};

static struct st_opts    opt;
static struct st_result *results;
static SSL_CTX          *ctx;
static char             *auth_b64;
static atomic_long       next_req;
static time_t            deadline;

/* Prints a message and exits with status 2. */
static void
die(const char *msg)
{
	fprintf(stderr, "enroll-storm: %s\n", msg);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* Splits https://HOST[:PORT]/PATH into opt.host, opt.port, opt.path. */
static void
parse_url(const char *url)
{
	const char *h, *slash, *colon;
	size_t      n;

	if (strncmp(url, "https://", 8) != 0)
		die("URL must start with https://");
	h = url + 8;
	slash = strchr(h, '/');
	if (slash == NULL)
		slash = h + strlen(h);
	colon = memchr(h, ':', (size_t)(slash - h));
	n = (size_t)((colon != NULL ? colon : slash) - h);
	if (n == 0 || n >= sizeof(opt.host))
		die("bad host in URL");
	memcpy(opt.host, h, n);
	snprintf(opt.port, sizeof(opt.port), "%.*s",
	    colon != NULL ? (int)(slash - colon - 1) : 3,
	    colon != NULL ? colon + 1 : "443");
	if (snprintf(opt.path, sizeof(opt.path), "%s", *slash ? slash : "/") >=
	    (int)sizeof(opt.path))
		die("URL path too long");
}

/* Builds the base64 CSR for device id with a fresh P-256 key into *b64
 * (malloc'd).  Returns 0, or -1 on failure. */
static int
make_csr(const char *id, char **b64, size_t *len)
{
	EVP_PKEY      *key = NULL;
	X509_REQ      *req = NULL;
	X509_NAME     *name = NULL;
	unsigned char *der = NULL;
	int            n, rc = -1;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)id, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, &der)) <= 0 ||
	    b64_encode(der, (size_t)n, b64, len) != EST_OK)
		goto out;
	rc = 0;
out:
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}

/* Connects a TCP socket to opt.host:opt.port with I/O timeouts.
 * Returns the descriptor or -1. */
static int
tcp_connect(void)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval  tv = { ST_IO_SECS, 0 };
	int             fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(opt.host, opt.port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype, 0)) == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Records the certificate of a 200 certs-only body (base64 PKCS#7) in r:
 * its serial and the SHA-256 of its DER.  Returns 0, or -1 if the body
 * holds no certificate. */
static int
record_cert(const char *body, size_t len, struct st_result *r)
{
	unsigned char       *der = NULL, *cder = NULL, md[EVP_MAX_MD_SIZE];
	unsigned char        serial[EST_SERIAL_LEN];
	const unsigned char *p;
	PKCS7               *p7 = NULL;
	X509                *x;
	size_t               derlen, slen;
	unsigned int         mdlen;
	int                  n, rc = -1;

	if (b64_decode(body, len, &der, &derlen) != EST_OK)
		return -1;
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)derlen)) == NULL ||
	    !PKCS7_type_is_signed(p7) || p7->d.sign->cert == NULL ||
	    (x = sk_X509_value(p7->d.sign->cert, 0)) == NULL ||
	    ca_cert_serial(x, serial, &slen) != EST_OK ||
	    (n = i2d_X509(x, &cder)) <= 0 ||
	    EVP_Digest(cder, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1)
		goto out;
	est_hex(serial, slen, r->serial);
	est_hex(md, mdlen, r->sha);
	rc = 0;
out:
	OPENSSL_free(cder);
	PKCS7_free(p7);
	free(der);
	return rc;
}

/* Sends request i and fills results[i]. */
static void
one_request(long i)
{
	struct st_result *r = &results[i];
	char             *csr = NULL, *req = NULL, *resp = NULL, *body;
	size_t            csrlen, got = 0;
	SSL              *ssl = NULL;
	int               fd = -1, n, len;

	if (opt.same)
		snprintf(r->id, sizeof(r->id), "%s", opt.prefix);
	else
		snprintf(r->id, sizeof(r->id), "%s-%ld", opt.prefix, i);
	strcpy(r->serial, "-");
	strcpy(r->sha, "-");
	r->sent = 1;
	if (make_csr(r->id, &csr, &csrlen) != 0 ||
	    (req = malloc(ST_MAX_REQ)) == NULL ||
	    (resp = malloc(ST_MAX_RESP + 1)) == NULL)
		die("out of memory or CSR failed");
	len = snprintf(req, ST_MAX_REQ, "POST %s/%s HTTP/1.1\r\nHost: %s\r\n"
	    "Authorization: Basic %s\r\nContent-Type: application/pkcs10\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n"
	    "User-Agent: enroll-storm\r\n\r\n%s", opt.path, opt.op, opt.host,
	    auth_b64, csrlen, csr);
	if (len < 0 || len >= ST_MAX_REQ)
		die("request too long");
	for (n = 0; (fd = tcp_connect()) == -1 && n < ST_CONNECT_TRIES; n++) {
		struct timespec ts = { 0, ST_CONNECT_WAIT_MS * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (fd == -1) {
		r->status = -1;
		goto out;
	}
	if ((ssl = SSL_new(ctx)) == NULL ||
	    !SSL_set_fd(ssl, fd) ||
	    !SSL_set_tlsext_host_name(ssl, opt.host) || SSL_connect(ssl) != 1 ||
	    SSL_write(ssl, req, len) != len)
		goto out;
	while (got < ST_MAX_RESP &&
	    (n = SSL_read(ssl, resp + got, (int)(ST_MAX_RESP - got))) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	if (r->status == 200 && (body = strstr(resp, "\r\n\r\n")) != NULL &&
	    record_cert(body + 4, got - (size_t)(body + 4 - resp), r) != 0)
		r->status = 0; /* a 200 without a certificate: broken */
out:
	ERR_clear_error();
	if (ssl != NULL)
		SSL_free(ssl);
	if (fd != -1)
		close(fd);
	free(csr);
	free(req);
	free(resp);
}

/* A client thread: takes request numbers until none are left or time
 * is up. */
static void *
client(void *arg)
{
	long i;

	(void)arg;
	while ((i = atomic_fetch_add(&next_req, 1)) < opt.n &&
	    time(NULL) < deadline)
		one_request(i);
	return NULL;
}

/* Reads a number in [lo, hi]; dies otherwise. */
static long
num(const char *s, long lo, long hi)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi)
		die("number out of range");
	return v;
}

int
main(int argc, char **argv)
{
	pthread_t *th;
	long       i, counts[ST_STATUSES] = { 0 }, sent = 0, unreached = 0;
	size_t     alen;
	int        ch, k;

	/* A server restarted under load resets connections: a write to
	 * one must fail (EPIPE), not kill every client with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	opt.n = ST_DEFAULT_N;
	opt.c = ST_DEFAULT_C;
	opt.op = "bootstrap";
	opt.prefix = "storm";
	opt.secs = ST_DEFAULT_T;
	while ((ch = getopt(argc, argv, "n:c:o:p:sT:u:")) != -1) {
		switch (ch) {
		case 'n': opt.n = num(optarg, 1, ST_MAX_N); break;
		case 'c': opt.c = (int)num(optarg, 1, ST_MAX_C); break;
		case 'o': opt.op = optarg; break;
		case 'p': opt.prefix = optarg; break;
		case 's': opt.same = 1; break;
		case 'T': opt.secs = (int)num(optarg, 1, 3600); break;
		case 'u': opt.userpass = optarg; break;
		default:  die("usage: enroll-storm [-n N] [-c C] [-o OP] "
		    "[-p PREFIX] [-s] [-T SECS] -u USER:PASS URL");
		}
	}
	if (optind != argc - 1 || opt.userpass == NULL)
		die("usage: enroll-storm [-n N] [-c C] [-o OP] [-p PREFIX] [-s] "
		    "[-T SECS] -u USER:PASS URL");
	if (strlen(opt.prefix) + 8 > ST_MAX_ID)
		die("prefix too long");
	parse_url(argv[optind]);
	est_log_open("enroll-storm", "stderr");
	if (b64_encode((const unsigned char *)opt.userpass, strlen(opt.userpass),
	    &auth_b64, &alen) != EST_OK)
		die("out of memory");
	auth_b64[strcspn(auth_b64, "\n")] = '\0';
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if ((results = calloc((size_t)opt.n, sizeof(*results))) == NULL ||
	    (th = calloc((size_t)opt.c, sizeof(*th))) == NULL)
		die("out of memory");
	deadline = time(NULL) + opt.secs;
	for (k = 0; k < opt.c; k++)
		if (pthread_create(&th[k], NULL, client, NULL) != 0)
			die("pthread_create");
	for (k = 0; k < opt.c; k++)
		pthread_join(th[k], NULL);
	for (i = 0; i < opt.n; i++) {
		if (!results[i].sent)
			continue;
		sent++;
		printf("%s %d %s %s\n", results[i].id, results[i].status,
		    results[i].serial, results[i].sha);
		if (results[i].status >= 0 && results[i].status < ST_STATUSES)
			counts[results[i].status]++;
		else
			unreached++;
	}
	fprintf(stderr, "enroll-storm: %ld sent:", sent);
	if (unreached > 0)
		fprintf(stderr, " unreached=%ld", unreached);
	for (k = 0; k < ST_STATUSES; k++)
		if (counts[k] > 0)
			fprintf(stderr, " %d=%ld", k, counts[k]);
	fprintf(stderr, "\n");
	free(th);
	free(results);
	free(auth_b64);
	SSL_CTX_free(ctx);
	return fflush(stdout) == 0 ? 0 : 2;
}
