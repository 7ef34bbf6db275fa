/*
 * unit.h — helpers shared by the cmocka unit tests (tests/unit/).
 * Include after <dirent.h>, <stdio.h>, <string.h> and <unistd.h>.
 */
#ifndef UNIT_H
#define UNIT_H

/* Removes directory path with the files in it and, recursively, in its
 * subdirectories (a store, a CRL folder); errors are ignored, as a
 * test's teardown has nothing better to do with them. */
static void
rmtree(const char *path)
{
	DIR           *d;
	struct dirent *de;
	char           file[512];

	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			if (unlink(file) == -1)
				rmtree(file);
		}
		closedir(d);
	}
	rmdir(path);
}

#endif /* UNIT_H */
