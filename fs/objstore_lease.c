/*
 * objstore_lease: leases on the shared store, as chains of immutable
 * objects; the rules are in include/satfs/objstore.h.
 *
 * An object of the chain of NAME is "leases/NAME" (the first) or
 * "leases/NAME~TOKEN" (the successor of the lease whose token is TOKEN).
 * Its body, at most 1 KiB, is
 *
 *   satfs-lease 1
 *   holder HOLDER
 *   token TOKEN      (32 hex digits, from getrandom)
 *   expires SECONDS  (since the epoch)
 *
 * Taking: follow the chain from its first object to the first one that is
 * absent or not expired. Absent: create it with If-None-Match: * (412 or
 * 409: someone else just did; read it to say who, or to find that it is
 * ours, when a retried PUT had in fact succeeded). Held: -EEXIST.
 *
 * Threads: any but the fetch I/O thread; no state of its own.
 */
#include "objstore_private.h"

#include "satfs/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define LEASE_BODY_MAX 1024
#define LEASE_CHAIN_MAX 8
#define LEASE_TTL_MAX 86400

static int lease_object(char *out, size_t len, const char *name,
			const char *after_token)
{
	int n;

	if (after_token)
		n = snprintf(out, len, "leases/%s~%s", name, after_token);
	else
		n = snprintf(out, len, "leases/%s", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Parses a lease body. 0 or -EBADMSG. */
static int lease_parse(const char *body, size_t len,
		       struct sat_objstore_lease *l)
{
	char holder[SAT_OBJSTORE_HOLDER_MAX], token[SAT_OBJSTORE_TOKEN_LEN + 2];
	long long exp;
	int used = 0;

	if (len > LEASE_BODY_MAX ||
	    sscanf(body, "satfs-lease 1\nholder %95[A-Za-z0-9._:@-]\ntoken "
			 "%33[0-9a-f]\nexpires %lld\n%n",
		   holder, token, &exp, &used) != 3 ||
	    (size_t)used != len || strlen(token) != SAT_OBJSTORE_TOKEN_LEN ||
	    exp <= 0)
		return -EBADMSG;
	snprintf(l->holder, sizeof(l->holder), "%s", holder);
	memcpy(l->token, token, sizeof(l->token));
	l->expires_s = (time_t)exp;
	return 0;
}

/* GETs one lease object. 0, -ENOENT, -EBADMSG or a failure. */
static int lease_get(struct sat_objstore *s, const char *object,
		     struct sat_objstore_lease *l)
{
	struct sat_fetch_req req = { .max_body_bytes = LEASE_BODY_MAX };
	struct sat_fetch_result res;
	int rc;

	rc = sat_objstore_request(s, object, &req, false, &res);
	if (rc == 0) {
		rc = lease_parse(res.data, res.len, l);
		if (rc)
			sat_warn("shared store %s: lease %s is unreadable",
				 sat_objstore_describe(s), object);
		else
			snprintf(l->name, sizeof(l->name), "%s", object);
	}
	sat_fetch_result_clear(&res);
	return rc;
}

static bool expired(const struct sat_objstore *s,
		    const struct sat_objstore_lease *l, time_t now)
{
	return now > l->expires_s + s->o.lease_skew_s;
}

/* Follows the chain of name: 0 with *cur the live lease; -ENOENT with
 * free_obj the object to create; -ELOOP, -EBADMSG or a failure. */
static int lease_walk(struct sat_objstore *s, const char *name,
		      struct sat_objstore_lease *cur, char *free_obj,
		      size_t len)
{
	struct sat_objstore_lease l;
	char object[SAT_OBJSTORE_NAME_MAX];
	int i, rc;

	rc = lease_object(object, sizeof(object), name, NULL);
	for (i = 0; rc == 0 && i < LEASE_CHAIN_MAX; i++) {
		rc = lease_get(s, object, &l);
		if (rc == -ENOENT) {
			snprintf(free_obj, len, "%s", object);
			return -ENOENT;
		}
		if (rc)
			return rc;
		if (!expired(s, &l, time(NULL))) {
			*cur = l;
			return 0;
		}
		rc = lease_object(object, sizeof(object), name, l.token);
	}
	if (rc)
		return rc;
	sat_warn("shared store %s: lease on %s: more than %d expired links",
		 sat_objstore_describe(s), name, LEASE_CHAIN_MAX);
	return -ELOOP;
}

static int new_token(char *out)
{
	unsigned char r[SAT_OBJSTORE_TOKEN_LEN / 2];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int sat_objstore_lease_take(struct sat_objstore *s, const char *name,
			    int ttl_s, struct sat_objstore_lease *lease,
			    struct sat_objstore_lease *busy)
{
	const char *hdrs[] = { "If-None-Match: *", NULL };
	struct sat_fetch_req req = { .method = "PUT", .headers = hdrs };
	struct sat_objstore_lease mine = { 0 }, other = { 0 };
	struct sat_fetch_result res;
	char body[LEASE_BODY_MAX];
	int rc, n;

	if (ttl_s < 1 || ttl_s > LEASE_TTL_MAX || !sat_objstore_valid_name(name))
		return -EINVAL;
	rc = lease_walk(s, name, &other, mine.name, sizeof(mine.name));
	if (rc == 0)
		goto busy;
	if (rc != -ENOENT)
		return rc;
	rc = new_token(mine.token);
	if (rc)
		return rc;
	snprintf(mine.holder, sizeof(mine.holder), "%s", s->holder);
	mine.expires_s = time(NULL) + ttl_s;
	n = snprintf(body, sizeof(body),
		     "satfs-lease 1\nholder %s\ntoken %s\nexpires %lld\n",
		     mine.holder, mine.token, (long long)mine.expires_s);
	req.body = body;
	req.body_len = (size_t)n;
	rc = sat_objstore_request(s, mine.name, &req, false, &res);
	sat_fetch_result_clear(&res);
	if (rc == 0) {
		*lease = mine;
		return 0;
	}
	if (rc != -EEXIST && rc != -EBUSY)
		return rc;
	/* Someone created it first -- or we did, on a try whose answer was
	 * lost. */
	rc = lease_get(s, mine.name, &other);
	if (rc == 0 && strcmp(other.token, mine.token) == 0) {
		*lease = mine;
		return 0;
	}
	if (rc == -ENOENT) /* taken and already released */
		return -EEXIST;
	if (rc)
		return rc;
busy:
	if (busy)
		*busy = other;
	return -EEXIST;
}

int sat_objstore_lease_release(struct sat_objstore *s,
			       const struct sat_objstore_lease *lease)
{
	/* Expired (less the skew): it may have a successor by now, and
	 * removing a link of a chain would let a second one start. */
	if (time(NULL) >= lease->expires_s - s->o.lease_skew_s)
		return 0;
	return sat_objstore_delete(s, lease->name);
}

int sat_objstore_lease_read(struct sat_objstore *s, const char *name,
			    struct sat_objstore_lease *cur)
{
	char unused[SAT_OBJSTORE_NAME_MAX];

	if (!sat_objstore_valid_name(name))
		return -EINVAL;
	return lease_walk(s, name, cur, unused, sizeof(unused));
}
