/*
 * test-tmpl.c — the dashboard's template engine (common/tmpl.c):
 * values are HTML-escaped by default, unknown keys and broken markers
 * are errors, raw output happens only through tmpl_put_raw_html().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "est.h"

/* Knows "name" (escaped), "link" (URL-escaped) and "svg" (raw). */
static int
keys(struct est_buf *b, const char *key, void *arg)
{
	const char *v = arg;

	if (strcmp(key, "name") == 0)
		tmpl_put(b, v);
	else if (strcmp(key, "link") == 0)
		tmpl_put_url(b, v);
	else if (strcmp(key, "svg") == 0)
		tmpl_put_raw_html(b, "<svg/>", 6);
	else
		return -1;
	return 0;
}

/* Renders text as a template with value v; returns the error. */
static enum est_err
render(const char *text, const char *v, struct est_buf *out)
{
	struct est_tmpl t;

	memset(&t, 0, sizeof(t));
	memset(out, 0, sizeof(*out));
	snprintf(t.name, sizeof(t.name), "inline");
	t.text = (char *)(uintptr_t)text;
	t.len = strlen(text);
	return tmpl_render(&t, out, keys, (void *)(uintptr_t)v);
}

static void
escapes_markup(void **state)
{
	struct est_buf b;

	(void)state;
	assert_int_equal(render("<p>@@name@@</p>",
	    "<img src=x onerror=alert(1)>&\"'", &b), EST_OK);
	assert_string_equal(b.data, "<p>&lt;img src=x onerror=alert(1)&gt;"
	    "&amp;&quot;&#39;</p>");
	buf_free(&b);
	assert_int_equal(render("@@name@@", "a\001b", &b), EST_OK);
	assert_string_equal(b.data, "a\xef\xbf\xbd" "b");
	buf_free(&b);
}

static void
url_and_raw(void **state)
{
	struct est_buf b;

	(void)state;
	assert_int_equal(render("<a href=\"/d/@@link@@\">@@svg@@</a>",
	    "a b/../\"<x>", &b), EST_OK);
	assert_string_equal(b.data,
	    "<a href=\"/d/a%20b%2F..%2F%22%3Cx%3E\"><svg/></a>");
	buf_free(&b);
}

static void
unknown_key_is_error(void **state)
{
	struct est_buf b;

	(void)state;
	est_reason_clear();
	assert_int_equal(render("x @@nmae@@ y", "v", &b), EST_ERR_INTERNAL);
	assert_non_null(strstr(est_reason(EST_ERR_INTERNAL), "nmae"));
	buf_free(&b);
	assert_int_equal(render("x @@name y", "v", &b), EST_ERR_INTERNAL);
	buf_free(&b);
	assert_int_equal(render("x @@@@ y", "v", &b), EST_ERR_INTERNAL);
	buf_free(&b);
}

static void
plain_text_and_load(void **state)
{
	struct est_buf  b;
	struct est_tmpl t;
	char            dir[] = "/tmp/test-tmpl-XXXXXX", path[64];
	FILE           *f;

	(void)state;
	assert_int_equal(render("no markers at all", "v", &b), EST_OK);
	assert_string_equal(b.data, "no markers at all");
	buf_free(&b);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/page.html", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("<h1>@@name@@</h1>\n", f);
	fclose(f);
	assert_int_equal(tmpl_load(dir, "page.html", &t), EST_OK);
	memset(&b, 0, sizeof(b));
	assert_int_equal(tmpl_render(&t, &b, keys, (void *)(uintptr_t)"A&B"), EST_OK);
	assert_string_equal(b.data, "<h1>A&amp;B</h1>\n");
	buf_free(&b);
	tmpl_free(&t);
	assert_int_equal(tmpl_load(dir, "missing.html", &t), EST_ERR_CONFIG);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes_markup),
		cmocka_unit_test(url_and_raw),
		cmocka_unit_test(unknown_key_is_error),
		cmocka_unit_test(plain_text_and_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
