/*
 * objstore: the shared cache tier on an S3-compatible object store (S3,
 * Ceph's RADOS Gateway, MinIO, ...), through the fetch module: no curl
 * here. Objects are addressed by names relative to s3://BUCKET/PREFIX,
 * such as "files/<key>.tif"; the store is an accelerator, never a
 * dependency.
 *
 * Requests are signed with SigV4 (the fetch module's, i.e. curl's). With
 * an endpoint (RGW, MinIO, ...) URLs are path-style, ENDPOINT/BUCKET/KEY;
 * without one, AWS's https://BUCKET.s3.REGION.amazonaws.com/KEY (path-
 * style for a bucket name with dots, which TLS would not match).
 *
 * Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with
 * AWS_SESSION_TOKEN) from the environment, else the profile AWS_PROFILE
 * (default "default") of the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials). They are read
 * by sat_objstore_new() and again when the store answers 403 (rotated
 * keys, an expired session token). They never reach a log line, an error
 * string or the health state.
 *
 * Integrity: an object is uploaded with its SHA-256 in its metadata
 * (x-amz-meta-satfs-sha256) and checked after every download; one that
 * does not match, or carries no digest, is refused (-EBADMSG) and the
 * file it went to is truncated to nothing. Uploads are conditional
 * (If-None-Match: *): the first writer wins, nothing is overwritten.
 *
 * Failures of the store (unreachable, timed out, 5xx, refused keys, full)
 * are logged once, when it goes from working to failing, and once when it
 * works again; meanwhile every operation answers -EHOSTDOWN at once,
 * without a request, until a backoff (doubling from backoff_min_ms up to
 * backoff_max_ms) has passed; then one request tries again. A miss
 * (-ENOENT), a lost race (-EEXIST) or a bad object (-EBADMSG) is no
 * failure of the store.
 *
 * Leases (one render among many mounts): see sat_objstore_lease_take().
 *
 * Threads: every function may be called from any thread except the fetch
 * I/O thread; they block on the network, each bounded by its deadline
 * (timeout_ms for small requests, transfer_timeout_ms for an object).
 */
#ifndef SATFS_OBJSTORE_H
#define SATFS_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sat_fetch;
struct sat_objstore;

#define SAT_OBJSTORE_NAME_MAX 512  /* an object name, under the prefix */
#define SAT_OBJSTORE_BUCKET_MAX 64 /* 3..63 characters and a NUL */
#define SAT_OBJSTORE_PREFIX_MAX 256
#define SAT_OBJSTORE_HOLDER_MAX 96
#define SAT_OBJSTORE_TOKEN_LEN 32 /* hex digits */

struct sat_objstore_opts {
	const char *store;    /* "s3://BUCKET[/PREFIX]" (required) */
	const char *endpoint; /* "http(s)://HOST[:PORT][/PATH]"; NULL: AWS */
	const char *region;   /* NULL: $AWS_REGION, else us-east-1 */
	int timeout_ms;          /* deadline of a small request; 5000 */
	int transfer_timeout_ms; /* deadline of an object's GET or PUT;
				    600000 */
	int stall_timeout_ms;    /* no byte for this long fails a try; 10000 */
	int max_tries;           /* tries of one request; 2 */
	uint64_t max_object_bytes; /* largest object; 4 GiB (S3's single PUT
				      takes 5 GB at most) */
	int backoff_min_ms;      /* after the store failed; 5000 */
	int backoff_max_ms;      /* cap of the doubling; 300000 */
	int lease_skew_s;        /* clock difference allowed between mounts;
				    0: 5 s (NTP-synchronised clocks);
				    negative: none (tests) */
	const char *holder;      /* lease holder id; NULL: "HOST:PID";
				    [A-Za-z0-9._:@-], at most 95 chars */
};

/* Splits "s3://BUCKET[/PREFIX]" (PREFIX without leading or trailing '/')
 * into bucket and prefix ("" when none). Bucket names follow S3's rules
 * (3..63 of a-z 0-9 . -, starting and ending with a letter or digit);
 * prefixes use A-Z a-z 0-9 and ! - _ . * ' ( ) / (S3's safe characters).
 * Returns 0, or -EINVAL with what is wrong in err. Pure; any thread. */
int sat_objstore_parse_store(const char *store, char *bucket, size_t blen,
			     char *prefix, size_t plen, char *err,
			     size_t errlen);

/* Is s a valid endpoint ("http://" or "https://" and a host)? */
bool sat_objstore_valid_endpoint(const char *s);
/* Is s a valid region name (a-z 0-9 -, 1..63)? */
bool sat_objstore_valid_region(const char *s);

/* Creates a store client over fetch (borrowed: it must outlive the
 * store). Reads the credentials. Returns 0; -EINVAL (bad options) or
 * -ENOKEY (no credentials) with what is wrong in err, naming where it
 * looked but never a key; -ENOMEM. No request is made. */
int sat_objstore_new(struct sat_objstore **out, struct sat_fetch *fetch,
		     const struct sat_objstore_opts *opts, char *err,
		     size_t errlen);
void sat_objstore_free(struct sat_objstore *s);

/* "s3://BUCKET/PREFIX at ENDPOINT", for log lines and status. */
const char *sat_objstore_describe(const struct sat_objstore *s);

