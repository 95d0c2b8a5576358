/*
 * ctl: satfs status | prefetch | refresh | cache; see fs/ctl.h.
 *
 * Threading: `satfs prefetch` opens files on a few threads at once (an
 * open is what starts a render, and the daemon renders concurrently only
 * what is asked concurrently). The threads take paths from a shared index
 * and add to shared counters under one mutex; the main thread draws the
 * progress bar from those counters. Everything else is single-threaded.
 */
#include "ctl.h"
#include "satfs/config.h"
#include "satfs/control.h"
#include "satfs/status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PREFETCH_THREADS 8
#define PREFETCH_READ_BYTES 65536

static const char *const commands[] = { "status", "prefetch", "refresh",
					"cache" };

bool sat_ctl_is_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i]) == 0)
			return true;
	return false;
}

const char *sat_ctl_suggest(const char *name)
{
	static const char *const list[] = { "status", "prefetch", "refresh",
					    "cache", NULL };
	return sat_config_nearest(name, list);
}

void sat_ctl_usage(FILE *f)
{
	fprintf(f,
		"Commands (on a mounted satfs):\n"
		"    status [--once] [--json] [-n SECONDS] MOUNTPOINT\n"
		"                           jobs in flight, cache and network\n"
		"                           use, recent errors; live until ^C\n"
		"    prefetch [-j N] [-q] PATH...\n"
		"                           render every file under PATHs\n"
		"    refresh PATH...        forget the listings of PATHs'\n"
		"                           regions (the root: all regions)\n"
		"    cache [--clear] MOUNTPOINT\n"
		"                           the rendered files in the cache;\n"
		"                           --clear removes those not open\n");
}

/* Reads a whole status file (size 0 at stat: read to the end). */
static char *read_ctl_file(const char *mount, enum sat_ctl_file file)
{
	char path[PATH_MAX], *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/" SAT_CTL_DIR "/%s", mount,
		 sat_ctl_file_name(file));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "satfs: %s: %s (is %s a satfs mount?)\n",
			path, strerror(errno), mount);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			nb = realloc(buf, cap + 65536);
			if (!nb)
				goto fail;
			buf = nb;
			cap += 65536;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
fail:
	fprintf(stderr, "satfs: %s: %s\n", path, strerror(errno));
	close(fd);
	free(buf);
	return NULL;
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

static void draw_bar(FILE *f, unsigned pct, int width)
{
	int full = (int)(pct > 100 ? 100 : pct) * width / 100;

	fputc('[', f);
	for (int i = 0; i < width; i++)
		fputc(i < full ? '#' : '-', f);
	fputc(']', f);
}

