/*
 * tmpl.c — HTML templates for the dashboard (kcgi's template.c shape,
 * written the easily auditable way).
 *
 * A template is text with @@key@@ markers.  Rendering calls back per
 * key; the callback writes the value with tmpl_put() (HTML-escaped, the
 * default and the only way most values go out) or, for markup the
 * program built itself, tmpl_put_raw_html() — a separate, greppable
 * name.  A key the callback does not know is an error, so a typo in a
 * template cannot silently print nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"

#define TMPL_MARK     "@@"
#define TMPL_MARK_LEN 2
#define BUF_MIN_CAP   1024 /* first allocation of a growing buffer */

/* Makes sure b can take n more bytes (plus a NUL).  Returns EST_OK,
 * EST_ERR_NOMEM, or EST_ERR_INTERNAL past TMPL_MAX_OUTPUT. */
static enum est_err
buf_reserve(struct est_buf *b, size_t n)
{
	size_t cap;
	char  *p;

	if (b->err != EST_OK)
		return b->err;
	if (n > TMPL_MAX_OUTPUT || b->len + n + 1 > TMPL_MAX_OUTPUT)
		return b->err = est_fail(EST_ERR_INTERNAL, "page too large");
	if (b->len + n + 1 <= b->cap)
		return EST_OK;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < b->len + n + 1)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return b->err = EST_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return EST_OK;
}

/* Appends n bytes of s to b unchanged (NUL-terminated after). */
enum est_err
buf_add(struct est_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) != EST_OK)
		return b->err;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	return EST_OK;
}

/* Appends printf-formatted text to b unchanged: for numbers and
 * program-made text only, never for values from requests or devices. */
enum est_err
buf_printf(struct est_buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return b->err = EST_ERR_INTERNAL;
	if (buf_reserve(b, (size_t)n) != EST_OK)
		return b->err;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return EST_OK;
}

/* Frees b's storage and zeroes it. */
void
buf_free(struct est_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/*
 * Appends s HTML-escaped (& < > " ' become entities; control bytes
 * other than TAB/LF/CR become U+FFFD) so it is safe in element content
 * and in quoted attribute values.  NULL appends nothing.
 */
enum est_err
tmpl_put(struct est_buf *b, const char *s)
{
	const char *run;

	if (s == NULL)
		return b->err;
	for (run = s; *s != '\0'; s++) {
		const char *ent = NULL;

		switch (*s) {
		case '&':  ent = "&amp;"; break;
		case '<':  ent = "&lt;"; break;
		case '>':  ent = "&gt;"; break;
		case '"':  ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' &&
			    *s != '\n' && *s != '\r')
				ent = "\xef\xbf\xbd";
			else if (*s == 0x7f)
				ent = "\xef\xbf\xbd";
		}
		if (ent == NULL)
			continue;
		buf_add(b, run, (size_t)(s - run));
		buf_add(b, ent, strlen(ent));
		run = s + 1;
	}
	return buf_add(b, run, (size_t)(s - run));
}

/* Appends s URL-path-escaped (RFC 3986 unreserved kept, the rest %XX),
 * for device IDs inside links; the result is also HTML-safe. */
enum est_err
tmpl_put_url(struct est_buf *b, const char *s)
{
	static const char hx[] = "0123456789ABCDEF";
	char              esc[3];

	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			buf_add(b, s, 1);
		else {
			esc[0] = '%';
			esc[1] = hx[c >> 4];
			esc[2] = hx[c & 0xf];
			buf_add(b, esc, 3);
		}
	}
	return b->err;
}

/* Appends markup the program itself built (SVG, rows it escaped),
 * unescaped.  The name is long on purpose: grep for it in review. */
enum est_err
tmpl_put_raw_html(struct est_buf *b, const char *html, size_t len)
{
	return buf_add(b, html, len);
}

/*
 * Loads template file dir/name into t (whole file, NUL-terminated, at
 * most TMPL_MAX_FILE bytes).  The caller frees it with tmpl_free().
 */
enum est_err
tmpl_load(const char *dir, const char *name, struct est_tmpl *t)
{
	char   path[TMPL_MAX_PATH];
	FILE  *f;
	long   sz;
	size_t got;
	int    n;

	memset(t, 0, sizeof(*t));
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return est_fail(EST_ERR_CONFIG, "template path too long");
	if ((f = fopen(path, "rb")) == NULL)
		return est_fail(EST_ERR_CONFIG, "template %s: %s", path,
		    strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
	    sz > TMPL_MAX_FILE || fseek(f, 0, SEEK_SET) != 0 ||
	    (t->text = malloc((size_t)sz + 1)) == NULL) {
		fclose(f);
		return est_fail(EST_ERR_CONFIG, "template %s: unreadable or "
		    "larger than %d bytes", path, TMPL_MAX_FILE);
	}
	got = fread(t->text, 1, (size_t)sz, f);
	fclose(f);
	t->text[got] = '\0';
	t->len = got;
	snprintf(t->name, sizeof(t->name), "%s", name);
	return EST_OK;
}

/* Frees a loaded template. */
void
tmpl_free(struct est_tmpl *t)
{
	free(t->text);
	memset(t, 0, sizeof(*t));
}

/*
 * Renders t into b: text is copied, each @@key@@ is handed to fn(b,
 * key, arg), which returns 0 when it wrote the key's value and -1 when
 * it does not know the key.  Returns EST_OK, or EST_ERR_INTERNAL for an
 * unknown key, an unterminated or over-long marker (with the reason
 * naming the template and key), or the buffer's error.
 */
enum est_err
tmpl_render(const struct est_tmpl *t, struct est_buf *b, tmpl_key_fn fn,
    void *arg)
{
	const char *p = t->text, *end = t->text + t->len, *open, *close;
	char        key[TMPL_MAX_KEY + 1];
	size_t      klen;

	while (p < end) {
		if ((open = strstr(p, TMPL_MARK)) == NULL) {
			buf_add(b, p, (size_t)(end - p));
			break;
		}
		buf_add(b, p, (size_t)(open - p));
		open += TMPL_MARK_LEN;
		if ((close = strstr(open, TMPL_MARK)) == NULL)
			return est_fail(EST_ERR_INTERNAL, "template %s: "
			    "unterminated @@ marker", t->name);
		klen = (size_t)(close - open);
		if (klen == 0 || klen > TMPL_MAX_KEY)
			return est_fail(EST_ERR_INTERNAL, "template %s: bad "
			    "key length %zu", t->name, klen);
		memcpy(key, open, klen);
		key[klen] = '\0';
		if (fn(b, key, arg) != 0)
			return est_fail(EST_ERR_INTERNAL, "template %s: unknown "
			    "key '%s'", t->name, key);
		p = close + TMPL_MARK_LEN;
	}
	return b->err;
}
