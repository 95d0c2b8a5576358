/*
 * core: the daemon's parts, wired together once the mount is up (after
 * daemonising, since threads do not survive fork()).
 */
#ifndef SATFS_CORE_H
#define SATFS_CORE_H

#include <stdint.h>
#include <time.h>

struct sat_config;

struct sat_core {
	const struct sat_config *cfg;
	struct sat_fetch *fetch;
	struct sat_cache *cache;
	struct sat_source *source; /* scenes and pixels: STAC or Earth Engine */
	struct sat_catalog *catalog;
	struct sat_jobs *jobs;
	struct sat_tree *tree;
	struct sat_workq *workq;  /* blocking work submitted by FUSE threads */
	time_t started;           /* for the status file */
	const char *mountpoint;   /* set by the FUSE layer; may be NULL */
};

/* Opens the cache and starts the fetch engine, the render workers and the
 * work queue. Returns 0 or -errno (logged). */
int sat_core_new(struct sat_core **out, const struct sat_config *cfg);
/* Stops every thread and frees everything. Accepts NULL. */
void sat_core_free(struct sat_core *core);

/* satfs cache --clear: removes the rendered files nobody has open and the
 * cached headers (sat_cache_clear_files), and drops what the source keeps
 * in memory, so that what comes next is read from the network again.
 * Disk I/O: not on a FUSE thread. 0 or -errno. */
int sat_core_clear_cache(struct sat_core *core, uint64_t *files,
			 uint64_t *bytes);

#endif
