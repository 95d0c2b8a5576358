/* progress: see include/satfs/progress.h. No locks: atomic counters. */
#include "satfs/progress.h"

#include <stddef.h>
#include <stdlib.h>

struct sat_progress *sat_progress_new(void)
{
	struct sat_progress *p = calloc(1, sizeof(*p));

	if (p)
		atomic_init(&p->refs, 1);
	return p;
}

void sat_progress_ref(struct sat_progress *p)
{
	if (p)
		atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void sat_progress_unref(struct sat_progress *p)
{
	if (p && atomic_fetch_sub_explicit(&p->refs, 1,
					    memory_order_acq_rel) == 1)
		free(p);
}

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
