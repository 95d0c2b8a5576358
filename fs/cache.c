/*
 * cache: see include/satfs/cache.h.
 *
 * Threading: c->lock protects the pin list and the byte counters; disk I/O
 * happens outside it, but for the open(2) of a rendered file, which is
 * under it so that no eviction slips between the check and the pin. Recency
 * for the LRU is the file's mtime, refreshed on every open, so it survives
 * remounts without a separate index.
 *
 * A pin counts the renders about to publish a key and the opens of its
 * file; the opens share one descriptor, kept in the pin and closed with
 * the last of them.
 */
#include "satfs/cache.h"
#include "cache_private.h"
#include "satfs/bufpool.h"
#include "satfs/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static const char *const kind_dirs[SAT_CACHE_NKINDS] = { "listings",
							 "headers", "files" };
static const char *const kind_suffix[SAT_CACHE_NKINDS] = { ".listing",
							   ".hdr", ".tif" };

struct pin {
	struct pin *next;
	char key[SAT_HASH_HEX];
	unsigned count;
	int fd;      /* shared by the opens of the file, or -1 */
};

#define REGIONS_FILE "regions"
#define LOCK_FILE "lock"
/* A rendered file's digest (include/satfs/cache.h), recorded at
 * publication; before 2026-12, its SHA-256 under the second name, still
 * checked on files that have only that one */
#define DIGEST_XATTR "user.satfs.xxh128"
#define OLD_DIGEST_XATTR "user.satfs.sha256"
#define VERIFIED_MAX 4096 /* keys checked this mount, remembered */
#define REGIONS_MAX_BYTES (1u << 20)

struct sat_cache {
	char *dir;
	uint64_t max_bytes;
	pthread_mutex_t lock;
	struct pin *pins;     /* protected by lock */
	uint64_t file_bytes;  /* protected by lock */
	uint64_t files;       /* protected by lock */
	uint64_t evictions;   /* protected by lock */
	atomic_uint tmp_seq;
	int lock_fd;          /* holds the directory's lock; -1 */
	/* rendered files whose digest was checked (or recorded) since the
	 * mount; emptied when full, which costs a check again */
	char (*verified)[SAT_HASH_HEX]; /* protected by lock */
	size_t nverified;               /* protected by lock */
	atomic_bool no_xattr; /* the file system keeps no digests */
	struct cache_later *later; /* entries written in the background;
				      NULL: written at once */
};

void sat_hash_init(struct sat_hash *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
		abort(); /* out of memory in OpenSSL: nothing sane to do */
}

void sat_hash_add(struct sat_hash *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void sat_hash_add_str(struct sat_hash *h, const char *s)
{
	if (!s)
		s = "";
	EVP_DigestUpdate(h->ctx, s, strlen(s) + 1);
}

void sat_hash_add_double(struct sat_hash *h, double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.17g", v);
	sat_hash_add_str(h, buf);
}

void sat_hash_final(struct sat_hash *h, char hex[SAT_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
	for (i = 0; i < 32 && i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	char *p;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Removes temporaries left by a crash and counts the rendered files. */
static void scan_kind(struct sat_cache *c, enum sat_cache_kind kind)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", c->dir, kind_dirs[kind]);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (strstr(de->d_name, ".tmp-")) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				sat_info("cache: removed leftover %s/%s",
					 kind_dirs[kind], de->d_name);
			continue;
		}
		if (kind == SAT_CACHE_FILE && S_ISREG(st.st_mode)) {
			c->file_bytes += (uint64_t)st.st_size;
			c->files++;
		}
	}
	closedir(d);
}

/* Removes temporaries of the files at the top (regions) and makes the
 * regions file private, whatever an older version left. */
static void scan_top(struct sat_cache *c)
{
	struct dirent *de;
	DIR *d = opendir(c->dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, REGIONS_FILE ".tmp-",
			    sizeof(REGIONS_FILE ".tmp-") - 1) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	if (fchmodat(dirfd(d), REGIONS_FILE, 0600, 0) != 0 && errno != ENOENT)
		sat_warn("cache: cannot chmod %s/%s: %s", c->dir, REGIONS_FILE,
			 strerror(errno));
	closedir(d);
}

