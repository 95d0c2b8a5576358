/*
 * fetch_retry: when to try again, how long to wait, and which errno a
 * failure becomes. See fs/fetch_private.h. Part of the fetch module (the only
 * place libcurl is used); fs/fetch.c does the I/O.
 */
#include "fetch_private.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: jitter needs spread, not cryptographic quality. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

int sat_fetch_backoff_ms(int try, int base_ms, int max_ms, uint64_t *rng)
{
	uint64_t cap = base_ms > 0 ? (uint64_t)base_ms : 0;
	int i;

	if (max_ms < 0)
		max_ms = 0;
	/* Doubling stops at the cap, so no overflow however many tries. */
	for (i = 1; i < try && cap < (uint64_t)max_ms; i++)
		cap *= 2;
	if (cap > (uint64_t)max_ms)
		cap = (uint64_t)max_ms;
	/* Full jitter spreads the retries of many clients hit at once. */
	return (int)(rng_next(rng) % (cap + 1));
}

long sat_fetch_retry_after_ms(const char *value, time_t now, int max_ms)
{
	const char *p;
	long ms;
	time_t t;

	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (!*value)
		return -1;
	for (p = value; isdigit((unsigned char)*p); p++)
		;
	if (p != value && (*p == '\0' || isspace((unsigned char)*p))) {
		unsigned long long s = strtoull(value, NULL, 10);

		if (s > (unsigned long long)max_ms / 1000 + 1)
			return max_ms;
		ms = (long)s * 1000;
	} else {
		/* curl_getdate() reads the three HTTP-date formats. */
		t = curl_getdate(value, NULL);
		if (t == -1)
			return -1;
		if (t <= now)
			return 0;
		if ((uint64_t)(t - now) > (uint64_t)max_ms / 1000 + 1)
			return max_ms;
		ms = (long)(t - now) * 1000;
	}
	return ms > max_ms ? max_ms : ms;
}

static int parse_u64(const char **pp, uint64_t *v)
{
	const char *p = *pp;
	uint64_t x = 0;

	if (!isdigit((unsigned char)*p))
		return -EPROTO;
	for (; isdigit((unsigned char)*p); p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -EPROTO;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	*pp = p;
	return 0;
}

int sat_fetch_parse_content_range(const char *value, uint64_t *first,
				  uint64_t *last, uint64_t *total)
{
	const char *p = value;

	if (!p)
		return -EPROTO;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "bytes", 5) != 0)
		return -EPROTO;
	p += 5;
	while (*p == ' ')
		p++;
	if (parse_u64(&p, first) || *p++ != '-' || parse_u64(&p, last) ||
	    *p++ != '/')
		return -EPROTO;
	if (*p == '*') {
		*total = 0;
		p++;
	} else if (parse_u64(&p, total)) {
		return -EPROTO;
	}
	while (*p == ' ' || *p == '\r' || *p == '\n')
		p++;
	if (*p || *last < *first || (*total && *last >= *total))
		return -EPROTO;
	return 0;
}

bool sat_fetch_status_retryable(long status)
{
	return status == 429 || status == 500 || status == 502 ||
	       status == 503 || status == 504;
}

int sat_fetch_status_errno(long status)
{
	switch (status) {
	case 404:
	case 410:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 409: /* S3: a conflicting conditional write is in progress */
		return -EBUSY;
	case 412: /* a precondition (If-None-Match: *) failed */
		return -EEXIST;
	case 413:
		return -EFBIG;
	case 416:
		return -EINVAL;
	case 507: /* no room left in the store */
		return -ENOSPC;
	default:
		return -EIO;
	}
}

bool sat_fetch_curl_retryable(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

int sat_fetch_curl_errno(int code)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO; /* a redirect to file://, ftp://, ... */
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	default:
		return -EIO;
	}
}
