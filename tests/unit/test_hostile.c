/* The guest is hostile: unit tests for the lguest host (pvabi/) and the
 * console's rings under attack, with no KVM, through the fake vCPU the
 * fuzzers use (tests/fuzz/fake_vcpu.h).
 *
 * Three kinds of test:
 *  - regressions for what the fuzzers found (each says which, and where the
 *    fix is);
 *  - the hostile-guest cases of tests/guests/hostile2.c, host side only, so
 *    they run in a second and under ASan (make unit SAN=1);
 *  - a limit: a long random stream of guest events must not make the host
 *    grow its memory or leak descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fake_vcpu.h"
#ifdef FAKE_ASAN
/* The sanitizer runtime's own count (GCC ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

static struct fake fk;
static int saved_in, saved_out;

static int quiet_out = -1;

/* The fake swaps stdin for a pipe and stdout for /dev/null, where the
 * console prints what the guest says; cmocka prints its verdicts on stdout
 * too, so each test has /dev/null only while it runs. */
static void quiet(void)
{
	fflush(stdout);
	dup2(quiet_out, STDOUT_FILENO);
}

static int loud(void **state)
{
	(void)state;
	fflush(stdout);
	dup2(saved_out, STDOUT_FILENO);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	fflush(stdout);
	saved_in = dup(STDIN_FILENO);
	saved_out = dup(STDOUT_FILENO);
	fake_init(&fk);
	quiet_out = dup(STDOUT_FILENO);
	loud(NULL);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	fake_free(&fk);
	dup2(saved_in, STDIN_FILENO);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_in);
	close(saved_out);
	close(quiet_out);
	return 0;
}

/* A fresh guest after LGUEST_INIT. */
static int guest_setup(void **state)
{
	(void)state;
	quiet();
	fake_reset(&fk);
	fake_hcall(&fk, LHCALL_LGUEST_INIT, FAKE_LDATA, 0, 0, 0x100000);
	assert_true(fk.vm->lg.initialized);
	return 0;
}

static void assert_killed(const char *why)
{
	if (!fk.vm->dead || fk.vm->exit_code != EXIT_GUEST_KILLED ||
	    !strstr(fk.vm->exit_reason, why))
		fail_msg("want the guest killed for \"%s\"; dead %d, exit %d, reason \"%s\"", why,
			 (int)fk.vm->dead, fk.vm->exit_code, fk.vm->exit_reason);
}

static void assert_invariants(void)
{
	const char *why = fake_check(&fk);

	if (why || fk.violation)
		fail_msg("invariant broken: %s", why ? why : fk.violation);
}

static uint64_t real_gdt(unsigned i)
{
	uint64_t d;

	memcpy(&d, fk.mon + MON_GDT_OFF + i * 8, 8);
	return d;
}

static uint64_t desc(uint32_t base, unsigned type, unsigned dpl, bool s)
{
	uint32_t lo = ((base & 0xFFFF) << 16) | 0x67;
	uint32_t hi = (base & 0xFF000000u) | ((base >> 16) & 0xFF) | 0x8000 | (dpl << 13) |
		      (s ? 0x1000 : 0) | (type << 8);
	return (uint64_t)hi << 32 | lo;
}

/*
 * Regressions.
 */

/* fuzz_hcall, first minute: LOAD_TLS (and LOAD_GDT) installed present system
 * descriptors in guest slots.  A TSS keeps its type through the fix-ups, so a
 * far jump to it is a task switch that loads CS from guest memory: CS 0x50,
 * ring 0.  Fixed in pvabi/desc.c, fixup(): system descriptors become
 * not-present.  This is the fuzzer's own input. */
