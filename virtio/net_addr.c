/* The host side's address of a tap (--net-ip), parsed: on its own, with no
 * device behind it, so that the options, the state file's parser and their
 * fuzzers can check one without linking the network device. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net.h"

/* --net-ip ADDR[/PREFIX] -> address and netmask, network byte order. */
bool net_parse_ip(const char *arg, struct in_addr *addr, struct in_addr *mask)
{
	char buf[INET_ADDRSTRLEN + 4];
	char *slash, *end;
	unsigned long prefix = 24;

	if (strlen(arg) >= sizeof(buf))
		return false;
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		errno = 0;
		prefix = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || prefix > 32)
			return false;
	}
	if (inet_pton(AF_INET, buf, addr) != 1)
		return false;
	mask->s_addr = htonl(prefix ? ~0u << (32 - prefix) : 0);
	return true;
}
