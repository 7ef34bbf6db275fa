/*
 * store-panic.c — marks a live store's Berkeley DB environment as
 * panicked (DB_ENV->set_flags DB_PANIC_ENVIRONMENT), as a fatal error
 * in any worker would, for the tests of recovery: every worker that has
 * the environment open then gets DB_RUNRECOVERY on its next use and
 * must reopen the store (with recovery) and answer that request.
 *
 *   store-panic STORE_DIR
 *
 * It joins the existing environment (no subsystem flags: nothing is
 * created) and leaves it panicked.  Run it as the user that owns the
 * store (as root the tests use runuser).  Exit status 0, or 1 with a
 * message when the environment cannot be joined or panicked.
 */
#include <stdio.h>

#include <db.h>

/* Joins the environment in argv[1] and panics it.  Returns the exit
 * status. */
int
main(int argc, char *argv[])
{
	DB_ENV *env = NULL;
	int     ret, status = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: store-panic STORE_DIR\n");
		return 2;
	}
	if ((ret = db_env_create(&env, 0)) != 0) {
		fprintf(stderr, "store-panic: %s\n", db_strerror(ret));
		return 1;
	}
	/* Berkeley DB's own messages (the panic it reports) are expected:
	 * keep standard error for ours. */
	env->set_errfile(env, NULL);
	if ((ret = env->open(env, argv[1], 0, 0)) != 0) {
		fprintf(stderr, "store-panic: %s: join: %s\n", argv[1],
		    db_strerror(ret));
		goto out;
	}
	if ((ret = env->set_flags(env, DB_PANIC_ENVIRONMENT, 1)) != 0) {
		fprintf(stderr, "store-panic: %s: panic: %s\n", argv[1],
		    db_strerror(ret));
		goto out;
	}
	status = 0;
out:
	/* Closing a panicked environment reports DB_RUNRECOVERY: expected. */
	(void)env->close(env, 0);
	return status;
}
