/*
 * fetch_job: one request as the fetch engine carries it, and what one try
 * of it does on the wire (fs/fetch_xfer.c). Private to the fetch module;
 * fs/fetch.c owns the queues, the I/O thread and the life of a job.
 */
#ifndef SATFS_FETCH_JOB_H
#define SATFS_FETCH_JOB_H

#include "satfs/fetch.h"
#include "satfs/progress.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct fetch_host;

/* What a try does with the body it receives. */
enum body_mode {
	BODY_UNDECIDED, /* no byte yet */
	BODY_KEEP,      /* the answer asked for: keep it all (up to the cap) */
	BODY_SLICE,     /* whole object for a range: keep only the range */
	BODY_ERROR,     /* error page: keep the start, for diagnostics */
};

struct fetch_job {
	struct fetch_job *prev, *next; /* in exactly one list at a time */

	/* The request, copied at submit; read-only afterwards. */
	char *url;
	char *method;
	char *body;
	size_t body_len;
	struct curl_slist *headers;
	uint64_t range_offset, range_length;
	size_t max_body;
	enum sat_fetch_priority prio;
	unsigned flags;          /* enum sat_fetch_flag */
	int upload_fd, download_fd;
	uint64_t upload_bytes;   /* the PUT body's size (fd or body) */
	char *sigv4;             /* "aws:amz:REGION:SERVICE", or NULL */
	char *user, *secret;     /* the keys; wiped at free */
	uint64_t deadline_at_ms; /* monotonic; 0: none */
	int stall_ms_req;        /* 0: the engine's */
	int max_tries;           /* this request's; never 0 */
	struct fetch_host *host; /* NULL when refused at submit */
	struct sat_progress *progress; /* the submitter's, or NULL */
	sat_fetch_done_fn done;
	void *payload;

	/* I/O thread only from here on. */
	int err; /* preset (refused URL), then the last try's verdict */
	char why[CURL_ERROR_SIZE];
	int tries;
	uint64_t due_ms; /* when a waiting retry may start */
	long retry_after_ms;
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];

	/* One try's answer. */
	long status;
	enum body_mode mode;
	char *buf;
	bool buf_packed;    /* buf is a packed buffer: no realloc */
	size_t len, cap;
	uint64_t skip;      /* BODY_SLICE: bytes still to drop */
	uint64_t try_bytes; /* body bytes received, as decoded */
	uint64_t object_size;
	char *etag;
	char *hdrs;            /* SAT_FETCH_KEEP_HEADERS: the answer's */
	uint64_t up_off;       /* PUT: bytes of the body sent this try */
	int io_err;            /* errno of a failed pread/pwrite */
	bool overflow, slice_done, http_err;
	bool stalled;          /* aborted: nothing received for stall_ms */
	uint64_t stall_ms;
	uint64_t last_rx_ms;   /* when the last byte moved */
	curl_off_t last_rx;    /* bytes received then */
	curl_off_t last_tx;    /* bytes sent then (uploads) */
};

/* Starts a new try of j on the easy handle e (fresh or reset): clears the
 * previous try's answer and sets every option; timeout_ms > 0 bounds the
 * whole try (what is left of the request's deadline). I/O thread only. */
void sat_fetch_xfer_setup(struct fetch_job *j, CURL *e,
			  const struct sat_fetch_opts *o, long timeout_ms);

/* Judges the try that just finished with rc, while j->easy is still valid:
 * sets j->err (0 on success), j->status, j->why, j->object_size, j->etag
 * and j->retry_after_ms. Returns true when another try may help. */
bool sat_fetch_xfer_judge(struct fetch_job *j, CURLcode rc,
			  int retry_after_max_ms);

#endif
