/*
 * fetch_xfer: one try of one request on a curl easy handle: how it is set
 * up, how its body is received (capped; a whole object answering a range
 * request is cut to the range while it arrives), and what its answer means
 * (done, failed, or worth another try). See fs/fetch_job.h.
 *
 * Bodies may also stream: a PUT's from a file (read with pread, so that
 * every try starts again at 0) and an answer's into one (pwrite, the file
 * truncated at the start of each try and to the length at the end).
 *
 * Runs on the fetch I/O thread only (curl callbacks included); no locks.
 */
#include "fetch_job.h"

#include "fetch_private.h"
#include "satfs/bufpool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifndef SATFS_VERSION
#define SATFS_VERSION "0"
#endif

#define FETCH_ERR_BODY_MAX 4096 /* bytes of an error page kept */
#define FETCH_HDRS_MAX 16384    /* bytes of answer headers kept */

/* A range's body is sized before it arrives: allocated once, not grown
 * (and copied) by doubling. Our own request, so bounded by us. */
#define XFER_RESERVE_MAX (64u << 20)

static int buf_append(struct fetch_job *j, const char *p, size_t n)
{
	size_t want = j->len + n + 1, cap = j->cap ? j->cap : 4096;
	char *nb;

	if (!j->cap && j->range_length && j->range_length < XFER_RESERVE_MAX)
		cap = (size_t)j->range_length + 1;
	if (want > j->cap) {
		bool packed = !j->buf && j->range_length &&
			      (j->flags & SAT_FETCH_BODY_PACKED);

		while (cap < want)
			cap *= 2;
		if (!j->buf)
			nb = packed ? sat_buf_alloc_packed(cap)
				    : sat_buf_alloc(cap);
		else if (!j->buf_packed)
			nb = realloc(j->buf, cap);
		else if ((nb = sat_buf_alloc(cap)) != NULL)
			memcpy(nb, j->buf, j->len); /* no realloc of those */
		if (!nb)
			return -ENOMEM;
		if (j->buf && j->buf_packed)
			sat_buf_free(j->buf);
		j->buf = nb;
		j->buf_packed = packed;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
	j->buf[j->len] = '\0';
	return 0;
}

/* Keeps n body bytes: in memory, or written to the download file. */
static int body_keep(struct fetch_job *j, const char *p, size_t n)
{
	ssize_t w;

	if (!(j->flags & SAT_FETCH_DOWNLOAD_FD))
		return buf_append(j, p, n);
	while (n > 0) {
		w = pwrite(j->download_fd, p, n, (off_t)j->len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			j->io_err = w < 0 ? errno : EIO;
			snprintf(j->why, sizeof(j->why),
				 "writing the body file: %s",
				 strerror(j->io_err));
			return -j->io_err;
		}
		p += w;
		n -= (size_t)w;
		j->len += (size_t)w;
	}
	return 0;
}

static void body_mode_decide(struct fetch_job *j)
{
	long status = 0;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		j->mode = BODY_ERROR;
	} else if (j->range_length && status == 200) {
		/* The server ignored Range: keep only the bytes asked for. */
		j->mode = BODY_SLICE;
		j->skip = j->range_offset;
	} else {
		j->mode = BODY_KEEP;
	}
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fetch_job *j = arg;
	size_t total = size * nmemb, n = total, room;

	j->try_bytes += total;
	if (j->progress)
		atomic_fetch_add_explicit(&j->progress->bytes_done, total,
					  memory_order_relaxed);
	if (j->mode == BODY_UNDECIDED) {
		curl_off_t announced = -1;

		body_mode_decide(j);
		/* A body announced over the cap is refused before any of it
		 * is buffered, not after 64 MiB of reallocs. */
		curl_easy_getinfo(j->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				  &announced);
		if (j->mode == BODY_KEEP && announced > 0 &&
		    (uint64_t)announced > j->max_body) {
			j->overflow = true;
			return 0;
		}
	}
	if (j->mode == BODY_ERROR) {
		/* An error page is only kept for the caller's diagnostics. */
		room = FETCH_ERR_BODY_MAX - j->len;
		if (buf_append(j, ptr, n < room ? n : room))
			return 0;
		return total;
	}
	if (j->mode == BODY_SLICE) {
		if (j->skip >= n) {
			j->skip -= n;
			return total;
		}
		ptr += j->skip;
		n -= j->skip;
		j->skip = 0;
		room = j->range_length - j->len;
		if (n >= room) {
			n = room;
			j->slice_done = true;
		}
	}
	if (j->len + n > j->max_body) {
		j->overflow = true;
		return 0; /* aborts the transfer */
	}
	if (body_keep(j, ptr, n))
		return 0;
	/* Stop reading a whole object once the range is complete. */
	return j->slice_done ? 0 : total;
}

