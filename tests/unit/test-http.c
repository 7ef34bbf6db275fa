/*
 * test-http.c — request parsing and response writing (common/http.c):
 * Content-Type matching, Content-Length handling and limits, reading
 * bodies with and without a length, the CGI response format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "est.h"

#define T_OUT_MAX 4096 /* largest response captured */

/* A fake request: variables as name=value pairs, a body, and a sink. */
struct fake {
	const char *const *vars;
	const char        *body;
	size_t             body_len, body_off;
	char               out[T_OUT_MAX];
	size_t             out_len;
};

/* Looks up name in the fake's variables. */
static const char *
fake_getenv(const char *name, void *arg)
{
	const struct fake *f = arg;
	size_t             n = strlen(name), i;

	for (i = 0; f->vars[i] != NULL; i++)
		if (strncmp(f->vars[i], name, n) == 0 && f->vars[i][n] == '=')
			return f->vars[i] + n + 1;
	return NULL;
}

/* Hands out the fake body in pieces of at most 7 bytes (short reads). */
static long
fake_read(char *buf, size_t n, void *arg)
{
	struct fake *f = arg;
	size_t       left = f->body_len - f->body_off;

	if (n > 7)
		n = 7;
	if (n > left)
		n = left;
	memcpy(buf, f->body + f->body_off, n);
	f->body_off += n;
	return (long)n;
}

/* Appends the response to the fake's sink. */
static int
fake_write(const char *buf, size_t n, void *arg)
{
	struct fake *f = arg;

	if (f->out_len + n >= sizeof(f->out))
		return -1;
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	f->out[f->out_len] = '\0';
	return 0;
}

/* RFC 7231 3.1.1.1 media types: exact type, parameters ignored. */
static void
content_types(void **state)
{
	(void)state;
	assert_true(content_type_is("application/pkcs10", "application/pkcs10"));
	assert_true(content_type_is("Application/PKCS10", "application/pkcs10"));
	assert_true(content_type_is("application/pkcs10; charset=x",
	    "application/pkcs10"));
	assert_true(content_type_is(" application/pkcs10 ;x=y",
	    "application/pkcs10"));
	assert_false(content_type_is("application/pkcs10-foo",
	    "application/pkcs10"));
	assert_false(content_type_is("application/pkcs1", "application/pkcs10"));
	assert_false(content_type_is("application/pkcs10 x",
	    "application/pkcs10"));
	assert_false(content_type_is("", "application/pkcs10"));
	assert_false(content_type_is(NULL, "application/pkcs10"));
}

/* A body with Content-Length is read exactly, across short reads. */
static void
body_with_length(void **state)
{
	static const char *const vars[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=11", "REMOTE_USER=", NULL };
	struct fake    f = { vars, "hello world", 11, 0, "", 0 };
	struct est_req req;

	(void)state;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_OK);
	assert_int_equal(req.body_len, 11);
	assert_string_equal(req.body, "hello world");
	assert_null(req.remote_user); /* empty REMOTE_USER is nobody */
	req_free(&req);
}

/* Without Content-Length (mod_cgid and a chunked body) read to EOF. */
static void
body_without_length(void **state)
{
	static const char *const vars[] = { "REQUEST_METHOD=POST", NULL };
	struct fake    f = { vars, "abc", 3, 0, "", 0 };
	struct est_req req;

	(void)state;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_OK);
	assert_int_equal(req.body_len, 3);
	req_free(&req);
}

