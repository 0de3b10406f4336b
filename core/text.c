/* UTF-16 (the W functions' strings) to and from UTF-8 (Linux paths). */
#include "internal.h"

#include <stdlib.h>

/* The code point at s[*i], advancing *i; -1 for an unpaired surrogate. */
static long next_unit(LPCWSTR s, size_t *i)
{
	unsigned c = s[(*i)++];

	if (c < 0xd800 || c > 0xdfff)
		return c;
	if (c > 0xdbff || s[*i] < 0xdc00 || s[*i] > 0xdfff)
		return -1;
	return 0x10000 + ((long)(c - 0xd800) << 10) + (s[(*i)++] - 0xdc00);
}

static size_t put_utf8(char *o, long c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

DWORD mt_utf16_to_utf8(LPCWSTR s, char **out)
{
	size_t n = 0, i = 0, o = 0;
	char *r;

	while (s[n])
		n++;
	if (!(r = malloc(n * 3 + 1)))      /* a unit gives at most 3 bytes */
		return ERROR_NOT_ENOUGH_MEMORY;
	while (i < n) {
		long c = next_unit(s, &i);

		if (c < 0) {
			free(r);
			return ERROR_NO_UNICODE_TRANSLATION;
		}
		o += put_utf8(r + o, c);
	}
	r[o] = 0;
	*out = r;
	return 0;
}

/* The code point at *p, which moves past it. A byte that starts no valid
 * sequence (a stray continuation byte, say) and a sequence cut short read
 * as U+FFFD, one unit. */
static long decode_utf8(const unsigned char **p)
{
	long c = *(*p)++;
	int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;

	if ((c & 0xc0) == 0x80 || c >= 0xf8)
		return 0xfffd;
	if (more)
		c &= 0x3f >> more;
	for (; more && (**p & 0xc0) == 0x80; more--)
		c = c << 6 | (*(*p)++ & 0x3f);
	return more || c > 0x10ffff ? 0xfffd : c;      /* cut short, or too big */
}

/* UTF-16 units needed for a UTF-8 string: the converter's own count. */
static size_t units(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p)
		n += decode_utf8(&p) >= 0x10000 ? 2 : 1;
	return n;
}

size_t mt_utf8_to_utf16(const char *s, WCHAR *out, size_t room)
{
	size_t need = units(s), o = 0;
	const unsigned char *p = (const unsigned char *)s;

	if (!out || room <= need)
		return need;
	while (*p) {
		long c = decode_utf8(&p);

		if (c >= 0x10000) {
			out[o++] = (WCHAR)(0xd800 + ((c - 0x10000) >> 10));
			out[o++] = (WCHAR)(0xdc00 + ((c - 0x10000) & 0x3ff));
		} else {
			out[o++] = (WCHAR)c;
		}
	}
	out[o] = 0;
	return o;
}
