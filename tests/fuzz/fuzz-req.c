/*
 * fuzz-req.c — libFuzzer target for request parsing: req_init() with a
 * fake web-server environment and body taken from the input, then what
 * handlers do with a request (Content-Type match, query parameters,
 * URL decoding) and the response written back.
 *
 * Input: up to FZ_NVARS lines give, in order, REQUEST_METHOD,
 * CONTENT_TYPE, CONTENT_LENGTH, REQUEST_URI, QUERY_STRING, PATH_INFO,
 * SCRIPT_NAME, REMOTE_USER, SSL_CLIENT_VERIFY, HTTP_ORIGIN, HTTP_HOST
 * (a line "-" leaves the variable unset); the rest is the body, read
 * in pieces whose size the first body byte sets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"

#define FZ_NVARS    11
#define FZ_VAR_MAX  4096 /* longest variable value kept */
#define FZ_OUT_MAX  (EST_MAX_BODY * 4) /* response bytes collected */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_names[FZ_NVARS] = {
	"REQUEST_METHOD", "CONTENT_TYPE", "CONTENT_LENGTH", "REQUEST_URI",
	"QUERY_STRING", "PATH_INFO", "SCRIPT_NAME", "REMOTE_USER",
	"SSL_CLIENT_VERIFY", "HTTP_ORIGIN", "HTTP_HOST"
};

struct fz_env {
	char          *vals[FZ_NVARS];  /* NULL: unset */
	const uint8_t *body;
	size_t         body_len, off, piece;
	size_t         out_len;
};

/* est_getenv_fn over the parsed variables. */
static const char *
fz_getenv(const char *name, void *arg)
{
	struct fz_env *e = arg;
	size_t         i;

	for (i = 0; i < FZ_NVARS; i++)
		if (strcmp(name, fz_names[i]) == 0)
			return e->vals[i];
	return NULL;
}

/* est_read_fn: the body in pieces of e->piece bytes. */
static long
fz_read(char *buf, size_t n, void *arg)
{
	struct fz_env *e = arg;
	size_t         k = e->body_len - e->off;

	if (k > n)
		k = n;
	if (k > e->piece)
		k = e->piece;
	memcpy(buf, e->body + e->off, k);
	e->off += k;
	return (long)k;
}

/* est_write_fn: counts (and bounds) what would be sent. */
static int
fz_write(const char *buf, size_t n, void *arg)
{
	struct fz_env *e = arg;

	(void)buf;
	if (n > FZ_OUT_MAX - e->out_len)
		abort(); /* a response far larger than any we make */
	e->out_len += n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_env   e;
	struct est_req  req;
	struct est_resp resp;
	const uint8_t  *p = data, *nl;
	size_t          i, left = size, n;
	char            val[EST_MAX_PARAM + 1];

	memset(&e, 0, sizeof(e));
	for (i = 0; i < FZ_NVARS && left > 0; i++) {
		nl = memchr(p, '\n', left);
		n = nl != NULL ? (size_t)(nl - p) : left;
		if (!(n == 1 && p[0] == '-') && n <= FZ_VAR_MAX &&
		    memchr(p, '\0', n) == NULL) {
			if ((e.vals[i] = malloc(n + 1)) == NULL)
				abort();
			memcpy(e.vals[i], p, n);
			e.vals[i][n] = '\0';
		}
		p += n;
		left -= n;
		if (nl != NULL) {
			p++;
			left--;
		}
	}
	e.piece = left > 0 ? (size_t)p[0] % 64 + 1 : 1;
	e.body = p;
	e.body_len = left;

	est_reason_clear();
	req_init(&req, fz_getenv, fz_read, &e);
	if (req.body != NULL && (req.body_len > EST_MAX_BODY + 1 ||
	    req.body[req.body_len] != '\0'))
		abort();
	(void)content_type_is(req.content_type, "application/pkcs10");
	if (req.query != NULL) {
		(void)query_param(req.query, "limit", val, sizeof(val));
		(void)query_param(req.query, "q", val, sizeof(val));
		(void)query_param(req.query, "", val, sizeof(val));
	}
	if (req.request_uri != NULL)
		(void)url_decode(req.request_uri, strlen(req.request_uri), val,
		    sizeof(val));
	resp_init(&resp);
	if (req.body_err != EST_OK)
		resp_error(&resp, req.body_err);
	else if (req.body != NULL &&
	    resp_text(&resp, 200, req.body) != EST_OK)
		abort();
	(void)resp_write(&resp, fz_write, &e);
	resp_free(&resp);
	req_free(&req);
	for (i = 0; i < FZ_NVARS; i++)
		free(e.vals[i]);
	return 0;
}
