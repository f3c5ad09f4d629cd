#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "twin/names.h"
#include "twin/record.h"
#include "tests/support/check_main.h"
#include "tests/twin/twin_check.h"

static struct twin_view_metric view_metrics[TWIN_VIEW_METRICS_MAX];

static void check_str(struct twin_str s, const char *want)
{
    if (!want) {
        ck_assert_ptr_null(s.p);
        return;
    }
    ck_assert_ptr_nonnull(s.p);
    ck_assert_uint_eq(s.len, strlen(want));
    ck_assert_mem_eq(s.p, want, s.len);
}

/* The view of a record equals the twin read from it, field by field. */
static void check_view(const struct twin_view *v, const struct twin *b)
{
    ck_assert_int_eq(v->version, TWIN_RECORD_VERSION);
    ck_assert_int_eq(v->first_seen_ms, b->first_seen_ms);
    ck_assert_int_eq(v->last_seen_ms, b->last_seen_ms);
    ck_assert_int_eq(v->last_sequence, b->last_sequence);
    ck_assert_int_eq(v->events, b->events);
    ck_assert_uint_eq(v->seen[0], b->seen[0]);
    ck_assert_uint_eq(v->seen[1], b->seen[1]);
    ck_assert_int_eq(v->minute_ms, b->minute_ms);
    ck_assert_int_eq(v->has_location, b->has_location);
    ck_assert_uint_eq(v->loc_mask, b->loc_mask);
    ck_assert_mem_eq(v->loc, b->loc, sizeof(v->loc));
    ck_assert_int_eq(v->location_ts_ms, b->location_ts_ms);
    check_str(v->model, b->model);
    check_str(v->firmware, b->firmware);
    check_str(v->region, b->region);
    ck_assert_uint_eq(v->n_metrics, b->n_metrics);
    for (size_t i = 0; i < b->n_metrics; i++) {
        const struct twin_view_metric *x = &v->metrics[i];
        const struct twin_metric *y = &b->metrics[i];
        check_str(x->name, y->name);
        twin_check_dbl(x->value, y->value, "value", i);
        ck_assert_int_eq(x->ts_ms, y->ts_ms);
        twin_check_dbl(x->min, y->min, "min", i);
        twin_check_dbl(x->max, y->max, "max", i);
        twin_check_dbl(x->sum, y->sum, "sum", i);
        ck_assert_int_eq(x->count, y->count);
        twin_check_dbl(x->mmin, y->mmin, "mmin", i);
        twin_check_dbl(x->mmax, y->mmax, "mmax", i);
        twin_check_dbl(x->msum, y->msum, "msum", i);
        ck_assert_int_eq(x->mcount, y->mcount);
    }
}

/* Writes t's record, reads it into a fresh twin and views it; checks every field (twin_check_same,
 * check_view). Returns the record's length; the record in *out if asked. */
