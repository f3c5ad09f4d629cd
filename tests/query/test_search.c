/* query/search.c: the in-memory search index: filters, sorts, keyset pages over ties, changed
 * rows applied, a reload, the summary, unreadable records skipped. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "query/search.h"
#include "tests/support/check_main.h"
#include "twin/record.h"
#include "twin/twin.h"

#define T0 1772359200000LL /* 2026-03-01T10:00:00Z */

static struct search_index *ix;
static struct search_hit hits[PARAMS_LIMIT_MAX + 1];
static char store[PARAMS_ARGS_MAX][256];

/* A record: last_seen, attributes (NULL: none), speed and fuel (NAN: absent). */
static uint8_t *record(int64_t last_seen_ms, const char *model, const char *region, const char *fw,
                       double speed, double fuel, size_t *len)
{
    struct twin *t = twin_new("x");
    t->first_seen_ms = T0 - 1000;
    t->last_seen_ms = last_seen_ms;
    t->last_sequence = 1;
    t->events = 1;
    if (!isnan(speed))
        twin_metric_observe(twin_metric_set(t, "speed_kmh", speed, last_seen_ms), speed);
    if (!isnan(fuel))
        twin_metric_observe(twin_metric_set(t, "fuel_level_pct", fuel, last_seen_ms), fuel);
    if (model)
        twin_attr_set(t, "model", model);
    if (region)
        twin_attr_set(t, "region", region);
    if (fw)
        twin_attr_set(t, "firmware", fw);
    uint8_t *p = tp_malloc(twin_record_bound(t));
    *len = twin_record_write(p, t);
    twin_free(t);
    return p;
}

/* Applies one twin. */
static void put(const char *id, int64_t last_seen_ms, const char *model, const char *region,
                double speed, double fuel)
{
    size_t len;
    uint8_t *p = record(last_seen_ms, model, region, NULL, speed, fuel, &len);
    struct search_row r = {id, strlen(id), p, len};
    size_t bad = 99;
    search_index_apply(ix, &r, 1, false, NULL, NULL, &bad);
    ck_assert_uint_eq(bad, 0);
    free(p);
}

static void parse(const char *const *kv, struct list_params *p)
{
    struct params_args a = {0};
    char err[256];
    for (size_t i = 0; kv[i]; i++) {
        snprintf(store[i], sizeof(store[i]), "%s", kv[i]);
        char *eq = strchr(store[i], '=');
        *eq = '\0';
        params_args_add(&a, store[i], eq + 1);
    }
    ck_assert_msg(params_list_parse(&a, p, err, sizeof(err)) == TP_OK, "%s", err);
}

/* The ids of a page, comma-separated. */
static const char *page(const char *const *kv, const struct cursor *after, int64_t now_ms)
{
    static char out[8192];
    struct list_params p;
    parse(kv, &p);
    size_t n = search_index_page(ix, &p, after, now_ms, 300, hits);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, sizeof(out) - l, "%s%s", i ? "," : "", hits[i].device_id);
    }
    return out;
}

#define Q(...) ((const char *const[]){__VA_ARGS__, NULL})

/* dev-a..dev-d as tests/integration/test_query.c's four */
static void four(void)
{
    put("dev-c", T0 + 3600000, "m1", NULL, NAN, NAN);
    put("dev-a", T0 + 123, "m1", "eu", 10.5, NAN);
    put("dev-d", T0 - 7200000, "m2", "us", NAN, 42);
    put("dev-b", T0 - 3600000, "m2", "eu", 99, NAN);
}

static void setup(void)
{
    ix = search_index_new();
}

static void teardown(void)
{
    search_index_free(ix);
}

