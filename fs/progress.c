/* progress: see include/satfs/progress.h. No locks: atomic counters. */
#include "satfs/progress.h"

#include <stddef.h>

void sat_progress_read(const struct sat_progress *p,
		       struct sat_progress_snapshot *out)
{
	out->bytes_done = atomic_load_explicit(&p->bytes_done,
					       memory_order_relaxed);
	out->bytes_wanted = atomic_load_explicit(&p->bytes_wanted,
						 memory_order_relaxed);
	out->requests = atomic_load_explicit(&p->requests,
					     memory_order_relaxed);
	out->retries = atomic_load_explicit(&p->retries,
					    memory_order_relaxed);
}
