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

#define LOG_LINE_MAX 1024 /* longest log line written */

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

/* Returns the program name log lines carry (est_log_open()'s, else
 * "estcgi"): a string that lives as long as the process. */
const char *
est_log_name(void)
{
	return log_prog;
}

/* Writes one log line; control characters in the text become '?'. */
void
est_log(enum est_log_level lvl, const char *fmt, ...)
{
	char    line[LOG_LINE_MAX];
	va_list ap;
	size_t  i;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	if ((unsigned)lvl > EST_LOG_DEBUG)
		lvl = EST_LOG_ERR;
	if (log_syslog)
		syslog(level_prio[lvl], "%s", line);
	else
		dprintf(2, "%s[%ld]: %s: %s\n", log_prog, (long)getpid(),
		    level_names[lvl], line);
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
