/*
 * http.c — the request as the web server hands it over (CGI/FastCGI
 * variables and body) and the response as we write it back.
 *
 * RFC 7030 3.2 / RFC 8951: bodies are base64 of DER; RFC 7230 3.3.2:
 * every response carries Content-Length (libest's client needs it).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "est.h"

#define HTTP_HEAD_MAX 4096 /* longest response header block we write */

/* Returns env var name via get(), or def when unset. */
static const char *
req_var(est_getenv_fn get, void *arg, const char *name, const char *def)
{
	const char *v = get(name, arg);

	return v != NULL ? v : def;
}

/*
 * Parses CONTENT_LENGTH (RFC 7230 3.3.2: 1*DIGIT).  Returns EST_OK with
 * *len set, EST_ERR_BAD_REQUEST when malformed, EST_ERR_TOO_LARGE when
 * over EST_MAX_BODY (checked before anything is read or allocated).
 */
static enum est_err
parse_content_length(const char *s, size_t *len)
{
	char     *end;
	long long v;
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return est_fail(EST_ERR_BAD_REQUEST,
			    "malformed Content-Length");
	if (*s == '\0')
		return est_fail(EST_ERR_BAD_REQUEST, "empty Content-Length");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || v > EST_MAX_BODY)
		return est_fail(EST_ERR_TOO_LARGE,
		    "request body larger than %d bytes", EST_MAX_BODY);
	if (errno != 0 || *end != '\0' || v < 0)
		return est_fail(EST_ERR_BAD_REQUEST, "malformed Content-Length");
	*len = (size_t)v;
	return EST_OK;
}

/*
 * Reads the body into req->body: exactly *len bytes when the length is
 * known (a short read is an error), else until EOF (mod_cgid passes a
 * chunked body with no CONTENT_LENGTH), at most EST_MAX_BODY bytes.
 */
static enum est_err
read_body(struct est_req *req, est_read_fn rd, void *arg, int known,
    size_t len)
{
	size_t cap = known ? len : EST_MAX_BODY + 1, got = 0;
	long   n;

	if ((req->body = malloc(cap + 1)) == NULL)
		return EST_ERR_NOMEM;
	while (got < cap) {
		n = rd(req->body + got, cap - got, arg);
		if (n < 0)
			return est_fail(EST_ERR_BAD_REQUEST,
			    "error reading request body");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	req->body[got] = '\0';
	req->body_len = got;
	if (known && got != len)
		return est_fail(EST_ERR_BAD_REQUEST,
		    "request body shorter than Content-Length");
	if (!known && got > EST_MAX_BODY)
		return est_fail(EST_ERR_TOO_LARGE,
		    "request body larger than %d bytes", EST_MAX_BODY);
	return EST_OK;
}

/*
 * Fills req from the request's variables and reads its body (for a
 * method that carries one).  Never fails: a body problem is kept in
 * req->body_err for the handler that needs the body.  The strings
 * borrow from the environment; req_free() releases the body.
 */
void
req_init(struct est_req *req, est_getenv_fn get, est_read_fn rd, void *arg)
{
	const char *cl;
	size_t      len = 0;
	int         known;

	memset(req, 0, sizeof(*req));
	req->method = req_var(get, arg, "REQUEST_METHOD", "GET");
	req->content_type = get("CONTENT_TYPE", arg);
	req->remote_user = get("REMOTE_USER", arg);
	req->client_verify = get("SSL_CLIENT_VERIFY", arg);
	req->client_cert = get("SSL_CLIENT_CERT", arg);
	req->remote_addr = req_var(get, arg, "REMOTE_ADDR", "");
	req->user_agent = req_var(get, arg, "HTTP_USER_AGENT", "");
	req->path_info = req_var(get, arg, "PATH_INFO", "");
	req->request_uri = req_var(get, arg, "REQUEST_URI", "");
	req->script_name = req_var(get, arg, "SCRIPT_NAME", "");
	req->query = req_var(get, arg, "QUERY_STRING", "");
	req->origin = get("HTTP_ORIGIN", arg);
	req->host = req_var(get, arg, "HTTP_HOST", "");
	req->admin_marker = get("HTTP_X_EST_ADMIN", arg);
	if (req->remote_user != NULL && *req->remote_user == '\0')
		req->remote_user = NULL;

	cl = get("CONTENT_LENGTH", arg);
	known = cl != NULL && *cl != '\0';
	if (known) {
		req->body_err = parse_content_length(cl, &len);
		if (req->body_err != EST_OK || len == 0)
			return;
	} else if (strcmp(req->method, "POST") != 0 &&
	    strcmp(req->method, "PUT") != 0)
		return;
	req->body_err = read_body(req, rd, arg, known, len);
}

/* Frees the body req_init() read. */
void
req_free(struct est_req *req)
{
	free(req->body);
	req->body = NULL;
}

/*
 * Returns 1 when the media type of ctype (RFC 7231 3.1.1.1: parameters
 * after ';' ignored, case-insensitive, surrounding blanks ignored) is
 * exactly want; "application/pkcs10-foo" is not "application/pkcs10".
 */
int
content_type_is(const char *ctype, const char *want)
{
	size_t n, wl = strlen(want);

	if (ctype == NULL)
		return 0;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	n = strcspn(ctype, "; \t");
	if (n != wl || strncasecmp(ctype, want, wl) != 0)
		return 0;
	ctype += n;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	return *ctype == '\0' || *ctype == ';';
}

/* Returns the value of hex digit c, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes in[0..inlen) (RFC 3986 2.1) into out (outsz bytes,
 * NUL-terminated); '+' is a space when plus_is_space (HTML forms'
 * query strings), a plain '+' otherwise (paths).  A malformed escape, a
 * decoded NUL or control byte, or output that does not fit is
 * EST_ERR_BAD_REQUEST: values are device IDs and filters, never binary.
 */
static enum est_err
pct_decode(const char *in, size_t inlen, char *out, size_t outsz,
    int plus_is_space)
{
	size_t i, o = 0;
	int    hi, lo;
	char   c;

	for (i = 0; i < inlen; i++) {
		c = in[i];
		if (c == '+' && plus_is_space)
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= inlen)
				return est_fail(EST_ERR_BAD_REQUEST,
				    "truncated %%-escape in the URL");
			if ((hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0)
				return est_fail(EST_ERR_BAD_REQUEST,
				    "bad %%-escape in the URL");
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f)
			return est_fail(EST_ERR_BAD_REQUEST,
			    "control character in the URL");
		if (o + 1 >= outsz)
			return est_fail(EST_ERR_BAD_REQUEST,
			    "URL value longer than %zu bytes", outsz - 1);
		out[o++] = c;
	}
	out[o] = '\0';
	return EST_OK;
}

