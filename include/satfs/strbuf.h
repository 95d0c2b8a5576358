/*
 * strbuf: a growing string for text made piece by piece (GeoTIFF
 * metadata, the region page). Any allocation failure sticks in `oom`, so
 * that the writer checks once at the end. Not thread-safe.
 */
#ifndef SATFS_STRBUF_H
#define SATFS_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sat_strbuf {
	char *s;      /* NUL-terminated once anything was written; malloc'd */
	size_t len, cap;
	bool oom;
};

/* Appends printf-style text. */
void sat_strbuf_printf(struct sat_strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sat_strbuf_vprintf(struct sat_strbuf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