START_TEST(test_filters)
{
    four();
    ck_assert_uint_eq(search_index_count(ix), 4);
    ck_assert_str_eq(page(Q("limit=10"), NULL, T0), "dev-a,dev-b,dev-c,dev-d");
    ck_assert_str_eq(page(Q("model=m1"), NULL, T0), "dev-a,dev-c");
    ck_assert_str_eq(page(Q("region=eu", "model=m2"), NULL, T0), "dev-b");
    ck_assert_str_eq(page(Q("region=nowhere"), NULL, T0), "");
    ck_assert_str_eq(page(Q("metric.speed_kmh.ge=10.5"), NULL, T0), "dev-a,dev-b");
    ck_assert_str_eq(page(Q("metric.speed_kmh.gt=10.5"), NULL, T0), "dev-b");
    ck_assert_str_eq(page(Q("metric.speed_kmh.lt=99"), NULL, T0), "dev-a");
    ck_assert_str_eq(page(Q("metric.speed_kmh.le=99"), NULL, T0), "dev-a,dev-b");
    ck_assert_str_eq(page(Q("metric.speed_kmh.le=99", "metric.speed_kmh.gt=50"), NULL, T0),
                     "dev-b");
    ck_assert_str_eq(page(Q("metric.fuel_level_pct.ge=0"), NULL, T0), "dev-d");
    ck_assert_str_eq(page(Q("metric.nothing.ge=0"), NULL, T0), "");
    /* after <= last_seen < before */
    ck_assert_str_eq(page(Q("last_seen_after=2026-03-01T10:00:00.123Z"), NULL, T0), "dev-a,dev-c");
    ck_assert_str_eq(page(Q("last_seen_before=2026-03-01T10:00:00.123Z"), NULL, T0), "dev-b,dev-d");
    ck_assert_str_eq(
        page(Q("last_seen_after=2026-03-01T09:00:00Z", "last_seen_before=2026-03-01T11:00:00Z"),
             NULL, T0),
        "dev-a,dev-b");
    /* online: last_seen >= now - 300 s */
    ck_assert_str_eq(page(Q("status=online"), NULL, T0 + 3600000 + 300000), "dev-c");
    ck_assert_str_eq(page(Q("status=online"), NULL, T0 + 3600000 + 300001), "");
    ck_assert_str_eq(page(Q("status=offline"), NULL, T0 + 3600000 + 300000), "dev-a,dev-b,dev-d");
    ck_assert_str_eq(page(Q("status=offline", "model=m1"), NULL, T0 + 400000), "dev-a");
}
END_TEST

START_TEST(test_sorts)
{
    four();
    ck_assert_str_eq(page(Q("sort=-device_id"), NULL, T0), "dev-d,dev-c,dev-b,dev-a");
    ck_assert_str_eq(page(Q("sort=last_seen"), NULL, T0), "dev-d,dev-b,dev-a,dev-c");
    ck_assert_str_eq(page(Q("sort=-last_seen"), NULL, T0), "dev-c,dev-a,dev-b,dev-d");
    ck_assert_str_eq(page(Q("sort=-last_seen", "region=eu"), NULL, T0), "dev-a,dev-b");
    /* limit + 1 rows: the extra one says another page follows */
    ck_assert_str_eq(page(Q("sort=-last_seen", "limit=2"), NULL, T0), "dev-c,dev-a,dev-b");
    ck_assert_int_eq(hits[0].last_seen_us, (T0 + 3600000) * 1000);
    ck_assert_str_eq(page(Q("sort=device_id", "limit=1"), NULL, T0), "dev-a,dev-b");
    /* cursors: strictly after the key */
    struct cursor c = {.sort = SORT_LAST_SEEN_DESC, .last_seen_us = (T0 + 123) * 1000};
    snprintf(c.device_id, sizeof(c.device_id), "dev-a");
    ck_assert_str_eq(page(Q("sort=-last_seen"), &c, T0), "dev-b,dev-d");
    c.sort = SORT_LAST_SEEN;
    ck_assert_str_eq(page(Q("sort=last_seen"), &c, T0), "dev-c");
    c = (struct cursor){.sort = SORT_DEVICE_ID};
    snprintf(c.device_id, sizeof(c.device_id), "dev-b");
    ck_assert_str_eq(page(Q("sort=device_id"), &c, T0), "dev-c,dev-d");
    c.sort = SORT_DEVICE_ID_DESC;
    ck_assert_str_eq(page(Q("sort=-device_id"), &c, T0), "dev-a");
    /* a cursor naming a device that is not there (any more) */
    snprintf(c.device_id, sizeof(c.device_id), "dev-bb");
    ck_assert_str_eq(page(Q("sort=-device_id"), &c, T0), "dev-b,dev-a");
    c.sort = SORT_DEVICE_ID;
    ck_assert_str_eq(page(Q("sort=device_id"), &c, T0), "dev-c,dev-d");
}
END_TEST

