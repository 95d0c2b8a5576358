/*
 * ctl: the control commands of the satfs binary (satfs status | prefetch |
 * refresh | cache), which talk to a running mount through its files:
 * MOUNT/.satfs/status{,.json} and .satfs/cache to read, the extended
 * attributes user.satfs.refresh and user.satfs.clear_cache to act.
 * Private to the daemon's binary; plain POSIX, no FUSE.
 */
#ifndef SATFS_CTL_H
#define SATFS_CTL_H

#include <stdbool.h>
#include <stdio.h>

/* Is name one of the commands? */
bool sat_ctl_is_command(const char *name);
/* The command name looks like a typo of, or NULL. */
const char *sat_ctl_suggest(const char *name);

/* Runs a command: argv[0] is its name. Returns the exit status: 0, 1 when
 * something failed, 2 for a bad command line. */
int sat_ctl_main(int argc, char **argv);

/* The commands' lines for satfs --help. */
void sat_ctl_usage(FILE *f);

#endif
