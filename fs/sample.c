/* sample: see include/satfs/sample.h. */
#include "satfs/sample.h"

#include <string.h>

static const struct {
	const char *name;
	size_t size;
	int is_float;
} types[SAT_SAMPLE_NTYPES] = {
	[SAT_SAMPLE_U8] = { "uint8", 1, 0 },
	[SAT_SAMPLE_I8] = { "int8", 1, 0 },
	[SAT_SAMPLE_U16] = { "uint16", 2, 0 },
	[SAT_SAMPLE_I16] = { "int16", 2, 0 },
	[SAT_SAMPLE_U32] = { "uint32", 4, 0 },
	[SAT_SAMPLE_I32] = { "int32", 4, 0 },
	[SAT_SAMPLE_F32] = { "float32", 4, 1 },
	[SAT_SAMPLE_F64] = { "float64", 8, 1 },
};

size_t sat_sample_size(enum sat_sample_type t)
{
	return (unsigned)t < SAT_SAMPLE_NTYPES ? types[t].size : 0;
}

const char *sat_sample_name(enum sat_sample_type t)
{
	return (unsigned)t < SAT_SAMPLE_NTYPES ? types[t].name : "?";
}

int sat_sample_parse(const char *name)
{
	for (int t = 0; name && t < SAT_SAMPLE_NTYPES; t++)
		if (strcmp(name, types[t].name) == 0)
			return t;
	return -1;
}

int sat_sample_is_float(enum sat_sample_type t)
{
	return (unsigned)t < SAT_SAMPLE_NTYPES && types[t].is_float;
}

double sat_sample_get(const void *values, enum sat_sample_type t, size_t i)
{
	switch (t) {
	case SAT_SAMPLE_U8: return ((const uint8_t *)values)[i];
	case SAT_SAMPLE_I8: return ((const int8_t *)values)[i];
	case SAT_SAMPLE_U16: return ((const uint16_t *)values)[i];
	case SAT_SAMPLE_I16: return ((const int16_t *)values)[i];
	case SAT_SAMPLE_U32: return ((const uint32_t *)values)[i];
	case SAT_SAMPLE_I32: return ((const int32_t *)values)[i];
	case SAT_SAMPLE_F32: return ((const float *)values)[i];
	case SAT_SAMPLE_F64: return ((const double *)values)[i];
	default: return 0;
	}
}

void sat_sample_put(void *values, enum sat_sample_type t, size_t i, double v)
{
	switch (t) {
	case SAT_SAMPLE_U8: ((uint8_t *)values)[i] = (uint8_t)v; break;
	case SAT_SAMPLE_I8: ((int8_t *)values)[i] = (int8_t)v; break;
	case SAT_SAMPLE_U16: ((uint16_t *)values)[i] = (uint16_t)v; break;
	case SAT_SAMPLE_I16: ((int16_t *)values)[i] = (int16_t)v; break;
	case SAT_SAMPLE_U32: ((uint32_t *)values)[i] = (uint32_t)v; break;
	case SAT_SAMPLE_I32: ((int32_t *)values)[i] = (int32_t)v; break;
	case SAT_SAMPLE_F32: ((float *)values)[i] = (float)v; break;
	case SAT_SAMPLE_F64: ((double *)values)[i] = v; break;
	default: break;
	}
}