/* Walks every page of kv (limit 3) and returns the ids in order. */
static const char *walk(const char *sort, enum params_sort s)
{
    static char all[16384];
    struct cursor c = {.sort = s};
    bool first = true;
    all[0] = '\0';
    for (int pages = 0; pages < 100; pages++) {
        struct list_params p;
        parse(Q(sort, "limit=3"), &p);
        size_t n = search_index_page(ix, &p, first ? NULL : &c, T0, 300, hits);
        size_t shown = n > 3 ? 3 : n;
        for (size_t i = 0; i < shown; i++) {
            size_t l = strlen(all);
            snprintf(all + l, sizeof(all) - l, "%s%s", all[0] ? "," : "", hits[i].device_id);
        }
        if (n <= 3)
            return all;
        c.last_seen_us = hits[2].last_seen_us;
        snprintf(c.device_id, sizeof(c.device_id), "%s", hits[2].device_id);
        first = false;
    }
    ck_abort_msg("no last page");
    return NULL;
}

START_TEST(test_keyset_over_ties)
{
    /* 10 twins, all at the same last_seen but two: ties are ordered by device_id */
    char id[16];
    for (int i = 9; i >= 0; i--) {
        snprintf(id, sizeof(id), "t%02d", i);
        put(id, i == 4 ? T0 - 1 : i == 7 ? T0 + 1 : T0, "m", NULL, i, NAN);
    }
    ck_assert_str_eq(walk("sort=last_seen", SORT_LAST_SEEN),
                     "t04,t00,t01,t02,t03,t05,t06,t08,t09,t07");
    ck_assert_str_eq(walk("sort=-last_seen", SORT_LAST_SEEN_DESC),
                     "t07,t09,t08,t06,t05,t03,t02,t01,t00,t04");
    ck_assert_str_eq(walk("sort=device_id", SORT_DEVICE_ID),
                     "t00,t01,t02,t03,t04,t05,t06,t07,t08,t09");
    ck_assert_str_eq(walk("sort=-device_id", SORT_DEVICE_ID_DESC),
                     "t09,t08,t07,t06,t05,t04,t03,t02,t01,t00");
}
END_TEST

START_TEST(test_top_k_many)
{
    /* 5,000 twins: the top 100 by -last_seen among those matching, beside a full sort */
    char id[16];
    size_t n = 5000;
    struct search_row *rows = tp_calloc(n, sizeof(*rows));
    char(*ids)[16] = tp_calloc(n, sizeof(*ids));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "v%05zu", (i * 7919) % n);
        size_t len;
        int64_t ls = T0 + (int64_t)((i * 104729) % 977) * 1000;
        uint8_t *p = record(ls, "m", i % 2 ? "odd" : "even", NULL, (double)(i % 200), NAN, &len);
        rows[i] = (struct search_row){ids[i], strlen(ids[i]), p, len};
    }
    search_index_apply(ix, rows, n, false, NULL, NULL, NULL);
    ck_assert_uint_eq(search_index_count(ix), n);
    struct list_params p;
    parse(Q("sort=-last_seen", "region=odd", "metric.speed_kmh.ge=100", "limit=100"), &p);
    size_t got = search_index_page(ix, &p, NULL, T0, 300, hits);
    ck_assert_uint_eq(got, 101);
    /* check against a brute force over the rows */
    int64_t prev_ls = INT64_MAX;
    const char *prev_id = "~";
    for (size_t k = 0; k < got; k++) {
        int64_t ls = hits[k].last_seen_us;
        ck_assert(ls < prev_ls || (ls == prev_ls && strcmp(hits[k].device_id, prev_id) < 0));
        prev_ls = ls;
        prev_id = hits[k].device_id;
    }
    size_t better = 0; /* matching rows strictly before the last hit: exactly 100 */
    for (size_t i = 0; i < n; i++) {
        int64_t ls = (T0 + (int64_t)((i * 104729) % 977) * 1000) * 1000;
        if (!(i % 2) || (i % 200) < 100)
            continue;
        if (ls > prev_ls || (ls == prev_ls && strcmp(ids[i], prev_id) > 0))
            better++;
    }
    ck_assert_uint_eq(better, 100);
    for (size_t i = 0; i < n; i++)
        free((void *)rows[i].state);
    free(rows);
    free(ids);
    (void)id;
}
END_TEST

