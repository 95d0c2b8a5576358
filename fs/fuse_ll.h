/*
 * fuse_ll: the FUSE layer (libfuse's low-level API, and only here).
 * Private to the daemon: the core library knows nothing of FUSE.
 */
#ifndef SATFS_FUSE_LL_H
#define SATFS_FUSE_LL_H

#include <stdbool.h>

struct fuse_args;
struct sat_config;

struct sat_fuse_opts {
	const char *mountpoint;
	bool foreground;
	bool debug;
	bool singlethread;
	int max_idle_threads;
};

/* Mounts, daemonises unless foreground, serves until unmounted. Returns
 * the process exit status: 0 after a clean unmount, 1 on failure. */
int sat_fuse_run(struct fuse_args *args, const struct sat_config *cfg,
		 const struct sat_fuse_opts *o);

#endif
