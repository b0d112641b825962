/* The few libc routines gcc and the guests need.  memset/memcpy use string
 * instructions so gcc cannot turn their loops back into calls to themselves. */
#include "guest.h"

void *memset(void *d, int c, uint32_t n)
{
	void *ret = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return ret;
}

void *memcpy(void *d, const void *s, uint32_t n)
{
	void *ret = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return ret;
}

int memcmp(const void *a, const void *b, uint32_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

uint32_t strlen(const char *s)
{
	uint32_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, uint32_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, 0xFFFFFFFFu);
}

const char *strstr(const char *hay, const char *needle)
{
	uint32_t n = strlen(needle);
	for (; *hay; hay++)
		if (!strncmp(hay, needle, n))
			return hay;
	return n ? 0 : hay;
}

int cmdline_has(const char *word)
{
	/* The Launcher joins its arguments with single spaces (and may leave
	 * a trailing one), §2.4: compare whole words. */
	uint32_t ptr = *(volatile uint32_t *)gpa_ptr(BP_CMD_LINE_PTR);
	const char *p = gpa_ptr(ptr);
	uint32_t n = strlen(word);

	if (!ptr)
		return 0;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if ((uint32_t)(p - w) == n && !strncmp(w, word, n))
			return 1;
	}
	return 0;
}
