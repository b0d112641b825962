/* libFuzzer harness for descriptor validation: LHCALL_LOAD_GDT, LOAD_TLS,
 * LOAD_IDT_ENTRY and SET_STACK, each made through the real dispatcher
 * (lg_handle_event) by the fake vCPU of fake_vcpu.h, with descriptors and
 * gates straight from the input.
 *
 * After every call, besides fake_check()'s invariants on the real tables
 * (host GDT slots 10/11/16/31 unchanged; no guest-loadable descriptor of DPL
 * 0 and no present system descriptor; every IDT gate a present interrupt or
 * trap gate, selector 0x61 or the monitor's 0x50, never a task gate; the
 * TSS's ring-0 stack untouched), the harness checks the calls did what the
 * ABI says (docs/abi.md §5.2, 6.2-6.5) and nothing more:
 *  - LOAD_GDT(count <= 32): each guest slot below count holds the fixed-up
 *    input descriptor, each slot at or above count is unchanged; count > 32
 *    kills and changes nothing;
 *  - LOAD_TLS: slots 6-8 hold the fixed-up input, no other slot moved;
 *  - LOAD_IDT_ENTRY: vectors 2, 8, 15, 31 change nothing; >= 256 kills; a
 *    present gate of type 0xE/0xF keeps the guest's offset, type and DPL
 *    with selector 0x61; other present types kill; a non-present gate
 *    clears the vector;
 *  - SET_STACK: a selector with RPL != 1 or more than 2 pages kills, and a
 *    kill leaves ss1/esp1 as they were. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fake_vcpu.h"
#include "tests/fuzz/no_kvm.h"

#define GDT_GPA 0x8000u /* where the guest keeps its table */
#define TLS_GPA 0x9000u

static struct fake fk;

static void broken(const char *what, unsigned detail)
{
	fprintf(stderr, "fuzz_desc: %s (%u)\n", what, detail);
	abort();
}

/* What the ABI says the host makes of a guest descriptor (6.3), plus our
 * rule for system descriptors (pvabi/desc.c). */
static uint64_t expect_fixup(uint64_t d)
{
	uint32_t hi = (uint32_t)(d >> 32);

	if (!(hi & 0x6000))
		hi |= 0x2000;
	hi |= 0x100;
	if (!(hi & 0x1000))
		hi &= ~0x8000u;
	return ((uint64_t)hi << 32) | (uint32_t)d;
}

static bool host_slot(unsigned i)
{
	return i == 10 || i == 11 || i == 16 || i == 31;
}

static void snapshot_gdt(uint64_t out[32])
{
	memcpy(out, fk.mon + MON_GDT_OFF, 32 * 8);
}

static void load_gdt(struct fake_rd *r)
{
	uint8_t c = rd8(r);
	uint32_t count = c < 0xF0 ? c % 34u : rd32(r);
	uint32_t gpa = rd8(r) < 0xF0 ? GDT_GPA : rd_val(&fk, r);
	uint64_t in[33] = {0}, before[32], after[32];

	for (unsigned i = 0; i < 33 && i < count; i++) {
		uint32_t lo = rd32(r);
		in[i] = (uint64_t)rd32(r) << 32 | lo;
	}
	if (gpa == GDT_GPA)
		memcpy(fk.mem + GDT_GPA, in, sizeof(in));
	/* What the host will find there (the input, or whatever the guest
	 * memory holds at another address). */
	unsigned n = count < 32 ? count : 32;
	if ((uint64_t)gpa + n * 8u <= fk.vm->mem.limit)
		memcpy(in, fk.mem + gpa, n * 8u);
	snapshot_gdt(before);
	fake_hcall(&fk, LHCALL_LOAD_GDT, gpa, count, 0, 0x100000);
	snapshot_gdt(after);
	if (count > 32) {
		if (!fk.vm->dead)
			broken("LOAD_GDT with count > 32 did not kill", count);
		if (memcmp(before, after, sizeof(before)))
			broken("LOAD_GDT with count > 32 changed the GDT", count);
		return;
	}
	if (fk.vm->dead) {
		if ((uint64_t)gpa + count * 8u <= fk.vm->mem.limit)
			broken("LOAD_GDT of a readable table killed the guest", gpa);
		return;
	}
	for (unsigned i = 0; i < 32; i++) {
		if (host_slot(i))
			continue;
		/* Below count: the new descriptor.  Above: the old one, fixed
		 * up again (a no-op once it has been: fix-ups are idempotent;
		 * slots no one ever loaded were zero). */
		uint64_t want = expect_fixup(i < count ? in[i] : before[i]);
		if (after[i] != want)
			broken("LOAD_GDT: a guest slot holds something other than the ABI says", i);
	}
}

