/*
 * test-b64.c — b64_decode() against every body shape RFC 8951 section 3
 * allows and the malformations it must refuse; b64_encode() line
 * layout and round trips.  The reference encoding is OpenSSL's
 * EVP_EncodeBlock(), independent of the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "est.h"

#define T_DATA_LEN   200  /* bytes of the main sample (several lines) */
#define T_MAX_ENCODE 300  /* encode lengths 0..T_MAX_ENCODE tested */
#define T_COLS_PEM   64   /* RFC 7468 line length */
#define T_COLS_MIME  76   /* RFC 2045 line length */

/* Fills buf[0..len) with a fixed pseudo-random pattern. */
static void
fill(unsigned char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
}

/* Returns the one-line padded reference encoding of in; caller frees. */
static char *
ref_encode(const unsigned char *in, size_t len)
{
	char *out;

	out = malloc((len + 2) / 3 * 4 + 1);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/*
 * Lays out one-line base64 ref in lines of cols characters (0: one
 * line) joined by eol; final adds eol after the last line, blank adds
 * one more empty line, nopad strips the '=' padding.  Caller frees.
 */
static char *
shape(const char *ref, size_t cols, const char *eol, int final, int blank,
    int nopad)
{
	size_t n = strlen(ref), i, e = strlen(eol);
	char  *out, *w;

	if (nopad)
		while (n > 0 && ref[n - 1] == '=')
			n--;
	out = malloc(n * (e + 1) + 3 * e + 1);
	assert_non_null(out);
	w = out;
	for (i = 0; i < n; i++) {
		if (cols != 0 && i != 0 && i % cols == 0) {
			memcpy(w, eol, e);
			w += e;
		}
		*w++ = ref[i];
	}
	if (final) {
		memcpy(w, eol, e);
		w += e;
	}
	if (blank) {
		memcpy(w, eol, e);
		w += e;
	}
	*w = '\0';
	return out;
}

/* Decodes text and asserts the result equals want[0..wlen). */
static void
expect_decodes(const char *text, size_t tlen, const unsigned char *want,
    size_t wlen)
{
	unsigned char *out = NULL;
	size_t         olen = 0;

	assert_int_equal(b64_decode(text, tlen, &out, &olen), EST_OK);
	assert_int_equal(olen, wlen);
	assert_memory_equal(out, want, wlen);
	free(out);
}

/* Asserts text[0..tlen) is refused as bad base64 with no output. */
static void
expect_refused(const char *text, size_t tlen)
{
	unsigned char  sentinel = 0;
	unsigned char *out = &sentinel;
	size_t         olen = 1;

	est_reason_clear();
	assert_int_equal(b64_decode(text, tlen, &out, &olen),
	    EST_ERR_BAD_BASE64);
	assert_null(out);
	assert_int_equal(olen, 0);
	/* A specific reason was recorded, not the table default. */
	assert_string_not_equal(est_reason(EST_ERR_BAD_BASE64),
	    est_err_text(EST_ERR_BAD_BASE64));
}

/* Every RFC 8951 shape of several data lengths decodes to the same bytes. */
static void
decode_all_shapes(void **state)
{
	static const size_t lens[] = { 1, 2, 3, 47, 48, 49, 57, 58,
	    T_DATA_LEN - 1, T_DATA_LEN };
	static const size_t cols[] = { 0, T_COLS_PEM, T_COLS_MIME };
	static const char *const eols[] = { "\n", "\r\n" };
	unsigned char data[T_DATA_LEN];
	size_t        li, ci, ei;
	int           final, blank, nopad;
	char         *ref, *s;

	(void)state;
	for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		fill(data, lens[li], (unsigned)li);
		ref = ref_encode(data, lens[li]);
		for (ci = 0; ci < sizeof(cols) / sizeof(cols[0]); ci++)
		for (ei = 0; ei < 2; ei++)
		for (final = 0; final < 2; final++)
		for (blank = 0; blank <= final; blank++)
		for (nopad = 0; nopad < 2; nopad++) {
			s = shape(ref, cols[ci], eols[ei], final, blank,
			    nopad);
			expect_decodes(s, strlen(s), data, lens[li]);
			free(s);
		}
		free(ref);
	}
}

/* Known vectors from RFC 4648 section 10. */
static void
decode_rfc4648_vectors(void **state)
{
	(void)state;
	expect_decodes("Zg==", 4, (const unsigned char *)"f", 1);
	expect_decodes("Zm8=", 4, (const unsigned char *)"fo", 2);
	expect_decodes("Zm9v", 4, (const unsigned char *)"foo", 3);
	expect_decodes("Zm9vYg==", 8, (const unsigned char *)"foob", 4);
	expect_decodes("Zm9vYmE=", 8, (const unsigned char *)"fooba", 5);
	expect_decodes("Zm9vYmFy", 8, (const unsigned char *)"foobar", 6);
	expect_decodes("Zm9vYg", 6, (const unsigned char *)"foob", 4);
	expect_decodes("Zm9vYmE", 7, (const unsigned char *)"fooba", 5);
	/* Padding split by a line break is still at the end. */
	expect_decodes("Zg=\r\n=\r\n", 8, (const unsigned char *)"f", 1);
	/* Only the given length is read, not up to a NUL. */
	expect_decodes("Zm9vXXXX", 4, (const unsigned char *)"foo", 3);
}

