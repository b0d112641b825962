/* mkbzimage: wrap a flat 32-bit payload (linked for 0x100000) into the
 * bzImage file format an lguest Launcher accepts (docs/abi.md §2.2).
 *
 *   mkbzimage PAYLOAD.bin OUT.bzimage
 *   mkbzimage --gzip-elf GUEST.elf OUT.bzimage
 *   mkbzimage --g0 PAYLOAD.bin OUT.bzimage
 *
 * The second form is a 2.6.26+ bzImage (protocol 2.10): the payload is the
 * guest's ELF, gzip-compressed, described by payload_offset/length.  There is
 * no decompressor in front of it -- code32_start points at compressed bytes --
 * so the guest runs only if the VMM decompresses the ELF and boots it itself,
 * as lgkvm does for every such image.
 *
 * The third is a 2.6.23 bzImage (protocol 2.06): the flat payload, gzipped
 * with the gzip header's OS byte 3 (Unix), which is what the 2.6.23 Launcher
 * looked for before it unpacked the kernel itself.
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
#include <zlib.h>

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

/* gzip `in` (as the kernel build's `gzip -n -9` would, give or take). */
static uint8_t *gzip_buf(const uint8_t *in, long len, long *out_len)
{
	z_stream z = {0};
	gz_header h = {.os = 3}; /* Unix, whatever zlib was built for */
	uLong cap = compressBound((uLong)len) + 64;
	uint8_t *out = malloc(cap);
	if (!out ||
	    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
	    deflateSetHeader(&z, &h) != Z_OK)
		exit(1);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		exit(1);
	*out_len = (long)z.total_out;
	deflateEnd(&z);
	return out;
}

int main(int argc, char **argv)
{
	uint8_t hdr[HDR_SIZE];
	long len;
	int elf = argc == 4 && strcmp(argv[1], "--gzip-elf") == 0;
	int g0 = argc == 4 && strcmp(argv[1], "--g0") == 0;

	if (argc != 3 && !elf && !g0) {
		fprintf(stderr, "usage: mkbzimage [--gzip-elf|--g0] PAYLOAD OUT.bzimage\n");
		return 2;
	}
	if (elf || g0) {
		argv++;
	}
	uint8_t *payload = read_file(argv[1], &len);
	long elf_len = len;
	if (elf || g0) {
		uint8_t *gz = gzip_buf(payload, len, &len);
		free(payload);
		payload = gz;
	}

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
	if (elf) {
		put16(hdr + 0x206, 0x020A);			    /* protocol 2.10 */
		put32(hdr + 0x248, 0);				    /* payload_offset */
		put32(hdr + 0x24C, (uint32_t)len);		    /* payload_length */
		put32(hdr + 0x260, (uint32_t)elf_len + (1u << 20)); /* init_size */
	}

	if (g0)
		put16(hdr + 0x206, 0x0206); /* protocol 2.06: 2.6.23 */

	FILE *out = fopen(argv[2], "wb");
	if (!out || fwrite(hdr, 1, sizeof(hdr), out) != sizeof(hdr) ||
	    fwrite(payload, 1, len, out) != (size_t)len || fclose(out)) {
		fprintf(stderr, "mkbzimage: cannot write %s\n", argv[2]);
		return 1;
	}
	free(payload);
	return 0;
}
