/*
 * b64.c — RFC 4648 base64 as RFC 7030 and RFC 8951 use it.
 *
 * Request bodies (RFC 7030 4.2.1, clarified by RFC 8951 section 3)
 * arrive as base64 with or without line breaks; we skip CR and LF and
 * refuse every other byte outside the RFC 4648 section 4 alphabet.
 * Responses are written with LF every EST_B64_COLS characters (what
 * libest's server and base64(1) write; `base64 -d` rejects CR).
 * No BIO_f_base64: its end of data "cannot always be reliably
 * determined".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"

#define B64_QUANTUM_IN  4 /* base64 characters per group */
#define B64_QUANTUM_OUT 3 /* bytes per group */
#define B64_MAX_PAD     2 /* RFC 4648 section 4: at most "==" */
#define B64_EOL_LEN     1 /* LF */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns the 6-bit value of RFC 4648 section 4 character c, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Returns whether c is a line break RFC 8951 section 3 lets us skip. */
static int
b64_is_eol(unsigned char c)
{
	return c == '\r' || c == '\n';
}

/*
 * First pass: validates in[0..inlen) and counts its alphabet characters
 * (*ndata) so the output can be sized before decoding.  Records a reason
 * and returns EST_ERR_BAD_BASE64 on any malformation, else EST_OK.
 */
static enum est_err
b64_scan(const char *in, size_t inlen, size_t *ndata)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t               i, n = 0, pad = 0;

	for (i = 0; i < inlen; i++) {
		if (b64_is_eol(p[i]))
			continue;
		if (p[i] == '=') {
			pad++;
			continue;
		}
		if (b64_value(p[i]) < 0)
			/* RFC 4648 section 3.3: reject non-alphabet bytes. */
			return est_fail(EST_ERR_BAD_BASE64,
			    "invalid base64 byte 0x%02x at offset %zu",
			    p[i], i);
		if (pad > 0)
			/* RFC 4648 section 3.2: padding only at the end. */
			return est_fail(EST_ERR_BAD_BASE64,
			    "base64 padding before offset %zu", i);
		n++;
	}
	if (n == 0 && pad == 0)
		return est_fail(EST_ERR_BAD_BASE64, "empty request body");
	if (n % B64_QUANTUM_IN == 1)
		return est_fail(EST_ERR_BAD_BASE64,
		    "truncated base64 (%zu characters)", n);
	/* RFC 4648 section 4: "==" after 2 characters, "=" after 3. */
	if (pad > 0 && (pad > B64_MAX_PAD ||
	    (n + pad) % B64_QUANTUM_IN != 0))
		return est_fail(EST_ERR_BAD_BASE64,
		    "wrong base64 padding (%zu '=' after %zu characters)",
		    pad, n);
	*ndata = n;
	return EST_OK;
}

/*
 * Decodes base64 text in[0..inlen) (RFC 4648 section 4 alphabet; CR and
 * LF skipped; '=' padding optional but correct if present).  On EST_OK
 * *out is a malloc'd buffer the caller frees with free() and *outlen its
 * exact length (at least 1).  Returns EST_ERR_BAD_BASE64 with a reason,
 * or EST_ERR_NOMEM.
 */
enum est_err
b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char       *buf = NULL;
	enum est_err         rc;
	size_t               i, n = 0, len, o = 0;
	uint32_t             acc = 0;
	unsigned             bits = 0;
	int                  v;

	*out = NULL;
	*outlen = 0;
	if (in == NULL || inlen == 0)
		return est_fail(EST_ERR_BAD_BASE64, "empty request body");
	if ((rc = b64_scan(in, inlen, &n)) != EST_OK)
		return rc;

	/* Every 4 characters give 3 bytes; 2 or 3 left over give 1 or 2. */
	len = n / B64_QUANTUM_IN * B64_QUANTUM_OUT;
	if (n % B64_QUANTUM_IN != 0)
		len += n % B64_QUANTUM_IN - 1;
	if ((buf = malloc(len)) == NULL)
		return est_fail(EST_ERR_NOMEM, "out of memory decoding base64");

	for (i = 0; i < inlen; i++) {
		if ((v = b64_value(p[i])) < 0)
			continue; /* CR, LF or the final '=' (checked above) */
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits (< 8) are padding bits: RFC 4648 section 3.5. */
	if (o != len) {
		free(buf);
		return est_fail(EST_ERR_INTERNAL, "base64 length mismatch");
	}
	*out = buf;
	*outlen = len;
	return EST_OK;
}

/*
 * Encodes in[0..len) as padded base64 (RFC 4648 section 4) in lines of
 * EST_B64_COLS characters, each line (the last too) ending in LF.
 * On EST_OK *out is a malloc'd NUL-terminated string the caller frees
 * with free(), *outlen its length without the NUL ("" for len 0).
 * Returns EST_ERR_NOMEM on allocation failure or overflow.
 */
enum est_err
b64_encode(const unsigned char *in, size_t len, char **out, size_t *outlen)
{
	char    *buf, *w;
	size_t   enc, lines, total, i, col = 0, k, ngroup;
	uint32_t g;
	char     quad[B64_QUANTUM_IN];

	*out = NULL;
	*outlen = 0;
	if (in == NULL && len != 0)
		return est_fail(EST_ERR_INTERNAL, "base64 of NULL");
	/* Overflow guard: the output is about 4/3 * len plus line ends. */
	if (len / B64_QUANTUM_OUT >= SIZE_MAX / (2 * B64_QUANTUM_IN))
		return est_fail(EST_ERR_NOMEM, "base64 input too large");
	enc = (len + B64_QUANTUM_OUT - 1) / B64_QUANTUM_OUT * B64_QUANTUM_IN;
	lines = (enc + EST_B64_COLS - 1) / EST_B64_COLS;
	total = enc + lines * B64_EOL_LEN;
	if ((buf = malloc(total + 1)) == NULL)
		return est_fail(EST_ERR_NOMEM, "out of memory encoding base64");

	w = buf;
	for (i = 0; i < len; i += B64_QUANTUM_OUT) {
		ngroup = len - i < B64_QUANTUM_OUT ? len - i : B64_QUANTUM_OUT;
		g = (uint32_t)in[i] << 16;
		if (ngroup > 1)
			g |= (uint32_t)in[i + 1] << 8;
		if (ngroup > 2)
			g |= in[i + 2];
		quad[0] = b64_alphabet[(g >> 18) & 0x3f];
		quad[1] = b64_alphabet[(g >> 12) & 0x3f];
		quad[2] = ngroup > 1 ? b64_alphabet[(g >> 6) & 0x3f] : '=';
		quad[3] = ngroup > 2 ? b64_alphabet[g & 0x3f] : '=';
		for (k = 0; k < B64_QUANTUM_IN; k++) {
			*w++ = quad[k];
			if (++col == EST_B64_COLS) {
				*w++ = '\n';
				col = 0;
			}
		}
	}
	if (col != 0)
		*w++ = '\n';
	*w = '\0';
	*out = buf;
	*outlen = (size_t)(w - buf);
	return EST_OK;
}
