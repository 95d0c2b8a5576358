"""Small, realistic bugs for tests/mutation/mutate.py: the kind a tired
engineer writes (an off-by-one, a check removed, a sign flipped). Each one
names the file, the exact text it replaces (which must occur exactly once:
when the code moves on, the mutation is reported "stale" and needs
updating, never silently skipped), what replaces it, and the tests that
ought to catch it (a Python regular expression searched in ctest's test
names). Add one whenever a bug slips through the suite, together with the
test that now catches it.
"""

MUTATIONS = [
    # -- the five that passed all 198 tests in issue #20 ---------------------
    {
        "id": "cog-tile-bytecount-unchecked",
        "why": "a tile's byte count is no longer checked: a hostile COG "
               "makes us download whatever length it claims",
        "file": "fs/cog.c",
        "find": "\tif (d->lengths[i] > 2 * (uint64_t)d->chunk_bytes + (1u << 20) ||\n"
                "\t    d->offsets[i] > UINT64_MAX - d->lengths[i])\n",
        "replace": "\tif (d->offsets[i] > UINT64_MAX - d->lengths[i])\n",
        "tests": r"^unit\.(cog|cog_bytecounts|cogread)\.",
    },
    {
        "id": "cogread-cached-header-length-unchecked",
        "why": "a header cache entry cut short is read past its end",
        "file": "fs/cogread.c",
        "find": "\t\t\t  &n) != 2 || data + n != nl ||\n"
                "\t    plen != len - (size_t)(nl + 1 - data))\n",
        "replace": "\t\t\t  &n) != 2 || data + n != nl)\n",
        "tests": r"^unit\.cogread\.|^mount\.(header_cache|cache|requests)$",
    },
    {
        "id": "fetch-host-cap-off-by-one",
        "why": "one request more than the per-host cap goes to curl, where "
               "it waits outside our priorities",
        "file": "fs/fetch.c",
        "find": "(j->host->active >= cap ||",
        "replace": "(j->host->active > cap ||",
        "tests": r"^unit\.fetch",
    },
    {
        "id": "fetch-prefetch-while-foreground-waits",
        "why": "prefetch starts while a foreground request waits (shows "
               "only across two hosts)",
        "file": "fs/fetch.c",
        "find": "\t\tif (p == SAT_FETCH_PREFETCH && f->queue[0].head)\n"
                "\t\t\tbreak;\n",
        "replace": "",
        "tests": r"^unit\.fetch",
    },
    {
        "id": "readdir-skips-on-continuation",
        "why": "one entry skipped each time a listing continues in another "
               "kernel call",
        "file": "fs/fuse_ll.c",
        "find": "\tfor (i = off; i < (off_t)d->n + 2; i++) {\n",
        "replace": "\tfor (i = off ? off + 1 : 0; i < (off_t)d->n + 2; i++) {\n",
        "tests": r"^mount\.(basics|catalog|listing_large)$",
    },
    # -- behaviours one test held, by accident ------------------------------
    {
        "id": "dn-offset-sign",
        "why": "the DN offset added with the wrong sign",
        "file": "fs/render_run.c",
        "find": "dn * 10000 * in->dn_scale[b] + 10000 * in->dn_offset[b];",
        "replace": "dn * 10000 * in->dn_scale[b] - 10000 * in->dn_offset[b];",
        "tests": r"^unit\.render|^mount\.(render|render_values)$",
    },
    {
        "id": "tiffout-size-one-short",
        "why": "the writer's high-water mark one byte short: the file is "
               "cut to the size announced, and both are wrong",
        "file": "fs/tiffout.c",
        "find": "\t\ts->end = s->pos;\n",
        "replace": "\t\ts->end = s->pos - 1;\n",
        "tests": r"^unit\.tiffout\.",
    },
    {
        "id": "listing-size-one-short",
        "why": "ls -l shows one byte less than the file has: cp gets a cut "
               "file",
        "file": "fs/tree.c",
        "find": "\tf->size = f->plan->size_bytes;\n",
        "replace": "\tf->size = f->plan->size_bytes - 1;\n",
        "tests": r"^mount\.(basics|render|render_values)$",
    },
    {
        "id": "cloud-filter-boundary",
        "why": "a scene exactly at max_cloud is kept",
        "file": "fs/catalog.c",
        "find": "\t\t\t s->cloud_cover >= cfg->max_cloud)",
        "replace": "\t\t\t s->cloud_cover > cfg->max_cloud)",
        "tests": r"^mount\.(catalog|catalog_paging|cloud_boundary)$",
    },
    {
        "id": "range-header-end",
        "why": "Range asks for one byte more than needed (the answer is "
               "cut, so only the header text shows it)",
        "file": "fs/fetch_xfer.c",
        "find": "uint64_t last = j->range_offset + j->range_length - 1;",
        "replace": "uint64_t last = j->range_offset + j->range_length;",
        "tests": r"^unit\.fetch",
    },
    # -- others, caught before issue #20; kept to keep them caught -----------
    {
        "id": "fetch-one-try-too-many",
        "why": "max_tries + 1 attempts",
        "file": "fs/fetch.c",
        "find": "retry = retry && j->tries < j->max_tries;",
        "replace": "retry = retry && j->tries <= j->max_tries;",
        "tests": r"^unit\.fetch\.",
    },
    {
        "id": "fetch-content-range-start-unchecked",
        "why": "a 206 for another range than the one asked is accepted",
        "file": "fs/fetch_xfer.c",
        "find": "sat_fetch_parse_content_range(cr, &first, &last, &total) ||\n"
                "\t\t    first != j->range_offset) {",
        "replace": "sat_fetch_parse_content_range(cr, &first, &last, &total)) {",
        "tests": r"^unit\.fetch\.",
    },
    {
        "id": "fetch-429-not-retried",
        "why": "429 Too Many Requests taken as final",
        "file": "fs/fetch_retry.c",
        "find": "return status == 429 || status == 500 ||",
        "replace": "return status == 500 ||",
        "tests": r"^unit\.fetch\.",
    },
    {
        "id": "region-km-scale",
        "why": "a region side in km read as hectometres",
        "file": "fs/region.c",
        "find": "\t\tscale = 1000, len -= 2;\n",
        "replace": "\t\tscale = 100, len -= 2;\n",
        "tests": r"^unit\.region\.",
    },
    {
        "id": "cogread-next-not-asked",
        "why": "the next window's tiles are no longer asked for with the "
               "current window's: a render waits a round trip per chunk",
        "file": "fs/cogread_window.c",
        "find": "\tif (rd->next && !cr_reprojects(w) &&\n",
        "replace": "\tif (0 && rd->next && !cr_reprojects(w) &&\n",
        "tests": r"^unit\.cogread\.next_asked_before_waiting$",
    },
    {
        "id": "tiffout-late-metadata-length-unchecked",
        "why": "late metadata of another length is stored: the file is no "
               "longer the size its listing announced",
        "file": "fs/tiffout.c",
        "find": "\tif (!spec->gdal_metadata ||\n"
                "\t    strlen(m) != strlen(spec->gdal_metadata)) {\n",
        "replace": "\tif (!spec->gdal_metadata) {\n",
        "tests": r"^unit\.tiffout\.late_metadata$",
    },
    {
        "id": "filehash-overwrite-unnoticed",
        "why": "a write over bytes already hashed is taken as a gap: the "
               "digest recorded is not the file's, and its first open "
               "renders it again for nothing",
        "file": "fs/cache.c",
        "find": "\tif (pos < fh->hashed)\n\t\tfh->overwritten = true;\n"
                "\telse if (pos > fh->hashed)\n",
        "replace": "\tif (pos != fh->hashed)\n",
        "tests": r"^unit\.cache\.filehash_is_the_file_digest$",
    },
    {
        "id": "tiffout-header-length-wrong",
        "why": "a classic TIFF's header announced as 16 bytes: the digest "
               "finds the head not as announced and reads every render "
               "back whole",
        "file": "fs/tiffout.c",
        "find": "\t\t*nheader = s->head[2] == 43 || s->head[3] == 43 ? 16 : 8;\n",
        "replace": "\t\t*nheader = 16;\n",
        "tests": r"^unit\.tiffout\.digest_taken_while_writing$",
    },
    {
        "id": "render-header-not-announced",
        "why": "a render does not announce its header to the digest: every "
               "render reads its whole file back",
        "file": "fs/render_run.c",
        "find": "\t\tif (ctx->hash && plan->ntiff_header)\n",
        "replace": "\t\tif (0 && ctx->hash && plan->ntiff_header)\n",
        "tests": r"^unit\.products\.region_cloud$",
    },
    {
        "id": "fetch-body-not-packed",
        "why": "tile bodies asked for packed go to plain buffers: a page "
               "fault per 4 KiB of every tile download again",
        "file": "fs/fetch_xfer.c",
        "find": "\t\tbool packed = !j->buf && j->range_length &&\n",
        "replace": "\t\tbool packed = 0 && !j->buf && j->range_length &&\n",
        "tests": r"^unit\.fetch\.range_bodies_packed$",
    },
    {
        "id": "geom-ring-memo-ignores-crs",
        "why": "the memo of projected outlines answers a ring asked in one "
               "CRS with its projection into another: plans over a region "
               "that spans two UTM zones get the wrong grid",
        "file": "fs/geom.c",
        "find": "\t\tif (!e->crs || e->nin != n || strcmp(e->crs, crs) != 0 ||\n",
        "replace": "\t\tif (!e->crs || e->nin != n ||\n",
        "tests": r"^unit\.geom\.",
    },
    {
        "id": "reserve-not-packed",
        "why": "a render's arrays taken from plain memory again: a page "
               "fault per 4 KiB of band values and masks on a cold daemon",
        "file": "fs/bufpool.c",
        "find": "\t\t     ? sat_buf_alloc_packed(n + RESERVE_REDZONE)\n",
        "replace": "\t\t     ? sat_buf_alloc(n + RESERVE_REDZONE)\n",
        "tests": r"^unit\.bufpool\.",
    },
    {
        "id": "later-write-overtaken",
        "why": "a key written at once while an older copy waits in the "
               "background queue: the older one lands after it",
        "file": "fs/cache.c",
        "find": "\tif (c->later) /* an older version waiting would land after this */\n"
                "\t\tcache_later_drop(c->later, kind, key);\n",
        "replace": "",
        "tests": r"^unit\.cache\.",
    },
    {
        "id": "geographic-memo-ignores-code",
        "why": "the memo of geographic CRSs answers for any CRS what it "
               "answered for the first",
        "file": "fs/geom.c",
        "find": "\t\tif (kind_memo[i].crs && strcmp(kind_memo[i].crs, def) == 0)\n",
        "replace": "\t\tif (kind_memo[i].crs)\n",
        "tests": r"^unit\.geom\.",
    },
    {
        "id": "predictor-vector-carry-lost",
        "why": "each vector of 16-bit running sums starts from zero, "
               "not from the last sum before it",
        "file": "fs/cog_decode.c",
        "find": "\t\tx = _mm_add_epi16(x, carry);\n",
        "replace": "",
        "tests": r"^unit\.cog\.",
    },
]
