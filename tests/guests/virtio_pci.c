/* virtio_pci: the 4.0+ platform (G8-G10, docs/abi.md §H1.7), checked the way
 * a 4.x kernel meets it: PCI bus 0 through configuration mechanism #1, virtio
 * 1.0 "modern" devices with their structures in BAR0.  Built per generation
 * (g8/, g9/, g10/ and the PAE builds).
 *
 * Always: the 0xCF8 latch and the ports around it; the host bridge; every
 * device's header (IDs, revision, subsystem, class, read-only status, header
 * type, BAR0 sizing and restore, empty BAR1-5 and ROM, command bits, the
 * interrupt line) and bytes nobody defined; the vendor capability chain;
 * absent slots, functions, bus 1, the enable bit and reserved bits.  All
 * the output goes through the console's PCI_CFG window (lib/console.c), so
 * every line printed proves that path; "mmio" also writes a line to the
 * console's emerg_wr straight through BAR0.
 *
 * Command-line words add devices (lgkvm puts the console at 00:01.0, then
 * each --disk, then each --net):
 *   blk  -- the first block device (blk-test.img, blk_pattern.h): pattern
 *           reads, write + FLUSH + read back, requests in flight, refusals,
 *           the interrupt with its ISR read-to-clear, a driver without
 *           VERSION_1 refused FEATURES_OK, reset and re-init with a smaller
 *           queue at an odd (not page-aligned) place;
 *   ro   -- with blk: the disk is read-only (feature RO, writes fail);
 *   net  -- the first network device: ARP + ping with the host over the tap
 *           (--net tap --net-ip 10.77.0.1/24, lib/netping.c). */
#include "guest.h"
#include "netping.h"
#include "pci.h"

#include "blk_pattern.h"

const char test_name[] = "virtio_pci";

#define MiB		(1024u * 1024u)
#define HOST_BRIDGE_VID 0x1B36
#define HOST_BRIDGE_DID 0x0008
#define MAX_SLOTS	32u

static unsigned nr_slots; /* 1 + the last populated slot */
static uint8_t slot_type[MAX_SLOTS];

/* ---------------------------------------------------------------------- */
/* Configuration space */

static void check_ports(void)
{
	/* The latch reads back what was written, whole or byte by byte
	 * (pci_check_type1's probe writes one byte to 0xCFB). */
	outl(PCI_CONF_ADDR, 0x80001230u);
	CHECK(inl(PCI_CONF_ADDR) == 0x80001230u, "0xCF8 reads %x", inl(PCI_CONF_ADDR));
	outl(PCI_CONF_ADDR, 0);
	outb(PCI_CONF_ADDR + 3, 0x01);
	CHECK(inl(PCI_CONF_ADDR) == 0x01000000u, "0xCF8 after outb 0x01,0xCFB reads %x",
	      inl(PCI_CONF_ADDR));
	outl(PCI_CONF_ADDR, 0x80000000u);
	CHECK(inl(PCI_CONF_ADDR) == 0x80000000u, "0xCF8 reads %x", inl(PCI_CONF_ADDR));
	CHECK(inb(0x64) == 1, "port 0x64 reads %x, want 1", inb(0x64));
	CHECK(inb(0x80) == 0xFF && inw(0x1F0) == 0xFFFF && inl(0xC000) == 0xFFFFFFFFu,
	      "an empty port does not read all ones");
	printf("virtio_pci: 0xCF8 latch and ports ok\n");
}

/* Everything at `latch` reads all ones, in every width, and a write there
 * changes nothing we can see at `slot`'s real register. */
static void check_absent(uint32_t latch, const char *what)
{
	for (unsigned off = 0; off < 0x40; off += 4) {
		uint32_t l = (latch & ~0xFCu) | off;
		CHECK(pci_conf_read(l, off, 4) == 0xFFFFFFFFu, "%s +%x reads %x", what, off,
		      pci_conf_read(l, off, 4));
		CHECK(pci_conf_read(l, off + 2, 2) == 0xFFFF, "%s +%x (word)", what, off + 2);
		CHECK(pci_conf_read(l, off + 3, 1) == 0xFF, "%s +%x (byte)", what, off + 3);
	}
}

