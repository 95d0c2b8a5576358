/*
 * fdsink: a buffered writer to a file descriptor that also counts, for
 * the encoders whose exact output size is computed by running them into
 * a sink that stores nothing (pngio, gifout). Writes go out in blocks of
 * SAT_FDSINK_BUF bytes; the first write error is kept and ends the
 * writing. Not thread-safe: one encoder owns one sink.
 */
#ifndef SATFS_FDSINK_H
#define SATFS_FDSINK_H

#include <stddef.h>
#include <stdint.h>

#define SAT_FDSINK_BUF 65536

struct sat_fdsink {
	int fd;           /* -1: count only */
	uint64_t written; /* bytes, counted or written */
	int err;          /* first write error, as -errno */
	size_t fill;
	uint8_t buf[SAT_FDSINK_BUF];
};

/* Counts len bytes and, with an fd, buffers them, writing each full
 * block. 0 or the sink's error (-errno). */
int sat_fdsink_put(struct sat_fdsink *s, const void *data, size_t len);
/* Writes what is buffered. 0 or the sink's error (-errno). */
int sat_fdsink_flush(struct sat_fdsink *s);

#endif
