/* dma_bus: a 2.6.23 (G0) guest on the DMA device bus (docs/abi.md §H1.4,
 * §H1.7; lgkvm docs/DESIGN.md §7.4).  Built with LGUEST_GEN=0 and booted as
 * a 2.6.23 bzImage (guests.mk: g0/dma_bus.bzimage), so lgkvm must unpack it,
 * find the GenuineLguest marker, read PAGE_OFFSET from the instructions after
 * it and enter there at the virtual address (lib/entry.S).
 *
 * The command line names what to check:
 *   (nothing)  the boot contract, BIND_DMA's answers, console output by
 *              SEND_DMA to key 0 in several sections;
 *   block      read and write through the block page (--disk blk-test.img);
 *   net        ARP and ping the host through the MAC page (--net tap);
 *   a hostile case (below): lgkvm must kill, with the reason tests.list
 *              expects, or keep its rules (the guest checks, exit 0). */
#include "blk_pattern.h"
#include "guest.h"
#include "netping.h"

const char test_name[] = "dma_bus";

extern volatile uint32_t g0_boot_params, g0_entered_virtual;

#define MS	1000000u
#define TICK_MS 10u

static volatile unsigned irq_count[LGUEST_IRQS];

static void irq_handler(struct trap_frame *f)
{
	irq_count[(f->vector - 32) & (LGUEST_IRQS - 1)]++;
}

static uint32_t bind(uint32_t key, void *dmas, unsigned num, unsigned irq)
{
	return hcall(LHCALL_BIND_DMA, key, (uint32_t)dmas, num << 8 | irq);
}

/* A buffer as sections that never cross a page, as Linux's drivers made them. */
static void dma_set(struct lguest_dma *d, const void *buf, uint32_t len)
{
	uint32_t a = (uint32_t)buf, n = 0;

	memset(d, 0, sizeof(*d));
	while (len && n < DMA_SECTIONS) {
		uint32_t chunk = PAGE_SIZE - (a & 0xFFF);
		if (chunk > len)
			chunk = len;
		d->addr[n] = a;
		d->len[n++] = (uint16_t)chunk;
		a += chunk;
		len -= chunk;
	}
}

static volatile struct lguest_device_desc *descs(void)
{
	return gpa_ptr(ram_size()); /* the page after RAM: our tables map it */
}

/* Descriptor index of the first device of `type`; fails if none. */
static unsigned find_dev(uint16_t type)
{
	volatile struct lguest_device_desc *d = descs();
	for (unsigned i = 0; i < 16; i++)
		if (d[i].type == type)
			return i;
	fail("no device of type %u in the descriptor page", type);
}

/* Interrupts on, the async ring flushed: whatever is pending comes in. */
static void let_irqs_in(void)
{
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	lguest_data.irq_enabled = 0;
}

static void irqs_init(void)
{
	idt_init_linux();
	for (unsigned irq = 0; irq < LGUEST_IRQS; irq++)
		set_trap_handler(32 + irq, irq_handler);
	lguest_data.blocked_interrupts = 0;
}

/* ---- the boot contract and the bus's answers ---------------------------- */

