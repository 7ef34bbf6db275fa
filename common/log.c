/*
 * log.c — one-line log messages to the web server's error log (fd 2)
 * or to syslog.  Uses dprintf(2, ...) rather than stdio: libfcgi frees
 * stdio streams after the accept loop ends (PLATFORM-NOTES).
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/err.h>

#include "est.h"

#define LOG_LINE_MAX 1024 /* longest log text written */
#define LOG_PREFIX_MAX 128 /* "prog[pid]: level: " before it */

static const char *log_prog = "estcgi";
static int         log_syslog;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* Chooses where est_log() writes: dest "syslog" or anything else for
 * stderr.  progname must outlive the process (a string literal). */
void
est_log_open(const char *progname, const char *dest)
{
	log_prog = progname;
	log_syslog = dest != NULL && strcmp(dest, "syslog") == 0;
	if (log_syslog)
		openlog(progname, LOG_PID, LOG_DAEMON);
}

/* Formats fmt/ap into text (LOG_LINE_MAX bytes), control characters
 * as '?'.  Returns lvl, or EST_LOG_ERR for a level out of range. */
static enum est_log_level
log_text(char *text, enum est_log_level lvl, const char *fmt, va_list ap)
{
	size_t i;

	vsnprintf(text, LOG_LINE_MAX, fmt, ap);
	for (i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 0x20)
			text[i] = '?';
	return (unsigned)lvl > EST_LOG_DEBUG ? EST_LOG_ERR : lvl;
}

/* Writes into buf (size n > 0) the line est_log() writes to stderr for
 * lvl and text, "prog[pid]: level: text\n", cut to fit but always
 * ending in a newline.  Returns its length. */
static size_t
log_line(char *buf, size_t n, enum est_log_level lvl, const char *text)
{
	int len;

	len = snprintf(buf, n, "%s[%ld]: %s: %s\n", log_prog, (long)getpid(),
	    level_names[lvl], text);
	if (len < 0)
		len = 0;
	if ((size_t)len >= n) {
		len = (int)n - 1;
		buf[len - 1] = '\n';
	}
	return (size_t)len;
}

/* Writes one log line; control characters in the text become '?'. */
void
est_log(enum est_log_level lvl, const char *fmt, ...)
{
	char    text[LOG_LINE_MAX], line[LOG_LINE_MAX + LOG_PREFIX_MAX];
	va_list ap;
	size_t  len;
	ssize_t w;

	va_start(ap, fmt);
	lvl = log_text(text, lvl, fmt, ap);
	va_end(ap);
	if (log_syslog)
		syslog(level_prio[lvl], "%s", text);
	else {
		len = log_line(line, sizeof(line), lvl, text);
		w = write(STDERR_FILENO, line, len);
		(void)w;
	}
}

/* Formats into buf (size n) the stderr line est_log(lvl, fmt, ...)
 * would write, for a caller that must write it later without stdio or
 * syslog (a signal handler: write(2, buf, length)).  Returns its
 * length. */
size_t
est_log_format(char *buf, size_t n, enum est_log_level lvl, const char *fmt,
    ...)
{
	char    text[LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	lvl = log_text(text, lvl, fmt, ap);
	va_end(ap);
	return n > 1 ? log_line(buf, n, lvl, text) : 0;
}

/* Logs and clears OpenSSL's error queue, naming where it happened. */
void
est_log_ssl(const char *where)
{
	unsigned long e;
	char          buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		est_log(EST_LOG_WARN, "%s: %s", where, buf);
	}
}
