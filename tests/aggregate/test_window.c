/*
 * test_window.c - aggregate/window.c (the map, categories, windows, the spec) and
 * aggregate/rows.c's metrics text and COPY stream, fed through the real fold
 * (twin/fold.h) as tp-projector feeds them: only APPLIED readings count.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate/rows.h"
#include "aggregate/window.h"
#include "common/buf.h"
#include "tests/support/check_main.h"
#include "twin/fold.h"

static journal_reading reading(const char *id, uint64_t seq, int64_t ts)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = (char *)id;
    r.has_sequence = 1;
    r.sequence = seq;
    r.has_timestamp_ms = 1;
    r.timestamp_ms = ts;
    return r;
}

/* Folds r into t and adds it to m when applied, as the projector does. */
static enum fold_result fold(struct aggregate_map *m, struct twin *t, journal_reading *r,
                             int32_t partition)
{
    enum fold_result res = fold_apply(t, r, NULL, FOLD_MAX_JUMP_DEFAULT);
    if (res == FOLD_APPLIED)
        aggregate_map_add(m, t, r, partition);
    return res;
}

static const struct aggregate_entry *find(const struct aggregate_map *m, const char *key,
                                          int64_t window, int32_t partition)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(aggregate_map_key(m, &m->entries[i]), key) &&
            m->entries[i].window_start_ms == window && m->entries[i].partition == partition)
            return &m->entries[i];
    return NULL;
}

static char *metrics_text(const struct aggregate_entry *e)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    aggregate_rows_metrics_text(&b, e);
    return buf_steal(&b, NULL);
}