static void check_absent_all(void)
{
	uint32_t cmd1 = pci_read(1, PCI_COMMAND, 2), bar1 = pci_read(1, PCI_BAR0, 4);

	check_absent(pci_addr(0, nr_slots, 0, 0), "the first empty slot");
	check_absent(pci_addr(0, 31, 0, 0), "slot 31");
	check_absent(pci_addr(0, 1, 1, 0), "00:01.1");
	check_absent(pci_addr(0, 0, 7, 0), "00:00.7");
	check_absent(pci_addr(1, 0, 0, 0), "bus 1");
	check_absent(pci_addr(1, 1, 0, 0), "01:01.0");
	check_absent(pci_addr(0, 1, 0, 0) & ~0x80000000u, "00:01.0 without the enable bit");
	check_absent(pci_addr(0, 0, 0, 0) & ~0x80000000u, "00:00.0 without the enable bit");
	for (unsigned bit = 24; bit <= 30; bit++)
		check_absent(pci_addr(0, 1, 0, 0) | 1u << bit, "00:01.0 with a reserved bit");
	/* Writes aimed at the console through a wrong address vanish. */
	pci_conf_write(pci_addr(0, 1, 1, PCI_COMMAND), PCI_COMMAND, 2, 0);
	pci_conf_write(pci_addr(0, 1, 0, PCI_BAR0) | 1u << 26, PCI_BAR0, 4, 0x12345000);
	pci_conf_write(pci_addr(0, 1, 0, PCI_BAR0) & ~0x80000000u, PCI_BAR0, 4, 0x12345000);
	pci_conf_write(pci_addr(1, 1, 0, PCI_BAR0), PCI_BAR0, 4, 0x12345000);
	CHECK(pci_read(1, PCI_COMMAND, 2) == cmd1, "a write to 00:01.1 changed 00:01.0's command");
	CHECK(pci_read(1, PCI_BAR0, 4) == bar1, "a stray write moved 00:01.0's BAR0 to %x",
	      pci_read(1, PCI_BAR0, 4));
	printf("virtio_pci: empty slots, functions, bus 1, disabled and reserved addresses read "
	       "all ones\n");
}

