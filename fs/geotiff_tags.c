/*
 * geotiff_tags: see geotiff_tags.h.
 *
 * libtiff learns about private tags through one process-wide hook, the tag
 * extender, which it calls for every new TIFF handle. The hook and the
 * pointer to the extender we chain to are written once, under
 * pthread_once, and only read afterwards, so concurrent opens are safe.
 */
#include "geotiff_tags.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <tiffio.h>

#include "satfs/log.h"

static const TIFFFieldInfo geotiff_fields[] = {
	{ SAT_TIFFTAG_MODELPIXELSCALE, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "ModelPixelScaleTag" },
	{ SAT_TIFFTAG_MODELTIEPOINT, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "ModelTiepointTag" },
	{ SAT_TIFFTAG_MODELTRANSFORMATION, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "ModelTransformationTag" },
	{ SAT_TIFFTAG_GEOKEYDIRECTORY, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_SHORT, FIELD_CUSTOM, 1, 1, "GeoKeyDirectoryTag" },
	{ SAT_TIFFTAG_GEODOUBLEPARAMS, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, "GeoDoubleParamsTag" },
	{ SAT_TIFFTAG_GEOASCIIPARAMS, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_ASCII, FIELD_CUSTOM, 1, 0, "GeoAsciiParamsTag" },
	{ SAT_TIFFTAG_GDAL_METADATA, TIFF_VARIABLE, TIFF_VARIABLE,
	  TIFF_ASCII, FIELD_CUSTOM, 1, 0, "GDALMetadata" },
	{ SAT_TIFFTAG_GDAL_NODATA, TIFF_VARIABLE, TIFF_VARIABLE, TIFF_ASCII,
	  FIELD_CUSTOM, 1, 0, "GDALNoDataValue" },
};

static pthread_once_t geotiff_once = PTHREAD_ONCE_INIT;
static TIFFExtendProc geotiff_parent; /* written once, under geotiff_once */

static void geotiff_extend(TIFF *tif)
{
	TIFFMergeFieldInfo(tif, geotiff_fields,
			   sizeof(geotiff_fields) / sizeof(geotiff_fields[0]));
	if (geotiff_parent)
		geotiff_parent(tif);
}

/* Messages libtiff emits with no handle to route them through (a handle's
 * own handlers, set with TIFFOpenOptions, take precedence). They concern
 * input the caller will report as a failed operation, hence debug. */
__attribute__((format(printf, 3, 0)))
static void geotiff_log(const char *kind, const char *module,
			const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	sat_debug("libtiff %s: %s: %s", kind, module ? module : "-", msg);
}

__attribute__((format(printf, 2, 0)))
static void geotiff_error(const char *module, const char *fmt, va_list ap)
{
	geotiff_log("error", module, fmt, ap);
}

__attribute__((format(printf, 2, 0)))
static void geotiff_warning(const char *module, const char *fmt, va_list ap)
{
	geotiff_log("warning", module, fmt, ap);
}

static void geotiff_init(void)
{
	geotiff_parent = TIFFSetTagExtender(geotiff_extend);
	TIFFSetErrorHandler(geotiff_error);
	TIFFSetWarningHandler(geotiff_warning);
}

void sat_geotiff_tags_register(void)
{
	pthread_once(&geotiff_once, geotiff_init);
}
