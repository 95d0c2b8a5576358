/*
 * cog_geo: the georeferencing of a GeoTIFF's first IFD, read as GDAL reads
 * it (frmts/gtiff, libgeotiff's GTIFGetDefn()), and the band GDAL calls
 * alpha. See include/satfs/cog.h.
 *
 * Geotransform: ModelPixelScale (both scales non-zero) with the first
 * ModelTiepoint wins, a negative Y scale read as north-up (GDAL's default,
 * GTIFF_HONOUR_NEGATIVE_SCALEY=NO); else a 16-value ModelTransformation,
 * which may be south-up but not rotated. PixelIsPoint moves the origin
 * half a pixel up and left.
 *
 * CRS: an EPSG code when ProjectedCSTypeGeoKey (or GeographicTypeGeoKey
 * for a geographic model) gives one; else the user-defined keys become
 * struct sat_geom_crs_parts for sat_geom_crs_build(), which makes the
 * definition with PROJ (the only place PROJ is used): the geodetic part
 * from the geographic CRS code, else the datum code, else the ellipsoid
 * parameters (semi-major axis and inverse flattening or semi-minor axis,
 * prime meridian, TOWGS84) as a PROJ string, else the ellipsoid code; the
 * projection from ProjectionGeoKey's EPSG code, else ProjCoordTransGeoKey
 * and its parameters with libgeotiff's fallbacks between keys (natural
 * origin, false origin, centre), angles in GeogAngularUnits, false easting
 * and northing in ProjLinearUnits. The numbers alone make the PROJ
 * strings: nothing of the file's text reaches PROJ.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cog_private.h"
#include "geotiff_tags.h"
#include "satfs/geom.h"
#include "satfs/log.h"

/* GeoKey ids (GeoTIFF 1.1 section 7), beyond geotiff_tags.h's. */
enum {
	KEY_GEOG_DATUM = 2050,
	KEY_GEOG_PRIME_MERIDIAN = 2051,
	KEY_GEOG_ANGULAR_UNITS = 2054,
	KEY_GEOG_ANGULAR_UNIT_SIZE = 2055,
	KEY_GEOG_ELLIPSOID = 2056,
	KEY_GEOG_SEMI_MAJOR = 2057,
	KEY_GEOG_SEMI_MINOR = 2058,
	KEY_GEOG_INV_FLATTENING = 2059,
	KEY_GEOG_PM_LONG = 2061,
	KEY_GEOG_TOWGS84 = 2062,
	KEY_PROJECTION = 3074,
	KEY_PROJ_COORD_TRANS = 3075,
	KEY_PROJ_LINEAR_UNITS = 3076,
	KEY_PROJ_LINEAR_UNIT_SIZE = 3077,
	KEY_STD_PARALLEL1 = 3078,
	KEY_STD_PARALLEL2 = 3079,
	KEY_NAT_ORIGIN_LONG = 3080,
	KEY_NAT_ORIGIN_LAT = 3081,
	KEY_FALSE_EASTING = 3082,
	KEY_FALSE_NORTHING = 3083,
	KEY_FALSE_ORIGIN_LONG = 3084,
	KEY_FALSE_ORIGIN_LAT = 3085,
	KEY_FALSE_ORIGIN_EASTING = 3086,
	KEY_FALSE_ORIGIN_NORTHING = 3087,
	KEY_CENTER_LONG = 3088,
	KEY_CENTER_LAT = 3089,
	KEY_CENTER_EASTING = 3090,
	KEY_CENTER_NORTHING = 3091,
	KEY_SCALE_AT_NAT_ORIGIN = 3092,
	KEY_SCALE_AT_CENTER = 3093,
	KEY_AZIMUTH = 3094,
	KEY_STRAIGHT_VERT_POLE_LONG = 3095,
	KEY_RECTIFIED_GRID_ANGLE = 3096,
};

#define MODELTYPE_GEOCENTRIC 3
#define PM_GREENWICH 8901

struct geokeys {
	const uint16_t *k;
	uint16_t n;
	const double *d;
	uint16_t nd;
};

/* The directory entry of key id, or NULL. */
static const uint16_t *key_entry(const struct geokeys *g, uint16_t id)
{
	uint32_t nkeys;

	if (!g->k || g->n < 4)
		return NULL;
	nkeys = g->k[3];
	if (nkeys > (uint32_t)(g->n - 4) / 4)
		nkeys = (uint32_t)(g->n - 4) / 4;
	for (uint32_t i = 0; i < nkeys; i++) {
		const uint16_t *e = g->k + 4 + 4 * i;

		if (e[0] == id && e[2] >= 1)
			return e;
	}
	return NULL;
}

