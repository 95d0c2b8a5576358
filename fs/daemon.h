/*
 * daemon: the start-up of the daemon that FUSE does not do for us, so that
 * everything is checked before the parent goes (issue 13): detaching with
 * the child's status reported to the waiting parent, the mount point's
 * checks, the catalog probe. Private to the daemon (fs/fuse_ll.c).
 */
#ifndef SATFS_DAEMON_H
#define SATFS_DAEMON_H

struct sat_config;
struct sat_core;

/* The daemon's parent waits, holding the user's terminal, until the child
 * says the mount is up or failed; see daemon.c. Returns, in the child, the
 * pipe's write end; never returns in the parent; -1 (the message printed)
 * when it cannot fork. */
int sat_daemon_detach(void);
/* The child tells its parent (status 0: mounted) and lets go of the
 * terminal; *fd is closed and set to -1. */
void sat_daemon_report(int *fd, int status);
/* The mount point must be a directory, and not a satfs mount already.
 * 0, or 1 with the message logged. */
int sat_daemon_check_mountpoint(const char *mnt);
/* A warning when the catalog cannot be reached now (the mount still
 * comes up: offline use is valid). */
void sat_daemon_probe_catalog(struct sat_core *core,
			      const struct sat_config *cfg);

#endif
