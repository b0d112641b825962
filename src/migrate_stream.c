/* The migration stream (src/migrate_stream.h): writing it, and reading it
 * with every field checked. */
#include "src/migrate_stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/fullio.h"
#include "src/le.h"
#include "src/sizes.h"
#include "src/snapshot_format.h"

int mig_send_header(int fd, uint64_t mem_size)
{
	uint8_t h[MIG_HEADER_LEN] = {0};
	memcpy(h, MIG_MAGIC, 8);
	le32_put(h + 8, SNAP_FORMAT);
	le32_put(h + 12, MIG_PAGE);
	le64_put(h + 16, mem_size);
	return write_full(fd, h, sizeof(h));
}

static int send_record(int fd, uint32_t type, uint32_t count, uint64_t first)
{
	uint8_t r[MIG_RECORD_LEN];
	le32_put(r, type);
	le32_put(r + 4, count);
	le64_put(r + 8, first);
	return write_full(fd, r, sizeof(r));
}

int mig_send_pages(int fd, const uint8_t *mem, uint64_t first_page, uint32_t count)
{
	while (count) {
		uint32_t n = count < MIG_PAGES_MAX ? count : MIG_PAGES_MAX;
		if (send_record(fd, MIG_T_PAGES, n, first_page) < 0 ||
		    write_full(fd, mem + first_page * MIG_PAGE, (size_t)n * MIG_PAGE) < 0)
			return -1;
		first_page += n;
		count -= n;
	}
	return 0;
}

static int send_tree(int fd, uint32_t type, const void *fdt, size_t len)
{
	if (send_record(fd, type, (uint32_t)len, 0) < 0)
		return -1;
	return write_full(fd, fdt, len);
}

int mig_send_state(int fd, const void *fdt, size_t len)
{
	return send_tree(fd, MIG_T_STATE, fdt, len);
}

int mig_send_machine(int fd, const void *fdt, size_t len)
{
	return send_tree(fd, MIG_T_MACHINE, fdt, len);
}

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "migration stream: %s", what);
	return -1;
}

/* A read that came short: the stream ended, or the source went quiet. */
static int ended(char *err, size_t errlen, const char *what)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		snprintf(err, errlen, "migration stream: %s (the source sent nothing for %d s)",
			 what, MIG_QUIET_S);
	else
		snprintf(err, errlen, "migration stream: %s", what);
	return -1;
}

int mig_receive(int fd, int mem_fd, mig_machine_fn machine, void *ctx, uint64_t *mem_size,
		void **state, size_t *state_len, uint64_t *pages, char *err, size_t errlen)
{
	uint8_t h[MIG_HEADER_LEN];
	*state = NULL;
	*pages = 0;
	if (read_full(fd, h, sizeof(h)) < 0)
		return ended(err, errlen, "ended before its header");
	if (memcmp(h, MIG_MAGIC, 8))
		return fail(err, errlen, "not an lgkvm migration (no LGKVMMIG header)");
	if (le32_get(h + 8) != SNAP_FORMAT || le32_get(h + 12) != MIG_PAGE)
		return fail(err, errlen, "another format's, or another page size's");
	uint64_t size = le64_get(h + 16);
	if (size < VBUS_AREA_SIZE || !size_mem_ok(size - VBUS_AREA_SIZE))
		return fail(err, errlen, "announces a memory size lgkvm never gives a guest");
	*mem_size = size;
	if (ftruncate(mem_fd, (off_t)(SNAP_MEM_HDR + size)) < 0)
		return fail(err, errlen, "no room for the guest's memory");
	static uint8_t buf[MIG_PAGES_MAX * MIG_PAGE];
	bool seen_machine = false;
	for (;;) {
		uint8_t r[MIG_RECORD_LEN];
		if (read_full(fd, r, sizeof(r)) < 0)
			return ended(err, errlen, "ended before the machine's state");
		uint32_t type = le32_get(r), count = le32_get(r + 4);
		uint64_t first = le64_get(r + 8);
		if (type == MIG_T_STATE || type == MIG_T_MACHINE) {
			bool last = type == MIG_T_STATE;
			if (count < 40 || count > SNAP_STATE_MAX || first)
				return fail(err, errlen, "a state record of an impossible size");
			if (!last && (seen_machine || *pages))
				return fail(err, errlen,
					    "a second machine record, or one after pages");
			void *s = malloc(count);
			if (!s)
				return fail(err, errlen, "out of memory for the state");
			if (read_full(fd, s, count) < 0) {
				free(s);
				return ended(err, errlen, "ended inside the machine's state");
			}
			if (last) {
				*state = s;
				*state_len = count;
				return 0;
			}
			seen_machine = true;
			int r = machine ? machine(ctx, s, count, err, errlen) : 0;
			free(s);
			if (r < 0)
				return -1;
			continue;
		}
		if (type != MIG_T_PAGES)
			return fail(err, errlen, "a record of an unknown type");
		if (count == 0 || count > MIG_PAGES_MAX || first > size / MIG_PAGE ||
		    count > size / MIG_PAGE - first)
			return fail(err, errlen, "pages outside the memory it announced");
		if (read_full(fd, buf, (size_t)count * MIG_PAGE) < 0)
			return ended(err, errlen, "ended inside a run of pages");
		if (pwrite_full(mem_fd, buf, (size_t)count * MIG_PAGE,
				SNAP_MEM_HDR + first * MIG_PAGE) < 0)
			return fail(err, errlen, "cannot store the guest's memory");
		*pages += count;
	}
}
