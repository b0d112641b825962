/* libFuzzer harness for the vring walker (virtio/ring.c): arbitrary
 * descriptor tables, available rings and indices, on a ring of any legal
 * size, popped, given back, pushed and completed in any order.
 *
 * Guest memory is a heap buffer whose part past the guest's limit is
 * poisoned (ASan), so the walker may not read or write a byte outside
 * [0, limit) of it.  Whatever the ring says, vring_pop() must either return
 * a chain that is all inside guest memory, with at most `num` buffers, the
 * device-readable ones first and the lengths adding up, or kill the guest
 * with a reason; and it must never spend more than `num` steps on one chain.
 *
 * Input: byte 0 picks the ring size (1 to 256, a power of two) and byte 1
 * its page in RAM; then operations:
 *	0	write bytes into guest memory (anywhere below the limit)
 *	1	set one descriptor: index, addr, len, flags, next
 *	2	offer a head in the available ring (and maybe jump avail.idx)
 *	3	pop a chain, check it, gather and scatter through it, then give
 *		it back with a used length, or unpop it
 *	4	push any head and length to the used ring
 *	5	ask whether the guest wants an interrupt */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fake_vcpu.h"
#include "tests/fuzz/no_kvm.h"

#define RAM	 0x20000u /* 128 KiB */
#define MEM_SIZE (RAM + 0x10000u)

static struct vm *vm;
static uint8_t *mem;
static uint8_t scratch[1 << 16];

static void broken(const char *what, unsigned detail)
{
	fprintf(stderr, "fuzz_vring: %s (%u)\n", what, detail);
	abort();
}

static uint32_t rd_addr(struct fake_rd *r)
{
	switch (rd8(r) & 3) {
	case 0:
		return rd32(r);
	case 1:
		return rd16(r) << 1; /* in RAM */
	case 2:
		return RAM - 64 + (rd8(r) & 127); /* around the limit */
	default:
		return 0xFFFFFFFFu - rd8(r);
	}
}

/* Everything vring_pop() promised about a chain it returned. */
static void check_chain(const struct vqueue *q, const struct vchain *c)
{
	uint64_t rl = 0, wl = 0;

	if (c->head >= q->num)
		broken("a chain head beyond the ring", c->head);
	if (!c->nread && !c->nwrite)
		broken("an empty chain", c->head);
	if (c->nread + c->nwrite > q->num)
		broken("a chain longer than the ring", c->nread + c->nwrite);
	for (unsigned i = 0; i < c->nread + c->nwrite; i++) {
		const uint8_t *p = c->iov[i].iov_base;
		size_t n = c->iov[i].iov_len;

		if (p < mem || p > mem + vm->mem.limit || n > (size_t)(mem + vm->mem.limit - p))
			broken("a buffer outside guest memory", i);
		if (i < c->nread)
			rl += n;
		else
			wl += n;
	}
	if (rl != c->read_len || wl != c->write_len)
		broken("chain lengths that do not add up", c->head);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vm = calloc(1, sizeof(*vm));
	mem = malloc(MEM_SIZE);
	if (!vm || !mem)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_rd r = {data, size};
	struct vchain c;

	memset(vm, 0, sizeof(*vm));
	FAKE_UNPOISON(mem, MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	vm->mem = (struct guestmem){.base = mem, .size = MEM_SIZE, .limit = RAM};
	FAKE_POISON(mem + RAM, MEM_SIZE - RAM);

	struct vqueue q = {.num = (uint16_t)(1u << (rd8(&r) % 9)), .irq = 3, .id = 1};
	uint32_t gpa = (rd8(&r) % (RAM / 4096)) * 4096u;
	if ((uint64_t)gpa + vring_size(q.num) > RAM)
		gpa = 0;
	vring_place(&q, gpa);
	uint8_t *ring = mem + q.gpa;
	uint8_t *avail = ring + vring_avail_off(q.num);

	for (unsigned n = 0; n < FAKE_MAX_OPS && r.n && !vm->dead; n++) {
		switch (rd8(&r) % 6) {
		case 0: {
			uint32_t at = rd16(&r) * 2u % RAM;
			unsigned len = rd8(&r);
			for (unsigned i = 0; i < len && at + i < RAM; i++)
				mem[at + i] = rd8(&r);
			break;
		}
		case 1: {
			struct vring_desc d;
			unsigned i = rd8(&r) % q.num;
			if (rd8(&r) < 0xF0) {
				d.addr = rd_addr(&r);
			} else { /* a full 64-bit address */
				d.addr = rd32(&r);
				d.addr |= (uint64_t)rd32(&r) << 32;
			}
			d.len = rd8(&r) < 0xF0 ? rd16(&r) : rd32(&r);
			d.flags = rd8(&r);
			d.next = rd8(&r) < 0xF0 ? rd8(&r) % q.num : rd16(&r);
			memcpy(ring + i * 16, &d, 16);
			break;
		}
		case 2: {
			uint16_t idx, head = rd8(&r) < 0xF0 ? rd8(&r) % q.num : rd16(&r);
			memcpy(&idx, avail + 2, 2);
			memcpy(avail + 4 + (idx % q.num) * 2, &head, 2);
			idx = (uint16_t)(idx + 1 + (rd8(&r) >= 0xF8 ? rd16(&r) : 0));
			memcpy(avail + 2, &idx, 2);
			break;
		}
		case 3: {
			int got = vring_pop(vm, &q, &c);
			if (got < 0 && !vm->dead)
				broken("vring_pop failed without killing the guest", 0);
			if (got <= 0)
				break;
			check_chain(&q, &c);
			size_t g = vchain_gather(&c, scratch, rd16(&r));
			size_t s = vchain_scatter(&c, scratch, rd16(&r));
			if (g > c.read_len || s > c.write_len)
				broken("gather/scatter past the chain", (unsigned)(g + s));
			if (rd8(&r) & 1)
				vring_unpop(&q, &c);
			else
				vring_complete(vm, &q, c.head, rd32(&r));
			break;
		}
		case 4:
			vring_push(vm, &q, rd16(&r), rd32(&r));
			break;
		default:
			(void)vring_wants_irq(vm, &q);
			break;
		}
	}
	if (vm->dead && vm->exit_code != EXIT_GUEST_KILLED)
		broken("the guest died of something other than a kill", vm->exit_code);
	return 0;
}
