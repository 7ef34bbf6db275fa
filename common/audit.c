/*
 * audit.c — every issuance, refusal and deletion as one structured log
 * line: a JSON object (json_event()) per line, appended to the file
 * named by the config key audit_log, or sent to syslog (facility
 * authpriv) when it is "syslog"; "" turns it off.
 *
 * The file is opened for each line (O_APPEND, so lines from many
 * worker processes never interleave and a rotated file is simply
 * recreated) and written with one write(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "est.h"

#define AUDIT_FILE_MODE 0640  /* a new audit log file */

/*
 * Writes event ev as one JSON line to the audit log of conf (nothing
 * when audit_log is ""); an event without a time gets the current one.
 * Failures are logged, never returned: the audit line must not change
 * the answer.
 */
void
audit_write(const struct est_conf *conf, const struct est_event *ev)
{
	struct est_event e;
	struct timespec  ts;
	json_t          *j;
	char            *line = NULL;
	size_t           n;
	int              fd = -1;

	if (conf->audit_log == NULL || conf->audit_log[0] == '\0')
		return;
	e = *ev;
	if (e.time_us == 0 && clock_gettime(CLOCK_REALTIME, &ts) == 0)
		e.time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	if ((j = json_event(&e)) == NULL ||
	    (line = json_dumps(j, JSON_COMPACT)) == NULL) {
		est_log(EST_LOG_ERR, "audit: out of memory");
		goto out;
	}
	if (strcmp(conf->audit_log, "syslog") == 0) {
		syslog(LOG_AUTHPRIV | LOG_INFO, "%s", line);
		goto out;
	}
	n = strlen(line);
	line[n] = '\n';           /* json_dumps's NUL: the line ends here */
	if ((fd = open(conf->audit_log, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, AUDIT_FILE_MODE)) == -1)
		est_log(EST_LOG_ERR, "audit: %s: %s", conf->audit_log,
		    strerror(errno));
	else if (write(fd, line, n + 1) != (ssize_t)(n + 1))
		est_log(EST_LOG_ERR, "audit: %s: short write", conf->audit_log);
out:
	if (fd != -1)
		close(fd);
	free(line);
	json_decref(j);
}