/* Bad and oversized lengths are refused before reading anything. */
static void
body_limits(void **state)
{
	static const char *const big[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=16385", NULL };
	static const char *const huge[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=99999999999999999999999", NULL };
	static const char *const neg[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=-1", NULL };
	static const char *const junk[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=12x", NULL };
	static const char *const shortb[] = { "REQUEST_METHOD=POST",
	    "CONTENT_LENGTH=10", NULL };
	struct fake    f = { big, "", 0, 0, "", 0 };
	struct est_req req;
	char          *over;

	(void)state;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_ERR_TOO_LARGE);
	assert_null(req.body);
	req_free(&req);
	f.vars = huge;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_ERR_TOO_LARGE);
	req_free(&req);
	f.vars = neg;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_ERR_BAD_REQUEST);
	req_free(&req);
	f.vars = junk;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_ERR_BAD_REQUEST);
	req_free(&req);
	f.vars = shortb;
	f.body = "abc";
	f.body_len = 3;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_ERR_BAD_REQUEST);
	req_free(&req);

	/* No length and more than EST_MAX_BODY bytes: 413. */
	over = malloc(EST_MAX_BODY + 10);
	assert_non_null(over);
	memset(over, 'A', EST_MAX_BODY + 10);
	f.vars = (const char *const[]){ "REQUEST_METHOD=POST", NULL };
	f.body = over;
	f.body_len = EST_MAX_BODY + 10;
	f.body_off = 0;
	req_init(&req, fake_getenv, fake_read, &f);
	assert_int_equal(req.body_err, EST_ERR_TOO_LARGE);
	req_free(&req);
	free(over);
}

/* Error responses: status line, one-line reason, Content-Length, and
 * the headers each status needs. */
