/*
 * tree_pictures: the plans of the pictures a listing shows (with
 * `pictures` on): a quicklook (.png) beside every .tif of a visual
 * product, the date's mosaic's too; per visual product the region's
 * timelapse.PRODUCT.gif, one frame per date shown (the mosaic's quicklook
 * where the date has one, else its first scene's); and the region's
 * index.html. CPU only, no lock: tree.c attaches the result.
 */
#include "tree_private.h"
#include "satfs/album.h"
#include "satfs/catalog.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/render.h"
#include "satfs/stac.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t sat_tree_same_date(const struct sat_listing *l, size_t i)
{
	size_t k = i + 1;

	while (k < l->n && strcmp(l->scenes[k]->date, l->scenes[i]->date) == 0)
		k++;
	return k - i;
}

static bool visual(const struct sat_config *cfg, size_t j)
{
	return cfg->products[j]->type == SAT_PRODUCT_VISUAL;
}

static void make_quicklooks(struct sat_tree *t, const struct sat_region *r,
			    const struct sat_listing *l,
			    struct sat_render_plan **plans,
			    struct sat_render_plan **mosaic, const bool *hide,
			    struct tree_pics *pics)
{
	const struct sat_config *cfg = t->cfg;
	size_t np = cfg->nproducts, i, j, k;
	uint32_t max = (uint32_t)cfg->quicklook_size;

	for (i = 0; i < l->n; i += k) {
		k = sat_tree_same_date(l, i);
		if (hide && hide[i])
			continue;
		for (j = 0; j < np; j++) {
			if (!visual(cfg, j))
				continue;
			for (size_t m = i; m < i + k; m++)
				if (plans[m * np + j])
					sat_render_plan_new_quicklook(
						&pics->ql[m * np + j],
						plans[m * np + j],
						(const struct sat_scene *const
							 *)&l->scenes[m],
						1, cfg->products[j], r,
						cfg->offset_mode, max);
			if (mosaic[i * np + j])
				sat_render_plan_new_quicklook(
					&pics->mosaic_ql[i * np + j],
					mosaic[i * np + j],
					(const struct sat_scene *const *)&l
						->scenes[i],
					k, cfg->products[j], r,
					cfg->offset_mode, max);
		}
	}
}

/* The time-lapse of product j, or NULL (no frame, or no memory). */
static struct sat_render_plan *make_timelapse(struct sat_tree *t,
					      const struct sat_region *r,
					      const struct sat_listing *l,
					      const bool *hide,
					      struct tree_pics *pics, size_t j)
{
	size_t np = t->cfg->nproducts, i, k;
	struct sat_album *a = sat_album_new(r->name);
	struct sat_render_plan *p = NULL;

	if (!a || !(a->frames = calloc(l->n + 1, sizeof(*a->frames)))) {
		sat_album_free(a);
		return NULL;
	}
	a->delay_cs = (unsigned)(t->cfg->timelapse_delay_ms + 5) / 10;
	for (i = 0; i < l->n; i += k) {
		struct sat_render_plan *q = NULL;

		k = sat_tree_same_date(l, i);
		if (hide && hide[i])
			continue;
		q = pics->mosaic_ql[i * np + j];
		for (size_t m = i; !q && m < i + k; m++)
			q = pics->ql[m * np + j];
		if (!q)
			continue;
		snprintf(a->frames[a->nframes].date,
			 sizeof(a->frames[0].date), "%s", l->scenes[i]->date);
		a->frames[a->nframes++].quicklook = sat_render_plan_ref(q);
	}
	if (!a->nframes) {
		sat_album_free(a);
		return NULL;
	}
	sat_album_plan_timelapse(&p, a, t->cfg->products[j]->name);
	return p;
}

/* Which files a scene (or mosaic) has, per product. */
static uint8_t *files_of(size_t np, struct sat_render_plan **tif,
			 struct sat_render_plan **png)
{
	uint8_t *f = calloc(np + 1, 1);

	for (size_t j = 0; f && j < np; j++)
		f[j] = (uint8_t)((tif[j] ? SAT_ALBUM_TIF : 0) |
				 (png[j] ? SAT_ALBUM_PNG : 0));
	return f;
}