/* One mount per cache directory: a second one would delete the first
 * one's temporaries at start and evict its files under it. A POSIX
 * record lock on DIR/lock, held by the daemon's process for its life (the
 * kernel drops it when the process ends, however it ends), and the
 * holder's pid from F_GETLK for the refusal. The file also holds the pid
 * as text, for people. Returns the descriptor, or -EBUSY (logged, naming
 * the holder) or -errno. */
static int lock_dir(const char *dir)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[4096], pid[32];
	int fd, n, tries;

	snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		n = -errno;
		sat_error("cache: cannot open %s: %s", path, strerror(errno));
		return n;
	}
	for (tries = 0; tries < 3; tries++) {
		fl.l_type = F_WRLCK;
		if (fcntl(fd, F_SETLK, &fl) == 0) {
			n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
			if (ftruncate(fd, 0) != 0 ||
			    pwrite(fd, pid, (size_t)n, 0) != n)
				sat_debug("cache: cannot write %s", path);
			return fd;
		}
		if (errno != EACCES && errno != EAGAIN)
			break;
		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
			sat_error("cache: %s is in use by process %ld (another "
				  "satfs mount); a cache directory serves one "
				  "mount at a time: give this one its own "
				  "(-o cache=DIR)", dir, (long)fl.l_pid);
			close(fd);
			return -EBUSY;
		}
		/* the holder went between the two calls: try again */
	}
	n = -errno;
	sat_error("cache: cannot lock %s: %s", path, strerror(errno));
	close(fd);
	return n;
}

int sat_cache_new(struct sat_cache **out, const char *dir,
		  uint64_t max_bytes)
{
	struct sat_cache *c;
	char path[4096];
	int i, err;

	*out = NULL;
	err = mkdir_p(dir);
	if (err) {
		sat_error("cache: cannot create %s: %s", dir, strerror(-err));
		return err;
	}
	if (chmod(dir, 0700) != 0) {
		err = -errno;
		sat_error("cache: cannot chmod %s: %s", dir, strerror(errno));
		return err;
	}
	for (i = 0; i < SAT_CACHE_NKINDS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, kind_dirs[i]);
		/* chmod too: a directory made earlier (by hand, or with
		 * another umask) may be looser than the layout promises */
		if ((mkdir(path, 0700) != 0 && errno != EEXIST) ||
		    chmod(path, 0700) != 0) {
			err = -errno;
			sat_error("cache: cannot create %s: %s", path,
				  strerror(errno));
			return err;
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dir = strdup(dir);
	if (!c->dir) {
		free(c);
		return -ENOMEM;
	}
	/* before the scan below removes "leftover" temporaries, which are
	 * another mount's renders in flight if it is still running */
	c->lock_fd = lock_dir(dir);
	if (c->lock_fd < 0) {
		err = c->lock_fd;
		free(c->dir);
		free(c);
		return err;
	}
	c->max_bytes = max_bytes;
	c->later = cache_later_new(c);
	pthread_mutex_init(&c->lock, NULL);
	for (i = 0; i < SAT_CACHE_NKINDS; i++)
		scan_kind(c, (enum sat_cache_kind)i);
	scan_top(c);
	*out = c;
	return 0;
}

void sat_cache_free(struct sat_cache *c)
{
	struct pin *p, *next;

	if (!c)
		return;
	cache_later_free(c->later); /* writes what is left */
	for (p = c->pins; p; p = next) {
		next = p->next;
		if (p->fd >= 0)
			close(p->fd);
		free(p);
	}
	pthread_mutex_destroy(&c->lock);
	if (c->lock_fd >= 0)
		close(c->lock_fd); /* and the lock with it */
	free(c->verified);
	free(c->dir);
	free(c);
}

const char *sat_cache_dir(const struct sat_cache *c)
{
	return c->dir;
}

void sat_cache_path(const struct sat_cache *c, enum sat_cache_kind kind,
		    const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%s%s", c->dir, kind_dirs[kind], key,
		 kind_suffix[kind]);
}

