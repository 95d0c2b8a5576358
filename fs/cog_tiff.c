/*
 * cog_tiff: libtiff over bytes in memory, and the reasons the cog module
 * gives for its refusals (see include/satfs/cog.h, fs/cog_private.h).
 *
 * Every libtiff message goes through per-handle handlers to the log at
 * debug level and to the handle's counters, which the caller checks: an
 * error or warning during a decode fails it even if libtiff then claims
 * success. The first message is kept, so that a refusal can quote it.
 *
 * Threading: the reason is kept per thread (_Thread_local), as
 * sat_log_cause() keeps its cause, so that concurrent opens and decodes on
 * different threads never see each other's reasons.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cog_private.h"
#include "geotiff_tags.h"
#include "satfs/log.h"

static _Thread_local char cog_why[COG_WHY_SIZE];

int cog_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cog_why, sizeof(cog_why), fmt, ap);
	va_end(ap);
	sat_debug("cog: %s", cog_why);
	return err;
}

void cog_clear_error(void)
{
	cog_why[0] = '\0';
}

const char *sat_cog_last_error(void)
{
	return cog_why;
}

static tmsize_t mem_read(thandle_t h, void *dst, tmsize_t n)
{
	struct mem_src *s = h;
	uint64_t avail;

	if (n <= 0)
		return 0;
	if (s->pos + (uint64_t)n > s->wanted)
		s->wanted = s->pos + (uint64_t)n;
	if (s->pos >= s->len)
		return 0;
	avail = s->len - s->pos;
	if ((uint64_t)n > avail)
		n = (tmsize_t)avail;
	memcpy(dst, s->buf + s->pos, (size_t)n);
	s->pos += (uint64_t)n;
	return n;
}

static tmsize_t mem_write(thandle_t h, void *src, tmsize_t n)
{
	return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
	struct mem_src *s = h;

	if (whence == SEEK_SET)
		s->pos = off;
	else if (whence == SEEK_CUR)
		s->pos += off;
	else if (whence == SEEK_END)
		s->pos = s->len + off;
	else
		return (toff_t)-1;
	return s->pos;
}

static int mem_close(thandle_t h)
{
	return 0;
}

static toff_t mem_size(thandle_t h)
{
	return ((struct mem_src *)h)->len;
}

static void mem_note(struct mem_src *s, const char *module, const char *msg)
{
	if (!s || s->first[0])
		return;
	/* cut to the field: the start of libtiff's message is what matters */
	if (snprintf(s->first, sizeof(s->first), "%s%s%s",
		     module ? module : "", module ? ": " : "", msg) < 0)
		s->first[0] = '\0';
}

__attribute__((format(printf, 4, 0)))
static int tiff_error(TIFF *tif, void *payload, const char *module,
		      const char *fmt, va_list ap)
{
	struct mem_src *s = payload;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	sat_debug("cog: libtiff: %s: %s", module ? module : "-", msg);
	mem_note(s, module, msg);
	if (s)
		s->errors++;
	return 1; /* handled: the global handler is not called */
}

__attribute__((format(printf, 4, 0)))
static int tiff_warning(TIFF *tif, void *payload, const char *module,
			const char *fmt, va_list ap)
{
	struct mem_src *s = payload;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	sat_debug("cog: libtiff warning: %s: %s", module ? module : "-", msg);
	mem_note(s, module, msg);
	if (s)
		s->warnings++;
	return 1;
}

TIFF *cog_tiff_open(struct mem_src *src)
{
	TIFFOpenOptions *opts;
	TIFF *tif;

	sat_geotiff_tags_register();
	opts = TIFFOpenOptionsAlloc();
	if (!opts)
		return NULL;
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, COG_MAX_ALLOC);
	TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_error, src);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_warning, src);
	tif = TIFFClientOpenExt("cog", "rmD", src, mem_read, mem_write,
				mem_seek, mem_close, mem_size, NULL, NULL,
				opts);
	TIFFOpenOptionsFree(opts);
	return tif;
}

const char *cog_codec_name(uint16_t c)
{
	switch (c) {
	case COMPRESSION_NONE: return "none";
	case COMPRESSION_CCITTRLE: case COMPRESSION_CCITTFAX3:
	case COMPRESSION_CCITTFAX4: return "CCITT";
	case COMPRESSION_LZW: return "LZW";
	case COMPRESSION_OJPEG: return "old-style JPEG";
	case COMPRESSION_JPEG: return "JPEG";
	case COMPRESSION_ADOBE_DEFLATE: case COMPRESSION_DEFLATE:
		return "DEFLATE";
	case COMPRESSION_PACKBITS: return "PackBits";
	case COMPRESSION_JP2000: return "JPEG 2000";
	case COMPRESSION_LERC: return "LERC";
	case COMPRESSION_LZMA: return "LZMA";
	case COMPRESSION_ZSTD: return "ZSTD";
	case COMPRESSION_WEBP: return "WEBP";
	case 50002: return "JPEG XL";
	default: return "unknown";
	}
}

bool cog_codec_supported(uint16_t c)
{
	switch (c) {
	case COMPRESSION_NONE: case COMPRESSION_LZW: case COMPRESSION_JPEG:
	case COMPRESSION_ADOBE_DEFLATE: case COMPRESSION_DEFLATE:
	case COMPRESSION_PACKBITS: case COMPRESSION_ZSTD:
	case COMPRESSION_LZMA: case COMPRESSION_WEBP: case COMPRESSION_LERC:
		return TIFFIsCODECConfigured(c);
	default:
		return false;
	}
}

bool cog_type_of(uint16_t bits, uint16_t format, enum sat_sample_type *type,
		 char *why, size_t why_len)
{
	static const struct {
		uint16_t format, bits;
		enum sat_sample_type type;
	} map[] = {
		/* GDAL reads SampleFormat VOID as unsigned */
		{ SAMPLEFORMAT_UINT, 8, SAT_SAMPLE_U8 },
		{ SAMPLEFORMAT_VOID, 8, SAT_SAMPLE_U8 },
		{ SAMPLEFORMAT_UINT, 16, SAT_SAMPLE_U16 },
		{ SAMPLEFORMAT_VOID, 16, SAT_SAMPLE_U16 },
		{ SAMPLEFORMAT_UINT, 32, SAT_SAMPLE_U32 },
		{ SAMPLEFORMAT_VOID, 32, SAT_SAMPLE_U32 },
		{ SAMPLEFORMAT_INT, 8, SAT_SAMPLE_I8 },
		{ SAMPLEFORMAT_INT, 16, SAT_SAMPLE_I16 },
		{ SAMPLEFORMAT_INT, 32, SAT_SAMPLE_I32 },
		{ SAMPLEFORMAT_IEEEFP, 32, SAT_SAMPLE_F32 },
		{ SAMPLEFORMAT_IEEEFP, 64, SAT_SAMPLE_F64 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].format == format && map[i].bits == bits) {
			*type = map[i].type;
			return true;
		}
	}
	if (format == SAMPLEFORMAT_IEEEFP)
		snprintf(why, why_len, "%u-bit floating-point samples", bits);
	else if (format == SAMPLEFORMAT_COMPLEXINT ||
		 format == SAMPLEFORMAT_COMPLEXIEEEFP)
		snprintf(why, why_len, "complex samples");
	else if (format == SAMPLEFORMAT_INT)
		snprintf(why, why_len, "%u-bit signed samples", bits);
	else if (format == SAMPLEFORMAT_UINT || format == SAMPLEFORMAT_VOID)
		snprintf(why, why_len, "%u-bit samples", bits);
	else
		snprintf(why, why_len, "sample format %u", format);
	return false;
}
