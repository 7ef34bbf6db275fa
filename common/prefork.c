/*
 * prefork.c — a small process manager for FastCGI programs started on a
 * listening socket by a spawner (spawn-fcgi, systemd): with
 * EST_WORKERS=N in its environment the started process forks N workers
 * that accept on the inherited socket (fd 0), starts a new worker when
 * one dies (a crash, a kill -9), and on SIGTERM stops them all cleanly
 * and exits.  Without EST_WORKERS nothing changes (mod_fcgid and
 * lighttpd manage processes themselves).
 *
 * The supervisor opens nothing (no configuration, CA key or store): each
 * worker opens its own, as a store must not cross fork().
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "est.h"

#define PREFORK_ENV        "EST_WORKERS"
#define PREFORK_MIN_LIFE   1   /* seconds: a worker dying sooner ... */
#define PREFORK_BACKOFF_MS 500 /* ... is restarted after this pause */

static pid_t                 workers[EST_MAX_WORKERS];
static time_t                started[EST_MAX_WORKERS];
static int                   nworkers;
static volatile sig_atomic_t stopping;

/* SIGTERM/SIGINT in the supervisor: stop restarting and pass SIGTERM
 * on to every worker (kill() is async-signal-safe). */
static void
prefork_on_term(int sig)
{
	int i;

	(void)sig;
	if (stopping)
		return;
	stopping = 1;
	for (i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			(void)kill(workers[i], SIGTERM);
}

/* Reads EST_WORKERS: 0 when unset or empty, -1 when malformed or out
 * of 1..EST_MAX_WORKERS, else the count. */
static int
prefork_count(void)
{
	const char *s = getenv(PREFORK_ENV);
	char       *end;
	long        n;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > EST_MAX_WORKERS)
		return -1;
	return (int)n;
}

/* Sleeps ms milliseconds (returns early on a signal). */
static void
prefork_pause(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/* Records that the worker pid exited with wait status st: frees its
 * slot and logs an unexpected death. */
static void
prefork_reap(pid_t pid, int st)
{
	int i;

	for (i = 0; i < nworkers; i++) {
		if (workers[i] != pid)
			continue;
		workers[i] = 0;
		if (stopping)
			return;
		if (WIFSIGNALED(st))
			est_log(EST_LOG_WARN, "worker %ld killed by signal %d; "
			    "starting another", (long)pid, WTERMSIG(st));
		else
			est_log(EST_LOG_WARN, "worker %ld exited with %d; "
			    "starting another", (long)pid, WEXITSTATUS(st));
		if (time(NULL) - started[i] < PREFORK_MIN_LIFE)
			prefork_pause(PREFORK_BACKOFF_MS);
		return;
	}
}

/*
 * Runs the supervisor when EST_WORKERS is set.  Returns PREFORK_SERVE in
 * a process that must go on to serve requests (each worker, or this
 * process when EST_WORKERS is unset); in the supervisor it returns only
 * once every worker has stopped after SIGTERM, with the exit status (0,
 * or 1 when EST_WORKERS is malformed or no worker can be started).
 */
int
prefork_supervise(void)
{
	struct sigaction sa, old_term, old_int;
	pid_t            pid;
	int              i, st, n;

	if ((n = prefork_count()) == 0)
		return PREFORK_SERVE;
	if (n < 0) {
		est_log(EST_LOG_ERR, "%s must be a number from 1 to %d",
		    PREFORK_ENV, EST_MAX_WORKERS);
		return 1;
	}
	nworkers = n;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = prefork_on_term;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: waitpid() returns on SIGTERM. */
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);

	while (!stopping) {
		for (i = 0; i < nworkers && !stopping; i++) {
			if (workers[i] > 0)
				continue;
			if ((pid = fork()) == -1) {
				est_log(EST_LOG_ERR, "fork: %s", strerror(errno));
				prefork_pause(PREFORK_BACKOFF_MS);
				break;
			}
			if (pid == 0) {
				sigaction(SIGTERM, &old_term, NULL);
				sigaction(SIGINT, &old_int, NULL);
				return PREFORK_SERVE;
			}
			workers[i] = pid;
			started[i] = time(NULL);
		}
		if (stopping)
			break;
		if ((pid = waitpid(-1, &st, 0)) > 0)
			prefork_reap(pid, st);
		else if (errno == ECHILD)
			prefork_pause(PREFORK_BACKOFF_MS);
	}
	/* A worker forked while the signal was handled has not had it. */
	for (i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			(void)kill(workers[i], SIGTERM);
	while ((pid = waitpid(-1, &st, 0)) > 0 || errno == EINTR)
		if (pid > 0)
			prefork_reap(pid, st);
	return 0;
}