int sat_cache_read(struct sat_cache *c, enum sat_cache_kind kind,
		   const char *key, char **data, size_t *len, time_t *mtime)
{
	char path[4096];
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, err;

	*data = NULL;
	if (c->later && cache_later_get(c->later, kind, key, data, len) == 0) {
		if (mtime)
			*mtime = time(NULL); /* written as far as anyone knows */
		return 0;
	}
	sat_cache_path(c, kind, key, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return err;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	if (len)
		*len = got;
	if (mtime)
		*mtime = st.st_mtime;
	return 0;
}

int sat_cache_create_tmp(struct sat_cache *c, enum sat_cache_kind kind,
			 const char *key, char *tmp, size_t tmplen, int *fd)
{
	unsigned seq = atomic_fetch_add(&c->tmp_seq, 1);

	snprintf(tmp, tmplen, "%s/%s/%s%s.tmp-%d-%u", c->dir,
		 kind_dirs[kind], key, kind_suffix[kind], (int)getpid(), seq);
	*fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd < 0) {
		int err = -errno;

		/* the caller reports the failure, with this as its cause */
		sat_log_cause("cache: cannot create %s: %s", tmp,
			      strerror(errno));
		return err;
	}
	return 0;
}

void sat_cache_discard(const char *tmp, int fd)
{
	if (fd >= 0)
		close(fd);
	if (tmp && tmp[0])
		unlink(tmp);
}