static void check_basics(void)
{
	CHECK(g0_entered_virtual == 1, "lguest_entry did not run at PAGE_OFFSET");
	CHECK(g0_boot_params == G0_PAGE_OFFSET, "ESI was %#x at entry, want 0 (the zero page)",
	      g0_boot_params - G0_PAGE_OFFSET);
	CHECK(lguest_data.reserve_mem == LGUEST_RESERVE_MEM, "reserve_mem %#x",
	      lguest_data.reserve_mem);
	CHECK(lguest_data.guestid != 0, "INIT wrote no guestid");

	/* The console is the last device: type 1, no page of its own. */
	unsigned c = find_dev(DMA_T_CONSOLE);
	volatile struct lguest_device_desc *d = descs();
	CHECK(d[c].num_pages == 0 && d[c].pfn == 0, "console descriptor has pages %u pfn %#x",
	      d[c].num_pages, d[c].pfn);

	/* BIND_DMA says yes, no, and unbinds (the reference's answers). */
	static struct lguest_dma in[2];
	CHECK(bind(0, in, 2, c + 1) == 1, "binding the console input was refused");
	CHECK(bind(0, in, 2, 0) == 1, "unbinding the console input was refused");
	CHECK(bind(0, in, 2, 0) == 0, "unbinding twice said yes");
	CHECK(bind(0, in, 2, 32) == 0, "interrupt 32 was accepted");
	/* 32 bindings fit, the 33rd does not. */
	static struct lguest_dma many[1];
	for (unsigned i = 0; i < 32; i++)
		CHECK(bind(0x10000 + 4 * i, many, 1, 5) == 1, "binding %u of 32 refused", i);
	CHECK(bind(0x10000 + 4 * 32, many, 1, 5) == 0, "a 33rd binding was accepted");
	for (unsigned i = 0; i < 32; i++)
		CHECK(bind(0x10000 + 4 * i, many, 1, 0) == 1, "unbinding %u refused", i);

	/* A key nobody listens on: nothing taken. */
	static struct lguest_dma d2;
	static const char lost[] = "nobody hears this\n";
	dma_set(&d2, lost, sizeof(lost) - 1);
	hcall(LHCALL_SEND_DMA, 0x20000, (uint32_t)&d2, 0);
	CHECK(d2.used_len == 0, "SEND_DMA to an unbound key took %u bytes", d2.used_len);

	/* The console takes every section, all 16 of them. */
	static const char *parts[DMA_SECTIONS] = {
		"dma_bus: ", "console ", "in ", "sixteen ", "sections", ",", " ", "one ",
		"SEND_DMA",  " ",	 "to ", "key ",	    "0",	".", ".", "\n"};
	static struct lguest_dma out;
	uint32_t total = 0;
	for (unsigned i = 0; i < DMA_SECTIONS; i++) {
		out.addr[i] = (uint32_t)parts[i];
		out.len[i] = (uint16_t)strlen(parts[i]);
		total += out.len[i];
	}
	hcall(LHCALL_SEND_DMA, DMA_CONSOLE_KEY, (uint32_t)&out, 0);
	CHECK(out.used_len == total, "console took %u of %u bytes", out.used_len, total);
}

/* ---- block --------------------------------------------------------------- */

static volatile struct lguest_block_page *blk;
static uint32_t blk_key;
static unsigned blk_irq;
static struct lguest_dma blk_reply;
static uint8_t sector_buf[2][512] __attribute__((aligned(4096)));

/* One request; returns result (1 done, 2 error) after checking the irq. */
static int blk_req(int write, uint32_t sector, void *data)
{
	static struct lguest_dma send;
	unsigned before = irq_count[blk_irq];

	blk->type = write;
	blk->sector = sector;
	blk->bytes = 512;
	blk->result = 0;
	/* The reply buffer in two sections, to see them filled in order. */
	memset(&blk_reply, 0, sizeof(blk_reply));
	if (!write) {
		blk_reply.addr[0] = (uint32_t)data;
		blk_reply.len[0] = 100;
		blk_reply.addr[1] = (uint32_t)data + 100;
		blk_reply.len[1] = 412;
	} else {
		blk_reply.addr[0] = (uint32_t)sector_buf[1];
		blk_reply.len[0] = 512;
	}
	if (write)
		dma_set(&send, data, 512);
	else
		memset(&send, 0, sizeof(send)); /* a read is an empty "ping" */
	hcall(LHCALL_SEND_DMA, blk_key, (uint32_t)&send, 0);
	CHECK(blk->result != 0, "no result when SEND_DMA returned");
	let_irqs_in();
	CHECK(irq_count[blk_irq] == before + 1, "block interrupt %u not raised", blk_irq);
	if (!write)
		CHECK(blk_reply.used_len == 512, "read reply used_len %u", blk_reply.used_len);
	return blk->result;
}

