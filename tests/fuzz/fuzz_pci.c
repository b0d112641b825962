/* libFuzzer harness for the 4.x platform: PCI configuration mechanism #1
 * (virtio/pci.c) and the virtio-PCI transport (virtio/virtio_pci.c), driven
 * through the vCPU's own entry points, vbus_pio() and vbus_mmio(), on a fake
 * G9 guest with a block and a net device whose kicks pop and complete rings.
 *
 * Guest memory is a heap buffer whose part past RAM is poisoned (ASan): the
 * rings the guest points the devices at must never make the host touch a
 * byte outside RAM, whatever the common config says.  After every operation:
 * a device decodes only where no memslot is (above RAM and the device area,
 * below the monitor) and never where another decodes; an enabled queue's
 * parts lie inside RAM; config space reads the same bytes at any width; and
 * the guest dies, if it dies, of a kill, never of an internal error.
 *
 * Input: a stream of operations (running out reads zeros):
 *	0	config space: latch an address (any 32 bits, or a slot/register)
 *	1	config space: read the data port at any offset and width
 *	2	config space: write the data port
 *	3	MMIO read of any width inside or around a device's BAR
 *	4	MMIO write, likewise (common config, doorbell, ISR, device config)
 *	5	write bytes into guest RAM (ring contents)
 *	6	complete: interrupt a queue as a device would
 *	7	the monitor's port-write log, as a guest that scribbled on it would
 *		leave it, replayed by lg_fastpath_drain: a bad entry or count
 *		kills, and the log is empty afterwards either way */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "pvabi/host.h"
#include "tests/fuzz/fake_vcpu.h"
#include "virtio/pci.h"
#include "virtio/transport.h"
#include "tests/fuzz/no_kvm.h"

#define RAM	 0x40000u
#define MEM_SIZE (RAM + VBUS_AREA_SIZE)

static struct vm *vm;
static uint8_t *mem, *mon;

static void broken(const char *what, unsigned detail)
{
	fprintf(stderr, "fuzz_pci: %s (%#x)\n", what, detail);
	abort();
}

/* A device's kick: take everything offered and give it back, as the block
 * and net devices do, through the one ring walker. */
static void kick(struct vm *v, struct vdev *dev, struct vqueue *q)
{
	struct vchain c;
	(void)dev;
	for (unsigned n = 0; n < q->num; n++) {
		int r = vring_pop(v, q, &c);
		if (r <= 0)
			return;
		vring_complete(v, q, c.head, (uint32_t)c.write_len);
	}
}