static void
error_responses(void **state)
{
	static const char *const vars[] = { NULL };
	struct fake     f = { vars, "", 0, 0, "", 0 };
	struct est_resp resp;

	(void)state;
	resp_init(&resp);
	est_reason_clear();
	resp.allow = "POST";
	resp_error(&resp, est_fail(EST_ERR_METHOD, "POST only\r\nX-Evil: 1"));
	assert_int_equal(resp_write(&resp, fake_write, &f), 0);
	assert_non_null(strstr(f.out, "Status: 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(f.out, "Allow: POST\r\n"));
	assert_non_null(strstr(f.out, "Content-Type: text/plain"));
	/* Control bytes in a reason never become header lines. */
	assert_null(strstr(f.out, "\r\nX-Evil"));
	assert_non_null(strstr(f.out, "Content-Length: 21\r\n\r\nPOST only??X-Evil: 1\n"));
	resp_free(&resp);

	f.out_len = 0;
	resp_init(&resp);
	resp_error(&resp, EST_ERR_STORE);
	assert_int_equal(resp_write(&resp, fake_write, &f), 0);
	assert_non_null(strstr(f.out, "Status: 503 "));
	assert_non_null(strstr(f.out, "Retry-After: 5\r\n"));
	resp_free(&resp);

	/* 202 and 429 carry Retry-After too: the handler's value, else
	 * the default. */
	f.out_len = 0;
	resp_init(&resp);
	resp.retry_after = 1234;
	resp_error(&resp, EST_ERR_RATE_LIMITED);
	assert_int_equal(resp_write(&resp, fake_write, &f), 0);
	assert_non_null(strstr(f.out, "Status: 429 Too Many Requests\r\n"));
	assert_non_null(strstr(f.out, "Retry-After: 1234\r\n"));
	resp_free(&resp);
	f.out_len = 0;
	resp_init(&resp);
	resp_error(&resp, EST_PENDING);
	assert_int_equal(resp_write(&resp, fake_write, &f), 0);
	assert_non_null(strstr(f.out, "Status: 202 Accepted\r\n"));
	assert_non_null(strstr(f.out, "Retry-After: 5\r\n"));
	resp_free(&resp);

	f.out_len = 0;
	resp_init(&resp);
	resp_error(&resp, EST_ERR_UNAUTHENTICATED);
	assert_int_equal(resp_write(&resp, fake_write, &f), 0);
	assert_non_null(strstr(f.out, "WWW-Authenticate: Basic realm="));
	resp_free(&resp);
}

/* Non-parsed-header answers (plain CGI under mod_cgid): a whole
 * HTTP/1.1 response with Date and Connection: close, Content-Length
 * kept, no body for HEAD. */
static void
nph_responses(void **state)
{
	static const char *const vars[] = { NULL };
	struct fake     f = { vars, "", 0, 0, "", 0 };
	struct est_resp resp;

	(void)state;
	resp_init(&resp);
	assert_int_equal(resp_text(&resp, 200, "hello"), EST_OK);
	assert_int_equal(resp_write_nph(&resp, 0, fake_write, &f), 0);
	assert_int_equal(strncmp(f.out, "HTTP/1.1 200 OK\r\nDate: ", 23), 0);
	assert_non_null(strstr(f.out, " GMT\r\nConnection: close\r\n"));
	assert_null(strstr(f.out, "Status:"));
	assert_non_null(strstr(f.out, "Content-Length: 6\r\n\r\nhello\n"));

	f.out_len = 0;
	memset(f.out, 0, sizeof(f.out));
	assert_int_equal(resp_write_nph(&resp, 1, fake_write, &f), 0);
	assert_non_null(strstr(f.out, "Content-Length: 6\r\n\r\n"));
	assert_null(strstr(f.out, "hello"));
	resp_free(&resp);
}

/* Every error has a status in 4xx/5xx and a name and text. */
static void
error_table(void **state)
{
	int e;

	(void)state;
	assert_int_equal(est_err_status(EST_OK), 200);
	for (e = 1; e < EST_ERR__MAX; e++) {
		/* RFC 7030 4.2.3: the one non-error answer besides 200. */
		if (e == EST_PENDING)
			assert_int_equal(est_err_status((enum est_err)e), 202);
		else
			assert_true(est_err_status((enum est_err)e) >= 400);
		assert_true(strlen(est_err_text((enum est_err)e)) > 0);
		assert_true(strncmp(est_err_name((enum est_err)e), "EST_", 4) == 0);
	}
	assert_int_equal(est_err_status(EST_ERR_DUPLICATE), 409);
	assert_int_equal(est_err_status(EST_ERR_TOO_LARGE), 413);
	assert_int_equal(est_err_status(EST_ERR_MEDIA_TYPE), 415);
	assert_int_equal(est_err_status(EST_ERR_RATE_LIMITED), 429);
}

/* RFC 3986 2.1 percent-decoding and query parameters. */
static void
url_values(void **state)
{
	char v[16];

	(void)state;
	assert_int_equal(url_decode("a%20b+c", 7, v, sizeof(v)), EST_OK);
	assert_string_equal(v, "a b c");
	assert_int_equal(url_decode("%2e%2E", 6, v, sizeof(v)), EST_OK);
	assert_string_equal(v, "..");
	assert_int_equal(url_decode("a%00", 4, v, sizeof(v)),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(url_decode("a%0a", 4, v, sizeof(v)),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(url_decode("a%2", 3, v, sizeof(v)),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(url_decode("%zz", 3, v, sizeof(v)),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(url_decode("0123456789abcdef", 16, v, sizeof(v)),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(path_decode("a+b%2B", 6, v, sizeof(v)), EST_OK);
	assert_string_equal(v, "a+b+");
	assert_int_equal(path_decode("a%2", 3, v, sizeof(v)),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(query_param("q=dev%2d1&state=enrolled", "state", v,
	    sizeof(v)), EST_OK);
	assert_string_equal(v, "enrolled");
	assert_int_equal(query_param("q=dev%2d1&state=enrolled", "q", v,
	    sizeof(v)), EST_OK);
	assert_string_equal(v, "dev-1");
	assert_int_equal(query_param("qq=1", "q", v, sizeof(v)),
	    EST_ERR_NOT_FOUND);
	assert_int_equal(query_param("", "q", v, sizeof(v)), EST_ERR_NOT_FOUND);
	assert_int_equal(query_param("a=1&q", "q", v, sizeof(v)), EST_OK);
	assert_string_equal(v, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(content_types),
		cmocka_unit_test(body_with_length),
		cmocka_unit_test(body_without_length),
		cmocka_unit_test(body_limits),
		cmocka_unit_test(error_responses),
		cmocka_unit_test(nph_responses),
		cmocka_unit_test(error_table),
		cmocka_unit_test(url_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
