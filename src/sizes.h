/* Sizes as the command line and the batch manifest write them. */
#ifndef LGKVM_SIZES_H
#define LGKVM_SIZES_H

#include <stdbool.h>
#include <stdint.h>

/* "64M", "1G", "65536K", "64" (a bare number counts in bare_unit bytes);
 * "MiB"/"MB" spellings too.  0, or -1 if s is not a size. */
int size_parse(const char *s, uint64_t *out, uint64_t bare_unit);

/* Is mem (bytes) a guest RAM size lgkvm runs: whole pages, 4M to 3G (the
 * monitor and the device page live in 32-bit physical space above)? */
bool size_mem_ok(uint64_t mem);

#endif
