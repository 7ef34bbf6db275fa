/*
 * fuzz-b64.c — libFuzzer target for b64_decode() (request bodies, RFC
 * 7030 / RFC 8951) and b64_encode(): whatever decodes must encode and
 * decode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der = NULL, *back = NULL;
	char          *text = NULL;
	size_t         derlen, textlen, backlen;

	est_reason_clear();
	if (b64_decode((const char *)data, size, &der, &derlen) == EST_OK) {
		if (derlen == 0 ||
		    b64_encode(der, derlen, &text, &textlen) != EST_OK ||
		    strlen(text) != textlen ||
		    b64_decode(text, textlen, &back, &backlen) != EST_OK ||
		    backlen != derlen || memcmp(back, der, derlen) != 0)
			abort();
	}
	free(der);
	free(text);
	free(back);
	return 0;
}
