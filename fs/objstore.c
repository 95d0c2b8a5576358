/*
 * objstore: the shared cache tier on an S3-compatible store; see
 * include/satfs/objstore.h. This file: the client, its URLs, one request
 * with its deadline and what it says about the store's health, and the
 * object operations. fs/objstore_cred.c reads the credentials,
 * fs/objstore_lease.c does leases.
 *
 * Threading model: any thread but the fetch I/O thread may call; each
 * call blocks in sat_fetch_sync() until its deadline at most. s->lock
 * protects the credentials, the health state and the backoff. It is held
 * only to copy or update them: never across a request, a file read or a
 * log line (log lines are composed under it and emitted after unlocking).
 */
#include "objstore_private.h"

#include "satfs/cache.h"
#include "satfs/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define META_SHA256 "x-amz-meta-satfs-sha256"
#define HASH_BUF (256 * 1024)
#define S3_SAFE "!-_.*'()/"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int sat_objstore_parse_store(const char *store, char *bucket, size_t blen,
			     char *prefix, size_t plen, char *err,
			     size_t errlen)
{
	const char *b, *slash, *p;
	size_t n, i;

	if (!store || strncmp(store, "s3://", 5) != 0) {
		snprintf(err, errlen, "'%s' is not s3://BUCKET[/PREFIX]",
			 store ? store : "");
		return -EINVAL;
	}
	b = store + 5;
	slash = strchr(b, '/');
	n = slash ? (size_t)(slash - b) : strlen(b);
	if (n < 3 || n > 63 || n >= blen || !is_lower_alnum(b[0]) ||
	    !is_lower_alnum(b[n - 1])) {
		snprintf(err, errlen, "bucket '%.*s' is not 3 to 63 of a-z, "
			 "0-9, '.' and '-'", (int)(n > 80 ? 80 : n), b);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(b[i]) && b[i] != '.' && b[i] != '-') {
			snprintf(err, errlen, "bucket '%.*s' is not 3 to 63 "
				 "of a-z, 0-9, '.' and '-'", (int)n, b);
			return -EINVAL;
		}
	}
	memcpy(bucket, b, n);
	bucket[n] = '\0';
	p = slash ? slash + 1 : "";
	n = strlen(p);
	while (n && p[n - 1] == '/')
		n--; /* s3://b/prefix/ means s3://b/prefix */
	if (n >= plen || n >= SAT_OBJSTORE_PREFIX_MAX) {
		snprintf(err, errlen, "prefix longer than %d characters",
			 SAT_OBJSTORE_PREFIX_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)p[i]) && !strchr(S3_SAFE, p[i])) {
			snprintf(err, errlen, "prefix may hold only letters, "
				 "digits and %s", S3_SAFE);
			return -EINVAL;
		}
		if (p[i] == '/' && (i == 0 || p[i - 1] == '/')) {
			snprintf(err, errlen, "prefix has an empty part");
			return -EINVAL;
		}
	}
	memcpy(prefix, p, n);
	prefix[n] = '\0';
	return 0;
}

bool sat_objstore_valid_endpoint(const char *s)
{
	const char *h;

	if (strncmp(s, "https://", 8) == 0)
		h = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		h = s + 7;
	else
		return false;
	if (!*h || *h == '/' || strlen(s) > 512)
		return false;
	for (; *s; s++)
		if (!isgraph((unsigned char)*s) || *s == '?' || *s == '#' ||
		    *s == '@')
			return false;
	return true;
}

bool sat_objstore_valid_region(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
					    "0123456789-") == n;
}

bool sat_objstore_valid_name(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n >= SAT_OBJSTORE_NAME_MAX || name[0] == '/' ||
	    name[n - 1] == '/')
		return false;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) &&
		    !strchr("-_.~/", name[i]))
			return false;
		if (name[i] == '/' && name[i - 1] == '/')
			return false;
		if (name[i] == '.' && (i == 0 || name[i - 1] == '/') &&
		    (name[i + 1] == '/' || !name[i + 1] ||
		     (name[i + 1] == '.' &&
		      (name[i + 2] == '/' || !name[i + 2]))))
			return false; /* "." and ".." parts */
	}
	return true;
}

/* ---- Life cycle ---- */

