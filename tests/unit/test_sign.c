/*
 * Tests of the sign module: which hrefs are Azure blobs, when a token is
 * renewed, and the token cache (per account and container, renewed before
 * expiry, renewed once after a 403, fetched once by many threads) with a
 * token source and clock of our own. Also the SAS token answer the stac
 * module parses for it. The HTTP side is tested by
 * tests/integration/test_planetary.sh against the fixture server.
 */
#include "satest.h"
#include "satfs/sign.h"
#include "satfs/stac.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PC "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/"
#define TIF PC "19/P/HS/2023/02/16/IMG_DATA/R10m/T19PHS_B04_10m.tif"

/* ---- which hrefs ---- */

SAT_TEST(blob_parts)
{
	char a[SAT_SIGN_NAME_MAX], c[SAT_SIGN_NAME_MAX];

	CHECK(sat_sign_blob_parts(TIF, a, c));
	CHECK_STR(a, "sentinel2l2a01");
	CHECK_STR(c, "sentinel2-l2");
	/* scheme-agnostic (tests serve it in clear text), any case, a port */
	CHECK(sat_sign_blob_parts("http://Acct.Blob.Core.Windows.NET:8080/"
				  "Data/x.tif", a, c));
	CHECK_STR(a, "acct");
	CHECK_STR(c, "data");
	/* a query without a signature is signed; one with sig= is not */
	CHECK(sat_sign_blob_parts(PC "x.tif?foo=1", NULL, NULL));
	CHECK(!sat_sign_blob_parts(PC "x.tif?se=1&sig=abc", NULL, NULL));
	CHECK(!sat_sign_blob_parts(PC "x.tif?sig=abc", NULL, NULL));
	CHECK(sat_sign_blob_parts(PC "x.tif?notsig=abc", NULL, NULL));
	static const char *const no[] = {
		"https://earth-search.aws.element84.com/v1/x.tif",
		"https://sentinel-cogs.s3.us-west-2.amazonaws.com/a/b.tif",
		"https://blob.core.windows.net/c/x.tif",       /* no account */
		"https://a.b.blob.core.windows.net/c/x.tif",   /* dotted */
		"https://acct.blob.core.windows.net.evil.com/c/x.tif",
		"https://evilblob.core.windows.net/c/x.tif",
		"https://acct.blob.core.windows.net/c",        /* no blob */
		"https://acct.blob.core.windows.net//x.tif", /* no container */
		"https://acct.blob.core.windows.net",
		"https://u:p@acct.blob.core.windows.net/c/x.tif",
		"ftp://acct.blob.core.windows.net/c/x.tif",
		"file:///acct.blob.core.windows.net/c/x.tif",
		"https://acct.blob.core.windows.net/c_d/x.tif", /* bad name */
		"https://acct!.blob.core.windows.net/c/x.tif",
		"",
		NULL,
	};
	for (int i = 0; no[i]; i++) {
		if (sat_sign_blob_parts(no[i], a, c))
			satest_fail(__FILE__, __LINE__, "not a blob", no[i]);
	}
	CHECK(!sat_sign_blob_parts(NULL, a, c));
	/* names too long for the buffers */
	char longer[256] = "https://";
	memset(longer + 8, 'a', SAT_SIGN_NAME_MAX);
	strcpy(longer + 8 + SAT_SIGN_NAME_MAX, ".blob.core.windows.net/c/x");
	CHECK(!sat_sign_blob_parts(longer, a, c));
}

SAT_TEST(renew_at)
{
	time_t t = 1700000000;

	/* an hour-long token: renewed 5 minutes early */
	CHECK_INT(sat_sign_renew_at(t, t + 3600), t + 3300);
	/* 20 minutes: still 5 minutes */
	CHECK_INT(sat_sign_renew_at(t, t + 1200), t + 900);
	/* short-lived: a quarter of its life early, not at once */
	CHECK_INT(sat_sign_renew_at(t, t + 8), t + 6);
	CHECK_INT(sat_sign_renew_at(t, t + 100), t + 75);
	/* expired already (clock skew): renewed on the next use */
	CHECK_INT(sat_sign_renew_at(t, t - 5), t - 5);
	CHECK_INT(sat_sign_renew_at(t, t), t);
}

