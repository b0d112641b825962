/* The snapshot's state file (src/snapshot_format.c): what is written reads
 * back the same, and what is damaged, truncated, another format's or
 * inconsistent is refused with one sentence that says where. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/snapshot_format.h"

/* A plausible snapshot: a G1 guest with a disk and the console, in RAM at
 * 64 MiB; the vCPU in the monitor's tables, paging on. */
static struct snap *make_snap(void)
{
	struct snap *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->format = SNAP_FORMAT;
	strcpy(s->version, "0.1.0");
	memset(s->id, 0x5A, sizeof(s->id));
	strcpy(s->generation, "G1");
	s->fast_path = s->irqchip = true;
	s->ram = 64u << 20;
	s->mem_size = s->ram + VBUS_AREA_SIZE;
	s->tsc_khz = 2000000;
	s->monitor_crc = 0x12345678;
	strcpy(s->kernel, "/boot/vmlinux-2.6.24");
	strcpy(s->cmdline, "root=/dev/vda ");
	strcpy(s->mem_file, "vm.state.mem");
	s->cpu.regs.rip = 0xC0100000;
	s->cpu.regs.rsp = 0xC0300000;
	s->cpu.sregs.cr0 = 0x80010033;
	s->cpu.sregs.gdt.base = MON_GVA + MON_GDT_OFF;
	s->cpu.sregs.idt.base = MON_GVA + MON_IDT_OFF;
	s->cpu.sregs.tr.selector = SEL_TSS;
	s->cpu.mp.mp_state = KVM_MP_STATE_HALTED;
	s->cpu.have_lapic = true;
	s->cpu.lapic.regs[0x20] = 1;
	s->cpu.tsc = 123456789012ull;
	s->lg = (struct snap_lguest){.initialized = true,
				     .lguest_data = 0x400000,
				     .noirq_start = 0xC0101000,
				     .noirq_end = 0xC0101010,
				     .kernel_address = 0xC0000000,
				     .boot_pgdir = 0x3FFF000,
				     .pgdir = 0x500000,
				     .pending = 0x5,
				     .clock_left_ns = 1000000};
	memset(s->monitor, 0xCC, sizeof(s->monitor));
	s->ndma = 2;
	s->dma[1] = (struct snap_dma_binding){.key = 7, .dmas = 0x1000, .num = 4, .irq = 3};
	s->ndevs = 2;
	s->dev[0] = (struct snap_dev){.type = VIRTIO_ID_BLOCK,
				      .disk_size = 1 << 20,
				      .disk_mtime_ns = 42,
				      .disk_head_hash = 99,
				      .features = 0x28,
				      .config_len = 12,
				      .nq = 1};
	strcpy(s->dev[0].path, "disk.img");
	s->dev[0].q[0] = (struct snap_queue){.num = 128,
					     .irq = 1,
					     .ready = true,
					     .gpa = 0x4001000,
					     .desc = 0x4001000,
					     .avail = 0x4001800,
					     .used = 0x4002000,
					     .last_avail = 300,
					     .last_used = 299};
	s->dev[1] = (struct snap_dev){.type = VIRTIO_ID_CONSOLE, .nq = 2, .has_pci = true};
	s->dev[1].q[0].num = s->dev[1].q[1].num = 64;
	s->dev[1].pci.cfg[4] = 6;
	s->dev[1].pci.status = 15;
	s->dev[1].pci.qc[1] =
		(struct snap_pci_queue){.size = 64, .enabled = true, .desc = {0x9000}};
	return s;
}

static struct snap *decode(const void *buf, size_t len, int want, char *err, size_t errlen)
{
	struct snap *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	err[0] = '\0';
	int r = snap_decode(buf, len, d, err, errlen);
	assert_int_equal(r, want);
	if (r < 0) {
		assert_true(strlen(err) > 10);
		assert_null(strchr(err, '\n'));
	}
	return d;
}

/* Encode s, decode it again: expect `want`, and with -1 an error naming `part`. */
static void expect(struct snap *s, int want, const char *part)
{
	char err[512];
	size_t len = 0;
	void *buf = snap_encode(s, &len, err, sizeof(err));
	assert_non_null(buf);
	struct snap *d = decode(buf, len, want, err, sizeof(err));
	if (want == 0)
		assert_memory_equal(s, d, sizeof(*s));
	else if (!strstr(err, part))
		fail_msg("error \"%s\" does not name \"%s\"", err, part);
	free(d);
	free(buf);
	free(s);
}

static void test_round_trip(void **state)
{
	(void)state;
	expect(make_snap(), 0, NULL);
}

static void test_truncated_and_damaged(void **state)
{
	(void)state;
	struct snap *s = make_snap();
	char err[512];
	size_t len = 0;
	uint8_t *buf = snap_encode(s, &len, err, sizeof(err));
	assert_non_null(buf);
	/* Every shorter length is refused (the size is the tree's). */
	for (size_t n = 0; n < len; n += n < 4096 ? 1 : 997)
		free(decode(buf, n, -1, err, sizeof(err)));
	/* One byte more: padded, refused. */
	uint8_t *more = calloc(1, len + 1);
	assert_non_null(more);
	memcpy(more, buf, len);
	free(decode(more, len + 1, -1, err, sizeof(err)));
	assert_non_null(strstr(err, "truncated or padded"));
	/* Another version of the format than the 17 libfdt writes (an older
	 * one sent Debian 12's libfdt through a NULL pointer): refused on the
	 * header alone. */
	for (unsigned v = 1; v < 20; v++) {
		if (v == 17)
			continue;
		memcpy(more, buf, len);
		more[20] = more[21] = more[22] = 0;
		more[23] = (uint8_t)v;
		free(decode(more, len, -1, err, sizeof(err)));
		assert_non_null(strstr(err, "version 17"));
	}
	/* The header's magic. */
	buf[0] ^= 0xFF;
	free(decode(buf, len, -1, err, sizeof(err)));
	assert_non_null(strstr(err, "not a flattened device tree"));
	free(more);
	free(buf);
	free(s);
}

