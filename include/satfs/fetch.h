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
 *
 * For object stores (fs/objstore.c): requests signed with AWS Signature
 * Version 4 (curl's own CURLOPT_AWS_SIGV4), PUT and DELETE, bodies streamed
 * from and to files (never held in memory), and a deadline per request.
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
	/* A try moving fewer than min_rate_bytes a second, averaged over
	 * the stall timeout (curl's LOW_SPEED_LIMIT/TIME), fails too: a
	 * server dripping a byte now and then is as good as stalled.
	 * Default 1 (only a stall). */
	int min_rate_bytes;
	/* Every request that sets no deadline_ms of its own gets this one,
	 * counted from its first try (the time it waits in the queue is
	 * bounded by the requests ahead of it, each bounded so). 0: 5 x
	 * (stall timeout + connect timeout). */
	int deadline_ms;
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

/* What a request does besides the plain one (or-ed into req->flags). */
enum sat_fetch_flag {
	/* PUT: the body is upload_bytes bytes of upload_fd, read with
	 * pread() from offset 0 (again on each try); never in memory. The
	 * fd must stay open until the request completes. */
	SAT_FETCH_UPLOAD_FD = 1 << 0,
	/* A 2xx body goes to download_fd (a regular file open for writing:
	 * -EINVAL otherwise) with pwrite() from offset 0, and the file is
	 * truncated to what was written; never in memory. Each try starts
	 * again at 0. res->data is then "" and res->len the bytes written.
	 * max_body_bytes still caps it. */
	SAT_FETCH_DOWNLOAD_FD = 1 << 1,
	/* Keep the final answer's headers in res->headers. */
	SAT_FETCH_KEEP_HEADERS = 1 << 2,
	/* A range's body goes into a packed buffer (include/satfs/
	 * bufpool.h: huge pages, a fault per 2 MiB): res->data is then
	 * given back with sat_fetch_result_clear() or sat_buf_free() only,
	 * never free() or realloc(). */
	SAT_FETCH_BODY_PACKED = 1 << 3,
};

/* AWS Signature Version 4 (curl's CURLOPT_AWS_SIGV4 "aws:amz:REGION:
 * SERVICE" with the keys as user name and password). The payload is sent
 * as UNSIGNED-PAYLOAD (x-amz-content-sha256; curl 7.88 signs an empty
 * body otherwise), a session token as x-amz-security-token. Signed
 * requests never follow redirects. The strings are copied at submit and
 * wiped when the request ends; they never reach a log. */
struct sat_fetch_sigv4 {
	const char *region;        /* e.g. "us-east-1" */
	const char *service;       /* "s3" */
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL: none */
};

struct sat_fetch_req {
	const char *url;
	const char *method;        /* "GET" (default when NULL), "POST",
				      "HEAD", "PUT", "DELETE" */
	const char *body;          /* POST or PUT body, or NULL */
	size_t body_len;
	const char *const *headers; /* "Name: value" strings, NULL-terminated */
	uint64_t range_offset;     /* with range_length > 0: a byte range */
	uint64_t range_length;     /* 0: the whole object */
	size_t max_body_bytes;     /* 0: the engine's default */
	enum sat_fetch_priority priority;
	/* counted into while the request runs (include/satfs/progress.h);
	 * must outlive the request; may be NULL */
	struct sat_progress *progress;
	unsigned flags;            /* enum sat_fetch_flag */
	int upload_fd;             /* with SAT_FETCH_UPLOAD_FD */
	uint64_t upload_bytes;     /* with SAT_FETCH_UPLOAD_FD */
	int download_fd;           /* with SAT_FETCH_DOWNLOAD_FD */
	const struct sat_fetch_sigv4 *sigv4; /* sign; NULL: don't */
	/* The whole request, waiting in the queue and retries included,
	 * fails with -ETIMEDOUT after this long (a queued request is looked
	 * at least once a second). 0: no limit but the per-try connect and
	 * stall timeouts and max_tries. */
	int deadline_ms;
	int stall_timeout_ms;      /* 0: the engine's */
	int max_tries;             /* 0: the engine's */
};

struct sat_fetch_result {
	int err;            /* 0, or -errno: -ENOENT (404/410), -EACCES
			       (401/403), -EBUSY (409: a conflicting write
			       in progress), -EEXIST (412: a precondition
			       such as If-None-Match failed), -EFBIG (413,
			       or body over cap), -ENOSPC (507), -EIO
			       (other failure, 5xx after retries),
			       -ETIMEDOUT (stalled, or deadline), -EPROTO
			       (scheme or range answer not allowed) */
	long status;        /* last HTTP status, 0 if none */
	char *data;         /* body, NUL-terminated (owner: caller; given
			       back with sat_buf_free(), or free() unless
			       SAT_FETCH_BODY_PACKED) */
	size_t len;
	char *etag;         /* ETag header or NULL (malloc'd) */
	char *headers;      /* with SAT_FETCH_KEEP_HEADERS: the final
			       answer's headers, "Name: value\n" each, at
			       most 16 KiB; else NULL (malloc'd) */
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
/* Cancels everything in flight, queued or waiting to retry (callbacks get
 * -ECANCELED, from the I/O thread, soon after this returns) and refuses
 * every later request (-ECANCELED): the daemon is going away and must not
 * wait on a slow server. Does not block. Any thread. */
void sat_fetch_cancel(struct sat_fetch *f);

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

/* The value of header name (any case) in res->headers, copied into buf
 * (cut to len); NULL when absent or not kept. */
const char *sat_fetch_result_header(const struct sat_fetch_result *res,
				    const char *name, char *buf, size_t len);

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
