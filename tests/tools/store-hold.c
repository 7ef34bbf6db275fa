/*
 * store-hold.c — makes every new opener of a live store wait, as a
 * worker stuck inside Berkeley DB's DB_ENV->open did in issue 7, for the
 * test of the open watchdog (store.c STORE_OPEN_TIMEOUT).
 *
 *   store-hold STORE_DIR
 *
 * With DB_REGISTER, Berkeley DB 5.3 serialises environment opens with
 * an exclusive fcntl() lock on byte 1 of STORE_DIR/__db.register, held
 * from the start of DB_ENV->open until it returns (env_register.c).  A
 * process stuck in an open (on a mutex, in failchk or recovery) keeps
 * it, and every later open waits for it.  This tool takes that lock
 * (waiting for an open in progress to finish), prints "held PID" on
 * standard output and keeps it until it is killed; workers that already
 * have the environment open are not affected.  Run it as the user that
 * owns the store.  Exit status 1 with a message when the lock cannot be
 * taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HOLD_REGISTER  "__db.register" /* Berkeley DB's registry file */
#define HOLD_BYTE      1               /* its open-serialising byte */
#define HOLD_PATH_MAX  4096

/* Takes the registry lock of the store in argv[1] and sleeps until
 * killed.  Returns the exit status on failure. */
int
main(int argc, char *argv[])
{
	struct flock fl;
	char         path[HOLD_PATH_MAX];
	int          fd, n;

	if (argc != 2) {
		fprintf(stderr, "usage: store-hold STORE_DIR\n");
		return 2;
	}
	n = snprintf(path, sizeof(path), "%s/%s", argv[1], HOLD_REGISTER);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "store-hold: %s: path too long\n", argv[1]);
		return 1;
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1) {
		fprintf(stderr, "store-hold: %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = HOLD_BYTE;
	fl.l_len = 1;
	while (fcntl(fd, F_SETLKW, &fl) == -1) {
		if (errno == EINTR)
			continue;
		fprintf(stderr, "store-hold: %s: lock: %s\n", path,
		    strerror(errno));
		(void)close(fd);
		return 1;
	}
	printf("held %ld\n", (long)getpid());
	(void)fflush(stdout);
	for (;;)
		(void)pause();
}
