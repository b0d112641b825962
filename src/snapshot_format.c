/* The state file (src/snapshot_format.h): struct snap <-> a flattened device
 * tree.
 *
 *   /                format, lgkvm-version, snapshot-id
 *   /machine         generation, pae, fast-path, irqchip, ram, tsc-khz,
 *                    monitor-crc, kernel, initrd, cmdline, net-ip
 *   /memory          file, size
 *   /vcpu            regs, sregs, xsave, xcrs, events, debugregs, mp-state,
 *                    tsc, lapic (with an in-kernel LAPIC)
 *   /lguest          initialized, lguest-data, noirq-start, noirq-end,
 *                    kernel-address, boot-pgdir, pgdir, ts, halted, pending,
 *                    clock-left-ns
 *   /monitor         pages
 *   /bus             pci-latch, dma-guestid, dma-bindings
 *   /bus/device@N    type, path, readonly, disk-size, disk-mtime-ns,
 *                    disk-head-hash, features, config, queues,
 *                    pci-cfg, pci-common, pci-queues (virtio-PCI)
 *
 * Numbers are big-endian cells, as FDT has them; packed records (queues,
 * bindings, the PCI common config) are little-endian, laid out below.  The
 * vCPU's parts are KVM's structures as KVM gave them. */
#include "src/snapshot_format.h"

#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvabi/abi.h"
#include "src/le.h"
#include "src/sizes.h"
#include "virtio/net.h"

#define QUEUE_REC \
	24u /* num u16, irq u8, ready u8, gpa, desc, avail, used u32, last_avail, last_used u16 */
#define BINDING_REC 16u /* key, dmas u32, num, next u16, irq u8, 3 bytes zero */
#define PCI_COMMON \
	24u /* dfselect, gfselect, gfeatures[2], isr u32, status u8, 1 zero, qselect u16 */
#define PCI_QUEUE 28u /* size u16, enabled u8, 1 zero, desc, avail, used: 2 x u32 each */

/*
 * Writing.
 */

struct writer {
	void *fdt;
	int err; /* the first libfdt error */
};

static void w_check(struct writer *w, int r)
{
	if (r < 0 && !w->err)
		w->err = r;
}

static void w_bytes(struct writer *w, const char *name, const void *v, size_t len)
{
	w_check(w, fdt_property(w->fdt, name, v, (int)len));
}

static void w_u32(struct writer *w, const char *name, uint32_t v)
{
	w_check(w, fdt_property_u32(w->fdt, name, v));
}

static void w_u64(struct writer *w, const char *name, uint64_t v)
{
	w_check(w, fdt_property_u64(w->fdt, name, v));
}

static void w_str(struct writer *w, const char *name, const char *v)
{
	w_check(w, fdt_property_string(w->fdt, name, v));
}

static void w_node(struct writer *w, const char *name)
{
	w_check(w, fdt_begin_node(w->fdt, name));
}

static void w_end(struct writer *w)
{
	w_check(w, fdt_end_node(w->fdt));
}

static void put_queue(uint8_t *p, const struct snap_queue *q)
{
	le16_put(p, q->num);
	p[2] = q->irq;
	p[3] = q->ready;
	le32_put(p + 4, q->gpa);
	le32_put(p + 8, q->desc);
	le32_put(p + 12, q->avail);
	le32_put(p + 16, q->used);
	le16_put(p + 20, q->last_avail);
	le16_put(p + 22, q->last_used);
}