/* ---- the cache, with a token source and clock of our own ---- */

struct src {
	pthread_mutex_t lock;
	time_t now;
	int ttl_s;
	int issued;
	int fail;          /* answer -EIO this many times */
	int delay_ms;      /* sleep while "fetching" */
	char last[128];    /* account/container of the last request */
};

static int src_token(const char *account, const char *container,
		     char **token, time_t *expiry, void *payload)
{
	struct src *s = payload;
	int n;

	if (s->delay_ms)
		usleep((useconds_t)s->delay_ms * 1000);
	pthread_mutex_lock(&s->lock);
	snprintf(s->last, sizeof(s->last), "%s/%s", account, container);
	if (s->fail > 0) {
		s->fail--;
		pthread_mutex_unlock(&s->lock);
		return -EIO;
	}
	n = ++s->issued;
	*expiry = s->now + s->ttl_s;
	pthread_mutex_unlock(&s->lock);
	if (asprintf(token, "se=x&sig=tok%d", n) < 0)
		return -ENOMEM;
	return 0;
}

static time_t src_clock(void *payload)
{
	struct src *s = payload;
	time_t t;

	pthread_mutex_lock(&s->lock);
	t = s->now;
	pthread_mutex_unlock(&s->lock);
	return t;
}

static struct sat_signer *src_signer(struct src *s, int ttl_s)
{
	struct sat_signer *sg;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->now = 1700000000;
	s->ttl_s = ttl_s;
	CHECK_INT(sat_signer_new_custom(&sg, src_token, src_clock, s), 0);
	return sg;
}

/* Signs href and checks the result is href?EXPECT (or &EXPECT). */
static void sign_is(struct sat_signer *sg, const char *href,
		    const char *token)
{
	char want[200], *out;

	CHECK_INT(sat_signer_sign(sg, href, &out), 0);
	if (!token) {
		CHECK(out == NULL);
		return;
	}
	snprintf(want, sizeof(want), "%s%s%s", href,
		 strchr(href, '?') ? "&" : "?", token);
	CHECK_STR(out, want);
	free(out);
}

SAT_TEST(cache_per_container)
{
	struct sat_signer *sg;
	struct src s;

	sg = src_signer(&s, 3600);
	sign_is(sg, TIF, "se=x&sig=tok1");
	CHECK_STR(s.last, "sentinel2l2a01/sentinel2-l2");
	sign_is(sg, PC "other.tif", "se=x&sig=tok1"); /* cached */
	sign_is(sg, PC "q.tif?a=1", "se=x&sig=tok1"); /* '&' after a query */
	CHECK_INT(s.issued, 1);
	/* another container, another account: a token each */
	sign_is(sg, "https://sentinel2l2a01.blob.core.windows.net/other/x",
		"se=x&sig=tok2");
	CHECK_STR(s.last, "sentinel2l2a01/other");
	sign_is(sg, "https://landsateuwest.blob.core.windows.net/"
		    "sentinel2-l2/x", "se=x&sig=tok3");
	CHECK_INT(s.issued, 3);
	sign_is(sg, TIF, "se=x&sig=tok1");
	/* not a blob, or signed already: left alone, no token */
	sign_is(sg, "https://example.com/x.tif", NULL);
	sign_is(sg, PC "x.tif?se=1&sig=theirs", NULL);
	CHECK_INT(s.issued, 3);
	CHECK_INT(sat_signer_tokens(sg), 3);
	/* a fragment stays last */
	char *out;
	CHECK_INT(sat_signer_sign(sg, PC "f.tif#frag", &out), 0);
	CHECK_STR(out, PC "f.tif?se=x&sig=tok1#frag");
	free(out);
	sat_signer_free(sg);
}

