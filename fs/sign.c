/*
 * sign: SAS tokens for Planetary Computer's blobs; see include/satfs/sign.h.
 *
 * Threading model: s->lock protects the list of entries (one per account
 * and container) and everything in them. A thread that finds no usable
 * token marks the entry `filling`, drops the lock, fetches the token
 * (blocking, through the fetch engine's I/O thread) and takes the lock
 * again to store it and wake the others; threads that find the entry
 * filling wait on s->cond for that fill to end and take its token, or its
 * error. So each account and container has at most one token request in
 * flight, and a failed fill is not remembered: the next signature tries
 * again. The lock is never held across the network or a log line.
 *
 * The entries are few (Planetary Computer keeps Sentinel-2 in one
 * container); an untrusted catalog naming many accounts cannot grow the
 * list past SG_MAX_ENTRIES: an idle entry is dropped first.
 */
#include "satfs/sign.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "satfs/fetch.h"
#include "satfs/log.h"
#include "satfs/stac.h"

#define SG_BLOB_SUFFIX ".blob.core.windows.net"
#define SG_MAX_ENTRIES 64
#define SG_EARLY_S 300           /* renew this long before expiry... */
#define SG_MAX_BODY (64u << 10)  /* a token answer is about 400 bytes */

struct sg_entry {
	struct sg_entry *next;
	char account[SAT_SIGN_NAME_MAX];
	char container[SAT_SIGN_NAME_MAX];
	char *token;        /* the latest token, or NULL */
	time_t renew_at;    /* from then on, get another */
	bool filling;       /* a thread is getting a token */
	unsigned long gen;  /* fills ended so far */
	int err;            /* of the last fill */
	unsigned int users; /* threads holding a pointer to the entry */
};

struct sat_signer {
	sat_sign_token_fn get_token;
	sat_sign_clock_fn clock;
	void *payload;
	struct sat_fetch *fetch;  /* sat_signer_new's token source */
	char *sign_url;
	char *key_hdr;            /* "Ocp-Apim-Subscription-Key: ..." or NULL */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* protected by lock: */
	struct sg_entry *entries;
	size_t nentries;
	unsigned long tokens;
};

static time_t sg_time(void *payload)
{
	(void)payload;
	return time(NULL);
}

/* GET {sign_url}/token/ACCOUNT/CONTAINER. */
static int sg_fetch_token(const char *account, const char *container,
			  char **token, time_t *expiry, void *payload)
{
	struct sat_signer *s = payload;
	struct sat_fetch_result res = { 0 };
	struct sat_fetch_req req = { 0 };
	const char *hdrs[] = { s->key_hdr, NULL };
	char *url, ubuf[512], ebuf[320];
	int rc;

	if (asprintf(&url, "%s/token/%s/%s", s->sign_url, account,
		     container) < 0)
		return -ENOMEM;
	req.url = url;
	req.headers = s->key_hdr ? hdrs : NULL;
	req.max_body_bytes = SG_MAX_BODY;
	req.priority = SAT_FETCH_FOREGROUND;
	rc = sat_fetch_sync(s->fetch, &req, &res);
	if (rc) {
		ebuf[0] = '\0';
		if (res.status >= 400 && res.status < 500)
			sat_stac_error_text(res.data, res.len, ebuf,
					    sizeof(ebuf));
		sat_warn("sign: no SAS token for %s/%s from %s: %s (HTTP %ld)"
			 "%s%s",
			 account, container,
			 sat_log_url(url, ubuf, sizeof(ubuf)),
			 res.status < 300 && res.why[0] ? res.why
							: strerror(-rc),
			 res.status, ebuf[0] ? ": " : "", ebuf);
		goto out;
	}
	rc = sat_stac_parse_sas_token(res.data, res.len, token, expiry);
	if (rc == -EINVAL) {
		sat_warn("sign: %s did not answer with a SAS token",
			 sat_log_url(url, ubuf, sizeof(ubuf)));
		rc = -EIO;
	}
out:
	sat_fetch_result_clear(&res);
	free(url);
	return rc;
}

