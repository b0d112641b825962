/* Unit tests for the 4.x platform: PCI configuration space (virtio/pci.c) and
 * the virtio-PCI transport (virtio/virtio_pci.c), driven through the same
 * entry points the vCPU uses (vbus_pio for ports 0xCF8-0xCFF, vbus_mmio for
 * the BARs) on a fake VM with a G9 (4.1-4.9) generation.  Every rule here is
 * one a hostile guest could try to bend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kvm-glue/monitor.h"
#include "pvabi/abi.h"
#include "pvabi/host.h"
#include "pvabi/internal.h"
#include "src/vm.h"
#include "virtio/pci.h"
#include "virtio/ring.h"
#include "virtio/transport.h"
#include "tests/unit/fake_vm.h"

#define RAM	  (4u << 20)
#define MEM_SIZE  (RAM + VBUS_AREA_SIZE)
#define BAR(slot) (RAM + VBUS_AREA_SIZE + ((slot)-1) * VPCI_BAR_SIZE)

/*
 * The configuration space model alone.
 */

struct window_log {
	unsigned reads, writes, slot, len;
	uint32_t off, val;
};

static uint32_t log_read(void *ctx, unsigned slot, uint32_t off, unsigned len)
{
	struct window_log *l = ctx;
	l->reads++;
	l->slot = slot;
	l->off = off;
	l->len = len;
	return 0xA1B2C3D4u;
}

static void log_write(void *ctx, unsigned slot, uint32_t off, unsigned len, uint32_t val)
{
	struct window_log *l = ctx;
	l->writes++;
	l->slot = slot;
	l->off = off;
	l->len = len;
	l->val = val;
}

static struct pci_bus *one_fn_bus(struct window_log *l)
{
	struct pci_bus *b = calloc(1, sizeof(*b));
	b->ctx = l;
	b->bar_read = log_read;
	b->bar_write = log_write;
	struct pci_fn *f = pci_add_fn(b, 3, 0x1AF4, 0x1042, 1, 0x018000);
	pci_set_bar0(f, 0x10000000, 4096);
	pci_set_irq(f, 3, 0);
	uint8_t cap[20] = {0};
	pci_set_window(f, pci_add_cap(f, PCI_CAP_ID_VNDR, cap, sizeof(cap)));
	return b;
}

static uint32_t cfg_in(struct pci_bus *b, uint32_t addr, unsigned port_off, unsigned len)
{
	pci_port_write(b, PCI_CONFIG_ADDRESS, 4, addr);
	return pci_port_read(b, (uint16_t)(PCI_CONFIG_DATA + port_off), len);
}

static void cfg_out(struct pci_bus *b, uint32_t addr, unsigned port_off, unsigned len, uint32_t v)
{
	pci_port_write(b, PCI_CONFIG_ADDRESS, 4, addr);
	pci_port_write(b, (uint16_t)(PCI_CONFIG_DATA + port_off), len, v);
}

#define ADDR(slot, reg) (PCI_ADDR_ENABLE | (slot) << 11 | (reg))

/* Linux's type-1 probe: a byte written at 0xCFB, then a dword that must come
 * back exactly. */
static void test_latch_reads_back(void **state)
{
	(void)state;
	struct window_log l = {0};
	struct pci_bus *b = one_fn_bus(&l);
	pci_port_write(b, 0xCFB, 1, 0x01);
	assert_int_equal(pci_port_read(b, 0xCF8, 4), 0x01000000);
	pci_port_write(b, 0xCF8, 4, 0x80000000);
	assert_int_equal(pci_port_read(b, 0xCF8, 4), 0x80000000);
	pci_port_write(b, 0xCF8, 4, 0x12345678);
	assert_int_equal(pci_port_read(b, 0xCF9, 1), 0x56);
	assert_int_equal(pci_port_read(b, 0xCFA, 2), 0x1234);
	/* Not a port of ours, or a width no instruction has. */
	assert_int_equal(pci_port_read(b, 0xCFB, 4), 0xFFFFFFFF);
	free(b);
}

