/* fdsink: see include/satfs/fdsink.h. */
#include "satfs/fdsink.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int sat_fdsink_flush(struct sat_fdsink *s)
{
	size_t off = 0;

	while (s->fd >= 0 && off < s->fill && !s->err) {
		ssize_t n = write(s->fd, s->buf + off, s->fill - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			s->err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	s->fill = 0;
	return s->err;
}

int sat_fdsink_put(struct sat_fdsink *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->written += len;
	while (s->fd >= 0 && len > 0 && !s->err) {
		size_t n = SAT_FDSINK_BUF - s->fill < len
				   ? SAT_FDSINK_BUF - s->fill
				   : len;

		memcpy(s->buf + s->fill, p, n);
		s->fill += n;
		p += n;
		len -= n;
		if (s->fill == SAT_FDSINK_BUF)
			sat_fdsink_flush(s);
	}
	return s->err;
}
