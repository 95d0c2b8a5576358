/*
 * geom_crs: CRSs from definitions (which EPSG code one is equivalent to)
 * and from the parts of user-defined GeoKeys (see include/satfs/geom.h).
 *
 * Building goes through PROJ's objects, not through a PROJ string, so that
 * a projection defined by parameters keeps the datum of an EPSG geographic
 * CRS it is based on (a PROJ string can only name a handful of datums):
 * the conversion comes from the database or from a one-step PROJ string,
 * the base from the database or from a PROJ string, and
 * proj_create_projected_crs() joins them; a TOWGS84 clause on the base
 * (a bound CRS) is carried over to the result.
 *
 * Threading: as geom.c, on the calling thread's PROJ context.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proj.h>
#include <proj_experimental.h>

#include "geom_private.h"
#include "satfs/geom.h"

#define GEOM_IDENTIFY_MIN 70 /* PROJ: equivalent, whatever the names */

int sat_geom_crs_epsg(const char *def)
{
	PJ_CONTEXT *ctx = geom_ctx();
	PJ *crs, *cand, *base = NULL;
	PJ_OBJ_LIST *list = NULL;
	int *conf = NULL, code = 0, n, best = -1, nbest = 0;
	const char *auth, *id;

	if (!ctx)
		return -ENOMEM;
	crs = geom_crs(ctx, def);
	if (!crs)
		return -EINVAL;
	auth = proj_get_id_auth_name(crs, 0);
	id = proj_get_id_code(crs, 0);
	if (auth && id && strcmp(auth, "EPSG") == 0 &&
	    proj_get_type(crs) != PJ_TYPE_BOUND_CRS) {
		code = atoi(id);
		goto out;
	}
	/* A CRS bound to WGS 84 is identified by what it is bound from. */
	if (proj_get_type(crs) == PJ_TYPE_BOUND_CRS)
		base = proj_get_source_crs(ctx, crs);
	list = proj_identify(ctx, base ? base : crs, "EPSG", NULL, &conf);
	n = list ? proj_list_get_count(list) : 0;
	for (int i = 0; i < n; i++) {
		if (conf[i] < GEOM_IDENTIFY_MIN || conf[i] < best)
			continue;
		cand = proj_list_get(ctx, list, i);
		if (cand && proj_is_equivalent_to_with_ctx(
				    ctx, cand, base ? base : crs,
				    PJ_COMP_EQUIVALENT_EXCEPT_AXIS_ORDER_GEOGCRS)) {
			id = proj_get_id_code(cand, 0);
			if (conf[i] > best) {
				best = conf[i];
				nbest = 0;
				code = id ? atoi(id) : 0;
			}
			nbest++;
		}
		proj_destroy(cand);
	}
	if (nbest != 1)
		code = 0; /* ambiguous: let the caller choose */
out:
	proj_int_list_destroy(conf);
	proj_list_destroy(list);
	proj_destroy(base);
	proj_destroy(crs);
	return code;
}

