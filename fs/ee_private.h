/*
 * ee_private: what the Earth Engine files (ee_auth.c, ee_catalog.c,
 * ee_pixels.c) share. Not a module boundary.
 */
#ifndef SATFS_EE_PRIVATE_H
#define SATFS_EE_PRIVATE_H

#include <stdint.h>

struct sat_config;
struct sat_ee;

/* The tile limits in force (the API's unless a test lowered them). */
uint32_t sat_ee_max_side_(const struct sat_ee *ee);
uint64_t sat_ee_max_bytes_(const struct sat_ee *ee);
/* The mount's configuration. */
const struct sat_config *sat_ee_config_(const struct sat_ee *ee);

#endif
