/*
 * test-queue.c — unit tests of common/queue.c (cmocka): the approval,
 * duplicate and rate-limit settings of one config section, the public
 * key fingerprint of a CSR, and the rejection-reason check.
 */
#include <stdio.h>
#include <string.h>

#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <setjmp.h>
#include <cmocka.h>

#include "est.h"

/* Parses text as a whole est.conf and applies its top level to q over
 * the defaults.  Returns conf_queue()'s result. */
static enum est_err
parse(const char *text, struct est_queue_policy *q)
{
	config_t     cf;
	enum est_err rc;

	config_init(&cf);
	assert_int_equal(config_read_string(&cf, text), CONFIG_TRUE);
	queue_policy_default(q);
	rc = conf_queue(config_root_setting(&cf), "", q);
	config_destroy(&cf);
	return rc;
}

/* Nothing set: the documented defaults. */
static void
test_defaults(void **state)
{
	struct est_queue_policy q;

	(void)state;
	assert_int_equal(parse("", &q), EST_OK);
	assert_int_equal(q.approval, 0);
	assert_int_equal(q.retry_after, EST_DEFAULT_RETRY_AFTER);
	assert_int_equal(q.duplicate, DUP_REJECT);
	assert_int_equal(q.rate_user, EST_DEFAULT_RATE_USER);
	assert_int_equal(q.rate_device, EST_DEFAULT_RATE_DEVICE);
	assert_int_equal(q.rate_window, EST_DEFAULT_RATE_WINDOW);
}

/* Every setting read; what a section leaves out keeps its value. */
static void
test_settings(void **state)
{
	struct est_queue_policy q;

	(void)state;
	assert_int_equal(parse("approval = { required = true; retry_after = "
	    "120; }; duplicate = \"revoke-previous\"; rate_limit = { "
	    "per_user = 0; window = 60; };", &q), EST_OK);
	assert_int_equal(q.approval, 1);
	assert_int_equal(q.retry_after, 120);
	assert_int_equal(q.duplicate, DUP_REVOKE_PREVIOUS);
	assert_int_equal(q.rate_user, 0);
	assert_int_equal(q.rate_device, EST_DEFAULT_RATE_DEVICE);
	assert_int_equal(q.rate_window, 60);
	assert_int_equal(parse("duplicate = \"allow\";", &q), EST_OK);
	assert_int_equal(q.duplicate, DUP_ALLOW);
}

/* Bad values are configuration errors naming the key. */
static void
test_bad_settings(void **state)
{
	static const char *const bad[] = {
		"approval = true;",
		"approval = { required = 1; };",
		"approval = { retry_after = 0; };",
		"approval = { retry_after = 86401; };",
		"duplicate = \"replace\";",
		"duplicate = 1;",
		"rate_limit = 5;",
		"rate_limit = { per_user = -1; };",
		"rate_limit = { per_device = 1000001; };",
		"rate_limit = { window = 0; };",
		"rate_limit = { window = \"1h\"; };",
	};
	struct est_queue_policy q;
	size_t                  i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &q), EST_ERR_CONFIG);
		assert_non_null(strstr(est_reason(EST_ERR_CONFIG), "config: "));
	}
}

/* The fingerprint is SHA-256 of the SubjectPublicKeyInfo: the same for
 * two CSRs of one key, different for another key. */
static void
test_key_hash(void **state)
{
	EVP_PKEY     *k1, *k2;
	X509_REQ     *r1, *r2, *r3;
	unsigned char h1[EST_KEY_HASH_LEN], h2[EST_KEY_HASH_LEN];
	unsigned char h3[EST_KEY_HASH_LEN], want[EST_KEY_HASH_LEN];
	unsigned char *der = NULL;
	int           len;

	(void)state;
	k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(k1);
	assert_non_null(k2);
	r1 = X509_REQ_new();
	r2 = X509_REQ_new();
	r3 = X509_REQ_new();
	assert_int_equal(X509_REQ_set_pubkey(r1, k1), 1);
	assert_int_equal(X509_REQ_set_pubkey(r2, k1), 1);
	assert_int_equal(X509_REQ_set_pubkey(r3, k2), 1);
	assert_int_equal(csr_key_hash(r1, h1), EST_OK);
	assert_int_equal(csr_key_hash(r2, h2), EST_OK);
	assert_int_equal(csr_key_hash(r3, h3), EST_OK);
	assert_memory_equal(h1, h2, sizeof(h1));
	assert_memory_not_equal(h1, h3, sizeof(h1));
	assert_true((len = i2d_PUBKEY(k1, &der)) > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, want, NULL,
	    EVP_sha256(), NULL), 1);
	assert_memory_equal(h1, want, sizeof(want));
	OPENSSL_free(der);
	X509_REQ_free(r1);
	X509_REQ_free(r2);
	X509_REQ_free(r3);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* A rejection reason is one line of at most EST_MAX_REJECT_REASON. */
static void
test_reason_check(void **state)
{
	char long_reason[EST_MAX_REJECT_REASON + 2];

	(void)state;
	assert_int_equal(queue_reason_check(""), EST_OK);
	assert_int_equal(queue_reason_check("unknown serial, call ops"),
	    EST_OK);
	assert_int_equal(queue_reason_check("caf\xc3\xa9"), EST_OK);
	assert_int_equal(queue_reason_check("two\nlines"),
	    EST_ERR_BAD_REQUEST);
	assert_int_equal(queue_reason_check("tab\there"), EST_ERR_BAD_REQUEST);
	assert_int_equal(queue_reason_check("del\x7f"), EST_ERR_BAD_REQUEST);
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	assert_int_equal(queue_reason_check(long_reason), EST_ERR_BAD_REQUEST);
	long_reason[EST_MAX_REJECT_REASON] = '\0';
	assert_int_equal(queue_reason_check(long_reason), EST_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_bad_settings),
		cmocka_unit_test(test_key_hash),
		cmocka_unit_test(test_reason_check),
	};

	est_log_open("test-queue", "stderr");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