SAT_TEST(renewed_before_expiry)
{
	struct sat_signer *sg;
	struct src s;

	sg = src_signer(&s, 3600);
	sign_is(sg, TIF, "se=x&sig=tok1");
	s.now += 3299; /* 5 min + 1 s before expiry: still good */
	sign_is(sg, TIF, "se=x&sig=tok1");
	s.now += 1;    /* 5 minutes before: renewed */
	sign_is(sg, TIF, "se=x&sig=tok2");
	CHECK_INT(s.issued, 2);
	/* the new one is good for its own hour */
	s.now += 3000;
	sign_is(sg, TIF, "se=x&sig=tok2");
	CHECK_INT(s.issued, 2);
	/* a token expired on arrival is used once, then renewed */
	s.ttl_s = -10;
	s.now += 300;
	sign_is(sg, TIF, "se=x&sig=tok3");
	sign_is(sg, TIF, "se=x&sig=tok4");
	CHECK_INT(s.issued, 4);
	sat_signer_free(sg);
}

SAT_TEST(reject_renews_once)
{
	struct sat_signer *sg;
	char *u1, *u2, *u3;
	struct src s;

	sg = src_signer(&s, 3600);
	CHECK_INT(sat_signer_sign(sg, TIF, &u1), 0);
	CHECK_INT(sat_signer_sign(sg, PC "b.tif", &u2), 0);
	CHECK_INT(s.issued, 1);
	/* both refused (the token was revoked): one new token */
	sat_signer_reject(sg, TIF, u1);
	CHECK_INT(sat_signer_sign(sg, TIF, &u3), 0);
	CHECK_STR(u3, TIF "?se=x&sig=tok2");
	sat_signer_reject(sg, PC "b.tif", u2); /* old token: no effect */
	free(u3);
	CHECK_INT(sat_signer_sign(sg, PC "b.tif", &u3), 0);
	CHECK_STR(u3, PC "b.tif?se=x&sig=tok2");
	CHECK_INT(s.issued, 2);
	/* a URL that does not end with the token, or another container */
	sat_signer_reject(sg, TIF, TIF "?se=x&sig=tok2x");
	sat_signer_reject(sg, TIF, TIF);
	sat_signer_reject(sg, "https://sentinel2l2a01.blob.core.windows.net/"
			  "other/x", "https://sentinel2l2a01.blob.core."
			  "windows.net/other/x?se=x&sig=tok2");
	sat_signer_reject(sg, "https://example.com/x", "https://example.com/"
			  "x?se=x&sig=tok2");
	sign_is(sg, TIF, "se=x&sig=tok2");
	CHECK_INT(s.issued, 2);
	free(u1);
	free(u2);
	free(u3);
	sat_signer_free(sg);
}

SAT_TEST(fetch_failure_not_cached)
{
	struct sat_signer *sg;
	struct src s;
	char *out = (char *)1;

	sg = src_signer(&s, 3600);
	s.fail = 1;
	CHECK_INT(sat_signer_sign(sg, TIF, &out), -EIO);
	CHECK(out == NULL);
	/* the next signature tries again */
	sign_is(sg, TIF, "se=x&sig=tok1");
	/* a failed renewal fails that signature; the next one renews */
	s.now += 3500;
	s.fail = 1;
	CHECK_INT(sat_signer_sign(sg, TIF, &out), -EIO);
	sign_is(sg, TIF, "se=x&sig=tok2");
	sat_signer_free(sg);
	CHECK_INT(sat_signer_new_custom(&sg, NULL, NULL, NULL), -EINVAL);
	sat_signer_free(NULL);
}

struct racer {
	struct sat_signer *sg;
	const char *href;
	char *out;
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	r->rc = sat_signer_sign(r->sg, r->href, &r->out);
	return NULL;
}

