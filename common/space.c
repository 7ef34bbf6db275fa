/*
 * space.c — the store's disk space: what keeps a full file system from
 * crashing workers or corrupting the store.
 *
 * Berkeley DB keeps its shared regions (__db.001, ...) in files it maps
 * with mmap at their largest size but grows on disk only as they fill,
 * leaving holes; its log files are made at full length the same way.
 * On a full file system the first write into a hole of a mapped page
 * kills the process with SIGBUS (possibly holding a latch every other
 * worker then waits on), and a failed log write panics the environment.
 * So:
 *
 *   space_preallocate()  after every environment open, reserves the
 *                        disk blocks behind every mapped region file up
 *                        to its mapped size (fallocate, size kept) and
 *                        fills the holes of the log files: nothing the
 *                        store writes later needs a new block except a
 *                        new log file (written out whole, DB_LOG_ZERO)
 *                        and database pages.
 *   space_check()        before every write transaction, refuses it
 *                        (503) while the file system has less than
 *                        EST_STORE_MIN_FREE bytes free, which covers a
 *                        new log file and a checkpoint's pages.
 *
 * Once space is freed the next request passes space_check(): the
 * service comes back by itself.
 */
#define _GNU_SOURCE  /* fallocate(2), FALLOC_FL_KEEP_SIZE */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "est.h"

#define SPACE_MAPS        "/proc/self/maps" /* this process's mappings */
#define SPACE_MAPS_LINE   (PATH_MAX + 128)  /* longest line read from it */
#define SPACE_REGION_PFX  "__db.0"          /* Berkeley DB region files */
#define SPACE_LOG_PFX     "log."            /* Berkeley DB log files */
#define SPACE_KB          1024ULL

/* Returns 1 when name (a file in the store directory) starts with pfx. */
static int
space_is(const char *name, const char *pfx)
{
	return strncmp(name, pfx, strlen(pfx)) == 0;
}

/* Logs and returns the error for a full file system under dir. */
static enum est_err
space_full(const char *dir, const char *what)
{
	est_log(EST_LOG_ERR, "store: %s: disk full: %s", dir, what);
	return est_fail(EST_ERR_STORE, "store disk full: %s", dir);
}

/*
 * Makes sure the disk blocks for bytes [0, len) of file path exist:
 * keep_size 1 reserves them past the end without changing the size (a
 * region file mapped beyond its end), 0 fills holes inside it.  Returns
 * 0, or an errno value (EOPNOTSUPP where the file system cannot).
 */
static int
space_reserve(const char *path, off_t len, int keep_size)
{
	int fd, err = 0;

	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return errno;
	if (len > 0 && fallocate(fd, keep_size ? FALLOC_FL_KEEP_SIZE : 0, 0,
	    len) == -1)
		err = errno;
	close(fd);
	return err;
}

/* Reports a failed reservation of path: ENOSPC as a full disk (the
 * error returned), anything else logged once per process and ignored
 * (EST_OK): the store works, only without this protection. */
static enum est_err
space_reserve_failed(const char *dir, const char *path, int err)
{
	static int warned;

	if (err == ENOSPC || err == EDQUOT)
		return space_full(dir, path);
	if (!warned)
		est_log(EST_LOG_WARN, "store: %s: cannot reserve disk space "
		    "for %s (%s): a full disk may crash workers", dir, path,
		    strerror(err));
	warned = 1;
	return EST_OK;
}

/*
 * Reserves the blocks behind each of real's region files that this
 * process maps, up to the mapped length (read from SPACE_MAPS).
 * Returns EST_OK or EST_ERR_STORE (disk full).
 */
static enum est_err
space_regions(const char *dir, const char *real)
{
	FILE        *f;
	char         line[SPACE_MAPS_LINE], *path, *nl, *base;
	unsigned long lo, hi;
	size_t       rlen = strlen(real);
	enum est_err rc = EST_OK;
	int          off, err;

	if ((f = fopen(SPACE_MAPS, "re")) == NULL)
		return space_reserve_failed(dir, SPACE_MAPS, errno);
	while (rc == EST_OK && fgets(line, sizeof(line), f) != NULL) {
		off = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi,
		    &off) < 2 || off == 0 || hi <= lo)
			continue;
		path = line + off;
		if ((nl = strchr(path, '\n')) != NULL)
			*nl = '\0';
		if (strncmp(path, real, rlen) != 0 || path[rlen] != '/')
			continue;
		base = path + rlen + 1;
		if (!space_is(base, SPACE_REGION_PFX) || strchr(base, ' '))
			continue;
		if ((err = space_reserve(path, (off_t)(hi - lo), 1)) != 0)
			rc = space_reserve_failed(dir, path, err);
	}
	fclose(f);
	return rc;
}

/* Fills the holes of every log file in real (they are made at full
 * length without their blocks).  Returns EST_OK or EST_ERR_STORE. */
static enum est_err
space_logs(const char *dir, const char *real)
{
	DIR           *d;
	struct dirent *e;
	struct stat    sb;
	char           path[PATH_MAX];
	enum est_err   rc = EST_OK;
	int            n, err;

	if ((d = opendir(real)) == NULL)
		return space_reserve_failed(dir, real, errno);
	while (rc == EST_OK && (e = readdir(d)) != NULL) {
		if (!space_is(e->d_name, SPACE_LOG_PFX))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", real, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    stat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
		    sb.st_blocks * 512 >= sb.st_size)
			continue;
		if ((err = space_reserve(path, sb.st_size, 0)) != 0)
			rc = space_reserve_failed(dir, path, err);
	}
	closedir(d);
	return rc;
}

/*
 * After the environment in dir is open (its regions mapped by this
 * process): reserves the disk blocks of the region files up to their
 * mapped size and of the log files, so that no later write into them
 * can fail for want of space.  Returns EST_OK, or EST_ERR_STORE when the
 * file system is too full for that (the caller closes the environment).
 */
enum est_err
space_preallocate(const char *dir)
{
	char         real[PATH_MAX];
	enum est_err rc;

	if (realpath(dir, real) == NULL)
		return space_reserve_failed(dir, dir, errno);
	if ((rc = space_regions(dir, real)) != EST_OK)
		return rc;
	return space_logs(dir, real);
}

/*
 * Before a write transaction in the store directory dir: EST_OK while
 * its file system has at least EST_STORE_MIN_FREE bytes and
 * EST_STORE_MIN_INODES inodes free for unprivileged users (what the
 * serving user may use), else EST_ERR_STORE ("store disk full: dir",
 * logged with the figures).  A file system it cannot ask passes.
 */
enum est_err
space_check(const char *dir)
{
	struct statvfs vf;
	unsigned long long avail;
	char           what[EST_MAX_REASON];

	if (statvfs(dir, &vf) == -1)
		return EST_OK;
	avail = (unsigned long long)vf.f_bavail * vf.f_frsize;
	if (avail < EST_STORE_MIN_FREE) {
		(void)snprintf(what, sizeof(what), "%llu KB free, the store "
		    "needs %llu KB", avail / SPACE_KB,
		    (unsigned long long)EST_STORE_MIN_FREE / SPACE_KB);
		return space_full(dir, what);
	}
	if (vf.f_files != 0 && vf.f_favail < EST_STORE_MIN_INODES) {
		(void)snprintf(what, sizeof(what), "%llu inodes free, the "
		    "store needs %d", (unsigned long long)vf.f_favail,
		    EST_STORE_MIN_INODES);
		return space_full(dir, what);
	}
	return EST_OK;
}
