/*
 * fuzz-conf.c — libFuzzer target for conf_load(): the input is written
 * to a temporary est.conf and loaded (libconfig syntax, our keys, ranges
 * and the device ID pattern), then freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "est.h"

#define FZ_PATH_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_path[FZ_PATH_MAX];
static int  fz_fd = -1;

/* Creates the temporary file the inputs are written to (removed at
 * once: the open descriptor's /proc path names it). */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/fuzz-conf-XXXXXX";

	(void)argc;
	(void)argv;
	if ((fz_fd = mkstemp(tmpl)) == -1)
		abort();
	unlink(tmpl);
	snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_conf c;

	if (ftruncate(fz_fd, 0) != 0 ||
	    pwrite(fz_fd, data, size, 0) != (ssize_t)size)
		abort();
	est_reason_clear();
	if (conf_load(fz_path, &c) == EST_OK) {
		if (c.ca_cert == NULL || c.ca_key == NULL ||
		    c.store_dir == NULL || !c.id_re_ok)
			abort();
		conf_free(&c);
	}
	return 0;
}
