/* Unit tests for the cache module's shared descriptors and its regions
 * file (fs/cache.c). Eviction and clearing: test_cache_clear.c. */
#include "satest.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "satfs/cache.h"

static const char ka[] =
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void put_file(struct sat_cache *c, const char *key, size_t size)
{
	char tmp[4096], *buf = calloc(1, size);
	int fd;

	CHECK(buf != NULL);
	CHECK_INT(sat_cache_create_tmp(c, SAT_CACHE_FILE, key, tmp,
				       sizeof(tmp), &fd), 0);
	CHECK(write(fd, buf, size) == (ssize_t)size);
	CHECK_INT(sat_cache_publish(c, SAT_CACHE_FILE, key, tmp, fd), 0);
	free(buf);
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* 2,000 opens of one file hold one descriptor; it closes with the last. */
SAT_TEST(opens_share_one_descriptor)
{
	struct sat_cache *c;
	uint64_t size = 0;
	int fd, first = -1, before;

	CHECK_INT(sat_cache_new(&c, satest_tmpdir(), 0), 0);
	put_file(c, ka, 5000);
	before = open_fds();
	for (int i = 0; i < 2000; i++) {
		CHECK_INT(sat_cache_open_file(c, ka, &fd, &size), 0);
		CHECK_INT(size, 5000);
		if (i == 0)
			first = fd;
		CHECK_INT(fd, first);
	}
	CHECK_INT(open_fds(), before + 1);
	for (int i = 0; i < 1999; i++)
		sat_cache_close_file(c, ka);
	CHECK(fcntl(first, F_GETFD) >= 0); /* one open left */
	CHECK(lseek(first, 0, SEEK_END) == 5000);
	sat_cache_close_file(c, ka);
	CHECK_INT(open_fds(), before);
	sat_cache_free(c);
}

/* A render's pin and an open of the same key: the descriptor lives until
 * both are gone, and a missing file is not pinned by a failed open. */
SAT_TEST(pin_and_open_share_the_count)
{
	struct sat_cache *c;
	int fd, before;

	CHECK_INT(sat_cache_new(&c, satest_tmpdir(), 0), 0);
	CHECK_INT(sat_cache_open_file(c, ka, &fd, NULL), -ENOENT);
	CHECK_INT(fd, -1);
	CHECK_INT(sat_cache_pin(c, ka), 0);
	put_file(c, ka, 100);
	before = open_fds();
	CHECK_INT(sat_cache_open_file(c, ka, &fd, NULL), 0);
	CHECK_INT(open_fds(), before + 1);
	sat_cache_unpin(c, ka); /* the render's */
	CHECK(fcntl(fd, F_GETFD) >= 0);
	sat_cache_close_file(c, ka);
	CHECK_INT(open_fds(), before);
	sat_cache_free(c);
}

/* The regions file: in order, 0600, atomic (no temporaries left), and a
 * looser file left by an older version is made private at start. */
SAT_TEST(regions_saved_private_and_in_order)
{
	const char *names[] = { "@8.39,-82.43,0.09", "bbox=1,2,3,4",
				"@1,2,5km,2024-01-01..2024-02-01" };
	const char *dir = satest_tmpdir();
	char path[4096], **got;
	struct sat_cache *c;
	struct stat st;
	size_t n;

	CHECK_INT(sat_cache_new(&c, dir, 0), 0);
	CHECK_INT(sat_cache_load_regions(c, &got, &n), 0);
	CHECK_INT(n, 0);
	free(got);
	CHECK_INT(sat_cache_save_regions(c, names, 3), 0);
	snprintf(path, sizeof(path), "%s/regions", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(sat_cache_load_regions(c, &got, &n), 0);
	CHECK_INT(n, 3);
	for (size_t i = 0; i < n; i++) {
		CHECK_STR(got[i], names[i]);
		free(got[i]);
	}
	free(got);
	CHECK_INT(sat_cache_save_regions(c, names + 2, 1), 0);
	CHECK_INT(sat_cache_load_regions(c, &got, &n), 0);
	CHECK_INT(n, 1);
	CHECK_STR(got[0], names[2]);
	free(got[0]);
	free(got);
	sat_cache_free(c);

	/* an older version's file, and a leftover temporary */
	CHECK_INT(chmod(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/regions.tmp-4242-0", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fclose(f);
	CHECK_INT(sat_cache_new(&c, dir, 0), 0);
	CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/regions", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	sat_cache_free(c);
}