static void test_block(void)
{
	unsigned i = find_dev(DMA_T_BLOCK);
	volatile struct lguest_device_desc *d = descs();

	CHECK(d[i].num_pages == 1 && d[i].pfn * PAGE_SIZE >= ram_size(),
	      "block descriptor pages %u pfn %#x", d[i].num_pages, d[i].pfn);
	blk_key = d[i].pfn * PAGE_SIZE;
	blk = gpa_ptr(blk_key);
	blk_irq = i + 1;
	CHECK(blk->num_sectors == BLK_TEST_SECTORS, "disk has %u sectors, want %u",
	      blk->num_sectors, BLK_TEST_SECTORS);
	CHECK(bind(blk_key, &blk_reply, 1, blk_irq) == 1, "binding the reply buffer refused");

	/* Read sector 3: the image's pattern. */
	CHECK(blk_req(0, 3, sector_buf[0]) == 1, "read failed");
	for (uint32_t b = 0; b < 512; b++)
		CHECK(sector_buf[0][b] == blk_pattern(3 * 512 + b), "sector 3 byte %u is %x", b,
		      sector_buf[0][b]);
	/* Write sector 3 inverted, read it back, put it back as it was. */
	static uint8_t inv[512] __attribute__((aligned(512)));
	for (uint32_t b = 0; b < 512; b++)
		inv[b] = (uint8_t)~blk_pattern(3 * 512 + b);
	if (cmdline_has("ro")) {
		/* A read-only disk: the write fails (result 2), the data stays. */
		CHECK(blk_req(1, 3, inv) == 2, "a write to a read-only disk did not fail");
		CHECK(blk_req(0, 3, sector_buf[0]) == 1, "read after the refused write failed");
		CHECK(sector_buf[0][0] == blk_pattern(3 * 512),
		      "the refused write changed the disk");
		printf("dma_bus: read-only: writes fail, reads work ok\n");
		return;
	}
	CHECK(blk_req(1, 3, inv) == 1, "write failed");
	CHECK(blk_req(0, 3, sector_buf[0]) == 1, "read back failed");
	CHECK(memcmp(sector_buf[0], inv, 512) == 0, "sector 3 does not read back as written");
	for (uint32_t b = 0; b < 512; b++)
		inv[b] = blk_pattern(3 * 512 + b);
	CHECK(blk_req(1, 3, inv) == 1, "restoring write failed");
	/* The last whole sector is readable; the ragged tail is not a sector. */
	CHECK(blk_req(0, BLK_TEST_SECTORS - 1, sector_buf[0]) == 1, "last sector read failed");
	printf("dma_bus: block read and write ok (%u sectors, irq %u)\n", blk->num_sectors,
	       blk_irq);
}

/* ---- network ------------------------------------------------------------- */

#define RX_BUFS 4
static uint8_t rx_buf[RX_BUFS][PAGE_SIZE] __attribute__((aligned(4096)));
static struct lguest_dma rx_dma[RX_BUFS];
static uint32_t net_page;
static unsigned net_irq;

static void xmit(const uint8_t *frame, uint32_t len)
{
	static struct lguest_dma d;
	dma_set(&d, frame, len);
	hcall(LHCALL_SEND_DMA, net_page, (uint32_t)&d, 0); /* peer 0: the host */
	CHECK(d.used_len == len, "host took %u of %u frame bytes", d.used_len, len);
}

static int rx_take(uint16_t seq)
{
	int got = 0;
	for (unsigned i = 0; i < RX_BUFS; i++) {
		uint32_t len = rx_dma[i].used_len;
		if (!len)
			continue;
		CHECK(len <= NET_FRAME_MAX, "frame of %u bytes", len);
		got |= net_handle(rx_buf[i], len, seq);
		rx_dma[i].used_len = 0; /* the buffer is ours again */
	}
	return got;
}

