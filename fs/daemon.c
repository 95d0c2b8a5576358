/* daemon: see daemon.h. */
#include "daemon.h"
#include "satfs/config.h"
#include "satfs/core.h"
#include "satfs/log.h"
#include "satfs/source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The daemon's parent waits, holding the user's terminal, until the child
 * says the mount is up (a 0 byte on the pipe) or failed (its exit status
 * as a byte, after the message on stderr); a child that dies without a
 * word is waited for. So `satfs DIR` exits 0 only when DIR is mounted,
 * and otherwise with the child's status and its message on stderr.
 * Returns, in the child, the pipe's write end; never returns in the
 * parent; -1 (the message printed) when it cannot fork. */
int sat_daemon_detach(void)
{
	unsigned char b;
	int p[2], st;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		fprintf(stderr, "satfs: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "satfs: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (setsid() < 0)
			sat_debug("setsid: %s", strerror(errno));
		return p[1];
	}
	close(p[1]);
	do
		n = read(p[0], &b, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(b);
	/* it died before saying anything */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		_exit(WEXITSTATUS(st));
	fprintf(stderr, "satfs: the daemon ended before the mount was up%s\n",
		WIFSIGNALED(st) ? " (killed by a signal)" : "");
	_exit(1);
}

/* The child tells its parent (status 0: mounted) and lets go of the
 * terminal. */
void sat_daemon_report(int *fd, int status)
{
	unsigned char b = (unsigned char)status;
	int null;

	if (*fd < 0)
		return;
	if (status == 0) {
		/* as fuse_daemonize(): the daemon keeps no terminal */
		if (chdir("/") != 0)
			sat_debug("chdir /: %s", strerror(errno));
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
	if (write(*fd, &b, 1) != 1)
		sat_debug("cannot report to the parent: %s", strerror(errno));
	close(*fd);
	*fd = -1;
}

/* "\040" and friends in /proc/self/mountinfo, in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Is the absolute path dir the mount point of a satfs mount? From
 * /proc/self/mountinfo, without touching dir (a satfs that hangs would
 * hang a stat). */
static bool is_satfs_mount(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], *mp, *sep, *type;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - TYPE SOURCE ... */
		char *save = NULL, *tok = strtok_r(line, " ", &save);

		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		mp = tok;
		sep = strstr(save ? save : "", " - ");
		if (!sep)
			continue;
		type = strtok_r(sep + 3, " ", &save);
		unescape_octal(mp);
		found = type && strcmp(type, "fuse.satfs") == 0 &&
			strcmp(mp, dir) == 0;
	}
	fclose(f);
	return found;
}

/* The mount point must be a directory, and not a satfs mount already
 * (mounting again would stack a second satfs over the first). 0, or 1
 * with the message logged. */
int sat_daemon_check_mountpoint(const char *mnt)
{
	char parent[PATH_MAX], abs[PATH_MAX], *slash, *copy;
	const char *base;
	struct stat st;

	copy = strdup(mnt);
	if (!copy)
		return 1;
	/* the parent resolved, the last name as given: realpath() of the
	 * mount point itself would stat it */
	slash = strrchr(copy, '/');
	while (slash && slash > copy && slash[1] == '\0') {
		*slash = '\0';
		slash = strrchr(copy, '/');
	}
	base = slash ? slash + 1 : copy;
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (copy[0] ? copy : "/") : ".", parent)) {
		sat_error("mount point %s: %s", mnt, strerror(errno));
		free(copy);
		return 1;
	}
	if ((size_t)snprintf(abs, sizeof(abs), "%s%s%s", parent,
			     strcmp(parent, "/") ? "/" : "", base) >=
	    sizeof(abs)) {
		sat_error("mount point %s: its path is too long", mnt);
		free(copy);
		return 1;
	}
	free(copy);
	if (is_satfs_mount(abs)) {
		sat_error("mount point %s is a satfs mount already (unmount it "
			  "first: fusermount3 -u %s)", mnt, mnt);
		return 1;
	}
	if (stat(mnt, &st) != 0) {
		sat_error("mount point %s: %s", mnt, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		sat_error("mount point %s is not a directory", mnt);
		return 1;
	}
	return 0;
}

/* A catalog that cannot be reached at mount time is worth a warning, not
 * a refusal: the cache serves what it has (offline use is valid). */
void sat_daemon_probe_catalog(struct sat_core *core,
			      const struct sat_config *cfg)
{
	const struct sat_source_ops *ops = core->source->ops;
	char why[1024];
	int ms = cfg->timeout_s < 5 ? cfg->timeout_s * 1000 : 5000;

	if (cfg->offline || !ops->probe)
		return;
	if (ops->probe(core->source, ms, why, sizeof(why)) != 0)
		sat_warn("the catalog cannot be reached now (%s); listings "
			 "fail until it can, and what the cache holds is "
			 "served", why);
}
