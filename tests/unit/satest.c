/* satest: registry, runner and helpers; see satest.h. */
#include "satest.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SATEST_MAX 512

static struct {
	const char *name;
	satest_fn fn;
} cases[SATEST_MAX];
static int ncases;
static const char *current;

void satest_register(const char *name, satest_fn fn)
{
	if (ncases == SATEST_MAX) {
		fprintf(stderr, "satest: too many cases\n");
		exit(1);
	}
	cases[ncases].name = name;
	cases[ncases].fn = fn;
	ncases++;
}

void satest_fail(const char *file, int line, const char *expr,
		 const char *detail)
{
	fprintf(stderr, "FAIL %s: %s:%d: %s%s%s\n", current ? current : "?",
		file, line, expr, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

void satest_skip(const char *why)
{
	const char *ci = getenv("CI");

	if (ci && strcmp(ci, "true") == 0) {
		fprintf(stderr, "FAIL %s: would skip under CI=true: %s\n",
			current ? current : "?", why);
		exit(1);
	}
	fprintf(stderr, "SKIP %s: %s\n", current ? current : "?", why);
	exit(77);
}

const char *satest_src(const char *relpath)
{
	static char buf[4096];
	const char *top = getenv("SATFS_SOURCE_DIR");

	snprintf(buf, sizeof(buf), "%s/%s", top ? top : ".", relpath);
	return buf;
}

const char *satest_data(const char *relpath)
{
	static char buf[4096];
	const char *top = getenv("SATFS_SOURCE_DIR");
	char detail[4200];
	struct stat st;

	snprintf(buf, sizeof(buf), "%s/tests/data/%s", top ? top : ".",
		 relpath);
	if (stat(buf, &st) != 0) {
		snprintf(detail, sizeof(detail), "%s: %s (SATFS_SOURCE_DIR=%s)",
			 buf, strerror(errno), top ? top : "unset");
		satest_fail(__FILE__, __LINE__, "test data present", detail);
	}
	return buf;
}

void satest_need_program(const char *program)
{
	char cmd[512], detail[600];

	snprintf(cmd, sizeof(cmd), "command -v '%s' >/dev/null 2>&1", program);
	if (system(cmd) != 0) {
		snprintf(detail, sizeof(detail),
			 "%s is not on PATH (scripts/deps test installs it)",
			 program);
		satest_fail(__FILE__, __LINE__, "program present", detail);
	}
}

const char *satest_tmpdir(void)
{
	static char buf[256];

	if (buf[0])
		return buf;
	snprintf(buf, sizeof(buf), "/tmp/satest-%s-XXXXXX",
		 current ? current : "x");
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		exit(1);
	}
	return buf;
}

char *satest_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f) {
		fprintf(stderr, "satest: cannot open %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "satest: cannot read %s\n", path);
		exit(1);
	}
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

void satest_xxh128sum(const char *path, char hex[33])
{
	char cmd[1200];
	FILE *p;
	int n;

	snprintf(cmd, sizeof(cmd), "xxhsum -H2 '%s'", path);
	p = popen(cmd, "r");
	n = p ? fscanf(p, "%32[0-9a-f]", hex) : 0;
	if (!p || pclose(p) != 0 || n != 1 || strlen(hex) != 32) {
		fprintf(stderr, "satest: %s: no digest\n", cmd);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int i, failed = 0, skipped = 0;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < ncases; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc > 1) {
		for (i = 0; i < ncases; i++) {
			if (strcmp(argv[1], cases[i].name) != 0)
				continue;
			current = cases[i].name;
			cases[i].fn();
			fprintf(stderr, "ok %s\n", current);
			return 0;
		}
		fprintf(stderr, "satest: no case named %s\n", argv[1]);
		return 1;
	}
	/* Every case, each in a process of its own as ctest runs them: a
	 * case must not find the servers, caches and directories of the
	 * cases before it. */
	for (i = 0; i < ncases; i++) {
		int status;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			perror("satest: fork");
			return 1;
		}
		if (pid == 0) {
			current = cases[i].name;
			cases[i].fn();
			fprintf(stderr, "ok %s\n", current);
			exit(0); /* atexit cleanups run, as in a run of one */
		}
		if (waitpid(pid, &status, 0) < 0) {
			perror("satest: waitpid");
			return 1;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			skipped++;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	fprintf(stderr, "satest: %d cases, %d failed, %d skipped\n", ncases,
		failed, skipped);
	return failed ? 1 : 0;
}