static void test_absent_reads_all_ones(void **state)
{
	(void)state;
	struct window_log l = {0};
	struct pci_bus *b = one_fn_bus(&l);
	assert_int_equal(cfg_in(b, ADDR(3, 0), 0, 4), 0x10421AF4);
	assert_int_equal(cfg_in(b, ADDR(4, 0), 0, 4), 0xFFFFFFFF);	     /* empty slot */
	assert_int_equal(cfg_in(b, ADDR(3, 0) | 1 << 8, 0, 4), 0xFFFFFFFF);  /* function 1 */
	assert_int_equal(cfg_in(b, ADDR(3, 0) | 1 << 16, 0, 4), 0xFFFFFFFF); /* bus 1 */
	assert_int_equal(cfg_in(b, ADDR(3, 0) & ~PCI_ADDR_ENABLE, 0, 2), 0xFFFF);
	/* Extended registers (AMD's bits 27:24): there is no such space. */
	assert_int_equal(cfg_in(b, ADDR(3, 0) | 0x01000000, 0, 4), 0xFFFFFFFF);
	/* An access that would cross its dword. */
	assert_int_equal(cfg_in(b, ADDR(3, 0), 3, 2), 0xFFFF);
	assert_int_equal(cfg_in(b, ADDR(3, 0), 1, 4), 0xFFFFFFFF);
	/* Writes there change nothing anywhere. */
	cfg_out(b, ADDR(3, 0) | 1 << 8, 0, 4, 0);
	cfg_out(b, ADDR(3, 0) | 0x01000000, 0, 4, 0);
	assert_int_equal(cfg_in(b, ADDR(3, 0), 0, 4), 0x10421AF4);
	free(b);
}

/* Odd offsets and widths give the same bytes as dword reads. */
static void test_widths_agree(void **state)
{
	(void)state;
	struct window_log l = {0};
	struct pci_bus *b = one_fn_bus(&l);
	for (unsigned reg = 0; reg < PCI_CFG_SPACE; reg += 4) {
		uint32_t d = cfg_in(b, ADDR(3, reg), 0, 4);
		for (unsigned k = 0; k < 4; k++)
			assert_int_equal(cfg_in(b, ADDR(3, reg), k, 1), (d >> (8 * k)) & 0xFF);
		assert_int_equal(cfg_in(b, ADDR(3, reg), 2, 2), d >> 16);
		/* The low two bits of the latch are not the offset. */
		assert_int_equal(cfg_in(b, ADDR(3, reg) | 3, 0, 4), d);
	}
	free(b);
}

static void test_read_only_fields(void **state)
{
	(void)state;
	struct window_log l = {0};
	struct pci_bus *b = one_fn_bus(&l);
	uint8_t before[PCI_CFG_SPACE];
	for (unsigned r = 0; r < PCI_CFG_SPACE; r += 4)
		for (unsigned k = 0; k < 4; k++)
			before[r + k] = (uint8_t)cfg_in(b, ADDR(3, r), k, 1);
	/* Scribble all-ones over everything but BAR0, command and the
	 * window: nothing else may move. */
	for (unsigned r = 0; r < PCI_CFG_SPACE; r += 4)
		if (r != PCI_COMMAND && r != PCI_BAR0 && r != PCI_CACHE_LINE_SIZE &&
		    (r < 0x40 || r >= 0x40 + 20))
			cfg_out(b, ADDR(3, r), 0, 4, 0xFFFFFFFF);
	for (unsigned r = 0; r < PCI_CFG_SPACE; r++)
		if (r < PCI_COMMAND || (r >= PCI_STATUS && r < PCI_CACHE_LINE_SIZE) ||
		    (r >= PCI_HEADER_TYPE && r < PCI_BAR0) || (r >= PCI_BAR0 + 4 && r < 0x40) ||
		    r >= 0x40 + 20)
			assert_int_equal(cfg_in(b, ADDR(3, r & ~3u), r & 3, 1), before[r]);
	/* The interrupt line is the routing on lguest: read-only. */
	assert_int_equal(cfg_in(b, ADDR(3, PCI_INTERRUPT_LINE), 0, 1), 3);
	/* Command: memory, master, INTx disable, and nothing else. */
	cfg_out(b, ADDR(3, PCI_COMMAND), 0, 2, 0xFFFF);
	assert_int_equal(cfg_in(b, ADDR(3, PCI_COMMAND), 0, 2), 0x0406);
	free(b);
}