static int receive(uint32_t ms, uint16_t seq)
{
	for (unsigned ticks = 0;; ticks++) {
		if (rx_take(seq))
			return 1;
		if (ticks * TICK_MS >= ms)
			return 0;
		/* safe_halt: sleep until the device's interrupt or the timer's. */
		lguest_data.irq_enabled = 0;
		hcall(LHCALL_SET_CLOCKEVENT, TICK_MS * MS, 0, 0);
		hcall(LHCALL_HALT, 0, 0, 0);
	}
}

static void test_net(void)
{
	unsigned i = find_dev(DMA_T_NET);
	volatile struct lguest_device_desc *d = descs();
	unsigned me = d[i].features & 0xFFF;

	CHECK(me == 1, "we are peer %u, want 1", me);
	net_page = d[i].pfn * PAGE_SIZE;
	net_irq = i + 1;
	volatile uint8_t *peers = gpa_ptr(net_page);
	CHECK(peers[0] & 1, "the host's slot is not promiscuous");
	/* 2.6.23's MAC: 02:00, guestid, 00:00. */
	uint8_t mac[6] = {
		0x02, 0x00, (uint8_t)lguest_data.guestid, (uint8_t)(lguest_data.guestid >> 8),
		0,    0};
	memcpy(net.my_mac, mac, 6);
	for (unsigned b = 0; b < 6; b++)
		peers[6 * me + b] = mac[b];
	for (unsigned b = 0; b < RX_BUFS; b++)
		dma_set(&rx_dma[b], rx_buf[b], NET_FRAME_MAX);
	CHECK(bind(net_page + 4 * me, rx_dma, RX_BUFS, net_irq) == 1, "binding receive refused");
	net.xmit = xmit;
	net.receive = receive;
	net_ping_host();
	CHECK(irq_count[net_irq], "no receive interrupt");
}

/* ---- console input (by hand: `(sleep 1; echo hi) | lgkvm run ... -- console_in`) */

