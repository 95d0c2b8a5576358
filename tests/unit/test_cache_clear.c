/*
 * Tests of the cache's listing and clearing (satfs cache [--clear]): files
 * someone has open stay, temporaries of renders in flight stay, the rest
 * and the COG headers go, and the counters follow.
 */
#include "satest.h"
#include "satfs/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static void put(struct sat_cache *c, enum sat_cache_kind kind, char key[65],
		const char *name, size_t size)
{
	char *buf = calloc(1, size);
	struct sat_hash h;

	sat_hash_init(&h);
	sat_hash_add_str(&h, name);
	sat_hash_final(&h, key);
	CHECK_INT(sat_cache_write(c, kind, key, buf, size), 0);
	free(buf);
}

SAT_TEST(clear_keeps_open_files)
{
	char a[SAT_HASH_HEX], b[SAT_HASH_HEX], hd[SAT_HASH_HEX],
		tmp[4096];
	struct sat_cache_file_info *v;
	struct sat_cache_stats st;
	struct sat_cache *c;
	uint64_t files, bytes, size;
	size_t n, dlen;
	char *data = NULL;
	int fd, tfd;

	CHECK_INT(sat_cache_new(&c, satest_tmpdir(), 0), 0);
	put(c, SAT_CACHE_FILE, a, "a", 1000);
	put(c, SAT_CACHE_FILE, b, "b", 3000);
	put(c, SAT_CACHE_HEADER, hd, "h", 100);
	CHECK_INT(sat_cache_create_tmp(c, SAT_CACHE_FILE, a, tmp, sizeof(tmp),
				       &tfd), 0);
	CHECK_INT(sat_cache_open_file(c, b, &fd, &size), 0);
	CHECK_INT(sat_cache_list_files(c, &v, &n), 0);
	CHECK_INT(n, 2); /* not the temporary */
	for (size_t i = 0; i < n; i++)
		CHECK(v[i].open == (strcmp(v[i].key, b) == 0));
	free(v);

	CHECK_INT(sat_cache_clear_files(c, &files, &bytes), 0);
	CHECK_INT(files, 1);
	CHECK_INT(bytes, 1000);
	CHECK(!sat_cache_has_file(c, a));
	CHECK(sat_cache_has_file(c, b));
	CHECK(access(tmp, F_OK) == 0); /* a render in flight is untouched */
	CHECK(sat_cache_read(c, SAT_CACHE_HEADER, hd, &data, &dlen, NULL) ==
	      -ENOENT);
	sat_cache_get_stats(c, &st);
	CHECK_INT(st.files, 1);
	CHECK_INT(st.file_bytes, 3000);
	/* the open file reads as before */
	CHECK(lseek(fd, 0, SEEK_END) == 3000);
	sat_cache_close_file(c, b);
	CHECK_INT(sat_cache_clear_files(c, &files, &bytes), 0);
	CHECK_INT(files, 1);
	CHECK(!sat_cache_has_file(c, b));
	CHECK_INT(sat_cache_publish(c, SAT_CACHE_FILE, a, tmp, tfd), 0);
	CHECK(sat_cache_has_file(c, a));
	sat_cache_free(c);
}
