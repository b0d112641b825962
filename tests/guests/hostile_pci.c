/* hostile_pci: the 4.0+ PCI platform abused (G8-G10).  Built per generation
 * like hostile_gen; the guest command line names the case.  A case ends as
 * tests.list says: killed with a reason (exit 5), or -- where the host only
 * has to keep its own rules -- passed by the guest's own checks (exit 0).  A
 * host that lets a killing case through gets a CRASH (exit 4), which fails.
 *
 * The console at 00:01.0 is the victim throughout: it is always there. */
#include "guest.h"
#include "pci.h"

const char test_name[] = "hostile_pci";

#define MiB	       (1024u * 1024u)
#define MON_WINDOW     0xA0000000u /* where we look at the monitor's first page */
#define LHCALL_NR_TS   8	   /* the numbers of calls these generations lack */
#define LHCALL_NR_NOTF 17

static struct vpci con;
static uint8_t ring[4096] __attribute__((aligned(4096)));
static uint8_t victim[4096] __attribute__((aligned(4096))); /* a page of our RAM */

/* The console found, reset and acknowledged: its status then reads ACK, and a
 * reset behind our back would show. */
static void console_ack(void)
{
	virtio_init();
	vpci_find(VIRTIO_ID_CONSOLE, 0, &con);
	con.common->device_status = 0;
	vpci_status(&con, VIRTIO_STATUS_ACK);
}

static void console_alive(const char *after)
{
	CHECK(con.common->device_status == VIRTIO_STATUS_ACK, "after %s the status reads %x", after,
	      con.common->device_status);
	CHECK(con.common->num_queues >= 2, "after %s num_queues reads %u", after,
	      con.common->num_queues);
	printf("hostile_pci: after %s the console still answers\n", after);
}

/* Up to FEATURES_OK with VERSION_1, ready for queues. */
static void console_features(void)
{
	virtio_init();
	vpci_find(VIRTIO_ID_CONSOLE, 0, &con);
	vpci_start(&con, 1ull << VIRTIO_CONSOLE_F_EMERG);
}

/* BAR0 moved over our own RAM: the device stops decoding there, so the
 * page behaves as RAM (what we write reads back, ISR does not clear, a
 * status write resets nothing), and moved back the device answers as
 * before. */
static void bar_over_ram(void)
{
	uint32_t home, cap_common;

	console_ack();
	home = con.bar;
	cap_common = con.cap[VIRTIO_PCI_CAP_COMMON].offset;
	for (unsigned i = 0; i < PAGE_SIZE; i++)
		victim[i] = (uint8_t)(i * 13 + 7);
	vpci_move_bar(&con, (uint32_t)victim);
	CHECK(pci_read(con.slot, PCI_BAR0, 4) == (uint32_t)victim, "BAR0 reads %x",
	      pci_read(con.slot, PCI_BAR0, 4));
	for (unsigned i = 0; i < PAGE_SIZE; i++)
		CHECK(victim[i] == (uint8_t)(i * 13 + 7), "RAM under BAR0 changed at +%x", i);
	con.common->device_status = 0; /* a reset, were it the device */
	CHECK(victim[cap_common + 20] == 0, "RAM did not take the write");
	uint8_t isr = *con.isr;
	CHECK(*con.isr == isr, "the page's ISR byte changed when read");
	printf("hostile_pci: BAR0 over RAM at %p: plain RAM\n", victim);
	vpci_move_bar(&con, home);
	console_alive("BAR0 over RAM");
	pass();
}

/* BAR0 moved onto the monitor at 0xFFC00000: not decoded there (the monitor's
 * bytes stay what they were), and the device is back when BAR0 is. */
static void bar_over_monitor(void)
{
	volatile uint32_t *mon = (volatile uint32_t *)MON_WINDOW;
	uint32_t before[64];

	console_ack();
	uint32_t home = con.bar;
	pt_map(pt_dir, MON_WINDOW, LGUEST_SWITCHER_ADDR, PTE_P);
	for (unsigned i = 0; i < 64; i++)
		before[i] = mon[i];
	pci_write(con.slot, PCI_BAR0, 4, LGUEST_SWITCHER_ADDR);
	CHECK(pci_read(con.slot, PCI_BAR0, 4) == LGUEST_SWITCHER_ADDR, "BAR0 reads %x",
	      pci_read(con.slot, PCI_BAR0, 4));
	for (unsigned i = 0; i < 64; i++)
		CHECK(mon[i] == before[i], "monitor dword %u reads %x, was %x", i, mon[i],
		      before[i]);
	printf("hostile_pci: BAR0 on the monitor: not decoded\n");
	pci_write(con.slot, PCI_BAR0, 4, home);
	console_alive("BAR0 on the monitor");
	pass();
}