/* Brute force: the ids of every entry of the model `m` in (last_seen, id) order (desc:
 * reversed), from the test's own copy. */
struct shadow {
    char id[16];
    int64_t ls;
    int model;
};

static int shadow_cmp(const void *a, const void *b)
{
    const struct shadow *x = a, *y = b;
    if (x->ls != y->ls)
        return x->ls < y->ls ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Random last_seen values with many ties, changed by update-only and inserting refreshes:
 * every walk by last_seen (both ways, limit 7, with a model filter) equals a brute-force sort. */
START_TEST(test_last_seen_order_after_changes)
{
    enum { N = 600 };
    static struct shadow sh[N + 200];
    size_t n = 0;
    unsigned seed = 3;
    for (int round = 0; round < 12; round++) {
        /* even rounds: update 40 known twins; odd rounds: also add 20 new ones */
        size_t k = 0;
        struct search_row rows[60];
        uint8_t *recs[60];
        char ids[60][16];
        if (n == 0) { /* the first load */
            for (; n < N; n++) {
                snprintf(sh[n].id, sizeof(sh[n].id), "r%04zu", (n * 37) % N);
                sh[n].ls = T0 + rand_r(&seed) % 20;
                sh[n].model = rand_r(&seed) % 3;
            }
            struct search_row *all = tp_calloc(N, sizeof(*all));
            for (size_t i = 0; i < n; i++) {
                size_t len;
                char m[8];
                snprintf(m, sizeof(m), "m%d", sh[i].model);
                uint8_t *p = record(sh[i].ls, m, NULL, NULL, 1, NAN, &len);
                all[i] = (struct search_row){sh[i].id, strlen(sh[i].id), p, len};
            }
            search_index_apply(ix, all, n, round == 0, NULL, NULL, NULL);
            for (size_t i = 0; i < n; i++)
                free((void *)all[i].state);
            free(all);
        } else {
            bool seen[N + 200] = {false};
            for (int j = 0; j < 40; j++) {
                size_t i = (size_t)rand_r(&seed) % n;
                if (seen[i])
                    continue;
                seen[i] = true;
                sh[i].ls = T0 + rand_r(&seed) % 20;
                sh[i].model = rand_r(&seed) % 3;
                snprintf(ids[k], sizeof(ids[k]), "%s", sh[i].id);
                size_t len;
                char m[8];
                snprintf(m, sizeof(m), "m%d", sh[i].model);
                recs[k] = record(sh[i].ls, m, NULL, NULL, 1, NAN, &len);
                rows[k] = (struct search_row){ids[k], strlen(ids[k]), recs[k], len};
                k++;
            }
            for (int j = 0; round % 2 && j < 10 && n < N + 200; j++, n++) {
                snprintf(sh[n].id, sizeof(sh[n].id), "s%04zu", n);
                sh[n].ls = T0 + rand_r(&seed) % 20;
                sh[n].model = rand_r(&seed) % 3;
                snprintf(ids[k], sizeof(ids[k]), "%s", sh[n].id);
                size_t len;
                char m[8];
                snprintf(m, sizeof(m), "m%d", sh[n].model);
                recs[k] = record(sh[n].ls, m, NULL, NULL, 1, NAN, &len);
                rows[k] = (struct search_row){ids[k], strlen(ids[k]), recs[k], len};
                k++;
            }
            search_index_apply(ix, rows, k, false, NULL, NULL, NULL);
            for (size_t j = 0; j < k; j++)
                free(recs[j]);
        }
        ck_assert_uint_eq(search_index_count(ix), n);
        struct shadow *sorted = tp_malloc(n * sizeof(*sorted));
        memcpy(sorted, sh, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), shadow_cmp);
        for (int desc = 0; desc < 2; desc++) {
            /* expected: model m1, in order */
            static char want[16384];
            want[0] = '\0';
            for (size_t j = 0; j < n; j++) {
                const struct shadow *x = &sorted[desc ? n - 1 - j : j];
                if (x->model != 1)
                    continue;
                size_t l = strlen(want);
                snprintf(want + l, sizeof(want) - l, "%s%s", want[0] ? "," : "", x->id);
            }
            static char all[16384];
            all[0] = '\0';
            struct cursor c = {.sort = desc ? SORT_LAST_SEEN_DESC : SORT_LAST_SEEN};
            bool first = true;
            for (int pages = 0;; pages++) {
                ck_assert_int_lt(pages, 1000);
                struct list_params p;
                parse(desc ? Q("sort=-last_seen", "model=m1", "limit=7")
                           : Q("sort=last_seen", "model=m1", "limit=7"),
                      &p);
                size_t got = search_index_page(ix, &p, first ? NULL : &c, T0, 300, hits);
                size_t shown = got > 7 ? 7 : got;
                for (size_t i = 0; i < shown; i++) {
                    size_t l = strlen(all);
                    snprintf(all + l, sizeof(all) - l, "%s%s", all[0] ? "," : "",
                             hits[i].device_id);
                }
                if (got <= 7)
                    break;
                c.last_seen_us = hits[6].last_seen_us;
                snprintf(c.device_id, sizeof(c.device_id), "%s", hits[6].device_id);
                first = false;
            }
            ck_assert_msg(!strcmp(all, want), "round %d desc %d:\n got %s\nwant %s", round, desc,
                          all, want);
        }
        free(sorted);
    }
}
END_TEST

