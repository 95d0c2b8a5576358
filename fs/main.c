/*
 * satfs: mount satellite imagery as files. Command line, configuration,
 * then the FUSE layer; or one of the control commands (fs/ctl.c) when the
 * first argument names one.
 *
 * mount(8) runs us through mount.fuse3 as "satfs SOURCE MOUNTPOINT -o
 * OPTIONS" (an /etc/fstab line "satfs /mnt/sat fuse.satfs config=...");
 * the source means nothing to us and is dropped.
 *
 * Exit status: 0 after a clean unmount, 1 when mounting or serving fails,
 * 2 for a bad command line or configuration (nothing is mounted).
 */
#define FUSE_USE_VERSION 312

#include "ctl.h"
#include "fuse_ll.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/objstore.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct cmdline {
	char *config_path; /* -o config=FILE */
	char *opts;        /* satfs's own -o options, comma-separated */
	size_t opts_len;
};

static void usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n"
	       "       %s status|prefetch|refresh|cache ...\n"
	       "\n"
	       "Mounts satellite imagery from a STAC catalog as GeoTIFF files:\n"
	       "MOUNTPOINT/REGION/YYYY-MM-DD/ITEM.PRODUCT.tif\n"
	       "\n"
	       "General options:\n"
	       "    -h, --help             print this help and exit\n"
	       "    -V, --version          print the version and exit\n"
	       "    -f                     stay in the foreground, log to stderr\n"
	       "    -d, -o debug           foreground, debug log and FUSE tracing\n"
	       "    -s                     single-threaded FUSE loop\n"
	       "    -o opt[,opt...]        mount options, below and libfuse's\n"
	       "\n",
	       prog, prog);
	sat_config_usage(stdout);
	printf("\n"
	       "SOURCE, as mount(8) passes it from /etc/fstab, is ignored.\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n"
	       "\n");
	sat_ctl_usage(stdout);
	printf("\nSee satfs(1) and satfs.conf(5).\n");
}

/* With two arguments that are not options, the first is mount(8)'s
 * SOURCE: drops it (in place). Option values ("-o x") are skipped. */
static void drop_source(int *argc, char **argv)
{
	int pos[2], npos = 0, i;

	for (i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] == '-')
			continue;
		if (npos == 2)
			return; /* too many: libfuse says so */
		pos[npos++] = i;
	}
	if (npos != 2)
		return;
	for (i = pos[0]; i < *argc - 1; i++)
		argv[i] = argv[i + 1];
	argv[--*argc] = NULL;
}

/* Appends one option to the comma-separated list for the config loader,
 * escaping ',' and '\\' again (libfuse removed the escapes already). */
static int append_opt(struct cmdline *c, const char *arg)
{
	size_t len = strlen(arg), i;
	char *n = realloc(c->opts, c->opts_len + 2 * len + 2), *p;

	if (!n)
		return -1;
	c->opts = n;
	if (c->opts_len)
		c->opts[c->opts_len++] = ',';
	p = c->opts + c->opts_len;
	for (i = 0; i < len; i++) {
		if (arg[i] == ',' || arg[i] == '\\')
			*p++ = '\\';
		*p++ = arg[i];
	}
	*p = '\0';
	c->opts_len = (size_t)(p - c->opts);
	return 0;
}

/* Takes satfs's own -o options out of the argument list; leaves the rest
 * (libfuse's) in place. */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct cmdline *c = data;
	char name[64];
	size_t n;

	if (key != FUSE_OPT_KEY_OPT)
		return 1;
	n = strcspn(arg, "=");
	if (n >= sizeof(name))
		return 1;
	memcpy(name, arg, n);
	name[n] = '\0';
	if (!sat_config_is_option(name))
		return 1;
	if (strcmp(name, "config") == 0) {
		free(c->config_path);
		c->config_path = strdup(arg[n] ? arg + n + 1 : "");
		return c->config_path ? 0 : -1;
	}
	return append_opt(c, arg);
}

