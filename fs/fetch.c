/*
 * fetch: HTTP(S) engine on a curl multi handle; see include/satfs/fetch.h.
 *
 * Threading model
 * ---------------
 * One I/O thread (io_main) owns the CURLM, every easy handle, the pool of
 * idle easy handles, the list of running transfers (f->active) and the list
 * of retries waiting for their delay (f->timers). No other thread touches
 * them, so they need no lock.
 *
 * Any thread may call sat_fetch_submit(): it copies the request into a job,
 * appends it under f->lock to the queue of its priority and wakes the I/O
 * thread with curl_multi_wakeup(). f->lock also protects the per-host
 * counters, the stopping flag and the statistics. It is never held across
 * curl_multi_perform/poll, a callback, or a log line.
 *
 * The I/O thread loops: move due retries back to the head of their queue;
 * start queued jobs (foreground first; prefetch only when no foreground job
 * waits, and at most half of the per-host cap running as prefetch); run
 * curl_multi_perform; judge finished transfers (done, or retry later); and
 * sleep in curl_multi_poll until a socket is ready, curl wants a timeout,
 * the next retry is due, or a submitter wakes it.
 *
 * We count running transfers per host and never hand curl more than
 * connections_per_host of them, so that nothing waits in curl's own pending
 * queue where our priorities would not apply.
 *
 * Completion callbacks run on the I/O thread with no lock held. On
 * sat_fetch_free() the I/O thread cancels everything (callbacks get
 * -ECANCELED), then exits; free() joins it and releases the rest.
 *
 * sat_fetch_sync/sat_fetch_all fan out and wait on a counter and condition
 * variable owned by the caller.
 *
 * Files: this one holds the engine (queues, scheduling, the I/O thread,
 * life cycle); fs/fetch_xfer.c one try on an easy handle (options, body
 * reception, judging the answer); fs/fetch_retry.c the pure rules
 * (backoff, Retry-After, Content-Range, status to errno).
 *
 * Options: fields <= 0 take their defaults; verify_tls is taken as given
 * (and its being off is logged). stats.in_flight counts transfers handed
 * to curl, not jobs queued or waiting to retry.
 *
 * Deadlines: a request with deadline_ms gets it as an absolute time at
 * submit; one without gets the engine's (opts.deadline_ms) at its first
 * try, so that no request is ever without one. Each try is bounded by what is left (CURLOPT_TIMEOUT_MS), no
 * retry is scheduled past it, and a job still queued when it passes
 * completes with -ETIMEDOUT (the loop wakes at least once a second).
 *
 * Secrets: SigV4 keys and session tokens live in the job, go to curl as
 * options and headers, and are wiped when the job is freed. Neither the
 * headers nor the keys are ever logged.
 */
#include "satfs/fetch.h"

#include "fetch_private.h"
#include "fetch_job.h"
#include "satfs/bufpool.h"
#include "satfs/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define FETCH_POOL_MAX 32	  /* idle easy handles kept for reuse */
#define FETCH_POLL_MAX_MS 1000

struct fetch_host {
	struct fetch_host *next;
	int active;          /* transfers running; protected by f->lock */
	int active_prefetch; /* of which prefetch; protected by f->lock */
	char key[];          /* "scheme://host:port" */
};

struct job_list {
	struct fetch_job *head, *tail;
};

struct sat_fetch {
	struct sat_fetch_opts opts;
	CURLM *multi;
	pthread_t thread;

	pthread_mutex_t lock;
	struct job_list queue[2];     /* protected by lock; by priority */
	struct fetch_host *hosts;     /* protected by lock */
	bool stopping;                /* protected by lock */
	struct sat_fetch_stats stats; /* protected by lock */