/* A PUT body, from the upload file or from memory. */
static size_t on_upload(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fetch_job *j = arg;
	uint64_t left = j->upload_bytes - j->up_off;
	size_t n = size * nmemb;
	ssize_t r;

	if (n > left)
		n = (size_t)left;
	if (n == 0)
		return 0;
	if (j->upload_fd < 0) {
		memcpy(ptr, j->body + j->up_off, n);
		j->up_off += n;
		return n;
	}
	do
		r = pread(j->upload_fd, ptr, n, (off_t)j->up_off);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		/* an error, or a file shorter than it was said to be */
		j->io_err = r < 0 ? errno : EIO;
		snprintf(j->why, sizeof(j->why), "reading the body file: %s",
			 r < 0 ? strerror(j->io_err) : "shorter than its size");
		return CURL_READFUNC_ABORT;
	}
	j->up_off += (uint64_t)r;
	return (size_t)r;
}

/* curl rewinds an upload it must send again (e.g. on a redirect). */
static int on_upload_seek(void *arg, curl_off_t offset, int origin)
{
	struct fetch_job *j = arg;

	if (origin != SEEK_SET || offset < 0 ||
	    (uint64_t)offset > j->upload_bytes)
		return CURL_SEEKFUNC_FAIL;
	j->up_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}





static const char *header_get(struct fetch_job *j, const char *name)
{
	struct curl_header *h;

	if (curl_easy_header(j->easy, name, 0, CURLH_HEADER, -1, &h) !=
	    CURLHE_OK)
		return NULL;
	return h->value;
}

/* Copies the final answer's headers, "Name: value\n" each, capped. */
static void keep_headers(struct fetch_job *j)
{
	struct curl_header *h, *prev = NULL;
	size_t len = 0, n;
	char *out;

	out = malloc(FETCH_HDRS_MAX);
	if (!out)
		return;
	out[0] = '\0';
	while ((h = curl_easy_nextheader(j->easy, CURLH_HEADER, -1, prev))) {
		prev = h;
		n = strlen(h->name) + strlen(h->value) + 3;
		if (len + n >= FETCH_HDRS_MAX)
			break;
		len += (size_t)snprintf(out + len, FETCH_HDRS_MAX - len,
					"%s: %s\n", h->name, h->value);
	}
	free(j->hdrs);
	j->hdrs = out;
}

