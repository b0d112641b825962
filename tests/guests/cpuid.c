/* cpuid: what the guest's CPUID says (docs/abi.md §H1.6).  Built once per
 * generation: kernels before 2.6.29 must see CPU family 5 (they do not mask
 * it themselves and would read an MSR at ring 1 on a newer family), no
 * hypervisor bit and no KVM leaves.  Where lgkvm has KVM make CPUID fault
 * and answers it itself, the answer must also leave every other register
 * and the instruction stream as a real CPUID would. */
#include "guest.h"

const char test_name[] = "cpuid";

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	uint32_t esi = 0x5151, edi = 0xD1D1;
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]), "+S"(esi), "+D"(edi)
			 : "0"(leaf), "2"(sub)
			 : "memory");
	CHECK(esi == 0x5151 && edi == 0xD1D1, "cpuid %x changed esi/edi", leaf);
}

void test_main(void)
{
	uint32_t r[4], v[4];
	guest_init();
	cpuid(0, 0, r);
	CHECK(r[0] >= 1, "max basic leaf %u", r[0]);
	CHECK(r[1] && r[2] && r[3], "no vendor string");
	char vendor[13];
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = 0;
	cpuid(1, 0, v);
	unsigned family = (v[0] >> 8) & 0xF;
	printf("cpuid: %s, max leaf %u, family %u\n", vendor, r[0], family);
	CHECK(!(v[2] & (1u << 31)), "the hypervisor bit is set");
#if LGUEST_GEN <= 2
	CHECK(family == 5, "family %u, not 5", family);
#endif
	cpuid(0x40000000, 0, r);
	CHECK(r[1] != 0x4B4D564B, "KVM's signature leaf is visible");
	/* The same leaf twice gives the same answer. */
	cpuid(1, 0, r);
	CHECK(r[0] == v[0] && r[3] == v[3], "leaf 1 changed between calls");
	pass();
}
