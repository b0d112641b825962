/* The virtio console's host end (virtio/console.c).  Most of its interface is
 * in virtio/bus.h (vbus_add_console, console_out, console_early); this is the
 * one extra call the program's exit paths need. */
#ifndef LGKVM_CONSOLE_H
#define LGKVM_CONSOLE_H

/* Put the terminal back the way we found it, if we changed it.  Called by
 * vbus_teardown() and at exit(); async-signal-safe, so a handler for a fatal
 * signal may call it too.  Harmless when there is nothing to restore. */
void console_term_restore(void);
/* --migrate-every's supervisor: the terminal made raw here, once, for all
 * its children (console_term_own); in a child of a process that did so,
 * console_term_leave() leaves it to that process. */
void console_term_own(void);
void console_term_leave(void);

/* struct virtio_console_config: cols, rows (u16), max_nr_ports, emerg_wr
 * (u32): where the 4.x early console writes (also the monitor's concern,
 * pvabi/fastpath.c). */
#define CONSOLE_CFG_EMERG_WR 8

#endif