	struct job_list active; /* I/O thread only */
	struct job_list timers; /* I/O thread only; sorted by due_ms */
	CURL *pool[FETCH_POOL_MAX];
	int npool;    /* I/O thread only */
	uint64_t rng; /* I/O thread only */
	struct curl_slist *connect_to; /* read-only after start; or NULL */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void list_remove(struct job_list *l, struct fetch_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		l->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		l->tail = j->prev;
	j->prev = j->next = NULL;
}

static void list_insert_before(struct job_list *l, struct fetch_job *pos,
			       struct fetch_job *j)
{
	j->next = pos;
	j->prev = pos ? pos->prev : l->tail;
	if (j->prev)
		j->prev->next = j;
	else
		l->head = j;
	if (pos)
		pos->prev = j;
	else
		l->tail = j;
}

static void free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void job_free(struct fetch_job *j)
{
	struct curl_slist *h;

	free(j->url);
	free(j->method);
	free(j->body);
	/* headers may carry a session token or an API key */
	for (h = j->headers; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(j->headers);
	free(j->sigv4);
	free_secret(j->user);
	free_secret(j->secret);
	sat_buf_free(j->buf);
	free(j->etag);
	free(j->hdrs);
	sat_progress_unref(j->progress);
	free(j);
}

/* ---- Submission (any thread) ---- */

/* Checks the scheme and finds the host key. Returns 0, -EPROTO for a
 * scheme other than http/https, -EINVAL for a malformed URL. */
static int url_host_key(const char *url, char *key, size_t len)
{
	char *scheme = NULL, *host = NULL, *port = NULL;
	CURLUcode uc;
	CURLU *u;
	int rc = -EINVAL;

	u = curl_url();
	if (!u)
		return -ENOMEM;
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_UNSUPPORTED_SCHEME) {
		rc = -EPROTO;
		goto out;
	}
	if (uc != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0) {
		rc = -EPROTO;
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
		    CURLUE_OK)
		goto out;
	snprintf(key, len, "%s://%s:%s", scheme, host, port);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* Called with f->lock held. */
static struct fetch_host *host_get(struct sat_fetch *f, const char *key)
{
	struct fetch_host *h;
	size_t n = strlen(key) + 1;

	for (h = f->hosts; h; h = h->next)
		if (strcmp(h->key, key) == 0)
			return h;
	h = calloc(1, sizeof(*h) + n);
	if (!h)
		return NULL;
	memcpy(h->key, key, n);
	h->next = f->hosts;
	f->hosts = h;
	return h;
}

static int header_add(struct fetch_job *j, const char *h)
{
	struct curl_slist *sl = curl_slist_append(j->headers, h);

	if (!sl)
		return -ENOMEM;
	j->headers = sl;
	return 0;
}

/* The SigV4 parts of a job: curl's parameter, the keys, and the headers
 * S3 wants with it. 0, -EINVAL (a part missing) or -ENOMEM. */
static int job_sigv4(struct fetch_job *j, const struct sat_fetch_sigv4 *v)
{
	char *tok = NULL;
	int rc;

	if (!v->region || !v->region[0] || !v->service || !v->service[0] ||
	    !v->access_key || !v->access_key[0] || !v->secret_key ||
	    strchr(v->region, ':') || strchr(v->service, ':'))
		return -EINVAL;
	if (asprintf(&j->sigv4, "aws:amz:%s:%s", v->region, v->service) < 0) {
		j->sigv4 = NULL;
		return -ENOMEM;
	}
	j->user = strdup(v->access_key);
	j->secret = strdup(v->secret_key);
	if (!j->user || !j->secret)
		return -ENOMEM;
	/* curl 7.88 hashes the POSTFIELDS (so: nothing, for a streamed
	 * body) unless this header says otherwise. */
	rc = header_add(j, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (rc == 0 && v->session_token && v->session_token[0]) {
		if (asprintf(&tok, "x-amz-security-token: %s",
			     v->session_token) < 0)
			return -ENOMEM;
		rc = header_add(j, tok);
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	return rc;
}

static bool is_upload(const char *method)
{
	return strcmp(method, "PUT") == 0;
}

static struct fetch_job *job_new(struct sat_fetch *f,
				 const struct sat_fetch_req *req, int *err)
{
	const char *const *hp;
	struct fetch_job *j;

	*err = -ENOMEM;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->url = strdup(req->url);
	j->method = strdup(req->method ? req->method : "GET");
	if (!j->url || !j->method)
		goto fail;
	if (req->body) {
		j->body = malloc(req->body_len + 1);
		if (!j->body)
			goto fail;
		memcpy(j->body, req->body, req->body_len);
		j->body[req->body_len] = '\0';
		j->body_len = req->body_len;
	}
	for (hp = req->headers; hp && *hp; hp++)
		if (header_add(j, *hp))
			goto fail;
	if (strcmp(j->method, "POST") == 0 ||
	    (is_upload(j->method) && !req->sigv4)) {
		/* No "Expect: 100-continue" round trip before a body (a
		 * server without it would cost a second each time). Not
		 * when signing: curl 7.88 signs the empty "Expect:" that it
		 * then leaves out, and S3 answers SignatureDoesNotMatch. */
		if (header_add(j, "Expect:"))
			goto fail;
	}
	j->flags = req->flags;
	j->upload_fd = j->download_fd = -1;
	if (is_upload(j->method)) {
		j->upload_bytes = req->body_len;
		if (req->flags & SAT_FETCH_UPLOAD_FD) {
			j->upload_fd = req->upload_fd;
			j->upload_bytes = req->upload_bytes;
		}
	} else if (req->flags & SAT_FETCH_UPLOAD_FD) {
		*err = -EINVAL; /* a body from a file is for PUT only */
		goto fail;
	}
	if (req->flags & SAT_FETCH_DOWNLOAD_FD)
		j->download_fd = req->download_fd;
	if (req->sigv4) {
		*err = job_sigv4(j, req->sigv4);
		if (*err)
			goto fail;
		*err = -ENOMEM;
	}
	if (req->deadline_ms > 0)
		j->deadline_at_ms = now_ms() + (uint64_t)req->deadline_ms;
	j->stall_ms_req = req->stall_timeout_ms > 0 ? req->stall_timeout_ms : 0;
	j->max_tries = req->max_tries > 0 ? req->max_tries
					  : f->opts.max_tries;
	j->range_offset = req->range_offset;
	j->range_length = req->range_length;
	j->max_body = req->max_body_bytes ? req->max_body_bytes
					  : f->opts.max_body_bytes;
	j->prio = req->priority == SAT_FETCH_PREFETCH ? SAT_FETCH_PREFETCH
						      : SAT_FETCH_FOREGROUND;
	*err = 0;
	return j;
fail:
	job_free(j);
	return NULL;
}

/* A file a body goes to must be a regular file (each try truncates it). */
static int check_download_fd(int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		return -EBADF;
	return S_ISREG(st.st_mode) ? 0 : -EINVAL;
}

int sat_fetch_submit(struct sat_fetch *f, const struct sat_fetch_req *req,
		     sat_fetch_done_fn done, void *payload)
{
	struct fetch_job *j;
	char key[512];
	int rc;

	if (!f || !req || !req->url || !done)
		return -EINVAL;
	if (req->range_length &&
	    req->range_offset > UINT64_MAX - req->range_length)
		return -EINVAL;
	if ((req->flags & SAT_FETCH_UPLOAD_FD) && req->upload_fd < 0)
		return -EBADF;
	if (req->flags & SAT_FETCH_DOWNLOAD_FD) {
		rc = check_download_fd(req->download_fd);
		if (rc)
			return rc;
	}
	j = job_new(f, req, &rc);
	if (!j)
		return rc;
	j->done = done;
	j->payload = payload;
	/* counted into the submitting render's progress (status file) */
	j->progress = req->progress;
	sat_progress_ref(j->progress);
	if (j->progress)
		atomic_fetch_add_explicit(&j->progress->bytes_wanted,
					  req->range_length,
					  memory_order_relaxed);
	/* A refused URL still completes through the callback, on the I/O
	 * thread, like every other failure; it never reaches curl. */
	rc = url_host_key(req->url, key, sizeof(key));
	if (rc == -ENOMEM) {
		job_free(j);
		return rc;
	}
	if (rc) {
		j->err = rc;
		snprintf(j->why, sizeof(j->why), "%s",
			 rc == -EPROTO ? "scheme not allowed" : "bad URL");
	}

	pthread_mutex_lock(&f->lock);
	if (f->stopping) {
		pthread_mutex_unlock(&f->lock);
		job_free(j);
		return -ECANCELED;
	}
	if (!j->err) {
		j->host = host_get(f, key);
		if (!j->host) {
			pthread_mutex_unlock(&f->lock);
			job_free(j);
			return -ENOMEM;
		}
	}
	list_insert_before(&f->queue[j->prio], NULL, j);
	pthread_mutex_unlock(&f->lock);
	curl_multi_wakeup(f->multi);
	return 0;
}

/* ---- One try (I/O thread) ---- */

static CURL *pool_get(struct sat_fetch *f)
{
	if (f->npool)
		return f->pool[--f->npool];
	return curl_easy_init();
}

static void pool_put(struct sat_fetch *f, CURL *e)
{
	if (!e)
		return;
	if (f->npool == FETCH_POOL_MAX) {
		curl_easy_cleanup(e);
		return;
	}
	curl_easy_reset(e);
	f->pool[f->npool++] = e;
}

static int try_start(struct sat_fetch *f, struct fetch_job *j)
{
	uint64_t now = now_ms();
	long timeout_ms;
	CURL *e;

	if (!j->deadline_at_ms)
		j->deadline_at_ms = now + (uint64_t)f->opts.deadline_ms;
	if (now >= j->deadline_at_ms)
		return -ETIMEDOUT;
	timeout_ms = (long)(j->deadline_at_ms - now);
	e = pool_get(f);
	if (!e)
		return -ENOMEM;
	sat_fetch_xfer_setup(j, e, &f->opts, timeout_ms);
	if (f->connect_to)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, f->connect_to);
	j->tries++;
	if (j->progress)
		atomic_fetch_add_explicit(&j->progress->requests, 1,
					  memory_order_relaxed);
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		pool_put(f, e);
		j->easy = NULL;
		return -EIO;
	}
	list_insert_before(&f->active, NULL, j);
	return 0;
}

/* ---- Completion (I/O thread, no lock held) ---- */

static void job_complete(struct sat_fetch *f, struct fetch_job *j, int err)
{
	struct sat_fetch_result res = { 0 };
	char safe[512];

	res.err = err;
	res.status = j->status;
	res.tries = j->tries;
	if (err)
		memcpy(res.why, j->why, sizeof(res.why) < sizeof(j->why)
						? sizeof(res.why)
						: sizeof(j->why));
	res.why[sizeof(res.why) - 1] = '\0';
	if (!err) {
		res.data = j->buf ? j->buf : calloc(1, 1);
		res.len = j->len;
		res.object_size = j->object_size;
		res.etag = j->etag;
		j->buf = j->etag = NULL;
		if (!res.data)
			res.err = -ENOMEM;
	} else if (j->http_err && j->buf) {
		res.data = j->buf; /* the server's error page */
		res.len = j->len;
		j->buf = NULL;
	}
	res.headers = j->hdrs;
	j->hdrs = NULL;
	if (j->easy) {
		pool_put(f, j->easy);
		j->easy = NULL;
	}
	if (res.err && res.err != -ECANCELED) {
		/* Debug only: the caller, which knows what the request was
		 * for, logs the failure once. Query strings may hold tokens
		 * and headers are never logged. */
		sat_debug("fetch: %s %s failed: status %ld, %s, %d %s",
			 j->method, sat_log_url(j->url, safe, sizeof(safe)),
			 res.status, j->why[0] ? j->why : strerror(-res.err),
			 res.tries, res.tries == 1 ? "try" : "tries");
		pthread_mutex_lock(&f->lock);
		f->stats.failures++;
		pthread_mutex_unlock(&f->lock);
	}
	j->done(&res, j->payload);
	job_free(j);
}

static void timer_add(struct sat_fetch *f, struct fetch_job *j)
{
	struct fetch_job *pos;

	for (pos = f->timers.head; pos && pos->due_ms <= j->due_ms;
	     pos = pos->next)
		;
	list_insert_before(&f->timers, pos, j);
}

/* Handles every transfer curl reports finished. Returns how many. */
static int reap(struct sat_fetch *f)
{
	struct fetch_job *j;
	CURLMsg *msg;
	int left, n = 0, delay;
	bool retry;

	while ((msg = curl_multi_info_read(f->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &j);
		retry = sat_fetch_xfer_judge(j, msg->data.result,
					     f->opts.backoff_max_ms);
		curl_multi_remove_handle(f->multi, j->easy);
		list_remove(&f->active, j);
		retry = retry && j->tries < j->max_tries;
		delay = 0;
		if (retry) {
			delay = sat_fetch_backoff_ms(j->tries,
						     f->opts.backoff_base_ms,
						     f->opts.backoff_max_ms,
						     &f->rng);
			if (j->retry_after_ms >= 0)
				delay = (int)j->retry_after_ms;
			/* no try that could not finish before the deadline */
			if (j->deadline_at_ms &&
			    now_ms() + (uint64_t)delay >= j->deadline_at_ms)
				retry = false;
		}
		n++;

		pthread_mutex_lock(&f->lock);
		j->host->active--;
		if (j->prio == SAT_FETCH_PREFETCH)
			j->host->active_prefetch--;
		f->stats.in_flight--;
		f->stats.bytes += j->try_bytes;
		if (retry)
			f->stats.retries++;
		pthread_mutex_unlock(&f->lock);
		if (retry && j->progress) {
			/* the next try receives those bytes again */
			atomic_fetch_add_explicit(&j->progress->retries, 1,
						  memory_order_relaxed);
			atomic_fetch_sub_explicit(&j->progress->bytes_done,
						  j->try_bytes,
						  memory_order_relaxed);
		}

		if (!retry) {
			job_complete(f, j, j->err);
			continue;
		}
		sat_debug("fetch: try %d failed (%ld, %s), again in %d ms",
			  j->tries, j->status, j->why, delay);
		pool_put(f, j->easy);
		j->easy = NULL;
		j->due_ms = now_ms() + (uint64_t)delay;
		timer_add(f, j);
	}
	return n;
}

/* ---- Scheduling (I/O thread) ---- */

/* Moves due retries to the head of their queue: they were admitted before
 * anything queued now. */
static void timers_release(struct sat_fetch *f)
{
	uint64_t now = now_ms();
	struct fetch_job *j;
	struct job_list due = { 0 };

	while ((j = f->timers.head) && j->due_ms <= now) {
		list_remove(&f->timers, j);
		list_insert_before(&due, NULL, j);
	}
	if (!due.head)
		return;
	pthread_mutex_lock(&f->lock);
	while ((j = due.tail)) {
		list_remove(&due, j);
		list_insert_before(&f->queue[j->prio], f->queue[j->prio].head,
				   j);
	}
	pthread_mutex_unlock(&f->lock);
}

/* Called with f->lock held: takes the jobs that may start now, and
 * those whose deadline passed while they waited (into expired). */
static void pick_jobs(struct sat_fetch *f, struct job_list *go,
		      struct job_list *expired)
{
	int cap = f->opts.connections_per_host;
	int pcap = cap / 2 > 0 ? cap / 2 : 1;
	struct fetch_job *j, *next;
	uint64_t now = now_ms();
	int p;

	for (p = SAT_FETCH_FOREGROUND; p <= SAT_FETCH_PREFETCH; p++) {
		for (j = f->queue[p].head; j; j = next) {
			next = j->next;
			if (j->deadline_at_ms && now >= j->deadline_at_ms) {
				list_remove(&f->queue[p], j);
				list_insert_before(expired, NULL, j);
			}
		}
	}
	for (p = SAT_FETCH_FOREGROUND; p <= SAT_FETCH_PREFETCH; p++) {
		/* Prefetch never starts while a foreground job waits. */
		if (p == SAT_FETCH_PREFETCH && f->queue[0].head)
			break;
		for (j = f->queue[p].head; j; j = next) {
			next = j->next;
			if (j->host && (j->host->active >= cap ||
					(p == SAT_FETCH_PREFETCH &&
					 j->host->active_prefetch >= pcap)))
				continue;
			list_remove(&f->queue[p], j);
			list_insert_before(go, NULL, j);
			if (!j->host)
				continue; /* refused: completes at once */
			j->host->active++;
			if (p == SAT_FETCH_PREFETCH)
				j->host->active_prefetch++;
			f->stats.in_flight++;
			f->stats.requests++;
		}
	}
}

static void start_jobs(struct sat_fetch *f)
{
	struct job_list go = { 0 }, expired = { 0 };
	struct fetch_job *j;
	int rc;

	pthread_mutex_lock(&f->lock);
	pick_jobs(f, &go, &expired);
	pthread_mutex_unlock(&f->lock);
	while ((j = expired.head)) {
		list_remove(&expired, j);
		if (!j->err || j->err == -ETIMEDOUT) {
			/* keep the last try's cause when there was one */
			if (!j->why[0])
				snprintf(j->why, sizeof(j->why),
					 "deadline passed while queued");
			j->err = -ETIMEDOUT;
		}
		job_complete(f, j, j->err);
	}
	while ((j = go.head)) {
		list_remove(&go, j);
		if (!j->host) {
			job_complete(f, j, j->err);
			continue;
		}
		rc = try_start(f, j);
		if (!rc)
			continue;
		pthread_mutex_lock(&f->lock);
		j->host->active--;
		if (j->prio == SAT_FETCH_PREFETCH)
			j->host->active_prefetch--;
		f->stats.in_flight--;
		pthread_mutex_unlock(&f->lock);
		snprintf(j->why, sizeof(j->why), "%s",
			 rc == -ETIMEDOUT ? "deadline passed"
					  : "cannot start transfer");
		job_complete(f, j, rc);
	}
}

static int poll_timeout_ms(struct sat_fetch *f)
{
	uint64_t now = now_ms(), due;

	if (!f->timers.head)
		return FETCH_POLL_MAX_MS;
	due = f->timers.head->due_ms;
	if (due <= now)
		return 0;
	return due - now < FETCH_POLL_MAX_MS ? (int)(due - now)
					     : FETCH_POLL_MAX_MS;
}

/* On the way out: everything not finished completes with -ECANCELED. */
static void cancel_all(struct sat_fetch *f)
{
	struct job_list q[2];
	struct fetch_job *j;
	int p;

	while ((j = f->active.head)) {
		list_remove(&f->active, j);
		curl_multi_remove_handle(f->multi, j->easy);
		pthread_mutex_lock(&f->lock);
		j->host->active--;
		if (j->prio == SAT_FETCH_PREFETCH)
			j->host->active_prefetch--;
		f->stats.in_flight--;
		pthread_mutex_unlock(&f->lock);
		job_complete(f, j, -ECANCELED);
	}
	while ((j = f->timers.head)) {
		list_remove(&f->timers, j);
		job_complete(f, j, -ECANCELED);
	}
	pthread_mutex_lock(&f->lock);
	q[0] = f->queue[0];
	q[1] = f->queue[1];
	memset(f->queue, 0, sizeof(f->queue));
	pthread_mutex_unlock(&f->lock);
	for (p = 0; p < 2; p++) {
		while ((j = q[p].head)) {
			list_remove(&q[p], j);
			job_complete(f, j, -ECANCELED);
		}
	}
}

static void *io_main(void *arg)
{
	struct sat_fetch *f = arg;
	int running;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		stop = f->stopping;
		pthread_mutex_unlock(&f->lock);
		if (stop)
			break;
		timers_release(f);
		start_jobs(f);
		curl_multi_perform(f->multi, &running);
		/* Finished transfers free slots: fill them before sleeping. */
		if (reap(f) > 0)
			continue;
		curl_multi_poll(f->multi, NULL, 0, poll_timeout_ms(f), NULL);
	}
	cancel_all(f);
	return NULL;
}

/* ---- Life cycle ---- */

static void opts_defaults(struct sat_fetch_opts *o,
			  const struct sat_fetch_opts *in)
{
	if (in)
		*o = *in;
	else
		o->verify_tls = true;
	if (o->connections_per_host <= 0)
		o->connections_per_host = 16;
	if (o->max_tries <= 0)
		o->max_tries = 5;
	if (o->connect_timeout_ms <= 0)
		o->connect_timeout_ms = 10000;
	if (o->stall_timeout_ms <= 0)
		o->stall_timeout_ms = 30000;
	if (o->min_rate_bytes <= 0)
		o->min_rate_bytes = 1;
	if (o->deadline_ms <= 0)
		o->deadline_ms = 5 * (o->stall_timeout_ms +
				      o->connect_timeout_ms);
	if (o->backoff_base_ms <= 0)
		o->backoff_base_ms = 200;
	if (o->backoff_max_ms <= 0)
		o->backoff_max_ms = 20000;
	if (!o->max_body_bytes)
		o->max_body_bytes = (size_t)64 << 20;
}

/* Splits blank-separated CONNECT_TO entries into a curl list. */
static int connect_to_list(const char *s, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *n;
	char entry[512];
	size_t len;

	while (*s) {
		s += strspn(s, " \t");
		len = strcspn(s, " \t");
		if (len == 0)
			break;
		if (len >= sizeof(entry)) {
			curl_slist_free_all(l);
			return -EINVAL;
		}
		memcpy(entry, s, len);
		entry[len] = '\0';
		s += strcspn(s, " \t");
		n = curl_slist_append(l, entry);
		if (!n) {
			curl_slist_free_all(l);
			return -ENOMEM;
		}
		l = n;
	}
	*out = l;
	return 0;
}

int sat_fetch_new(struct sat_fetch **out, const struct sat_fetch_opts *opts)
{
	struct sat_fetch *f;
	struct timespec ts;
	int rc;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -EIO;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	opts_defaults(&f->opts, opts);
	f->opts.connect_to = NULL; /* the caller's string: kept as a list */
	rc = opts && opts->connect_to
		     ? connect_to_list(opts->connect_to, &f->connect_to)
		     : 0;
	if (rc) {
		free(f);
		return rc;
	}
	if (!f->opts.verify_tls)
		sat_warn("fetch: TLS certificate verification is off");
	clock_gettime(CLOCK_REALTIME, &ts);
	f->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		 (uint64_t)(uintptr_t)f;
	f->multi = curl_multi_init();
	if (!f->multi) {
		rc = -ENOMEM;
		goto err_free;
	}
	curl_multi_setopt(f->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)f->opts.connections_per_host);
	pthread_mutex_init(&f->lock, NULL);
	rc = -pthread_create(&f->thread, NULL, io_main, f);
	if (rc)
		goto err_multi;
	*out = f;
	return 0;

err_multi:
	pthread_mutex_destroy(&f->lock);
	curl_multi_cleanup(f->multi);
err_free:
	curl_slist_free_all(f->connect_to);
	free(f);
	return rc;
}

void sat_fetch_free(struct sat_fetch *f)
{
	struct fetch_host *h;

	if (!f)
		return;
	sat_fetch_cancel(f);
	pthread_join(f->thread, NULL);
	while (f->npool)
		curl_easy_cleanup(f->pool[--f->npool]);
	curl_multi_cleanup(f->multi);
	while ((h = f->hosts)) {
		f->hosts = h->next;
		free(h);
	}
	pthread_mutex_destroy(&f->lock);
	curl_slist_free_all(f->connect_to);
	free(f);
}

void sat_fetch_cancel(struct sat_fetch *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_mutex_unlock(&f->lock);
	curl_multi_wakeup(f->multi);
}

void sat_fetch_get_stats(struct sat_fetch *f, struct sat_fetch_stats *st)
{
	pthread_mutex_lock(&f->lock);
	*st = f->stats;
	pthread_mutex_unlock(&f->lock);
}

void sat_fetch_result_clear(struct sat_fetch_result *res)
{
	if (!res)
		return;
	sat_buf_free(res->data);
	free(res->etag);
	free(res->headers);
	memset(res, 0, sizeof(*res));
}

const char *sat_fetch_result_header(const struct sat_fetch_result *res,
				    const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name), vl;
	const char *p, *v, *e;

