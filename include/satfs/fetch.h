/*
 * fetch: HTTP(S) for the whole daemon (libcurl, and only here).
 *
 * One I/O thread owns a curl multi handle and every easy handle. Any thread
 * submits requests; they are queued under a mutex and the I/O thread is
 * woken with curl_multi_wakeup(). Completion callbacks run on the I/O
 * thread and must not block. Foreground requests always go before
 * prefetch ones; a per-host connection cap bounds both.
 *
 * Retries (exponential backoff with jitter, honouring Retry-After) on 429,
 * 5xx, timeouts, connection resets and truncated bodies, up to max_tries.
 * Only http:// and https:// are followed, redirects included. A range
 * request answered 200 with the whole object is cut to the range asked for.
 * HTTP status is mapped to an errno here and nowhere else.
 */
#ifndef SATFS_FETCH_H
#define SATFS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sat_fetch;
struct sat_progress;

struct sat_fetch_opts {
	int connections_per_host; /* default 16 */
	int max_tries;            /* default 5 */
	int connect_timeout_ms;   /* default 10000 */
	int stall_timeout_ms;     /* no byte for this long fails a try; 30000 */
	int backoff_base_ms;      /* first retry delay before jitter; 200 */
	int backoff_max_ms;       /* cap on one delay (also on Retry-After); 20000 */
	size_t max_body_bytes;    /* default cap when a request sets none; 64 MiB */
	bool verify_tls;          /* default true */
	/* Blank-separated HOST:PORT:TO-HOST:TO-PORT entries (curl's
	 * CONNECT_TO): connect there instead, keeping the URL's host name
	 * for Host, SNI and certificates. NULL: none. Copied. */
	const char *connect_to;
};

enum sat_fetch_priority {
	SAT_FETCH_FOREGROUND = 0, /* someone is waiting */
	SAT_FETCH_PREFETCH = 1,   /* speculative: only when nothing waits */
};

struct sat_fetch_req {
	const char *url;
	const char *method;        /* "GET" (default when NULL), "POST", "HEAD" */
	const char *body;          /* POST body, or NULL */
	size_t body_len;
	const char *const *headers; /* "Name: value" strings, NULL-terminated */
	uint64_t range_offset;     /* with range_length > 0: a byte range */
	uint64_t range_length;     /* 0: the whole object */
	size_t max_body_bytes;     /* 0: the engine's default */
	enum sat_fetch_priority priority;
	/* counted into while the request runs (include/satfs/progress.h);
	 * must outlive the request; may be NULL */
	struct sat_progress *progress;
};

struct sat_fetch_result {
	int err;            /* 0, or -errno: -ENOENT (404/410), -EACCES
			       (401/403), -EIO (other failure, 5xx after
			       retries), -ETIMEDOUT, -EFBIG (body over cap),
			       -EPROTO (scheme or range answer not allowed) */
	long status;        /* last HTTP status, 0 if none */
	char *data;         /* body, NUL-terminated (malloc'd; owner: caller) */
	size_t len;
	char *etag;         /* ETag header or NULL (malloc'd) */
	uint64_t object_size; /* from Content-Range or Content-Length; 0 unknown */
	int tries;          /* attempts made */
	char why[256];      /* on failure, what went wrong ("Failed to
			       connect...", "HTTP error"), for log lines */
};

/* Completion callback, on the I/O thread. Takes ownership of res's
 * buffers (free them with sat_fetch_result_clear()). Must not block. */
typedef void (*sat_fetch_done_fn)(struct sat_fetch_result *res,
				  void *payload);

/* Starts the engine and its I/O thread. opts may be NULL (defaults). */
int sat_fetch_new(struct sat_fetch **out, const struct sat_fetch_opts *opts);
/* Stops the I/O thread; pending requests complete with -ECANCELED. */
void sat_fetch_free(struct sat_fetch *f);

/* Queues a request; req's strings are copied. done is always called
 * exactly once (also on failure), unless this returns an error. */
int sat_fetch_submit(struct sat_fetch *f, const struct sat_fetch_req *req,
		     sat_fetch_done_fn done, void *payload);

/* Blocking convenience: submits and waits. Never call from the I/O
 * thread. Returns res->err. */
int sat_fetch_sync(struct sat_fetch *f, const struct sat_fetch_req *req,
		   struct sat_fetch_result *res);

/* Submits n requests at once and waits for all of them (fan out, fan in).
 * Returns 0 if all succeeded, else the first error; every res[i] is set. */
int sat_fetch_all(struct sat_fetch *f, const struct sat_fetch_req *reqs,
		  struct sat_fetch_result *res, size_t n);

void sat_fetch_result_clear(struct sat_fetch_result *res);

/* Counters since start, for status and tests. */
struct sat_fetch_stats {
	uint64_t requests;  /* HTTP requests sent, retries included */
	uint64_t retries;
	uint64_t bytes;     /* body bytes received */
	uint64_t failures;  /* requests that failed after all tries */
	uint32_t in_flight;
};
void sat_fetch_get_stats(struct sat_fetch *f, struct sat_fetch_stats *st);

#endif
