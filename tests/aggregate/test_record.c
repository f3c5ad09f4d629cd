/*
 * test_record.c - aggregate/record.c: a partial encoded as a framed WindowAggregate and
 * decoded back with protobuf-c's generated code (schemas/twinpipe/aggregates/v1), field by
 * field; rows whose category or metrics do not parse are refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate/record.h"
#include "journal/framing.h"
#include "tests/support/check_main.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

typedef Twinpipe__Aggregates__V1__WindowAggregate Agg;

static Agg *decode(const uint8_t *bytes, size_t len, int32_t schema_id)
{
    struct framing_header h;
    char err[128];
    ck_assert_int_eq(framing_decode(bytes, len, &h, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(h.schema_id, schema_id);
    ck_assert_uint_eq(h.path_len, 1);
    ck_assert_int_eq(h.path[0], 0);
    ck_assert_uint_eq(h.payload - bytes, 6); /* magic, id, the single byte of path [0] */
    Agg *a = twinpipe__aggregates__v1__window_aggregate__unpack(NULL, h.payload_len, h.payload);
    ck_assert_ptr_nonnull(a);
    return a;
}

START_TEST(test_encode_decode)
{
    char metrics[] =
        "engine_temp_c\t3\t-0.5\t91.25\t180\nspeed_kmh\t4\t0\t88.5\t0.30000000000000004\n";
    struct aggregate_row row = {.category = "tp\\|truck|2.1.7",
                                .attributes = "model,firmware",
                                .window_start_ms = 1764720000000,
                                .window_ms = 60000,
                                .partition = 5,
                                .version = 2,
                                .readings = 4,
                                .metrics = metrics,
                                .metrics_len = sizeof(metrics) - 1};
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256];
    ck_assert_int_eq(aggregate_record_encode(&row, "region-a", 7, &bytes, &len, err, sizeof(err)),
                     TP_OK);
    Agg *a = decode(bytes, len, 7);
    ck_assert_str_eq(a->region, "region-a");
    ck_assert_str_eq(a->category, "tp\\|truck|2.1.7");
    ck_assert_uint_eq(a->n_attributes, 2);
    ck_assert_str_eq(a->attributes[0]->name, "model");
    ck_assert_str_eq(a->attributes[0]->value, "tp|truck");
    ck_assert_str_eq(a->attributes[1]->name, "firmware");
    ck_assert_str_eq(a->attributes[1]->value, "2.1.7");
    ck_assert(a->has_window_start_ms && a->window_start_ms == 1764720000000);
    ck_assert(a->has_window_ms && a->window_ms == 60000);
    ck_assert(a->has_journal_partition && a->journal_partition == 5);
    ck_assert(a->has_version && a->version == 2);
    ck_assert(a->has_readings && a->readings == 4);
    ck_assert_uint_eq(a->n_metrics, 2);
    ck_assert_str_eq(a->metrics[0]->name, "engine_temp_c");
    ck_assert_uint_eq(a->metrics[0]->count, 3);
    ck_assert_double_eq(a->metrics[0]->min, -0.5);
    ck_assert_double_eq(a->metrics[0]->max, 91.25);
    ck_assert_double_eq(a->metrics[0]->sum, 180);
    ck_assert_str_eq(a->metrics[1]->name, "speed_kmh");
    ck_assert_uint_eq(a->metrics[1]->count, 4);
    ck_assert_double_eq(a->metrics[1]->min, 0);
    ck_assert_double_eq(a->metrics[1]->max, 88.5);
    ck_assert(a->metrics[1]->sum == 0.1 + 0.2); /* bit for bit */
    ck_assert(a->metrics[1]->has_min && a->metrics[1]->has_max && a->metrics[1]->has_sum);
    twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
    free(bytes);

    /* one attribute, a missing value, no metrics */
    struct aggregate_row r2 = {.category = "",
                               .attributes = "region",
                               .window_start_ms = -60000,
                               .window_ms = 60000,
                               .partition = 0,
                               .version = 1,
                               .readings = 1,
                               .metrics = "",
                               .metrics_len = 0};
    ck_assert_int_eq(aggregate_record_encode(&r2, "local", 2, &bytes, &len, err, sizeof(err)),
                     TP_OK);
    a = decode(bytes, len, 2);
    ck_assert_str_eq(a->region, "local");
    ck_assert_uint_eq(a->n_attributes, 1);
    ck_assert_str_eq(a->attributes[0]->name, "region");
    ck_assert_str_eq(a->attributes[0]->value, "");
    ck_assert_int_eq(a->window_start_ms, -60000);
    ck_assert_uint_eq(a->n_metrics, 0);
    twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
    free(bytes);
}
END_TEST

START_TEST(test_refused)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256];
    const char *bad_metrics[] = {"speed\t1\t1\t1\n",        /* four fields */
                                 "speed\t1\t1\t1\t1",       /* no final newline */
                                 "speed\t0\t1\t1\t1\n",     /* count 0 */
                                 "speed\t1\tx\t1\t1\n",     /* not a number */
                                 "\t1\t1\t1\t1\n",          /* no name */
                                 "speed\t1\t1\t1\t1\t9\n"}; /* six fields */
    for (size_t i = 0; i < sizeof(bad_metrics) / sizeof(bad_metrics[0]); i++) {
        struct aggregate_row row = {.category = "a|b",
                                    .attributes = "model,firmware",
                                    .window_ms = 60000,
                                    .version = 1,
                                    .readings = 1,
                                    .metrics = (char *)bad_metrics[i],
                                    .metrics_len = strlen(bad_metrics[i])};
        ck_assert_int_eq(aggregate_record_encode(&row, "r", 1, &bytes, &len, err, sizeof(err)),
                         TP_DECODE);
        ck_assert_str_eq(err, "partial \"a|b\": its metrics do not parse");
    }
    struct aggregate_row row = {.category = "a|b|c",
                                .attributes = "model,firmware",
                                .window_ms = 60000,
                                .version = 1,
                                .readings = 1,
                                .metrics = "",
                                .metrics_len = 0};
    ck_assert_int_eq(aggregate_record_encode(&row, "r", 1, &bytes, &len, err, sizeof(err)),
                     TP_DECODE);
    ck_assert_str_eq(err, "partial \"a|b|c\": its category does not match its attributes "
                          "\"model,firmware\"");
}
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("aggregate_record");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_encode_decode);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(record_suite)
