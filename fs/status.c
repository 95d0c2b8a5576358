/*
 * status: see include/satfs/status.h.
 *
 * Every snapshot is built in a growing buffer (struct sbuf) from copies the
 * other modules hand out under their own locks; this file holds no lock
 * and no state of its own. Paths of files come from the tree
 * (sat_tree_for_each_file), matched by cache key.
 *
 * The text's job lines have a fixed shape that `satfs status` parses to
 * draw its progress bars:
 *   "  <state> <percent>% <the rest>"
 */
#include "satfs/status.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/core.h"
#include "satfs/fetch.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/render.h"
#include "satfs/shared.h"
#include "satfs/source.h"
#include "satfs/tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sbuf {
	char *s;
	size_t len, cap;
	bool nomem;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->nomem)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		char *ns;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->nomem = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		ns = realloc(b->s, b->cap + (size_t)n + 4096);
		if (!ns) {
			b->nomem = true;
			return;
		}
		b->s = ns;
		b->cap += (size_t)n + 4096;
	}
}

/* A JSON string, quoted and escaped. */
static void sb_json_str(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			sb_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			sb_printf(b, "\\u%04x", c);
		else
			sb_printf(b, "%c", c);
	}
	sb_printf(b, "\"");
}

const char *sat_status_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static void iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- paths by cache key ---- */

struct key_path {
	char key[SAT_HASH_HEX];
	char *path; /* malloc'd, or NULL */
};

static int kp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct key_path *)a)->key,
		      ((const struct key_path *)b)->key);
}

struct kp_set {
	struct key_path *v;
	size_t n;
};

static void kp_fill(const char *key, const char *path, void *payload)
{
	struct kp_set *set = payload;
	struct key_path probe, *hit;

	snprintf(probe.key, sizeof(probe.key), "%s", key);
	hit = bsearch(&probe, set->v, set->n, sizeof(*set->v), kp_cmp);
	if (hit && !hit->path)
		hit->path = strdup(path); /* NULL on ENOMEM: key shown */
}

/* Sorts v by key and gives each its path, where the tree knows one. */
static void kp_resolve(struct sat_core *core, struct kp_set *set)
{
	qsort(set->v, set->n, sizeof(*set->v), kp_cmp);
	if (set->n)
		sat_tree_for_each_file(core->tree, kp_fill, set);
}

static const char *kp_path(const struct kp_set *set, const char *key)
{
	struct key_path probe, *hit;

	snprintf(probe.key, sizeof(probe.key), "%s", key);
	hit = bsearch(&probe, set->v, set->n, sizeof(*set->v), kp_cmp);
	return hit ? hit->path : NULL;
}

static void kp_free(struct kp_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].path);
	free(set->v);
}

/* ---- status and status.json ---- */

static unsigned job_percent(const struct sat_job_info *ji)
{
	uint64_t done = ji->progress.bytes_done,
		 want = ji->progress.bytes_wanted;

	if (!want)
		return 0;
	if (done >= want)
		return 99; /* 100 only once it is published */
	return (unsigned)(done * 100 / want);
}

struct recent_ctx {
	struct sbuf *b;
	bool json;
	size_t n;
};

static void recent_line(long when_s, enum sat_log_level level,
			const char *msg, void *payload)
{
	struct recent_ctx *rc = payload;
	char when[32];

	iso_time((time_t)when_s, when, sizeof(when));
	if (rc->json) {
		sb_printf(rc->b, "%s\n    {\"time\": \"%s\", "
			  "\"level\": \"%s\", \"message\": ",
			  rc->n ? "," : "", when,
			  level == SAT_LOG_ERROR ? "error" : "warning");
		sb_json_str(rc->b, msg);
		sb_printf(rc->b, "}");
	} else {
		sb_printf(rc->b, "  %s %s: %s\n", when,
			  level == SAT_LOG_ERROR ? "error" : "warning", msg);
	}
	rc->n++;
}

/* The shared store: one line of text, or the "shared" member of the
 * JSON (null without a store). Never a credential: the description and
 * the last failure name the bucket, prefix, endpoint and URL only. */
