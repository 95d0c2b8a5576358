/*
 * ee_auth: Earth Engine credentials and authorised requests, see
 * include/satfs/ee.h.
 *
 * Threading: ee->lock guards the token and its expiry; a renewal runs
 * under it, so concurrent callers wait for one renewal instead of each
 * running the command or asking the token endpoint. ee->slots (under
 * slot_lock) counts requests in flight against SAT_EE_MAX_IN_FLIGHT.
 * Nothing here logs a token, a key or a JWT: log lines name the source
 * of the credentials only.
 */
#include "satfs/ee.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/stac_ee.h"
#include "ee_private.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#define TOKEN_MAX (64u << 10)  /* a token, a key file: never larger */
#define JWT_HEADER "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"

enum cred_kind { CRED_COMMAND, CRED_FILE, CRED_KEY };

struct sat_ee {
	const struct sat_config *cfg;
	struct sat_fetch *fetch;
	enum cred_kind kind;
	char *key_email, *key_pem, *key_uri; /* CRED_KEY */
	char *key_project;  /* CRED_KEY: the key's project_id, or NULL */
	char *project_hdr;  /* "X-Goog-User-Project: ..." */
	time_t (*now)(void);
	uint32_t max_side;  /* ee_pixels tile limits */
	uint64_t max_bytes;

	pthread_mutex_t lock;
	char *token;        /* protected by lock */
	time_t expires;     /* protected by lock; 0: never */
	struct timespec file_mtime; /* CRED_FILE: of the token read */

	pthread_mutex_t slot_lock;
	pthread_cond_t slot_cond;
	int in_flight;      /* protected by slot_lock */
};

uint32_t sat_ee_max_side_(const struct sat_ee *ee)
{
	return ee->max_side ? ee->max_side : SAT_EE_MAX_SIDE;
}

uint64_t sat_ee_max_bytes_(const struct sat_ee *ee)
{
	return ee->max_bytes ? ee->max_bytes : SAT_EE_MAX_REQUEST_BYTES;
}

const struct sat_config *sat_ee_config_(const struct sat_ee *ee)
{
	return ee->cfg;
}

void sat_ee_set_tile_limits(struct sat_ee *ee, uint32_t max_side,
			    uint64_t max_bytes)
{
	ee->max_side = max_side;
	ee->max_bytes = max_bytes;
}

static time_t ee_now(const struct sat_ee *ee)
{
	return ee->now ? ee->now() : time(NULL);
}

void sat_ee_set_clock(struct sat_ee *ee, time_t (*now)(void))
{
	ee->now = now;
}

char *sat_ee_assets_url(const struct sat_config *cfg)
{
	char *s;

	if (asprintf(&s, "%s/projects/earthengine-public/assets/%s",
		     cfg->ee_url, cfg->collection) < 0)
		return NULL;
	return s;
}

/* Reads a whole small file. 0 or -errno. */
static int read_small(const char *path, char **out, size_t *len,
		      struct timespec *mtime)
{
	struct stat st;
	FILE *fp = fopen(path, "re");
	char *buf;
	size_t n;

	*out = NULL;
	if (!fp)
		return -errno;
	if (fstat(fileno(fp), &st) != 0 || st.st_size > TOKEN_MAX) {
		fclose(fp);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(fp);
		return -ENOMEM;
	}
	n = fread(buf, 1, (size_t)st.st_size, fp);
	fclose(fp);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	if (mtime)
		*mtime = st.st_mtim;
	return 0;
}

