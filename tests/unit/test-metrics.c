/*
 * test-metrics.c — unit tests (cmocka) of common/metrics.c (the shared
 * counters file and the Prometheus exposition), common/json.c (text
 * that is not UTF-8, times) and common/audit.c (one JSON line per event).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <setjmp.h>
#include <cmocka.h>

#include "est.h"

#define TMP_TEMPLATE "/tmp/test-metrics.XXXXXX"
#define CHILDREN     4
#define PER_CHILD    10000
#define LINE_MAX_T   4096

/* Returns the value of sample `name` (with labels) in text, or -1. */
static long long
sample(const char *text, const char *name)
{
	const char *p = text;
	size_t      n = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
		p += n;
	}
	return -1;
}

/* Counting, exposition, sharing between processes, and a file of
 * another layout being reset.  (metrics_attach() works once per
 * process, so the later steps run in children.) */
static void
test_metrics_file(void **state)
{
	char           dir[] = TMP_TEMPLATE, path[256];
	struct est_buf b;
	struct est_stats s;
	pid_t          pid[CHILDREN];
	int            i, st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	metrics_attach(dir);
	metrics_observe("bootstrap", 200, EST_OK, 300);       /* <= 0.5 ms */
	metrics_observe("bootstrap", 409, EST_ERR_DUPLICATE, 3000000);
	metrics_observe("simpleenroll", 403, EST_ERR_CERT_REVOKED, 700);
	metrics_observe("api", 404, EST_ERR_NOT_FOUND, 100);  /* no refusal */
	metrics_observe("nonsense", 200, EST_OK, 10);         /* other */

	for (i = 0; i < CHILDREN; i++) {
		assert_true((pid[i] = fork()) >= 0);
		if (pid[i] == 0) {
			int k;

			for (k = 0; k < PER_CHILD; k++)
				metrics_observe("cacerts", 200, EST_OK, 20);
			_exit(0);
		}
	}
	for (i = 0; i < CHILDREN; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}

	memset(&b, 0, sizeof(b));
	memset(&s, 0, sizeof(s));
	s.by_state[DEV_ENROLLED] = 7;
	s.expiring_30d = 3;
	metrics_render(&b, &s);
	assert_int_equal(b.err, EST_OK);
	assert_int_equal(sample(b.data, "estcgi_enrollments_total{endpoint="
	    "\"bootstrap\",outcome=\"issued\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_enrollments_total{endpoint="
	    "\"bootstrap\",outcome=\"refused\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_refusals_total{reason="
	    "\"duplicate\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_refusals_total{reason="
	    "\"cert_revoked\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_refusals_total{reason="
	    "\"not_found\"}"), 0);
	assert_int_equal(sample(b.data, "estcgi_http_responses_total{endpoint="
	    "\"api\",code=\"4xx\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_http_responses_total{endpoint="
	    "\"other\",code=\"2xx\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_request_duration_seconds_"
	    "bucket{endpoint=\"bootstrap\",le=\"0.0005\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_request_duration_seconds_"
	    "bucket{endpoint=\"bootstrap\",le=\"2.5\"}"), 1);
	assert_int_equal(sample(b.data, "estcgi_request_duration_seconds_"
	    "bucket{endpoint=\"bootstrap\",le=\"5\"}"), 2);
	assert_int_equal(sample(b.data, "estcgi_request_duration_seconds_"
	    "bucket{endpoint=\"bootstrap\",le=\"+Inf\"}"), 2);
	/* every child's adds arrived: no lost update */
	assert_int_equal(sample(b.data, "estcgi_request_duration_seconds_"
	    "count{endpoint=\"cacerts\"}"), CHILDREN * PER_CHILD);
	assert_int_equal(sample(b.data, "estcgi_devices{state=\"enrolled\"}"),
	    7);
	assert_int_equal(sample(b.data, "estcgi_certificates_expiring{"
	    "within_days=\"30\"}"), 3);
	assert_non_null(strstr(b.data, "# TYPE estcgi_request_duration_"
	    "seconds histogram\n"));
	buf_free(&b);

	snprintf(path, sizeof(path), "%s/%s", dir, EST_METRICS_FILE);
	unlink(path);
	rmdir(dir);
}

/* Runs in a fresh child: attaches to dir, adds n bootstrap answers
 * (n > 0), or checks there are exactly -n; exits 0 when all went well. */