static bool key_short(const struct geokeys *g, uint16_t id, uint16_t *val)
{
	const uint16_t *e = key_entry(g, id);

	if (!e)
		return false;
	if (e[1] == 0) {
		*val = e[3];
		return true;
	}
	if (e[1] == SAT_TIFFTAG_GEOKEYDIRECTORY && e[3] < g->n) {
		*val = g->k[e[3]];
		return true;
	}
	return false;
}

/* count doubles of key id into val (the key must hold at least count). */
static bool key_doubles(const struct geokeys *g, uint16_t id, double *val,
			unsigned count)
{
	const uint16_t *e = key_entry(g, id);

	if (!e || e[1] != SAT_TIFFTAG_GEODOUBLEPARAMS || e[2] < count ||
	    !g->d || (uint32_t)e[3] + count > g->nd)
		return false;
	for (unsigned i = 0; i < count; i++) {
		if (!isfinite(g->d[e[3] + i]))
			return false;
		val[i] = g->d[e[3] + i];
	}
	return true;
}

static bool key_double(const struct geokeys *g, uint16_t id, double *val)
{
	return key_doubles(g, id, val, 1);
}

/* The first of up to three keys that is present, else dflt. */
static double key_chain(const struct geokeys *g, uint16_t a, uint16_t b,
			uint16_t c, double dflt)
{
	double v;

	if (key_double(g, a, &v) || (b && key_double(g, b, &v)) ||
	    (c && key_double(g, c, &v)))
		return v;
	return dflt;
}

static bool is_code(uint16_t v)
{
	return v > 0 && v != SAT_GEOKEY_USERDEFINED;
}

/* Degrees per unit of GeogAngularUnitsGeoKey, or 0 for one we do not
 * convert. */
static double degrees_per_unit(const struct geokeys *g)
{
	uint16_t u = 9102;
	double size;

	key_short(g, KEY_GEOG_ANGULAR_UNITS, &u);
	switch (u) {
	case 9102: case 9122: return 1;
	case 9101: return 180 / M_PI;
	case 9103: return 1.0 / 60;
	case 9104: return 1.0 / 3600;
	case 9105: case 9106: return 0.9;
	case 9109: return 180 / M_PI * 1e-6;
	case SAT_GEOKEY_USERDEFINED:
		if (key_double(g, KEY_GEOG_ANGULAR_UNIT_SIZE, &size) &&
		    size > 0)
			return size * 180 / M_PI; /* radians per unit */
		return 0;
	default:
		return 0;
	}
}

/* Appends to a PROJ string; false when it would not fit. */
__attribute__((format(printf, 3, 4)))
static bool put(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len - used;
}

/* The projection of ProjCoordTransGeoKey ct as a one-step PROJ string.
 * Returns false with why set for one we do not map. */