static void test_fuzz_sysdesc_artifact(void **state)
{
	static const uint8_t crash[] = {
		0x05, 0x00, 0x02, 0x06, 0x02, 0x0e, 0x00, 0xe0, 0x10, 0x60, 0x00, 0x00, 0x00,
		0x8e, 0x10, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x02, 0x06, 0x02, 0x0d, 0x00,
		0xd0, 0x10, 0x60, 0x00, 0x00, 0x00, 0x8f, 0x10, 0x00, 0x00, 0x00, 0x00, 0x10,
		0x00, 0x02, 0x10, 0xee, 0x00, 0x00, 0x10, 0x00, 0x02, 0x06, 0x02, 0x20, 0x00,
		0x00, 0x12, 0x60, 0x00, 0x00, 0x00, 0x8e, 0x10, 0x00, 0x05, 0x00,
	};
	struct fake_rd r = {crash, sizeof(crash)};

	(void)state;
	quiet();
	fake_reset(&fk);
	for (unsigned n = 0; n < FAKE_MAX_OPS && fake_step(&fk, &r); n++)
		;
	loud(NULL);
	assert_null(fk.violation);
}

/* The same hole, spelled out: a TSS, a task gate, a 16-bit call gate (the
 * accessed-bit fix-up makes it a task gate) and an LDT, by LOAD_GDT and by
 * LOAD_TLS.  None may be present in the real GDT; code and data stay. */
static void test_system_descriptors_not_present(void **state)
{
	uint64_t gdt[32] = {0};

	(void)state;
	gdt[12] = desc(0, 0xA, 0, true);
	gdt[20] = desc(0x5000, 0x9, 3, false); /* available 32-bit TSS */
	gdt[21] = desc(0, 0x5, 3, false);      /* task gate */
	gdt[22] = desc(0x1000, 0x4, 3, false); /* 16-bit call gate */
	gdt[23] = desc(0x6000, 0x2, 1, false); /* LDT */
	gdt[24] = desc(0x1000, 0xC, 3, false); /* 32-bit call gate */
	memcpy(fk.mem + 0x8000, gdt, sizeof(gdt));
	fake_hcall(&fk, LHCALL_LOAD_GDT, 0x8000, 32, 0, 0x100000);
	assert_false(fk.vm->dead);
	for (unsigned i = 20; i <= 24; i++)
		assert_false(real_gdt(i) & (1ull << 47));
	assert_true(real_gdt(12) & (1ull << 47));
	assert_int_equal((real_gdt(12) >> 45) & 3, 1); /* DPL 0 lifted to 1 */

	uint64_t tls[3] = {desc(0x5000, 0x9, 3, false), desc(0, 0x2, 3, true), 0};
	memcpy(fk.mem + 0x9000, tls, sizeof(tls));
	fake_hcall(&fk, LHCALL_LOAD_TLS, 0x9000, 0, 0, 0x100000);
	assert_false(real_gdt(6) & (1ull << 47));
	assert_true(real_gdt(7) & (1ull << 47));
	assert_invariants();
}

/*
 * The hostile2 guests, host side.
 */

/* LOAD_GDT over the host's slots 10, 11, 16 (and 31): ignored. */
static void test_gdt_host_slots_kept(void **state)
{
	uint64_t gdt[32], before[4] = {real_gdt(10), real_gdt(11), real_gdt(16), real_gdt(31)};

	(void)state;
	for (unsigned i = 0; i < 32; i++)
		gdt[i] = desc(0, 0xA, 3, true);
	memcpy(fk.mem + 0x8000, gdt, sizeof(gdt));
	fake_hcall(&fk, LHCALL_LOAD_GDT, 0x8000, 32, 0, 0x100000);
	assert_false(fk.vm->dead);
	assert_true(real_gdt(10) == before[0] && real_gdt(11) == before[1] &&
		    real_gdt(16) == before[2] && real_gdt(31) == before[3]);
	assert_invariants();
}

