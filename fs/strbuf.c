/* strbuf: see include/satfs/strbuf.h. */
#include "satfs/strbuf.h"

#include <stdio.h>
#include <stdlib.h>

void sat_strbuf_vprintf(struct sat_strbuf *b, const char *fmt, va_list ap)
{
	if (b->oom)
		return;
	for (;;) {
		va_list aq;
		int n;

		va_copy(aq, ap);
		n = vsnprintf(b->s ? b->s + b->len : NULL,
			      b->s ? b->cap - b->len : 0, fmt, aq);
		va_end(aq);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? 2 * b->cap : 1024) + (size_t)n;
		char *ns = realloc(b->s, cap);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
}

void sat_strbuf_printf(struct sat_strbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sat_strbuf_vprintf(b, fmt, ap);
	va_end(ap);
}
