/*
 * fuzz-api.c — libFuzzer target for the registry API's request parsing
 * (cgi-bin-src/api.c, included here with its main() renamed): the route
 * and device ID from REQUEST_URI and SCRIPT_NAME, and the query
 * parameters (limit, offset, state, q, cursor, expiring_within_days),
 * and the same QUERY_STRING bytes as a reject request's JSON body.
 *
 * Input: SCRIPT_NAME, a newline, REQUEST_URI, a newline, QUERY_STRING.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define main api_main
int main(void);
#include "../../cgi-bin-src/api.c"
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct est_conf fz_conf;

/* Compiles the default device ID pattern into the configuration. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (regcomp(&fz_conf.id_re, EST_DEFAULT_ID_PATTERN,
	    REG_EXTENDED | REG_NOSUB) != 0)
		abort();
	fz_conf.id_re_ok = 1;
	return 0;
}

/* Copies the next '\n'-terminated field of *p (*left bytes) into a new
 * string; NULs end it early.  Aborts when out of memory. */
static char *
fz_field(const uint8_t **p, size_t *left)
{
	const uint8_t *nl = memchr(*p, '\n', *left);
	size_t         n = nl != NULL ? (size_t)(nl - *p) : *left;
	char          *s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p += n;
	*left -= n;
	if (nl != NULL) {
		(*p)++;
		(*left)--;
	}
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_req  req;
	struct api_path path;
	const uint8_t  *p = data;
	size_t          left = size;
	char           *script, *uri, *query, s[EST_MAX_PARAM + 1];
	long            v;
	int             state;

	script = fz_field(&p, &left);
	uri = fz_field(&p, &left);
	query = fz_field(&p, &left);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.script_name = script;
	req.request_uri = uri;
	req.query = query;

	est_reason_clear();
	if (api_route(&fz_conf, &req, &path) == EST_OK &&
	    (path.route == ROUTE_DEVICE || path.route == ROUTE_APPROVE ||
	    path.route == ROUTE_REJECT) &&
	    (path.id[0] == '\0' || strlen(path.id) > EST_MAX_DEVICE_ID ||
	    regexec(&fz_conf.id_re, path.id, 0, NULL, 0) != 0))
		abort();
	(void)query_int(&req, "limit", EST_LIST_DEFAULT, 1, EST_LIST_MAX, &v);
	(void)query_int(&req, "offset", 0, 0, EST_LIST_OFFSET_MAX, &v);
	(void)query_int(&req, "expiring_within_days", 0, 0, EST_MAX_DAYS, &v);
	if (query_str(&req, "state", s, sizeof(s)) == EST_OK)
		(void)parse_state(s, &state);
	(void)query_str(&req, "q", s, sizeof(s));
	(void)query_str(&req, "cursor", s, sizeof(s));
	/* The reason of a reject: one line within its limit, or refused. */
	req.body = query;
	req.body_len = strlen(query);
	req.content_type = "application/json";
	if (reject_reason(&req, s, sizeof(s)) == EST_OK &&
	    (strlen(s) > EST_MAX_REJECT_REASON || strpbrk(s, "\r\n") != NULL))
		abort();
	free(script);
	free(uri);
	free(query);
	return 0;
}