/* An IDT gate naming the monitor's ring-0 code segment: selector forced. */
static void test_idt_selector_forced(void **state)
{
	(void)state;
	fake_hcall(&fk, LHCALL_LOAD_IDT_ENTRY, 6, (0x50u << 16) | 0x1234, 0x0010EF00u | 0x8000,
		   0x100000);
	fake_hcall(&fk, LHCALL_LOAD_IDT_ENTRY, 0x80, (0x50u << 16) | 0x5678, 0x0010EF00u | 0x8000,
		   0x100000);
	assert_false(fk.vm->dead);
	for (unsigned v = 6; v <= 0x80; v += 0x80 - 6) {
		uint32_t lo;
		memcpy(&lo, fk.mon + MON_IDT_OFF + v * 8, 4);
		assert_int_equal(lo >> 16, SEL_KERNEL_CS);
	}
	assert_invariants();
}

static void test_set_stack_lguest_ds_kills(void **state)
{
	(void)state;
	fake_hcall(&fk, LHCALL_SET_STACK, SEL_LGUEST_DS, 0x30000, 1, 0x100000);
	assert_killed("bad stack segment 0x58");
	uint32_t ss1, esp1;
	monitor_get_stack1(&fk.vm->kvm.mon, &ss1, &esp1);
	assert_int_equal(ss1, 0);
}

/* Every async slot pending, every number garbage: the first one kills. */
static void test_async_ring_garbage_kills(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 64; i++) {
		uint32_t nr = 0xDEAD0000u + i;
		memcpy(fk.mem + FAKE_LDATA + 0x54 + i * 16, &nr, 4);
		fk.mem[FAKE_LDATA + 0x14 + i] = (uint8_t)i;
	}
	fake_hcall(&fk, LHCALL_FLUSH_ASYNC, 0, 0, 0, 0x100000);
	assert_killed("Bad hypercall 3735879680");
}

/* Route vector 3 to a guest handler and give it a ring-1 stack. */
static void install_int3(void)
{
	fake_hcall(&fk, LHCALL_LOAD_IDT_ENTRY, 3, (0x60u << 16) | 0x0100, 0x0010EE00u, 0x100000);
	assert_false(fk.vm->dead);
}

/* A trap from ring 1 at `esp`, through the monitor, as the CPU would leave
 * it. */
static void trap_at(unsigned vec, uint32_t esp)
{
	struct mon_frame *f = monitor_frame(&fk.vm->kvm.mon);
	struct guest_regs g = {0};

	*f = (struct mon_frame){
		.vector = vec,
		.eip = 0x100123,
		.cs = SEL_KERNEL_CS,
		.eflags = 0x202,
		.esp = esp,
		.ss = SEL_KERNEL_DS,
	};
	fake_exit(&fk, &g);
}

/* A page directory entry pointing at the directory: the VMM's walker must
 * push the frame into the page the recursion names, like the CPU. */
static void test_recursive_pgdir_frame_push(void **state)
{
	const uint32_t scratch = 0x6000, stack = 0x00400000u + 2 * 4096 + 0x800;
	uint32_t v;

	(void)state;
	install_int3();
	fake_write32(&fk, FAKE_PGDIR + 1 * 4, FAKE_PGDIR | 0x3);
	fake_write32(&fk, FAKE_PGDIR + 2 * 4, scratch | 0x3);
	trap_at(3, stack);
	assert_false(fk.vm->dead);
	memcpy(&v, fk.mem + scratch + 0x7F4, 4);
	assert_int_equal(v, 0x100123); /* EIP, where the walker put it */
	memcpy(&v, fk.mem + scratch + 0x7F8, 4);
	assert_int_equal(v, SEL_KERNEL_CS);
	assert_int_equal(monitor_frame(&fk.vm->kvm.mon)->esp, stack - 12);
	memcpy(&v, fk.mem + FAKE_PGDIR + 2 * 4, 4);
	assert_int_equal(v & 0x60, 0x60); /* accessed + dirty, as the CPU would */
	assert_invariants();
}

/* A stack page whose frame is far above RAM: the walker refuses, the guest
 * dies with the reason, nothing outside guest memory is touched (ASan). */
