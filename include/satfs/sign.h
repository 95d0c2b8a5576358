/*
 * sign: asset hrefs signed before they are fetched.
 *
 * Planetary Computer (`sign = planetary-computer`) serves its COGs from
 * Azure Blob Storage, readable with a short-lived SAS token: an href on
 * ACCOUNT.blob.core.windows.net/CONTAINER/... gets the token of
 * GET {sign_url}/token/ACCOUNT/CONTAINER appended as its query string.
 * Tokens are cached per account and container and renewed before their
 * msft:expiry (5 minutes early, or a quarter of their lifetime when that is
 * shorter). A request refused with 403 reports it (sat_signer_reject), and
 * the next signature gets a new token.
 *
 * A signed URL is for the fetch engine only: the unsigned href stays the
 * identity for caches, render keys and log lines, and no token is ever
 * logged.
 *
 * Thread-safe. sat_signer_sign() blocks while a token is fetched; one
 * thread fetches the token of an account and container, the others wait
 * for it.
 */
#ifndef SATFS_SIGN_H
#define SATFS_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct sat_fetch;
struct sat_signer;

/* Account and container names, NUL included, are shorter than this. */
#define SAT_SIGN_NAME_MAX 64

/* Gets a token for account/container: *token malloc'd (characters safe in
 * a query string), *expiry in epoch seconds. 0 or -errno. May block. */
typedef int (*sat_sign_token_fn)(const char *account, const char *container,
				 char **token, time_t *expiry, void *payload);
/* The current time in epoch seconds. */
typedef time_t (*sat_sign_clock_fn)(void *payload);

/* A signer that gets tokens from sign_url (e.g.
 * https://planetarycomputer.microsoft.com/api/sas/v1) through fetch, which
 * must outlive it. 0 or -ENOMEM. */
int sat_signer_new(struct sat_signer **out, struct sat_fetch *fetch,
		   const char *sign_url);
/* Sends key as Ocp-Apim-Subscription-Key with every token request, as the
 * Planetary Computer SDK does when it has a subscription key (its
 * planetary_computer.sas.sign_url; the key comes from `planetarycomputer
 * configure` or PC_SDK_SUBSCRIPTION_KEY). key NULL or "": the environment
 * variable PC_SDK_SUBSCRIPTION_KEY, else none. Before any signing; the
 * key is never logged. 0 or -ENOMEM. */
int sat_signer_set_subscription_key(struct sat_signer *s, const char *key);

/* The same with tokens and time from the caller (tests). */
int sat_signer_new_custom(struct sat_signer **out, sat_sign_token_fn token,
			  sat_sign_clock_fn clock, void *payload);
/* Accepts NULL. No thread may be signing. */
void sat_signer_free(struct sat_signer *s);

/* Is href one to sign: http(s)://ACCOUNT.blob.core.windows.net[:PORT]/
 * CONTAINER/..., not signed already (no sig= in its query)? The scheme is
 * not checked beyond http/https so that tests can serve it in clear text.
 * Fills account and container (SAT_SIGN_NAME_MAX bytes each, lower case)
 * when not NULL. Pure. */
bool sat_sign_blob_parts(const char *href, char *account, char *container);

/* When a token fetched at now that expires at expiry is to be renewed. */
time_t sat_sign_renew_at(time_t now, time_t expiry);

/* *out = href with a token (malloc'd), or NULL when href needs none.
 * 0, or -errno when no token could be had (logged once, as a warning, by
 * the thread that tried). Blocks. */
int sat_signer_sign(struct sat_signer *s, const char *href, char **out);

/* signed_url, made by sat_signer_sign(href), was refused (HTTP 403): its
 * token is dropped, so the next signature fetches another, unless a newer
 * one is already there (many requests refused at once renew once). */
void sat_signer_reject(struct sat_signer *s, const char *href,
		       const char *signed_url);

/* Tokens fetched so far (for tests and status). */
unsigned long sat_signer_tokens(struct sat_signer *s);

#endif