/* Size of the whole object from a 2xx answer that was not a 206. */
static uint64_t whole_size(struct fetch_job *j)
{
	curl_off_t cl = -1;

	curl_easy_getinfo(j->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	/* Content-Length counts coded bytes when gzip was applied. */
	if (cl >= 0 && !header_get(j, "Content-Encoding"))
		return (uint64_t)cl;
	if (!j->slice_done && strcmp(j->method, "HEAD") != 0)
		return j->try_bytes;
	return 0;
}

/* Judges a 2xx body. Returns true when another try may help. */
static bool judge_body(struct fetch_job *j)
{
	uint64_t first, last, total, expect = j->range_length;
	const char *cr;

	if (!j->range_length) {
		j->object_size = whole_size(j);
		return false;
	}
	if (j->status == 206) {
		cr = header_get(j, "Content-Range");
		if (sat_fetch_parse_content_range(cr, &first, &last, &total) ||
		    first != j->range_offset) {
			j->err = -EPROTO;
			snprintf(j->why, sizeof(j->why),
				 "Content-Range does not match the request");
			return true;
		}
		j->object_size = total;
	} else {
		j->object_size = whole_size(j);
		if (j->object_size && j->range_offset >= j->object_size) {
			j->err = -EINVAL;
			snprintf(j->why, sizeof(j->why), "range beyond end");
			return false;
		}
	}
	/* A range may run past the end of the object: that is no error. */
	if (j->object_size && j->object_size - j->range_offset < expect)
		expect = j->object_size - j->range_offset;
	if (j->len < expect) {
		j->err = -EIO;
		snprintf(j->why, sizeof(j->why),
			 "short body: %zu of %" PRIu64 " bytes", j->len,
			 expect);
		return true;
	}
	if (j->len > j->range_length) { /* more than asked: cut it */
		j->len = j->range_length;
		if (j->buf)
			j->buf[j->len] = '\0';
	}
	return false;
}

bool sat_fetch_xfer_judge(struct fetch_job *j, CURLcode rc,
			  int retry_after_max_ms)
{
	const char *etag;
	bool retry;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
	if (j->flags & SAT_FETCH_KEEP_HEADERS)
		keep_headers(j);
	if (rc == CURLE_WRITE_ERROR && j->slice_done && !j->overflow)
		rc = CURLE_OK; /* we stopped it ourselves, range complete */
	if (j->io_err) {
		/* our own file failed (j->why says how): another try would
		 * fail the same */
		j->err = -j->io_err;
		return false;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && j->stalled) {
		rc = CURLE_OPERATION_TIMEDOUT;
		snprintf(j->errbuf, sizeof(j->errbuf),
			 "nothing received for %llu ms",
			 (unsigned long long)j->stall_ms);
	}
	if (j->overflow) {
		j->err = -EFBIG;
		snprintf(j->why, sizeof(j->why), "body over %zu bytes",
			 j->max_body);
		return false;
	}
	if (rc != CURLE_OK) {
		j->err = sat_fetch_curl_errno(rc);
		snprintf(j->why, sizeof(j->why), "%s",
			 j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
		return sat_fetch_curl_retryable(rc);
	}
	if (j->status < 200 || j->status >= 300) {
		j->http_err = true;
		j->err = sat_fetch_status_errno(j->status);
		snprintf(j->why, sizeof(j->why), "HTTP error");
		if (j->status == 429 || j->status == 503)
			j->retry_after_ms = sat_fetch_retry_after_ms(
				header_get(j, "Retry-After"), time(NULL),
				retry_after_max_ms);
		return sat_fetch_status_retryable(j->status);
	}
	etag = header_get(j, "ETag");
	if (etag && !(j->etag = strdup(etag))) {
		j->err = -ENOMEM;
		return false;
	}
	retry = judge_body(j);
	if (!j->err && (j->flags & SAT_FETCH_DOWNLOAD_FD) &&
	    ftruncate(j->download_fd, (off_t)j->len) != 0) {
		j->err = -errno;
		snprintf(j->why, sizeof(j->why), "truncating the body file: %s",
			 strerror(errno));
		return false;
	}
	return retry;
}

static void try_reset(struct fetch_job *j)
{
	sat_buf_free(j->buf);
	free(j->etag);
	free(j->hdrs);
	j->buf = j->etag = j->hdrs = NULL;
	j->len = j->cap = 0;
	j->up_off = 0;
	j->io_err = 0;
	j->mode = BODY_UNDECIDED;
	j->status = 0;
	j->skip = j->try_bytes = j->object_size = 0;
	j->overflow = j->slice_done = j->http_err = false;
	j->retry_after_ms = -1;
	j->errbuf[0] = j->why[0] = '\0';
	j->err = 0;
	/* a retry writes the download file again from the start */
	if ((j->flags & SAT_FETCH_DOWNLOAD_FD) &&
	    ftruncate(j->download_fd, 0) != 0) {
		j->io_err = errno;
		snprintf(j->why, sizeof(j->why), "truncating the body file: %s",
			 strerror(errno));
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A stall is a time without a byte received. curl's LOW_SPEED check
 * averages over seconds and counts the bytes we send, so a POST whose
 * answer never comes looked alive for several seconds more; this watches
 * received bytes alone (curl calls it at least once a second) -- and, for
 * a PUT, sent bytes too: a large upload receives nothing until its end. */
static int on_progress(void *payload, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_job *j = payload;
	uint64_t now = mono_ms();

	if (dlnow != j->last_rx ||
	    (j->upload_bytes && ulnow != j->last_tx)) {
		j->last_rx = dlnow;
		j->last_tx = ulnow;
		j->last_rx_ms = now;
		return 0;
	}
	if (now - j->last_rx_ms > j->stall_ms) {
		j->stalled = true;
		return 1; /* CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

void sat_fetch_xfer_setup(struct fetch_job *j, CURL *e,
			  const struct sat_fetch_opts *o, long timeout_ms)
{
	int stall_ms = j->stall_ms_req > 0 ? j->stall_ms_req
					   : o->stall_timeout_ms;
	/* LOW_SPEED_TIME counts whole seconds: round the stall up. */
	long stall_s = (stall_ms + 999) / 1000;
	uint64_t last = j->range_offset + j->range_length - 1;
	char range[64];

	try_reset(j);
	j->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* A signed request goes where it was signed for, or nowhere. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, j->sigv4 ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Over TLS, ALPN soon tells whether the connection multiplexes, so
	 * waiting for it beats opening another. In clear text there is no
	 * HTTP/2 here, and curl would wait for a whole first answer. */
	if (strncasecmp(j->url, "https:", 6) == 0)
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)o->connect_timeout_ms);
	/* the minimum useful rate, averaged over the stall timeout; a
	 * byte now and then keeps on_progress quiet, not this */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)o->min_rate_bytes);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_s ? stall_s : 1L);
	if (timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	j->stalled = false;
	j->stall_ms = (uint64_t)stall_ms;
	j->last_rx = j->last_tx = 0;
	j->last_rx_ms = mono_ms();
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, j);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "satfs/" SATFS_VERSION);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
	if (j->range_length) {
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64,
			 j->range_offset, last);
		curl_easy_setopt(e, CURLOPT_RANGE, range);
	} else if (!j->sigv4) {
		/* Ranges address the stored bytes: no content coding there;
		 * nor on objects of a store, whose digests are of the bytes
		 * as stored. */
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	}
	if (j->sigv4) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, j->sigv4);
		curl_easy_setopt(e, CURLOPT_USERNAME, j->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, j->secret);
	}
	if (strcmp(j->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(j->method, "PUT") == 0) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)j->upload_bytes);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(e, CURLOPT_READDATA, j);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_upload_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, j);
	} else if (strcmp(j->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)j->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body ? j->body : "");
	} else if (strcmp(j->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
	}
}
