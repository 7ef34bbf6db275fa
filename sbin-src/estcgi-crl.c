/*
 * estcgi-crl — publishes the CRL of every CA label into
 * revocation.crl_dir (common/crl.c) when it is due: the revoked set
 * changed or the last CRL is older than crl_refresh; -f always.
 *
 *   EST_CONFIG=/etc/estcgi/est.conf estcgi-crl [-f]
 *
 * Run it as the serving user (it opens the store): before the web
 * server starts (which reads the PEM CRL for its client-certificate
 * checks) and from a timer (estcgi-crl.timer), so a CRL never passes
 * its nextUpdate while nothing is revoked and nobody asks /ocsp.
 * Exit status 0 when the CRLs are current, 1 otherwise, 2 for usage.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "est.h"

int
main(int argc, char *argv[])
{
	struct est_ctx ctx;
	enum est_err   rc;
	int            ch, force = 0, st = 1;

	while ((ch = getopt(argc, argv, "f")) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		default:
			fprintf(stderr, "usage: estcgi-crl [-f]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: estcgi-crl [-f]\n");
		return 2;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.progname = "estcgi-crl";
	est_log_open(ctx.progname, "stderr");
	if ((rc = conf_load(conf_path(), &ctx.conf)) != EST_OK ||
	    (rc = ctx_load_cas(&ctx)) != EST_OK ||
	    (rc = store_open(ctx.conf.store_dir, &ctx.store)) != EST_OK ||
	    (rc = crl_publish_all(&ctx, force)) != EST_OK) {
		fprintf(stderr, "estcgi-crl: %s\n", est_reason(rc));
		goto out;
	}
	if (ctx.conf.rev->crl_dir[0] == '\0')
		fprintf(stderr, "estcgi-crl: revocation.crl_dir is not set; "
		    "no CRL published\n");
	st = 0;
out:
	store_close(ctx.store);
	ctx_free_cas(&ctx);
	conf_free(&ctx.conf);
	return st;
}
