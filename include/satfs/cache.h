/*
 * cache: the on-disk cache directory (listings, COG headers, rendered
 * files), its keys, atomic publication and the size cap.
 *
 * Layout under the cache directory (mode 0700, files 0600):
 *   listings/<key>   a region's search results
 *   headers/<key>    COG header prefixes
 *   files/<key>.tif  rendered snippets
 *   regions          the ad-hoc regions remembered, one name a line,
 *                    least recently used first
 * A file is written under "<name>.tmp-<pid>-<n>" and renamed, so a crash
 * never leaves a partial file under its real name; leftovers are removed by
 * sat_cache_new(). Rendered files are fsync'd before the rename (they are
 * served as they are); listings and headers are not, since their readers
 * validate them and fetch again what fails.
 *
 * Thread-safe: any thread may call any function; the functions do disk I/O
 * (they block on the disk, never on the network).
 */
#ifndef SATFS_CACHE_H
#define SATFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sat_cache;

enum sat_cache_kind {
	SAT_CACHE_LISTING = 0,
	SAT_CACHE_HEADER,
	SAT_CACHE_FILE,
	SAT_CACHE_NKINDS
};

#define SAT_HASH_HEX 65 /* 64 hex digits of SHA-256 and a NUL */

/* Incremental SHA-256 for cache keys. */
struct sat_hash {
	void *ctx; /* EVP_MD_CTX */
};
void sat_hash_init(struct sat_hash *h);
void sat_hash_add(struct sat_hash *h, const void *data, size_t len);
/* Adds a string with its terminating NUL, so "ab","c" != "a","bc". */
void sat_hash_add_str(struct sat_hash *h, const char *s);
void sat_hash_add_double(struct sat_hash *h, double v);
void sat_hash_final(struct sat_hash *h, char hex[SAT_HASH_HEX]);

/* The digest of a rendered file: XXH3-128 (xxHash), a checksum that finds
 * damage (a torn or truncated write, flipped bits), not a seal against
 * someone who can write the cache (they could write the digest too). It
 * runs at 15 GB/s here, SHA-256 at 1.7 with SHA-NI: a cold copy of 50
 * snippets hashed 210 MB, 0.12 s of CPU with SHA-256. In hex, canonical
 * (big-endian) as `xxhsum -H2` prints it. */
#define SAT_FILEHASH_HEX 33 /* 32 hex digits and a NUL */

/* A file's digest, taken while it is written, so that publishing it need
 * not read it all back. The writer reports each write; bytes written
 * in order from the start are hashed as they come. The first `expect`
 * bytes may be given in advance (a header the writer rewrites at the end,
 * once it knows what goes there): they are hashed first, whatever is
 * written there meanwhile, and checked against the file at the end. What
 * cannot be hashed in order (a gap, then later writes) is read back from
 * the file at the end; a write over bytes already hashed makes it read the
 * whole file back. The digest is always the file's own. */
#define SAT_FILEHASH_EXPECT_MAX 64
struct sat_filehash {
	void *state;       /* XXH3_state_t */
	uint64_t hashed;   /* [0, hashed) is in the state */
	bool stalled;      /* a gap: later writes are read back instead */
	bool overwritten;  /* hashed bytes changed: all read back */
	uint8_t expect[SAT_FILEHASH_EXPECT_MAX];
	size_t nexpect;
	uint64_t read_back; /* bytes the final digest read from the file */
};
void sat_filehash_init(struct sat_filehash *fh);
/* Before the first write: the file's first n bytes, as they will be. */
void sat_filehash_expect(struct sat_filehash *fh, const void *head, size_t n);
void sat_filehash_wrote(struct sat_filehash *fh, uint64_t pos,
			const void *data, size_t len);
/* The digest of the file at fd as it is now: what was hashed, completed
 * (or redone) from the file. Frees fh's state: init again to reuse.
 * 0 or -errno. Disk I/O. */
int sat_filehash_final(struct sat_filehash *fh, int fd,
		       char hex[SAT_FILEHASH_HEX]);
