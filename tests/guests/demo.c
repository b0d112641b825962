/* demo: the guest `make run` boots.  It says hello, shows a little of what
 * the VMM told it, and powers off, which is the whole life of an lguest
 * kernel in miniature: INIT, console writes, LHCALL_CRASH "Power down". */
#include "guest.h"

const char test_name[] = "demo";

static void cpu_vendor(char out[13])
{
	uint32_t a = 0, b, c, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	memcpy(out, &b, 4);
	memcpy(out + 4, &d, 4);
	memcpy(out + 8, &c, 4);
	out[12] = '\0';
}

void test_main(void)
{
	char vendor[13];

	guest_init();
	cpu_vendor(vendor);
	printf("\nHello from an lguest guest on KVM!\n\n");
	printf("I am a tiny i386 kernel booted the way Linux 2.6.24 boots under lguest:\n");
	printf("  running at ring 1, talking to the host through int $0x1f hypercalls,\n");
	printf("  and printing this through LHCALL_NOTIFY, 16 bytes at a time.\n\n");
	printf("  RAM:        %u MiB (from the e820 map in my zero page)\n", ram_size() >> 20);
	printf("  CPU:        %s, TSC at %u kHz\n", vendor, lguest_data.tsc_khz);
	printf("  wall clock: %u seconds since 1970\n", (uint32_t)lguest_data.time.tv_sec);
	printf("  my image:   %p-%p\n\n", (void *)_start, (void *)_end);
	printf("Powering off now. Goodbye!\n");
	power_off();
}
