/* Unit tests for the cache module's shared descriptors and its regions
 * file (fs/cache.c). Eviction and clearing: test_cache_clear.c. */
#include "satest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The digest of a whole file (the reference: xxhsum's). */
static void file_digest(int fd, char hex[SAT_FILEHASH_HEX])
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	satest_xxh128sum(path, hex);
}

/* Writes len bytes of pattern seed at pos, and tells fh. */
static void put_at(int fd, struct sat_filehash *fh, uint64_t pos,
		   size_t len, unsigned seed)
{
	uint8_t buf[3000];

	CHECK(len <= sizeof(buf));
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
	CHECK(pwrite(fd, buf, len, (off_t)pos) == (ssize_t)len);
	sat_filehash_wrote(fh, pos, buf, len);
}

/* The digest taken while writing is the file's own XXH3-128 whatever the
 * order of the writes; it reads back only what it could not hash in
 * order: nothing for a file written in order (a header announced, then
 * rewritten last), the tail after a gap, everything after a hashed byte
 * was overwritten or the announced header turned out wrong. */
SAT_TEST(filehash_is_the_file_digest)
{
	static const struct {
		const char *what;
		uint64_t read_back; /* UINT64_MAX: the whole file */
	} cases[] = {
		{ "in order", 0 },
		{ "header announced, rewritten last", 0 },
		{ "a gap, then the rest", 2500 },
		{ "hashed bytes overwritten", UINT64_MAX },
		{ "header announced wrongly", UINT64_MAX },
	};
	char path[512], want[SAT_FILEHASH_HEX], got[SAT_FILEHASH_HEX];

	snprintf(path, sizeof(path), "%s/fh", satest_tmpdir());
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct sat_filehash fh;
		uint8_t head[8];
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

		CHECK(fd >= 0);
		sat_filehash_init(&fh);
		if (k == 1 || k == 4) {
			for (int i = 0; i < 8; i++)
				head[i] = (uint8_t)(9 * 31 + i * 7);
			head[0] ^= k == 4 ? 1 : 0; /* not what comes */
			sat_filehash_expect(&fh, head, sizeof(head));
			put_at(fd, &fh, 0, 8, 1); /* a placeholder */
		} else {
			put_at(fd, &fh, 0, 8, 2);
		}
		put_at(fd, &fh, 8, 3000, 3);
		if (k == 2) {
			put_at(fd, &fh, 3008 + 1000, 1500, 4);
			put_at(fd, &fh, 3008, 1000, 5); /* the gap, later */
		} else {
			put_at(fd, &fh, 3008, 2500, 4);
		}
		if (k == 3)
			put_at(fd, &fh, 100, 10, 6);
		if (k == 1 || k == 4)
			put_at(fd, &fh, 0, 8, 9); /* the header, last */
		CHECK_INT(sat_filehash_final(&fh, fd, got), 0);
		file_digest(fd, want);
		if (strcmp(got, want) != 0)
			satest_fail(__FILE__, __LINE__, cases[k].what,
				    "not the file's digest");
		if (fh.read_back != (cases[k].read_back == UINT64_MAX
					     ? 5508
					     : cases[k].read_back)) {
			char d[64];

			snprintf(d, sizeof(d), "%llu bytes read back",
				 (unsigned long long)fh.read_back);
			satest_fail(__FILE__, __LINE__, cases[k].what, d);
		}
		close(fd);
	}
}

/* A key of 64 hex digits made of n. */
static void key_of(unsigned n, char key[SAT_HASH_HEX])
{
	snprintf(key, SAT_HASH_HEX, "%064x", n);
}

/* Is some thread of this process at nice 19 (the background writer)?
 * Asked for up to 5 s: the thread sets it once it runs. */
