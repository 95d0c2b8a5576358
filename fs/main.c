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
#include <sys/stat.h>

struct cmdline {
	char *config_path; /* -o config=FILE */
	char *opts;        /* satfs's own -o options, comma-separated */
	size_t opts_len;
	char *unknown;     /* the first -o option neither ours nor a libfuse
			      one we know, for libfuse to judge */
};

/* libfuse's mount options that we know of (the authority is libfuse:
 * anything else is handed to it to judge), for suggestions. */
static const char *const fuse_options[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions",
	"fsname", "subtype", "max_read", "blkdev", "blksize", "ro", "rw",
	"suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync",
	"dirsync", "atime", "noatime", "nodiratime", "relatime",
	"norelatime", "strictatime", "nostrictatime", "debug", "clone_fd",
	"max_idle_threads", "max_threads", "context", "fscontext",
	"defcontext", "rootcontext", "user", "symfollow", "nosymfollow",
	NULL
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
	if (!sat_config_is_option(name)) {
		bool known = false;

		for (const char *const *o = fuse_options; *o; o++)
			known = known || strcmp(*o, name) == 0;
		if (!known && !c->unknown && strncmp(name, "x-", 2) != 0)
			c->unknown = strdup(name);
		return 1;
	}
	if (strcmp(name, "config") == 0) {
		free(c->config_path);
		c->config_path = strdup(arg[n] ? arg + n + 1 : "");
		return c->config_path ? 0 : -1;
	}
	return append_opt(c, arg);
}

/* An option neither satfs's nor one of libfuse's we know: libfuse judges
 * (a throw-away session parses a copy of the arguments, as the mount's
 * will). Returns 0 when it takes them, else 2 with the message. */
static int judge_unknown(const struct fuse_args *args, const char *name)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_lowlevel_ops none = { 0 };
	struct fuse_session *se;
	const char *hint;
	int i;

	for (i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]) != 0) {
			fuse_opt_free_args(&copy);
			return 0; /* out of memory: the mount will tell */
		}
	se = fuse_session_new(&copy, &none, sizeof(none), NULL);
	fuse_opt_free_args(&copy);
	if (se) {
		fuse_session_destroy(se);
		return 0;
	}
	hint = sat_config_suggest(name, fuse_options);
	fprintf(stderr, "satfs: unknown option '%s'%s%s%s (see --help)\n",
		name, hint ? ": did you mean '" : "", hint ? hint : "",
		hint ? "'?" : "");
	return 2;
}

/* A first argument that would be taken for mount(8)'s SOURCE, or for the
 * mount point when it does not exist, but looks like a mistyped command
 * ("satfs stats sat" would otherwise mount a second satfs with the
 * built-in defaults over the first). Exit status 2 then, else 0. */
static int check_command_typo(int argc, char **argv)
{
	int npos = 0, i;
	const char *hint;
	struct stat st;

	if (argc < 2 || argv[1][0] == '-' || strchr(argv[1], '/'))
		return 0;
	hint = sat_ctl_suggest(argv[1]);
	if (!hint)
		return 0;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0)
			i++;
		else if (argv[i][0] != '-')
			npos++;
	}
	if (npos < 2 && stat(argv[1], &st) == 0)
		return 0; /* a directory that happens to be called so */
	fprintf(stderr, "satfs: unknown command '%s': did you mean '%s'? "
			"(see --help)\n", argv[1], hint);
	return 2;
}

/* After parsing: URLs in the arguments lose their userinfo and query
 * string (stac=http://user:PASSWORD@host/?token=...), written over in
 * place, so that ps and /proc/PID/cmdline do not show them to every
 * user. The configuration holds its own copies. */
static void scrub_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *p = argv[i], *end, *at, *q;

		while ((p = strstr(p, "://"))) {
			p += 3;
			end = p + strcspn(p, ",");
			at = memchr(p, '@', (size_t)(end - p));
			if (at && at < p + strcspn(p, "/?#"))
				memset(p, '*', (size_t)(at - p));
			q = memchr(p, '?', (size_t)(end - p));
			if (q && q + 1 < end)
				memset(q + 1, '*', (size_t)(end - q - 1));
			p = end;
		}
	}
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
	char err[1024], **orig_argv = NULL;
	int ret = 2, orig_argc = 0;

	/* Renders allocate and free megabytes at a time (tiles, bands, raw
	 * ranges) on many threads. A fixed mmap threshold keeps glibc from
	 * raising it dynamically and then parking those blocks in per-thread
	 * arenas: freed buffers go back to the system, so the daemon's RSS
	 * follows the renders in flight (docs/BENCHMARKS.md, peak RSS). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	/* Below that, the heap's free top is kept (up to 64 MiB) instead of
	 * being handed back after every render and faulted in again by the
	 * next one's tables and small arrays (include/satfs/bufpool.h). */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);

	if (argc >= 2 && sat_ctl_is_command(argv[1]))
		return sat_ctl_main(argc - 1, argv + 1);
	if (check_command_typo(argc, argv))
		return 2;
	/* the strings stay where they are: scrub_args() needs them */
	orig_argc = argc;
	orig_argv = malloc(sizeof(*orig_argv) * (size_t)(argc + 1));
	if (!orig_argv)
		return 1;
	memcpy(orig_argv, argv, sizeof(*orig_argv) * (size_t)(argc + 1));
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
	if (c.unknown && (ret = judge_unknown(&args, c.unknown)) != 0)
		goto out_fo;
	ret = 1;
	scrub_args(orig_argc, orig_argv);

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
	free(c.unknown);
	free(orig_argv);
	return ret;
}
