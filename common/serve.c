/*
 * serve.c — the loop every endpoint's main() runs (kcgi's sample-fcgi
 * shape): set up once, then accept, parse, handle, respond, free.
 *
 * The same binary serves as FastCGI (mod_fcgid, mod_proxy_fcgi,
 * lighttpd) and as plain CGI (one request, then exit).  Configuration,
 * CA material and the store are opened once per process; when one of
 * them is unavailable the request gets a clear 500/503 and the next
 * request tries again, so fixing the cause needs no restart.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "est.h"

extern char **environ;

/* Stops the FastCGI loop on SIGTERM (mod_fcgid's idle/graceful stop)
 * so the worker closes the store cleanly (PLATFORM-NOTES). */
static void
on_term(int sig)
{
	(void)sig;
	FCGX_ShutdownPending();
}

/* Installs on_term without SA_RESTART so a blocked accept() returns, and
 * ignores SIGPIPE (a client that went away must not kill the worker). */
static void
signals_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Frees the CAs of every label (ctx->ca and ctx->cas). */
void
ctx_free_cas(struct est_ctx *ctx)
{
	size_t i;

	for (i = 0; ctx->cas != NULL && i < ctx->conf.n_labels; i++)
		ca_free(&ctx->cas[i]);
	free(ctx->cas);
	ctx->cas = NULL;
	ca_free(&ctx->ca);
}

/*
 * Loads the default CA into ctx->ca and the CA of every label that has
 * its own into ctx->cas (RFC 7030 3.2.2: one CA per label).  All or
 * nothing: on failure nothing stays loaded.  Returns EST_OK or the
 * first error (its reason names the file).
 */
enum est_err
ctx_load_cas(struct est_ctx *ctx)
{
	enum est_err rc;
	size_t       i;

	if ((rc = ca_load(&ctx->conf, &ctx->ca)) != EST_OK)
		return rc;
	if ((ctx->cas = calloc(ctx->conf.n_labels, sizeof(*ctx->cas))) ==
	    NULL) {
		ctx_free_cas(ctx);
		return est_fail(EST_ERR_NOMEM, "out of memory loading CAs");
	}
	for (i = 1; i < ctx->conf.n_labels; i++)
		if (ctx->conf.labels[i].own_ca &&
		    (rc = ca_load_label(&ctx->conf.labels[i],
		    &ctx->cas[i])) != EST_OK) {
			(void)est_fail(rc, "label '%s': %s",
			    ctx->conf.labels[i].name, est_reason(rc));
			ctx_free_cas(ctx);
			return rc;
		}
	return EST_OK;
}

/*
 * Makes sure what the program needs is loaded: configuration always
 * (when needs != 0), CA material with EST_NEED_CA, the store with
 * EST_NEED_STORE.  Returns EST_OK or the error to answer with.
 */
static enum est_err
ctx_ready(struct est_ctx *ctx, unsigned needs)
{
	static int   conf_ok, ca_ok;
	enum est_err rc;

	if (needs == 0)
		return EST_OK;
	if (!conf_ok) {
		if ((rc = conf_load(conf_path(), &ctx->conf)) != EST_OK) {
			est_log(EST_LOG_ERR, "%s", est_reason(rc));
			return rc;
		}
		est_log_open(ctx->progname, ctx->conf.log_dest);
		metrics_attach(ctx->conf.store_dir);
		rev_set_urls(ctx->conf.rev);
		conf_ok = 1;
	}
	if ((needs & EST_NEED_CA) && !ca_ok) {
		if ((rc = ctx_load_cas(ctx)) != EST_OK) {
			est_log(EST_LOG_ERR, "%s", est_reason(rc));
			return rc;
		}
		ca_ok = 1;
	}
	if ((needs & EST_NEED_STORE) && ctx->store == NULL) {
		if ((rc = store_open(ctx->conf.store_dir, &ctx->store)) != EST_OK) {
			est_log(EST_LOG_ERR, "%s", est_reason(rc));
			return rc;
		}
	}
	return EST_OK;
}

/* How error answers are written (est_serve_error_fn()). */
static est_error_fn error_fn = resp_error;

/* Sets how the serving loop writes error answers: fn turns a response
 * into the answer for an error (resp_error() by default). */
void
est_serve_error_fn(est_error_fn fn)
{
	error_fn = fn != NULL ? fn : resp_error;
}

/* Set in plain CGI when the program runs under an nph- name. */
static int cgi_nph;

/*
 * Returns 1 when this plain-CGI process runs as a non-parsed-header
 * script: its file name (SCRIPT_FILENAME, set by the web server) starts
 * with "nph-", so the web server expects a complete HTTP response.
 */
static int
cgi_is_nph(void)
{
	const char *f = getenv("SCRIPT_FILENAME"), *base;

	if (f == NULL)
		return 0;
	base = strrchr(f, '/');
	base = base != NULL ? base + 1 : f;
	return strncmp(base, "nph-", 4) == 0;
}