/* Ends fh without a digest (a write that failed). */
void sat_filehash_discard(struct sat_filehash *fh);

/* Creates the directory tree (0700) if needed, locks it (DIR/lock: one
 * process at a time; another one's attempt fails with -EBUSY, logged with
 * the holder's pid; opens within one process do not conflict) and removes
 * leftover temporary files. max_bytes 0 = no cap on rendered files.
 * Returns 0 or -errno (logged). */
int sat_cache_new(struct sat_cache **out, const char *dir,
		  uint64_t max_bytes);
/* Writes the entries still queued (sat_cache_write_later), closes the
 * descriptors still shared and frees c. Accepts NULL. No other thread
 * may be using c. */
void sat_cache_free(struct sat_cache *c);
const char *sat_cache_dir(const struct sat_cache *c);

/* Path of an entry (whether or not it exists) into buf. */
void sat_cache_path(const struct sat_cache *c, enum sat_cache_kind kind,
		    const char *key, char *buf, size_t len);

/* Reads a whole entry (listings, headers). *data is malloc'd and
 * NUL-terminated. *mtime (may be NULL) is when it was written. Returns 0,
 * -ENOENT, or -errno. */
int sat_cache_read(struct sat_cache *c, enum sat_cache_kind kind,
		   const char *key, char **data, size_t *len, time_t *mtime);
/* Writes a whole entry atomically. */
int sat_cache_write(struct sat_cache *c, enum sat_cache_kind kind,
		    const char *key, const void *data, size_t len);
/* The same for an entry nobody waits for (a COG's header, a cloud cover):
 * a copy is queued and written by a thread of the cache's own at the
 * lowest priority (nice 19), so that on a busy machine it takes what the
 * renders leave of the cores (fs/cache_later.c says why). Until it is on
 * disk, sat_cache_read() finds it, sat_cache_write() and
 * sat_cache_remove() of its key come after it, and sat_cache_free()
 * writes what is left. A full queue (4096 entries or 32 MiB) has the
 * caller write it at once. 0 or -errno, as sat_cache_write() for a
 * write made at once; a background write that fails is logged. */
int sat_cache_write_later(struct sat_cache *c, enum sat_cache_kind kind,
			  const char *key, const void *data, size_t len);
/* Tests: holds the background writer (entries stay queued) or lets it go;
 * sat_cache_free() writes them either way. */
void sat_cache_hold_later(struct sat_cache *c, bool hold);

/* For large entries written in place: opens a new temporary file (O_RDWR,
 * 0600) and puts its path in tmp. Then either sat_cache_publish() or
 * sat_cache_discard() it. */
int sat_cache_create_tmp(struct sat_cache *c, enum sat_cache_kind kind,
			 const char *key, char *tmp, size_t tmplen, int *fd);
/* Renames tmp over the entry and closes fd. A rendered file's digest is
 * recorded first (user.satfs.xxh128, for sat_cache_check_file): from fh
 * when its writer fed one (sat_cache_publish_file; ended here either
 * way), else read from the file. A rendered file that its first open in a
 * mount will check against that digest is not fsync'd: after a power loss
 * the check finds it damaged and it is rendered again. Any other rendered
 * file (bigger than SAT_CACHE_VERIFY_MAX, or no digest recorded) is
 * fsync'd, then the directory after the rename. Enforces the size cap
 * afterwards. */
int sat_cache_publish(struct sat_cache *c, enum sat_cache_kind kind,
		      const char *key, const char *tmp, int fd);
int sat_cache_publish_file(struct sat_cache *c, const char *key,
			   const char *tmp, int fd, struct sat_filehash *fh);
void sat_cache_discard(const char *tmp, int fd);

/* Opens a rendered file for reading and pins it (not evicted while
 * pinned); -ENOENT when absent. Marks it recently used. Every open of the
 * same key gets the same descriptor, which stays open until the last
 * sat_cache_close_file() of that key: read it at explicit offsets
 * (pread, splice with an offset), never close it or move its offset. So a
 * file open 2,000 times costs the daemon one descriptor. */