static void w_device(struct writer *w, unsigned i, const struct snap_dev *d)
{
	char name[32];
	snprintf(name, sizeof(name), "device@%u", i);
	w_node(w, name);
	w_u32(w, "type", d->type);
	w_str(w, "path", d->path);
	w_u32(w, "readonly", d->readonly);
	w_u64(w, "disk-size", d->disk_size);
	w_u64(w, "disk-mtime-ns", (uint64_t)d->disk_mtime_ns);
	w_u64(w, "disk-head-hash", d->disk_head_hash);
	w_u32(w, "features", d->features);
	w_bytes(w, "config", d->config, d->config_len);
	uint8_t q[VDEV_MAX_QUEUES * QUEUE_REC];
	for (unsigned n = 0; n < d->nq; n++)
		put_queue(q + n * QUEUE_REC, &d->q[n]);
	w_bytes(w, "queues", q, d->nq * QUEUE_REC);
	if (d->has_pci) {
		const struct snap_pci *p = &d->pci;
		uint8_t c[PCI_COMMON] = {0}, pq[4 * PCI_QUEUE] = {0};
		le32_put(c, p->dfselect);
		le32_put(c + 4, p->gfselect);
		le32_put(c + 8, p->gfeatures[0]);
		le32_put(c + 12, p->gfeatures[1]);
		le32_put(c + 16, p->isr);
		c[20] = p->status;
		le16_put(c + 22, p->qselect);
		for (unsigned n = 0; n < 4; n++) {
			uint8_t *r = pq + n * PCI_QUEUE;
			le16_put(r, p->qc[n].size);
			r[2] = p->qc[n].enabled;
			for (unsigned h = 0; h < 2; h++) {
				le32_put(r + 4 + 4 * h, p->qc[n].desc[h]);
				le32_put(r + 12 + 4 * h, p->qc[n].avail[h]);
				le32_put(r + 20 + 4 * h, p->qc[n].used[h]);
			}
		}
		w_bytes(w, "pci-cfg", p->cfg, sizeof(p->cfg));
		w_bytes(w, "pci-common", c, sizeof(c));
		w_bytes(w, "pci-queues", pq, sizeof(pq));
	}
	w_end(w);
}

void *snap_encode(const struct snap *s, size_t *len, char *err, size_t errlen)
{
	size_t cap = SNAP_STATE_MAX;
	struct writer w = {.fdt = calloc(1, cap)};
	if (!w.fdt) {
		snprintf(err, errlen, "out of memory for the state file");
		return NULL;
	}
	w_check(&w, fdt_create(w.fdt, (int)cap));
	w_check(&w, fdt_finish_reservemap(w.fdt));
	w_node(&w, "");
	w_u32(&w, "format", s->format);
	w_str(&w, "lgkvm-version", s->version);
	w_bytes(&w, "snapshot-id", s->id, sizeof(s->id));

	w_node(&w, "machine");
	w_str(&w, "generation", s->generation);
	w_u32(&w, "pae", s->pae);
	w_u32(&w, "fast-path", s->fast_path);
	w_u32(&w, "irqchip", s->irqchip);
	w_u64(&w, "ram", s->ram);
	w_u32(&w, "tsc-khz", s->tsc_khz);
	w_u32(&w, "monitor-crc", s->monitor_crc);
	w_str(&w, "kernel", s->kernel);
	w_str(&w, "initrd", s->initrd);
	w_str(&w, "cmdline", s->cmdline);
	w_str(&w, "net-ip", s->net_ip);
	w_end(&w);

	w_node(&w, "memory");
	w_str(&w, "file", s->mem_file);
	w_u64(&w, "size", s->mem_size);
	w_end(&w);

	const struct vcpu_state *c = &s->cpu;
	w_node(&w, "vcpu");
	w_bytes(&w, "regs", &c->regs, sizeof(c->regs));
	w_bytes(&w, "sregs", &c->sregs, sizeof(c->sregs));
	w_bytes(&w, "xsave", c->xsave, sizeof(c->xsave));
	w_bytes(&w, "xcrs", &c->xcrs, sizeof(c->xcrs));
	w_bytes(&w, "events", &c->events, sizeof(c->events));
	w_bytes(&w, "debugregs", &c->debugregs, sizeof(c->debugregs));
	w_u32(&w, "mp-state", c->mp.mp_state);
	w_u64(&w, "tsc", c->tsc);
	if (c->have_lapic)
		w_bytes(&w, "lapic", &c->lapic, sizeof(c->lapic));
	w_end(&w);

	const struct snap_lguest *g = &s->lg;
	w_node(&w, "lguest");
	w_u32(&w, "initialized", g->initialized);
	w_u32(&w, "lguest-data", g->lguest_data);
	w_u32(&w, "noirq-start", g->noirq_start);
	w_u32(&w, "noirq-end", g->noirq_end);
	w_u32(&w, "kernel-address", g->kernel_address);
	w_u32(&w, "boot-pgdir", g->boot_pgdir);
	w_u32(&w, "pgdir", g->pgdir);
	w_u32(&w, "ts", g->ts);
	w_u32(&w, "halted", g->halted);
	w_u32(&w, "pending", g->pending);
	w_u64(&w, "clock-left-ns", g->clock_left_ns);
	w_end(&w);

	w_node(&w, "monitor");
	w_bytes(&w, "pages", s->monitor, sizeof(s->monitor));
	w_end(&w);

	w_node(&w, "bus");
	w_u32(&w, "pci-latch", s->pci_latch);
	w_u32(&w, "dma-guestid", s->dma_guestid);
	uint8_t b[32 * BINDING_REC] = {0};
	for (unsigned i = 0; i < s->ndma; i++) {
		uint8_t *r = b + i * BINDING_REC;
		le32_put(r, s->dma[i].key);
		le32_put(r + 4, s->dma[i].dmas);
		le16_put(r + 8, s->dma[i].num);
		le16_put(r + 10, s->dma[i].next);
		r[12] = s->dma[i].irq;
	}
	w_bytes(&w, "dma-bindings", b, s->ndma * BINDING_REC);
	for (unsigned i = 0; i < s->ndevs; i++)
		w_device(&w, i, &s->dev[i]);
	w_end(&w);

	w_end(&w);
	w_check(&w, fdt_finish(w.fdt));
	if (w.err) {
		snprintf(err, errlen, "encoding the state file: %s", fdt_strerror(w.err));
		free(w.fdt);
		return NULL;
	}
	*len = fdt_totalsize(w.fdt);
	return w.fdt;
}