/* Decodes a query-string value ('+' is a space); see pct_decode(). */
enum est_err
url_decode(const char *in, size_t inlen, char *out, size_t outsz)
{
	return pct_decode(in, inlen, out, outsz, 1);
}

/* Decodes a path segment ('+' is itself); see pct_decode(). */
enum est_err
path_decode(const char *in, size_t inlen, char *out, size_t outsz)
{
	return pct_decode(in, inlen, out, outsz, 0);
}

/*
 * Finds name in an application/x-www-form-urlencoded query string and
 * decodes its value into out.  Returns EST_OK, EST_ERR_NOT_FOUND when
 * absent (out is ""), or url_decode()'s error.
 */
enum est_err
query_param(const char *query, const char *name, char *out, size_t outsz)
{
	size_t      nlen = strlen(name), plen;
	const char *p = query;

	if (outsz > 0)
		out[0] = '\0';
	while (p != NULL && *p != '\0') {
		plen = strcspn(p, "&;");
		if (plen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
			return url_decode(p + nlen + 1, plen - nlen - 1, out,
			    outsz);
		if (plen == nlen && strncmp(p, name, nlen) == 0)
			return EST_OK; /* "name" alone: empty value */
		p += plen;
		if (*p != '\0')
			p++;
	}
	return EST_ERR_NOT_FOUND;
}

/* Sets up an empty 200 response. */
void
resp_init(struct est_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
}

/* Writes t as an HTTP date (RFC 7231 7.1.1.1, IMF-fixdate) into buf of
 * size n.  Returns 0, or -1 when it does not fit. */
int
http_date(time_t t, char *buf, size_t n)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, n,
	    "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		return -1;
	return 0;
}

/* Makes the growing buffer b the response body of content type ctype
 * (resp owns it afterwards; b is emptied).  Returns EST_OK, or b's
 * error after freeing it. */
enum est_err
resp_take_buf(struct est_resp *resp, struct est_buf *b, const char *ctype)
{
	enum est_err rc = b->err;

	if (rc != EST_OK) {
		buf_free(b);
		return rc;
	}
	free(resp->body);
	resp->body = b->data;
	resp->body_len = b->len;
	resp->content_type = ctype;
	memset(b, 0, sizeof(*b));
	return EST_OK;
}

/* Frees the response body. */
void
resp_free(struct est_resp *resp)
{
	/* A body holding a private key (serverkeygen) is wiped first. */
	if (resp->secret && resp->body != NULL)
		OPENSSL_cleanse(resp->body, resp->body_len);
	free(resp->body);
	resp->body = NULL;
	free(resp->headers);
	resp->headers = NULL;
}

/*
 * Replaces resp with a text/plain response of the given status whose
 * body is text plus a newline (one line).  Returns EST_OK or NOMEM.
 */
enum est_err
resp_text(struct est_resp *resp, int status, const char *text)
{
	size_t n = strlen(text);

	if (resp->secret && resp->body != NULL)
		OPENSSL_cleanse(resp->body, resp->body_len);
	resp->secret = 0;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->transfer_enc = NULL;
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	if ((resp->body = malloc(n + 2)) == NULL)
		return EST_ERR_NOMEM;
	memcpy(resp->body, text, n);
	resp->body[n] = '\n';
	resp->body[n + 1] = '\0';
	resp->body_len = n + 1;
	return EST_OK;
}

