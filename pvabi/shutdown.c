/* The guest's last words: CRASH (2.6.24) and SHUTDOWN (2.6.25+), docs/abi.md
 * §11 and §H1.9.
 *
 * Both carry the guest-physical address of a message; the host reads up to
 * 128 bytes of it.  Linux powers off with the message "Power down" and
 * reports a panic with the panic text, through the very same call: the
 * message is the only way to tell the two apart, as the reference Launcher's
 * user did.  From 2.6.25 a second argument says whether the guest wants to be
 * started again (restart) or not. */
#include <string.h>

#include "pvabi/internal.h"
#include "src/vm.h"

void lg_shutdown(struct vm *vm, uint32_t msg_gpa, uint32_t reason)
{
	const struct lguest_abi *abi = vm->lg.abi;
	char msg[128];

	bool restart = abi->shutdown && reason == LGUEST_SHUTDOWN_RESTART;
	if (!gm_read(&vm->mem, msg_gpa, msg, sizeof(msg))) {
		/* `reboot` passes no reason, and the guest sends __pa(NULL):
		 * 0x40000000.  The reference host's read failed, and then the
		 * restart flag won over the kill; so here. */
		if (restart) {
			vm_stop(vm, EXIT_RESTART, "guest requested a restart");
			return;
		}
		guest_kill(vm, "bad read address %#x len 128 (%s)", msg_gpa,
			   abi->shutdown ? "SHUTDOWN" : "CRASH");
		return;
	}
	msg[127] = '\0';
	/* Printable text only: the message goes to a terminal. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F)
			*p = (*p == '\n') ? ' ' : '?';
	if (restart)
		vm_stop(vm, EXIT_RESTART, "guest requested a restart: %s", msg);
	else if (strcmp(msg, "Power down") == 0)
		vm_stop(vm, EXIT_POWEROFF, "%s: %s", abi->shutdown ? "SHUTDOWN" : "CRASH", msg);
	else
		vm_stop(vm, EXIT_GUEST_CRASH, "%s: %s", abi->shutdown ? "SHUTDOWN" : "CRASH", msg);
}