/*
 * Reading: every property must be there, with exactly its size.
 */

struct reader {
	const void *fdt;
	char *err;
	size_t errlen;
	bool bad;
};

static bool r_fail(struct reader *r, int node, const char *name, const char *why)
{
	if (!r->bad) {
		const char *n = node > 0 ? fdt_get_name(r->fdt, node, NULL) : "";
		snprintf(r->err, r->errlen, "state file: /%s%s%s %s", n ? n : "?",
			 node > 0 && name ? "/" : "", name ? name : "", why);
	}
	r->bad = true;
	return false;
}

static const uint8_t *r_prop(struct reader *r, int node, const char *name, size_t want)
{
	if (r->bad)
		return NULL;
	int len;
	const uint8_t *p = fdt_getprop(r->fdt, node, name, &len);
	if (!p) {
		r_fail(r, node, name, "is missing");
		return NULL;
	}
	if ((size_t)len != want) {
		r_fail(r, node, name, "has the wrong size");
		return NULL;
	}
	return p;
}

static uint32_t r_u32(struct reader *r, int node, const char *name)
{
	const uint8_t *p = r_prop(r, node, name, 4);
	return p ? fdt32_ld((const fdt32_t *)p) : 0;
}

static uint64_t r_u64(struct reader *r, int node, const char *name)
{
	const uint8_t *p = r_prop(r, node, name, 8);
	return p ? ((uint64_t)fdt32_ld((const fdt32_t *)p) << 32) |
			       fdt32_ld((const fdt32_t *)(p + 4))
		 : 0;
}

static bool r_bool(struct reader *r, int node, const char *name)
{
	uint32_t v = r_u32(r, node, name);
	if (v > 1)
		r_fail(r, node, name, "is not 0 or 1");
	return v == 1;
}

static void r_bytes(struct reader *r, int node, const char *name, void *dst, size_t len)
{
	const uint8_t *p = r_prop(r, node, name, len);
	if (p)
		memcpy(dst, p, len);
}

/* A property of variable length, at most max: its length, or -1. */
static int r_var(struct reader *r, int node, const char *name, const uint8_t **p, size_t max)
{
	if (r->bad)
		return -1;
	int len;
	*p = fdt_getprop(r->fdt, node, name, &len);
	if (!*p)
		return r_fail(r, node, name, "is missing"), -1;
	if (len < 0 || (size_t)len > max)
		return r_fail(r, node, name, "is too long"), -1;
	return len;
}

/* A string: NUL-terminated, no NUL inside, fits `size` with its NUL. */
static void r_str(struct reader *r, int node, const char *name, char *dst, size_t size)
{
	const uint8_t *p;
	int len = r_var(r, node, name, &p, size);
	if (len < 0)
		return;
	if (len == 0 || p[len - 1] != '\0' || memchr(p, '\0', (size_t)len - 1))
		r_fail(r, node, name, "is not one string");
	else
		memcpy(dst, p, (size_t)len);
}

static int r_node(struct reader *r, int parent, const char *name)
{
	if (r->bad)
		return -1;
	int n = fdt_subnode_offset(r->fdt, parent, name);
	if (n < 0)
		r_fail(r, parent, name, "(node) is missing");
	return n;
}