static void render_shared(struct sat_core *core, struct sbuf *b, bool json)
{
	const char *store = core->cfg->shared_store;
	struct sat_shared_stats st;
	char when[32], retry[32];
	const char *state;

	if (!store) {
		if (json)
			sb_printf(b, "  \"shared\": null,\n");
		return;
	}
	if (!core->shared) {
		if (json) {
			sb_printf(b, "  \"shared\": {\"store\": ");
			sb_json_str(b, store);
			sb_printf(b, ", \"state\": \"off\", \"why\": ");
			sb_json_str(b, core->shared_why);
			sb_printf(b, "},\n");
		} else {
			sb_printf(b, "shared: %s not used: %s\n", store,
				  core->shared_why);
		}
		return;
	}
	sat_shared_get_stats(core->shared, &st);
	state = st.store.ok ? "working" : "failing";
	iso_time(st.store.last_err_s, when, sizeof(when));
	iso_time(st.store.retry_s, retry, sizeof(retry));
	if (json) {
		sb_printf(b, "  \"shared\": {\"store\": ");
		sb_json_str(b, sat_shared_describe(core->shared));
		sb_printf(b, ", \"state\": \"%s\", \"last_error\": ", state);
		sb_json_str(b, st.store.last_err_s ? st.store.last_why : "");
		sb_printf(b, ", \"last_error_at\": ");
		sb_json_str(b, st.store.last_err_s ? when : "");
		sb_printf(b, ", \"retry_at\": ");
		sb_json_str(b, st.store.ok ? "" : retry);
		sb_printf(b, ", \"files_from_store\": %llu, "
			  "\"entries_from_store\": %llu, \"uploads\": %llu, "
			  "\"uploads_present\": %llu, "
			  "\"uploads_failed\": %llu, "
			  "\"uploads_dropped\": %llu, \"queued\": %u, "
			  "\"leases\": %llu, \"waits\": %llu, "
			  "\"waits_timed_out\": %llu, \"waiting\": %u, "
			  "\"bad_objects\": %llu, \"refused\": %llu, "
			  "\"requests\": %llu},\n",
			  (unsigned long long)st.files_got,
			  (unsigned long long)st.entries_got,
			  (unsigned long long)st.uploads,
			  (unsigned long long)st.uploads_present,
			  (unsigned long long)st.uploads_failed,
			  (unsigned long long)st.uploads_dropped, st.queued,
			  (unsigned long long)st.leases,
			  (unsigned long long)st.waits,
			  (unsigned long long)st.waits_timed_out, st.waiting,
			  (unsigned long long)st.store.bad_objects,
			  (unsigned long long)st.store.refused,
			  (unsigned long long)st.store.requests);
		return;
	}
	sb_printf(b, "shared: %s, %s", sat_shared_describe(core->shared),
		  state);
	if (!st.store.ok)
		sb_printf(b, " since %s (%u failures: %s); rendering locally, "
			  "trying the store again at %s", when,
			  st.store.failures, st.store.last_why, retry);
	sb_printf(b, "\n  %llu files and %llu headers or cloud covers from the store; "
		  "uploaded %llu (%llu there already, %llu failed, %llu "
		  "dropped, %u queued); %llu leases, %llu waits (%llu timed "
		  "out, %u now); %llu bad objects refused; %llu requests\n",
		  (unsigned long long)st.files_got,
		  (unsigned long long)st.entries_got,
		  (unsigned long long)st.uploads,
		  (unsigned long long)st.uploads_present,
		  (unsigned long long)st.uploads_failed,
		  (unsigned long long)st.uploads_dropped, st.queued,
		  (unsigned long long)st.leases, (unsigned long long)st.waits,
		  (unsigned long long)st.waits_timed_out, st.waiting,
		  (unsigned long long)st.store.bad_objects,
		  (unsigned long long)st.store.requests);
	if (st.store.ok && st.store.last_err_s)
		sb_printf(b, "  last failure %s: %s\n", when,
			  st.store.last_why);
}