static void test_refusals(void **state)
{
	(void)state;
	struct snap *s = make_snap();
	s->format = 2;
	expect(s, -1, "format 2");
	s = make_snap();
	strcpy(s->generation, "G11");
	expect(s, -1, "/machine/generation");
	s = make_snap();
	s->ram = 4097;
	expect(s, -1, "/machine/ram");
	s = make_snap();
	s->mem_size += 4096;
	expect(s, -1, "/memory/size");
	s = make_snap();
	strcpy(s->mem_file, "../etc/x");
	expect(s, -1, "/memory/file");
	s = make_snap();
	s->cpu.sregs.efer = 0x500;
	expect(s, -1, "long mode");
	s = make_snap();
	s->cpu.sregs.gdt.base = 0x1000;
	expect(s, -1, "descriptor tables");
	s = make_snap();
	s->cpu.mp.mp_state = KVM_MP_STATE_SIPI_RECEIVED;
	expect(s, -1, "MP state");
	s = make_snap();
	s->irqchip = false; /* a LAPIC saved all the same */
	expect(s, -1, "/vcpu/lapic");
	s = make_snap();
	s->pae = true; /* CR4.PAE is clear */
	expect(s, -1, "CR4.PAE");
	s = make_snap();
	s->lg.pgdir = 64u << 20;
	expect(s, -1, "outside RAM");
	s = make_snap();
	s->lg.kernel_address = 0xFFC00000;
	expect(s, -1, "overlaps the monitor");
	s = make_snap();
	s->dev[0].q[0].num = 100;
	expect(s, -1, "power of two");
	s = make_snap();
	s->dev[1].type = 9;
	expect(s, -1, "/device@1/type");
	s = make_snap();
	s->dma[0].irq = 32;
	expect(s, -1, "IRQ beyond 31");
	s = make_snap();
	s->dma_guestid = 0;
	expect(s, 0, NULL);
}

/* State files real snapshots wrote (a G1 guest, a G9 one with virtio-PCI
 * devices; also the fuzzer's seeds): this format still reads them.  A
 * change that breaks this changes the format (SNAP_FORMAT) and the seeds. */
/* A migration's machine record and its final state: one machine, whatever
 * the guest did in between; any change of what the VM is built from is
 * named. */
static void test_other_machine(void **state)
{
	(void)state;
	struct snap *a = make_snap(), *b = make_snap();
	/* The guest ran on: its registers, rings and disk identity moved. */
	b->cpu.regs.rip += 0x40;
	b->dev[0].q[0].last_avail = 17;
	b->dev[0].disk_mtime_ns += 1000;
	b->lg.pending = 1;
	assert_null(snap_other_machine(a, b));
	static const char *const want[] = {
		"the generation",
		"the generation",
		"the memory size",
		"the memory size",
		"the monitor's settings",
		"the tap's address",
		"the devices",
		"the devices",
		"the devices",
		"the devices",
	};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct snap *c = make_snap();
		switch (i) {
		case 0:
			strcpy(c->generation, "G2");
			break;
		case 1:
			c->pae = !c->pae;
			break;
		case 2:
			c->ram += 1u << 20;
			break;
		case 3:
			c->mem_size += 4096;
			break;
		case 4:
			c->irqchip = !c->irqchip;
			break;
		case 5:
			strcpy(c->net_ip, "10.0.0.1/24");
			break;
		case 6:
			c->ndevs--;
			break;
		case 7:
			c->dev[0].type = VIRTIO_ID_NET;
			break;
		case 8:
			strcpy(c->dev[0].path, "other.img");
			break;
		default:
			c->dev[0].readonly = !c->dev[0].readonly;
			break;
		}
		const char *got = snap_other_machine(a, c);
		assert_non_null(got);
		assert_string_equal(got, want[i]);
		free(c);
	}
	free(a);
	free(b);
}

static void test_real_files(void **state)
{
	(void)state;
	const char *files[] = {"tests/fuzz/corpus/state/g1.state",
			       "tests/fuzz/corpus/state/g9.state"};
	for (unsigned i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "rb");
		assert_non_null(f);
		static uint8_t buf[SNAP_STATE_MAX];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		char err[512];
		struct snap *s = decode(buf, len, 0, err, sizeof(err));
		assert_string_equal(s->generation, i ? "G9" : "G1");
		assert_int_equal(s->ndevs, 2);
		assert_int_equal(s->dev[0].type, VIRTIO_ID_BLOCK);
		assert_int_equal(s->dev[1].type, VIRTIO_ID_CONSOLE);
		assert_int_equal(s->dev[0].has_pci, i == 1);
		assert_int_equal(s->mem_size, s->ram + VBUS_AREA_SIZE);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_truncated_and_damaged),
		cmocka_unit_test(test_refusals),   cmocka_unit_test(test_other_machine),
		cmocka_unit_test(test_real_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