static PJ *from_db(PJ_CONTEXT *ctx, int code, PJ_CATEGORY cat)
{
	char buf[16];

	if (code <= 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%d", code);
	return proj_create_from_database(ctx, "EPSG", buf, cat, 0, NULL);
}

/* The geodetic part: a geographic 2D CRS, possibly bound (TOWGS84). */
static PJ *build_geodetic(PJ_CONTEXT *ctx,
			  const struct sat_geom_crs_parts *p,
			  const char **why)
{
	PJ *obj = NULL, *cs = NULL, *crs = NULL;
	double a = 0, b = 0, rf = 0;
	int computed = 0;

	if (p->geographic_epsg) {
		crs = from_db(ctx, p->geographic_epsg, PJ_CATEGORY_CRS);
		if (!crs || proj_get_type(crs) != PJ_TYPE_GEOGRAPHIC_2D_CRS) {
			proj_destroy(crs);
			crs = NULL;
			*why = "the geographic CRS code is not one PROJ knows";
		}
		goto check;
	}
	cs = proj_create_ellipsoidal_2D_cs(ctx, PJ_ELLPS2D_LONGITUDE_LATITUDE,
					   NULL, 0);
	if (p->datum_epsg) {
		obj = from_db(ctx, p->datum_epsg, PJ_CATEGORY_DATUM);
		if (obj && cs)
			crs = proj_create_geographic_crs_from_datum(
				ctx, "unknown", obj, cs);
		if (!crs)
			*why = "the datum code is not one PROJ knows";
		goto check;
	}
	if (p->ellipsoid_epsg) {
		obj = from_db(ctx, p->ellipsoid_epsg, PJ_CATEGORY_ELLIPSOID);
		if (obj && cs &&
		    proj_ellipsoid_get_parameters(ctx, obj, &a, &b, &computed,
						  &rf))
			crs = proj_create_geographic_crs(
				ctx, "unknown", "unknown", proj_get_name(obj),
				a, rf, "Greenwich", 0, NULL, 0, cs);
		if (!crs)
			*why = "the ellipsoid code is not one PROJ knows";
		goto check;
	}
	if (p->geodetic) {
		crs = proj_create(ctx, p->geodetic);
		if (!crs)
			*why = "PROJ refused the datum parameters";
	} else {
		*why = "no datum or ellipsoid";
	}
check:
	if (crs) {
		PJ *src = proj_get_type(crs) == PJ_TYPE_BOUND_CRS
				  ? proj_get_source_crs(ctx, crs)
				  : NULL;

		if (proj_get_type(src ? src : crs) !=
		    PJ_TYPE_GEOGRAPHIC_2D_CRS) {
			proj_destroy(crs);
			crs = NULL;
			*why = "the datum does not make a geographic 2D CRS";
		}
		proj_destroy(src);
	}
	proj_destroy(obj);
	proj_destroy(cs);
	return crs;
}

/* The linear unit of the projected axes: its name and size. */
static bool build_unit(PJ_CONTEXT *ctx, const struct sat_geom_crs_parts *p,
		       const char **name, double *to_metre, const char **why)
{
	const char *category = NULL;
	char code[16];

	*name = NULL;
	*to_metre = p->unit_to_metre;
	if (p->unit_epsg) {
		snprintf(code, sizeof(code), "%d", p->unit_epsg);
		if (!proj_uom_get_info_from_database(ctx, "EPSG", code, name,
						     to_metre, &category) ||
		    !category || strcmp(category, "linear") != 0 ||
		    !(*to_metre > 0)) {
			*why = "the linear unit code is not one PROJ knows";
			return false;
		}
	} else if (*to_metre == 0) {
		*to_metre = 1;
		*name = "metre";
	} else if (!(*to_metre > 0) || *to_metre > 1e9) {
		*why = "a linear unit that is not a positive length";
		return false;
	} else {
		*name = *to_metre == 1 ? "metre" : "unknown";
	}
	return true;
}

/* The conversion (map projection) of a projected CRS; to_metre scales
 * the false easting and northing. */
static PJ *build_conversion(PJ_CONTEXT *ctx,
			    const struct sat_geom_crs_parts *p,
			    double to_metre, const char **why)
{
	PJ *conv = NULL, *tmp;
	double fe = p->false_easting * to_metre;
	double fn = p->false_northing * to_metre;
	char *def;
	size_t len;

	if (p->conversion_epsg) {
		conv = from_db(ctx, p->conversion_epsg,
			       PJ_CATEGORY_COORDINATE_OPERATION);
		if (!conv || proj_get_type(conv) != PJ_TYPE_CONVERSION) {
			proj_destroy(conv);
			*why = "the projection code is not a conversion PROJ "
			       "knows";
			return NULL;
		}
		return conv;
	}
	/* A one-step PROJ string as a projected CRS (on PROJ's default
	 * ellipsoid), whose conversion is what we keep. */
	len = strlen(p->conversion);
	if (strncmp(p->conversion, "+proj=", 6) != 0 || len > 4096 ||
	    strstr(p->conversion, "+type") || strstr(p->conversion, "+init") ||
	    !isfinite(fe) || !isfinite(fn)) {
		*why = "not a one-step PROJ string";
		return NULL;
	}
	len += 128;
	def = malloc(len);
	if (!def)
		return NULL;
	snprintf(def, len, "%s +x_0=%.17g +y_0=%.17g +type=crs",
		 p->conversion, fe, fn);
	tmp = proj_create(ctx, def);
	free(def);
	if (tmp && proj_get_type(tmp) == PJ_TYPE_PROJECTED_CRS)
		conv = proj_crs_get_coordoperation(ctx, tmp);
	proj_destroy(tmp);
	if (!conv)
		*why = "PROJ refused the projection parameters";
	return conv;
}

int sat_geom_crs_build(const struct sat_geom_crs_parts *p, char **def,
		       const char **why)
{
	static const char *const opts[] = { "MULTILINE=NO", NULL };
	PJ_CONTEXT *ctx = geom_ctx();
	PJ *geod = NULL, *base = NULL, *conv = NULL, *cs = NULL, *proj = NULL;
	PJ *hub = NULL, *tf = NULL, *crs = NULL;
	const char *wkt, *dummy, *unit;
	double to_metre;
	int ret = -EINVAL;

	*def = NULL;
	if (!why)
		why = &dummy;
	*why = "";
	if (!ctx)
		return -ENOMEM;
	geod = build_geodetic(ctx, p, why);
	if (!geod)
		goto out;
	if (!p->conversion_epsg && !p->conversion) {
		crs = geod;
		geod = NULL;
	} else {
		base = proj_get_type(geod) == PJ_TYPE_BOUND_CRS
			       ? proj_get_source_crs(ctx, geod)
			       : NULL;
		if (!build_unit(ctx, p, &unit, &to_metre, why))
			goto out;
		conv = build_conversion(ctx, p, to_metre, why);
		cs = conv ? proj_create_cartesian_2D_cs(
				    ctx, PJ_CART2D_EASTING_NORTHING, unit,
				    to_metre)
			  : NULL;
		if (!cs)
			goto out;
		proj = proj_create_projected_crs(ctx, "unknown",
						 base ? base : geod, conv, cs);
		if (proj && base) {
			hub = proj_get_target_crs(ctx, geod);
			tf = proj_crs_get_coordoperation(ctx, geod);
			crs = hub && tf ? proj_crs_create_bound_crs(ctx, proj,
								    hub, tf)
					: NULL;
		} else {
			crs = proj;
			proj = NULL;
		}
	}
	if (!crs || !geom_is_2d_crs(ctx, crs)) {
		if (!**why)
			*why = "PROJ could not make a 2D CRS of the parts";
		goto out;
	}
	wkt = proj_as_wkt(ctx, crs, PJ_WKT2_2019, opts);
	if (!wkt) {
		*why = "PROJ could not write the CRS as WKT";
		goto out;
	}
	*def = strdup(wkt);
	ret = *def ? 0 : -ENOMEM;
out:
	proj_destroy(geod);
	proj_destroy(base);
	proj_destroy(conv);
	proj_destroy(cs);
	proj_destroy(proj);
	proj_destroy(hub);
	proj_destroy(tf);
	proj_destroy(crs);
	return ret;
}