/* BAR0 moved onto another device's BAR0, then to a free address (where it
 * must decode), then home; the other device answers throughout.  (Which of
 * two overlapping BARs decodes is not promised, so nobody reads there.) */
static void bar_overlap(void)
{
	struct vpci disk;

	console_ack();
	vpci_find(VIRTIO_ID_BLOCK, 0, &disk);
	uint32_t home = con.bar, spare = ram_size() + MiB + 16 * PAGE_SIZE;
	pci_map_identity(spare, PAGE_SIZE);
	vpci_move_bar(&con, disk.bar);
	CHECK(pci_read(con.slot, PCI_BAR0, 4) == disk.bar, "BAR0 reads %x",
	      pci_read(con.slot, PCI_BAR0, 4));
	vpci_move_bar(&con, spare);
	console_alive("a move to a free address");
	vpci_move_bar(&con, home);
	console_alive("the move home");
	CHECK(disk.common->num_queues == 1, "the disk's num_queues reads %u",
	      disk.common->num_queues);
	printf("hostile_pci: the disk at %x still answers\n", disk.bar);
	pass();
}

/* A ring that runs off the end of RAM, one not in RAM at all, one above
 * 4 GiB, one misaligned: each kills at queue_enable. */
static void ring_past_ram(void)
{
	console_features();
	uint32_t end = ram_size();
	printf("hostile_pci: queue 0 descriptors at %x, across the end of RAM\n", end - 1024);
	vpci_queue_raw(&con, 0, 128, end - 1024, (uint32_t)ring, (uint32_t)ring + 2048);
}

static void ring_outside_ram(void)
{
	console_features();
	uint32_t used = ram_size() + MiB / 2; /* the device area: not RAM */
	printf("hostile_pci: queue 1 used ring at %x\n", used);
	vpci_queue_raw(&con, 1, 128, (uint32_t)ring, (uint32_t)ring + 2048, used);
}

static void ring_64bit(void)
{
	console_features();
	printf("hostile_pci: queue 0 available ring above 4 GiB\n");
	vpci_queue_raw(&con, 0, 128, (uint32_t)ring, 0x100000000ull | ((uint32_t)ring + 2048),
		       (uint32_t)ring + 2560);
}

static void ring_misaligned(void)
{
	console_features();
	printf("hostile_pci: queue 0 descriptors at %p\n", ring + 8);
	vpci_queue_raw(&con, 0, 16, (uint32_t)ring + 8, (uint32_t)ring + 512,
		       (uint32_t)ring + 1024);
}

/* Registers past the 256 bytes (AMD's extension puts them in latch bits
 * 27:24, reserved for us) and every other reserved bit: all ones, and
 * writes there change nothing. */
static void conf_reserved(void)
{
	/* 00:01.0 is always there (the console). */
	uint32_t bar = pci_read(1, PCI_BAR0, 4), cmd = pci_read(1, PCI_COMMAND, 2);

	for (unsigned ext = 1; ext < 16; ext++) {
		uint32_t l = pci_addr(0, 1, 0, PCI_BAR0) | ext << 24;
		CHECK(pci_conf_read(l, 0, 4) == 0xFFFFFFFFu, "register %x reads %x",
		      ext << 8 | 0x10, pci_conf_read(l, 0, 4));
		pci_conf_write(l, 0, 4, 0x00100000);
		pci_conf_write(pci_addr(0, 1, 0, PCI_COMMAND) | ext << 24, PCI_COMMAND, 2, 0);
	}
	for (unsigned bit = 24; bit <= 30; bit++)
		CHECK(pci_conf_read(pci_addr(0, 0, 0, 0) | 1u << bit, 0, 4) == 0xFFFFFFFFu,
		      "00:00.0 with latch bit %u reads %x", bit,
		      pci_conf_read(pci_addr(0, 0, 0, 0) | 1u << bit, 0, 4));
	CHECK(pci_read(1, PCI_BAR0, 4) == bar && pci_read(1, PCI_COMMAND, 2) == cmd,
	      "BAR0 %x command %x after writes past 256 bytes", pci_read(1, PCI_BAR0, 4),
	      pci_read(1, PCI_COMMAND, 2));
	printf("hostile_pci: past 256 bytes and reserved bits: all ones, writes ignored\n");
	pass();
}

