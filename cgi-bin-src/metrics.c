/*
 * metrics — GET /metrics, the Prometheus text exposition format 0.0.4:
 * enrollments by endpoint and outcome, refusals by reason, answers by
 * status class, request latency histograms per endpoint (counted by
 * every program's serving loop into the shared file of metrics.c), and
 * devices by state and certificates expiring soon (store counters).
 *
 * Who may scrape is the web server's decision (apache-conf/
 * estcgi-admin.conf: administrators by default, or e.g. `Require ip`
 * for a Prometheus server); when a login was given it must be one of
 * admin_users.
 */
#include <stdlib.h>
#include <string.h>

#include "est.h"

/* Answers GET/HEAD with the exposition; other methods get 405. */
static enum est_err
metrics(struct est_ctx *ctx, const struct est_req *req,
    struct est_resp *resp)
{
	struct est_stats *s;
	struct est_buf    b;
	enum est_err      rc;

	if (req->remote_user != NULL &&
	    (rc = admin_check(&ctx->conf, req)) != EST_OK)
		return rc;
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		resp->allow = "GET, HEAD";
		return est_fail(EST_ERR_METHOD, "metrics takes GET only");
	}
	if ((s = malloc(sizeof(*s))) == NULL)
		return EST_ERR_NOMEM;
	memset(&b, 0, sizeof(b));
	if ((rc = store_stats(ctx->store, 0, s)) == EST_OK) {
		metrics_render(&b, s);
		rc = b.err;
	}
	free(s);
	if (rc != EST_OK) {
		buf_free(&b);
		return rc;
	}
	return resp_take_buf(resp, &b, "text/plain; version=0.0.4; charset=utf-8");
}

int
main(void)
{
	return est_serve("metrics", EST_OP_OTHER, EST_NEED_STORE, metrics);
}