static void get_queue(const uint8_t *p, struct snap_queue *q)
{
	q->num = le16_get(p);
	q->irq = p[2];
	q->ready = p[3] != 0;
	q->gpa = le32_get(p + 4);
	q->desc = le32_get(p + 8);
	q->avail = le32_get(p + 12);
	q->used = le32_get(p + 16);
	q->last_avail = le16_get(p + 20);
	q->last_used = le16_get(p + 22);
}

static void r_device(struct reader *r, int node, struct snap_dev *d)
{
	d->type = (uint8_t)r_u32(r, node, "type");
	if (!r->bad && (d->type < VIRTIO_ID_NET || d->type > VIRTIO_ID_CONSOLE))
		r_fail(r, node, "type", "is no device lgkvm has");
	r_str(r, node, "path", d->path, sizeof(d->path));
	d->readonly = r_bool(r, node, "readonly");
	d->disk_size = r_u64(r, node, "disk-size");
	d->disk_mtime_ns = (int64_t)r_u64(r, node, "disk-mtime-ns");
	d->disk_head_hash = r_u64(r, node, "disk-head-hash");
	d->features = r_u32(r, node, "features");
	const uint8_t *p;
	int len = r_var(r, node, "config", &p, sizeof(d->config));
	if (len >= 0) {
		memcpy(d->config, p, (size_t)len);
		d->config_len = (uint8_t)len;
	}
	len = r_var(r, node, "queues", &p, VDEV_MAX_QUEUES * QUEUE_REC);
	if (len >= 0 && len % QUEUE_REC)
		r_fail(r, node, "queues", "is not a whole number of queues");
	else if (len >= 0) {
		d->nq = (unsigned)len / QUEUE_REC;
		for (unsigned n = 0; n < d->nq; n++) {
			get_queue(p + n * QUEUE_REC, &d->q[n]);
			/* Sizes are powers of two up to what we ever create. */
			unsigned num = d->q[n].num;
			if (num == 0 || num > 256 || (num & (num - 1)))
				r_fail(r, node, "queues",
				       "has a ring size that is not a power "
				       "of two up to 256");
		}
	}
	d->has_pci = fdt_getprop(r->fdt, node, "pci-cfg", NULL) != NULL;
	if (!d->has_pci)
		return;
	struct snap_pci *pc = &d->pci;
	uint8_t c[PCI_COMMON], pq[4 * PCI_QUEUE];
	r_bytes(r, node, "pci-cfg", pc->cfg, sizeof(pc->cfg));
	r_bytes(r, node, "pci-common", c, sizeof(c));
	r_bytes(r, node, "pci-queues", pq, sizeof(pq));
	if (r->bad)
		return;
	pc->dfselect = le32_get(c);
	pc->gfselect = le32_get(c + 4);
	pc->gfeatures[0] = le32_get(c + 8);
	pc->gfeatures[1] = le32_get(c + 12);
	pc->isr = le32_get(c + 16) & 3;
	pc->status = c[20];
	pc->qselect = le16_get(c + 22);
	for (unsigned n = 0; n < 4; n++) {
		const uint8_t *q = pq + n * PCI_QUEUE;
		pc->qc[n].size = le16_get(q);
		pc->qc[n].enabled = q[2] != 0;
		for (unsigned h = 0; h < 2; h++) {
			pc->qc[n].desc[h] = le32_get(q + 4 + 4 * h);
			pc->qc[n].avail[h] = le32_get(q + 12 + 4 * h);
			pc->qc[n].used[h] = le32_get(q + 20 + 4 * h);
		}
	}
}