START_TEST(test_changed_rows_and_reload)
{
    four();
    size_t bytes = search_index_bytes(ix);
    /* a refresh: dev-b moved (region, speed, last_seen), dev-e is new, dev-0 too */
    size_t l1, l2, l3;
    uint8_t *b = record(T0 + 7200000, "m2", "us", NULL, 5, NAN, &l1);
    uint8_t *e = record(T0, "m3", "eu", NULL, 77, NAN, &l2);
    uint8_t *z = record(T0 - 1, NULL, NULL, NULL, NAN, NAN, &l3);
    struct search_row rows[] = {{"dev-e", 5, e, l2}, {"dev-b", 5, b, l1}, {"dev-0", 5, z, l3}};
    search_index_apply(ix, rows, 3, false, NULL, NULL, NULL);
    ck_assert_uint_eq(search_index_count(ix), 6);
    ck_assert_uint_gt(search_index_bytes(ix), bytes);
    ck_assert_str_eq(page(Q("limit=10"), NULL, T0), "dev-0,dev-a,dev-b,dev-c,dev-d,dev-e");
    ck_assert_str_eq(page(Q("region=eu"), NULL, T0), "dev-a,dev-e");
    ck_assert_str_eq(page(Q("region=us"), NULL, T0), "dev-b,dev-d");
    ck_assert_str_eq(page(Q("metric.speed_kmh.gt=50"), NULL, T0), "dev-e");
    ck_assert_str_eq(page(Q("sort=-last_seen", "limit=2"), NULL, T0), "dev-b,dev-c,dev-a");
    /* updates only (no new device): replaced in place */
    uint8_t *a = record(T0 + 9000000, "m9", NULL, NULL, NAN, NAN, &l1);
    struct search_row ra = {"dev-a", 5, a, l1};
    search_index_apply(ix, &ra, 1, false, NULL, NULL, NULL);
    ck_assert_uint_eq(search_index_count(ix), 6);
    ck_assert_str_eq(page(Q("region=eu"), NULL, T0), "dev-e");
    ck_assert_str_eq(page(Q("model=m9"), NULL, T0), "dev-a");
    ck_assert_str_eq(page(Q("sort=-last_seen", "limit=1"), NULL, T0), "dev-a,dev-b");
    /* a reload (the table was swapped or truncated): exactly the rows read */
    struct search_row rz[] = {{"dev-z", 5, z, l3}, {"dev-e", 5, e, l2}};
    search_index_apply(ix, rz, 2, true, NULL, NULL, NULL);
    ck_assert_uint_eq(search_index_count(ix), 2);
    ck_assert_str_eq(page(Q("limit=10"), NULL, T0), "dev-e,dev-z");
    ck_assert_str_eq(page(Q("model=m1"), NULL, T0), "");
    search_index_apply(ix, NULL, 0, true, NULL, NULL, NULL);
    ck_assert_uint_eq(search_index_count(ix), 0);
    ck_assert_str_eq(page(Q("limit=10"), NULL, T0), "");
    free(a);
    free(b);
    free(e);
    free(z);
}
END_TEST

