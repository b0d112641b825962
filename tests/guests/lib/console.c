/* Console output the way Linux's early console does it (§9.10): copy at most
 * 16 bytes into a buffer, NUL-terminate, LHCALL_NOTIFY its address.  Plus a
 * printf small enough to read: %s %c %d %u %x %p with '0' padding and width. */
#include "guest.h"

void puts_early(const char *s)
{
	char chunk[17];
	uint32_t n = strlen(s);

	while (n) {
		uint32_t len = n > 16 ? 16 : n;
		memcpy(chunk, s, len);
		chunk[len] = '\0';
		/* The stack is identity-mapped: its address is its GPA. */
		hcall(LHCALL_NOTIFY, (uint32_t)chunk, 0, 0);
		s += len;
		n -= len;
	}
}

struct out {
	char *buf;
	uint32_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, uint32_t v, unsigned base, int neg, unsigned width, char pad)
{
	char tmp[12];
	unsigned n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width > n) {
		put(o, pad);
		width--;
	}
	while (n)
		put(o, tmp[--n]);
}

int vsnprintf(char *buf, uint32_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		char pad = ' ';
		unsigned width = 0;
		fmt++;
		if (*fmt == '0')
			pad = '0', fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		while (*fmt == 'l')
			fmt++; /* long == int here */
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 'd': {
			int v = va_arg(ap, int);
			put_num(&o, v < 0 ? -(uint32_t)v : (uint32_t)v, 10, v < 0, width, pad);
			break;
		}
		case 'u':
			put_num(&o, va_arg(ap, uint32_t), 10, 0, width, pad);
			break;
		case 'x':
			put_num(&o, va_arg(ap, uint32_t), 16, 0, width, pad);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint32_t)va_arg(ap, void *), 16, 0, 8, '0');
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
			if (!*fmt)
				fmt--;
		}
	}
	if (o.size)
		o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, uint32_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	puts_early(buf);
}

void fail(const char *fmt, ...)
{
	/* The host reads 128 bytes and keeps 127 (§3.5), so the buffer is
	 * exactly that big and the message is cut to fit. */
	static char msg[128];
	char detail[112];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "FAIL: %s: %s", test_name, detail);
	for (;;)
		hcall(LHCALL_CRASH, (uint32_t)msg, LGUEST_SHUTDOWN_POWEROFF, 0);
}

void pass(void)
{
	printf("%s: PASS\n", test_name);
	power_off();
}