	if (!res || !res->headers || !len)
		return NULL;
	for (p = res->headers; *p; p = e + (*e == '\n')) {
		e = p + strcspn(p, "\n");
		if ((size_t)(e - p) <= nl || p[nl] != ':' ||
		    strncasecmp(p, name, nl) != 0)
			continue;
		for (v = p + nl + 1; v < e && (*v == ' ' || *v == '\t'); v++)
			;
		vl = (size_t)(e - v);
		if (vl >= len)
			vl = len - 1;
		memcpy(buf, v, vl);
		buf[vl] = '\0';
		return buf;
	}
	return NULL;
}

/* ---- Fan out, fan in (caller's thread) ---- */

struct fetch_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t pending; /* protected by lock */
};

struct fetch_slot {
	struct fetch_wait *w;
	struct sat_fetch_result *res;
};

static void on_slot_done(struct sat_fetch_result *res, void *payload)
{
	struct fetch_slot *s = payload;
	struct fetch_wait *w = s->w;

	*s->res = *res;
	pthread_mutex_lock(&w->lock);
	w->pending--;
	/* Signalled under the lock on purpose: the waiter owns w and frees
	 * it as soon as it sees pending == 0, so nothing may touch w after
	 * the unlock. */
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int sat_fetch_all(struct sat_fetch *f, const struct sat_fetch_req *reqs,
		  struct sat_fetch_result *res, size_t n)
{
	struct fetch_wait w = { .pending = n };
	struct fetch_slot *slots;
	size_t i;
	int rc;

	if (!n)
		return 0;
	memset(res, 0, n * sizeof(*res));
	slots = calloc(n, sizeof(*slots));
	if (!slots) {
		for (i = 0; i < n; i++)
			res[i].err = -ENOMEM;
		return -ENOMEM;
	}
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	for (i = 0; i < n; i++) {
		slots[i].w = &w;
		slots[i].res = &res[i];
		rc = sat_fetch_submit(f, &reqs[i], on_slot_done, &slots[i]);
		if (rc) {
			res[i].err = rc;
			pthread_mutex_lock(&w.lock);
			w.pending--;
			pthread_mutex_unlock(&w.lock);
		}
	}
	pthread_mutex_lock(&w.lock);
	while (w.pending)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	free(slots);
	for (i = 0; i < n; i++)
		if (res[i].err)
			return res[i].err;
	return 0;
}

int sat_fetch_sync(struct sat_fetch *f, const struct sat_fetch_req *req,
		   struct sat_fetch_result *res)
{
	return sat_fetch_all(f, req, res, 1);
}