/* Config space read in bytes and words at every offset: the same bytes as
 * the dword reads, for every device and the host bridge. */
static void conf_odd_reads(void)
{
	for (unsigned s = 0; s < 32; s++) {
		if (pci_read(s, 0, 4) == 0xFFFFFFFFu)
			break;
		for (unsigned off = 0; off < 256; off += 4) {
			uint32_t dw = pci_read(s, off, 4);
			for (unsigned b = 0; b < 4; b++)
				CHECK(pci_read(s, off + b, 1) == (dw >> 8 * b & 0xFF),
				      "00:%02x.0 byte %x reads %x, dword says %x", s, off + b,
				      pci_read(s, off + b, 1), dw >> 8 * b & 0xFF);
			for (unsigned b = 0; b < 3; b++)
				CHECK(pci_read(s, off + b, 2) == (dw >> 8 * b & 0xFFFF),
				      "00:%02x.0 word at %x reads %x, dword says %x", s, off + b,
				      pci_read(s, off + b, 2), dw >> 8 * b & 0xFFFF);
			/* Across the dword: no value promised; it must not hurt. */
			(void)pci_read(s, off + 3, 2);
			(void)pci_read(s, off + 1, 4);
		}
	}
	printf("hostile_pci: byte and word reads agree with dword reads\n");
	pass();
}

/* The PCI_CFG window aimed wrong: a BAR that is not there, lengths the spec
 * does not allow, offsets past the BAR or not aligned to the length.  Each
 * write aims at device_status and must be dropped. */
static void pci_cfg_bad_window(void)
{
	static const struct {
		uint8_t bar;
		uint32_t len, off; /* off relative to the common config */
	} bad[] = {
		{1, 4, 20}, {5, 4, 20},	    {6, 4, 20},		 {0xFF, 4, 20},
		{0, 3, 20}, {0, 0, 20},	    {0, 8, 16},		 {0, 4, 18},
		{0, 2, 19}, {0, 4, 0x1000}, {0, 4, 0xFFFFFFFCu}, {0, 0xFFFFFFFFu, 20},
	};

	console_ack();
	unsigned s = con.slot, cap = pci_find_vcap(s, VIRTIO_PCI_CAP_PCI_CFG);
	uint32_t common = con.cap[VIRTIO_PCI_CAP_COMMON].offset;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pci_write(s, cap + VCAP_BAR, 1, bad[i].bar);
		pci_write(s, cap + VCAP_LENGTH, 4, bad[i].len);
		pci_write(s, cap + VCAP_OFFSET, 4,
			  bad[i].off >= 0x1000 ? bad[i].off : common + bad[i].off);
		pci_write(s, cap + VCAP_PCI_CFG_DATA, 4, 0);
		pci_write(s, cap + VCAP_PCI_CFG_DATA, 1, 0);
		(void)pci_read(s, cap + VCAP_PCI_CFG_DATA, 4);
		CHECK(con.common->device_status == VIRTIO_STATUS_ACK,
		      "window %u (bar %u len %x off %x) reached device_status: %x", i, bad[i].bar,
		      bad[i].len, bad[i].off, con.common->device_status);
	}
	/* The early console aims the window afresh for every byte. */
	console_alive("bad PCI_CFG windows");
	pass();
}