START_TEST(test_bad_rows_skipped)
{
    size_t len, bad = 0;
    uint8_t *p = record(T0, "m", NULL, NULL, 1, NAN, &len);
    uint8_t junk[] = {0xff, 1, 2};
    struct search_row rows[] = {{"ok-1", 4, p, len},
                                {"cut", 3, p, len / 2},
                                {"junk", 4, junk, sizeof(junk)},
                                {"bad id!", 7, p, len},
                                {"", 0, p, len}};
    search_index_apply(ix, rows, 5, false, NULL, NULL, &bad);
    ck_assert_uint_eq(bad, 4);
    ck_assert_uint_eq(search_index_count(ix), 1);
    ck_assert_str_eq(page(Q("limit=10"), NULL, T0), "ok-1");
    free(p);
}
END_TEST

START_TEST(test_summary)
{
    four();
    put("dev-e", T0, "m1", "eu", 0.5, NAN);
    struct summary_params p = {0};
    struct search_group g[8];
    snprintf(p.group_by, sizeof(p.group_by), "region");
    snprintf(p.metric, sizeof(p.metric), "speed_kmh");
    /* now = T0 + 60 s: online (300 s) are dev-a, dev-e and dev-c (seen "later") */
    size_t n = search_index_summary(ix, &p, T0 + 60000, 300, g, 8);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(g[0].key, "eu");
    ck_assert_int_eq(g[0].devices, 3);
    ck_assert_int_eq(g[0].online, 2);
    ck_assert_int_eq(g[0].metric_devices, 3);
    ck_assert(g[0].min == 0.5 && g[0].max == 99 && g[0].sum == 110);
    ck_assert_str_eq(g[1].key, "us");
    ck_assert_int_eq(g[1].devices, 1);
    ck_assert_int_eq(g[1].metric_devices, 0);
    ck_assert_ptr_null(g[2].key); /* null last */
    ck_assert_int_eq(g[2].devices, 1);
    ck_assert_int_eq(g[2].online, 1);
    /* at most max_groups written; the total says truncated */
    ck_assert_uint_eq(search_index_summary(ix, &p, T0, 300, g, 1), 3);
    ck_assert_str_eq(g[0].key, "eu");
    /* the whole fleet; an unknown metric */
    p = (struct summary_params){0};
    snprintf(p.metric, sizeof(p.metric), "nothing");
    n = search_index_summary(ix, &p, T0 + 60000, 300, g, 8);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_null(g[0].key);
    ck_assert_int_eq(g[0].devices, 5);
    ck_assert_int_eq(g[0].online, 3);
    ck_assert_int_eq(g[0].metric_devices, 0);
    /* group by model: m1 (a, c, e), m2 (b, d) */
    p = (struct summary_params){0};
    snprintf(p.group_by, sizeof(p.group_by), "model");
    n = search_index_summary(ix, &p, T0, 300, g, 8);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(g[0].key, "m1");
    ck_assert_int_eq(g[0].devices, 3);
    ck_assert_str_eq(g[1].key, "m2");
    ck_assert_int_eq(g[1].devices, 2);
}
END_TEST

static Suite *search_suite(void)
{
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_sorts);
    tcase_add_test(tc, test_keyset_over_ties);
    tcase_add_test(tc, test_top_k_many);
    tcase_add_test(tc, test_changed_rows_and_reload);
    tcase_add_test(tc, test_last_seen_order_after_changes);
    tcase_add_test(tc, test_bad_rows_skipped);
    tcase_add_test(tc, test_summary);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(search_suite)