static void test_console_in(void)
{
	static struct lguest_dma in;
	static char buf[64];
	unsigned c = find_dev(DMA_T_CONSOLE);

	dma_set(&in, buf, sizeof(buf) - 1);
	CHECK(bind(DMA_CONSOLE_KEY, &in, 1, c + 1) == 1, "binding the console input refused");
	printf("dma_bus: waiting for console input\n");
	for (unsigned ticks = 0; !in.used_len; ticks++) {
		CHECK(ticks < 1000, "no console input in 10 s");
		lguest_data.irq_enabled = 0;
		hcall(LHCALL_SET_CLOCKEVENT, TICK_MS * MS, 0, 0);
		hcall(LHCALL_HALT, 0, 0, 0);
	}
	buf[in.used_len < sizeof(buf) ? in.used_len : sizeof(buf) - 1] = 0;
	/* The input may have landed between two halts, with interrupts off:
	 * its interrupt is then still pending.  Let it in. */
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	for (unsigned i = 0; i < 1000 && !irq_count[c + 1]; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(irq_count[c + 1], "no console interrupt");
	printf("dma_bus: console input: %s", buf);
}

/* ---- hostile ------------------------------------------------------------- */

static struct lguest_dma hd;

static void send_console(void)
{
	hcall(LHCALL_SEND_DMA, DMA_CONSOLE_KEY, (uint32_t)&hd, 0);
}

static void dma_outside(void)
{
	hd.addr[0] = ram_size() + 0x100000 + 0x10000; /* past RAM and the device area */
	hd.len[0] = 16;
	send_console();
}

static void dma_crosses_page(void)
{
	hd.addr[0] = 0x200F00;
	hd.len[0] = 0x200;
	send_console();
}

static void dma_too_long(void)
{
	hd.addr[0] = 0x200000;
	hd.len[0] = 0x1001;
	send_console();
}

static void dma_struct_outside(void)
{
	hcall(LHCALL_SEND_DMA, DMA_CONSOLE_KEY, 0xFFFFFF00u, 0);
}

static void send_bad_key(void)
{
	hd.addr[0] = (uint32_t)test_name;
	hd.len[0] = 4;
	hcall(LHCALL_SEND_DMA, 0x1003, (uint32_t)&hd, 0);
}

static void bind_bad_key(void)
{
	bind(0xF0000000u, &hd, 1, 3);
}

static void bind_twice(void)
{
	static struct lguest_dma a[1], b[1];
	CHECK(bind(0x30000, a, 1, 3) == 1, "first bind refused");
	bind(0x30000, b, 1, 3);
}

static void bind_array_outside(void)
{
	bind(0x30000, (void *)(ram_size() + 0x80000), 2, 3); /* past the device pages */
}

static void bind_count_zero(void)
{
	bind(0x30000, &hd, 0, 3);
}

static void bind_count_huge(void)
{
	hcall(LHCALL_BIND_DMA, 0x30000, 0x1000, 0x10000u << 8 | 3);
}

/*
 * The three hostile block requests below differ only in the reply buffer
 * they bind and the sector they ask for: each sends a bare 512-byte read
 * request (no data sections) to the block device's key.
 */
static void block_send_read(uint32_t key, uint32_t sector)
{
	volatile struct lguest_block_page *p = gpa_ptr(key);
	p->type = 0;
	p->sector = sector;
	p->bytes = 512;
	memset(&hd, 0, sizeof(hd));
	hcall(LHCALL_SEND_DMA, key, (uint32_t)&hd, 0);
}

static void bound_buffer_outside(void)
{
	/* A reply buffer whose section lies outside RAM: found at delivery. */
	unsigned i = find_dev(DMA_T_BLOCK);
	uint32_t key = descs()[i].pfn * PAGE_SIZE;
	static struct lguest_dma reply;
	reply.addr[0] = 0xF0000000u;
	reply.len[0] = 512;
	CHECK(bind(key, &reply, 1, i + 1) == 1, "bind refused");
	block_send_read(key, 0);
}

static void block_past_end(void)
{
	unsigned i = find_dev(DMA_T_BLOCK);
	uint32_t key = descs()[i].pfn * PAGE_SIZE;
	static struct lguest_dma reply;
	dma_set(&reply, sector_buf[0], 512);
	CHECK(bind(key, &reply, 1, i + 1) == 1, "bind refused");
	volatile struct lguest_block_page *p = gpa_ptr(key);
	block_send_read(key, p->num_sectors);
}

static void block_no_reply(void)
{
	block_send_read(descs()[find_dev(DMA_T_BLOCK)].pfn * PAGE_SIZE, 0);
}

static void pae_call(void)
{
	/* 14 and 15 exist; 17 (NOTIFY) came with 2.6.24. */
	hcall(17, 0, 0, 0);
}

void test_main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{"dma_outside", dma_outside},
		{"dma_crosses_page", dma_crosses_page},
		{"dma_too_long", dma_too_long},
		{"dma_struct_outside", dma_struct_outside},
		{"send_bad_key", send_bad_key},
		{"bind_bad_key", bind_bad_key},
		{"bind_twice", bind_twice},
		{"bind_array_outside", bind_array_outside},
		{"bind_count_zero", bind_count_zero},
		{"bind_count_huge", bind_count_huge},
		{"bound_buffer_outside", bound_buffer_outside},
		{"block_past_end", block_past_end},
		{"block_no_reply", block_no_reply},
		{"notify", pae_call},
	};

	guest_init();
	irqs_init();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cmdline_has(cases[i].name))
			continue;
		printf("dma_bus: %s\n", cases[i].name);
		cases[i].fn();
		fail("the host let %s through", cases[i].name);
	}
	check_basics();
	if (cmdline_has("block"))
		test_block();
	if (cmdline_has("net"))
		test_net();
	if (cmdline_has("console_in"))
		test_console_in();
	pass();
}