static void check_host_bridge(void)
{
	CHECK(pci_read(0, PCI_VENDOR_ID, 2) == HOST_BRIDGE_VID &&
		      pci_read(0, PCI_DEVICE_ID, 2) == HOST_BRIDGE_DID,
	      "00:00.0 is %x:%x, want 1b36:0008", pci_read(0, 0, 2), pci_read(0, 2, 2));
	CHECK(pci_read(0, PCI_CLASS, 1) == 0x06 && pci_read(0, PCI_SUBCLASS, 1) == 0x00,
	      "00:00.0 class %x/%x", pci_read(0, PCI_CLASS, 1), pci_read(0, PCI_SUBCLASS, 1));
	CHECK(pci_read(0, PCI_HEADER_TYPE, 1) == 0, "00:00.0 header type %x",
	      pci_read(0, PCI_HEADER_TYPE, 1));
	CHECK(!(pci_read(0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST), "00:00.0 claims capabilities");
	for (unsigned b = 0; b < 6; b++) {
		pci_write(0, PCI_BAR0 + 4 * b, 4, 0xFFFFFFFFu);
		CHECK(pci_read(0, PCI_BAR0 + 4 * b, 4) == 0, "00:00.0 BAR%u sizes as %x", b,
		      pci_read(0, PCI_BAR0 + 4 * b, 4));
	}
	printf("virtio_pci: 00:00.0 host bridge 1b36:0008 class 06/00 ok\n");
}

static const struct {
	uint8_t type, class_, subclass;
	uint32_t cfg_len; /* the device config it must at least have */
	uint16_t min_queues;
	const char *name;
} kinds[] = {
	{VIRTIO_ID_CONSOLE, 0x07, 0x00, 12, 2, "console"},
	/* capacity, size_max, seg_max: as far as the features offered reach */
	{VIRTIO_ID_BLOCK, 0x01, 0x80, 16, 1, "block"},
	{VIRTIO_ID_NET, 0x02, 0x00, 6, 2, "net"},
};

static unsigned kind_of(uint8_t type)
{
	for (unsigned k = 0; k < 3; k++)
		if (kinds[k].type == type)
			return k;
	fail("virtio type %u is none of console, block, net", type);
}

/* The vendor capability chain: exactly COMMON, NOTIFY, ISR, DEVICE and
 * PCI_CFG, once each, wherever they are.  Returns the first config byte after
 * the last capability. */
static unsigned check_caps(unsigned s, unsigned k)
{
	static const uint8_t want_len[VIRTIO_PCI_CAP_TYPES] = {0, 16, 20, 16, 16, 20};
	uint32_t want_min[VIRTIO_PCI_CAP_TYPES] = {0, 56, 2, 1, kinds[k].cfg_len, 0};
	unsigned seen[VIRTIO_PCI_CAP_TYPES] = {0}, end = 0x40, n = 0;

	CHECK(pci_read(s, PCI_CAP_PTR, 1) == 0x40, "00:%02x.0 capability pointer %x", s,
	      pci_read(s, PCI_CAP_PTR, 1));
	for (unsigned at = 0x40; at; at = pci_read(s, at + VCAP_NEXT, 1), n++) {
		CHECK(n < 5 && at >= 0x40 && at <= 0xEC && !(at & 3),
		      "00:%02x.0 capability %u at %x", s, n, at);
		CHECK(pci_read(s, at, 1) == PCI_CAP_ID_VNDR, "00:%02x.0 capability at %x has ID %x",
		      s, at, pci_read(s, at, 1));
		uint8_t t = (uint8_t)pci_read(s, at + VCAP_TYPE, 1);
		CHECK(t >= 1 && t < VIRTIO_PCI_CAP_TYPES && !seen[t],
		      "00:%02x.0 capability at %x: cfg_type %u (again?)", s, at, t);
		seen[t] = at;
		unsigned len = pci_read(s, at + VCAP_LEN, 1);
		CHECK(len == want_len[t], "00:%02x.0 cfg_type %u: cap_len %u, want %u", s, t, len,
		      want_len[t]);
		CHECK(at + len <= 256, "00:%02x.0 cfg_type %u runs past config space", s, t);
		if (at + len > end)
			end = at + len;
		struct vcap c;
		pci_read_vcap(s, at, &c);
		if (t != VIRTIO_PCI_CAP_PCI_CFG)
			CHECK(c.bar == 0 && c.length >= want_min[t] &&
				      c.offset + c.length <= PAGE_SIZE,
			      "00:%02x.0 cfg_type %u: BAR%u +%x len %x", s, t, c.bar, c.offset,
			      c.length);
		if (t == VIRTIO_PCI_CAP_NOTIFY)
			CHECK(pci_read(s, at + VCAP_NOTIFY_MULT, 4) == 0,
			      "00:%02x.0 notify_off_multiplier %x", s,
			      pci_read(s, at + VCAP_NOTIFY_MULT, 4));
	}
	for (unsigned t = 1; t < VIRTIO_PCI_CAP_TYPES; t++)
		CHECK(seen[t], "00:%02x.0 has no capability of cfg_type %u", s, t);
	return end;
}

/* Bytes of the type 0 header that nothing defines for us, and everything
 * after the capabilities: 0. */
static void check_undefined(unsigned s, unsigned caps_end)
{
	static const uint8_t zero_bytes[] = {0x09, 0x0C, 0x0D, 0x0F, 0x28, 0x29, 0x2A, 0x2B, 0x35,
					     0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3E, 0x3F};
	for (unsigned i = 0; i < sizeof(zero_bytes); i++)
		CHECK(pci_read(s, zero_bytes[i], 1) == 0, "00:%02x.0 byte %x reads %x", s,
		      zero_bytes[i], pci_read(s, zero_bytes[i], 1));
	for (unsigned off = caps_end; off < 256; off++)
		CHECK(pci_read(s, off, 1) == 0, "00:%02x.0 byte %x past the capabilities reads %x",
		      s, off, pci_read(s, off, 1));
	CHECK(pci_read(s, 0xFC, 4) == 0 || caps_end > 0xFC, "00:%02x.0 dword 0xFC", s);
}

static void check_device(unsigned s, uint32_t ram)
{
	uint32_t id = pci_read(s, PCI_VENDOR_ID, 4);
	uint16_t did = (uint16_t)(id >> 16);

	CHECK((id & 0xFFFF) == VIRTIO_PCI_VENDOR && did > 0x1040 && did < 0x1080,
	      "00:%02x.0 is %x:%x, not a modern virtio device", s, id & 0xFFFF, did);
	unsigned k = kind_of((uint8_t)(did - 0x1040));
	slot_type[s] = kinds[k].type;
	CHECK(s != 1 || kinds[k].type == VIRTIO_ID_CONSOLE, "00:01.0 is not the console");
	CHECK(pci_read(s, PCI_REVISION, 1) == 1, "00:%02x.0 revision %u", s,
	      pci_read(s, PCI_REVISION, 1));
	CHECK(pci_read(s, PCI_SUBSYS_VENDOR, 2) == VIRTIO_PCI_VENDOR &&
		      pci_read(s, PCI_SUBSYS_ID, 2) == 0x0040,
	      "00:%02x.0 subsystem %x:%x", s, pci_read(s, PCI_SUBSYS_VENDOR, 2),
	      pci_read(s, PCI_SUBSYS_ID, 2));
	CHECK(pci_read(s, PCI_CLASS, 1) == kinds[k].class_ &&
		      pci_read(s, PCI_SUBCLASS, 1) == kinds[k].subclass,
	      "00:%02x.0 (%s) class %x/%x", s, kinds[k].name, pci_read(s, PCI_CLASS, 1),
	      pci_read(s, PCI_SUBCLASS, 1));
	CHECK(pci_read(s, PCI_HEADER_TYPE, 1) == 0, "00:%02x.0 header type %x", s,
	      pci_read(s, PCI_HEADER_TYPE, 1));

	/* Status: the capability list bit, and nothing a write can change. */
	CHECK(pci_read(s, PCI_STATUS, 2) == PCI_STATUS_CAP_LIST, "00:%02x.0 status %x", s,
	      pci_read(s, PCI_STATUS, 2));
	pci_write(s, PCI_STATUS, 2, 0);
	pci_write(s, PCI_STATUS, 2, 0xFFFF);
	CHECK(pci_read(s, PCI_STATUS, 2) == PCI_STATUS_CAP_LIST, "00:%02x.0 status %x after writes",
	      s, pci_read(s, PCI_STATUS, 2));

	/* Command: MEMORY, MASTER, INTX_DISABLE writable, the rest 0. */
	uint32_t cmd = pci_read(s, PCI_COMMAND, 2);
	pci_write(s, PCI_COMMAND, 2, 0xFFFF);
	CHECK(pci_read(s, PCI_COMMAND, 2) ==
		      (PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE),
	      "00:%02x.0 command %x after writing ffff", s, pci_read(s, PCI_COMMAND, 2));
	pci_write(s, PCI_COMMAND, 2, 0);
	CHECK(pci_read(s, PCI_COMMAND, 2) == 0, "00:%02x.0 command %x after writing 0", s,
	      pci_read(s, PCI_COMMAND, 2));
	pci_write(s, PCI_COMMAND, 1, PCI_CMD_MEMORY); /* a byte write reaches it too */
	CHECK(pci_read(s, PCI_COMMAND, 2) == PCI_CMD_MEMORY, "00:%02x.0 command byte write", s);
	pci_write(s, PCI_COMMAND, 2, cmd);

	/* BAR0: where the contract puts it, 4 KiB of 32-bit memory. */
	uint32_t bar = pci_read(s, PCI_BAR0, 4);
	CHECK(bar == ram + MiB + (s - 1) * PAGE_SIZE, "00:%02x.0 BAR0 at %x, want %x", s, bar,
	      ram + MiB + (s - 1) * PAGE_SIZE);
	pci_write(s, PCI_BAR0, 4, 0xFFFFFFFFu);
	CHECK(pci_read(s, PCI_BAR0, 4) == 0xFFFFF000u, "00:%02x.0 BAR0 sizes as %x", s,
	      pci_read(s, PCI_BAR0, 4));
	pci_write(s, PCI_BAR0, 4, bar);
	CHECK(pci_read(s, PCI_BAR0, 4) == bar, "00:%02x.0 BAR0 not restored: %x", s,
	      pci_read(s, PCI_BAR0, 4));
	for (unsigned off = PCI_BAR0 + 4; off <= PCI_ROM; off += 4) {
		if (off > 0x24 && off != PCI_ROM)
			continue;
		pci_write(s, off, 4, 0xFFFFFFFFu);
		CHECK(pci_read(s, off, 4) == 0, "00:%02x.0 register %x reads %x after sizing", s,
		      off, pci_read(s, off, 4));
	}

	/* INTx: no pin, the line is the lguest IRQ, in slot order. */
	CHECK(pci_read(s, PCI_INTERRUPT_PIN, 1) == 0, "00:%02x.0 interrupt pin %u", s,
	      pci_read(s, PCI_INTERRUPT_PIN, 1));
	unsigned line = pci_read(s, PCI_INTERRUPT_LINE, 1);
	CHECK(line == s && line < LGUEST_IRQS, "00:%02x.0 interrupt line %u, want %u", s, line, s);

	unsigned end = check_caps(s, k);
	check_undefined(s, end);
	printf("virtio_pci: 00:%02x.0 %s %x:%x, BAR0 %x, irq %u, caps to %x ok\n", s, kinds[k].name,
	       id & 0xFFFF, did, bar, line, end);
}

static void walk_bus(void)
{
	uint32_t ram = ram_size();

	check_host_bridge();
	for (nr_slots = 1; nr_slots < MAX_SLOTS; nr_slots++)
		if (pci_read(nr_slots, PCI_VENDOR_ID, 4) == 0xFFFFFFFFu)
			break;
	CHECK(nr_slots >= 2, "no console at 00:01.0");
	for (unsigned s = 1; s < nr_slots; s++)
		check_device(s, ram);
	/* Kinds come in order: console, then disks, then network devices. */
	for (unsigned s = 2; s < nr_slots; s++)
		CHECK(slot_type[s] != VIRTIO_ID_CONSOLE && !(slot_type[s - 1] == VIRTIO_ID_NET &&
							     slot_type[s] == VIRTIO_ID_BLOCK),
		      "00:%02x.0: devices out of order", s);
	check_absent_all();
}

/* ---------------------------------------------------------------------- */
/* Common configuration, shared by every device */

static void check_common(struct vpci *d, unsigned k)
{
	volatile struct virtio_pci_common *c = d->common;

	CHECK(c->msix_config == 0xFFFF, "00:%02x.0 msix_config %x", d->slot, c->msix_config);
	CHECK(c->num_queues >= kinds[k].min_queues, "00:%02x.0 has %u queues", d->slot,
	      c->num_queues);
	for (unsigned i = 0; i < c->num_queues; i++) {
		c->queue_select = (uint16_t)i;
		CHECK(c->queue_size == 128, "00:%02x.0 queue %u size %u, want 128", d->slot, i,
		      c->queue_size);
		CHECK(c->queue_msix_vector == 0xFFFF && c->queue_notify_off == 0 &&
			      c->queue_enable == 0,
		      "00:%02x.0 queue %u: msix %x notify_off %u enable %u", d->slot, i,
		      c->queue_msix_vector, c->queue_notify_off, c->queue_enable);
	}
	c->queue_select = c->num_queues;
	CHECK(c->queue_size == 0, "00:%02x.0 queue %u past num_queues has size %u", d->slot,
	      c->num_queues, c->queue_size);
	c->queue_select = 0;
	uint64_t f = vpci_device_features(d);
	CHECK(f >> VIRTIO_F_VERSION_1 & 1, "00:%02x.0 features %x:%x lack VERSION_1", d->slot,
	      (uint32_t)(f >> 32), (uint32_t)f);
}

/* The console's emerg_wr straight through BAR0 (no PCI_CFG window). */
static void check_console(void)
{
	struct vpci d;
	static const char line[] = "virtio_pci: emerg_wr through BAR0 ok\n";

	vpci_find(VIRTIO_ID_CONSOLE, 0, &d);
	check_common(&d, kind_of(VIRTIO_ID_CONSOLE));
	CHECK(vpci_device_features(&d) >> VIRTIO_CONSOLE_F_EMERG & 1,
	      "console lacks F_EMERG_WRITE");
	if (cmdline_has("mmio"))
		for (const char *p = line; *p; p++)
			*(volatile uint32_t *)(d.devcfg + 8) = (uint8_t)*p;
	printf("virtio_pci: console %ux%u, max_nr_ports %u\n", vpci_cfg16(&d, 0), vpci_cfg16(&d, 2),
	       vpci_cfg32(&d, 4));
}

/* ---------------------------------------------------------------------- */
/* Block */

#define T_IN	 0u
#define T_OUT	 1u
#define T_SCSI	 2u
#define T_FLUSH	 4u
#define S_OK	 0
#define S_IOERR	 1
#define S_UNSUPP 2
#define SLOTS	 16u
#define WAIT_MS	 10000u

static struct vpci blk;
static struct vq bq;
static struct blk_hdr hdrs[SLOTS];
static volatile uint8_t status[SLOTS];
static uint16_t heads[SLOTS];
static uint8_t buf[SLOTS][4096] __attribute__((aligned(16)));
static uint8_t big[2][8192] __attribute__((aligned(16)));
static uint8_t ring_a[4096] __attribute__((aligned(4096)));
static uint8_t ring_b[4096 + 64] __attribute__((aligned(16)));
static uint64_t capacity;

static void submit(unsigned slot, uint32_t type, uint64_t sector, const struct vbuf *data,
		   unsigned n)
{
	struct vbuf b[8];

	CHECK(n + 2 <= 8, "too many segments");
	hdrs[slot] = (struct blk_hdr){.type = type, .sector = sector};
	status[slot] = 0xEE;
	b[0] = (struct vbuf){&hdrs[slot], sizeof(hdrs[slot]), 0};
	for (unsigned i = 0; i < n; i++)
		b[1 + i] = data[i];
	b[n + 1] = (struct vbuf){&status[slot], 1, 1};
	heads[slot] = vq_add(&bq, b, n + 2);
}

/* `count` completions, slots [0, count), any order; their used lengths. */
static void wait_slots(unsigned count, uint32_t lens[])
{
	for (unsigned done = 0; done < count; done++) {
		uint32_t id, len;
		unsigned s;

		CHECK(vq_wait(&bq, &id, &len, WAIT_MS), "request never completed (%u of %u)", done,
		      count);
		for (s = 0; s < count && heads[s] != id; s++)
			;
		CHECK(s < count, "used ring returned id %u, not one of ours", id);
		lens[s] = len;
	}
}

static void expect(uint32_t type, uint64_t sector, const struct vbuf *data, unsigned n,
		   uint8_t want, uint32_t want_len, const char *what)
{
	uint32_t lens[1];

	submit(0, type, sector, data, n);
	vq_kick(&bq);
	wait_slots(1, lens);
	CHECK(status[0] == want, "%s: status %u, want %u", what, status[0], want);
	CHECK(lens[0] == want_len, "%s: used length %u, want %u", what, lens[0], want_len);
}

static uint8_t fresh(uint32_t seed, uint32_t i)
{
	return (uint8_t)(seed + i * 29 + (i >> 9) * 3);
}

static void blk_read_pattern(uint64_t sector, uint32_t bytes)
{
	struct vbuf d[3] = {
		{big[0], 512, 1},
		{big[0] + 512, bytes - 1024, 1},
		{big[0] + bytes - 512, 512, 1},
	};

	memset(big[0], 0xEE, bytes);
	expect(T_IN, sector, d, 3, S_OK, 1 + bytes, "read the pattern");
	for (uint32_t i = 0; i < bytes; i++)
		CHECK(big[0][i] == blk_pattern((uint32_t)sector * 512 + i),
		      "sector %u byte %u reads %x, want %x", (uint32_t)sector + i / 512, i % 512,
		      big[0][i], blk_pattern((uint32_t)sector * 512 + i));
}

static void blk_write_flush_read(uint32_t seed)
{
	struct vbuf w[2] = {{big[0], 1536, 0}, {big[0] + 1536, 8192 - 1536, 0}};
	struct vbuf r = {big[1], 8192, 1};

	for (uint32_t i = 0; i < 8192; i++)
		big[0][i] = fresh(seed, i);
	expect(T_OUT, 1024, w, 2, S_OK, 1, "write sectors 1024-1039");
	expect(T_FLUSH, 0, 0, 0, S_OK, 1, "flush");
	memset(big[1], 0xEE, 8192);
	expect(T_IN, 1024, &r, 1, S_OK, 1 + 8192, "read sectors 1024-1039");
	CHECK(!memcmp(big[0], big[1], 8192), "sectors 1024-1039 do not read back as written");
	printf("virtio_pci: block write, flush, read back ok\n");
}

static void blk_in_flight(uint32_t seed)
{
	uint32_t lens[SLOTS];

	for (unsigned s = 0; s < SLOTS; s++) {
		struct vbuf d = {buf[s], 4096, 0};
		for (uint32_t i = 0; i < 4096; i++)
			buf[s][i] = fresh(seed + s, i);
		submit(s, T_OUT, 1100 + 8 * s, &d, 1);
	}
	vq_kick(&bq);
	wait_slots(SLOTS, lens);
	for (unsigned s = 0; s < SLOTS; s++) {
		CHECK(status[s] == S_OK && lens[s] == 1, "write %u: status %u len %u", s, status[s],
		      lens[s]);
		struct vbuf d = {buf[s], 4096, 1};
		memset(buf[s], 0xEE, 4096);
		submit(s, T_IN, 1100 + 8 * s, &d, 1);
	}
	vq_kick(&bq);
	wait_slots(SLOTS, lens);
	for (unsigned s = 0; s < SLOTS; s++) {
		CHECK(status[s] == S_OK && lens[s] == 4097, "read %u: status %u len %u", s,
		      status[s], lens[s]);
		for (uint32_t i = 0; i < 4096; i++)
			CHECK(buf[s][i] == fresh(seed + s, i), "request %u byte %u", s, i);
	}
	printf("virtio_pci: %u block requests in flight ok\n", SLOTS);
}

static void blk_refusals(void)
{
	struct vbuf r1 = {big[0], 512, 1}, r2 = {big[0], 1024, 1};

	expect(T_IN, capacity, &r1, 1, S_IOERR, 1, "read past the end");
	expect(T_IN, capacity - 1, &r2, 1, S_IOERR, 1, "read across the end");
	expect(T_SCSI, 0, 0, 0, S_UNSUPP, 1, "SCSI command");
	printf("virtio_pci: past the end -> IOERR, SCSI -> UNSUPP ok\n");
}

static void blk_readonly(void)
{
	struct vbuf w = {big[0], 512, 0};

	memset(big[0], 0x11, 512);
	expect(T_OUT, 1500, &w, 1, S_IOERR, 1, "write to a read-only disk");
	blk_read_pattern(5, 2048);
	printf("virtio_pci: read-only disk: writes fail, reads work ok\n");
}

/* With interrupts off, a completion must set ISR bit 0; reading it clears
 * it.  Then with interrupts on, a completion arrives as the line's IRQ and
 * the handler finds bit 0. */
static void blk_interrupt(void)
{
	struct vbuf r = {big[0], 512, 1};
	uint32_t id, len;
	unsigned before = virtio_irq_count[blk.irq];

	virtio_isr[blk.irq] = 0; /* the handler must not read it for us */
	lguest_data.irq_enabled = 0;
	submit(0, T_IN, 3, &r, 1);
	vq_kick(&bq);
	for (unsigned i = 0; i < 10000000 && !vq_used(&bq, &id, &len); i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(status[0] == S_OK, "read with interrupts off: status %u", status[0]);
	uint8_t isr = *blk.isr;
	CHECK(isr & 1, "ISR reads %x after a completion, want bit 0", isr);
	isr = *blk.isr;
	CHECK(isr == 0, "ISR reads %x on the second read, want 0 (read clears)", isr);
	virtio_isr[blk.irq] = blk.isr;
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);

	virtio_isr_seen[blk.irq] = 0;
	before = virtio_irq_count[blk.irq];
	blk_read_pattern(0, 4096); /* sleeps in HALT until the IRQ */
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(virtio_irq_count[blk.irq] > before, "no interrupt on line %u", blk.irq);
	CHECK(virtio_isr_seen[blk.irq] & 1, "the IRQ handler found ISR %x",
	      virtio_isr_seen[blk.irq]);
	printf("virtio_pci: INTx on IRQ %u with ISR bit 0, read-to-clear ok (%u interrupts)\n",
	       blk.irq, virtio_irq_count[blk.irq]);
}

/* A driver that leaves VERSION_1 out must not get FEATURES_OK. */
static void blk_no_version1(void)
{
	volatile struct virtio_pci_common *c = blk.common;

	c->device_status = 0;
	vpci_status(&blk, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	c->driver_feature_select = 0;
	c->driver_feature = 1u << VIRTIO_BLK_F_SEG_MAX;
	c->driver_feature_select = 1;
	c->driver_feature = 0;
	vpci_status(&blk, VIRTIO_STATUS_FEATURES_OK);
	CHECK(!(c->device_status & VIRTIO_STATUS_FEATURES_OK),
	      "FEATURES_OK without VERSION_1: status %x", c->device_status);
	c->device_status = 0;
	CHECK(c->device_status == 0, "status %x after reset", c->device_status);
	printf("virtio_pci: no VERSION_1 -> no FEATURES_OK ok\n");
}

static void blk_setup(uint16_t num, void *ring)
{
	uint64_t f = vpci_start(&blk, 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_FLUSH |
					      1ull << VIRTIO_BLK_F_RO);
	CHECK(f >> VIRTIO_BLK_F_SEG_MAX & 1 && f >> VIRTIO_BLK_F_FLUSH & 1,
	      "block features %x lack SEG_MAX or FLUSH", (uint32_t)f);
	CHECK(!(f >> VIRTIO_BLK_F_RO & 1) == !cmdline_has("ro"), "block RO feature is %u",
	      (uint32_t)(f >> VIRTIO_BLK_F_RO & 1));
	vpci_queue(&blk, 0, &bq, num, ring);
	vpci_status(&blk, VIRTIO_STATUS_DRIVER_OK);
}

static void check_block(void)
{
	uint32_t seed = (uint32_t)rdtsc();

	vpci_find(VIRTIO_ID_BLOCK, 0, &blk);
	check_common(&blk, kind_of(VIRTIO_ID_BLOCK));
	CHECK(blk.common->num_queues == 1, "block device has %u queues", blk.common->num_queues);
	blk_no_version1();
	blk_setup(0, ring_a);
	capacity = vpci_cfg64(&blk, 0);
	CHECK(capacity == BLK_TEST_SECTORS, "capacity %u sectors, want %u", (uint32_t)capacity,
	      BLK_TEST_SECTORS);
	uint32_t seg_max = vpci_cfg32(&blk, 12);
	CHECK(seg_max >= 1, "SEG_MAX %u", seg_max);
	printf("virtio_pci: block %u sectors, SEG_MAX %u, queue of %u, irq %u\n",
	       (uint32_t)capacity, seg_max, bq.cfg.num, blk.irq);

	blk_read_pattern(0, 4096);
	blk_read_pattern(1016, 4096);
	printf("virtio_pci: block pattern reads back ok\n");
	if (cmdline_has("ro")) {
		blk_readonly();
	} else {
		blk_write_flush_read(seed);
		blk_in_flight(seed);
	}
	blk_refusals();
	blk_interrupt();

	/* Reset: queues off, then again from scratch with 16 entries at a
	 * place that is not page-aligned; more requests than entries, so the
	 * indices wrap the ring. */
	blk.common->device_status = 0;
	CHECK(blk.common->device_status == 0, "status %x after reset", blk.common->device_status);
	blk.common->queue_select = 0;
	CHECK(blk.common->queue_enable == 0, "queue still enabled after reset");
	CHECK(blk.common->queue_size == 128, "queue size %u after reset, want 128 again",
	      blk.common->queue_size);
	blk_setup(16, ring_b + 48);
	CHECK(bq.cfg.num == 16, "queue of %u after asking for 16", bq.cfg.num);
	for (unsigned i = 0; i < 40; i++)
		blk_read_pattern(i * 8 % 1000, 2048);
	printf("virtio_pci: reset, re-init with a 16-entry queue at %p, 40 reads ok\n",
	       ring_b + 48);
}

/* ---------------------------------------------------------------------- */
/* Network */

#define NET_HDR	   12u /* virtio_net_hdr_v1 */
#define NET_RX_BUF 16u

struct net_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};
_Static_assert(sizeof(struct net_hdr) == NET_HDR, "virtio_net_hdr_v1");

static struct vpci netdev;
static struct vq rxq, txq;
static uint8_t rx_ring[4096] __attribute__((aligned(16)));
static uint8_t tx_ring[4096] __attribute__((aligned(16)));
static uint8_t rx_buf[NET_RX_BUF][NET_HDR + NET_FRAME_MAX];
static uint16_t rx_head[NET_RX_BUF];
static struct net_hdr tx_hdr;

/* Header and frame in two descriptors; the device is done when the used
 * entry is there (we poll: transmit completes quickly). */
static void net_xmit(const uint8_t *frame, uint32_t len)
{
	struct vbuf b[2] = {{&tx_hdr, NET_HDR, 0}, {frame, len, 0}};
	uint32_t id, ulen;

	memset(&tx_hdr, 0, sizeof(tx_hdr));
	uint16_t head = vq_add(&txq, b, 2);
	vq_kick(&txq);
	CHECK(vq_wait(&txq, &id, &ulen, 2000), "transmit buffer never came back");
	CHECK(id == head, "transmit used id %u, want %u", id, head);
}

/* Which of our receive buffers the used ring handed back. */
static unsigned rx_index(uint32_t id)
{
	for (unsigned i = 0; i < NET_RX_BUF; i++)
		if (rx_head[i] == id)
			return i;
	fail("receive used id %u is not one of ours", id);
}

/* Receive buffers are one descriptor each: header and frame together. */
static int net_receive(uint32_t ms, uint16_t seq)
{
	uint32_t id, len;
	int got = 0;

	if (!vq_wait(&rxq, &id, &len, ms))
		return 0;
	do {
		unsigned i = rx_index(id);

		CHECK(len > NET_HDR && len <= NET_HDR + NET_FRAME_MAX, "receive used length %u",
		      len);
		const struct net_hdr *h = (const struct net_hdr *)rx_buf[i];
		CHECK(h->num_buffers == 1 && h->flags == 0 && h->gso_type == 0,
		      "receive header: num_buffers %u flags %x gso %x", h->num_buffers, h->flags,
		      h->gso_type);
		got |= net_handle(rx_buf[i] + NET_HDR, len - NET_HDR, seq);
		memset(rx_buf[i], 0xEE, NET_HDR);
		vq_repost(&rxq, rx_head[i]);
	} while (vq_used(&rxq, &id, &len));
	vq_kick(&rxq);
	return got;
}

static void check_net(void)
{
	vpci_find(VIRTIO_ID_NET, 0, &netdev);
	check_common(&netdev, kind_of(VIRTIO_ID_NET));
	uint64_t f = vpci_start(&netdev, 1ull << VIRTIO_NET_F_MAC);
	CHECK(f >> VIRTIO_NET_F_MAC & 1, "net device lacks F_MAC");
	for (unsigned i = 0; i < 6; i++)
		net.my_mac[i] = vpci_cfg8(&netdev, i);
	CHECK(!(net.my_mac[0] & 1), "MAC %x:... is multicast", net.my_mac[0]);
	vpci_queue(&netdev, 0, &rxq, 64, rx_ring);
	vpci_queue(&netdev, 1, &txq, 0, tx_ring);
	vpci_status(&netdev, VIRTIO_STATUS_DRIVER_OK);
	printf("virtio_pci: net MAC %x:%x:%x:%x:%x:%x, irq %u\n", net.my_mac[0], net.my_mac[1],
	       net.my_mac[2], net.my_mac[3], net.my_mac[4], net.my_mac[5], netdev.irq);
	for (unsigned i = 0; i < NET_RX_BUF; i++) {
		struct vbuf b = {rx_buf[i], NET_HDR + NET_FRAME_MAX, 1};
		memset(rx_buf[i], 0xEE, NET_HDR);
		rx_head[i] = vq_add(&rxq, &b, 1);
	}
	vq_kick(&rxq);
	net.xmit = net_xmit;
	net.receive = net_receive;
	net_ping_host();
	lguest_data.irq_enabled = X86_EFLAGS_IF;
	for (unsigned i = 0; i < 1000 && !virtio_irq_count[netdev.irq]; i++)
		hcall(LHCALL_FLUSH_ASYNC, 0, 0, 0);
	CHECK(virtio_irq_count[netdev.irq], "no network interrupt");
}

void test_main(void)
{
	printf("virtio_pci: G%d%s, before INIT: early console through PCI_CFG\n", LGUEST_GEN,
#ifdef LGUEST_PAE
	       " PAE"
#else
	       ""
#endif
	);
	guest_init();
	virtio_init();
	check_ports();
	walk_bus();
	check_console();
	if (cmdline_has("blk"))
		check_block();
	if (cmdline_has("net"))
		check_net();
	pass();
}