/* Raises the soft limit on open descriptors to the hard one: the daemon
 * holds one per rendered file open (shared by all its opens), per
 * connection and per render, and the soft default (often 1024) is an
 * accident of the shell, not a budget. Logged when it cannot. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		sat_warn("cannot raise the limit on open files to %llu: %s",
			 (unsigned long long)rl.rlim_max, strerror(errno));
}

/* A shared store with no usable keys is a mistake to report now, with
 * exit status 2, not a mount that silently shares nothing: the keys are
 * read as the daemon will read them (no request is made). A store that
 * fails later is another matter: the mount renders locally meanwhile. */
static int check_shared(const struct sat_config *cfg, char *err,
			size_t errlen)
{
	struct sat_objstore_opts o = { .store = cfg->shared_store,
				       .endpoint = cfg->shared_endpoint,
				       .region = cfg->shared_region };
	struct sat_objstore *s = NULL;
	int rc;

	if (!cfg->shared_store || cfg->offline)
		return 0;
	rc = sat_objstore_new(&s, NULL, &o, err, errlen);
	sat_objstore_free(s);
	return rc;
}

int main(int argc, char *argv[])
{
	struct fuse_args args;
	struct fuse_cmdline_opts fo = { 0 };
	struct sat_config *cfg = NULL;
	struct sat_fuse_opts so = { 0 };
	struct cmdline c = { 0 };
	char err[1024];
	int ret = 2;

	/* Renders allocate and free megabytes at a time (tiles, bands, raw
	 * ranges) on many threads. A fixed mmap threshold keeps glibc from
	 * raising it dynamically and then parking those blocks in per-thread
	 * arenas: freed buffers go back to the system, so the daemon's RSS
	 * follows the renders in flight (docs/BENCHMARKS.md, peak RSS). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);

	if (argc >= 2 && sat_ctl_is_command(argv[1]))
		return sat_ctl_main(argc - 1, argv + 1);
	drop_source(&argc, argv);
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	if (fuse_opt_parse(&args, &c, NULL, opt_proc) != 0)
		goto out;
	if (fuse_parse_cmdline(&args, &fo) != 0)
		goto out;
	if (fo.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out_fo;
	}
	if (fo.show_version) {
		printf("satfs %s\n", SATFS_VERSION);
		fuse_lowlevel_version();
		ret = 0;
		goto out_fo;
	}
	if (!fo.mountpoint) {
		fprintf(stderr, "satfs: no mount point given\n"
				"usage: %s [options] MOUNTPOINT "
				"(see --help)\n",
			argv[0]);
		goto out_fo;
	}
	if (sat_config_load(&cfg, c.config_path, c.opts, err, sizeof(err))) {
		fprintf(stderr, "satfs: %s\n", err);
		goto out_fo;
	}
	if (fo.debug)
		cfg->log_level = SAT_LOG_DEBUG;
	if (sat_log_setup((enum sat_log_level)cfg->log_level, cfg->log_path,
			  0) != 0) {
		fprintf(stderr, "satfs: cannot open log file %s\n",
			cfg->log_path);
		goto out_fo;
	}
	if (check_shared(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "satfs: shared store %s: %s\n",
			cfg->shared_store, err);
		goto out_fo;
	}
	raise_nofile();
	/* Read-only, but not mounted "ro": the kernel would refuse the
	 * setxattr that satfs refresh and satfs cache --clear use. Every
	 * change answers EROFS from fs/fuse_ll.c instead. */
	if (fuse_opt_add_arg(&args, "-ofsname=satfs,subtype=satfs") != 0)
		goto out_fo;

	so.mountpoint = fo.mountpoint;
	so.foreground = fo.foreground;
	so.debug = fo.debug;
	so.singlethread = fo.singlethread;
	so.max_idle_threads = fo.max_idle_threads == UINT_MAX
				      ? 0
				      : (int)fo.max_idle_threads;
	ret = sat_fuse_run(&args, cfg, &so);
out_fo:
	free(fo.mountpoint);
out:
	sat_config_free(cfg);
	fuse_opt_free_args(&args);
	free(c.config_path);
	free(c.opts);
	return ret;
}
