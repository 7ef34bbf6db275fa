/*
 * unit.h — helpers shared by the cmocka unit tests (tests/unit/).
 * Include after <dirent.h>, <stdio.h>, <string.h>, <unistd.h>, cmocka
 * and est.h.
 */
#ifndef UNIT_H
#define UNIT_H

/* Removes directory path with the files in it and, recursively, in its
 * subdirectories (a store, a CRL folder); errors are ignored, as a
 * test's teardown has nothing better to do with them. */
static inline void
rmtree(const char *path)
{
	DIR           *d;
	struct dirent *de;
	char           file[512];

	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0 ||
			    (size_t)snprintf(file, sizeof(file), "%s/%s", path,
			    de->d_name) >= sizeof(file))
				continue;
			if (unlink(file) == -1)
				rmtree(file);
		}
		closedir(d);
	}
	rmdir(path);
}

/* Parses req's DER as the server parses a request body (csr_parse()),
 * for a request a test built in memory, and frees req.  Fails the test
 * when it does not parse.  Returns the request the caller frees with
 * csr_free(). */
static inline struct est_csr
t_csr(X509_REQ *req)
{
	struct est_csr out;
	unsigned char *der = NULL;
	int            len;

	assert_true((len = i2d_X509_REQ(req, &der)) > 0);
	assert_int_equal(csr_parse(der, (size_t)len, &out), EST_OK);
	OPENSSL_free(der);
	X509_REQ_free(req);
	return out;
}

#endif /* UNIT_H */
