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
	/* Messages quote file names and arguments as given: a newline or an
	 * escape sequence in one must not split the line or drive the
	 * terminal. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	/* One write per line, so lines from lgkvm and the guest's console
	 * never interleave mid-line. */
	fprintf(stderr, "lgkvm: %s\n", buf);
}