/* The status text with a bar in each job line ("  STATE PCT% REST"). */
static void draw_status(const char *text)
{
	int width = term_width();
	const char *line = text;

	while (*line) {
		size_t len = strcspn(line, "\n");
		char state[16];
		unsigned pct;
		int off = 0;

		if (line[0] == ' ' && line[1] == ' ' &&
		    sscanf(line, " %15s %u%% %n", state, &pct, &off) == 2 &&
		    off > 0 && (size_t)off <= len) {
			printf("  %-9s ", state);
			draw_bar(stdout, pct, width >= 100 ? 30 : 20);
			printf(" %3u%% %.*s\n", pct, (int)(len - (size_t)off),
			       line + off);
		} else {
			printf("%.*s\n", (int)len, line);
		}
		line += len;
		if (*line)
			line++;
	}
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	interrupted = 1;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option lo[] = { { "once", no_argument, NULL, '1' },
					    { "json", no_argument, NULL, 'j' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	bool once = false, json = false;
	double interval = 1.0;
	struct sigaction sa;
	char *text;
	int c;

	while ((c = getopt_long(argc, argv, "+n:h", lo, NULL)) != -1) {
		switch (c) {
		case '1':
			once = true;
			break;
		case 'j':
			json = true;
			break;
		case 'n':
			interval = atof(optarg);
			if (interval < 0.1)
				interval = 0.1;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (json) {
		text = read_ctl_file(argv[optind], SAT_CTL_STATUS_JSON);
		if (!text)
			return 1;
		fputs(text, stdout);
		free(text);
		return 0;
	}
	if (!isatty(STDOUT_FILENO))
		once = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	do {
		struct timespec ts;

		text = read_ctl_file(argv[optind], SAT_CTL_STATUS);
		if (!text)
			return 1;
		if (!once)
			printf("\033[H\033[J"); /* home, clear */
		draw_status(text);
		free(text);
		if (once)
			break;
		printf("(every %.1f s; ^C to stop)\n", interval);
		fflush(stdout);
		ts.tv_sec = (time_t)interval;
		ts.tv_nsec = (long)((interval - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL); /* a ^C ends it early */
	} while (!interrupted);
	return 0;
usage:
	fprintf(stderr, "usage: satfs status [--once] [--json] "
			"[-n SECONDS] MOUNTPOINT\n");
	return 2;
}

/* ---- prefetch ---- */

struct pf_file {
	char *path;
	uint64_t size;
};

struct prefetch {
	struct pf_file *files;
	size_t n, cap;
	pthread_mutex_t lock;
	size_t next;       /* protected by lock */
	size_t done;       /* protected by lock */
	size_t failed;     /* protected by lock */
	uint64_t bytes;    /* protected by lock; of the files done */
	bool quiet;
	bool walk_failed;
};

/* A file satfs renders: a GeoTIFF, a quicklook, a time-lapse, a page. */
static bool is_rendered(const char *name)
{
	static const char *const ext[] = { ".tif", ".png", ".gif", ".html" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (n > strlen(ext[i]) &&
		    strcmp(name + n - strlen(ext[i]), ext[i]) == 0)
			return true;
	return false;
}

static int pf_add(struct prefetch *pf, const char *path, uint64_t size)
{
	if (pf->n == pf->cap) {
		size_t cap = pf->cap ? pf->cap * 2 : 256;
		struct pf_file *v = realloc(pf->files, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pf->files = v;
		pf->cap = cap;
	}
	pf->files[pf->n].path = strdup(path);
	if (!pf->files[pf->n].path)
		return -ENOMEM;
	pf->files[pf->n++].size = size;
	return 0;
}

/* "ERRNO: CAUSE", the cause being the file's (or its directory's)
 * user.satfs.error when the mount kept one: what a user needs to act. */
static const char *pf_why(const char *path, int err, char *buf, size_t len)
{
	char cause[1024];
	ssize_t n = getxattr(path, SAT_XATTR_ERROR, cause, sizeof(cause) - 1);

	if (n > 0) {
		cause[n] = '\0';
		snprintf(buf, len, "%s: %s", strerror(err), cause);
	} else {
		snprintf(buf, len, "%s", strerror(err));
	}
	return buf;
}

/* Collects the rendered files under path. Listing a region runs its search:
 * that happens here, one directory at a time. */
static void pf_walk(struct prefetch *pf, const char *path)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "satfs prefetch: %s: %s\n", path,
			strerror(errno));
		pf->walk_failed = true;
		return;
	}
	if (S_ISREG(st.st_mode)) {
		if (is_rendered(path) && pf_add(pf, path, (uint64_t)st.st_size))
			pf->walk_failed = true;
		return;
	}
	if (!S_ISDIR(st.st_mode))
		return;
	d = opendir(path);
	if (!d) {
		char why[1400];

		fprintf(stderr, "satfs prefetch: %s: %s\n", path,
			pf_why(path, errno, why, sizeof(why)));
		pf->walk_failed = true;
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') /* ., .. and .satfs */
			continue;
		if (de->d_type == DT_REG && !is_rendered(de->d_name))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		pf_walk(pf, sub);
	}
	closedir(d);
}

static void *pf_worker(void *arg)
{
	struct prefetch *pf = arg;
	char *buf = malloc(PREFETCH_READ_BYTES);

	for (;;) {
		struct pf_file *f;
		bool ok = false;
		int fd, err = ENOMEM;
		ssize_t n;

		pthread_mutex_lock(&pf->lock);
		f = pf->next < pf->n ? &pf->files[pf->next++] : NULL;
		pthread_mutex_unlock(&pf->lock);
		if (!f)
			break;
		/* the open renders it; a read proves the bytes are there */
		fd = buf ? open(f->path, O_RDONLY | O_CLOEXEC) : -1;
		if (fd >= 0) {
			n = read(fd, buf, PREFETCH_READ_BYTES);
			err = errno;
			ok = n > 0 || (n == 0 && f->size == 0);
			close(fd);
		} else if (buf) {
			err = errno;
		}
		if (!ok) {
			char why[1400];

			fprintf(stderr, "%ssatfs prefetch: %s: %s\n",
				isatty(STDERR_FILENO) && !pf->quiet ? "\r\033[K"
								    : "",
				f->path, pf_why(f->path, err, why,
						sizeof(why)));
		}
		pthread_mutex_lock(&pf->lock);
		pf->done++;
		if (ok)
			pf->bytes += f->size;
		else
			pf->failed++;
		pthread_mutex_unlock(&pf->lock);
	}
	free(buf);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pf_progress(struct prefetch *pf, uint64_t total)
{
	char b1[32], b2[32];
	size_t done, failed;
	uint64_t bytes;

	pthread_mutex_lock(&pf->lock);
	done = pf->done;
	failed = pf->failed;
	bytes = pf->bytes;
	pthread_mutex_unlock(&pf->lock);
	fprintf(stderr, "\r\033[K");
	draw_bar(stderr, pf->n ? (unsigned)(done * 100 / pf->n) : 100, 30);
	fprintf(stderr, " %zu/%zu files, %s of %s", done, pf->n,
		sat_status_bytes(bytes, b1, sizeof(b1)),
		sat_status_bytes(total, b2, sizeof(b2)));
	if (failed)
		fprintf(stderr, ", %zu failed", failed);
	fflush(stderr);
}

static int cmd_prefetch(int argc, char **argv)
{
	struct prefetch pf = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t threads[64];
	int nthreads = PREFETCH_THREADS, started = 0, c, i;
	bool bar;
	uint64_t total = 0;
	double t0;
	char b1[32];

	while ((c = getopt(argc, argv, "+j:qh")) != -1) {
		switch (c) {
		case 'j':
			nthreads = atoi(optarg);
			if (nthreads < 1 || nthreads > 64)
				goto usage;
			break;
		case 'q':
			pf.quiet = true;
			break;
		default:
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	t0 = now_s();
	for (i = optind; i < argc; i++)
		pf_walk(&pf, argv[i]);
	for (size_t k = 0; k < pf.n; k++)
		total += pf.files[k].size;
	bar = !pf.quiet && isatty(STDERR_FILENO);
	for (i = 0; i < nthreads && (size_t)i < pf.n; i++) {
		if (pthread_create(&threads[i], NULL, pf_worker, &pf) != 0)
			break;
		started++;
	}
	if (!started && pf.n)
		pf_worker(&pf); /* no threads: do it here */
	while (bar) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		bool all;

		pf_progress(&pf, total);
		pthread_mutex_lock(&pf.lock);
		all = pf.done == pf.n;
		pthread_mutex_unlock(&pf.lock);
		if (all)
			break;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (bar)
		fprintf(stderr, "\n");
	printf("prefetched %zu files, %s in %.1f s; %zu failed\n",
	       pf.done - pf.failed, sat_status_bytes(pf.bytes, b1, sizeof(b1)),
	       now_s() - t0, pf.failed);
	for (size_t k = 0; k < pf.n; k++)
		free(pf.files[k].path);
	free(pf.files);
	return pf.failed || pf.walk_failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: satfs prefetch [-j N] [-q] PATH...\n");
	return 2;
}

/* ---- refresh, cache ---- */

static int set_ctl_xattr(const char *path, const char *name, const char *cmd)
{
	char state[32];

	/* every satfs file has a state; elsewhere a user.* attribute would
	 * just be set on the user's own file */
	if (getxattr(path, SAT_XATTR_STATE, state, sizeof(state)) < 0 &&
	    errno != ERANGE) {
		fprintf(stderr, "satfs %s: %s: %s\n", cmd, path,
			errno == ENOENT ? strerror(errno)
					: "not in a satfs mount");
		return 1;
	}
	if (setxattr(path, name, "1", 1, 0) == 0)
		return 0;
	fprintf(stderr, "satfs %s: %s: %s\n", cmd, path,
		errno == ENOTSUP ? "not in a satfs mount"
				  : strerror(errno));
	return 1;
}

static int cmd_refresh(int argc, char **argv)
{
	int ret = 0, i;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: satfs refresh PATH...\n");
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (set_ctl_xattr(argv[i], SAT_XATTR_REFRESH, "refresh"))
			ret = 1;
	return ret;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int cmd_cache(int argc, char **argv)
{
	bool clear = false;
	char *before = NULL, *text;
	const char *mount;

	if (argc == 3 && strcmp(argv[1], "--clear") == 0)
		clear = true;
	else if (argc != 2 || argv[1][0] == '-')
		goto usage;
	mount = argv[argc - 1];
	if (clear) {
		before = read_ctl_file(mount, SAT_CTL_CACHE);
		if (!before)
			return 1;
		if (set_ctl_xattr(mount, SAT_XATTR_CLEAR, "cache")) {
			free(before);
			return 1;
		}
	}
	text = read_ctl_file(mount, SAT_CTL_CACHE);
	if (!text) {
		free(before);
		return 1;
	}
	if (clear) {
		/* one header line, then one line per file */
		size_t was = count_lines(before) - 1,
		       left = count_lines(text) - 1;

		printf("removed %zu files; %zu %s open and stayed\n",
		       was > left ? was - left : 0, left,
		       left == 1 ? "was" : "were");
	}
	fputs(text, stdout);
	free(text);
	free(before);
	return 0;
usage:
	fprintf(stderr, "usage: satfs cache [--clear] MOUNTPOINT\n");
	return 2;
}

int sat_ctl_main(int argc, char **argv)
{
	if (strcmp(argv[0], "status") == 0)
		return cmd_status(argc, argv);
	if (strcmp(argv[0], "prefetch") == 0)
		return cmd_prefetch(argc, argv);
	if (strcmp(argv[0], "refresh") == 0)
		return cmd_refresh(argc, argv);
	if (strcmp(argv[0], "cache") == 0)
		return cmd_cache(argc, argv);
	return 2;
}