/* Bytes outside the alphabet, misplaced or miscounted padding, and
 * truncated or empty input are refused. */
static void
decode_rejects(void **state)
{
	static const char nul[] = "Zm9v\0mFy";

	(void)state;
	expect_refused("Zm9v YmFy", 9);          /* space inside */
	expect_refused(" Zm9vYmFy", 9);          /* leading space */
	expect_refused("Zm9vYmFy ", 9);          /* trailing space */
	expect_refused("Zm9v\tYmFy", 9);         /* tab */
	expect_refused("Zm9v*mFy", 8);           /* '*' */
	expect_refused(nul, sizeof(nul) - 1);    /* NUL byte */
	expect_refused("Zm9v-mFy", 8);           /* base64url '-' */
	expect_refused("Zm9v_mFy", 8);           /* base64url '_' */
	expect_refused("Zm9v\xc3\xa9mFy", 9);    /* non-ASCII */
	expect_refused("Zg==Zm9v", 8);           /* '=' in the middle */
	expect_refused("Zm=9", 4);               /* '=' in the middle */
	expect_refused("Zg=", 3);                /* too little padding */
	expect_refused("Zm8==", 5);              /* too much padding */
	expect_refused("Zm9v=", 5);              /* padding after 4n */
	expect_refused("Zg===", 5);              /* three '=' */
	expect_refused("====", 4);               /* padding only */
	expect_refused("=", 1);
	expect_refused("Zm9vY", 5);              /* length mod 4 == 1 */
	expect_refused("Z", 1);
	expect_refused("Zm9vY\r\n", 7);
	expect_refused("-----BEGIN", 10);        /* PEM is not base64 */
}

/* Empty bodies, NULL, and bodies of only line breaks. */
static void
decode_empty(void **state)
{
	unsigned char *out;
	size_t         olen;

	(void)state;
	expect_refused("", 0);
	expect_refused("\r\n", 2);
	expect_refused("\n\n\n", 3);
	est_reason_clear();
	assert_int_equal(b64_decode(NULL, 0, &out, &olen),
	    EST_ERR_BAD_BASE64);
	assert_string_equal(est_reason(EST_ERR_BAD_BASE64),
	    "empty request body");
	assert_int_equal(b64_decode("\r\n\r\n", 4, &out, &olen),
	    EST_ERR_BAD_BASE64);
	assert_string_equal(est_reason(EST_ERR_BAD_BASE64),
	    "empty request body");
}

/* Encoding 0..T_MAX_ENCODE bytes: LF after every EST_B64_COLS
 * characters and after the last line, equals the reference without
 * the line breaks, NUL-terminated, and decodes back. */
static void
encode_layout_roundtrip(void **state)
{
	unsigned char  data[T_MAX_ENCODE];
	unsigned char *back;
	char          *out, *ref, *flat;
	size_t         len, olen, blen, i, col, f;

	(void)state;
	fill(data, sizeof(data), 7);
	for (len = 0; len <= T_MAX_ENCODE; len++) {
		assert_int_equal(b64_encode(data, len, &out, &olen), EST_OK);
		assert_non_null(out);
		assert_int_equal(strlen(out), olen);
		ref = ref_encode(data, len);
		flat = malloc(olen + 1);
		assert_non_null(flat);
		/* Walk the lines: full ones of EST_B64_COLS, LF each. */
		col = 0;
		f = 0;
		for (i = 0; i < olen; i++) {
			assert_int_not_equal(out[i], '\r');
			if (out[i] == '\n') {
				assert_true(col > 0);
				if (i + 1 < olen)
					assert_int_equal(col, EST_B64_COLS);
				else
					assert_true(col <= EST_B64_COLS);
				col = 0;
				continue;
			}
			flat[f++] = out[i];
			col++;
			assert_true(col <= EST_B64_COLS);
		}
		flat[f] = '\0';
		assert_int_equal(col, 0); /* ends with LF (or empty) */
		assert_string_equal(flat, ref);
		if (len == 0)
			assert_string_equal(out, "");
		else {
			assert_int_equal(b64_decode(out, olen, &back, &blen),
			    EST_OK);
			assert_int_equal(blen, len);
			assert_memory_equal(back, data, len);
			free(back);
		}
		free(flat);
		free(ref);
		free(out);
	}
}

/* A known short encoding, exactly. */
static void
encode_known(void **state)
{
	char  *out;
	size_t olen;

	(void)state;
	assert_int_equal(b64_encode((const unsigned char *)"foobar", 6,
	    &out, &olen), EST_OK);
	assert_string_equal(out, "Zm9vYmFy\n");
	assert_int_equal(olen, 9);
	free(out);
	assert_int_equal(b64_encode((const unsigned char *)"f", 1,
	    &out, &olen), EST_OK);
	assert_string_equal(out, "Zg==\n");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_all_shapes),
		cmocka_unit_test(decode_rfc4648_vectors),
		cmocka_unit_test(decode_rejects),
		cmocka_unit_test(decode_empty),
		cmocka_unit_test(encode_layout_roundtrip),
		cmocka_unit_test(encode_known),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
