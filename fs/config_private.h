/*
 * config_private: what config.c and config_file.c share. Not a module
 * boundary: nothing outside the config module includes it.
 */
#ifndef SATFS_CONFIG_PRIVATE_H
#define SATFS_CONFIG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

struct sat_config;
struct sat_config_key;
struct sat_product;
struct sat_region;

/* Does key name a credential (secret, access_key, ...)? Such keys are
 * refused with a hint, and their values never echoed. */
bool sat_config_credential_key(const char *key);
/* Index of key in the NULL-terminated keys, or -1. */
int sat_config_key_index(const char *const *keys, const char *key);
/* A decimal number filling s (blanks around allowed; no nan/inf/hex). */
int sat_config_parse_number(const char *s, double *v);
/* "a, b, c": at most max numbers; returns how many, or -EINVAL. */
int sat_config_parse_list(const char *s, double *v, int max);
/* Writes a message ("KEY: what is wrong") into msg; returns -EINVAL. */
int sat_config_problem(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* on/off/true/false/yes/no/1/0. 0 or -EINVAL with msg. */
int sat_config_parse_bool(const char *key, const char *s, bool *out,
			  char *msg, size_t msglen);
/* Sets key k (from the table) to v in target: the configuration for
 * [source], [mount] and -o keys, the parse for [region] and [product]
 * ones. 0, or -EINVAL with "KEY: problem" in msg, or -ENOMEM. */
int sat_config_set(void *target, const struct sat_config_key *k,
		   const char *v, char *msg, size_t msglen);
/* Sets every [source] and [mount] key that has a default to it. */
int sat_config_apply_defaults(struct sat_config *c);
/* The setters of [region] and [product] keys (config_file.c); target is
 * the file's parse. They report with the file's name and line. */
int sat_config_region_key(void *target, const struct sat_config_key *k,
			  const char *v, char *msg, size_t msglen);
int sat_config_product_key(void *target, const struct sat_config_key *k,
			   const char *v, char *msg, size_t msglen);
/* A deep copy of src named name, or NULL (no memory). */
struct sat_product *sat_config_product_dup(const struct sat_product *src,
					   const char *name);
void sat_config_product_free(struct sat_product *p);
/* Append to c->regions / c->products, which then own r / p. 0 or
 * -ENOMEM (the caller still owns r / p). */
int sat_config_add_region(struct sat_config *c, struct sat_region *r);
int sat_config_add_product(struct sat_config *c, struct sat_product *p);

/* Reads the file at path into c (config_file.c). 0, -EINVAL with
 * "FILE:LINE: problem" in err, or -errno with "FILE: cannot read: ...". */
int sat_config_load_file(struct sat_config *c, const char *path, char *err,
			 size_t errlen);

#endif
