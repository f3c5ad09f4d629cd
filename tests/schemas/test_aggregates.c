/*
 * test_aggregates.c - schemas/twinpipe/aggregates/v1/aggregates.proto through
 * the generated protobuf-c code: a WindowAggregate packs to the exact bytes
 * protoc --encode writes for the same text (the golden below), unpacks field
 * for field, and the absent min/max of an empty metric stay absent.
 *
 * The golden is protoc --encode=twinpipe.aggregates.v1.WindowAggregate of:
 *   region: "region-a" category: "tp-truck|2.1.7"
 *   attributes { name: "model" value: "tp-truck" }
 *   attributes { name: "firmware" value: "2.1.7" }
 *   window_start_ms: 1796292000000 window_ms: 60000 journal_partition: 5
 *   version: 3 readings: 40
 *   metrics { name: "engine_rpm" count: 40 min: 800 max: 3012.5 sum: 61000.25 }
 *   metrics { name: "speed_kmh" count: 0 }
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check_main.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

static const uint8_t golden[] = {
    0x0a, 0x08, 0x72, 0x65, 0x67, 0x69, 0x6f, 0x6e, 0x2d, 0x61, 0x12, 0x0e, 0x74, 0x70, 0x2d, 0x74,
    0x72, 0x75, 0x63, 0x6b, 0x7c, 0x32, 0x2e, 0x31, 0x2e, 0x37, 0x1a, 0x11, 0x0a, 0x05, 0x6d, 0x6f,
    0x64, 0x65, 0x6c, 0x12, 0x08, 0x74, 0x70, 0x2d, 0x74, 0x72, 0x75, 0x63, 0x6b, 0x1a, 0x11, 0x0a,
    0x08, 0x66, 0x69, 0x72, 0x6d, 0x77, 0x61, 0x72, 0x65, 0x12, 0x05, 0x32, 0x2e, 0x31, 0x2e, 0x37,
    0x20, 0x80, 0xf2, 0xe2, 0xda, 0xa3, 0x34, 0x28, 0xe0, 0xd4, 0x03, 0x30, 0x05, 0x38, 0x03, 0x40,
    0x28, 0x4a, 0x29, 0x0a, 0x0a, 0x65, 0x6e, 0x67, 0x69, 0x6e, 0x65, 0x5f, 0x72, 0x70, 0x6d, 0x10,
    0x28, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x89, 0x40, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x89, 0xa7, 0x40, 0x29, 0x00, 0x00, 0x00, 0x00, 0x08, 0xc9, 0xed, 0x40, 0x4a, 0x0d, 0x0a, 0x09,
    0x73, 0x70, 0x65, 0x65, 0x64, 0x5f, 0x6b, 0x6d, 0x68, 0x10, 0x00};

typedef Twinpipe__Aggregates__V1__WindowAggregate Agg;
typedef Twinpipe__Aggregates__V1__WindowAggregate__Attribute Attr;
typedef Twinpipe__Aggregates__V1__WindowAggregate__Metric Metric;

START_TEST(test_pack_golden)
{
    Agg a = TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__INIT;
    Attr at[2] = {TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__ATTRIBUTE__INIT,
                  TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__ATTRIBUTE__INIT};
    Attr *atp[2] = {&at[0], &at[1]};
    Metric m[2] = {TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__METRIC__INIT,
                   TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__METRIC__INIT};
    Metric *mp[2] = {&m[0], &m[1]};
    a.region = "region-a";
    a.category = "tp-truck|2.1.7";
    at[0].name = "model";
    at[0].value = "tp-truck";
    at[1].name = "firmware";
    at[1].value = "2.1.7";
    a.n_attributes = 2;
    a.attributes = atp;
    a.has_window_start_ms = a.has_window_ms = a.has_journal_partition = 1;
    a.window_start_ms = 1796292000000LL;
    a.window_ms = 60000;
    a.journal_partition = 5;
    a.has_version = a.has_readings = 1;
    a.version = 3;
    a.readings = 40;
    m[0].name = "engine_rpm";
    m[0].has_count = m[0].has_min = m[0].has_max = m[0].has_sum = 1;
    m[0].count = 40;
    m[0].min = 800;
    m[0].max = 3012.5;
    m[0].sum = 61000.25;
    m[1].name = "speed_kmh";
    m[1].has_count = 1;
    m[1].count = 0;
    a.n_metrics = 2;
    a.metrics = mp;
    size_t n = twinpipe__aggregates__v1__window_aggregate__get_packed_size(&a);
    ck_assert_uint_eq(n, sizeof(golden));
    uint8_t *buf = malloc(n);
    ck_assert_uint_eq(twinpipe__aggregates__v1__window_aggregate__pack(&a, buf), n);
    ck_assert_mem_eq(buf, golden, n);
    free(buf);
}
END_TEST

START_TEST(test_unpack_golden)
{
    Agg *a = twinpipe__aggregates__v1__window_aggregate__unpack(NULL, sizeof(golden), golden);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->region, "region-a");
    ck_assert_str_eq(a->category, "tp-truck|2.1.7");
    ck_assert_uint_eq(a->n_attributes, 2);
    ck_assert_str_eq(a->attributes[0]->name, "model");
    ck_assert_str_eq(a->attributes[0]->value, "tp-truck");
    ck_assert_str_eq(a->attributes[1]->name, "firmware");
    ck_assert_str_eq(a->attributes[1]->value, "2.1.7");
    ck_assert(a->has_window_start_ms);
    ck_assert_int_eq(a->window_start_ms, 1796292000000LL);
    ck_assert_uint_eq(a->window_ms, 60000);
    ck_assert_int_eq(a->journal_partition, 5);
    ck_assert_uint_eq(a->version, 3);
    ck_assert_uint_eq(a->readings, 40);
    ck_assert_uint_eq(a->n_metrics, 2);
    const Metric *m = a->metrics[0];
    ck_assert_str_eq(m->name, "engine_rpm");
    ck_assert_uint_eq(m->count, 40);
    ck_assert(m->has_min && m->has_max && m->has_sum);
    ck_assert(m->min == 800.0 && m->max == 3012.5 && m->sum == 61000.25);
    m = a->metrics[1];
    ck_assert_str_eq(m->name, "speed_kmh");
    ck_assert(m->has_count);
    ck_assert_uint_eq(m->count, 0);
    ck_assert(!m->has_min && !m->has_max && !m->has_sum);
    /* repacked: the same bytes */
    size_t n = twinpipe__aggregates__v1__window_aggregate__get_packed_size(a);
    uint8_t *buf = malloc(n);
    twinpipe__aggregates__v1__window_aggregate__pack(a, buf);
    ck_assert_uint_eq(n, sizeof(golden));
    ck_assert_mem_eq(buf, golden, n);
    free(buf);
    twinpipe__aggregates__v1__window_aggregate__free_unpacked(a, NULL);
    /* every cut of the golden inside a field is refused, none crashes */
    for (size_t cut = 1; cut < sizeof(golden); cut++) {
        Agg *c = twinpipe__aggregates__v1__window_aggregate__unpack(NULL, cut, golden);
        if (c)
            twinpipe__aggregates__v1__window_aggregate__free_unpacked(c, NULL);
    }
}
END_TEST

static Suite *aggregates_suite(void)
{
    Suite *s = suite_create("aggregates");
    TCase *tc = tcase_create("schema");
    tcase_add_test(tc, test_pack_golden);
    tcase_add_test(tc, test_unpack_golden);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(aggregates_suite)