/*
 * Turns resp into the error response for e: its status (EST_ERRORS), a
 * one-line text/plain reason, Retry-After on 202, 429 and 503 (the
 * handler's value, else EST_RETRY_AFTER_SECS), WWW-Authenticate on
 * 401.  The Allow header a handler set for 405 is kept.
 */
void
resp_error(struct est_resp *resp, enum est_err e)
{
	int status = est_err_status(e);

	if (resp_text(resp, status, est_reason(e)) != EST_OK)
		resp->status = 500;
	/* RFC 7030 4.2.3 (202), RFC 6585 4 (429), RFC 7231 6.6.4 (503):
	 * when to retry; a handler may have set its own value. */
	if ((status == 202 || status == 429 || status == 503) &&
	    resp->retry_after <= 0)
		resp->retry_after = EST_RETRY_AFTER_SECS;
	if (status == 401)
		resp->www_auth = 1;
}

/* Returns the RFC 7231 reason phrase for the statuses we send. */
const char *
http_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default:  return status >= 500 ? "Internal Server Error" : "Error";
	}
}

/*
 * Writes resp through wr: as a CGI response (a Status header) or, when
 * nph, as a whole HTTP/1.1 response (status line, Date, Connection:
 * close) the web server passes on untouched.  head_only leaves out the
 * body (RFC 7231 4.3.2: HEAD), keeping its Content-Length.  Returns 0, or
 * -1 when writing failed.
 */
static int
resp_write_as(const struct est_resp *resp, int nph, int head_only,
    est_write_fn wr, void *arg)
{
	char      head[HTTP_HEAD_MAX], date[EST_HTTP_DATE_MAX];
	size_t    off = 0;
	int       n;

#define HEAD_ADD(...)                                                       \
	do {                                                                \
		n = snprintf(head + off, sizeof(head) - off, __VA_ARGS__);  \
		if (n < 0 || (size_t)n >= sizeof(head) - off)               \
			return -1;                                          \
		off += (size_t)n;                                           \
	} while (0)

	if (nph) {
		/* RFC 7231 7.1.1.2: an origin server with a clock sends Date. */
		if (http_date(time(NULL), date, sizeof(date)) != 0)
			return -1;
		HEAD_ADD("HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\n",
		    resp->status, http_reason_phrase(resp->status), date);
	} else
		HEAD_ADD("Status: %d %s\r\n", resp->status,
		    http_reason_phrase(resp->status));
	if (resp->content_type != NULL)
		HEAD_ADD("Content-Type: %s\r\n", resp->content_type);
	if (resp->transfer_enc != NULL)
		HEAD_ADD("Content-Transfer-Encoding: %s\r\n", resp->transfer_enc);
	if (resp->allow != NULL)
		HEAD_ADD("Allow: %s\r\n", resp->allow);
	if (resp->retry_after > 0)
		HEAD_ADD("Retry-After: %d\r\n", resp->retry_after);
	if (resp->www_auth)
		HEAD_ADD("WWW-Authenticate: Basic realm=\"estcgi\"\r\n");
	/* RFC 7234 5.2.2: answers are per request unless the program says
	 * one may be shared (RFC 5019 6.2: OCSP over GET). */
	if (resp->max_age > 0)
		HEAD_ADD("Cache-Control: max-age=%d, public, no-transform, "
		    "must-revalidate\r\n", resp->max_age);
	else
		HEAD_ADD("Cache-Control: no-store\r\n");
	if (resp->headers != NULL)
		HEAD_ADD("%s", resp->headers);
	/* RFC 7230 3.3.2: no Content-Length in a 204. */
	if (resp->status != 204)
		HEAD_ADD("Content-Length: %zu\r\n", resp->body_len);
	HEAD_ADD("\r\n");
#undef HEAD_ADD

	if (wr(head, off, arg) != 0)
		return -1;
	if (!head_only && resp->body_len > 0 &&
	    wr(resp->body, resp->body_len, arg) != 0)
		return -1;
	return 0;
}

/*
 * Writes resp as a CGI response (Status header, headers, Content-Length,
 * body) through wr.  Returns 0, or -1 when writing failed.
 */
int
resp_write(const struct est_resp *resp, est_write_fn wr, void *arg)
{
	return resp_write_as(resp, 0, 0, wr, arg);
}

/*
 * Writes resp as a non-parsed-header CGI response: the complete HTTP/1.1
 * answer, which mod_cgid passes to the client as it is, so it keeps its
 * Content-Length (mod_cgid drops a parsed script's Content-Length and
 * chunks the body when the script has not exited by the time the headers
 * go out).  The connection closes after it.  head_only: HEAD request.
 * Returns 0, or -1 when writing failed.
 */
int
resp_write_nph(const struct est_resp *resp, int head_only, est_write_fn wr,
    void *arg)
{
	return resp_write_as(resp, 1, head_only, wr, arg);
}