static void test_bar_sizing(void **state)
{
	(void)state;
	struct window_log l = {0};
	struct pci_bus *b = one_fn_bus(&l);
	struct pci_fn *f = &b->fn[3];
	assert_int_equal(pci_bar0_addr(f), 0x10000000);
	assert_true(pci_mem_enabled(f));
	cfg_out(b, ADDR(3, PCI_BAR0), 0, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_in(b, ADDR(3, PCI_BAR0), 0, 4), 0xFFFFF000);
	cfg_out(b, ADDR(3, PCI_BAR0), 0, 4, 0x20000123);
	assert_int_equal(pci_bar0_addr(f), 0x20000000);
	/* The other BARs and the expansion ROM do not exist. */
	for (unsigned r = PCI_BAR0 + 4; r <= 0x30; r += 4) {
		cfg_out(b, ADDR(3, r), 0, 4, 0xFFFFFFFF);
		assert_int_equal(cfg_in(b, ADDR(3, r), 0, 4), 0);
	}
	free(b);
}

static void test_capability_chain(void **state)
{
	(void)state;
	struct pci_bus *b = calloc(1, sizeof(*b));
	struct pci_fn *f = pci_add_fn(b, 1, 1, 2, 0, 0);
	uint8_t body[16] = {0, 0, 16, 7};
	assert_int_equal(pci_add_cap(f, PCI_CAP_ID_VNDR, body, 16), 0x40);
	assert_int_equal(pci_add_cap(f, PCI_CAP_ID_VNDR, body, 13), 0x50);
	assert_int_equal(pci_add_cap(f, PCI_CAP_ID_VNDR, body, 16), 0x60); /* dword aligned */
	assert_int_equal(f->cfg[PCI_CAPABILITY_LIST], 0x40);
	assert_int_equal(f->cfg[0x41], 0x50);
	assert_int_equal(f->cfg[0x51], 0x60);
	assert_int_equal(f->cfg[0x61], 0);
	assert_true(f->cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST);
	/* Config space ends at 256: a capability that would not fit is refused. */
	uint8_t big[200] = {0};
	assert_int_equal(pci_add_cap(f, PCI_CAP_ID_VNDR, big, sizeof(big)), 0);
	assert_null(pci_add_fn(b, 1, 1, 2, 0, 0)); /* the slot is taken */
	assert_null(pci_add_fn(b, PCI_SLOTS, 1, 2, 0, 0));
	free(b);
}

/* The PCI_CFG window: bar/offset/length, then the data field performs the
 * access on the BAR -- but only a natural, aligned one inside BAR0. */
static void test_window(void **state)
{
	(void)state;
	struct window_log l = {0};
	struct pci_bus *b = one_fn_bus(&l);
	unsigned w = 0x40;
	cfg_out(b, ADDR(3, w + 4), 0, 1, 0);	 /* bar */
	cfg_out(b, ADDR(3, w + 8), 0, 4, 0x308); /* offset */
	cfg_out(b, ADDR(3, w + 12), 0, 4, 4);	 /* length */
	cfg_out(b, ADDR(3, w + 16), 0, 4, 0x41); /* data: write it */
	assert_int_equal(l.writes, 1);
	assert_int_equal(l.slot, 3);
	assert_int_equal(l.off, 0x308);
	assert_int_equal(l.len, 4);
	assert_int_equal(l.val, 0x41);
	assert_int_equal(cfg_in(b, ADDR(3, w + 16), 0, 4), 0xA1B2C3D4);
	assert_int_equal(l.reads, 1);
	/* A one-byte window takes the data's first byte, whatever the width. */
	cfg_out(b, ADDR(3, w + 12), 0, 4, 1);
	cfg_out(b, ADDR(3, w + 8), 0, 4, 0x309);
	cfg_out(b, ADDR(3, w + 16), 0, 4, 0x1234);
	assert_int_equal(l.val, 0x34);
	assert_int_equal(cfg_in(b, ADDR(3, w + 16), 0, 4), 0xD4);
	/* Bad windows are ignored: another BAR, a length of 3, misaligned,
	 * past the BAR's end, wrapping around. */
	struct {
		uint8_t bar;
		uint32_t off, len;
	} bad[] = {{1, 0, 4}, {0, 0, 3}, {0, 2, 4}, {0, 4096, 1}, {0, 4094, 4}, {0, 0xFFFFFFFC, 4}};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned writes = l.writes, reads = l.reads;
		cfg_out(b, ADDR(3, w + 4), 0, 1, bad[i].bar);
		cfg_out(b, ADDR(3, w + 8), 0, 4, bad[i].off);
		cfg_out(b, ADDR(3, w + 12), 0, 4, bad[i].len);
		cfg_out(b, ADDR(3, w + 16), 0, 4, 7);
		assert_int_equal(cfg_in(b, ADDR(3, w + 16), 0, 4), 0);
		assert_int_equal(l.writes, writes);
		assert_int_equal(l.reads, reads);
	}
	free(b);
}