static void r_bus(struct reader *r, int node, struct snap *s)
{
	s->pci_latch = r_u32(r, node, "pci-latch");
	uint32_t gid = r_u32(r, node, "dma-guestid");
	if (gid > 0xFFFF)
		r_fail(r, node, "dma-guestid", "is beyond 16 bits");
	s->dma_guestid = (uint16_t)gid;
	const uint8_t *p;
	int len = r_var(r, node, "dma-bindings", &p,
			sizeof(s->dma) / sizeof(s->dma[0]) * BINDING_REC);
	if (len >= 0 && len % BINDING_REC)
		r_fail(r, node, "dma-bindings", "is not a whole number of bindings");
	else if (len >= 0) {
		s->ndma = (unsigned)len / BINDING_REC;
		for (unsigned i = 0; i < s->ndma; i++) {
			const uint8_t *b = p + i * BINDING_REC;
			s->dma[i] = (struct snap_dma_binding){.key = le32_get(b),
							      .dmas = le32_get(b + 4),
							      .num = le16_get(b + 8),
							      .next = le16_get(b + 10),
							      .irq = b[12]};
			if (s->dma[i].irq >= 32)
				r_fail(r, node, "dma-bindings", "names an IRQ beyond 31");
		}
	}
	/* device@0, device@1, ... in order, and nothing else. */
	int child;
	fdt_for_each_subnode(child, r->fdt, node)
	{
		if (r->bad)
			return;
		char want[32];
		snprintf(want, sizeof(want), "device@%u", s->ndevs);
		const char *name = fdt_get_name(r->fdt, child, NULL);
		if (!name || strcmp(name, want)) {
			r_fail(r, node, name ? name : "?", "is not the next device node");
			return;
		}
		if (s->ndevs == VBUS_MAX_DEVS) {
			r_fail(r, node, name, "is one device too many");
			return;
		}
		r_device(r, child, &s->dev[s->ndevs++]);
	}
}

