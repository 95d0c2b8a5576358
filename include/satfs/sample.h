/*
 * sample: the numeric types of raster samples, shared by the readers and
 * the renderer. Pure functions, thread-safe.
 */
#ifndef SATFS_SAMPLE_H
#define SATFS_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

enum sat_sample_type {
	SAT_SAMPLE_U8 = 0,
	SAT_SAMPLE_I8,
	SAT_SAMPLE_U16,
	SAT_SAMPLE_I16,
	SAT_SAMPLE_U32,
	SAT_SAMPLE_I32,
	SAT_SAMPLE_F32,
	SAT_SAMPLE_F64,
	SAT_SAMPLE_NTYPES
};

/* Bytes per sample. */
size_t sat_sample_size(enum sat_sample_type t);
/* "uint16", "float32", ... as STAC raster:bands data_type spells them. */
const char *sat_sample_name(enum sat_sample_type t);
/* The type of a STAC data_type name; -1 when unknown. */
int sat_sample_parse(const char *name);
/* Is t a floating-point type? */
int sat_sample_is_float(enum sat_sample_type t);
/* Value i of an array of type t, as a double (exact for every type but
 * 64-bit integers, which we do not read). */
double sat_sample_get(const void *values, enum sat_sample_type t, size_t i);
/* Stores v at index i of an array of type t (v must be in range). */
void sat_sample_put(void *values, enum sat_sample_type t, size_t i, double v);

#endif