/*
 * The transport, on a fake VM.
 */

struct fx {
	struct vm *vm;
	struct vdev *net, *blk;
	unsigned kicks;
	struct vqueue *kicked;
};

static struct fx *the_fx;

static void count_kick(struct vm *vm, struct vdev *dev, struct vqueue *q)
{
	(void)vm;
	(void)dev;
	the_fx->kicks++;
	the_fx->kicked = q;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->vm = fake_vm_new(RAM, MEM_SIZE);
	f->vm->kvm.vm_fd = -1;
	f->vm->lg.abi = abi_get(GEN_G9);
	assert_int_equal(vbus_init(f->vm), 0);
	/* Two devices, in the order lgkvm adds them (the console, which would
	 * take slot 1, comes last and is left out here). */
	uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
	f->blk = vbus_add_device(f->vm, VIRTIO_ID_BLOCK, "block");
	assert_non_null(vbus_add_queue(f->vm, f->blk, VBUS_QUEUE_NUM));
	f->net = vbus_add_device(f->vm, VIRTIO_ID_NET, "net");
	assert_non_null(vbus_add_queue(f->vm, f->net, VBUS_QUEUE_NUM));
	assert_non_null(vbus_add_queue(f->vm, f->net, VBUS_QUEUE_NUM));
	assert_int_equal(vbus_add_config(f->vm, f->net, 0, 5, 0, 6, mac), 0);
	f->net->notify = count_kick;
	f->blk->notify = count_kick;
	assert_int_equal(vbus_finish(f->vm), 0);
	f->vm->mem.limit = vbus_limit(f->vm);
	the_fx = f;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	fake_vm_free(f->vm);
	free(f);
	return 0;
}

static uint32_t pio_cfg(struct fx *f, unsigned slot, unsigned reg, unsigned len)
{
	uint32_t a = ADDR(slot, reg & ~3u), v = 0;
	assert_true(vbus_pio(f->vm, 0xCF8, 4, true, &a));
	assert_true(vbus_pio(f->vm, (uint16_t)(0xCFC + (reg & 3)), len, false, &v));
	return v;
}