static bool a_thread_at_nice_19(void)
{
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *de;
		bool found = false;

		CHECK(d != NULL);
		while (!found && (de = readdir(d))) {
			char path[300], line[1024], *p;
			FILE *f;
			int field = 0;

			snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
				 de->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			/* after "(comm)": the state is field 3, nice 19 */
			if (fgets(line, sizeof(line), f) &&
			    (p = strrchr(line, ')')))
				for (p = strtok(p + 1, " "); p && !found;
				     p = strtok(NULL, " "))
					found = ++field == 17 &&
						strtol(p, NULL, 10) == 19;
			fclose(f);
		}
		closedir(d);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

/* Entries written later: readable at once, from the queue or the disk;
 * a write or a removal of the key afterwards, or clearing the cache (for
 * headers), wins over the queued one; a queue over its bytes has the
 * caller write; what is left is on disk once the cache is freed; the
 * writer runs at nice 19. */
SAT_TEST(write_later)
{
	struct sat_cache *c;
	char key[SAT_HASH_HEX], want[64], *data, *big;
	size_t len;

	CHECK_INT(sat_cache_new(&c, satest_tmpdir(), 0), 0);
	sat_cache_hold_later(c, true);
	for (unsigned i = 0; i < 100; i++) {
		key_of(i, key);
		snprintf(want, sizeof(want), "header %u", i);
		CHECK_INT(sat_cache_write_later(c, SAT_CACHE_HEADER, key, want,
						strlen(want)),
			  0);
	}
	CHECK(a_thread_at_nice_19());
	for (unsigned i = 0; i < 100; i++) {
		char path[4096];
		struct stat st;

		key_of(i, key);
		sat_cache_path(c, SAT_CACHE_HEADER, key, path, sizeof(path));
		CHECK(stat(path, &st) != 0); /* held: still queued */
		snprintf(want, sizeof(want), "header %u", i);
		CHECK_INT(sat_cache_read(c, SAT_CACHE_HEADER, key, &data, &len,
					 NULL),
			  0);
		CHECK_STR(data, want);
		CHECK_INT(len, strlen(want));
		free(data);
	}
	key_of(1000, key);
	CHECK_INT(sat_cache_write_later(c, SAT_CACHE_HEADER, key, "old", 3), 0);
	CHECK_INT(sat_cache_write(c, SAT_CACHE_HEADER, key, "new", 3), 0);
	key_of(1001, key);
	CHECK_INT(sat_cache_write_later(c, SAT_CACHE_LISTING, key, "x", 1), 0);
	CHECK_INT(sat_cache_remove(c, SAT_CACHE_LISTING, key), 0); /* queued */
	CHECK_INT(sat_cache_read(c, SAT_CACHE_LISTING, key, &data, &len, NULL),
		  -ENOENT);
	sat_cache_hold_later(c, false);
	/* 9 x 4 MiB: more than the queue holds */
	big = malloc(4u << 20);
	CHECK(big != NULL);
	for (unsigned i = 0; i < 9; i++) {
		memset(big, 'a' + (int)i, 4u << 20);
		key_of(2000 + i, key);
		CHECK_INT(sat_cache_write_later(c, SAT_CACHE_HEADER, key, big,
						4u << 20),
			  0);
	}
	sat_cache_free(c);

	CHECK_INT(sat_cache_new(&c, satest_tmpdir(), 0), 0);
	for (unsigned i = 0; i < 100; i += 7) {
		char path[4096];
		struct stat st;

		key_of(i, key);
		sat_cache_path(c, SAT_CACHE_HEADER, key, path, sizeof(path));
		CHECK_INT(stat(path, &st), 0);
		snprintf(want, sizeof(want), "header %u", i);
		CHECK_INT(st.st_size, strlen(want));
	}
	key_of(1000, key);
	CHECK_INT(sat_cache_read(c, SAT_CACHE_HEADER, key, &data, &len, NULL),
		  0);
	CHECK_STR(data, "new");
	free(data);
	key_of(1001, key);
	CHECK_INT(sat_cache_read(c, SAT_CACHE_LISTING, key, &data, &len, NULL),
		  -ENOENT);
	for (unsigned i = 0; i < 9; i++) {
		key_of(2000 + i, key);
		CHECK_INT(sat_cache_read(c, SAT_CACHE_HEADER, key, &data, &len,
					 NULL),
			  0);
		CHECK_INT(len, 4u << 20);
		CHECK(data[0] == 'a' + (int)i && data[len - 1] == 'a' + (int)i);
		free(data);
	}
	free(big);

	/* clearing the cache drops the headers still queued */
	sat_cache_hold_later(c, true);
	key_of(1002, key);
	CHECK_INT(sat_cache_write_later(c, SAT_CACHE_HEADER, key, "h", 1), 0);
	{
		uint64_t files, bytes;

		CHECK_INT(sat_cache_clear_files(c, &files, &bytes), 0);
	}
	CHECK_INT(sat_cache_read(c, SAT_CACHE_HEADER, key, &data, &len, NULL),
		  -ENOENT);
	sat_cache_hold_later(c, false);
	sat_cache_free(c);
	CHECK_INT(sat_cache_new(&c, satest_tmpdir(), 0), 0);
	CHECK_INT(sat_cache_read(c, SAT_CACHE_HEADER, key, &data, &len, NULL),
		  -ENOENT);
	sat_cache_free(c);
}