static void test_stack_past_ram_kills(void **state)
{
	(void)state;
	install_int3();
	fake_write32(&fk, FAKE_PGDIR + 2 * 4, 0x7000 | 0x3);
	fake_write32(&fk, 0x7000, 0x40000000u | 0x3); /* VA 8 MiB -> GPA 1 GiB */
	trap_at(3, 0x00801000u);
	assert_killed("cannot push trap 3 frame: stack 0x69:0x800ffc not writable");
}

/* The same, one page table further: the table itself past RAM. */
static void test_page_table_past_ram_kills(void **state)
{
	(void)state;
	install_int3();
	fake_write32(&fk, FAKE_PGDIR + 2 * 4, 0x7FFFF000u | 0x3);
	trap_at(3, 0x00801000u);
	assert_killed("cannot push trap 3 frame");
}

/* A stack in the monitor's window: never through a guest mapping. */
static void test_stack_in_monitor_kills(void **state)
{
	(void)state;
	install_int3();
	trap_at(3, MON_GVA + 0x5800);
	assert_killed("cannot push trap 3 frame");
}

/* The console's output ring with a huge length and a looping chain. */
static void offer_out(uint16_t d, struct vring_desc desc0, struct vring_desc desc1)
{
	struct vqueue *q = &fk.vm->bus.queues[1];
	uint8_t *ring = fk.mem + q->gpa;
	uint16_t one = 1;

	memcpy(ring + 0, &desc0, 16);
	memcpy(ring + 16, &desc1, 16);
	memcpy(ring + vring_avail_off(q->num) + 4, &d, 2);
	memcpy(ring + vring_avail_off(q->num) + 2, &one, 2);
	fake_hcall(&fk, LHCALL_NOTIFY, q->gpa, 0, 0, 0x100000);
}

static void test_console_ring_huge_length_kills(void **state)
{
	(void)state;
	offer_out(0, (struct vring_desc){.addr = 0x9000, .len = 0xFFFFFFFFu},
		  (struct vring_desc){0});
	assert_killed("buffer 0x9000+0xffffffff lies outside guest memory");
}

static void test_console_ring_loop_kills(void **state)
{
	(void)state;
	offer_out(0, (struct vring_desc){.addr = 0x9000, .len = 4, .flags = 1, .next = 1},
		  (struct vring_desc){.addr = 0x9004, .len = 4, .flags = 1, .next = 0});
	assert_killed("is longer than the ring (128 entries): it loops");
}

/*
 * Limits.
 */

static long rss_pages(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
		fail_msg("cannot read /proc/self/statm");
	fclose(f);
	return resident;
}