static uint32_t rd(struct fx *f, uint64_t gpa, unsigned len)
{
	uint8_t d[8] = {0};
	assert_true(vbus_mmio(f->vm, gpa, d, len, false));
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void wr(struct fx *f, uint64_t gpa, unsigned len, uint32_t v)
{
	uint8_t d[8] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	assert_true(vbus_mmio(f->vm, gpa, d, len, true));
}

static void test_bus_layout(void **state)
{
	struct fx *f = *state;
	assert_int_equal(pio_cfg(f, 0, 0, 4), 0x00081B36);
	assert_int_equal(pio_cfg(f, 0, PCI_CLASS_DEVICE, 2), 0x0600);
	assert_int_equal(pio_cfg(f, 1, 0, 4), 0xFFFFFFFF); /* the console's, not added */
	assert_int_equal(pio_cfg(f, 2, 0, 4), 0x10421AF4);
	assert_int_equal(pio_cfg(f, 3, 0, 4), 0x10411AF4);
	assert_int_equal(pio_cfg(f, 2, PCI_INTERRUPT_LINE, 1), 2);
	assert_int_equal(pio_cfg(f, 3, PCI_INTERRUPT_LINE, 1), 3);
	assert_int_equal(pio_cfg(f, 3, PCI_REVISION_ID, 1), 1);
	assert_int_equal(pio_cfg(f, 3, PCI_SUBSYSTEM_ID, 2), 0x40);
	assert_int_equal(pio_cfg(f, 3, PCI_BAR0, 4), BAR(3));
	/* Walk the capabilities: five virtio ones, each once. */
	unsigned seen = 0;
	for (unsigned c = pio_cfg(f, 3, PCI_CAPABILITY_LIST, 1), n = 0; c && n < 8; n++) {
		assert_int_equal(pio_cfg(f, 3, c, 1), PCI_CAP_ID_VNDR);
		seen |= 1u << pio_cfg(f, 3, c + 3, 1);
		c = pio_cfg(f, 3, c + 1, 1);
	}
	assert_int_equal(seen, 0x3E);
	/* NOTIFY is not how 4.x guests kick. */
	assert_false(vbus_notify(f->vm, BAR(3) + VPCI_NOTIFY_OFF));
	/* Not a port of the PCI platform. */
	uint32_t v;
	assert_false(vbus_pio(f->vm, 0x70, 1, false, &v));
}

static void test_features(void **state)
{
	struct fx *f = *state;
	uint64_t cc = BAR(3) + VPCI_COMMON_OFF;
	wr(f, cc + 0x00, 4, 0);
	assert_int_equal(rd(f, cc + 0x04, 4), 1u << 5); /* MAC */
	wr(f, cc + 0x00, 4, 1);
	assert_int_equal(rd(f, cc + 0x04, 4), 1u); /* VERSION_1 */
	wr(f, cc + 0x00, 4, 2);
	assert_int_equal(rd(f, cc + 0x04, 4), 0);
	/* Without VERSION_1 the device will not say FEATURES_OK. */
	wr(f, cc + 0x14, 1, 1 | 2);
	wr(f, cc + 0x08, 4, 0);
	wr(f, cc + 0x0C, 4, 1u << 5);
	wr(f, cc + 0x14, 1, 1 | 2 | 8);
	assert_int_equal(rd(f, cc + 0x14, 1), 3);
	/* Nor with a feature it never offered. */
	wr(f, cc + 0x08, 4, 1);
	wr(f, cc + 0x0C, 4, 1 | 2);
	wr(f, cc + 0x14, 1, 1 | 2 | 8);
	assert_int_equal(rd(f, cc + 0x14, 1), 3);
	wr(f, cc + 0x0C, 4, 1);
	wr(f, cc + 0x14, 1, 1 | 2 | 8);
	assert_int_equal(rd(f, cc + 0x14, 1), 0xB);
	assert_int_equal(vbus_status(f->vm, f->net), 0xB);
	/* Device config: the MAC at 0x300. */
	assert_int_equal(rd(f, BAR(3) + VPCI_DEVICE_OFF, 4), 0x00000002);
	assert_int_equal(rd(f, BAR(3) + VPCI_DEVICE_OFF + 4, 2), 0x0100);
	/* Reset: everything back. */
	wr(f, cc + 0x14, 1, 0);
	assert_int_equal(rd(f, cc + 0x14, 1), 0);
	wr(f, cc + 0x08, 4, 1);
	assert_int_equal(rd(f, cc + 0x0C, 4), 0);
}

/* Set up queue qi of the net device at desc/avail/used; enable it. */
static void queue_setup(struct fx *f, unsigned qi, uint16_t size, uint32_t desc, uint32_t avail,
			uint32_t used)
{
	uint64_t cc = BAR(3) + VPCI_COMMON_OFF;
	wr(f, cc + 0x16, 2, qi);
	wr(f, cc + 0x18, 2, size);
	wr(f, cc + 0x20, 4, desc);
	wr(f, cc + 0x28, 4, avail);
	wr(f, cc + 0x30, 4, used);
	wr(f, cc + 0x1C, 2, 1);
}

static void test_queues(void **state)
{
	struct fx *f = *state;
	uint64_t cc = BAR(3) + VPCI_COMMON_OFF;
	struct vchain c;
	assert_int_equal(rd(f, cc + 0x12, 2), 2);
	wr(f, cc + 0x16, 2, 5); /* no queue 5: reads 0, writes ignored */
	assert_int_equal(rd(f, cc + 0x18, 2), 0);
	wr(f, cc + 0x18, 2, 4);
	assert_int_equal(rd(f, cc + 0x18, 2), 0);
	wr(f, cc + 0x16, 2, 0);
	assert_int_equal(rd(f, cc + 0x18, 2), VBUS_QUEUE_NUM);
	assert_int_equal(rd(f, cc + 0x1A, 2), 0xFFFF); /* no MSI-X */
	/* A kick before the queue is enabled finds nothing. */
	wr(f, BAR(3) + VPCI_NOTIFY_OFF, 2, 0);
	assert_int_equal(f->kicks, 0);
	assert_int_equal(vring_pop(f->vm, f->net->q[0], &c), 0);
	/* A 16-entry ring at odd (but aligned) places. */
	queue_setup(f, 0, 16, 0x1010, 0x2002, 0x3004);
	assert_false(f->vm->dead);
	assert_int_equal(f->net->q[0]->num, 16);
	assert_int_equal(rd(f, cc + 0x1C, 2), 1);
	/* Once enabled, its fields are frozen. */
	wr(f, cc + 0x20, 4, 0x5000);
	assert_int_equal(rd(f, cc + 0x20, 4), 0x1010);
	wr(f, BAR(3) + VPCI_NOTIFY_OFF, 2, 0);
	assert_int_equal(f->kicks, 1);
	assert_ptr_equal(f->kicked, f->net->q[0]);
	wr(f, BAR(3) + VPCI_NOTIFY_OFF, 2, 1); /* not enabled yet */
	wr(f, BAR(3) + VPCI_NOTIFY_OFF, 2, 9); /* not there */
	assert_int_equal(f->kicks, 1);
	/* A completion: ISR bit 0 and the device's line; reading clears. */
	uint16_t *avail = (uint16_t *)(f->vm->mem.base + 0x2002);
	uint8_t *desc = f->vm->mem.base + 0x1010;
	*(uint64_t *)desc = 0x8000;
	*(uint32_t *)(desc + 8) = 64;
	*(uint16_t *)(desc + 12) = VRING_DESC_F_WRITE;
	avail[2] = 0;
	avail[1] = 1;
	assert_int_equal(vring_pop(f->vm, f->net->q[0], &c), 1);
	vring_complete(f->vm, f->net->q[0], c.head, 64);
	assert_true(atomic_load(lg_pending(f->vm)) & (1u << 3));
	assert_int_equal(*(uint16_t *)(f->vm->mem.base + 0x3006), 1); /* used.idx */
	assert_int_equal(rd(f, BAR(3) + VPCI_ISR_OFF, 1), 1);
	assert_int_equal(rd(f, BAR(3) + VPCI_ISR_OFF, 1), 0);
	/* Reset stops the queue. */
	wr(f, cc + 0x14, 1, 0);
	assert_int_equal(vring_pop(f->vm, f->net->q[0], &c), 0);
	wr(f, cc + 0x16, 2, 0);
	assert_int_equal(rd(f, cc + 0x1C, 2), 0);
	assert_int_equal(rd(f, cc + 0x18, 2), VBUS_QUEUE_NUM);
}

static void expect_kill(uint16_t size, uint32_t desc, uint32_t desc_hi, uint32_t avail,
			uint32_t used, const char *why)
{
	struct fx *f;
	void *st;
	fx_setup(&st);
	f = st;
	uint64_t cc = BAR(3) + VPCI_COMMON_OFF;
	wr(f, cc + 0x16, 2, 1);
	wr(f, cc + 0x24, 4, desc_hi);
	queue_setup(f, 1, size, desc, avail, used);
	if (!f->vm->dead)
		fail_msg("a ring of %u at %#x/%#x/%#x was accepted (want \"%s\")", size, desc,
			 avail, used, why);
	assert_int_equal(f->vm->exit_code, EXIT_GUEST_KILLED);
	if (!strstr(f->vm->exit_reason, why))
		fail_msg("reason \"%s\" lacks \"%s\"", f->vm->exit_reason, why);
	assert_non_null(strstr(f->vm->exit_reason, "00:03.0 (net): queue 1"));
	fx_teardown(&st);
}

static void test_bad_rings_kill(void **state)
{
	(void)state;
	expect_kill(16, RAM - 0x80, 0, 0x2000, 0x3000, "lies outside guest memory");
	expect_kill(16, 0x1000, 0, RAM - 2, 0x3000, "lies outside guest memory");
	expect_kill(16, 0x1000, 0, 0x2000, RAM + 0x1000, "lies outside guest memory");
	expect_kill(16, 0x1000, 0, 0x2000, 0xFFFFFFF0u, "lies outside guest memory");
	expect_kill(16, 0x1000, 1, 0x2000, 0x3000, "64-bit descriptor ring");
	expect_kill(16, 0x1008, 0, 0x2000, 0x3000, "misaligned");
	expect_kill(16, 0x1000, 0, 0x2001, 0x3000, "misaligned");
	expect_kill(16, 0x1000, 0, 0x2000, 0x3002, "misaligned");
	expect_kill(12, 0x1000, 0, 0x2000, 0x3000, "not a power of two");
	expect_kill(0, 0x1000, 0, 0x2000, 0x3000, "not a power of two");
	expect_kill(256, 0x1000, 0, 0x2000, 0x3000, "not a power of two");
}

/* BAR0 decodes only outside RAM and the monitor, while memory is enabled,
 * and not over another device; the doorbell follows it. */
static void test_bar_moves(void **state)
{
	struct fx *f = *state;
	uint32_t a, v;
	uint8_t d[4] = {0};
	/* Over RAM: the device stops answering anywhere. */
	a = ADDR(3, PCI_BAR0);
	vbus_pio(f->vm, 0xCF8, 4, true, &a);
	v = 0x00100000;
	vbus_pio(f->vm, 0xCFC, 4, true, &v);
	assert_false(vbus_mmio(f->vm, BAR(3), d, 4, false));
	assert_false(vbus_mmio(f->vm, 0x00100000, d, 4, false));
	/* Onto the monitor: the same. */
	v = 0xFFC00000u;
	vbus_pio(f->vm, 0xCFC, 4, true, &v);
	assert_false(vbus_mmio(f->vm, 0xFFC00000u, d, 4, false));
	/* Onto the block device's BAR: the block device keeps it. */
	v = BAR(2);
	vbus_pio(f->vm, 0xCFC, 4, true, &v);
	wr(f, BAR(2) + VPCI_COMMON_OFF + 0x16, 2, 0);
	assert_int_equal(rd(f, BAR(2) + VPCI_COMMON_OFF + 0x12, 2), 1); /* block: 1 queue */
	/* Somewhere free: it answers there. */
	v = 0x80000000u;
	vbus_pio(f->vm, 0xCFC, 4, true, &v);
	assert_int_equal(rd(f, 0x80000000u + VPCI_COMMON_OFF + 0x12, 2), 2);
	/* Memory decoding off: nowhere. */
	a = ADDR(3, PCI_COMMAND);
	vbus_pio(f->vm, 0xCF8, 4, true, &a);
	v = 0;
	vbus_pio(f->vm, 0xCFC, 2, true, &v);
	assert_false(vbus_mmio(f->vm, 0x80000000u, d, 4, false));
	/* Outside every BAR, and past a BAR's end. */
	assert_false(vbus_mmio(f->vm, BAR(2) + VPCI_BAR_SIZE - 2, d, 4, false));
}

/*
 * MMIO instructions KVM could not fetch (pvabi/mmio.c): decoded by us.
 */

#define PGDIR	0x10000u
#define PT_LOW	0x11000u
#define PT_BAR	0x12000u
#define CODE	0x20000u
#define BAR_GVA 0x00400000u

/* Identity-map the first 4 MiB, and GVA 4 MiB onto the net device's BAR. */
static void map_bar(struct fx *f)
{
	uint32_t *pd = (uint32_t *)(f->vm->mem.base + PGDIR);
	uint32_t *lo = (uint32_t *)(f->vm->mem.base + PT_LOW);
	uint32_t *bar = (uint32_t *)(f->vm->mem.base + PT_BAR);
	for (unsigned i = 0; i < 1024; i++)
		lo[i] = i * 4096u | 3;
	pd[0] = PT_LOW | 3;
	pd[1] = PT_BAR | 3;
	bar[0] = BAR(3) | 3;
	f->vm->lg.pgdir = PGDIR;
	assert_true(lg_decoder_open(f->vm));
}

/* Run `code` as the instruction KVM choked on, with EDX pointing at offset
 * `off` of the BAR; returns what lg_emulate_mmio said. */
static bool run_insn(struct fx *f, const void *code, size_t len, uint32_t edx, struct mon_frame *fr,
		     struct guest_regs *r)
{
	memcpy(f->vm->mem.base + CODE, code, len);
	fr->eip = fr->cr2 = CODE;
	r->edx = edx;
	return lg_emulate_mmio(f->vm, r, fr);
}

static void test_mmio_decoded(void **state)
{
	struct fx *f = *state;
	struct mon_frame fr = {0};
	struct guest_regs r = {0};
	map_bar(f);
	/* mov 0x12(%edx),%ax: num_queues, into the low half only. */
	fr.eax = 0xAAAA5555u;
	assert_true(run_insn(f, "\x66\x8b\x42\x12", 4, BAR_GVA, &fr, &r));
	assert_int_equal(fr.eax, 0xAAAA0002u);
	assert_int_equal(fr.eip, CODE + 4);
	/* movb $3,0x14(%edx): status; movzbl 0x14(%edx),%ecx reads it back. */
	assert_true(run_insn(f, "\xc6\x42\x14\x03", 4, BAR_GVA, &fr, &r));
	r.ecx = 0xFFFFFFFFu;
	assert_true(run_insn(f, "\x0f\xb6\x4a\x14", 4, BAR_GVA, &fr, &r));
	assert_int_equal(r.ecx, 3);
	assert_true(r.dirty);
	/* mov %bh,(%edx,%esi,2) with esi = 0x0a: status again, from BH. */
	r.ebx = 0x0100;
	r.esi = 0x0a;
	assert_true(run_insn(f, "\x88\x3c\x72", 3, BAR_GVA, &fr, &r));
	assert_int_equal(vbus_status(f->vm, f->net), 1);
	/* A word write to the doorbell kicks queue 0 (not enabled: nothing). */
	fr.eax = 0;
	assert_true(run_insn(f, "\x66\x89\x82\x00\x01\x00\x00", 7, BAR_GVA, &fr, &r));
	assert_int_equal(f->vm->lg.mmio_emulated, 5);

	/* Not ours: a fault that is not at the EIP, RAM, an fs override, an
	 * instruction that is not a move, a page nothing maps. */
	fr.eip = CODE;
	fr.cr2 = CODE + 1;
	assert_false(lg_emulate_mmio(f->vm, &r, &fr));
	assert_false(run_insn(f, "\x8b\x02", 2, 0x1000, &fr, &r));
	assert_false(run_insn(f, "\x64\x8b\x02", 3, BAR_GVA, &fr, &r));
	assert_false(run_insn(f, "\xff\x02", 2, BAR_GVA, &fr, &r));
	assert_false(run_insn(f, "\x8b\x02", 2, BAR_GVA + 0x1000, &fr, &r));
	assert_int_equal(fr.eip, CODE);
	assert_int_equal(f->vm->lg.mmio_emulated, 5);
	lg_decoder_close(f->vm);
	assert_null(f->vm->lg.decoder);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latch_reads_back),
		cmocka_unit_test(test_absent_reads_all_ones),
		cmocka_unit_test(test_widths_agree),
		cmocka_unit_test(test_read_only_fields),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_capability_chain),
		cmocka_unit_test(test_window),
		cmocka_unit_test_setup_teardown(test_bus_layout, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_features, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_queues, fx_setup, fx_teardown),
		cmocka_unit_test(test_bad_rings_kill),
		cmocka_unit_test_setup_teardown(test_bar_moves, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mmio_decoded, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