SAT_TEST(many_threads_one_token)
{
	enum { N = 8 };
	struct racer r[N];
	pthread_t th[N];
	struct sat_signer *sg;
	struct src s;

	sg = src_signer(&s, 3600);
	s.delay_ms = 100; /* all threads arrive while the first fetches */
	for (int i = 0; i < N; i++) {
		r[i] = (struct racer){ .sg = sg, .href = i % 2 ? TIF : PC "b" };
		CHECK_INT(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(s.issued, 1);
	for (int i = 0; i < N; i++) {
		CHECK_INT(r[i].rc, 0);
		CHECK(r[i].out && strstr(r[i].out, "?se=x&sig=tok1"));
		free(r[i].out);
	}
	/* the same when that fetch fails: every waiter gets the error */
	s.now += 3500;
	s.fail = 1;
	for (int i = 0; i < N; i++) {
		r[i] = (struct racer){ .sg = sg, .href = TIF };
		CHECK_INT(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	int failed = 0;
	for (int i = 0; i < N; i++) {
		failed += r[i].rc == -EIO;
		CHECK(r[i].rc == -EIO || (r[i].rc == 0 && r[i].out));
		free(r[i].out);
	}
	/* at least the filler failed; threads that came after it fetched
	 * anew (one token between them) */
	CHECK(failed >= 1);
	CHECK(s.issued <= 2);
	sat_signer_free(sg);
}

SAT_TEST(many_accounts_bounded)
{
	struct sat_signer *sg;
	struct src s;
	char href[128];

	char *out;

	sg = src_signer(&s, 3600);
	for (int i = 0; i < 200; i++) {
		snprintf(href, sizeof(href),
			 "https://acct%d.blob.core.windows.net/c/x.tif", i);
		CHECK_INT(sat_signer_sign(sg, href, &out), 0);
		CHECK(out != NULL);
		free(out);
	}
	CHECK_INT(s.issued, 200);
	/* the latest accounts are still cached; the first was dropped */
	sign_is(sg, "https://acct199.blob.core.windows.net/c/x.tif",
		"se=x&sig=tok200");
	sign_is(sg, "https://acct0.blob.core.windows.net/c/x.tif",
		"se=x&sig=tok201");
	sat_signer_free(sg);
}

/* ---- the token answer (stac module) ---- */

SAT_TEST(parse_sas_token)
{
	const char *ok = "{\"msft:expiry\": \"2026-11-27T18:20:00Z\", "
			 "\"token\": \"st=2026-11-27T17%3A20%3A00Z&se=2026-"
			 "11-27T18%3A20%3A00Z&sp=rl&sv=2024-05-04&sr=c&skoid"
			 "=x&sig=abc%2Bdef%2F%3D\"}";
	char *tok;
	time_t exp;

	CHECK_INT(sat_stac_parse_sas_token(ok, strlen(ok), &tok, &exp), 0);
	CHECK(strncmp(tok, "st=2026-11-27T17%3A20", 21) == 0);
	CHECK(strstr(tok, "&sig=abc%2Bdef%2F%3D") != NULL);
	CHECK_INT(exp, 1795803600); /* 2026-11-27T18:20:00Z */
	free(tok);
	static const char *const bad[] = {
		"{\"token\": \"se=1&sig=2\"}",                 /* no expiry */
		"{\"msft:expiry\": \"2026-11-27T18:20:00Z\"}",    /* no token */
		"{\"msft:expiry\": \"tomorrow\", \"token\": \"sig=2\"}",
		"{\"msft:expiry\": \"2026-11-27T18:20:00Z\", \"token\": \"\"}",
		"{\"msft:expiry\": \"2026-11-27T18:20:00Z\", \"token\": 5}",
		"{\"msft:expiry\": \"2026-11-27T18:20:00Z\", "
		"\"token\": \"sig=a#b\"}",
		"{\"msft:expiry\": \"2026-11-27T18:20:00Z\", "
		"\"token\": \"sig=a b\"}",
		"{\"msft:expiry\": \"2026-11-27T18:20:00Z\", "
		"\"token\": \"sig=a\\nb\"}",
		"[]", "not json", "",
		NULL,
	};
	for (int i = 0; bad[i]; i++) {
		tok = (char *)1;
		if (sat_stac_parse_sas_token(bad[i], strlen(bad[i]), &tok,
					     &exp) != -EINVAL || tok != NULL)
			satest_fail(__FILE__, __LINE__, "refused", bad[i]);
	}
	/* too long */
	size_t n = SAT_STAC_MAX_TOKEN + 100;
	char *big = malloc(n + 64);
	int k = snprintf(big, n + 64, "{\"msft:expiry\": \"2026-11-27T18:20:"
			 "00Z\", \"token\": \"");
	memset(big + k, 'a', SAT_STAC_MAX_TOKEN + 1);
	strcpy(big + k + SAT_STAC_MAX_TOKEN + 1, "\"}");
	CHECK_INT(sat_stac_parse_sas_token(big, strlen(big), &tok, &exp),
		  -EINVAL);
	free(big);
}