static struct sat_render_plan *make_index(struct sat_tree *t,
					  const struct sat_region *r,
					  const struct sat_listing *l,
					  struct sat_render_plan **plans,
					  struct sat_render_plan **mosaic,
					  const bool *hide,
					  struct tree_pics *pics)
{
	size_t np = t->cfg->nproducts, i, k;
	struct sat_album *a = sat_album_new(r->name);
	struct sat_render_plan *p = NULL;

	if (!a)
		return NULL;
	a->nproducts = np;
	a->products = calloc(np + 1, sizeof(*a->products));
	a->timelapse = calloc(np + 1, sizeof(*a->timelapse));
	a->scenes = calloc(l->n + 1, sizeof(*a->scenes));
	a->dates = calloc(l->n + 1, sizeof(*a->dates));
	if (!a->products || !a->timelapse || !a->scenes || !a->dates)
		goto nomem;
	for (size_t j = 0; j < np; j++) {
		a->timelapse[j] = pics->gif[j] != NULL;
		if (!(a->products[j] = strdup(t->cfg->products[j]->name)))
			goto nomem;
	}
	for (i = 0; i < l->n; i += k) {
		struct sat_album_date *d = &a->dates[a->ndates];

		k = sat_tree_same_date(l, i);
		if (hide && hide[i])
			continue;
		a->ndates++;
		snprintf(d->date, sizeof(d->date), "%s", l->scenes[i]->date);
		d->first = a->nscenes;
		d->n = k;
		d->mosaic = files_of(np, &mosaic[i * np], &pics->mosaic_ql[i * np]);
		if (!d->mosaic)
			goto nomem;
		for (size_t m = i; m < i + k; m++) {
			struct sat_album_scene *s = &a->scenes[a->nscenes++];

			s->has_cloud = l->scenes[m]->has_cloud;
			s->cloud_cover = l->scenes[m]->cloud_cover;
			s->file_id = strdup(l->scenes[m]->file_id);
			s->files = files_of(np, &plans[m * np], &pics->ql[m * np]);
			if (!s->file_id || !s->files)
				goto nomem;
			for (size_t j = 0; j < np && !s->cloud_plan; j++)
				if (plans[m * np + j])
					s->cloud_plan = sat_render_plan_ref(
						plans[m * np + j]);
		}
	}
	sat_album_plan_index(&p, a);
	return p;
nomem:
	sat_album_free(a);
	return NULL;
}

int sat_tree_picture_plans(struct sat_tree *t, const struct sat_region *r,
			   const struct sat_listing *l,
			   struct sat_render_plan **plans,
			   struct sat_render_plan **mosaic, const bool *hide,
			   struct tree_pics *pics)
{
	size_t np = t->cfg->nproducts;

	memset(pics, 0, sizeof(*pics));
	if (!t->cfg->pictures)
		return 0;
	pics->ql = calloc(l->n * np + 1, sizeof(*pics->ql));
	pics->mosaic_ql = calloc(l->n * np + 1, sizeof(*pics->mosaic_ql));
	pics->gif = calloc(np + 1, sizeof(*pics->gif));
	if (!pics->ql || !pics->mosaic_ql || !pics->gif) {
		sat_tree_pics_free(pics, np);
		return -ENOMEM;
	}
	pics->n = l->n;
	make_quicklooks(t, r, l, plans, mosaic, hide, pics);
	for (size_t j = 0; j < np; j++)
		if (visual(t->cfg, j))
			pics->gif[j] = make_timelapse(t, r, l, hide, pics, j);
	pics->index = make_index(t, r, l, plans, mosaic, hide, pics);
	return 0;
}

void sat_tree_pics_free(struct tree_pics *pics, size_t np)
{
	size_t n = pics->n;

	for (size_t i = 0; i < n * np; i++) {
		if (pics->ql)
			sat_render_plan_unref(pics->ql[i]);
		if (pics->mosaic_ql)
			sat_render_plan_unref(pics->mosaic_ql[i]);
	}
	for (size_t j = 0; pics->gif && j < np; j++)
		sat_render_plan_unref(pics->gif[j]);
	sat_render_plan_unref(pics->index);
	free(pics->ql);
	free(pics->mosaic_ql);
	free(pics->gif);
	memset(pics, 0, sizeof(*pics));
}