static int sg_new(struct sat_signer **out, sat_sign_token_fn token,
		  sat_sign_clock_fn clock, void *payload)
{
	struct sat_signer *s;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->get_token = token;
	s->clock = clock ? clock : sg_time;
	s->payload = payload;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return -ENOMEM;
	}
	if (pthread_cond_init(&s->cond, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

int sat_signer_new(struct sat_signer **out, struct sat_fetch *fetch,
		   const char *sign_url)
{
	struct sat_signer *s;
	int rc;

	*out = NULL;
	if (!fetch || !sign_url)
		return -EINVAL;
	rc = sg_new(&s, sg_fetch_token, NULL, NULL);
	if (rc)
		return rc;
	s->payload = s;
	s->fetch = fetch;
	s->sign_url = strdup(sign_url);
	if (!s->sign_url) {
		sat_signer_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

int sat_signer_new_custom(struct sat_signer **out, sat_sign_token_fn token,
			  sat_sign_clock_fn clock, void *payload)
{
	*out = NULL;
	if (!token)
		return -EINVAL;
	return sg_new(out, token, clock, payload);
}

void sat_signer_free(struct sat_signer *s)
{
	struct sg_entry *e;

	if (!s)
		return;
	while ((e = s->entries)) {
		s->entries = e->next;
		free(e->token);
		free(e);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->sign_url);
	if (s->key_hdr)
		explicit_bzero(s->key_hdr, strlen(s->key_hdr));
	free(s->key_hdr);
	free(s);
}

int sat_signer_set_subscription_key(struct sat_signer *s, const char *key)
{
	if (!key || !key[0])
		key = getenv("PC_SDK_SUBSCRIPTION_KEY");
	if (!key || !key[0] || strpbrk(key, "\r\n"))
		return 0;
	if (s->key_hdr)
		explicit_bzero(s->key_hdr, strlen(s->key_hdr));
	free(s->key_hdr);
	if (asprintf(&s->key_hdr, "Ocp-Apim-Subscription-Key: %s", key) < 0) {
		s->key_hdr = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Copies [p, end) lower-cased into out if it is 1..SAT_SIGN_NAME_MAX-1
 * characters of allowed. */
static bool sg_name(const char *p, const char *end, const char *allowed,
		    char *out)
{
	size_t n = (size_t)(end - p);

	if (n == 0 || n >= SAT_SIGN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)p[i]);

		if (!strchr(allowed, c) || c == '\0')
			return false;
		if (out)
			out[i] = c;
	}
	if (out)
		out[n] = '\0';
	return true;
}

bool sat_sign_blob_parts(const char *href, char *account, char *container)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static const char cont[] = "abcdefghijklmnopqrstuvwxyz0123456789-$";
	size_t slen = strlen(SG_BLOB_SUFFIX);
	const char *host, *hend, *port, *path, *pend, *q;

	if (!href)
		return false;
	if (strncasecmp(href, "https://", 8) == 0)
		host = href + 8;
	else if (strncasecmp(href, "http://", 7) == 0)
		host = href + 7;
	else
		return false;
	hend = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(hend - host)))
		return false; /* userinfo: not a plain blob URL */
	port = memchr(host, ':', (size_t)(hend - host));
	if (!port)
		port = hend;
	if ((size_t)(port - host) <= slen ||
	    strncasecmp(port - slen, SG_BLOB_SUFFIX, slen) != 0 ||
	    !sg_name(host, port - slen, alnum, account))
		return false;
	if (*hend != '/')
		return false;
	path = hend + 1;
	pend = path + strcspn(path, "/?#");
	if (*pend != '/' || !sg_name(path, pend, cont, container))
		return false;
	/* Signed already (a SAS URL from elsewhere): leave it alone. */
	q = pend + strcspn(pend, "?#");
	while (*q == '?' || *q == '&') {
		if (strncmp(q + 1, "sig=", 4) == 0)
			return false;
		q += 1 + strcspn(q + 1, "&#");
	}
	return true;
}

time_t sat_sign_renew_at(time_t now, time_t expiry)
{
	time_t life = expiry - now, early = SG_EARLY_S;

	/* A short-lived token would otherwise be renewed on every use. */
	if (life / 4 < early)
		early = life > 0 ? life / 4 : 0;
	return expiry - early;
}

/* The entry of account/container, made if missing; NULL on ENOMEM. With
 * s->lock held. */
static struct sg_entry *sg_entry_get(struct sat_signer *s, const char *account,
				     const char *container)
{
	struct sg_entry *e, **pp;

	for (e = s->entries; e; e = e->next)
		if (strcmp(e->account, account) == 0 &&
		    strcmp(e->container, container) == 0)
			return e;
	if (s->nentries >= SG_MAX_ENTRIES) {
		/* Drop the oldest idle entry (the list's tail). */
		struct sg_entry **victim = NULL;

		for (pp = &s->entries; *pp; pp = &(*pp)->next)
			if (!(*pp)->filling && (*pp)->users == 0)
				victim = pp;
		if (victim) {
			e = *victim;
			*victim = e->next;
			free(e->token);
			free(e);
			s->nentries--;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	strcpy(e->account, account);
	strcpy(e->container, container);
	e->next = s->entries;
	s->entries = e;
	s->nentries++;
	return e;
}

/* href with token as its query (appended to one it has), before any
 * fragment. NULL on ENOMEM. */
static char *sg_join(const char *href, const char *token)
{
	size_t base = strcspn(href, "#");
	const char *sep = "?";
	char *out;

	if (memchr(href, '?', base))
		sep = href[base - 1] == '?' || href[base - 1] == '&' ? "" : "&";
	if (asprintf(&out, "%.*s%s%s%s", (int)base, href, sep, token,
		     href + base) < 0)
		return NULL;
	return out;
}

int sat_signer_sign(struct sat_signer *s, const char *href, char **out)
{
	char account[SAT_SIGN_NAME_MAX], container[SAT_SIGN_NAME_MAX];
	struct sg_entry *e;
	char *tok = NULL, *fresh;
	unsigned long gen;
	time_t expiry;
	int err = 0, rc;

	*out = NULL;
	if (!sat_sign_blob_parts(href, account, container))
		return 0;
	pthread_mutex_lock(&s->lock);
	e = sg_entry_get(s, account, container);
	if (!e) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	e->users++;
	for (;;) {
		if (e->token && s->clock(s->payload) < e->renew_at) {
			tok = strdup(e->token);
			break;
		}
		if (e->filling) {
			gen = e->gen;
			while (e->filling && e->gen == gen)
				pthread_cond_wait(&s->cond, &s->lock);
			if (e->gen == gen)
				continue;
			/* Take that fill's outcome, even a token that is
			 * short-lived: it is the newest there is. */
			if (e->err)
				err = e->err;
			else if (e->token)
				tok = strdup(e->token);
			else
				continue;
			break;
		}
		e->filling = true;
		pthread_mutex_unlock(&s->lock);
		fresh = NULL;
		rc = s->get_token(account, container, &fresh, &expiry,
				  s->payload);
		pthread_mutex_lock(&s->lock);
		e->filling = false;
		e->gen++;
		e->err = rc;
		if (rc == 0) {
			free(e->token);
			e->token = fresh;
			e->renew_at = sat_sign_renew_at(s->clock(s->payload),
							expiry);
			s->tokens++;
			tok = strdup(fresh);
		} else {
			free(fresh);
			err = rc;
		}
		pthread_cond_broadcast(&s->cond);
		break;
	}
	e->users--;
	pthread_mutex_unlock(&s->lock);
	if (err)
		return err;
	if (!tok)
		return -ENOMEM;
	*out = sg_join(href, tok);
	free(tok);
	return *out ? 0 : -ENOMEM;
}

void sat_signer_reject(struct sat_signer *s, const char *href,
		       const char *signed_url)
{
	char account[SAT_SIGN_NAME_MAX], container[SAT_SIGN_NAME_MAX];
	const char *q, *end, *t;
	struct sg_entry *e;
	bool dropped = false;
	size_t n;

	if (!signed_url || !sat_sign_blob_parts(href, account, container))
		return;
	q = strchr(signed_url, '?');
	if (!q)
		return;
	end = q + strcspn(q, "#");
	pthread_mutex_lock(&s->lock);
	for (e = s->entries; e; e = e->next)
		if (strcmp(e->account, account) == 0 &&
		    strcmp(e->container, container) == 0)
			break;
	/* Only if the URL carries the current token: requests refused
	 * together renew it once. */
	n = e && e->token ? strlen(e->token) : 0;
	t = n && (size_t)(end - q) > n ? end - n : NULL;
	if (t && memcmp(t, e->token, n) == 0 &&
	    (t[-1] == '?' || t[-1] == '&')) {
		e->renew_at = 0;
		dropped = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (dropped)
		sat_info("sign: the SAS token for %s/%s was refused (HTTP "
			 "403); getting a new one", account, container);
}

unsigned long sat_signer_tokens(struct sat_signer *s)
{
	unsigned long n;

	pthread_mutex_lock(&s->lock);
	n = s->tokens;
	pthread_mutex_unlock(&s->lock);
	return n;
}