static void
child_count(const char *dir, int n)
{
	struct est_buf b;
	pid_t          pid;
	int            st, k, ok;

	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		metrics_attach(dir);
		for (k = 0; k < n; k++)
			metrics_observe("bootstrap", 200, EST_OK, 1);
		memset(&b, 0, sizeof(b));
		metrics_render(&b, NULL);
		ok = b.err == EST_OK && sample(b.data, "estcgi_request_duration_"
		    "seconds_count{endpoint=\"bootstrap\"}") == (n > 0 ? n : -n);
		buf_free(&b);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Counters survive the processes that made them; a file of another
 * layout (its signature changed) is reset, not misread. */
static void
test_metrics_reset(void **state)
{
	char dir[] = TMP_TEMPLATE, path[256];
	int  fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	child_count(dir, 5);
	child_count(dir, -5);            /* a new process sees them */
	snprintf(path, sizeof(path), "%s/%s", dir, EST_METRICS_FILE);
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "\x01\x02\x03\x04", 4, 12), 4);
	close(fd);
	child_count(dir, -0);            /* reset: zero */
	child_count(dir, -0);
	unlink(path);
	rmdir(dir);
}

/* An unusable directory: counting is off, nothing crashes. */
static void
test_metrics_unusable_dir(void **state)
{
	struct est_buf b;
	pid_t          pid;
	int            st;

	(void)state;
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		metrics_attach("/nonexistent/estcgi-test");
		metrics_observe("bootstrap", 200, EST_OK, 1);
		memset(&b, 0, sizeof(b));
		metrics_render(&b, NULL);
		_exit(b.len == 0 && b.err == EST_OK ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* json_text keeps valid UTF-8 and turns a string that is not into
 * ASCII with '?'; json_time is ISO 8601 UTC or null. */
static void
test_json_text_and_time(void **state)
{
	json_t *j;
	char    buf[64];

	(void)state;
	assert_non_null(j = json_text("caf\xc3\xa9 <b>\"x\"</b>"));
	assert_string_equal(json_string_value(j), "caf\xc3\xa9 <b>\"x\"</b>");
	json_decref(j);
	assert_non_null(j = json_text("bad \xff\xfe end \xc3"));
	assert_string_equal(json_string_value(j), "bad ?? end ?");
	json_decref(j);
	assert_non_null(j = json_text(NULL));
	assert_string_equal(json_string_value(j), "");
	json_decref(j);
	assert_non_null(j = json_time(1800000000));
	assert_string_equal(json_string_value(j), "2027-01-15T08:00:00Z");
	json_decref(j);
	assert_non_null(j = json_time(0));
	assert_true(json_is_null(j));
	json_decref(j);
	assert_int_equal(iso_time(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
}

/* audit_write appends exactly one parseable JSON line per event, with
 * hostile text escaped; "" writes nothing. */
static void
test_audit_lines(void **state)
{
	char             dir[] = TMP_TEMPLATE, path[256], line[LINE_MAX_T];
	char             off[] = "";
	struct est_conf  conf;
	struct est_event ev;
	json_error_t     jerr;
	json_t          *j;
	FILE            *f;
	int              n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	memset(&conf, 0, sizeof(conf));
	conf.audit_log = off;
	memset(&ev, 0, sizeof(ev));
	audit_write(&conf, &ev);                 /* off: no file */
	assert_int_equal(access(path, F_OK), -1);

	conf.audit_log = path;
	ev.op = EST_OP_BOOTSTRAP;
	ev.status = 409;
	snprintf(ev.device, sizeof(ev.device), "dev-1");
	snprintf(ev.ua, sizeof(ev.ua), "a\nb\"c\\d\xff");
	snprintf(ev.reason, sizeof(ev.reason), "device 'dev-1' already "
	    "registered");
	audit_write(&conf, &ev);
	ev.status = 200;
	ev.serial[0] = 0xab;
	ev.serial_len = 1;
	ev.time_us = 1800000000LL * 1000000;
	audit_write(&conf, &ev);

	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_non_null(strchr(line, '\n'));
		assert_non_null(j = json_loads(line, 0, &jerr));
		assert_string_equal(json_string_value(json_object_get(j,
		    "device")), "dev-1");
		assert_string_equal(json_string_value(json_object_get(j,
		    "user_agent")), "a\nb\"c\\d?");
		if (n == 0) {
			assert_string_equal(json_string_value(json_object_get(j,
			    "outcome")), "refused");
			assert_true(json_is_null(json_object_get(j, "serial")));
			assert_true(json_integer_value(json_object_get(j,
			    "time_us")) > 0);
		} else {
			assert_string_equal(json_string_value(json_object_get(j,
			    "outcome")), "issued");
			assert_string_equal(json_string_value(json_object_get(j,
			    "serial")), "ab");
			assert_string_equal(json_string_value(json_object_get(j,
			    "time")), "2027-01-15T08:00:00Z");
		}
		json_decref(j);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 2);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_unusable_dir),
		cmocka_unit_test(test_metrics_reset),
		cmocka_unit_test(test_metrics_file),
		cmocka_unit_test(test_json_text_and_time),
		cmocka_unit_test(test_audit_lines),
	};

	est_log_open("test-metrics", "stderr");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
