/*
 * geotiff_tags: the GeoTIFF and GDAL private TIFF tags, registered with
 * libtiff once for the whole process. Private to fs/: used by the COG
 * reader (cog.c) and the GeoTIFF writer (tiffout.c), the only two modules
 * that talk to libtiff.
 *
 * How the tags are passed through TIFFGetField/TIFFSetField (the same
 * definitions as libgeotiff's xtiff.c and GDAL's GTiff driver, so code
 * written against either works here):
 *   - SAT_TIFFTAG_MODELPIXELSCALE, _MODELTIEPOINT, _MODELTRANSFORMATION,
 *     _GEODOUBLEPARAMS: doubles, with a count:
 *       TIFFGetField(tif, tag, &count_u16, &double_ptr)
 *       TIFFSetField(tif, tag, (int)count, double_array)
 *   - SAT_TIFFTAG_GEOKEYDIRECTORY: uint16 values, with a count, likewise.
 *   - SAT_TIFFTAG_GEOASCIIPARAMS, _GDAL_METADATA, _GDAL_NODATA: strings,
 *     without a count: TIFFGetField(tif, tag, &char_ptr),
 *     TIFFSetField(tif, tag, "text").
 * Pointers returned by TIFFGetField are owned by the TIFF handle.
 */
#ifndef SATFS_GEOTIFF_TAGS_H
#define SATFS_GEOTIFF_TAGS_H

#define SAT_TIFFTAG_MODELPIXELSCALE 33550
#define SAT_TIFFTAG_MODELTIEPOINT 33922
#define SAT_TIFFTAG_MODELTRANSFORMATION 34264
#define SAT_TIFFTAG_GEOKEYDIRECTORY 34735
#define SAT_TIFFTAG_GEODOUBLEPARAMS 34736
#define SAT_TIFFTAG_GEOASCIIPARAMS 34737
#define SAT_TIFFTAG_GDAL_METADATA 42112
#define SAT_TIFFTAG_GDAL_NODATA 42113

/* GeoKey ids and values we use (GeoTIFF 1.1, section 7). */
#define SAT_GEOKEY_MODELTYPE 1024
#define SAT_GEOKEY_RASTERTYPE 1025
#define SAT_GEOKEY_GEOGRAPHICTYPE 2048
#define SAT_GEOKEY_PROJECTEDCSTYPE 3072
#define SAT_MODELTYPE_PROJECTED 1
#define SAT_MODELTYPE_GEOGRAPHIC 2
#define SAT_RASTER_PIXELISAREA 1
#define SAT_RASTER_PIXELISPOINT 2
#define SAT_GEOKEY_USERDEFINED 32767

/* Installs, once per process (pthread_once), a libtiff tag extender that
 * merges the tags above into every TIFF handle opened afterwards and then
 * calls the extender that was installed before it. Also routes libtiff's
 * process-wide error and warning handlers (used only for the few messages
 * libtiff emits without a handle) to the satfs log at debug level, so that
 * libtiff never writes to stderr. Call it before the first TIFF*Open*();
 * any thread, any number of times. */
void sat_geotiff_tags_register(void);

#endif