int sat_cache_open_file(struct sat_cache *c, const char *key, int *fd,
			uint64_t *size);
/* Is the rendered file open at fd (key's) the one that was published?
 * Its size must be `size` (the plan's exact size); and the first time in
 * this mount that the key is checked, a file of at most
 * SAT_CACHE_VERIFY_MAX bytes must also match the digest recorded at
 * publication (the extended attribute user.satfs.xxh128, or an older
 * satfs' user.satfs.sha256; a file without one, or on a file system
 * without them, is checked for its size only). 0, or -EBADMSG with what
 * is wrong in why (or -errno). Reads the file: disk I/O, about 1 ms per
 * 15 MB from the page cache on the development machine (SHA-256: 1.7). */
#define SAT_CACHE_VERIFY_MAX ((uint64_t)64 << 20)
int sat_cache_check_file(struct sat_cache *c, const char *key, int fd,
			 uint64_t size, char *why, size_t len);
/* sat_cache_open_file() then sat_cache_check_file(), for every reader of
 * a rendered file (none is fsync'd whose digest is recorded: the check is
 * what finds one a power loss damaged). A damaged file is closed and
 * removed, and -EBADMSG returned with what was wrong in why: the caller
 * says so and renders it again. */
int sat_cache_open_checked(struct sat_cache *c, const char *key,
			   uint64_t size, int *fd, char *why, size_t len);
/* Ends one sat_cache_open_file() of key: drops its pin, and closes the
 * shared descriptor with the last one. */
void sat_cache_close_file(struct sat_cache *c, const char *key);
/* Pins key whether or not its file exists yet (a render about to publish
 * it): 0 or -ENOMEM. */
int sat_cache_pin(struct sat_cache *c, const char *key);
/* Drops one pin; the last one enforces the cap again, since the file may
 * have been spared while it was pinned. */
void sat_cache_unpin(struct sat_cache *c, const char *key);
bool sat_cache_has_file(struct sat_cache *c, const char *key);

/* The remembered ad-hoc region names (the file `regions`), least
 * recently used first. *names is a malloc'd array of malloc'd strings
 * (free each, then the array); an absent file is no names. Lines longer
 * than SAT_CACHE_REGION_NAME_MAX and a file over 1 MiB are not read.
 * Returns 0, -ENOMEM or -errno. Disk I/O. */
#define SAT_CACHE_REGION_NAME_MAX 512
int sat_cache_load_regions(struct sat_cache *c, char ***names, size_t *n);
/* Replaces the file with names[0..n) (0600, atomically). 0 or -errno
 * (logged). */
int sat_cache_save_regions(struct sat_cache *c, const char *const *names,
			   size_t n);

/* Removes an entry (e.g. a listing on refresh). */
int sat_cache_remove(struct sat_cache *c, enum sat_cache_kind kind,
		     const char *key);

struct sat_cache_stats {
	uint64_t file_bytes;   /* rendered files on disk */
	uint64_t files;
	uint64_t evictions;
};
void sat_cache_get_stats(struct sat_cache *c, struct sat_cache_stats *st);

/* A rendered file, for `satfs cache`. */
struct sat_cache_file_info {
	char key[SAT_HASH_HEX];
	uint64_t size;
	time_t used; /* last opened (the LRU clock) */
	bool open;   /* pinned: someone has it open */
};
/* Lists the rendered files (not the temporaries). *out is malloc'd (free()
 * it). Returns 0 or -errno. Reads the directory: disk I/O. */
int sat_cache_list_files(struct sat_cache *c,
			 struct sat_cache_file_info **out, size_t *n);

/* Removes every rendered file that nobody has open (the same rule as the
 * size cap: the check and the unlink happen under the lock that opens
 * take), and the cached COG headers. Renders in flight publish as usual
 * afterwards. Sets how many files and bytes went. Returns 0 or -errno. */
int sat_cache_clear_files(struct sat_cache *c, uint64_t *files,
			  uint64_t *bytes);

#endif
