/*
 * replay.c — runs a fuzz target (tests/fuzz/fuzz-*.c) once on each file
 * named on the command line, without libFuzzer, so `make valgrind` can
 * replay the seed corpora under valgrind (which sees what ASan does not,
 * such as overlapping copies).  Exit status 0, or 1 when a file cannot
 * be read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define REPLAY_MAX (1024 * 1024) /* largest input replayed */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

int
main(int argc, char **argv)
{
	uint8_t *buf;
	FILE    *fp;
	size_t   n;
	int      i, rc = 0;

	if ((buf = malloc(REPLAY_MAX)) == NULL)
		return 1;
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if ((fp = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		n = fread(buf, 1, REPLAY_MAX, fp);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, n);
	}
	free(buf);
	return rc;
}