static void render_status(struct sat_core *core, struct sbuf *b, bool json)
{
	const struct sat_config *cfg = core->cfg;
	struct sat_job_info *jobs = NULL;
	struct sat_cache_stats cs;
	struct sat_fetch_stats fs;
	struct sat_jobs_stats js;
	struct kp_set set = { NULL, 0 };
	struct recent_ctx rc = { b, json, 0 };
	char b1[32], b2[32], b3[40], catalog[512];
	time_t now = time(NULL);
	size_t njobs = 0, i;

	sat_jobs_get_stats(core->jobs, &js);
	sat_fetch_get_stats(core->fetch, &fs);
	sat_cache_get_stats(core->cache, &cs);
	/* the URL as every log line shows it: no userinfo, no query (the
	 * file is 0444, and readable by all under allow_other) */
	sat_log_url(strcmp(core->source->ops->type, "stac") ? cfg->ee_url
							     : cfg->stac_url,
		    catalog, sizeof(catalog));
	if (sat_jobs_list(core->jobs, &jobs, &njobs) == 0 && njobs) {
		set.v = calloc(njobs, sizeof(*set.v));
		if (set.v) {
			set.n = njobs;
			for (i = 0; i < njobs; i++)
				snprintf(set.v[i].key, sizeof(set.v[i].key),
					 "%s", jobs[i].plan->key);
			kp_resolve(core, &set);
		}
	}

	if (json) {
		sb_printf(b, "{\n  \"version\": \"%s\",\n  \"mountpoint\": ",
			  SATFS_VERSION);
		sb_json_str(b, core->mountpoint ? core->mountpoint : "");
		sb_printf(b, ",\n  \"uptime_s\": %lld,\n  \"catalog\": ",
			  (long long)(now - core->started));
		sb_json_str(b, catalog);
		sb_printf(b, ",\n  \"offline\": %s,\n  \"jobs\": [",
			  cfg->offline ? "true" : "false");
	} else {
		long up = (long)(now - core->started);

		sb_printf(b,
			  "satfs %s on %s, up %ldh%02ldm%02lds, catalog %s%s\n",
			  SATFS_VERSION,
			  core->mountpoint ? core->mountpoint : "?", up / 3600,
			  up / 60 % 60, up % 60, catalog,
			  cfg->offline ? " (offline)" : "");
		sb_printf(b, "jobs: %u running, %u queued; %llu rendered, "
			  "%llu failed since mount\n", js.running, js.queued,
			  (unsigned long long)js.rendered,
			  (unsigned long long)js.failed);
	}
	for (i = 0; i < njobs; i++) {
		const struct sat_job_info *ji = &jobs[i];
		const struct sat_progress_snapshot *p = &ji->progress;
		const char *path = kp_path(&set, ji->plan->key);
		char name[512];

		if (!path) {
			snprintf(name, sizeof(name), "%s.%s.tif",
				 ji->plan->item_id, ji->plan->product.name);
			path = name;
		}
		if (json) {
			sb_printf(b, "%s\n    {\"path\": ", i ? "," : "");
			sb_json_str(b, path);
			sb_printf(b, ", \"state\": \"%s\", \"prefetch\": %s, "
				  "\"waiters\": %u, \"bytes_done\": %llu, "
				  "\"bytes_total\": %llu, \"percent\": %u, "
				  "\"requests\": %u, \"retries\": %u, "
				  "\"age_s\": %.1f, \"file_bytes\": %llu}",
				  ji->running ? "rendering" : "queued",
				  ji->foreground ? "false" : "true",
				  ji->waiters,
				  (unsigned long long)p->bytes_done,
				  (unsigned long long)p->bytes_wanted,
				  job_percent(ji), p->requests, p->retries,
				  ji->age_s,
				  (unsigned long long)ji->plan->size_bytes);
		} else {
			sb_printf(b, "  %-9s %3u%% %s of %s, %u requests, "
				  "%u retries, %.1f s: %s%s\n",
				  ji->running ? "rendering" : "queued",
				  job_percent(ji),
				  sat_status_bytes(p->bytes_done, b1,
						   sizeof(b1)),
				  sat_status_bytes(p->bytes_wanted, b2,
						   sizeof(b2)),
				  p->requests, p->retries, ji->age_s, path,
				  ji->foreground ? "" : " (prefetch)");
		}
	}
	if (json) {
		sb_printf(b, "%s],\n  \"renders\": {\"running\": %u, "
			  "\"queued\": %u, \"rendered\": %llu, "
			  "\"failed\": %llu},\n", njobs ? "\n  " : "",
			  js.running, js.queued,
			  (unsigned long long)js.rendered,
			  (unsigned long long)js.failed);
		sb_printf(b, "  \"network\": {\"requests\": %llu, "
			  "\"retries\": %llu, \"failures\": %llu, "
			  "\"bytes\": %llu, \"in_flight\": %u},\n",
			  (unsigned long long)fs.requests,
			  (unsigned long long)fs.retries,
			  (unsigned long long)fs.failures,
			  (unsigned long long)fs.bytes, fs.in_flight);
		sb_printf(b, "  \"cache\": {\"dir\": ");
		sb_json_str(b, sat_cache_dir(core->cache));
		sb_printf(b, ", \"files\": %llu, \"bytes\": %llu, "
			  "\"max_bytes\": %llu, \"evictions\": %llu, "
			  "\"hits\": %llu, \"misses\": %llu},\n",
			  (unsigned long long)cs.files,
			  (unsigned long long)cs.file_bytes,
			  (unsigned long long)cfg->cache_max_bytes,
			  (unsigned long long)cs.evictions,
			  (unsigned long long)js.cache_hits,
			  (unsigned long long)js.misses);
		render_shared(core, b, true);
		sb_printf(b, "  \"errors\": [");
		sat_log_recent((long)now - SAT_STATUS_ERRORS_S, recent_line,
			       &rc);
		sb_printf(b, "%s]\n}\n", rc.n ? "\n  " : "");
	} else {
		sb_printf(b, "network: %llu requests, %llu retries, %llu "
			  "failed, %s received, %u in flight\n",
			  (unsigned long long)fs.requests,
			  (unsigned long long)fs.retries,
			  (unsigned long long)fs.failures,
			  sat_status_bytes(fs.bytes, b1, sizeof(b1)),
			  fs.in_flight);
		if (cfg->cache_max_bytes)
			snprintf(b3, sizeof(b3), " of %s",
				 sat_status_bytes(cfg->cache_max_bytes, b2,
						  sizeof(b2)));
		else
			b3[0] = '\0';
		sb_printf(b, "cache: %llu files, %s%s, %llu evicted; "
			  "%llu hits, %llu misses; %s\n",
			  (unsigned long long)cs.files,
			  sat_status_bytes(cs.file_bytes, b1, sizeof(b1)), b3,
			  (unsigned long long)cs.evictions,
			  (unsigned long long)js.cache_hits,
			  (unsigned long long)js.misses,
			  sat_cache_dir(core->cache));
		render_shared(core, b, false);
		sb_printf(b, "errors (last %d minutes):\n",
			  SAT_STATUS_ERRORS_S / 60);
		sat_log_recent((long)now - SAT_STATUS_ERRORS_S, recent_line,
			       &rc);
		if (!rc.n)
			sb_printf(b, "  none\n");
	}
	kp_free(&set);
	sat_jobs_list_free(jobs, njobs);
}

