/*
 * fetch_private: helpers private to the fetch module (fs/fetch.c), kept apart
 * so that the retry and parsing rules can be unit tested without a network.
 * Pure functions: no locks, no I/O, callable from any thread.
 */
#ifndef SATFS_FETCH_PRIVATE_H
#define SATFS_FETCH_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Delay before try number try+1, after try number try (1-based) failed:
 * full jitter, uniform in [0, min(max_ms, base_ms * 2^(try-1))]. *rng is
 * the caller's generator state (never 0). */
int sat_fetch_backoff_ms(int try, int base_ms, int max_ms, uint64_t *rng);

/* Parses a Retry-After value: delta-seconds or an HTTP-date (relative to
 * now). Returns the delay in ms capped at max_ms, or -1 when value is NULL
 * or not understood. A date in the past gives 0. */
long sat_fetch_retry_after_ms(const char *value, time_t now, int max_ms);

/* Parses "bytes first-last/total" (total may be "*": *total = 0).
 * Returns 0 or -EPROTO. */
int sat_fetch_parse_content_range(const char *value, uint64_t *first,
				  uint64_t *last, uint64_t *total);

/* HTTP status worth another try (429, 500, 502, 503, 504). */
bool sat_fetch_status_retryable(long status);
/* errno for a final HTTP failure status (>= 300). */
int sat_fetch_status_errno(long status);

/* The same for a libcurl result code (CURLcode, passed as int so that this
 * header needs no curl). */
bool sat_fetch_curl_retryable(int code);
int sat_fetch_curl_errno(int code);

#endif