START_TEST(test_spec)
{
    struct aggregate_spec s;
    char err[256];
    ck_assert_int_eq(aggregate_spec_parse("model,firmware", &s, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(s.n, 2);
    ck_assert_int_eq(s.attrs[0], AGGREGATE_ATTR_MODEL);
    ck_assert_int_eq(s.attrs[1], AGGREGATE_ATTR_FIRMWARE);
    ck_assert_str_eq(s.names, "model,firmware");
    ck_assert_int_eq(aggregate_spec_parse(" region , model ", &s, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(s.names, "region,model");
    ck_assert_int_eq(aggregate_spec_parse("model,colour", &s, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "aggregate.category \"model,colour\": \"colour\" is not an attribute "
                          "of the twin (model, firmware, region)");
    ck_assert_int_eq(aggregate_spec_parse("model,model", &s, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "aggregate.category \"model,model\" names \"model\" twice");
    ck_assert_int_eq(aggregate_spec_parse("", &s, err, sizeof(err)), TP_CONFIG);
    ck_assert_int_eq(aggregate_spec_parse("model,", &s, err, sizeof(err)), TP_CONFIG);
}
END_TEST

START_TEST(test_category_key)
{
    const char *v1[] = {"tp-truck", "2.1.7"};
    char *k = aggregate_category_key(v1, 2);
    ck_assert_str_eq(k, "tp-truck|2.1.7");
    free(k);
    const char *v2[] = {"tp-truck", NULL};
    k = aggregate_category_key(v2, 2);
    ck_assert_str_eq(k, "tp-truck|");
    free(k);
    /* '|' and '\' in values are escaped: ("a|b", "c") and ("a", "b|c") differ */
    const char *v3[] = {"a|b", "c\\"};
    const char *v4[] = {"a", "b|c\\"};
    char *k3 = aggregate_category_key(v3, 2), *k4 = aggregate_category_key(v4, 2);
    ck_assert_str_eq(k3, "a\\|b|c\\\\");
    ck_assert_str_eq(k4, "a|b\\|c\\\\");
    char *out[2];
    ck_assert(aggregate_category_split(k3, 2, out));
    ck_assert_str_eq(out[0], "a|b");
    ck_assert_str_eq(out[1], "c\\");
    free(out[0]);
    free(out[1]);
    ck_assert(aggregate_category_split("tp-truck|", 2, out));
    ck_assert_str_eq(out[0], "tp-truck");
    ck_assert_str_eq(out[1], "");
    free(out[0]);
    free(out[1]);
    ck_assert(!aggregate_category_split("a|b|c", 2, out));
    ck_assert(!aggregate_category_split("a", 2, out));
    ck_assert(!aggregate_category_split("a\\x|b", 2, out));
    free(k3);
    free(k4);
}
END_TEST

START_TEST(test_window_start)
{
    ck_assert_int_eq(aggregate_window_start(0, 60000), 0);
    ck_assert_int_eq(aggregate_window_start(59999, 60000), 0);
    ck_assert_int_eq(aggregate_window_start(60000, 60000), 60000);
    ck_assert_int_eq(aggregate_window_start(1764720123456, 60000), 1764720120000);
    ck_assert_int_eq(aggregate_window_start(-1, 60000), -60000);
    ck_assert_int_eq(aggregate_window_start(-60000, 60000), -60000);
    ck_assert_int_eq(aggregate_window_start(-60001, 60000), -120000);
}
END_TEST

/* Applied readings only: a duplicate sequence adds nothing, a late one inside the twin's
 * window is counted in its own window, one older than the window is not. */
START_TEST(test_map_counts_applied_only)
{
    struct aggregate_spec spec;
    char err[128];
    ck_assert_int_eq(aggregate_spec_parse("model,firmware", &spec, err, sizeof(err)), TP_OK);
    struct aggregate_map *m = aggregate_map_new(&spec, 60000);
    struct twin *t = twin_new("truck-1");
    const int64_t w0 = 1764720000000, w1 = w0 + 60000;
    journal_reading r1 = reading("truck-1", 10, w0 + 1000);
    r1.model = "tp-truck";
    r1.firmware = "2.1.7";
    r1.has_speed_kmh = 1;
    r1.speed_kmh = 50;
    ck_assert_int_eq(fold(m, t, &r1, 3), FOLD_APPLIED);
    /* no attributes: the twin's (after the fold); a map metric too */
    journal_reading r2 = reading("truck-1", 12, w1 + 5);
    r2.has_speed_kmh = 1;
    r2.speed_kmh = 70.5;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry me =
        TWINPIPE__TELEMETRY__V1__READING__METRICS_ENTRY__INIT;
    me.key = "cargo_kg";
    me.has_value = 1;
    me.value = 1200;
    Twinpipe__Telemetry__V1__Reading__MetricsEntry *mes[] = {&me};
    r2.n_metrics = 1;
    r2.metrics = mes;
    ck_assert_int_eq(fold(m, t, &r2, 3), FOLD_APPLIED);
    /* the same sequence again: a duplicate, not counted */
    ck_assert_int_eq(fold(m, t, &r2, 3), FOLD_DUPLICATE);
    ck_assert_int_eq(fold(m, t, &r1, 3), FOLD_DUPLICATE);
    /* sequence 11, late, device time in the first window: counted there */
    journal_reading r3 = reading("truck-1", 11, w0 + 30000);
    r3.has_speed_kmh = 1;
    r3.speed_kmh = 30.25;
    ck_assert_int_eq(fold(m, t, &r3, 3), FOLD_APPLIED);
    /* a NaN value is not aggregated; the reading still counts */
    journal_reading r4 = reading("truck-1", 13, w1 + 10);
    r4.has_speed_kmh = 1;
    r4.speed_kmh = NAN;
    ck_assert_int_eq(fold(m, t, &r4, 3), FOLD_APPLIED);
    /* another device of another firmware, another partition */
    struct twin *u = twin_new("truck-2");
    journal_reading r5 = reading("truck-2", 1, w0 + 2);
    r5.model = "tp-truck";
    r5.firmware = "2.2.0";
    r5.has_speed_kmh = 1;
    r5.speed_kmh = -4;
    ck_assert_int_eq(fold(m, u, &r5, 1), FOLD_APPLIED);
    /* older than the twin's window of 128 sequences: too late, not counted */
    journal_reading r6 = reading("truck-1", 1000, w1 + 20);
    ck_assert_int_eq(fold(m, t, &r6, 3), FOLD_APPLIED);
    journal_reading r7 = reading("truck-1", 800, w0 + 3);
    r7.has_speed_kmh = 1;
    r7.speed_kmh = 999;
    ck_assert_int_eq(fold(m, t, &r7, 3), FOLD_TOO_LATE);

    ck_assert_uint_eq(aggregate_map_count(m), 3);
    const struct aggregate_entry *e0 = find(m, "tp-truck|2.1.7", w0, 3);
    ck_assert_ptr_nonnull(e0);
    ck_assert_int_eq(e0->readings, 2);
    char *text = metrics_text(e0);
    ck_assert_str_eq(text, "speed_kmh\t2\t30.25\t50\t80.25\n");
    free(text);
    const struct aggregate_entry *e1 = find(m, "tp-truck|2.1.7", w1, 3);
    ck_assert_ptr_nonnull(e1);
    ck_assert_int_eq(e1->readings, 3);
    text = metrics_text(e1);
    ck_assert_str_eq(text, "cargo_kg\t1\t1200\t1200\t1200\nspeed_kmh\t1\t70.5\t70.5\t70.5\n");
    free(text);
    const struct aggregate_entry *e2 = find(m, "tp-truck|2.2.0", w0, 1);
    ck_assert_ptr_nonnull(e2);
    ck_assert_int_eq(e2->readings, 1);
    text = metrics_text(e2);
    ck_assert_str_eq(text, "speed_kmh\t1\t-4\t-4\t-4\n");
    free(text);

    /* a firmware change moves the device to the new category from that reading on */
    journal_reading r8 = reading("truck-1", 1001, w1 + 30);
    r8.firmware = "2.2.0";
    ck_assert_int_eq(fold(m, t, &r8, 3), FOLD_APPLIED);
    ck_assert_ptr_nonnull(find(m, "tp-truck|2.2.0", w1, 3));
    ck_assert_uint_eq(aggregate_map_count(m), 4);

    /* cleared by a flush; categories stay */
    aggregate_map_clear(m);
    ck_assert_uint_eq(aggregate_map_count(m), 0);
    ck_assert_uint_eq(m->n_categories, 2);
    journal_reading r9 = reading("truck-1", 1002, w1 + 40);
    ck_assert_int_eq(fold(m, t, &r9, 3), FOLD_APPLIED);
    ck_assert_uint_eq(aggregate_map_count(m), 1);
    ck_assert_int_eq(find(m, "tp-truck|2.2.0", w1, 3)->readings, 1);
    twin_free(t);
    twin_free(u);
    aggregate_map_free(m);
}
END_TEST

/* Many partials: the hash tables grow and every entry stays findable. */
START_TEST(test_map_grows)
{
    struct aggregate_spec spec;
    char err[128];
    ck_assert_int_eq(aggregate_spec_parse("model", &spec, err, sizeof(err)), TP_OK);
    struct aggregate_map *m = aggregate_map_new(&spec, 1000);
    char id[32];
    struct twin *twins[50];
    for (int d = 0; d < 50; d++) {
        snprintf(id, sizeof(id), "dev-%d", d);
        twins[d] = twin_new(id);
        char model[16];
        snprintf(model, sizeof(model), "m%d", d % 10);
        for (int s = 1; s <= 40; s++) {
            journal_reading r = reading(id, (uint64_t)s, (int64_t)s * 1000 + d);
            r.model = model;
            r.has_engine_rpm = 1;
            r.engine_rpm = s;
            ck_assert_int_eq(fold(m, twins[d], &r, d % 3), FOLD_APPLIED);
        }
    }
    /* 10 models x 40 windows x the partitions each model's devices read from */
    size_t expected = 0;
    for (int model = 0; model < 10; model++) {
        bool part[3] = {false, false, false};
        for (int d = model; d < 50; d += 10)
            part[d % 3] = true;
        expected += 40u * (size_t)(part[0] + part[1] + part[2]);
    }
    ck_assert_uint_eq(aggregate_map_count(m), expected);
    const struct aggregate_entry *e = find(m, "m7", 5000, 7 % 3);
    ck_assert_ptr_nonnull(e);
    /* m7's devices 7, 17, 27, 37, 47 read from partitions 1, 2, 0, 1, 2: 7 and 37 here */
    ck_assert_int_eq(e->readings, 2);
    ck_assert_int_eq(e->metrics[0].count, 2);
    ck_assert_double_eq(e->metrics[0].sum, 10);
    for (int d = 0; d < 50; d++)
        twin_free(twins[d]);
    aggregate_map_free(m);
}
END_TEST

/* The COPY stream: header, one 7-field row per entry, trailer. */
START_TEST(test_copy_stream)
{
    struct aggregate_spec spec;
    char err[128];
    ck_assert_int_eq(aggregate_spec_parse("model", &spec, err, sizeof(err)), TP_OK);
    struct aggregate_map *m = aggregate_map_new(&spec, 60000);
    struct buf b;
    buf_init(&b, 1 << 20);
    ck_assert_uint_eq(aggregate_rows_copy(&b, m), 0);
    ck_assert_uint_eq(b.len, 0);
    struct twin *t = twin_new("v");
    journal_reading r = reading("v", 1, 946684800000 + 60000); /* 2000-01-01 00:01 */
    r.model = "x";
    r.has_speed_kmh = 1;
    r.speed_kmh = 1;
    ck_assert_int_eq(fold(m, t, &r, 2), FOLD_APPLIED);
    ck_assert_uint_eq(aggregate_rows_copy(&b, m), 1);
    static const uint8_t expect[] = {
        'P',  'G',  'C', 'O',  'P', 'Y',  '\n', 0xff, '\r', '\n', 0,    0,
        0,    0,    0,   0,    0,   0,    0,                                  /* hdr */
        0,    7,                                                              /* fields */
        0,    0,    0,   1,    'x',                                           /* category */
        0,    0,    0,   5,    'm', 'o',  'd',  'e',  'l',                    /* attributes */
        0,    0,    0,   8,    0,   0,    0,    0,    0x03, 0x93, 0x87, 0x00, /* 60,000,000 us */
        0,    0,    0,   4,    0,   0,    0xea, 0x60,                         /* window_ms */
        0,    0,    0,   4,    0,   0,    0,    2,                            /* partition */
        0,    0,    0,   8,    0,   0,    0,    0,    0,    0,    0,    1,    /* readings */
        0,    0,    0,   18,   's', 'p',  'e',  'e',  'd',  '_',  'k',  'm',
        'h',  '\t', '1', '\t', '1', '\t', '1',  '\t', '1',  '\n', /* metrics */
        0xff, 0xff};                                              /* trailer */
    ck_assert_uint_eq(b.len, sizeof(expect));
    ck_assert_mem_eq(b.data, expect, sizeof(expect));
    buf_release(&b);
    twin_free(t);
    aggregate_map_free(m);
}
END_TEST

static Suite *window_suite(void)
{
    Suite *s = suite_create("aggregate_window");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_spec);
    tcase_add_test(tc, test_category_key);
    tcase_add_test(tc, test_window_start);
    tcase_add_test(tc, test_map_counts_applied_only);
    tcase_add_test(tc, test_map_grows);
    tcase_add_test(tc, test_copy_stream);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(window_suite)