int snap_decode(const void *buf, size_t len, struct snap *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	struct reader rd = {.fdt = buf, .err = err, .errlen = errlen}, *r = &rd;
	int e;
	/* The tree is version 17, as libfdt writes it, and nothing older:
	 * besides being all we write, the older versions' rules (full paths
	 * for names, 8-byte aligned values) take paths through libfdt that
	 * are less tried -- fuzzing found one where Debian 12's libfdt 1.6.1
	 * fdt_check_full() reads through a NULL pointer on a version-11 tree.
	 * So the version is checked first, on the header alone. */
	if (len >= 40 && (fdt_magic(buf) != FDT_MAGIC || fdt_version(buf) != 17 ||
			  fdt_last_comp_version(buf) != 16)) {
		snprintf(err, errlen,
			 "state file: not a flattened device tree of version 17, as lgkvm "
			 "writes them");
		return -1;
	}
	if (len < 40 || len > SNAP_STATE_MAX || (e = fdt_check_full(buf, len)) < 0) {
		snprintf(err, errlen,
			 "state file: not a flattened device tree, or a damaged one (%s)",
			 len < 40		? "too short"
			 : len > SNAP_STATE_MAX ? "too long"
						: fdt_strerror(e));
		return -1;
	}
	if (fdt_totalsize(buf) != len) {
		snprintf(err, errlen,
			 "state file: its size (%zu) is not the tree's (%u): truncated "
			 "or padded",
			 len, (unsigned)fdt_totalsize(buf));
		return -1;
	}
	s->format = r_u32(r, 0, "format");
	r_str(r, 0, "lgkvm-version", s->version, sizeof(s->version));
	if (!rd.bad && s->format != SNAP_FORMAT) {
		snprintf(err, errlen,
			 "state file: snapshot format %u (lgkvm %s); this lgkvm reads format %u "
			 "only",
			 s->format, s->version, SNAP_FORMAT);
		return -1;
	}
	r_bytes(r, 0, "snapshot-id", s->id, sizeof(s->id));

	int m = r_node(r, 0, "machine");
	r_str(r, m, "generation", s->generation, sizeof(s->generation));
	if (!rd.bad && !abi_by_name(s->generation))
		r_fail(r, m, "generation", "is no generation lgkvm serves");
	s->pae = r_bool(r, m, "pae");
	s->fast_path = r_bool(r, m, "fast-path");
	s->irqchip = r_bool(r, m, "irqchip");
	s->ram = r_u64(r, m, "ram");
	if (!rd.bad && !size_mem_ok(s->ram))
		r_fail(r, m, "ram", "is not a RAM size lgkvm gives a guest");
	s->tsc_khz = r_u32(r, m, "tsc-khz");
	s->monitor_crc = r_u32(r, m, "monitor-crc");
	r_str(r, m, "kernel", s->kernel, sizeof(s->kernel));
	r_str(r, m, "initrd", s->initrd, sizeof(s->initrd));
	r_str(r, m, "cmdline", s->cmdline, sizeof(s->cmdline));
	r_str(r, m, "net-ip", s->net_ip, sizeof(s->net_ip));
	struct in_addr ip, mask;
	if (!rd.bad && s->net_ip[0] && !net_parse_ip(s->net_ip, &ip, &mask))
		r_fail(r, m, "net-ip", "is not an IPv4 address with an optional /PREFIX");

	int mem = r_node(r, 0, "memory");
	r_str(r, mem, "file", s->mem_file, sizeof(s->mem_file));
	if (!rd.bad && (strchr(s->mem_file, '/') || !strcmp(s->mem_file, ".") ||
			!strcmp(s->mem_file, "..") || !s->mem_file[0]))
		r_fail(r, mem, "file", "is not a plain file name");
	s->mem_size = r_u64(r, mem, "size");
	if (!rd.bad && s->mem_size != s->ram + VBUS_AREA_SIZE)
		r_fail(r, mem, "size", "is not RAM plus the device area");

	struct vcpu_state *c = &s->cpu;
	int v = r_node(r, 0, "vcpu");
	r_bytes(r, v, "regs", &c->regs, sizeof(c->regs));
	r_bytes(r, v, "sregs", &c->sregs, sizeof(c->sregs));
	r_bytes(r, v, "xsave", c->xsave, sizeof(c->xsave));
	r_bytes(r, v, "xcrs", &c->xcrs, sizeof(c->xcrs));
	r_bytes(r, v, "events", &c->events, sizeof(c->events));
	r_bytes(r, v, "debugregs", &c->debugregs, sizeof(c->debugregs));
	c->mp.mp_state = r_u32(r, v, "mp-state");
	c->tsc = r_u64(r, v, "tsc");
	c->have_lapic = !rd.bad && fdt_getprop(buf, v, "lapic", NULL) != NULL;
	if (c->have_lapic)
		r_bytes(r, v, "lapic", &c->lapic, sizeof(c->lapic));
	if (!rd.bad && c->have_lapic != s->irqchip)
		r_fail(r, v, "lapic", "does not match /machine/irqchip");
	if (!rd.bad && !vcpu_state_check(c, err, errlen))
		return -1;
	if (!rd.bad && !!(c->sregs.cr4 & 0x20) != s->pae)
		r_fail(r, v, "sregs", "has CR4.PAE unlike /machine/pae");

	struct snap_lguest *g = &s->lg;
	int l = r_node(r, 0, "lguest");
	g->initialized = r_bool(r, l, "initialized");
	g->lguest_data = r_u32(r, l, "lguest-data");
	g->noirq_start = r_u32(r, l, "noirq-start");
	g->noirq_end = r_u32(r, l, "noirq-end");
	g->kernel_address = r_u32(r, l, "kernel-address");
	g->boot_pgdir = r_u32(r, l, "boot-pgdir");
	g->pgdir = r_u32(r, l, "pgdir");
	g->ts = r_bool(r, l, "ts");
	g->halted = r_bool(r, l, "halted");
	g->pending = r_u32(r, l, "pending");
	g->clock_left_ns = r_u64(r, l, "clock-left-ns");
	/* Addresses in RAM (the accessor checks again at every use). */
	if (!rd.bad && (g->boot_pgdir >= s->ram || g->pgdir >= s->ram ||
			(g->initialized && g->lguest_data >= s->ram)))
		r_fail(r, l, "pgdir", "or lguest-data is outside RAM");
	if (!rd.bad && g->initialized && (g->kernel_address >> 22) >= 1023)
		r_fail(r, l, "kernel-address", "overlaps the monitor");

	int mo = r_node(r, 0, "monitor");
	r_bytes(r, mo, "pages", s->monitor, sizeof(s->monitor));

	int b = r_node(r, 0, "bus");
	if (!rd.bad)
		r_bus(r, b, s);
	return rd.bad ? -1 : 0;
}

const char *snap_other_machine(const struct snap *a, const struct snap *b)
{
	if (strcmp(a->generation, b->generation) || a->pae != b->pae)
		return "the generation";
	if (a->ram != b->ram || a->mem_size != b->mem_size)
		return "the memory size";
	if (a->fast_path != b->fast_path || a->irqchip != b->irqchip)
		return "the monitor's settings";
	if (strcmp(a->net_ip, b->net_ip))
		return "the tap's address";
	if (a->ndevs != b->ndevs)
		return "the devices";
	for (unsigned i = 0; i < a->ndevs; i++)
		if (a->dev[i].type != b->dev[i].type || a->dev[i].readonly != b->dev[i].readonly ||
		    strcmp(a->dev[i].path, b->dev[i].path))
			return "the devices";
	return NULL;
}