static size_t round_trip_keep(const struct twin *t, uint8_t **out)
{
    size_t bound = twin_record_bound(t);
    uint8_t *p = tp_malloc(bound);
    size_t n = twin_record_write(p, t);
    ck_assert_uint_le(n, bound);
    ck_assert_uint_eq(p[0], TWIN_RECORD_VERSION);
    char err[256] = "";
    struct twin *b = twin_new(t->device_id);
    ck_assert_msg(twin_record_read(b, p, n, err, sizeof(err)) == TP_OK, "%s", err);
    twin_check_same(b, t);

    struct twin_view v = {.metrics = view_metrics, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    ck_assert_msg(twin_record_view(&v, p, n, err, sizeof(err)) == TP_OK, "%s", err);
    check_view(&v, b);
    /* the view's strings point into the record */
    for (size_t i = 0; i < v.n_metrics; i++)
        ck_assert(v.metrics[i].name.p > (const char *)p &&
                  v.metrics[i].name.p + v.metrics[i].name.len <= (const char *)p + n);
    twin_free(b);
    if (out)
        *out = p;
    else
        free(p);
    return n;
}

static size_t round_trip(const struct twin *t)
{
    return round_trip_keep(t, NULL);
}

START_TEST(test_doubles_exact)
{
    twin_check_doubles(round_trip);
}
END_TEST

START_TEST(test_integers_and_flags)
{
    twin_check_integers(round_trip);
}
END_TEST

/* Metric names added by schemas and map keys: many, long, UTF-8, equal to an attribute. */
START_TEST(test_thousand_metrics)
{
    struct twin *t = twin_new("veh-\xc3\xa9");
    t->events = t->last_sequence = 1000;
    t->first_seen_ms = FOLD_TS_MIN_MS;
    t->last_seen_ms = FOLD_TS_MAX_MS;
    char name[TWIN_RECORD_STRING_MAX + 1];
    for (int i = 0; i < 1000; i++) {
        if (i == 999) {
            memset(name, 'n', TWIN_RECORD_STRING_MAX); /* the longest a record takes */
            name[TWIN_RECORD_STRING_MAX] = 0;
        } else {
            snprintf(name, sizeof(name),
                     "temp_\xc2\xb0"
                     "C_%d_\xe6\xb8\xa9\xe5\xba\xa6",
                     i);
        }
        struct twin_metric *m = twin_metric_set(t, name, i * 0.5, FOLD_TS_MAX_MS - i);
        for (int k = 0; k <= i % 4; k++)
            twin_metric_observe(m, i * 0.5 - k * 0.1);
        m->mcount = i % 2;
        m->mmin = m->mmax = m->msum = m->value;
    }
    twin_metric_set(t, "tp-van", 1, FOLD_TS_MAX_MS); /* also an attribute value */
    twin_attr_set(t, "model", "tp-van");
    twin_attr_set(t, "region", "\xe6\x9d\xb1\xe4\xba\xac");
    t->minute_ms = twin_check_minute(FOLD_TS_MAX_MS);
    t->seen[0] = 0x5555555555555555ULL;
    size_t n = round_trip(t);
    ck_assert_uint_le(n, twin_record_bound(t));
    twin_free(t);
}
END_TEST

/* The sequence window (fold.h) comes back bit for bit. */
START_TEST(test_sequence_window)
{
    twin_check_window(round_trip);
}
END_TEST

/* A never-seen twin: version, empty table, and the defaults. */
START_TEST(test_empty_twin)
{
    struct twin *t = twin_new("new");
    uint8_t *p;
    size_t n = round_trip_keep(t, &p);
    /* version 1, no strings, last_seen 0, first_seen 0, events 0, last_sequence 0, no
     * attributes, location byte 0, no metrics, full window */
    const uint8_t want[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_uint_eq(n, sizeof(want));
    ck_assert_mem_eq(p, want, n);
    free(p);
    twin_free(t);
}
END_TEST

/* A small twin with a bit of everything: the golden record's. */
static struct twin *golden_twin(void)
{
    struct twin *t = twin_new("golden");
    t->first_seen_ms = 1790000000000;
    t->last_seen_ms = 1790000065000;
    t->events = 7;
    t->last_sequence = 9;
    t->seen[0] = ~0x2ULL; /* sequence 7 missing */
    twin_attr_set(t, "model", "van");
    twin_attr_set(t, "region", "van"); /* stored once */
    t->has_location = true;
    t->loc_mask = (1u << TWIN_LAT) | (1u << TWIN_ALT);
    t->loc[TWIN_LAT] = 48.5;
    t->loc[TWIN_ALT] = 1.0 / 3;
    t->location_ts_ms = 1790000060000;
    t->minute_ms = 1790000040000;
    struct twin_metric *m = twin_metric_set(t, "speed", 88.5, t->last_seen_ms);
    twin_metric_observe(m, 0.1);
    twin_metric_observe(m, 0.2); /* sum 0.3 + 1 ulp */
    m->mcount = 2;
    m->mmin = 0.1;
    m->mmax = 0.2;
    m->msum = 0.1 + 0.2;
    m->count = 7;
    m = twin_metric_set(t, "van", -0.0, 1790000000000); /* named like an attribute */
    return t;
}

/*
 * Version 1 is frozen: a fixed twin's record, byte for byte (twin/README.md explains each).
 * If this fails, the format changed: that needs a new version number, and this record must
 * still read (test_golden_v1_reads).
 */
static const char golden_v1[] = "01"           /* version 1 */
                                "02"           /* 2 strings */
                                "0376616e"     /* "van" */
                                "057370656564" /* "speed" */
                                "d0a78bc59868" /* last_seen 1790000065000 */
                                "cff707"       /* first_seen: -65000 */
                                "07"           /* events 7 */
                                "04"           /* last_sequence: +2 */
                                "010001" /* model, firmware, region: string 0, none, string 0 */
                                "e5"     /* location: has, ts, minute, lat + altitude_m */
                                "8f4e"   /* location ts: -5000 */
                                "00"     /* open minute: last_seen's */
                                "01ca07" /* lat: scale 1, 485 */
                                "0f555555555555d53f" /* altitude_m: raw */
                                "02"                 /* 2 metrics */
                                "01"                 /* "speed" */
                                "81"                 /* flags: scale 1, minute */
                                "ea0d"               /* value 885 */
                                "02"                 /* min 1 */
                                "04"                 /* max 2 */
                                "0602"               /* sum 3 + 1 ulp */
                                "08"                 /* minute: count 2 */
                                "e80d"               /* min: 885 - 884 */
                                "e50d"               /* max: 885 - 883 */
                                "cd1b02"             /* sum: 2 * 885 - 1767 + 1 ulp */
                                "00"                 /* "van" */
                                "3f"                 /* flags: raw, ts, count */
                                "cff707"             /* ts: -65000 */
                                "0d"                 /* count: -7 */
                                "0000000000000080"   /* value -0.0 */
                                "02"                 /* window: sequence 7 missing */
                                "00";

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static size_t unhex(uint8_t *out, const char *h)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n;
}

START_TEST(test_golden_v1)
{
    struct twin *t = golden_twin();
    uint8_t *p;
    size_t n = round_trip_keep(t, &p);
    char h[512];
    ck_assert_uint_lt(2 * n, sizeof(h));
    hex(h, p, n);
    ck_assert_str_eq(h, golden_v1);
    free(p);
    twin_free(t);
}
END_TEST

START_TEST(test_golden_v1_reads)
{
    uint8_t p[256];
    size_t n = unhex(p, golden_v1);
    struct twin *want = golden_twin();
    struct twin *b = twin_new("golden");
    char err[256] = "";
    ck_assert_msg(twin_record_read(b, p, n, err, sizeof(err)) == TP_OK, "%s", err);
    twin_check_same(b, want);
    struct twin_view v = {.metrics = view_metrics, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    ck_assert_int_eq(twin_record_view(&v, p, n, err, sizeof(err)), TP_OK);
    check_view(&v, b);
    twin_free(b);
    twin_free(want);
}
END_TEST

/* Reading and viewing p[0..n) both fail with exactly this reason (NULL: any), and leave
 * nothing behind. */
static void refused(const uint8_t *p, size_t n, const char *reason)
{
    char err[256] = "";
    struct twin *b = twin_new("r");
    ck_assert_int_eq(twin_record_read(b, p, n, err, sizeof(err)), TP_DECODE);
    if (reason)
        ck_assert_str_eq(err, reason);
    else
        ck_assert_msg(!strncmp(err, "invalid twin record: ", 21), "%s", err);
    ck_assert_int_eq(b->events, 0);
    ck_assert_uint_eq(b->n_metrics, 0);
    ck_assert_int_eq(b->minute_ms, TWIN_NO_MINUTE);
    ck_assert_ptr_null(b->model);
    ck_assert_uint_eq(b->seen[0], UINT64_MAX);
    twin_free(b);
    struct twin_view v = {.metrics = view_metrics, .cap_metrics = TWIN_VIEW_METRICS_MAX};
    char err2[256] = "";
    ck_assert_int_eq(twin_record_view(&v, p, n, err2, sizeof(err2)), TP_DECODE);
    ck_assert_str_eq(err2, err);
    ck_assert_uint_eq(v.n_metrics, 0);
    ck_assert_int_eq(v.events, 0);
    ck_assert_ptr_eq(v.metrics, view_metrics);
    ck_assert_uint_eq(v.cap_metrics, TWIN_VIEW_METRICS_MAX);
}

/* Every cut of a valid record is refused, and so is one byte more. */
START_TEST(test_truncated_refused)
{
    struct twin *twins[] = {golden_twin(), twin_check_typical(), twin_new("empty")};
    for (size_t k = 0; k < 3; k++) {
        uint8_t *p;
        size_t n = round_trip_keep(twins[k], &p);
        refused(p, 0, "invalid twin record: record is empty at byte 0");
        for (size_t len = 1; len < n; len++) {
            /* a copy of exactly len bytes: ASan catches a read past it */
            uint8_t *cut = tp_malloc(len);
            memcpy(cut, p, len);
            refused(cut, len, NULL);
            free(cut);
        }
        uint8_t *more = tp_malloc(n + 1);
        memcpy(more, p, n);
        more[n] = 0;
        char want[128];
        snprintf(want, sizeof(want), "invalid twin record: record goes on past its end at byte %zu",
                 n);
        refused(more, n + 1, want);
        free(more);
        free(p);
        twin_free(twins[k]);
    }
}
END_TEST

START_TEST(test_version_refused)
{
    struct twin *t = golden_twin();
    uint8_t *p;
    size_t n = round_trip_keep(t, &p);
    p[0] = 2;
    refused(p, n, "invalid twin record: version is newer than this reader's (1) at byte 0");
    p[0] = 255;
    refused(p, n, "invalid twin record: version is newer than this reader's (1) at byte 0");
    p[0] = 0;
    refused(p, n, "invalid twin record: version is 0 at byte 0");
    free(p);
    twin_free(t);
}
END_TEST

/* A minimal record: one string "a"; last_seen 0, events 1; metric "a" = 1 with count 1. */
static const uint8_t tiny[] = {1,         /* version */
                               1,         /* strings */
                               1, 'a',    /* "a" */
                               0,         /* last_seen */
                               0,         /* first_seen - last_seen */
                               1,         /* events */
                               0,         /* last_sequence - events */
                               0, 0,   0, /* no attributes */
                               0,         /* location byte */
                               1,         /* metrics */
                               0,         /* its name: string 0 */
                               0,         /* flags: scale 0, ts and count as the twin's */
                               2, 2,   2, /* value, min, max: zigzag 1 */
                               2, 0,      /* sum: decimal 1, 0 ulps */
                               0, 0};     /* the window: full */
#define TINY_N sizeof(tiny)

/* tiny with byte at replaced by the n bytes of b. */
static size_t tiny_with(uint8_t *out, size_t at, size_t drop, const uint8_t *b, size_t n)
{
    memcpy(out, tiny, at);
    memcpy(out + at, b, n);
    memcpy(out + at + n, tiny + at + drop, TINY_N - at - drop);
    return TINY_N - drop + n;
}

START_TEST(test_corrupt_refused)
{
    struct twin *t = twin_new("tiny");
    char err[256] = "";
    ck_assert_msg(twin_record_read(t, tiny, TINY_N, err, sizeof(err)) == TP_OK, "%s", err);
    ck_assert_str_eq(t->metrics[0].name, "a");
    ck_assert(t->events == 1 && t->metrics[0].count == 1 && t->metrics[0].value == 1 &&
              t->metrics[0].min == 1 && t->metrics[0].max == 1 && t->metrics[0].sum == 1);
    twin_free(t);

    uint8_t p[64];
    size_t n;
    /* a string longer than what is left, or than the maximum; a NUL in a name */
    n = tiny_with(p, 2, 1, (const uint8_t[]){0x7f}, 1);
    refused(p, n, "invalid twin record: string cut short at byte 3");
    n = tiny_with(p, 2, 1, (const uint8_t[]){0x81, 0x08}, 2); /* 1025 */
    refused(p, n, "invalid twin record: string is longer than TWIN_RECORD_STRING_MAX at byte 4");
    n = tiny_with(p, 3, 1, (const uint8_t[]){0}, 1);
    refused(p, n, "invalid twin record: string holds a NUL byte at byte 3");
    /* one string twice (by content): each is stored once */
    const uint8_t two_a[] = {2, 1, 'a', 1, 'a'};
    n = tiny_with(p, 1, 3, two_a, sizeof(two_a));
    refused(p, n, "invalid twin record: string repeats an earlier one at byte 5");
    /* more strings than a twin can have, or than bytes left */
    n = tiny_with(p, 1, 1, (const uint8_t[]){0x84, 0x20}, 2); /* 4100 */
    refused(p, n, "invalid twin record: string count is over TWIN_VIEW_METRICS_MAX + 3 at byte 3");
    n = tiny_with(p, 1, 1, (const uint8_t[]){30}, 1);
    refused(p, n, "invalid twin record: string table cut short at byte 2");
    /* an index past the table: a metric's name, an attribute */
    n = tiny_with(p, 13, 1, (const uint8_t[]){1}, 1);
    refused(p, n, "invalid twin record: metric name refers to a string past the table at byte 14");
    /* two metrics of one name: no twin has them */
    const uint8_t twice[] = {2, 0, 0, 2, 2, 2, 2, 0, 0, 0, 2, 2, 2, 2, 0};
    n = tiny_with(p, 12, 8, twice, sizeof(twice));
    refused(p, n, "invalid twin record: metric name is an earlier metric's at byte 21");
    n = tiny_with(p, 10, 1, (const uint8_t[]){2}, 1);
    refused(p, n, "invalid twin record: region refers to a string past the table at byte 11");
    /* varints over 10 bytes, or beyond 64 bits */
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0};
    n = tiny_with(p, 4, 1, eleven, sizeof(eleven));
    refused(p, n, "invalid twin record: last_seen is a varint over 10 bytes or 64 bits at byte 4");
    const uint8_t wide[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    n = tiny_with(p, 4, 1, wide, sizeof(wide));
    refused(p, n, "invalid twin record: last_seen is a varint over 10 bytes or 64 bits at byte 4");
    /* events must fit int64 */
    const uint8_t neg[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    n = tiny_with(p, 6, 1, neg, sizeof(neg));
    refused(p, n, "invalid twin record: events is negative at byte 16");
    /* a scale that is none, a minute's figures without an open minute */
    n = tiny_with(p, 14, 1, (const uint8_t[]){10}, 1);
    refused(p, n, "invalid twin record: metric flags hold no scale at byte 15");
    n = tiny_with(p, 14, 1, (const uint8_t[]){0x80}, 1);
    refused(p, n,
            "invalid twin record: metric flags hold minute figures but no minute is open at "
            "byte 20");
    /* a raw scale with a decimal sum */
    const uint8_t raw[] = {0x0f, 0, 0,    0,    0, 0, 0, 0xf0, 0x3f, 0, 0,    0,   0,
                           0,    0, 0xf0, 0x3f, 0, 0, 0, 0,    0,    0, 0xf0, 0x3f};
    n = tiny_with(p, 14, 4, raw, sizeof(raw));
    refused(p, n, "invalid twin record: metric flags hold a decimal sum at no scale at byte 39");
    /* a negative count */
    n = tiny_with(p, 14, 1, (const uint8_t[]){0x20, 0x03}, 2); /* events - 2 */
    refused(p, n, "invalid twin record: metric count is negative at byte 16");
    /* more metrics than allowed, than bytes left, than the view holds */
    n = tiny_with(p, 12, 1, (const uint8_t[]){0x81, 0x20}, 2); /* 4097 */
    refused(p, n, "invalid twin record: metric count is over TWIN_VIEW_METRICS_MAX at byte 14");
    n = tiny_with(p, 12, 1, (const uint8_t[]){4}, 1);
    refused(p, n, "invalid twin record: metrics cut short at byte 13");
    struct twin_view_metric one;
    struct twin_view v = {.metrics = &one, .cap_metrics = 0};
    ck_assert_int_eq(twin_record_view(&v, tiny, TINY_N, err, sizeof(err)), TP_DECODE);
    ck_assert_str_eq(err,
                     "invalid twin record: metric count is over the view's capacity at byte 13");
    v.cap_metrics = 1;
    ck_assert_int_eq(twin_record_view(&v, tiny, TINY_N, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(v.n_metrics, 1);
    check_str(one.name, "a");
    /* no error buffer: refused all the same */
    ck_assert_int_eq(twin_record_view(&v, tiny, TINY_N - 1, NULL, 0), TP_DECODE);
}
END_TEST

/* The bench's twin: 142 bytes before the body (version, string count, 11 lengths and 129
 * bytes of names and attribute values), 134 of body (the packed form's fields with 1-byte
 * string indexes). */
START_TEST(test_typical_size)
{
    struct twin *t = twin_check_typical();
    ck_assert_uint_eq(round_trip(t), 276);
    twin_free(t);
}
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, test_doubles_exact);
    tcase_add_test(tc, test_integers_and_flags);
    tcase_add_test(tc, test_thousand_metrics);
    tcase_add_test(tc, test_sequence_window);
    tcase_add_test(tc, test_empty_twin);
    tcase_add_test(tc, test_golden_v1);
    tcase_add_test(tc, test_golden_v1_reads);
    tcase_add_test(tc, test_truncated_refused);
    tcase_add_test(tc, test_version_refused);
    tcase_add_test(tc, test_corrupt_refused);
    tcase_add_test(tc, test_typical_size);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(record_suite)
