/*
 * status: what the daemon is doing, as text for people and JSON for
 * scripts (MOUNT/.satfs/status, status.json, cache), and the state of one
 * file (the user.satfs.* extended attributes). Built from the core's
 * parts; knows nothing of FUSE.
 *
 * Thread-safe: any thread may call these. They take the jobs', cache's,
 * fetch engine's and tree's locks briefly, one at a time, and read the
 * cache directory (disk I/O; never the network).
 */
#ifndef SATFS_STATUS_H
#define SATFS_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "satfs/control.h"

struct sat_core;
struct sat_render_plan;

/* Errors and warnings this recent are shown. */
#define SAT_STATUS_ERRORS_S 600

/* Makes a snapshot. *out is malloc'd and NUL-terminated (free() it).
 * Returns 0 or -ENOMEM. */
int sat_status_render(struct sat_core *core, enum sat_ctl_file file,
		      char **out, size_t *len);

/* user.satfs.state of a .tif: "rendering" (queued or running), "cached",
 * "failed" (the last render failed), or "remote". */
const char *sat_status_file_state(struct sat_core *core,
				  const struct sat_render_plan *plan);

/* Formats n bytes for people ("4.0 MiB") into buf. Returns buf. */
const char *sat_status_bytes(uint64_t n, char *buf, size_t len);

#endif
