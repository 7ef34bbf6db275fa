/*
 * test-space.c — unit tests (cmocka) of common/space.c: after a store
 * is opened, no file Berkeley DB writes through a mapping or into a log
 * has a hole left (a hole on a full disk is SIGBUS or a panic), and the
 * free-space check passes where there is room.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "est.h"

#define TMP_TEMPLATE "/tmp/test-space.XXXXXX"
#define PATH_MAX_T   512
#define MAPS         "/proc/self/maps"
#define LINE_MAX_T   1024

/* Returns the length of this process's mapping of path, or 0. */
static unsigned long
mapped_len(const char *path)
{
	FILE         *f;
	char          line[LINE_MAX_T];
	unsigned long lo, hi, len = 0;
	int           off;

	assert_non_null(f = fopen(MAPS, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		off = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi,
		    &off) < 2 || off == 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line + off, path) == 0)
			len = hi - lo;
	}
	fclose(f);
	return len;
}

/* Region files have their blocks up to the mapped size, log files up to
 * their size: checked for every file of a fresh store. */
static void
test_no_holes(void **state)
{
	char              dir[] = TMP_TEMPLATE, real[PATH_MAX_T],
	                  path[PATH_MAX_T];
	struct est_store *st = NULL;
	struct dirent    *e;
	struct stat       sb;
	DIR              *d;
	unsigned long     len;
	int               regions = 0, logs = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(realpath(dir, real));
	assert_int_equal(store_open(dir, &st), EST_OK);
	assert_non_null(d = opendir(real));
	while ((e = readdir(d)) != NULL) {
		assert_true(snprintf(path, sizeof(path), "%s/%s", real,
		    e->d_name) < (int)sizeof(path));
		assert_int_equal(stat(path, &sb), 0);
		if (strncmp(e->d_name, "__db.0", 6) == 0) {
			len = mapped_len(path);
			assert_true(len > 0);
			/* fallocate may round up to whole blocks */
			assert_true((unsigned long)sb.st_blocks * 512 >= len);
			regions++;
		} else if (strncmp(e->d_name, "log.", 4) == 0) {
			assert_true(sb.st_blocks * 512 >= sb.st_size);
			logs++;
		}
	}
	assert_true(regions > 0);
	assert_true(logs > 0);
	store_close(st);
	/* the store takes ~26 MB of /tmp: remove it */
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		assert_true(snprintf(path, sizeof(path), "%s/%s", real,
		    e->d_name) < (int)sizeof(path));
		if (e->d_name[0] != '.')
			assert_int_equal(unlink(path), 0);
	}
	closedir(d);
	assert_int_equal(rmdir(real), 0);
}

/* space_check passes where there is room, and where statvfs cannot
 * ask (nothing to report about the store).  The refusal needs a full
 * file system (a tmpfs, root): tests/faults/f-90-disk-full.sh. */
static void
test_check(void **state)
{
	char dir[] = TMP_TEMPLATE;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(space_check(dir), EST_OK);
	assert_int_equal(space_check("/nonexistent/estcgi-space"), EST_OK);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_holes),
		cmocka_unit_test(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