/* A fresh machine for every input (allocated once). */
static void setup(void)
{
	if (!vm) {
		vm = malloc(sizeof(*vm));
		mem = malloc(MEM_SIZE);
		mon = malloc(MON_SIZE);
	}
	memset(vm, 0, sizeof(*vm));
	memset(mon, 0, MON_SIZE);
	monitor_init(&vm->kvm.mon, mon);
	FAKE_UNPOISON(mem, MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	vm->mem = (struct guestmem){.base = mem, .size = MEM_SIZE, .limit = MEM_SIZE};
	vm->opt.mem = RAM;
	vm->kvm.vm_fd = -1;
	vm->lg.abi = abi_get(GEN_G9);
	if (vbus_init(vm) < 0)
		broken("vbus_init", 0);
	uint8_t cfg[16] = {0x80};
	struct vdev *blk = vbus_add_device(vm, VIRTIO_ID_BLOCK, "block");
	vbus_add_queue(vm, blk, VBUS_QUEUE_NUM);
	vbus_add_config(vm, blk, 0, -1, 0, 16, cfg);
	struct vdev *net = vbus_add_device(vm, VIRTIO_ID_NET, "net");
	vbus_add_queue(vm, net, VBUS_QUEUE_NUM);
	vbus_add_queue(vm, net, VBUS_QUEUE_NUM);
	vbus_add_config(vm, net, 0, 5, 0, 6, cfg);
	blk->notify = net->notify = kick;
	if (vbus_finish(vm) < 0)
		broken("vbus_finish", 0);
	vm->mem.limit = vbus_limit(vm);
}

static void check(void)
{
	const struct vpci *p = &vm->bus.pci;
	for (unsigned i = 0; i < vm->bus.ndevs; i++) {
		const struct vpci_dev *vd = &p->devs[i];
		const struct vdev *dev = vd->dev;
		if (vd->decode && ((uint64_t)vd->decode < RAM + VBUS_AREA_SIZE ||
				   (uint64_t)vd->decode + VPCI_BAR_SIZE > 0xFFC00000u))
			broken("a BAR decodes over memory", vd->decode);
		for (unsigned j = 0; j < i; j++)
			if (vd->decode && vd->decode == p->devs[j].decode)
				broken("two devices decode at one address", vd->decode);
		for (unsigned q = 0; q < dev->nq; q++) {
			const struct vqueue *vq = dev->q[q];
			if (!atomic_load(&vq->ready))
				continue;
			if ((uint64_t)vq->desc + 16u * vq->num > RAM ||
			    (uint64_t)vq->avail + 4 + 2u * vq->num > RAM ||
			    (uint64_t)vq->used + 4 + 8u * vq->num > RAM)
				broken("an enabled ring lies outside RAM", vq->desc);
		}
	}
}

static uint64_t mmio_addr(struct fake_rd *r)
{
	unsigned slot = 1 + rd8(r) % 3;
	uint32_t base = vm->bus.pci.bus.fn[slot].present ? pci_bar0_addr(&vm->bus.pci.bus.fn[slot])
							 : RAM + VBUS_AREA_SIZE;
	switch (rd8(r) & 3) {
	case 0:
		return base + (rd16(r) & 0x3F); /* common config */
	case 1:
		return base + 0x100 + (rd8(r) & 3); /* doorbell */
	case 2:
		return base + 0x200 + (rd16(r) & 0x1FF); /* ISR, device config */
	default:
		return rd32(r); /* anywhere */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_rd r = {data, size};
	setup();
	FAKE_POISON(mem + RAM, MEM_SIZE - RAM);

	for (unsigned n = 0; n < FAKE_MAX_OPS && r.n && !vm->dead; n++) {
		uint32_t v = 0;
		switch (rd8(&r) % 8) {
		case 0:
			v = rd8(&r) < 0xC0 ? PCI_ADDR_ENABLE | (rd8(&r) % 5u) << 11 | rd8(&r)
					   : rd32(&r);
			vbus_pio(vm, PCI_CONFIG_ADDRESS, 4, true, &v);
			break;
		case 1: {
			unsigned len = 1u << (rd8(&r) % 3), off = rd8(&r) & 3;
			uint32_t a = vm->bus.pci.bus.addr;
			vbus_pio(vm, (uint16_t)(PCI_CONFIG_DATA + off), len, false, &v);
			/* Width does not change the bytes (outside the window,
			 * whose data field is a BAR access). */
			if (off == 0 && len == 4 && (a & PCI_ADDR_ENABLE) &&
			    !(a & PCI_ADDR_RESERVED) && !(a & 0xFF0700) && (a & 0xFC) < 0x80) {
				uint32_t b = 0;
				vbus_pio(vm, PCI_CONFIG_DATA + 1, 1, false, &b);
				if (b != ((v >> 8) & 0xFF))
					broken("byte and dword reads disagree", a);
			}
			break;
		}
		case 2: {
			unsigned len = 1u << (rd8(&r) % 3), off = rd8(&r) & 3;
			v = rd32(&r);
			vbus_pio(vm, (uint16_t)(PCI_CONFIG_DATA + off), len, true, &v);
			break;
		}
		case 3:
		case 4: {
			uint8_t buf[8] = {0};
			uint64_t at = mmio_addr(&r);
			unsigned len = 1u << (rd8(&r) % 4);
			for (unsigned i = 0; i < len; i++)
				buf[i] = rd8(&r);
			vbus_mmio(vm, at, buf, len, (data[0] & 1) || rd8(&r) & 1);
			break;
		}
		case 5: {
			uint32_t at = rd16(&r) * 4u % RAM;
			unsigned len = rd8(&r);
			for (unsigned i = 0; i < len && at + i < RAM; i++)
				mem[at + i] = rd8(&r);
			break;
		}
		case 6: {
			unsigned q = rd8(&r) % vm->bus.nqueues;
			vbus_interrupt(vm, &vm->bus.queues[q]);
			break;
		}
		default: {
			struct mon_pio_log *log = monitor_pio_log(&vm->kvm.mon);
			uint32_t count = rd8(&r) < 0xF0 ? rd8(&r) % 16u : rd32(&r);
			bool bad = count > MON_PIO_MAX;
			for (uint32_t i = 0; i < count && i < MON_PIO_MAX; i++) {
				uint8_t k = rd8(&r);
				log->e[i].port = k < 0xE0 ? (uint16_t)(PCI_CONFIG_ADDRESS + k % 8u)
							  : rd16(&r);
				log->e[i].size =
					k < 0xE0 ? (uint8_t)(1u << (rd8(&r) % 3)) : rd8(&r);
				log->e[i].val = rd32(&r);
				bool ok = pci_is_port(log->e[i].port) &&
					  (log->e[i].size == 1 || log->e[i].size == 2 ||
					   log->e[i].size == 4);
				bad |= !ok && !bad && count <= MON_PIO_MAX;
			}
			log->count = count;
			lg_fastpath_drain(vm);
			if (log->count != 0)
				broken("the port-write log was not emptied", count);
			if (bad && !vm->dead)
				broken("a corrupt port-write log was replayed", count);
			break;
		}
		}
		check();
	}
	if (vm->dead && vm->exit_code != EXIT_GUEST_KILLED)
		broken("the guest died of something other than a kill", vm->exit_code);
	return 0;
}
