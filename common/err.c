/*
 * err.c — the error table and the per-request failure reason.
 *
 * Each process serves one request at a time, so the reason of the
 * current failure lives in one static buffer, cleared per request
 * (like errno, but with text a client can read).
 */
#include <stdio.h>
#include <string.h>

#include "est.h"

#define EST_ERR_STATUS_(name, status, text) status,
#define EST_ERR_NAME_(name, status, text)   #name,
#define EST_ERR_TEXT_(name, status, text)   text,

static const int err_status[EST_ERR__MAX] = { EST_ERRORS(EST_ERR_STATUS_) };
static const char *const err_names[EST_ERR__MAX] = { EST_ERRORS(EST_ERR_NAME_) };
static const char *const err_texts[EST_ERR__MAX] = { EST_ERRORS(EST_ERR_TEXT_) };

static char reason_buf[EST_MAX_REASON];
static enum est_err reason_err = EST_OK;

/* Returns the HTTP status for an error; 500 for anything out of range. */
int
est_err_status(enum est_err e)
{
	return ((unsigned)e < EST_ERR__MAX) ? err_status[e] : 500;
}

/* Returns the symbolic name of an error (static storage). */
const char *
est_err_name(enum est_err e)
{
	return ((unsigned)e < EST_ERR__MAX) ? err_names[e] : "EST_ERR_?";
}

/* Returns the default one-line reason of an error (static storage). */
const char *
est_err_text(enum est_err e)
{
	return ((unsigned)e < EST_ERR__MAX) ? err_texts[e] : "internal error";
}

/*
 * Records a specific reason for error e (printf-style, one line: CR, LF
 * and other control bytes become '?') and returns e, so callers can
 * write `return est_fail(EST_ERR_BAD_ID, "...", ...);`.  The arguments
 * may include the current reason (est_reason()): the text is made in a
 * separate buffer first (found by fuzz-api under valgrind: overlapping
 * vsnprintf).
 */
enum est_err
est_fail(enum est_err e, const char *fmt, ...)
{
	char    buf[sizeof(reason_buf)];
	va_list ap;
	size_t  i;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	memcpy(reason_buf, buf, i + 1);
	reason_err = e;
	return e;
}

/* Returns the recorded reason if it was recorded for e, else e's default
 * text.  The string is static and valid until the next est_fail(). */
const char *
est_reason(enum est_err e)
{
	if (reason_err == e && reason_buf[0] != '\0')
		return reason_buf;
	return est_err_text(e);
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer (make SANITIZE=1): Berkeley DB keeps its handles after a
 * DB_RUNRECOVERY close by design (see store.c); those are not ours. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libdb-5.3.so\n";
}
#endif

/* Forgets the recorded reason (called at the start of each request). */
void
est_reason_clear(void)
{
	reason_buf[0] = '\0';
	reason_err = EST_OK;
}
