#include "src/log.h"

#include <stdarg.h>
#include <stdio.h>

void log_msg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per line, so lines from lgkvm and the guest's console
	 * never interleave mid-line. */
	fprintf(stderr, "lgkvm: %s\n", buf);
}