/* Downloads object name into fd (a regular file open for writing; it is
 * truncated and written from offset 0, never held in memory) and checks
 * it against its recorded SHA-256. Sets *size (may be NULL). Returns 0;
 * -ENOENT (no such object); -EBADMSG (digest missing or wrong: fd is
 * truncated to 0, the object must not be served); -EFBIG (over
 * max_object_bytes); -EHOSTDOWN (store failing, not asked); or the
 * failure (-ETIMEDOUT, -EIO, -EACCES, ...). */
int sat_objstore_get(struct sat_objstore *s, const char *name, int fd,
		     uint64_t *size);

/* Uploads size bytes of fd (from offset 0; read with pread, never held in
 * memory) as name, unless an object of that name exists: a HEAD first (no
 * upload of hundreds of MB to lose), then a PUT with If-None-Match: *.
 * sha256_hex: the 64 hex digits of the bytes' SHA-256, or NULL to have it
 * computed here (reading fd once more). Returns 0 (ours is stored);
 * -EEXIST (one is there already, or another writer is storing one now);
 * -EHOSTDOWN; -EFBIG (over max_object_bytes); or the failure. */
int sat_objstore_put_if_absent(struct sat_objstore *s, const char *name,
			       int fd, uint64_t size, const char *sha256_hex);

/* Whether name exists: 0 (and *size, may be NULL), -ENOENT, or a
 * failure. For waiting on another mount's render: cheap, no body. */
int sat_objstore_head(struct sat_objstore *s, const char *name,
		      uint64_t *size);

/* Deletes name (0 also when it did not exist), or a failure. */
int sat_objstore_delete(struct sat_objstore *s, const char *name);

/*
 * Leases: "I am rendering name, wait for it". A lease is a small object
 * under PREFIX/leases/ holding its holder, a random token and an expiry
 * (wall-clock seconds: mounts must have synchronised clocks, within
 * lease_skew_s).
 *
 * S3 has no compare-and-swap on an existing object (If-None-Match only),
 * so lease objects are never overwritten, and deleted only by the mount
 * that created them. Taking over an expired lease creates its successor,
 * an object whose name is the expired one's token ("leases/NAME~TOKEN"),
 * with If-None-Match: *: among mounts racing for the same expired lease
 * exactly one creates the successor. The current lease is the end of the
 * chain leases/NAME -> leases/NAME~T1 -> leases/NAME~T2 ... (at most 8
 * links are followed: -ELOOP beyond). A holder releases by deleting its
 * own object, and only while it has not expired (less the skew): an
 * expired one may have a successor, and deleting a link would let a new
 * chain start beside a live lease. Expired links of crashed holders stay
 * (a lifecycle rule on PREFIX/leases/ removes them after a day).
 *
 * What a lease guarantees: at most one live holder per name, as long as
 * clocks agree within the skew and a holder stops counting on its lease
 * once it has expired (a render longer than its lease is not stopped: at
 * worst two mounts render the same file, and put_if_absent keeps one).
 */
struct sat_objstore_lease {
	char name[SAT_OBJSTORE_NAME_MAX];   /* the object created */
	char holder[SAT_OBJSTORE_HOLDER_MAX];
	char token[SAT_OBJSTORE_TOKEN_LEN + 1];
	time_t expires_s;                   /* wall clock */
};

/* Takes the lease on name for ttl_s seconds (1..86400). Returns 0 (ours:
 * *lease filled); -EEXIST (held by another: *busy, may be NULL, says by
 * whom and until when); -ELOOP; -EBADMSG (a lease object we cannot read);
 * -EHOSTDOWN; or the failure. */
int sat_objstore_lease_take(struct sat_objstore *s, const char *name,
			    int ttl_s, struct sat_objstore_lease *lease,
			    struct sat_objstore_lease *busy);
/* Releases a lease taken here: deletes its object unless it has expired
 * (less the skew). 0 or a failure (then it simply expires). */
int sat_objstore_lease_release(struct sat_objstore *s,
			       const struct sat_objstore_lease *lease);
/* Who holds name now: 0 with *cur filled, -ENOENT (nobody: no lease, or
 * only expired ones), or a failure. */
int sat_objstore_lease_read(struct sat_objstore *s, const char *name,
			    struct sat_objstore_lease *cur);

/* The store's health, for MOUNT/.satfs/status. */
struct sat_objstore_health {
	bool ok;                /* not failing (also before any request) */
	int last_err;           /* -errno of the last failure; 0 none */
	char last_why[320];     /* what failed: method, URL without query,
				   status and S3 error code or the transport
				   error; never credentials */
	time_t last_err_s;      /* when (wall clock); 0 none */
	time_t retry_s;         /* failing: when a request may go again */
	unsigned failures;      /* consecutive failures */
	uint64_t requests;      /* requests sent */
	uint64_t refused;       /* operations answered -EHOSTDOWN */
	uint64_t hits, misses;  /* sat_objstore_get found / did not find */
	uint64_t uploads;       /* put_if_absent that stored ours */
	uint64_t lost;          /* put_if_absent that found one there */
	uint64_t bad_objects;   /* digests that did not match */
};
void sat_objstore_get_health(struct sat_objstore *s,
			     struct sat_objstore_health *h);

#endif