static void opts_defaults(struct sat_objstore_opts *o)
{
	if (o->timeout_ms <= 0)
		o->timeout_ms = 5000;
	if (o->transfer_timeout_ms <= 0)
		o->transfer_timeout_ms = 600000;
	if (o->stall_timeout_ms <= 0)
		o->stall_timeout_ms = 10000;
	if (o->max_tries <= 0)
		o->max_tries = 2;
	if (!o->max_object_bytes)
		o->max_object_bytes = (uint64_t)4 << 30;
	if (o->backoff_min_ms <= 0)
		o->backoff_min_ms = 5000;
	if (o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms > 300000
					    ? o->backoff_min_ms
					    : 300000;
	if (o->lease_skew_s == 0)
		o->lease_skew_s = 5;
	else if (o->lease_skew_s < 0)
		o->lease_skew_s = 0;
}

static int set_holder(struct sat_objstore *s, const char *holder, char *err,
		      size_t errlen)
{
	char host[64] = "host";
	size_t n;

	if (holder) {
		n = strlen(holder);
		if (n == 0 || n >= sizeof(s->holder) ||
		    strspn(holder, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
				   "pqrstuvwxyz0123456789._:@-") != n) {
			snprintf(err, errlen, "lease holder '%.*s' is not 1 to "
				 "95 of A-Z a-z 0-9 . _ : @ -", 100, holder);
			return -EINVAL;
		}
		memcpy(s->holder, holder, n + 1);
		return 0;
	}
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	for (n = 0; host[n]; n++)
		if (!isalnum((unsigned char)host[n]) && host[n] != '.' &&
		    host[n] != '-')
			host[n] = '-';
	snprintf(s->holder, sizeof(s->holder), "%s:%ld", host,
		 (long)getpid());
	return 0;
}

static int build_base(struct sat_objstore *s, const char *endpoint)
{
	const char *sep = s->prefix[0] ? "/" : "";
	size_t n;
	int rc;

	if (endpoint) {
		n = strlen(endpoint);
		while (n > 8 && endpoint[n - 1] == '/')
			n--;
		rc = asprintf(&s->base, "%.*s/%s/%s%s", (int)n, endpoint,
			      s->bucket, s->prefix, sep);
		if (rc >= 0)
			rc = asprintf(&s->desc, "s3://%s/%s at %.*s", s->bucket,
				      s->prefix, (int)n, endpoint);
	} else if (strchr(s->bucket, '.')) {
		rc = asprintf(&s->base, "https://s3.%s.amazonaws.com/%s/%s%s",
			      s->region, s->bucket, s->prefix, sep);
		if (rc >= 0)
			rc = asprintf(&s->desc, "s3://%s/%s (AWS %s)",
				      s->bucket, s->prefix, s->region);
	} else {
		rc = asprintf(&s->base, "https://%s.s3.%s.amazonaws.com/%s%s",
			      s->bucket, s->region, s->prefix, sep);
		if (rc >= 0)
			rc = asprintf(&s->desc, "s3://%s/%s (AWS %s)",
				      s->bucket, s->prefix, s->region);
	}
	return rc < 0 ? -ENOMEM : 0;
}

int sat_objstore_new(struct sat_objstore **out, struct sat_fetch *fetch,
		     const struct sat_objstore_opts *opts, char *err,
		     size_t errlen)
{
	const char *region = opts->region;
	struct sat_objstore *s;
	int rc;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fetch = fetch;
	s->o = *opts;
	s->o.store = s->o.endpoint = s->o.region = s->o.holder = NULL;
	opts_defaults(&s->o);
	rc = sat_objstore_parse_store(opts->store, s->bucket,
				      sizeof(s->bucket), s->prefix,
				      sizeof(s->prefix), err, errlen);
	if (rc)
		goto fail;
	if (opts->endpoint && !sat_objstore_valid_endpoint(opts->endpoint)) {
		snprintf(err, errlen, "endpoint '%.200s' is not an http:// or "
			 "https:// URL", opts->endpoint);
		rc = -EINVAL;
		goto fail;
	}
	if (!region || !region[0])
		region = getenv("AWS_REGION");
	if (!region || !region[0])
		region = "us-east-1";
	if (!sat_objstore_valid_region(region)) {
		snprintf(err, errlen, "region '%.64s' is not a region name such "
			 "as eu-central-1", region);
		rc = -EINVAL;
		goto fail;
	}
	snprintf(s->region, sizeof(s->region), "%s", region);
	rc = set_holder(s, opts->holder, err, errlen);
	if (rc)
		goto fail;
	rc = build_base(s, opts->endpoint);
	if (rc)
		goto fail;
	rc = sat_objstore_creds_load(&s->creds, err, errlen);
	if (rc)
		goto fail;
	pthread_mutex_init(&s->lock, NULL);
	s->h.ok = true;
	sat_debug("shared store %s: credentials from %s", s->desc,
		  s->creds.source);
	*out = s;
	return 0;
fail:
	free(s->base);
	free(s->desc);
	free(s);
	return rc;
}

void sat_objstore_free(struct sat_objstore *s)
{
	if (!s)
		return;
	sat_objstore_creds_clear(&s->creds);
	pthread_mutex_destroy(&s->lock);
	free(s->base);
	free(s->desc);
	free(s);
}

const char *sat_objstore_describe(const struct sat_objstore *s)
{
	return s->desc;
}

void sat_objstore_get_health(struct sat_objstore *s,
			     struct sat_objstore_health *h)
{
	pthread_mutex_lock(&s->lock);
	*h = s->h;
	pthread_mutex_unlock(&s->lock);
}

/* ---- One request ---- */

/* Is err a failure of the store (as opposed to an answer about an object,
 * or a fault of ours)? */
static bool store_failure(int err, const struct sat_fetch_result *res)
{
	switch (err) {
	case 0:
	case -ENOENT:
	case -EEXIST:
	case -EBUSY:
	case -EFBIG:
	case -EINVAL:
	case -EBADF:
	case -ENOMEM:
	case -ECANCELED:
		return false;
	default:
		/* reading or writing our own file failed */
		return !strstr(res->why, "body file");
	}
}

/* The S3 error code of an error page ("SlowDown"), or "". */
static void s3_code(const struct sat_fetch_result *res, char *code,
		    size_t len)
{
	const char *p = res->data ? strstr(res->data, "<Code>") : NULL;
	size_t n = 0;

	if (p)
		for (p += 6; n + 1 < len && isalnum((unsigned char)p[n]); n++)
			code[n] = p[n];
	code[n] = '\0';
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Returns -EHOSTDOWN while failing and not yet due for another try. The
 * due time is kept in milliseconds: in whole seconds, a failure recorded
 * just before a second began made a backoff of 1 s last a millisecond. */
static int gate(struct sat_objstore *s)
{
	uint64_t now = mono_ms();
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!s->h.ok && now < s->retry_at_ms) {
		s->h.refused++;
		rc = -EHOSTDOWN;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void record(struct sat_objstore *s, const char *method,
		   const char *url, const struct sat_fetch_result *res)
{
	char line[sizeof(s->h.last_why)], safe[200], code[48];
	bool fail = store_failure(res->err, res), was_ok;
	int delay_ms = 0;

	pthread_mutex_lock(&s->lock);
	s->h.requests += (uint64_t)(res->tries ? res->tries : 0);
	was_ok = s->h.ok;
	if (!fail) {
		s->h.ok = true;
		s->h.failures = 0;
		s->backoff_ms = 0;
		pthread_mutex_unlock(&s->lock);
		if (!was_ok)
			sat_info("shared store %s: working again", s->desc);
		return;
	}
	s3_code(res, code, sizeof(code));
	sat_log_url(url, safe, sizeof(safe));
	if (res->status)
		snprintf(line, sizeof(line), "%.8s %s: HTTP %ld%s%s", method,
			 safe, res->status, code[0] ? " " : "", code);
	else
		snprintf(line, sizeof(line), "%.8s %s: %.100s", method, safe,
			 res->why[0] ? res->why : strerror(-res->err));
	/* One outage backs off once: the requests that were in flight when
	 * it began fail within the backoff, and do not double it again;
	 * only a try made after it (due again) does. */
	if (was_ok || mono_ms() >= s->retry_at_ms) {
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2
					      : s->o.backoff_min_ms;
		if (s->backoff_ms > s->o.backoff_max_ms)
			s->backoff_ms = s->o.backoff_max_ms;
		s->retry_at_ms = mono_ms() + (uint64_t)s->backoff_ms;
		s->h.retry_s = time(NULL) + (s->backoff_ms + 999) / 1000;
	}
	delay_ms = s->backoff_ms;
	s->h.ok = false;
	s->h.failures++;
	s->h.last_err = res->err;
	s->h.last_err_s = time(NULL);
	memcpy(s->h.last_why, line, sizeof(line));
	pthread_mutex_unlock(&s->lock);
	if (was_ok)
		sat_warn("shared store %s: %s; rendering locally, trying the "
			 "store again in %d s", s->desc, line,
			 (delay_ms + 999) / 1000);
	else
		sat_debug("shared store %s still failing: %s", s->desc, line);
}

/* Copies the keys for one request (wiped by creds_clear). */
static int creds_copy(struct sat_objstore *s, struct objstore_creds *c)
{
	int rc = 0;

	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&s->lock);
	c->access_key = strdup(s->creds.access_key);
	c->secret_key = strdup(s->creds.secret_key);
	if (s->creds.session_token)
		c->session_token = strdup(s->creds.session_token);
	if (!c->access_key || !c->secret_key ||
	    (s->creds.session_token && !c->session_token))
		rc = -ENOMEM;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* After a 403: reads the keys again. True when they changed. */
static bool creds_reload(struct sat_objstore *s,
			 const struct objstore_creds *used)
{
	struct objstore_creds fresh, old;
	char err[256];
	bool changed;

	if (sat_objstore_creds_load(&fresh, err, sizeof(err)) != 0)
		return false;
	changed = !sat_objstore_creds_equal(&fresh, used);
	if (!changed) {
		sat_objstore_creds_clear(&fresh);
		return false;
	}
	pthread_mutex_lock(&s->lock);
	old = s->creds;
	s->creds = fresh;
	pthread_mutex_unlock(&s->lock);
	sat_objstore_creds_clear(&old);
	sat_info("shared store %s: credentials read again from %s", s->desc,
		 fresh.source);
	return true;
}

int sat_objstore_request(struct sat_objstore *s, const char *name,
			 struct sat_fetch_req *req, bool big,
			 struct sat_fetch_result *res)
{
	struct sat_fetch_sigv4 v = { .region = s->region, .service = "s3" };
	struct objstore_creds c;
	char *url = NULL;
	int rc, again;

	memset(res, 0, sizeof(*res));
	if (!sat_objstore_valid_name(name))
		return res->err = -EINVAL;
	rc = gate(s);
	if (rc)
		return res->err = rc;
	if (asprintf(&url, "%s%s", s->base, name) < 0)
		return res->err = -ENOMEM;
	req->url = url;
	req->sigv4 = &v;
	if (!req->deadline_ms)
		req->deadline_ms = big ? s->o.transfer_timeout_ms
				       : s->o.timeout_ms;
	if (!req->stall_timeout_ms)
		req->stall_timeout_ms = s->o.stall_timeout_ms;
	if (!req->max_tries)
		req->max_tries = s->o.max_tries;
	for (again = 1;; again--) {
		rc = creds_copy(s, &c);
		if (rc) {
			res->err = rc;
			break;
		}
		v.access_key = c.access_key;
		v.secret_key = c.secret_key;
		v.session_token = c.session_token;
		rc = sat_fetch_sync(s->fetch, req, res);
		/* rotated keys or an expired session token: once more */
		if (rc == -EACCES && again && creds_reload(s, &c)) {
			sat_objstore_creds_clear(&c);
			sat_fetch_result_clear(res);
			continue;
		}
		sat_objstore_creds_clear(&c);
		break;
	}
	record(s, req->method ? req->method : "GET", url, res);
	req->url = NULL;
	req->sigv4 = NULL;
	free(url);
	return res->err;
}

/* ---- Objects ---- */

static bool is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[64] == '\0';
}

/* SHA-256 of the first size bytes of fd (size UINT64_MAX: to its end). */
static int hash_fd(int fd, uint64_t size, char hex[SAT_HASH_HEX],
		   uint64_t *got)
{
	struct sat_hash h;
	uint64_t off = 0;
	ssize_t r = 0;
	int err = 0;
	char *buf;

	buf = malloc(HASH_BUF);
	if (!buf)
		return -ENOMEM;
	sat_hash_init(&h);
	while (off < size) {
		size_t want = size - off < HASH_BUF ? (size_t)(size - off)
						    : HASH_BUF;

		r = pread(fd, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = -errno;
		if (r <= 0)
			break;
		sat_hash_add(&h, buf, (size_t)r);
		off += (uint64_t)r;
	}
	sat_hash_final(&h, hex);
	free(buf);
	if (err)
		return err;
	if (got)
		*got = off;
	return size != UINT64_MAX && off != size ? -EIO : 0;
}

int sat_objstore_get(struct sat_objstore *s, const char *name, int fd,
		     uint64_t *size)
{
	struct sat_fetch_req req = {
		.flags = SAT_FETCH_DOWNLOAD_FD | SAT_FETCH_KEEP_HEADERS,
		.download_fd = fd,
		.max_body_bytes = (size_t)s->o.max_object_bytes,
	};
	struct sat_fetch_result res;
	char want[80], got[SAT_HASH_HEX];
	const char *why = NULL;
	uint64_t n = 0;
	int rc;

	rc = sat_objstore_request(s, name, &req, true, &res);
	if (rc == -ENOENT || rc == 0) {
		pthread_mutex_lock(&s->lock);
		if (rc)
			s->h.misses++;
		pthread_mutex_unlock(&s->lock);
	}
	if (rc)
		goto out;
	if (!sat_fetch_result_header(&res, META_SHA256, want, sizeof(want)) ||
	    !is_hex64(want)) {
		why = "no digest recorded";
	} else {
		rc = hash_fd(fd, UINT64_MAX, got, &n);
		if (rc)
			goto out;
		if (n != res.len)
			why = "size changed while checked";
		else if (strcmp(want, got) != 0)
			why = "SHA-256 does not match";
	}
	if (why) {
		rc = -EBADMSG;
		if (ftruncate(fd, 0) != 0)
			rc = -EBADMSG; /* still refused; nothing more to do */
		pthread_mutex_lock(&s->lock);
		s->h.bad_objects++;
		pthread_mutex_unlock(&s->lock);
		sat_warn("shared store %s: object %s refused: %s", s->desc,
			 name, why);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	s->h.hits++;
	pthread_mutex_unlock(&s->lock);
	if (size)
		*size = res.len;
out:
	sat_fetch_result_clear(&res);
	return rc;
}

int sat_objstore_head(struct sat_objstore *s, const char *name,
		      uint64_t *size)
{
	struct sat_fetch_req req = { .method = "HEAD" };
	struct sat_fetch_result res;
	int rc;

	rc = sat_objstore_request(s, name, &req, false, &res);
	if (rc == 0 && size)
		*size = res.object_size;
	sat_fetch_result_clear(&res);
	return rc;
}

int sat_objstore_delete(struct sat_objstore *s, const char *name)
{
	struct sat_fetch_req req = { .method = "DELETE" };
	struct sat_fetch_result res;
	int rc;

	rc = sat_objstore_request(s, name, &req, false, &res);
	sat_fetch_result_clear(&res);
	return rc == -ENOENT ? 0 : rc;
}

int sat_objstore_put_if_absent(struct sat_objstore *s, const char *name,
			       int fd, uint64_t size, const char *sha256_hex)
{
	char meta[sizeof(META_SHA256) + 2 + SAT_HASH_HEX], hex[SAT_HASH_HEX];
	const char *hdrs[] = { "If-None-Match: *", meta, NULL };
	struct sat_fetch_req req = { .method = "PUT",
				     .flags = SAT_FETCH_UPLOAD_FD,
				     .upload_fd = fd,
				     .upload_bytes = size,
				     .headers = hdrs };
	struct sat_fetch_result res;
	int rc;

	if (size > s->o.max_object_bytes)
		return -EFBIG;
	if (sha256_hex) {
		if (!is_hex64(sha256_hex))
			return -EINVAL;
		memcpy(hex, sha256_hex, SAT_HASH_HEX);
	} else {
		rc = hash_fd(fd, size, hex, NULL);
		if (rc)
			return rc;
	}
	snprintf(meta, sizeof(meta), "%s: %s", META_SHA256, hex);
	rc = sat_objstore_head(s, name, NULL);
	if (rc == 0)
		rc = -EEXIST;
	if (rc != -ENOENT)
		goto out;
	rc = sat_objstore_request(s, name, &req, true, &res);
	sat_fetch_result_clear(&res);
	/* 409: another writer is storing it right now */
	if (rc == -EBUSY)
		rc = -EEXIST;
out:
	pthread_mutex_lock(&s->lock);
	if (rc == 0)
		s->h.uploads++;
	else if (rc == -EEXIST)
		s->h.lost++;
	pthread_mutex_unlock(&s->lock);
	return rc;
}