static bool is_pinned_locked(struct sat_cache *c, const char *key)
{
	struct pin *p;

	for (p = c->pins; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return true;
	return false;
}

struct lru_entry {
	char name[SAT_HASH_HEX + 8];
	struct timespec used;
	uint64_t size;
};

static int lru_cmp(const void *a, const void *b)
{
	const struct lru_entry *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Deletes least recently used rendered files that nobody has open until
 * the total is under the cap. Runs after each publication. */
static void enforce_cap(struct sat_cache *c)
{
	struct lru_entry *v = NULL, *nv;
	size_t n = 0, cap = 0, i;
	char path[4096], key[SAT_HASH_HEX];
	struct dirent *de;
	struct stat st;
	uint64_t total = 0;
	DIR *d;

	if (c->max_bytes == 0)
		return;
	pthread_mutex_lock(&c->lock);
	total = c->file_bytes;
	pthread_mutex_unlock(&c->lock);
	if (total <= c->max_bytes)
		return;

	snprintf(path, sizeof(path), "%s/files", c->dir);
	d = opendir(path);
	if (!d)
		return;
	total = 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-") ||
		    len >= sizeof(v->name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		memcpy(v[n].name, de->d_name, len + 1);
		v[n].used = st.st_mtim;
		v[n].size = (uint64_t)st.st_size;
		total += v[n].size;
		n++;
	}
	qsort(v, n, sizeof(*v), lru_cmp);
	for (i = 0; i < n && total > c->max_bytes; i++) {
		bool pinned;

		snprintf(key, sizeof(key), "%.*s",
			 (int)strcspn(v[i].name, "."), v[i].name);
		pthread_mutex_lock(&c->lock);
		pinned = is_pinned_locked(c, key);
		/* unlink under the lock so that no open can pin it between
		 * the check and the removal */
		if (!pinned && unlinkat(dirfd(d), v[i].name, 0) == 0) {
			total -= v[i].size;
			c->evictions++;
			sat_debug("cache: evicted %s (%llu bytes)", v[i].name,
				  (unsigned long long)v[i].size);
		}
		pthread_mutex_unlock(&c->lock);
	}
	closedir(d);
	pthread_mutex_lock(&c->lock);
	c->file_bytes = total;
	c->files = n; /* approximate until the next scan; for status only */
	pthread_mutex_unlock(&c->lock);
	free(v);
}

/* Feeds the bytes of fd from offset `from` to its end to add(ctx, ...);
 * counts them into *read. 0 or -errno. */
static int read_file_from(int fd, uint64_t from, uint64_t *read,
			  void (*add)(void *ctx, const void *data, size_t len),
			  void *ctx)
{
	size_t cap = 1u << 20;
	char *buf = sat_buf_alloc(cap);
	uint64_t off = from;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while ((n = pread(fd, buf, cap, (off_t)off)) > 0) {
		add(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	*read += off - from;
	sat_buf_free(buf);
	return n < 0 ? -errno : 0;
}

static void xxh_add(void *state, const void *data, size_t len)
{
	XXH3_128bits_update(state, data, len);
}

void sat_filehash_init(struct sat_filehash *fh)
{
	memset(fh, 0, sizeof(*fh));
	fh->state = XXH3_createState();
	if (!fh->state || XXH3_128bits_reset(fh->state) != XXH_OK)
		abort(); /* out of memory for 600 bytes: nothing sane to do */
}

void sat_filehash_expect(struct sat_filehash *fh, const void *head, size_t n)
{
	if (fh->hashed || n > SAT_FILEHASH_EXPECT_MAX)
		return; /* too late or too long: nothing expected */
	memcpy(fh->expect, head, n);
	fh->nexpect = n;
	xxh_add(fh->state, head, n);
	fh->hashed = n;
}

void sat_filehash_wrote(struct sat_filehash *fh, uint64_t pos,
			const void *data, size_t len)
{
	const uint8_t *p = data;

	if (pos < fh->nexpect) { /* compared with the file at the end */
		size_t in_head = fh->nexpect - pos < len
					 ? (size_t)(fh->nexpect - pos)
					 : len;

		pos += in_head;
		p += in_head;
		len -= in_head;
	}
	if (!len || fh->overwritten)
		return;
	if (pos < fh->hashed)
		fh->overwritten = true;
	else if (pos > fh->hashed)
		fh->stalled = true;
	else if (!fh->stalled) {
		xxh_add(fh->state, p, len);
		fh->hashed += len;
	}
}

void sat_filehash_discard(struct sat_filehash *fh)
{
	XXH3_freeState(fh->state);
	fh->state = NULL;
}

int sat_filehash_final(struct sat_filehash *fh, int fd,
		       char hex[SAT_FILEHASH_HEX])
{
	uint8_t head[SAT_FILEHASH_EXPECT_MAX];
	uint64_t from = fh->hashed;
	XXH128_canonical_t c;
	int err;

	if (fh->nexpect &&
	    (pread(fd, head, fh->nexpect, 0) != (ssize_t)fh->nexpect ||
	     memcmp(head, fh->expect, fh->nexpect) != 0))
		fh->overwritten = true; /* the head is not the one announced */
	if (fh->overwritten) {
		XXH3_128bits_reset(fh->state);
		from = 0;
	}
	err = read_file_from(fd, from, &fh->read_back, xxh_add, fh->state);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(fh->state));
	for (size_t i = 0; i < sizeof(c.digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
	sat_filehash_discard(fh);
	return err;
}

/* The digest of the whole file at fd, read at explicit offsets. */
static int digest_fd(int fd, char hex[SAT_FILEHASH_HEX])
{
	struct sat_filehash fh;

	sat_filehash_init(&fh);
	return sat_filehash_final(&fh, fd, hex);
}

static void sha256_add(void *h, const void *data, size_t len)
{
	sat_hash_add(h, data, len);
}

/* The SHA-256 of the whole file at fd: the digest of files recorded
 * before XXH3 (OLD_DIGEST_XATTR). */
static int old_digest_fd(int fd, char hex[SAT_HASH_HEX])
{
	struct sat_hash h;
	uint64_t read = 0;
	int err;

	sat_hash_init(&h);
	err = read_file_from(fd, 0, &read, sha256_add, &h);
	sat_hash_final(&h, hex);
	return err;
}

static void verified_add(struct sat_cache *c, const char *key)
{
	pthread_mutex_lock(&c->lock);
	if (!c->verified)
		c->verified = calloc(VERIFIED_MAX, sizeof(*c->verified));
	if (c->verified) {
		if (c->nverified == VERIFIED_MAX)
			c->nverified = 0;
		snprintf(c->verified[c->nverified++], SAT_HASH_HEX, "%s", key);
	}
	pthread_mutex_unlock(&c->lock);
}

static bool verified_has(struct sat_cache *c, const char *key)
{
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nverified && !found; i++)
		found = strcmp(c->verified[i], key) == 0;
	pthread_mutex_unlock(&c->lock);
	return found;
}

static void verified_drop(struct sat_cache *c, const char *key)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nverified; i++)
		if (strcmp(c->verified[i], key) == 0) {
			memcpy(c->verified[i], c->verified[--c->nverified],
			       SAT_HASH_HEX);
			break;
		}
	pthread_mutex_unlock(&c->lock);
}

/* Records the digest of the rendered file at fd (from fh, when not NULL)
 * in its extended attribute: true when it did. The key counts as verified
 * only once the file is in place. A file system without
 * user xattrs keeps none (said once): its files are then checked for
 * their size only. */
static bool record_digest(struct sat_cache *c, int fd,
			  struct sat_filehash *fh)
{
	char hex[SAT_FILEHASH_HEX];
	int err;

	if (atomic_load(&c->no_xattr)) {
		if (fh)
			sat_filehash_discard(fh);
		return false;
	}
	err = fh ? sat_filehash_final(fh, fd, hex) : digest_fd(fd, hex);
	if (err) {
		sat_warn("cache: %s: cannot take a rendered file's digest (%s): "
			 "it is synced and checked for its size only", c->dir,
			 strerror(-err));
		return false;
	}
	if (fsetxattr(fd, DIGEST_XATTR, hex, SAT_FILEHASH_HEX - 1, 0) != 0) {
		if (!atomic_exchange(&c->no_xattr, true))
			sat_warn("cache: %s keeps no extended attributes (%s): "
				 "rendered files are checked for their size "
				 "only, not their digest", c->dir,
				 strerror(errno));
		return false;
	}
	return true;
}

int sat_cache_check_file(struct sat_cache *c, const char *key, int fd,
			 uint64_t size, char *why, size_t len)
{
	char want[SAT_HASH_HEX] = "", got[SAT_HASH_HEX];
	size_t hexlen = SAT_FILEHASH_HEX - 1;
	struct stat st;
	ssize_t n;
	int err;

	if (fstat(fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size != size) {
		snprintf(why, len, "%llu bytes, not the %llu its plan promises",
			 (unsigned long long)st.st_size,
			 (unsigned long long)size);
		return -EBADMSG;
	}
	if (size > SAT_CACHE_VERIFY_MAX || verified_has(c, key))
		return 0;
	n = fgetxattr(fd, DIGEST_XATTR, want, sizeof(want) - 1);
	if (n < 0) { /* an older satfs' file: its SHA-256 */
		hexlen = SAT_HASH_HEX - 1;
		n = fgetxattr(fd, OLD_DIGEST_XATTR, want, sizeof(want) - 1);
	}
	if (n != (ssize_t)hexlen) {
		verified_add(c, key); /* none recorded: nothing to compare */
		return 0;
	}
	want[n] = '\0';
	err = hexlen == SAT_HASH_HEX - 1 ? old_digest_fd(fd, got)
					 : digest_fd(fd, got);
	if (err)
		return err;
	if (strcmp(want, got) != 0) {
		snprintf(why, len, "its content does not match the digest "
			 "recorded when it was written (%.12s..., now %.12s...)",
			 want, got);
		return -EBADMSG;
	}
	/* an older satfs' file, sound: its XXH3-128 from now on (the
	 * SHA-256 is what costs; fine if the file system says no) */
	if (hexlen == SAT_HASH_HEX - 1 && digest_fd(fd, got) == 0)
		fsetxattr(fd, DIGEST_XATTR, got, SAT_FILEHASH_HEX - 1, 0);
	verified_add(c, key);
	return 0;
}

int sat_cache_open_checked(struct sat_cache *c, const char *key,
			   uint64_t size, int *fd, char *why, size_t len)
{
	int err = sat_cache_open_file(c, key, fd, NULL);

	if (err)
		return err;
	err = sat_cache_check_file(c, key, *fd, size, why, len);
	if (err) {
		sat_cache_close_file(c, key);
		if (err == -EBADMSG) /* never served */
			sat_cache_remove(c, SAT_CACHE_FILE, key);
	}
	return err;
}

static int publish(struct sat_cache *c, enum sat_cache_kind kind,
		   const char *key, const char *tmp, int fd,
		   struct sat_filehash *fh)
{
	char path[4096], dir[4096];
	struct stat st;
	int err = 0, dfd;
	bool durable = false, recorded = false;

	if (fstat(fd, &st) != 0) {
		err = -errno;
		if (fh)
			sat_filehash_discard(fh);
		goto failed;
	}
	/* Listings and headers are checked when read (magic, lengths, a
	 * full parse) and fetched again when they fail, so a power loss
	 * costs at most a refetch: no fsync. So for a rendered file whose
	 * digest its first open in a mount compares (docs/ARCHITECTURE.md
	 * "The cache", invariant 1). Any other rendered file is served as it
	 * is: its bytes reach the disk before its name does. The fsyncs
	 * cost 4 to 8 ms at the end of every cold render here. */
	if (kind == SAT_CACHE_FILE) {
		verified_drop(c, key); /* a new file under the key */
		recorded = record_digest(c, fd, fh);
		durable = !recorded ||
			  (uint64_t)st.st_size > SAT_CACHE_VERIFY_MAX;
	}
	if (durable && fsync(fd) != 0) {
		err = -errno;
		goto failed;
	}
	close(fd);
	sat_cache_path(c, kind, key, path, sizeof(path));
	if (rename(tmp, path) != 0) {
		err = -errno;
		sat_log_cause("cache: cannot rename %s: %s", tmp,
			      strerror(errno));
		unlink(tmp);
		return err;
	}
	snprintf(dir, sizeof(dir), "%s/%s", c->dir, kind_dirs[kind]);
	dfd = durable ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (recorded)
		verified_add(c, key); /* the file just hashed */
	if (kind == SAT_CACHE_FILE) {
		pthread_mutex_lock(&c->lock);
		c->file_bytes += (uint64_t)st.st_size;
		c->files++;
		pthread_mutex_unlock(&c->lock);
		enforce_cap(c);
	}
	return 0;
failed:
	sat_log_cause("cache: cannot sync %s: %s", tmp, strerror(-err));
	sat_cache_discard(tmp, fd);
	return err;
}

int sat_cache_publish(struct sat_cache *c, enum sat_cache_kind kind,
		      const char *key, const char *tmp, int fd)
{
	return publish(c, kind, key, tmp, fd, NULL);
}

int sat_cache_publish_file(struct sat_cache *c, const char *key,
			   const char *tmp, int fd, struct sat_filehash *fh)
{
	return publish(c, SAT_CACHE_FILE, key, tmp, fd, fh);
}

int sat_cache_write(struct sat_cache *c, enum sat_cache_kind kind,
		    const char *key, const void *data, size_t len)
{
	if (c->later) /* an older version waiting would land after this */
		cache_later_drop(c->later, kind, key);
	return cache_write_now(c, kind, key, data, len);
}

int sat_cache_write_later(struct sat_cache *c, enum sat_cache_kind kind,
			  const char *key, const void *data, size_t len)
{
	/* not queued (full, out of memory...): written at once */
	if (c->later && cache_later_put(c->later, kind, key, data, len) == 0)
		return 0;
	return sat_cache_write(c, kind, key, data, len);
}

void sat_cache_hold_later(struct sat_cache *c, bool hold)
{
	if (c->later)
		cache_later_hold(c->later, hold);
}

int cache_write_now(struct sat_cache *c, enum sat_cache_kind kind,
		    const char *key, const void *data, size_t len)
{
	char tmp[4096];
	const char *p = data;
	ssize_t n;
	int fd, err;

	err = sat_cache_create_tmp(c, kind, key, tmp, sizeof(tmp), &fd);
	if (err)
		return err;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			sat_log_cause("cache: cannot write %s: %s", tmp,
				      strerror(errno));
			sat_cache_discard(tmp, fd);
			return err;
		}
		p += n;
		len -= (size_t)n;
	}
	return sat_cache_publish(c, kind, key, tmp, fd);
}

static int pin_locked(struct sat_cache *c, const char *key)
{
	struct pin *p;

	for (p = c->pins; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			break;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		snprintf(p->key, sizeof(p->key), "%s", key);
		p->fd = -1;
		p->next = c->pins;
		c->pins = p;
	}
	p->count++;
	return 0;
}

static struct pin *find_pin_locked(struct sat_cache *c, const char *key)
{
	struct pin *p;

	for (p = c->pins; p; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	return NULL;
}

int sat_cache_pin(struct sat_cache *c, const char *key)
{
	int err;

	pthread_mutex_lock(&c->lock);
	err = pin_locked(c, key);
	pthread_mutex_unlock(&c->lock);
	return err;
}

int sat_cache_open_file(struct sat_cache *c, const char *key, int *fd,
			uint64_t *size)
{
	char path[4096];
	struct stat st;
	struct pin *p;
	int err;

	*fd = -1;
	sat_cache_path(c, SAT_CACHE_FILE, key, path, sizeof(path));
	pthread_mutex_lock(&c->lock);
	p = find_pin_locked(c, key);
	if (p && p->fd >= 0) {
		/* open already: share its descriptor */
		p->count++;
		*fd = p->fd;
		pthread_mutex_unlock(&c->lock);
	} else {
		int nfd = open(path, O_RDONLY | O_CLOEXEC);

		if (nfd < 0) {
			err = -errno;
			pthread_mutex_unlock(&c->lock);
			return err;
		}
		err = pin_locked(c, key);
		if (err) {
			pthread_mutex_unlock(&c->lock);
			close(nfd);
			return err;
		}
		p = find_pin_locked(c, key);
		p->fd = nfd;
		*fd = nfd;
		pthread_mutex_unlock(&c->lock);
	}
	if (size && fstat(*fd, &st) == 0)
		*size = (uint64_t)st.st_size;
	/* mark as recently used (the LRU clock); the cache dir is ours */
	futimens(*fd, NULL);
	return 0;
}

void sat_cache_unpin(struct sat_cache *c, const char *key)
{
	struct pin **pp, *p;
	bool last = false;
	int fd = -1;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->pins; (p = *pp); pp = &p->next) {
		if (strcmp(p->key, key) != 0)
			continue;
		if (--p->count == 0) {
			*pp = p->next;
			fd = p->fd;
			free(p);
			last = true;
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		close(fd);
	if (last)
		enforce_cap(c); /* cheap when under the cap */
}

void sat_cache_close_file(struct sat_cache *c, const char *key)
{
	sat_cache_unpin(c, key);
}

bool sat_cache_has_file(struct sat_cache *c, const char *key)
{
	char path[4096];

	sat_cache_path(c, SAT_CACHE_FILE, key, path, sizeof(path));
	return access(path, F_OK) == 0;
}

int sat_cache_remove(struct sat_cache *c, enum sat_cache_kind kind,
		     const char *key)
{
	char path[4096];
	struct stat st;
	bool queued = c->later && cache_later_drop(c->later, kind, key);

	sat_cache_path(c, kind, key, path, sizeof(path));
	if (kind == SAT_CACHE_FILE && stat(path, &st) != 0)
		return -errno;
	if (unlink(path) != 0)
		return queued && errno == ENOENT ? 0 : -errno;
	if (kind == SAT_CACHE_FILE) { /* the counters the cap goes by */
		pthread_mutex_lock(&c->lock);
		c->file_bytes -= c->file_bytes < (uint64_t)st.st_size
					 ? c->file_bytes : (uint64_t)st.st_size;
		c->files -= c->files ? 1 : 0;
		pthread_mutex_unlock(&c->lock);
		verified_drop(c, key);
	}
	return 0;
}

void sat_cache_get_stats(struct sat_cache *c, struct sat_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	st->file_bytes = c->file_bytes;
	st->files = c->files;
	st->evictions = c->evictions;
	pthread_mutex_unlock(&c->lock);
}

int sat_cache_list_files(struct sat_cache *c,
			 struct sat_cache_file_info **out, size_t *n)
{
	struct sat_cache_file_info *v = NULL, *nv;
	size_t count = 0, cap = 0, len;
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;

	*out = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/files", c->dir);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		len = strcspn(de->d_name, ".");
		if (len != SAT_HASH_HEX - 1 ||
		    strcmp(de->d_name + len, kind_suffix[SAT_CACHE_FILE]) != 0)
			continue; /* temporaries and strangers */
		if (fstatat(dirfd(d), de->d_name, &st, 0) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		memcpy(v[count].key, de->d_name, len);
		v[count].key[len] = '\0';
		v[count].size = (uint64_t)st.st_size;
		v[count].used = st.st_mtime;
		count++;
	}
	closedir(d);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < count; i++)
		v[i].open = is_pinned_locked(c, v[i].key);
	pthread_mutex_unlock(&c->lock);
	*out = v;
	*n = count;
	return 0;
}

int sat_cache_load_regions(struct sat_cache *c, char ***names, size_t *n)
{
	char path[4096], *data = NULL, *line, *next, **v = NULL;
	size_t count = 0, len;
	struct stat st;
	int fd, err = 0;

	*names = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", c->dir, REGIONS_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) != 0 || st.st_size > REGIONS_MAX_BYTES) {
		err = st.st_size > REGIONS_MAX_BYTES ? -EFBIG : -errno;
		sat_warn("cache: %s not read: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	len = (size_t)st.st_size;
	data = malloc(len + 1);
	if (!data || read(fd, data, len) != (ssize_t)len) {
		err = data ? -EIO : -ENOMEM;
		goto out;
	}
	data[len] = '\0';
	v = calloc(len / 2 + 1, sizeof(*v)); /* at most one name per 2 bytes */
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (line = data; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line || strlen(line) > SAT_CACHE_REGION_NAME_MAX)
			continue;
		v[count] = strdup(line);
		if (!v[count]) {
			err = -ENOMEM;
			break;
		}
		count++;
	}
out:
	close(fd);
	free(data);
	if (err) {
		while (count)
			free(v[--count]);
		free(v);
		return err;
	}
	*names = v;
	*n = count;
	return 0;
}

int sat_cache_save_regions(struct sat_cache *c, const char *const *names,
			   size_t n)
{
	unsigned seq = atomic_fetch_add(&c->tmp_seq, 1);
	char path[4096], tmp[4200];
	FILE *f;
	size_t i;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", c->dir, REGIONS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%u", path, (int)getpid(), seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	for (i = 0; i < n; i++)
		fprintf(f, "%s\n", names[i]);
	if (fflush(f) != 0 || ferror(f))
		err = -errno;
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (!err)
		return 0;
fail:
	if (!err)
		err = -EIO;
	unlink(tmp);
	sat_warn("cache: cannot write %s: %s", path, strerror(-err));
	return err;
}

/* Removes the entries of a directory that match suffix; with pins, only
 * those nobody has open. */
static void clear_dir(struct sat_cache *c, enum sat_cache_kind kind,
		      bool pins, uint64_t *files, uint64_t *bytes,
		      uint64_t *kept_files, uint64_t *kept_bytes)
{
	char path[4096], key[SAT_HASH_HEX];
	struct dirent *de;
	struct stat st;
	size_t len;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", c->dir, kind_dirs[kind]);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		bool gone = false;

		len = strcspn(de->d_name, ".");
		if (len != SAT_HASH_HEX - 1 ||
		    strcmp(de->d_name + len, kind_suffix[kind]) != 0)
			continue; /* temporaries of renders in flight stay */
		if (fstatat(dirfd(d), de->d_name, &st, 0) ||
		    !S_ISREG(st.st_mode))
			continue;
		memcpy(key, de->d_name, len);
		key[len] = '\0';
		pthread_mutex_lock(&c->lock);
		/* as in enforce_cap: no open can pin it in between */
		if ((!pins || !is_pinned_locked(c, key)) &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			gone = true;
		pthread_mutex_unlock(&c->lock);
		if (gone && files) {
			(*files)++;
			*bytes += (uint64_t)st.st_size;
		} else if (!gone && kept_files) {
			(*kept_files)++;
			*kept_bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
}

int sat_cache_clear_files(struct sat_cache *c, uint64_t *files,
			  uint64_t *bytes)
{
	uint64_t kept_files = 0, kept_bytes = 0;

	*files = *bytes = 0;
	clear_dir(c, SAT_CACHE_FILE, true, files, bytes, &kept_files,
		  &kept_bytes);
	if (c->later)
		cache_later_drop(c->later, SAT_CACHE_HEADER, NULL);
	clear_dir(c, SAT_CACHE_HEADER, false, NULL, NULL, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	/* renders published meanwhile are not counted until the next scan */
	c->file_bytes = kept_bytes;
	c->files = kept_files;
	pthread_mutex_unlock(&c->lock);
	sat_info("cache: cleared %llu files, %llu bytes",
		 (unsigned long long)*files, (unsigned long long)*bytes);
	return 0;
}