/* ---- cache ---- */

static int file_info_cmp(const void *a, const void *b)
{
	const struct sat_cache_file_info *x = a, *y = b;

	if (x->used != y->used)
		return x->used > y->used ? -1 : 1; /* most recent first */
	return strcmp(x->key, y->key);
}

static void render_cache(struct sat_core *core, struct sbuf *b)
{
	struct sat_cache_file_info *files = NULL;
	struct kp_set set = { NULL, 0 };
	uint64_t total = 0;
	size_t n = 0, i;
	char b1[32], b2[32], when[32];

	if (sat_cache_list_files(core->cache, &files, &n) == 0 && n) {
		set.v = calloc(n, sizeof(*set.v));
		if (set.v) {
			set.n = n;
			for (i = 0; i < n; i++)
				memcpy(set.v[i].key, files[i].key,
				       sizeof(set.v[i].key));
			kp_resolve(core, &set);
		}
		qsort(files, n, sizeof(*files), file_info_cmp);
	}
	for (i = 0; i < n; i++)
		total += files[i].size;
	sb_printf(b, "cache %s: %zu files, %s", sat_cache_dir(core->cache),
		  n, sat_status_bytes(total, b1, sizeof(b1)));
	if (core->cfg->cache_max_bytes)
		sb_printf(b, " (cap %s)",
			  sat_status_bytes(core->cfg->cache_max_bytes, b2,
					   sizeof(b2)));
	sb_printf(b, "\n");
	for (i = 0; i < n; i++) {
		const char *path = kp_path(&set, files[i].key);

		iso_time(files[i].used, when, sizeof(when));
		sb_printf(b, "%10s  %s  %-4s  %s\n",
			  sat_status_bytes(files[i].size, b1, sizeof(b1)),
			  when, files[i].open ? "open" : "-",
			  path ? path : files[i].key);
	}
	kp_free(&set);
	free(files);
}

const char *sat_ctl_file_name(enum sat_ctl_file f)
{
	static const char *const names[SAT_CTL_NFILES] = SAT_CTL_FILE_NAMES;

	return f < SAT_CTL_NFILES ? names[f] : "?";
}

int sat_status_render(struct sat_core *core, enum sat_ctl_file file,
		      char **out, size_t *len)
{
	struct sbuf b = { NULL, 0, 0, false };

	if (file == SAT_CTL_CACHE)
		render_cache(core, &b);
	else
		render_status(core, &b, file == SAT_CTL_STATUS_JSON);
	if (b.nomem || !b.s) {
		free(b.s);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	*out = b.s;
	*len = b.len;
	return 0;
}

const char *sat_status_file_state(struct sat_core *core,
				  const struct sat_render_plan *plan)
{
	char msg[8];

	if (sat_jobs_in_flight(core->jobs, plan->key))
		return "rendering";
	if (sat_cache_has_file(core->cache, plan->key))
		return "cached";
	if (sat_jobs_last_error(core->jobs, plan->key, msg, sizeof(msg),
				NULL) == 0)
		return "failed";
	return "remote";
}
