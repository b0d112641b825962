/* Messages from lgkvm itself (never the guest's console): one line each, on
 * stderr, prefixed "lgkvm: ". */
#ifndef LGKVM_LOG_H
#define LGKVM_LOG_H

struct vm;

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* -v: every exit class and hypercall.  Cheap when off (one branch). */
#define LOG_DEBUG(vm, ...)                    \
	do {                                  \
		if ((vm)->opt.verbose > 0)    \
			log_msg(__VA_ARGS__); \
	} while (0)

#endif