/* One request: parse it, run the handler, map errors, write the answer. */
static void
serve_one(struct est_ctx *ctx, unsigned needs, est_handler_fn handler,
    est_getenv_fn get, est_read_fn rd, est_write_fn wr, void *arg)
{
	struct est_req  req;
	struct est_resp resp;
	struct timespec t0, t1;
	enum est_err    rc;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	est_reason_clear();
	req_init(&req, get, rd, arg);
	resp_init(&resp);
	/* RFC 7030 3.2.2: the CA label, resolved once; unknown is 404. */
	if ((rc = ctx_ready(ctx, needs)) == EST_OK &&
	    ((needs & (EST_NEED_CA | EST_NEED_LABEL)) == 0 ||
	    (rc = label_from_uri(&ctx->conf, req.request_uri,
	    &req.label)) == EST_OK))
		rc = handler(ctx, &req, &resp);
	if (rc != EST_OK) {
		if (est_err_status(rc) >= 500 && rc != EST_ERR_NOT_IMPLEMENTED)
			est_log(EST_LOG_ERR, "%s %s: %s", req.method,
			    req.request_uri, est_reason(rc));
		error_fn(&resp, rc);
	}
	if ((cgi_nph ? resp_write_nph(&resp, strcmp(req.method, "HEAD") == 0,
	    wr, arg) : resp_write(&resp, wr, arg)) != 0)
		est_log(EST_LOG_INFO, "client went away before the answer");
	/* Latency and outcome into the shared counters (metrics.c). */
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_observe(ctx->progname, resp.status, rc,
	    (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
	    (t1.tv_nsec - t0.tv_nsec)) / 1000);
	resp_free(&resp);
	req_free(&req);
}

/* CGI adapters: the process environment, stdin and stdout. */
static const char *
cgi_getenv(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static long
cgi_read(char *buf, size_t n, void *arg)
{
	size_t got;

	(void)arg;
	got = fread(buf, 1, n, stdin);
	if (got == 0 && ferror(stdin))
		return -1;
	return (long)got;
}

static int
cgi_write(const char *buf, size_t n, void *arg)
{
	(void)arg;
	return fwrite(buf, 1, n, stdout) == n ? 0 : -1;
}

/* FastCGI adapters over one FCGX_Request. */
static const char *
fcgi_getenv(const char *name, void *arg)
{
	return FCGX_GetParam(name, ((FCGX_Request *)arg)->envp);
}

static long
fcgi_read(char *buf, size_t n, void *arg)
{
	int want = n > (size_t)EST_MAX_BODY + 1 ? EST_MAX_BODY + 1 : (int)n;

	return FCGX_GetStr(buf, want, ((FCGX_Request *)arg)->in);
}

static int
fcgi_write(const char *buf, size_t n, void *arg)
{
	FCGX_Request *r = arg;

	return FCGX_PutStr(buf, (int)n, r->out) == (int)n ? 0 : -1;
}

/*
 * Runs the program: progname names it in logs, op is the EST operation
 * it serves, needs says what to load (EST_NEED_*), handler answers each
 * request.  Returns the process exit status.
 */
int
est_serve(const char *progname, enum est_op op, unsigned needs,
    est_handler_fn handler)
{
	struct est_ctx ctx;
	FCGX_Request   r;
	int            st, store_fails = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.progname = progname;
	ctx.op = op;
	est_log_open(progname, "stderr");
	signals_setup();

	if (FCGX_IsCGI()) {
		cgi_nph = cgi_is_nph();
		serve_one(&ctx, needs, handler, cgi_getenv, cgi_read,
		    cgi_write, NULL);
		fflush(stdout);
		crl_after_request(&ctx);
	} else {
		/* EST_WORKERS=N: this process supervises N workers (prefork.c). */
		if ((st = prefork_supervise()) != PREFORK_SERVE)
			return st;
		if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0) {
			est_log(EST_LOG_ERR, "FastCGI initialisation failed");
			return 1;
		}
		(void)ctx_ready(&ctx, needs);
		store_checkpoint_after_request();
		while (FCGX_Accept_r(&r) >= 0) {
			serve_one(&ctx, needs, handler, fcgi_getenv,
			    fcgi_read, fcgi_write, &r);
			FCGX_Finish_r(&r);
			/* The answer is out: a CRL rebuild and a due
			 * checkpoint (up to a second of writing each) delay no
			 * client now. */
			crl_after_request(&ctx);
			store_checkpoint(ctx.store);
			/* A store this process cannot (re)open may stay so for
			 * its life (a full disk leaves its pid in Berkeley DB's
			 * DB_REGISTER file): after EST_STORE_FAILS_EXIT such
			 * answers (503) in a row, exit; the web server starts a
			 * fresh worker. */
			store_fails = (needs & EST_NEED_STORE) &&
			    !store_is_open(ctx.store) ? store_fails + 1 : 0;
			if (store_fails >= EST_STORE_FAILS_EXIT) {
				est_log(EST_LOG_WARN, "store unavailable: worker "
				    "exits for a fresh start");
				break;
			}
		}
		FCGX_Free(&r, 1);
	}
	store_close(ctx.store);
	ctx_free_cas(&ctx);
	conf_free(&ctx.conf);
	return 0;
}