/* Bytes the program has allocated and not freed. */
static size_t heap_bytes(void)
{
#ifdef FAKE_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	/* xorshift64*: fixed seed, so a failure repeats. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* The stream is fake_step()'s input format (tests/fuzz/fake_vcpu.h), built
 * so that most events are ones a busy guest survives (which is what makes a
 * life long, and the host's state large), with a little garbage mixed in. */
struct out {
	uint8_t *p, *end;
};

static void put8(struct out *o, uint32_t v)
{
	if (o->p < o->end)
		*o->p++ = (uint8_t)v;
}

static void put32(struct out *o, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put8(o, v >> (8 * i));
}

static void put_ram(struct out *o, uint32_t gpa) /* rd_val tag 1: GPA in RAM */
{
	put8(o, 1);
	put8(o, gpa >> 2);
	put8(o, gpa >> 10);
}

static void put_small(struct out *o, uint32_t v) /* rd_val tag 2 */
{
	put8(o, 2);
	put8(o, v);
}

static void gen_event(struct out *o)
{
	static const uint8_t calls[] = {0, 5, 8, 9, 14, 15, 16, 17, 0, 9};
	uint32_t r = rnd(), k = r % 100;

	if (k < 30) { /* a hypercall a running kernel makes */
		uint8_t nr = calls[(r >> 8) % sizeof(calls)];
		put8(o, 2);
		put8(o, nr);
		if (nr == 16) { /* LOAD_TLS from somewhere in RAM */
			put_ram(o, 0x10000 + (rnd() & 0x7FF8));
		} else if (nr == 17) { /* NOTIFY a console ring, or an early string */
			put8(o, 4);
			put8(o, (r >> 16) & 1 ? 0x1000 : 0x3000);
			put8(o, (r >> 16) & 1 ? 0x10 : 0x30);
		} else {
			put_small(o, rnd() % 4 ? 0 : r >> 20);
		}
		put_ram(o, 0x10000 + (rnd() & 0xFFFC));
		put_small(o, r >> 24);
		put_ram(o, 0x100000 & 0xFFFF);
	} else if (k < 50) { /* a trap from ring 1 or 3, delivered to its gate */
		static const uint8_t vecs[] = {3, 6, 13, 14, 1, 0, 7, 16, 32, 33};
		put8(o, 4);
		put8(o, vecs[(r >> 8) % sizeof(vecs)]);
		put_small(o, 0);			/* error code */
		put_ram(o, 0x20000 + (rnd() & 0xFFC));	/* EIP */
		put8(o, (r >> 16) & 1 ? 0 : 1);		/* CS 0x61 or 0x73 */
		put32(o, 0x202);			/* EFLAGS */
		put_ram(o, 0x30000 + (rnd() & 0x3FF0)); /* ESP */
		put8(o, 2);				/* SS 0x69 */
		put32(o, rnd());			/* EAX */
		put_ram(o, rnd() & 0x3FFFC);		/* CR2 */
		put32(o, rnd());
		put32(o, rnd());
		put32(o, rnd());
	} else if (k < 60) { /* interrupts back on, nothing blocked */
		put8(o, 1);
		put8(o, FAKE_LDATA >> 2);
		put8(o, FAKE_LDATA >> 10);
		put_small(o, 0);
		put8(o, 1);
		put8(o, FAKE_LDATA >> 2);
		put8(o, FAKE_LDATA >> 10);
		put8(o, 0);
		put32(o, 0x200);
	} else if (k < 70) { /* a device raises an interrupt */
		put8(o, 7);
		put8(o, r >> 8);
	} else if (k < 78) { /* time passes */
		put8(o, 8);
		put32(o, rnd());
		put8(o, r >> 8);
	} else if (k < 84) { /* typing */
		put8(o, 9);
		put8(o, 8);
		for (int i = 0; i < 8; i++)
			put8(o, rnd());
	} else if (k < 92) { /* the console rings, sometimes well-formed */
		put8(o, 11);
		put8(o, r >> 8);
		put8(o, r >> 16);
		put_ram(o, 0x10000 + (rnd() & 0x7FFC));
		put_small(o, r >> 24);
		put8(o, (r >> 8) & 1 ? 0 : 2); /* writable on the input ring only */
		put8(o, 0);
		put8(o, 0);
	} else if (k < 99) { /* an async call */
		put8(o, 6);
		put8(o, r >> 8);
		put8(o, calls[(r >> 16) % 6]);
		put_small(o, 0);
		put_ram(o, 0x10000 + (rnd() & 0xFFFC));
		put_small(o, 0);
		put8(o, 0);
	} else { /* garbage */
		for (int i = 0; i < 12; i++)
			put8(o, rnd());
	}
}

/* One guest life: INIT, a full set of gates and a stack (so traps and
 * interrupts get delivered rather than killing it at once), then events
 * until it dies or the stream ends.  Returns the events run. */
static unsigned random_life(uint8_t *buf, size_t len)
{
	struct out o = {buf, buf + len};
	unsigned n = 0;

	fake_reset(&fk);
	fake_hcall(&fk, LHCALL_LGUEST_INIT, FAKE_LDATA, 0, 0, 0x100000);
	for (unsigned v = 0; v < 64; v++)
		fake_hcall(&fk, LHCALL_LOAD_IDT_ENTRY, v, (0x60u << 16) | (v * 16),
			   0x00100000u | (v < 32 ? 0x8F00 : 0x8E00), 0x100000);
	fake_hcall(&fk, LHCALL_SET_STACK, SEL_KERNEL_DS, 0x38000, 1, 0x100000);
	while (o.p < o.end)
		gen_event(&o);
	struct fake_rd r = {buf, len};
	while (n < FAKE_MAX_OPS && fake_step(&fk, &r))
		n++;
	if (fk.violation)
		fail_msg("invariant broken after %u events: %s", n, fk.violation);
	return n + 1;
}

/* Millions of hostile events must not grow the host: no allocation in any
 * guest-driven path, nothing queued on the guest's behalf, no descriptor
 * left open.  The first lives warm up malloc's and stdio's own caches. */
static void test_random_events_bounded_memory(void **state)
{
	static uint8_t buf[64 * 1024];
	uint64_t events = 0, hcalls = 0, irqs = 0, exits = 0;
	unsigned lives = 0;
	unsigned ends[9] = {0};

	(void)state;
	quiet();
	for (unsigned i = 0; i < 50; i++)
		events += random_life(buf, sizeof(buf));
	long rss0 = rss_pages();
	size_t heap0 = heap_bytes();
	int fds0 = open_fds();
	for (events = 0; events < 2000000; lives++) {
		events += random_life(buf, sizeof(buf));
		hcalls += fk.vm->lg.stats_hcalls;
		irqs += fk.vm->lg.stats_irqs;
		exits += fk.vm->lg.stats_exits;
		ends[fk.vm->dead && fk.vm->exit_code < 9 ? fk.vm->exit_code : 0]++;
	}
	long grown_kib = (rss_pages() - rss0) * (sysconf(_SC_PAGESIZE) / 1024);
	long heap_grown = (long)heap_bytes() - (long)heap0;
	loud(NULL);
	print_message("%llu events in %u guest lives (%llu monitor exits, %llu hypercalls, %llu "
		      "interrupts delivered; %u killed, %u halted for good, %u powered off or "
		      "alive at the end): heap grew %ld bytes, RSS %ld KiB\n",
		      (unsigned long long)events, lives, (unsigned long long)exits,
		      (unsigned long long)hcalls, (unsigned long long)irqs, ends[EXIT_GUEST_KILLED],
		      ends[EXIT_TIMEOUT], ends[0], heap_grown, grown_kib);
	/* The stream did reach the host, in long lives. */
	assert_true(events / lives > 100 && irqs > 10000 && exits > 500000);
	assert_true(heap_grown < 4096);
#ifndef FAKE_ASAN
	/* (Under ASan, RSS also holds the quarantine of freed blocks, up to
	 * 256 MiB by design: only the live heap means anything there.) */
	assert_true(grown_kib < 1024);
#endif
	assert_int_equal(open_fds(), fds0);
}

int main(void)
{
#define GUEST_TEST(t) cmocka_unit_test_setup_teardown(t, guest_setup, loud)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_sysdesc_artifact),
		GUEST_TEST(test_system_descriptors_not_present),
		GUEST_TEST(test_gdt_host_slots_kept),
		GUEST_TEST(test_idt_selector_forced),
		GUEST_TEST(test_set_stack_lguest_ds_kills),
		GUEST_TEST(test_async_ring_garbage_kills),
		GUEST_TEST(test_recursive_pgdir_frame_push),
		GUEST_TEST(test_stack_past_ram_kills),
		GUEST_TEST(test_page_table_past_ram_kills),
		GUEST_TEST(test_stack_in_monitor_kills),
		GUEST_TEST(test_console_ring_huge_length_kills),
		GUEST_TEST(test_console_ring_loop_kills),
		cmocka_unit_test(test_random_events_bounded_memory),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