static bool conversion_string(const struct geokeys *g, uint16_t ct,
			      double deg, char *buf, size_t len,
			      char *why, size_t why_len)
{
	double lat0 = deg * key_chain(g, KEY_NAT_ORIGIN_LAT,
				      KEY_FALSE_ORIGIN_LAT, KEY_CENTER_LAT, 0);
	double lon0 = deg * key_chain(g, KEY_NAT_ORIGIN_LONG,
				      KEY_FALSE_ORIGIN_LONG, KEY_CENTER_LONG,
				      0);
	double k0 = key_chain(g, KEY_SCALE_AT_NAT_ORIGIN, KEY_SCALE_AT_CENTER,
			      0, 1);
	double sp1 = deg * key_chain(g, KEY_STD_PARALLEL1, 0, 0, 0);
	double sp2 = deg * key_chain(g, KEY_STD_PARALLEL2, 0, 0, 0);
	double pole, alpha, gamma;
	bool ok;

	buf[0] = '\0';
	switch (ct) {
	case 1: /* CT_TransverseMercator */
		ok = put(buf, len, "+proj=tmerc +lat_0=%.17g +lon_0=%.17g "
			 "+k_0=%.17g", lat0, lon0, k0);
		break;
	case 3: /* CT_ObliqueMercator: Hotine variant A, as GDAL's SetHOM */
		alpha = deg * key_chain(g, KEY_AZIMUTH, 0, 0, 0);
		gamma = deg * key_chain(g, KEY_RECTIFIED_GRID_ANGLE, 0, 0, 90);
		ok = put(buf, len, "+proj=omerc +no_uoff +lat_0=%.17g "
			 "+lonc=%.17g +alpha=%.17g +gamma=%.17g +k_0=%.17g",
			 lat0, lon0, alpha, gamma, k0);
		break;
	case 7: /* CT_Mercator: 2SP when a standard parallel is given */
		if (key_double(g, KEY_STD_PARALLEL1, &sp1))
			ok = put(buf, len, "+proj=merc +lat_ts=%.17g "
				 "+lon_0=%.17g", deg * sp1, lon0);
		else
			ok = put(buf, len, "+proj=merc +lon_0=%.17g "
				 "+k_0=%.17g", lon0, k0);
		break;
	case 8: /* CT_LambertConfConic_2SP */
		ok = put(buf, len, "+proj=lcc +lat_1=%.17g +lat_2=%.17g "
			 "+lat_0=%.17g +lon_0=%.17g", sp1, sp2, lat0, lon0);
		break;
	case 9: /* CT_LambertConfConic_1SP (Helmert) */
		ok = put(buf, len, "+proj=lcc +lat_1=%.17g +lat_0=%.17g "
			 "+lon_0=%.17g +k_0=%.17g", lat0, lat0, lon0, k0);
		break;
	case 10: /* CT_LambertAzimEqualArea */
		ok = put(buf, len, "+proj=laea +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 11: /* CT_AlbersEqualArea */
		ok = put(buf, len, "+proj=aea +lat_1=%.17g +lat_2=%.17g "
			 "+lat_0=%.17g +lon_0=%.17g", sp1, sp2, lat0, lon0);
		break;
	case 12: /* CT_AzimuthalEquidistant */
		ok = put(buf, len, "+proj=aeqd +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 13: /* CT_EquidistantConic */
		ok = put(buf, len, "+proj=eqdc +lat_1=%.17g +lat_2=%.17g "
			 "+lat_0=%.17g +lon_0=%.17g", sp1, sp2, lat0, lon0);
		break;
	case 14: /* CT_Stereographic */
		ok = put(buf, len, "+proj=stere +lat_0=%.17g +lon_0=%.17g "
			 "+k_0=%.17g", lat0, lon0, k0);
		break;
	case 15: /* CT_PolarStereographic: variant A at a pole, else B */
		pole = deg * key_chain(g, KEY_STRAIGHT_VERT_POLE_LONG,
				       KEY_NAT_ORIGIN_LONG,
				       KEY_FALSE_ORIGIN_LONG, 0);
		if (fabs(fabs(lat0) - 90) < 1e-12)
			ok = put(buf, len, "+proj=stere +lat_0=%.17g "
				 "+lon_0=%.17g +k_0=%.17g", lat0, pole, k0);
		else
			ok = put(buf, len, "+proj=stere +lat_0=%d +lat_ts=%.17g "
				 "+lon_0=%.17g", lat0 < 0 ? -90 : 90, lat0,
				 pole);
		break;
	case 16: /* CT_ObliqueStereographic */
		ok = put(buf, len, "+proj=sterea +lat_0=%.17g +lon_0=%.17g "
			 "+k_0=%.17g", lat0, lon0, k0);
		break;
	case 17: /* CT_Equirectangular */
		ok = put(buf, len, "+proj=eqc +lat_ts=%.17g +lat_0=%.17g "
			 "+lon_0=%.17g", sp1, lat0, lon0);
		break;
	case 18: /* CT_CassiniSoldner */
		ok = put(buf, len, "+proj=cass +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 19: /* CT_Gnomonic */
		ok = put(buf, len, "+proj=gnom +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 20: /* CT_MillerCylindrical */
		ok = put(buf, len, "+proj=mill +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 21: /* CT_Orthographic */
		ok = put(buf, len, "+proj=ortho +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 22: /* CT_Polyconic */
		ok = put(buf, len, "+proj=poly +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 23: /* CT_Robinson */
		ok = put(buf, len, "+proj=robin +lon_0=%.17g", lon0);
		break;
	case 24: /* CT_Sinusoidal */
		ok = put(buf, len, "+proj=sinu +lon_0=%.17g", lon0);
		break;
	case 25: /* CT_VanDerGrinten */
		ok = put(buf, len, "+proj=vandg +lon_0=%.17g", lon0);
		break;
	case 26: /* CT_NewZealandMapGrid */
		ok = put(buf, len, "+proj=nzmg +lat_0=%.17g +lon_0=%.17g",
			 lat0, lon0);
		break;
	case 28: /* CT_CylindricalEqualArea (GDAL's extension) */
		ok = put(buf, len, "+proj=cea +lat_ts=%.17g +lon_0=%.17g",
			 sp1, lon0);
		break;
	default:
		snprintf(why, why_len, "ProjCoordTransGeoKey %u is not "
			 "supported", ct);
		return false;
	}
	if (!ok || !isfinite(lat0) || !isfinite(lon0) || !isfinite(k0)) {
		snprintf(why, why_len, "ProjCoordTransGeoKey %u with "
			 "parameters out of range", ct);
		return false;
	}
	return true;
}

/* The geodetic part of user-defined keys into p (geodetic: a buffer for
 * its PROJ string). */
static bool geodetic_parts(const struct geokeys *g, struct sat_geom_crs_parts *p,
			   char *geodetic, size_t len, char *why,
			   size_t why_len)
{
	uint16_t gcs = 0, datum = 0, ellps = 0, pm = PM_GREENWICH;
	double a = 0, b = 0, rf = 0, pm_long = 0, towgs84[7];
	bool have_pm = key_double(g, KEY_GEOG_PM_LONG, &pm_long);
	bool have_tw7 = key_doubles(g, KEY_GEOG_TOWGS84, towgs84, 7);
	bool have_tw3 = have_tw7 || key_doubles(g, KEY_GEOG_TOWGS84,
						 towgs84, 3);

	key_short(g, SAT_GEOKEY_GEOGRAPHICTYPE, &gcs);
	key_short(g, KEY_GEOG_DATUM, &datum);
	key_short(g, KEY_GEOG_ELLIPSOID, &ellps);
	key_short(g, KEY_GEOG_PRIME_MERIDIAN, &pm);
	if (is_code(gcs)) {
		p->geographic_epsg = gcs;
		return true;
	}
	if (is_code(datum) && !have_pm && !have_tw3) {
		p->datum_epsg = datum;
		return true;
	}
	if (key_double(g, KEY_GEOG_SEMI_MAJOR, &a) && a > 0) {
		geodetic[0] = '\0';
		if (key_double(g, KEY_GEOG_INV_FLATTENING, &rf) && rf > 0)
			put(geodetic, len, "+proj=longlat +a=%.17g +rf=%.17g",
			    a, rf);
		else if (key_double(g, KEY_GEOG_SEMI_MINOR, &b) && b > 0)
			put(geodetic, len, "+proj=longlat +a=%.17g +b=%.17g",
			    a, b);
		else /* inverse flattening 0: a sphere */
			put(geodetic, len, "+proj=longlat +a=%.17g +b=%.17g",
			    a, a);
		if (!have_pm && is_code(pm) && pm != PM_GREENWICH) {
			snprintf(why, why_len, "prime meridian %u given by "
				 "code only", pm);
			return false;
		}
		if (have_pm && pm_long != 0)
			put(geodetic, len, " +pm=%.17g", pm_long);
		if (have_tw7)
			put(geodetic, len, " +towgs84=%.17g,%.17g,%.17g,%.17g,"
			    "%.17g,%.17g,%.17g", towgs84[0], towgs84[1],
			    towgs84[2], towgs84[3], towgs84[4], towgs84[5],
			    towgs84[6]);
		else if (have_tw3)
			put(geodetic, len, " +towgs84=%.17g,%.17g,%.17g",
			    towgs84[0], towgs84[1], towgs84[2]);
		if (!put(geodetic, len, " +no_defs +type=crs")) {
			snprintf(why, why_len, "datum parameters too long");
			return false;
		}
		p->geodetic = geodetic;
		return true;
	}
	if (is_code(datum)) {
		p->datum_epsg = datum;
		return true;
	}
	if (is_code(ellps)) {
		p->ellipsoid_epsg = ellps;
		return true;
	}
	snprintf(why, why_len, "no geographic CRS, datum or ellipsoid");
	return false;
}

/* cog->crs from user-defined keys, through geom; or cog->crs_why. */
static int crs_user_defined(struct sat_cog *cog, const struct geokeys *g,
			    uint16_t model)
{
	struct sat_geom_crs_parts p = { 0 };
	char geodetic[512], conv[512], why[160];
	uint16_t proj = 0, ct = 0, unit = 0;
	const char *gwhy = NULL;
	double deg = degrees_per_unit(g), size;
	int err;

	if (!geodetic_parts(g, &p, geodetic, sizeof(geodetic), why,
			    sizeof(why)))
		goto fail;
	if (!deg) {
		snprintf(why, sizeof(why), "angular unit not supported");
		goto fail;
	}
	if (model == SAT_MODELTYPE_GEOGRAPHIC) {
		if (deg != 1) {
			snprintf(why, sizeof(why), "a geographic CRS not in "
				 "degrees");
			goto fail;
		}
		goto build;
	}
	key_short(g, KEY_PROJECTION, &proj);
	key_short(g, KEY_PROJ_COORD_TRANS, &ct);
	if (is_code(proj)) {
		p.conversion_epsg = proj;
	} else if (ct) {
		if (!conversion_string(g, ct, deg, conv, sizeof(conv), why,
				       sizeof(why)))
			goto fail;
		p.conversion = conv;
		p.false_easting = key_chain(g, KEY_FALSE_EASTING,
					    KEY_CENTER_EASTING,
					    KEY_FALSE_ORIGIN_EASTING, 0);
		p.false_northing = key_chain(g, KEY_FALSE_NORTHING,
					     KEY_CENTER_NORTHING,
					     KEY_FALSE_ORIGIN_NORTHING, 0);
	} else {
		snprintf(why, sizeof(why), "a user-defined projected CRS "
			 "without ProjectionGeoKey or ProjCoordTransGeoKey");
		goto fail;
	}
	if (key_short(g, KEY_PROJ_LINEAR_UNITS, &unit) && is_code(unit)) {
		p.unit_epsg = unit;
	} else if (unit == SAT_GEOKEY_USERDEFINED) {
		if (!key_double(g, KEY_PROJ_LINEAR_UNIT_SIZE, &size) ||
		    !(size > 0)) {
			snprintf(why, sizeof(why), "a user-defined linear "
				 "unit without its size");
			goto fail;
		}
		p.unit_to_metre = size;
	}
build:
	err = sat_geom_crs_build(&p, &cog->crs, &gwhy);
	if (err == -ENOMEM)
		return cog_fail(-ENOMEM, "no memory for the CRS");
	if (err) {
		snprintf(why, sizeof(why), "%s", gwhy ? gwhy : "PROJ refused");
		goto fail;
	}
	return 0;
fail:
	snprintf(cog->crs_why, sizeof(cog->crs_why), "GeoKeys: %s", why);
	return 0;
}

static int read_crs(struct sat_cog *cog, TIFF *tif)
{
	struct geokeys g = { 0 };
	uint16_t model = 0, code = 0;
	char name[32];

	if (!TIFFGetField(tif, SAT_TIFFTAG_GEOKEYDIRECTORY, &g.n, &g.k) ||
	    !g.k || g.n < 4) {
		snprintf(cog->crs_why, sizeof(cog->crs_why), "no GeoKeys");
		return 0;
	}
	if (!TIFFGetField(tif, SAT_TIFFTAG_GEODOUBLEPARAMS, &g.nd, &g.d))
		g.d = NULL;
	key_short(&g, SAT_GEOKEY_MODELTYPE, &model);
	if (model == MODELTYPE_GEOCENTRIC) {
		snprintf(cog->crs_why, sizeof(cog->crs_why),
			 "GeoKeys: a geocentric model");
		return 0;
	}
	/* Without ModelType, whichever code is there. */
	if (model != SAT_MODELTYPE_GEOGRAPHIC)
		key_short(&g, SAT_GEOKEY_PROJECTEDCSTYPE, &code);
	if (model != SAT_MODELTYPE_PROJECTED && !is_code(code))
		key_short(&g, SAT_GEOKEY_GEOGRAPHICTYPE, &code);
	if (is_code(code)) {
		cog->epsg = code;
		snprintf(name, sizeof(name), "EPSG:%u", code);
		cog->crs = strdup(name);
		return cog->crs ? 0 : cog_fail(-ENOMEM, "no memory");
	}
	if (model != SAT_MODELTYPE_PROJECTED &&
	    model != SAT_MODELTYPE_GEOGRAPHIC) {
		snprintf(cog->crs_why, sizeof(cog->crs_why),
			 "GeoKeys: no model type and no EPSG code");
		return 0;
	}
	return crs_user_defined(cog, &g, model);
}

static int read_transform(struct sat_cog *cog, TIFF *tif)
{
	struct sat_cog_level *l0 = &cog->levels[0].pub;
	uint16_t n = 0, n2 = 0, nkeys = 0, raster = 0;
	double *m = NULL, *scale = NULL, *tie = NULL;
	struct geokeys g = { 0 };
	bool have_tie;

	have_tie = TIFFGetField(tif, SAT_TIFFTAG_MODELTIEPOINT, &n2, &tie) &&
		   n2 >= 6 && tie;
	if (TIFFGetField(tif, SAT_TIFFTAG_MODELPIXELSCALE, &n, &scale) &&
	    n >= 2 && scale && scale[0] != 0 && scale[1] != 0) {
		if (!have_tie)
			return cog_fail(-EINVAL, "ModelPixelScale without a "
					"tie point");
		l0->pixel_x = scale[0];
		l0->pixel_y = fabs(scale[1]);
		l0->origin_x = tie[3] - tie[0] * l0->pixel_x;
		l0->origin_y = tie[4] + tie[1] * l0->pixel_y;
	} else if (TIFFGetField(tif, SAT_TIFFTAG_MODELTRANSFORMATION, &n,
				&m) && n == 16 && m) {
		if (m[1] != 0.0 || m[4] != 0.0)
			return cog_fail(-ENOTSUP, "rotated geotransform");
		l0->origin_x = m[3];
		l0->origin_y = m[7];
		l0->pixel_x = m[0];
		l0->pixel_y = -m[5];
	} else if (have_tie && n2 > 6) {
		return cog_fail(-ENOTSUP, "%u tie points (GCPs) and no "
				"geotransform", n2 / 6);
	} else {
		return cog_fail(-EINVAL, "no geotransform");
	}
	if (!isfinite(l0->origin_x) || !isfinite(l0->origin_y) ||
	    !isfinite(l0->pixel_x) || !isfinite(l0->pixel_y) ||
	    l0->pixel_y == 0)
		return cog_fail(-EINVAL, "geotransform %g,%g,%g,%g",
				l0->origin_x, l0->pixel_x, l0->origin_y,
				l0->pixel_y);
	if (!(l0->pixel_x > 0))
		return cog_fail(-ENOTSUP, "pixel width %g (x growing leftwards)",
				l0->pixel_x);
	/* The tie point names a pixel's centre: the corner is half a pixel
	 * up and left, as GDAL reads it. */
	if (TIFFGetField(tif, SAT_TIFFTAG_GEOKEYDIRECTORY, &nkeys, &g.k)) {
		g.n = nkeys;
		key_short(&g, SAT_GEOKEY_RASTERTYPE, &raster);
	}
	if (raster == SAT_RASTER_PIXELISPOINT) {
		l0->origin_x -= 0.5 * l0->pixel_x;
		l0->origin_y += 0.5 * l0->pixel_y;
	}
	return 0;
}

/* GTiffRasterBand's colour interpretation: the first band after the
 * photometric's own that ExtraSamples calls alpha. */
static void read_alpha(struct sat_cog *cog, TIFF *tif)
{
	const struct cog_ifd *d = &cog->levels[0].img;
	uint16_t count = 0, *v = NULL, *r, *gr, *b;
	int base, first;

	cog->alpha = -1;
	cog->palette = d->photometric == PHOTOMETRIC_PALETTE &&
		       TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &gr, &b);
	if (!TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &count, &v) || !v ||
	    count == 0 || count > d->spp)
		return;
	/* The bands GDAL looks up in ExtraSamples: those after the ones the
	 * photometric interpretation (or a colour map) names. */
	switch (d->photometric) {
	case PHOTOMETRIC_RGB: case PHOTOMETRIC_YCBCR: first = 3; break;
	case PHOTOMETRIC_SEPARATED: first = 4; break;
	case PHOTOMETRIC_MINISBLACK: first = 1; break;
	default: first = cog->palette ? 1 : 0; break;
	}
	base = d->spp - count;
	for (int band = first > base ? first : base; band < d->spp; band++) {
		uint16_t kind = v[band - base];

		if (kind == EXTRASAMPLE_ASSOCALPHA ||
		    kind == EXTRASAMPLE_UNASSALPHA)
			cog->alpha = band; /* the last one: it masks (cog.c) */
	}
}

int cog_read_geo(struct sat_cog *cog, TIFF *tif)
{
	char *text = NULL, *end;
	int err;

	err = read_transform(cog, tif);
	if (!err)
		err = read_crs(cog, tif);
	if (err)
		return err;
	if (TIFFGetField(tif, SAT_TIFFTAG_GDAL_NODATA, &text) && text) {
		cog->nodata = strtod(text, &end);
		cog->has_nodata = end != text;
	}
	read_alpha(cog, tif);
	return 0;
}
