/*
 * objstore_private: what the objstore files share (fs/objstore.c: the client,
 * its requests and health; fs/objstore_cred.c: credentials;
 * fs/objstore_lease.c: leases). Not a module boundary: nothing outside
 * the objstore module includes it.
 */
#ifndef SATFS_OBJSTORE_PRIVATE_H
#define SATFS_OBJSTORE_PRIVATE_H

#include "satfs/fetch.h"
#include "satfs/objstore.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keys, malloc'd; wiped when cleared. */
struct objstore_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* or NULL */
	char source[300];    /* "the environment", "FILE [PROFILE]" */
};

/* Reads the credentials (see include/satfs/objstore.h for where from).
 * 0; -ENOKEY or -EINVAL with what is wrong in err (never a key); -ENOMEM.
 * Reads the environment and a file: call where that is safe (any thread
 * that does not setenv concurrently). */
int sat_objstore_creds_load(struct objstore_creds *c, char *err,
			    size_t errlen);
void sat_objstore_creds_clear(struct objstore_creds *c);
bool sat_objstore_creds_equal(const struct objstore_creds *a,
			      const struct objstore_creds *b);

struct sat_objstore {
	struct sat_fetch *fetch;
	struct sat_objstore_opts o; /* numbers only; strings below */
	char bucket[SAT_OBJSTORE_BUCKET_MAX];
	char prefix[SAT_OBJSTORE_PREFIX_MAX];
	char region[64];
	char holder[SAT_OBJSTORE_HOLDER_MAX];
	char *base;     /* URL of the prefix, with a trailing '/' */
	char *desc;     /* "s3://BUCKET/PREFIX at ENDPOINT" */

	pthread_mutex_t lock;
	struct objstore_creds creds;   /* protected by lock */
	struct sat_objstore_health h;  /* protected by lock */
	int backoff_ms;                /* protected by lock */
	/* failing: when a request may go again, CLOCK_MONOTONIC ms (h.retry_s
	 * is the same for people, in whole seconds of the wall clock) */
	uint64_t retry_at_ms;          /* protected by lock */
};

/* One request on object name (relative to the prefix): req's url and
 * sigv4 are set here, its deadline, stall timeout and tries default to
 * the store's (timeout_ms unless big). Refuses at once with -EHOSTDOWN
 * while the store is failing; on 403 reads the credentials again and, if
 * they changed, tries once more. Records the outcome in the health state
 * (a failure of the store is logged when it starts failing). res is
 * always set; the caller clears it. Returns res->err. */
int sat_objstore_request(struct sat_objstore *s, const char *name,
			 struct sat_fetch_req *req, bool big,
			 struct sat_fetch_result *res);

/* Is name usable as an object name under the prefix? */
bool sat_objstore_valid_name(const char *name);

#endif