/* Strips surrounding blanks; a token is one line of printable text. */
static int token_clean(char *t)
{
	size_t n = strlen(t), i, start = 0;

	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' ||
		     t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	while (t[start] == ' ' || t[start] == '\t' || t[start] == '\n')
		start++;
	memmove(t, t + start, n - start + 1);
	n -= start;
	if (!n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return -EINVAL;
	return 0;
}

static int token_from_command(struct sat_ee *ee, char **tok)
{
	char *buf = malloc(TOKEN_MAX + 1);
	size_t n = 0, got;
	FILE *p;
	int st;

	*tok = NULL;
	if (!buf)
		return -ENOMEM;
	/* popen runs /bin/sh -c; stderr goes where ours does */
	p = popen(ee->cfg->token_command, "re");
	if (!p) {
		free(buf);
		sat_error("earthengine: token_command cannot be run: %s",
			  strerror(errno));
		return -EIO;
	}
	while (n < TOKEN_MAX &&
	       (got = fread(buf + n, 1, TOKEN_MAX - n, p)) > 0)
		n += got;
	buf[n] = '\0';
	st = pclose(p);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		sat_error("earthengine: token_command failed (status %d)",
			  st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		free(buf);
		return -EIO;
	}
	if (token_clean(buf)) {
		sat_error("earthengine: token_command printed no token");
		free(buf);
		return -EIO;
	}
	*tok = buf;
	return 0;
}

static int token_from_file(struct sat_ee *ee, char **tok,
			   struct timespec *mtime)
{
	size_t len;
	int err = read_small(ee->cfg->token_file, tok, &len, mtime);

	if (err) {
		sat_error("earthengine: token_file %s: %s",
			  ee->cfg->token_file, strerror(-err));
		return -EIO;
	}
	if (token_clean(*tok)) {
		sat_error("earthengine: token_file %s holds no token",
			  ee->cfg->token_file);
		free(*tok);
		*tok = NULL;
		return -EIO;
	}
	return 0;
}

static char *b64url(const unsigned char *in, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(4 * (n / 3) + 5), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		*o++ = tab[in[i] >> 2];
		*o++ = tab[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = tab[in[i] >> 2];
		*o++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*o++ = tab[(in[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

int sat_ee_jwt_sign(const char *pem, const char *claims, char **jwt)
{
	char *h = NULL, *c = NULL, *input = NULL, *sig64 = NULL;
	unsigned char *sig = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	size_t siglen = 0;
	BIO *bio;
	int ret = -ENOMEM;

	*jwt = NULL;
	bio = BIO_new_mem_buf(pem, -1);
	if (!bio)
		return -ENOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		ret = -EINVAL;
		goto out;
	}
	h = b64url((const unsigned char *)JWT_HEADER, strlen(JWT_HEADER));
	c = b64url((const unsigned char *)claims, strlen(claims));
	if (!h || !c || asprintf(&input, "%s.%s", h, c) < 0) {
		input = NULL;
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md)
		goto out;
	ret = -EINVAL;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input,
			   strlen(input)) != 1)
		goto out;
	ret = -ENOMEM;
	sig = malloc(siglen);
	if (!sig)
		goto out;
	ret = -EINVAL;
	if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input,
			   strlen(input)) != 1)
		goto out;
	ret = -ENOMEM;
	sig64 = b64url(sig, siglen);
	if (!sig64 || asprintf(jwt, "%s.%s", input, sig64) < 0) {
		*jwt = NULL;
		goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	free(h);
	free(c);
	free(input);
	free(sig);
	free(sig64);
	return ret;
}

static int token_from_key(struct sat_ee *ee, char **tok, time_t *expires)
{
	const char *hdrs[] = {
		"Content-Type: application/x-www-form-urlencoded",
		"Accept: application/json", NULL };
	struct sat_fetch_req req = { .url = ee->key_uri, .method = "POST",
				     .headers = hdrs,
				     .max_body_bytes = TOKEN_MAX };
	struct sat_fetch_result res;
	char *claims, *jwt = NULL, *body = NULL, msg[320], ubuf[256];
	time_t now = ee_now(ee);
	long life = 0;
	int err;

	*tok = NULL;
	claims = sat_stac_ee_jwt_claims(ee->key_email, SAT_EE_SCOPE,
					ee->key_uri, now);
	if (!claims)
		return -ENOMEM;
	err = sat_ee_jwt_sign(ee->key_pem, claims, &jwt);
	free(claims);
	if (err) {
		sat_error("earthengine: the service-account key cannot sign "
			  "(%s)", strerror(-err));
		return -EIO;
	}
	/* a JWT is base64url and dots: nothing to escape in a form body */
	if (asprintf(&body, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
		     "grant-type%%3Ajwt-bearer&assertion=%s", jwt) < 0)
		body = NULL;
	free(jwt);
	if (!body)
		return -ENOMEM;
	req.body = body;
	req.body_len = strlen(body);
	err = sat_fetch_sync(ee->fetch, &req, &res);
	/* the body held the signed assertion: wipe it */
	explicit_bzero(body, strlen(body));
	free(body);
	if (!err)
		err = sat_stac_ee_parse_token(res.data, res.len, tok, &life);
	if (err) {
		if (sat_stac_ee_parse_error(res.data, res.len, msg,
					    sizeof(msg)) != 0)
			snprintf(msg, sizeof(msg), "%s",
				 res.why[0] ? res.why : strerror(-err));
		sat_error("earthengine: token request to %s failed: %s "
			  "(HTTP %ld)",
			  sat_log_url(ee->key_uri, ubuf, sizeof(ubuf)), msg,
			  res.status);
		sat_fetch_result_clear(&res);
		return err == -ENOMEM ? err : -EIO;
	}
	sat_fetch_result_clear(&res);
	*expires = now + (life > 0 ? life : 3600);
	return 0;
}

/* Called with ee->lock held. */
static bool token_stale(struct sat_ee *ee, const char *refused)
{
	struct stat st;

	if (!ee->token)
		return true;
	if (refused && strcmp(refused, ee->token) == 0)
		return true;
	if (ee->kind == CRED_FILE)
		return stat(ee->cfg->token_file, &st) == 0 &&
		       (st.st_mtim.tv_sec != ee->file_mtime.tv_sec ||
			st.st_mtim.tv_nsec != ee->file_mtime.tv_nsec);
	return ee->expires && ee_now(ee) >= ee->expires;
}

int sat_ee_token(struct sat_ee *ee, const char *refused, char **token)
{
	char *fresh = NULL;
	time_t expires = 0;
	struct timespec mtime = { 0 };
	int err = 0;

	*token = NULL;
	pthread_mutex_lock(&ee->lock);
	if (token_stale(ee, refused)) {
		switch (ee->kind) {
		case CRED_COMMAND:
			err = token_from_command(ee, &fresh);
			expires = ee_now(ee) + SAT_EE_COMMAND_LIFETIME_S;
			break;
		case CRED_FILE:
			err = token_from_file(ee, &fresh, &mtime);
			break;
		case CRED_KEY:
			err = token_from_key(ee, &fresh, &expires);
			/* renew a while before the end, not on a 401 */
			if (!err && expires - SAT_EE_RENEW_MARGIN_S >
					    ee_now(ee))
				expires -= SAT_EE_RENEW_MARGIN_S;
			break;
		}
		if (!err) {
			if (ee->token)
				explicit_bzero(ee->token, strlen(ee->token));
			free(ee->token);
			ee->token = fresh;
			ee->expires = expires;
			ee->file_mtime = mtime;
			sat_debug("earthengine: new access token (from %s)",
				  ee->kind == CRED_COMMAND ? "token_command"
				  : ee->kind == CRED_FILE  ? "token_file"
							   : "the key file");
		}
	}
	if (!err && ee->token && !(*token = strdup(ee->token)))
		err = -ENOMEM;
	if (!err && !*token)
		err = -EIO;
	pthread_mutex_unlock(&ee->lock);
	return err;
}

static void slot_get(struct sat_ee *ee)
{
	pthread_mutex_lock(&ee->slot_lock);
	while (ee->in_flight >= SAT_EE_MAX_IN_FLIGHT)
		pthread_cond_wait(&ee->slot_cond, &ee->slot_lock);
	ee->in_flight++;
	pthread_mutex_unlock(&ee->slot_lock);
}

static void slot_put(struct sat_ee *ee)
{
	pthread_mutex_lock(&ee->slot_lock);
	ee->in_flight--;
	pthread_cond_signal(&ee->slot_cond);
	pthread_mutex_unlock(&ee->slot_lock);
}

int sat_ee_fetch(struct sat_ee *ee, const struct sat_fetch_req *req,
		 struct sat_fetch_result *res, const char *what)
{
	const char *hdrs[16];
	struct sat_fetch_req r = *req;
	char *token = NULL, *auth = NULL, msg[320], ubuf[512];
	size_t n = 0;
	int err, attempt;

	memset(res, 0, sizeof(*res));
	for (attempt = 0; attempt < 2; attempt++) {
		char *refused = token;

		token = NULL;
		err = sat_ee_token(ee, refused, &token);
		if (refused)
			explicit_bzero(refused, strlen(refused));
		free(refused);
		if (err) {
			res->err = err;
			snprintf(res->why, sizeof(res->why), "no access token");
			return err;
		}
		if (auth) {
			explicit_bzero(auth, strlen(auth));
			free(auth);
		}
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			auth = NULL;
			err = -ENOMEM;
			break;
		}
		n = 0;
		for (size_t i = 0; req->headers && req->headers[i] && n < 13;
		     i++)
			hdrs[n++] = req->headers[i];
		hdrs[n++] = auth;
		hdrs[n++] = ee->project_hdr;
		hdrs[n] = NULL;
		r.headers = hdrs;
		slot_get(ee);
		err = sat_fetch_sync(ee->fetch, &r, res);
		slot_put(ee);
		if (res->status != 401 || attempt == 1)
			break;
		sat_info("earthengine: %s: token refused (401); renewing it",
			 what);
		sat_fetch_result_clear(res);
	}
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (err && err != -ECANCELED) {
		if (sat_stac_ee_parse_error(res->data, res->len, msg,
					    sizeof(msg)) != 0)
			snprintf(msg, sizeof(msg), "%s",
				 res->why[0] ? res->why : strerror(-err));
		sat_error("earthengine: %s: %s %s: %s (HTTP %ld)", what,
			  req->method ? req->method : "GET",
			  sat_log_url(req->url, ubuf, sizeof(ubuf)), msg,
			  res->status);
		sat_log_cause("Earth Engine: %s", msg);
	}
	return err;
}

int sat_ee_new(struct sat_ee **out, const struct sat_config *cfg,
	       struct sat_fetch *fetch)
{
	struct sat_ee *ee;
	const char *keyfile = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	const char *project;
	char *buf = NULL;
	size_t len;
	int err;

	*out = NULL;
	ee = calloc(1, sizeof(*ee));
	if (!ee)
		return -ENOMEM;
	ee->cfg = cfg;
	ee->fetch = fetch;
	pthread_mutex_init(&ee->lock, NULL);
	pthread_mutex_init(&ee->slot_lock, NULL);
	pthread_cond_init(&ee->slot_cond, NULL);
	if (cfg->token_command) {
		ee->kind = CRED_COMMAND;
	} else if (cfg->token_file) {
		ee->kind = CRED_FILE;
	} else if (keyfile && keyfile[0]) {
		ee->kind = CRED_KEY;
		err = read_small(keyfile, &buf, &len, NULL);
		if (!err)
			err = sat_stac_ee_parse_key(buf, len, &ee->key_email,
						    &ee->key_pem,
						    &ee->key_uri,
						    &ee->key_project);
		if (buf)
			explicit_bzero(buf, len);
		free(buf);
		if (err == -ENOMEM)
			goto fail;
		if (err || (strncmp(ee->key_uri, "https://", 8) != 0 &&
			    strncmp(ee->key_uri, "http://", 7) != 0)) {
			sat_error("earthengine: GOOGLE_APPLICATION_CREDENTIALS "
				  "%s is not a service-account key (%s)",
				  keyfile, err ? strerror(-err)
					       : "token_uri is not http(s)");
			err = -EINVAL;
			goto fail;
		}
	} else {
		sat_error("earthengine: no credentials: set token_command or "
			  "token_file in [source], or "
			  "GOOGLE_APPLICATION_CREDENTIALS to a service-account "
			  "key");
		err = -EINVAL;
		goto fail;
	}
	/* Every call is tied to a Cloud project (X-Goog-User-Project, the
	 * quota and billing project): [source] project, else the
	 * service-account key's project_id. A user token without one is
	 * refused by the API; refuse the mount instead, saying why. */
	project = cfg->ee_project && cfg->ee_project[0] ? cfg->ee_project
							: ee->key_project;
	if (!project) {
		sat_error("earthengine: no Cloud project: set project = "
			  "YOUR-PROJECT-ID in [source] (a project registered "
			  "for Earth Engine, with its API enabled)%s",
			  ee->kind == CRED_KEY ? "; the service-account key "
						 "has no project_id either"
					       : "");
		err = -EINVAL;
		goto fail;
	}
	if (asprintf(&ee->project_hdr, "X-Goog-User-Project: %s",
		     project) < 0) {
		ee->project_hdr = NULL;
		err = -ENOMEM;
		goto fail;
	}
	*out = ee;
	return 0;
fail:
	sat_ee_free(ee);
	return err;
}

void sat_ee_free(struct sat_ee *ee)
{
	if (!ee)
		return;
	if (ee->token)
		explicit_bzero(ee->token, strlen(ee->token));
	if (ee->key_pem)
		explicit_bzero(ee->key_pem, strlen(ee->key_pem));
	free(ee->token);
	free(ee->key_email);
	free(ee->key_pem);
	free(ee->key_uri);
	free(ee->key_project);
	free(ee->project_hdr);
	pthread_mutex_destroy(&ee->lock);
	pthread_mutex_destroy(&ee->slot_lock);
	pthread_cond_destroy(&ee->slot_cond);
	free(ee);
}
