/*
 * objstore_cred: the store's credentials, from the environment or the
 * shared credentials file, as the AWS tools read them:
 *
 *   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else
 *   [PROFILE] of AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials),
 *   PROFILE = AWS_PROFILE (default "default"): aws_access_key_id,
 *   aws_secret_access_key, aws_session_token.
 *
 * The file is read with a small line parser of our own (INI as the AWS
 * tools write it: [section], key = value, # or ; comments), bounded to
 * 64 KiB. Values are wiped from our buffers once copied. Error messages
 * name the variables, the file and the profile, never a value.
 *
 * No state: the caller (fs/objstore.c) keeps the keys under its lock.
 */
#include "objstore_private.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CRED_FILE_MAX (64 * 1024)
#define CRED_VALUE_MAX 4096 /* session tokens run to a kilobyte or two */

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void sat_objstore_creds_clear(struct objstore_creds *c)
{
	wipe_free(c->access_key);
	wipe_free(c->secret_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool sat_objstore_creds_equal(const struct objstore_creds *a,
			      const struct objstore_creds *b)
{
	return str_eq(a->access_key, b->access_key) &&
	       str_eq(a->secret_key, b->secret_key) &&
	       str_eq(a->session_token, b->session_token);
}

/* A key or token: printable, no blanks, bounded. */
static bool valid_value(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > CRED_VALUE_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)v[i]))
			return false;
	return true;
}

static int from_env(struct objstore_creds *c, char *err, size_t errlen)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID");
	const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = getenv("AWS_SESSION_TOKEN");

	if (id && !id[0])
		id = NULL;
	if (secret && !secret[0])
		secret = NULL;
	if (!id && !secret)
		return -ENOENT;
	if (!id || !secret) {
		snprintf(err, errlen, "%s is set but %s is not",
			 id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (!valid_value(id) || !valid_value(secret) ||
	    (token && token[0] && !valid_value(token))) {
		snprintf(err, errlen, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
			 "or AWS_SESSION_TOKEN holds blanks or control "
			 "characters");
		return -EINVAL;
	}
	c->access_key = strdup(id);
	c->secret_key = strdup(secret);
	c->session_token = token && token[0] ? strdup(token) : NULL;
	if (!c->access_key || !c->secret_key ||
	    (token && token[0] && !c->session_token))
		return -ENOMEM;
	snprintf(c->source, sizeof(c->source), "the environment");
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Reads the whole file (bounded) into a malloc'd NUL-terminated buffer. */
static int read_small(const char *path, char **out, size_t *len)
{
	struct stat st;
	size_t n = 0;
	ssize_t r;
	char *buf;
	FILE *fp;

	*out = NULL;
	fp = fopen(path, "r");
	if (!fp)
		return -errno;
	if (fstat(fileno(fp), &st) != 0 || st.st_size > CRED_FILE_MAX) {
		fclose(fp);
		return -EFBIG;
	}
	buf = malloc(CRED_FILE_MAX + 1);
	if (!buf) {
		fclose(fp);
		return -ENOMEM;
	}
	while (n < CRED_FILE_MAX &&
	       (r = (ssize_t)fread(buf + n, 1, CRED_FILE_MAX - n, fp)) > 0)
		n += (size_t)r;
	fclose(fp);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Finds [profile] and its three keys in text (modified in place). */
static int parse_profile(char *text, const char *profile,
			 struct objstore_creds *c, bool *found)
{
	char *line, *next, *eq, *k, *v, **dst;
	bool in = false;

	*found = false;
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = trim(line);
		if (!line[0] || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			char *end = strchr(line, ']');

			if (!end)
				continue;
			*end = '\0';
			in = strcmp(trim(line + 1), profile) == 0;
			*found = *found || in;
			continue;
		}
		eq = strchr(line, '=');
		if (!in || !eq)
			continue;
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (strcmp(k, "aws_access_key_id") == 0)
			dst = &c->access_key;
		else if (strcmp(k, "aws_secret_access_key") == 0)
			dst = &c->secret_key;
		else if (strcmp(k, "aws_session_token") == 0)
			dst = &c->session_token;
		else
			continue;
		if (!valid_value(v))
			return -EINVAL;
		wipe_free(*dst);
		*dst = strdup(v);
		if (!*dst)
			return -ENOMEM;
	}
	return 0;
}

static int from_file(struct objstore_creds *c, char *err, size_t errlen)
{
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	const char *profile = getenv("AWS_PROFILE");
	const char *home = getenv("HOME");
	char path[4096], *text = NULL;
	size_t len = 0;
	bool found;
	int rc;

	if (!profile || !profile[0])
		profile = "default";
	if (file && file[0])
		snprintf(path, sizeof(path), "%s", file);
	else if (home && home[0])
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
	else
		path[0] = '\0';
	if (!path[0]) {
		snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID "
			 "and AWS_SECRET_ACCESS_KEY, or "
			 "AWS_SHARED_CREDENTIALS_FILE");
		return -ENOKEY;
	}
	rc = read_small(path, &text, &len);
	if (rc == -ENOENT && !(file && file[0])) {
		snprintf(err, errlen, "no credentials: set AWS_ACCESS_KEY_ID "
			 "and AWS_SECRET_ACCESS_KEY, or write %s", path);
		return -ENOKEY;
	}
	if (rc) {
		snprintf(err, errlen, "credentials file %s: %s", path,
			 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return rc == -ENOMEM ? rc : -ENOKEY;
	}
	rc = parse_profile(text, profile, c, &found);
	explicit_bzero(text, len);
	free(text);
	if (rc == -EINVAL) {
		snprintf(err, errlen, "credentials file %s [%s]: a key holds "
			 "blanks or control characters", path, profile);
		return -EINVAL;
	}
	if (rc)
		return rc;
	if (!found || !c->access_key || !c->secret_key) {
		snprintf(err, errlen, "credentials file %s: %s", path,
			 !found ? "no profile" : "profile lacks "
			 "aws_access_key_id or aws_secret_access_key");
		if (!found) {
			size_t n = strlen(err);

			snprintf(err + n, errlen > n ? errlen - n : 0,
				 " [%s]", profile);
		}
		return -ENOKEY;
	}
	snprintf(c->source, sizeof(c->source), "%.240s [%.50s]", path,
		 profile);
	return 0;
}

int sat_objstore_creds_load(struct objstore_creds *c, char *err,
			    size_t errlen)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = from_env(c, err, errlen);
	if (rc == -ENOENT)
		rc = from_file(c, err, errlen);
	if (rc)
		sat_objstore_creds_clear(c);
	return rc;
}