/* Doorbells for queues that do not exist; then a real transmit. */
static void notify_bad_queue(void)
{
	static struct vq rx, tx;
	static const char msg[] = "hostile_pci: console transmit after bad doorbells\n";
	static uint8_t rx_ring[4096] __attribute__((aligned(16)));
	uint32_t id, len;

	console_features();
	vpci_queue(&con, 0, &rx, 0, rx_ring);
	vpci_queue(&con, 1, &tx, 0, ring);
	vpci_status(&con, VIRTIO_STATUS_DRIVER_OK);
	volatile uint16_t *bell = tx.doorbell;
	const uint16_t bad[] = {2, 7, 31, 0x100, 0x7FFF, 0xFFFF, con.common->num_queues};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		*bell = bad[i];
	CHECK(!(con.common->device_status & 0x40), "device needs reset: status %x",
	      con.common->device_status);
	struct vbuf b = {msg, sizeof(msg) - 1, 0};
	uint16_t head = vq_add(&tx, &b, 1);
	vq_kick(&tx);
	CHECK(vq_wait(&tx, &id, &len, 5000), "the transmit never completed");
	CHECK(id == head, "used id %u, want %u", id, head);
	pass();
}

/* queue_select past num_queues: queue_size reads 0 and queue writes (even
 * garbage addresses and queue_enable) go nowhere. */
static void queue_select_range(void)
{
	console_features();
	volatile struct virtio_pci_common *c = con.common;
	uint16_t n = c->num_queues;
	uint32_t regs[2][4];
	for (unsigned q = 0; q < 2; q++) {
		c->queue_select = (uint16_t)q;
		regs[q][0] = c->queue_enable << 16 | c->queue_size;
		regs[q][1] = c->queue_desc_lo;
		regs[q][2] = c->queue_desc_hi;
		regs[q][3] = c->queue_used_lo;
	}
	const uint16_t sel[] = {n, (uint16_t)(n + 1), 100, 0x7FFF, 0xFFFF};
	for (unsigned i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		c->queue_select = sel[i];
		CHECK(c->queue_size == 0, "queue %u of %u: size %u", sel[i], n, c->queue_size);
		c->queue_size = 64;
		c->queue_desc_lo = 0xFFFFFFF0u;
		c->queue_desc_hi = 7;
		c->queue_avail_lo = 3;
		c->queue_used_lo = 5;
		c->queue_enable = 1;
		CHECK(c->queue_enable == 0 && c->queue_size == 0, "queue %u enabled", sel[i]);
	}
	for (unsigned q = 0; q < 2; q++) {
		c->queue_select = (uint16_t)q;
		CHECK(regs[q][0] == (uint32_t)(c->queue_enable << 16 | c->queue_size) &&
			      regs[q][1] == c->queue_desc_lo && regs[q][2] == c->queue_desc_hi &&
			      regs[q][3] == c->queue_used_lo,
		      "real queue %u touched: enable %u size %u desc %x:%x", q, c->queue_enable,
		      c->queue_size, c->queue_desc_hi, c->queue_desc_lo);
	}
	printf("hostile_pci: queue_select past %u: size 0, writes ignored\n", n);
	pass();
}

/* MMIO where no device decodes: a page after the last BAR, and the console's
 * own BAR with memory decoding switched off. */
static void mmio_no_device(void)
{
	virtio_init();
	uint32_t gpa = ram_size() + MiB + 30 * PAGE_SIZE; /* slot 31's would-be BAR */
	pci_map_identity(gpa, PAGE_SIZE);
	printf("hostile_pci: reading %x\n", gpa);
	(void)*(volatile uint32_t *)gpa_ptr(gpa);
}

static void mmio_memory_off(void)
{
	console_ack();
	pci_write(con.slot, PCI_COMMAND, 2, PCI_CMD_MASTER);
	printf("hostile_pci: reading BAR0 %x with memory decoding off\n", con.bar);
	(void)con.common->num_queues;
}

static void notify_hcall(void)
{
	printf("hostile_pci: LHCALL_NOTIFY on G%d\n", LGUEST_GEN);
	hcall(LHCALL_NR_NOTF, (uint32_t) "hello", 0, 0);
}

static void ts_hcall(void)
{
	printf("hostile_pci: LHCALL_TS on G%d\n", LGUEST_GEN);
	hcall(LHCALL_NR_TS, 8, 0, 0);
}

/* The monitor logs the early console's port writes and lgkvm replays them
 * at the next exit (docs/DESIGN.md §2.9).  Nothing may tell: a config read
 * right after logged writes sees them all, in order, and a line printed
 * through emerg_wr arrives whole. */
