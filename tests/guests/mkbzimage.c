/* mkbzimage: wrap a flat 32-bit payload (linked for 0x100000) into the
 * bzImage file format an lguest Launcher accepts (docs/abi.md §2.2).
 *
 *   mkbzimage PAYLOAD.bin OUT.bzimage
 *
 * Layout: a 512-byte boot sector plus SETUP_SECTS setup sectors, holding the
 * boot-protocol 2.07 setup header, then the payload at (SETUP_SECTS+1)*512.
 * The Launcher uses only "HdrS", setup_sects and code32_start; the other
 * fields are filled as a real 2.6.24 bzImage has them.  hardware_subarch in
 * the *file* is 0 (PC), as in a real bzImage: the VMM must write 1 into the
 * guest's zero page itself, and the hello guest checks that it did.
 * There is no real-mode code: nothing here is bootable on a PC. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_SECTS  4 /* non-zero: 0 means 4 to the protocol, but not to lguest */
#define HDR_SIZE     ((SETUP_SECTS + 1) * 512)
#define CODE32_START 0x100000u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xFF;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xFFFF);
	put16(p + 2, v >> 16);
}

static uint8_t *read_file(const char *path, long *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;

	if (!f || fseek(f, 0, SEEK_END) || (*len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc(*len)) || fread(buf, 1, *len, f) != (size_t)*len) {
		fprintf(stderr, "mkbzimage: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	uint8_t hdr[HDR_SIZE];
	long len;

	if (argc != 3) {
		fprintf(stderr, "usage: mkbzimage PAYLOAD.bin OUT.bzimage\n");
		return 2;
	}
	uint8_t *payload = read_file(argv[1], &len);

	memset(hdr, 0, sizeof(hdr));
	hdr[0x1F1] = SETUP_SECTS;			 /* setup_sects */
	put16(hdr + 0x1F4, (uint16_t)((len + 15) / 16)); /* syssize, 16-byte units */
	put16(hdr + 0x1FE, 0xAA55);			 /* boot_flag */
	hdr[0x200] = 0xEB;				 /* jump over the header */
	hdr[0x201] = 0x66;
	memcpy(hdr + 0x202, "HdrS", 4);	  /* header signature */
	put16(hdr + 0x206, 0x0207);	  /* protocol version */
	hdr[0x211] = 0x01;		  /* loadflags: LOADED_HIGH */
	put32(hdr + 0x214, CODE32_START); /* code32_start */
	put32(hdr + 0x22C, 0x37FFFFFF);	  /* initrd_addr_max */
	put32(hdr + 0x230, 0x100000);	  /* kernel_alignment */
	put32(hdr + 0x238, 2047);	  /* cmdline_size */
	put32(hdr + 0x23C, 0);		  /* hardware_subarch: PC */

	FILE *out = fopen(argv[2], "wb");
	if (!out || fwrite(hdr, 1, sizeof(hdr), out) != sizeof(hdr) ||
	    fwrite(payload, 1, len, out) != (size_t)len || fclose(out)) {
		fprintf(stderr, "mkbzimage: cannot write %s\n", argv[2]);
		return 1;
	}
	free(payload);
	return 0;
}
