/* The guest side of the async hypercall ring (§3.6), as boot.c:async_hcall
 * does it: fill the next slot, barrier, mark it pending (status 0).  A slot
 * still pending means the ring is full; Linux then makes the call
 * synchronously, which drains the ring first and so keeps the order. */
#include "guest.h"

static unsigned next_call;

void async_hcall(uint32_t nr, uint32_t a1, uint32_t a2, uint32_t a3)
{
	if (lguest_data.hcall_status[next_call] != 0xFF) {
		hcall(nr, a1, a2, a3);
		return;
	}
	lguest_data.hcalls[next_call].nr = nr;
	lguest_data.hcalls[next_call].arg1 = a1;
	lguest_data.hcalls[next_call].arg2 = a2;
	lguest_data.hcalls[next_call].arg3 = a3;
	__asm__ volatile("" ::: "memory"); /* entry before status (x86: no wmb needed) */
	lguest_data.hcall_status[next_call] = 0;
	next_call = (next_call + 1) % LHCALL_RING_SIZE;
}