static void pio_log_order(void)
{
	static const char line[] = "hostile_pci: a deferred early-console line ok\n";
	console_ack();
	unsigned s = con.slot, cap = pci_find_vcap(s, VIRTIO_PCI_CAP_PCI_CFG);
	uint32_t emerg = con.cap[VIRTIO_PCI_CAP_DEVICE].offset + 8;
	pci_write(s, cap + VCAP_BAR, 1, 0);
	pci_write(s, cap + VCAP_LENGTH, 4, 1);
	pci_write(s, cap + VCAP_OFFSET, 4, emerg);
	/* struct mon_shared's handled_pio, to see that the monitor took them. */
	volatile uint32_t *handled_pio =
		(volatile uint32_t *)(LGUEST_SWITCHER_ADDR + 0x5000 + 38 * 4);
	uint32_t before = *handled_pio;
	for (const char *c = line; *c; c++)
		pci_write(s, cap + VCAP_PCI_CFG_DATA, 1, (uint8_t)*c);
	CHECK(*handled_pio - before >= 2 * (sizeof(line) - 1),
	      "the monitor finished %u of the line's %u port writes", *handled_pio - before,
	      2 * (unsigned)(sizeof(line) - 1));
	/* Re-aim the window byte by byte (each write logged), then read it. */
	pci_write(s, cap + VCAP_OFFSET, 1, 0x11);
	pci_write(s, cap + VCAP_OFFSET + 1, 1, 0x22);
	CHECK(pci_read(s, cap + VCAP_OFFSET, 4) == ((emerg & 0xFFFF0000u) | 0x2211u),
	      "the window's offset reads %x after logged writes",
	      pci_read(s, cap + VCAP_OFFSET, 4));
	CHECK(inl(0xCF8) == pci_addr(0, s, 0, cap + VCAP_OFFSET),
	      "the address latch reads %x after logged writes", inl(0xCF8));
	/* Another function's register is never logged: it takes effect now. */
	pci_write(0, 0x3C, 1, 0x5A); /* the host bridge's interrupt line */
	pci_write(s, cap + VCAP_OFFSET, 4, emerg);
	pci_write(s, cap + VCAP_PCI_CFG_DATA, 1, 'x');
	pci_write(s, cap + VCAP_PCI_CFG_DATA, 1, '\n');
	console_alive("a deferred line");
	pass();
}

/* The log lives in a page every directory maps writable: a guest that
 * scribbles on it is killed at the next exit, never believed. */
static void pio_log_count(void)
{
	volatile uint32_t *log = (volatile uint32_t *)(LGUEST_SWITCHER_ADDR + 0xC000);
	log[0] = 0x10000;
	hcall(LHCALL_SEND_INTERRUPTS, 0, 0, 0); /* SEND_INTERRUPTS: an exit */
}

static void pio_log_entry(void)
{
	volatile uint32_t *log = (volatile uint32_t *)(LGUEST_SWITCHER_ADDR + 0xC000);
	log[2] = 0x000400F1; /* port 0xF1 (the monitor's), 4 bytes */
	log[3] = 0;
	log[0] = 1;
	hcall(LHCALL_SEND_INTERRUPTS, 0, 0, 0);
}

void test_main(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{"bar_over_ram", bar_over_ram},		{"bar_over_monitor", bar_over_monitor},
		{"bar_overlap", bar_overlap},		{"ring_past_ram", ring_past_ram},
		{"ring_outside_ram", ring_outside_ram}, {"ring_64bit", ring_64bit},
		{"ring_misaligned", ring_misaligned},	{"conf_reserved", conf_reserved},
		{"conf_odd_reads", conf_odd_reads},	{"pci_cfg_bad_window", pci_cfg_bad_window},
		{"notify_bad_queue", notify_bad_queue}, {"queue_select_range", queue_select_range},
		{"mmio_no_device", mmio_no_device},	{"mmio_memory_off", mmio_memory_off},
		{"notify_hcall", notify_hcall},		{"ts_hcall", ts_hcall},
		{"pio_log_order", pio_log_order},	{"pio_log_count", pio_log_count},
		{"pio_log_entry", pio_log_entry},
	};
	guest_init();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cmdline_has(cases[i].name))
			continue;
		printf("hostile_pci: %s (G%d)\n", cases[i].name, LGUEST_GEN);
		cases[i].fn();
		fail("the host let %s through", cases[i].name);
	}
	fail("no case named on the command line");
}
