/* Console output the way Linux's early console does it.
 *
 * Up to 3.19 (§9.10): copy at most 16 bytes into a buffer, NUL-terminate,
 * LHCALL_NOTIFY its address.  4.0+ (§H1.8): there is no NOTIFY; each byte goes
 * to the virtio console's emerg_wr register, reached through the console's
 * PCI_CFG capability -- a window into BAR0 driven entirely by configuration
 * cycles, so it works before anything is mapped.
 *
 * Plus a printf small enough to read: %s %c %d %u %x %p with '0' padding and
 * width. */
#include "guest.h"
#if GEN_PCI
#include "pci.h"
#endif

#if GEN_PCI
#define CONSOLE_SLOT	   1  /* the console is always 00:01.0 */
#define CONSOLE_EMERG_WR   8  /* offset of emerg_wr in virtio_console_config */
#define CONSOLE_CFG_NEEDED 12 /* the config must reach past emerg_wr */

/* Found once, as virtio_cons_early_init's probe does: the ID, the device
 * config capability (on BAR0, long enough) and the PCI_CFG capability.  If
 * any of it is missing, output is lost, as it would be for Linux. */
static int emerg_state; /* 0 not looked, 1 usable, -1 not */
static unsigned emerg_cap;
static uint32_t emerg_off;

static int emerg_probe(void)
{
	struct vcap dev;

	if (pci_read(CONSOLE_SLOT, PCI_VENDOR_ID, 4) !=
	    (VIRTIO_PCI_DEVICE(VIRTIO_ID_CONSOLE) << 16 | VIRTIO_PCI_VENDOR))
		return -1;
	unsigned at = pci_find_vcap(CONSOLE_SLOT, VIRTIO_PCI_CAP_DEVICE);
	emerg_cap = pci_find_vcap(CONSOLE_SLOT, VIRTIO_PCI_CAP_PCI_CFG);
	if (!at || !emerg_cap)
		return -1;
	pci_read_vcap(CONSOLE_SLOT, at, &dev);
	if (dev.bar != 0 || dev.length < CONSOLE_CFG_NEEDED)
		return -1;
	emerg_off = dev.offset + CONSOLE_EMERG_WR;
	return 1;
}

void puts_early(const char *s)
{
	if (!emerg_state)
		emerg_state = emerg_probe();
	if (emerg_state < 0)
		return;
	for (; *s; s++) {
		/* Aim the window (bar, length, offset), then write the data. */
		pci_write(CONSOLE_SLOT, emerg_cap + VCAP_BAR, 1, 0);
		pci_write(CONSOLE_SLOT, emerg_cap + VCAP_LENGTH, 4, 4);
		pci_write(CONSOLE_SLOT, emerg_cap + VCAP_OFFSET, 4, emerg_off);
		pci_write(CONSOLE_SLOT, emerg_cap + VCAP_PCI_CFG_DATA, 4, (uint8_t)*s);
	}
}
#elif GEN_DMA
/* 2.6.23's hvc_lguest: SEND_DMA of the bytes to the console's key 0. */
void puts_early(const char *s)
{
	static struct lguest_dma dma;
	uint32_t n = strlen(s);

	while (n) {
		uint32_t len = n > PAGE_SIZE - ((uint32_t)s & 0xFFF)
				       ? PAGE_SIZE - ((uint32_t)s & 0xFFF)
				       : n;
		dma.addr[0] = (uint32_t)s; /* identity-mapped: the address is the GPA */
		dma.len[0] = (uint16_t)len;
		dma.len[1] = 0;
		dma.used_len = 0;
		hcall(LHCALL_SEND_DMA, DMA_CONSOLE_KEY, (uint32_t)&dma, 0);
		s += len;
		n -= len;
	}
}
#else
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
#endif

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
