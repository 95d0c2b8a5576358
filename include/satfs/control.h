/*
 * control: the names by which `satfs status|refresh|cache` (fs/ctl.c, the
 * client) and the daemon (fs/core_xattr.c, fs/tree.c, fs/status.c) talk,
 * defined once, here. Documented in satfs(1); tests/docs/check_man.sh
 * checks every name below against it.
 *
 *   MOUNT/.satfs/status        the daemon's state, for people
 *   MOUNT/.satfs/status.json   the same, for scripts
 *   MOUNT/.satfs/cache         the rendered files in the cache
 *   user.satfs.state           a file's state (remote, rendering, cached,
 *                              failed; listed for directories)
 *   user.satfs.error           why its last render failed, or why it
 *                              cannot be opened
 *   user.satfs.source          the band hrefs it is drawn from
 *   user.satfs.refresh         set: search the region again
 *   user.satfs.clear_cache     set on the root: remove the rendered files
 *                              nobody has open
 */
#ifndef SATFS_CONTROL_H
#define SATFS_CONTROL_H

/* The directory of status files in the root (reserved: never a region). */
#define SAT_CTL_DIR ".satfs"

/* The files in it, in the order ls shows them. */
enum sat_ctl_file {
	SAT_CTL_CACHE,       /* "cache" */
	SAT_CTL_STATUS,      /* "status" */
	SAT_CTL_STATUS_JSON, /* "status.json" */
	SAT_CTL_NFILES
};
#define SAT_CTL_FILE_NAMES { "cache", "status", "status.json" }

/* The name of file f ("status"); never NULL for f < SAT_CTL_NFILES. */
const char *sat_ctl_file_name(enum sat_ctl_file f);

#define SAT_XATTR_PREFIX "user.satfs."
#define SAT_XATTR_STATE "user.satfs.state"
#define SAT_XATTR_ERROR "user.satfs.error"
#define SAT_XATTR_SOURCE "user.satfs.source"
#define SAT_XATTR_CLOUD "user.satfs.cloud"
#define SAT_XATTR_REFRESH "user.satfs.refresh"
#define SAT_XATTR_CLEAR "user.satfs.clear_cache"

#endif