static void load_tls(struct fake_rd *r)
{
	uint64_t in[3], before[32], after[32];

	for (unsigned i = 0; i < 3; i++) {
		uint32_t lo = rd32(r);
		in[i] = (uint64_t)rd32(r) << 32 | lo;
	}
	memcpy(fk.mem + TLS_GPA, in, sizeof(in));
	snapshot_gdt(before);
	fake_hcall(&fk, LHCALL_LOAD_TLS, TLS_GPA, rd8(r), 0, 0x100000);
	snapshot_gdt(after);
	for (unsigned i = 0; i < 32; i++) {
		uint64_t want = i >= 6 && i <= 8 ? expect_fixup(in[i - 6]) : before[i];
		if (!fk.vm->dead && after[i] != want)
			broken("LOAD_TLS: slot holds something other than the ABI says", i);
	}
}

static void load_idt_entry(struct fake_rd *r)
{
	uint8_t v = rd8(r);
	uint32_t vec = v < 0xF8 ? v : rd32(r);
	uint32_t lo = rd32(r);
	uint32_t hi = rd32(r);
	struct lg_gate old = vec < 256 ? lg_gate_get(fk.vm, vec) : (struct lg_gate){0, 0};

	fake_hcall(&fk, LHCALL_LOAD_IDT_ENTRY, vec, lo, hi, 0x100000);
	if (vec == 2 || vec == 8 || vec == 15 || vec == 31) {
		struct lg_gate now = lg_gate_get(fk.vm, vec);
		if (fk.vm->dead || memcmp(&old, &now, sizeof(old)))
			broken("LOAD_IDT_ENTRY of a host vector was not ignored", vec);
		return;
	}
	if (vec >= 256) {
		if (!fk.vm->dead)
			broken("LOAD_IDT_ENTRY of a vector >= 256 did not kill", vec);
		return;
	}
	const struct lg_gate gate = lg_gate_get(fk.vm, vec), *g = &gate;
	unsigned type = (hi >> 8) & 0xF;
	if (!(hi & 0x8000)) {
		if (fk.vm->dead || g->lo || g->hi)
			broken("LOAD_IDT_ENTRY of a non-present gate did not clear it", vec);
	} else if (type != 0xE && type != 0xF) {
		if (!fk.vm->dead)
			broken("LOAD_IDT_ENTRY of a gate type other than 0xE/0xF did not kill",
			       type);
	} else if (fk.vm->dead || g->lo != (0x610000u | (lo & 0xFFFF)) ||
		   g->hi != (hi & 0xFFFFEF00u)) {
		broken("LOAD_IDT_ENTRY stored something other than the ABI's gate", vec);
	}
}

static void set_stack(struct fake_rd *r)
{
	uint32_t ss = rd8(r) < 0xF0 ? 0x69 : rd32(r);
	uint32_t esp = rd_val(&fk, r);
	uint32_t pages = rd8(r) % 5u;
	uint32_t ss1, esp1, ss1_after, esp1_after;
	monitor_get_stack1(&fk.vm->kvm.mon, &ss1, &esp1);

	fake_hcall(&fk, LHCALL_SET_STACK, ss, esp, pages, 0x100000);
	monitor_get_stack1(&fk.vm->kvm.mon, &ss1_after, &esp1_after);
	if (((ss & 3) != 1 || pages > 2) && !fk.vm->dead)
		broken("SET_STACK with a bad selector or page count did not kill", ss);
	if (fk.vm->dead && (ss1_after != ss1 || esp1_after != esp1))
		broken("a refused SET_STACK changed the stack", ss);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fake_init(&fk);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_rd r = {data, size};

	fake_reset(&fk);
	fake_hcall(&fk, LHCALL_LGUEST_INIT, FAKE_LDATA, 0, 0, 0x100000);
	for (unsigned n = 0; n < FAKE_MAX_OPS && r.n && !fk.vm->dead; n++) {
		switch (rd8(&r) % 4) {
		case 0:
			load_gdt(&r);
			break;
		case 1:
			load_tls(&r);
			break;
		case 2:
			load_idt_entry(&r);
			break;
		default:
			set_stack(&r);
			break;
		}
		if (fake_check(&fk) || fk.violation)
			broken(fk.violation, n);
	}
	return 0;
}
