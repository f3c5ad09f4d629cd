/*
 * test_fleet_map.c - projector/fleet_map.c: WindowAggregate records (built
 * with protobuf-c, framed with journal/framing.h) decoded into partials with
 * their region (the record's, checked against the MirrorMaker topic, or the
 * topic's when the record has none) and category (attributes spelled out,
 * escaped); undecodable and invalid records refused with the right code; the
 * flush map keeping the newest version of each partial; its rows as JSON,
 * exactly.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "journal/framing.h"
#include "projector/fleet_map.h"
#include "tests/support/check_main.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

typedef Twinpipe__Aggregates__V1__WindowAggregate Agg;
typedef Twinpipe__Aggregates__V1__WindowAggregate__Attribute Attr;
typedef Twinpipe__Aggregates__V1__WindowAggregate__Metric Metric;

#define W0 1796292000000LL /* 2026-12-03T10:00:00Z */

struct rec {
    const char *region; /* NULL: absent */
    const char *model, *firmware;
    int64_t window_start_ms;
    int32_t partition;
    uint64_t version, readings;
    size_t n_metrics;
    struct {
        const char *name;
        uint64_t count;
        double min, max, sum;
    } metrics[3];
};

/* The framed record of r (caller frees); *len its length. */
static uint8_t *pack(const struct rec *r, size_t *len)
{
    Agg a = TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__INIT;
    Attr at[2] = {TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__ATTRIBUTE__INIT,
                  TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__ATTRIBUTE__INIT};
    Attr *atp[2] = {&at[0], &at[1]};
    Metric m[3];
    Metric *mp[3];
    char category[128];
    a.region = (char *)r->region;
    at[0].name = "model";
    at[0].value = (char *)r->model;
    at[1].name = "firmware";
    at[1].value = (char *)r->firmware;
    a.n_attributes = r->model ? 2 : 0;
    a.attributes = atp;
    snprintf(category, sizeof(category), "%s|%s", r->model ? r->model : "",
             r->firmware ? r->firmware : "");
    a.category = category;
    a.has_window_start_ms = a.has_window_ms = a.has_journal_partition = true;
    a.window_start_ms = r->window_start_ms;
    a.window_ms = 60000;
    a.journal_partition = r->partition;
    a.has_version = r->version != 0;
    a.version = r->version;
    a.has_readings = true;
    a.readings = r->readings;
    for (size_t i = 0; i < r->n_metrics; i++) {
        Metric x = TWINPIPE__AGGREGATES__V1__WINDOW_AGGREGATE__METRIC__INIT;
        x.name = (char *)r->metrics[i].name;
        x.has_count = x.has_sum = true;
        x.count = r->metrics[i].count;
        x.sum = r->metrics[i].sum;
        x.has_min = x.has_max = r->metrics[i].count > 0;
        x.min = r->metrics[i].min;
        x.max = r->metrics[i].max;
        m[i] = x;
        mp[i] = &m[i];
    }
    a.n_metrics = r->n_metrics;
    a.metrics = mp;
    uint8_t hdr[FRAMING_HEADER_MAX];
    size_t h = framing_header_encode(hdr, sizeof(hdr), 7, (int32_t[]){0}, 1);
    size_t n = twinpipe__aggregates__v1__window_aggregate__get_packed_size(&a);
    uint8_t *out = malloc(h + n);
    memcpy(out, hdr, h);
    twinpipe__aggregates__v1__window_aggregate__pack(&a, out + h);
    *len = h + n;
    return out;
}

static enum tp_err decode(const struct rec *r, const char *topic, struct fleet_partial **p,
                          char *errstr, size_t n)
{
    size_t len;
    uint8_t *bytes = pack(r, &len);
    enum tp_err err = fleet_partial_decode(bytes, len, topic, p, errstr, n);
    free(bytes);
    return err;
}

static const struct rec truck = {
    "region-a", "tp-truck", "2.1.7",
    W0,         3,          2,
    4,          2,          {{"fuel", 2, 1, 2, 3}, {"speed_kmh", 4, 5, 30, 65.5}}};

START_TEST(test_decode)
{
    struct fleet_partial *p;
    char errstr[256];
    ck_assert_int_eq(decode(&truck, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_OK);
    ck_assert_str_eq(p->region, "region-a");
    ck_assert_str_eq(p->category, "model=tp-truck,firmware=2.1.7");
    ck_assert_int_eq(p->window_start_ms, W0);
    ck_assert_int_eq(p->window_ms, 60000);
    ck_assert_int_eq(p->journal_partition, 3);
    ck_assert_int_eq(p->version, 2);
    ck_assert_int_eq(p->readings, 4);
    ck_assert_uint_eq(p->n_metrics, 2);
    ck_assert_str_eq(p->metrics[1].name, "speed_kmh");
    ck_assert_int_eq(p->metrics[1].count, 4);
    ck_assert(p->metrics[1].min == 5 && p->metrics[1].max == 30 && p->metrics[1].sum == 65.5);
    fleet_partial_free(p);
    /* names and values with the category's separators are escaped */
    struct rec odd = truck;
    odd.model = "tp,a=b\\c";
    ck_assert_int_eq(decode(&odd, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_OK);
    ck_assert_str_eq(p->category, "model=tp\\,a\\=b\\\\c,firmware=2.1.7");
    fleet_partial_free(p);
    /* a missing value is "" */
    odd.firmware = NULL;
    odd.model = "tp-car";
    ck_assert_int_eq(decode(&odd, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_OK);
    ck_assert_str_eq(p->category, "model=tp-car,firmware=");
    fleet_partial_free(p);
}
END_TEST

START_TEST(test_region_and_topic)
{
    struct fleet_partial *p;
    char errstr[256];
    /* a second hop, and a test's own prefix: the alias before the topic's name */
    ck_assert_int_eq(decode(&truck, "global.region-a.aggregates", &p, errstr, sizeof(errstr)),
                     TP_OK);
    fleet_partial_free(p);
    ck_assert_int_eq(decode(&truck, "tp-it-1.region-a.aggregates", &p, errstr, sizeof(errstr)),
                     TP_OK);
    fleet_partial_free(p);
    /* a topic MirrorMaker did not name: no check */
    ck_assert_int_eq(decode(&truck, "aggregates", &p, errstr, sizeof(errstr)), TP_OK);
    ck_assert_str_eq(p->region, "region-a");
    fleet_partial_free(p);
    /* the record contradicts its topic */
    ck_assert_int_eq(decode(&truck, "region-b.aggregates", &p, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    ck_assert_ptr_null(p);
    ck_assert_str_eq(errstr, "a record of region \"region-a\" in topic \"region-b.aggregates\", "
                             "which MirrorMaker names after another region");
    ck_assert_int_eq(decode(&truck, "xregion-a.aggregates", &p, errstr, sizeof(errstr)),
                     TP_VALIDATION);
    /* no region in the record: the topic's last alias */
    struct rec none = truck;
    none.region = NULL;
    ck_assert_int_eq(decode(&none, "global.region-b.aggregates", &p, errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_str_eq(p->region, "region-b");
    fleet_partial_free(p);
    none.region = "";
    ck_assert_int_eq(decode(&none, "region-b.aggregates", &p, errstr, sizeof(errstr)), TP_OK);
    ck_assert_str_eq(p->region, "region-b");
    fleet_partial_free(p);
    ck_assert_int_eq(decode(&none, "aggregates", &p, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_str_eq(errstr, "a record without a region in topic \"aggregates\", which names none");
}
END_TEST

START_TEST(test_refused)
{
    struct fleet_partial *p;
    char errstr[256];
    /* undecodable: not a frame, another message path, not a WindowAggregate */
    static const uint8_t not_framed[] = {0x01, 0, 0, 0, 1, 0};
    ck_assert_int_eq(fleet_partial_decode(not_framed, sizeof(not_framed), "region-a.aggregates", &p,
                                          errstr, sizeof(errstr)),
                     TP_DECODE);
    static const uint8_t path1[] = {0x00, 0, 0, 0, 1, 0x02, 0x02, 0x08, 0x01};
    ck_assert_int_eq(fleet_partial_decode(path1, sizeof(path1), "region-a.aggregates", &p, errstr,
                                          sizeof(errstr)),
                     TP_DECODE);
    static const uint8_t garbage[] = {0x00, 0, 0, 0, 1, 0x00, 0xff, 0xff, 0xff};
    ck_assert_int_eq(fleet_partial_decode(garbage, sizeof(garbage), "region-a.aggregates", &p,
                                          errstr, sizeof(errstr)),
                     TP_DECODE);
    ck_assert_str_eq(errstr, "not a WindowAggregate");
    ck_assert_int_eq(
        fleet_partial_decode(NULL, 0, "region-a.aggregates", &p, errstr, sizeof(errstr)),
        TP_DECODE);
    /* invalid: no attributes, no version, values without min, unsorted metrics */
    struct rec r = truck;
    r.model = NULL;
    ck_assert_int_eq(decode(&r, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_str_eq(errstr, "0 attributes: a category has 1 to 16");
    r = truck;
    r.version = 0;
    ck_assert_int_eq(decode(&r, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_str_eq(errstr, "version (1..2^63-1) is required");
    r = truck;
    r.metrics[0].sum = INFINITY;
    ck_assert_int_eq(decode(&r, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_VALIDATION);
    r = truck;
    r.metrics[0].name = "zzz";
    ck_assert_int_eq(decode(&r, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_VALIDATION);
    ck_assert_str_eq(errstr, "metrics are not sorted by name, or \"speed_kmh\" is repeated");
    ck_assert_ptr_null(p);
}
END_TEST

static struct fleet_partial *partial(const struct rec *r)
{
    struct fleet_partial *p;
    char errstr[256];
    ck_assert_int_eq(decode(r, "region-a.aggregates", &p, errstr, sizeof(errstr)), TP_OK);
    return p;
}

START_TEST(test_map_newest_version)
{
    struct fleet_map *m = fleet_map_new();
    struct rec v1 = truck, v3 = truck, v2 = truck, other = truck;
    v1.version = 1;
    v1.readings = 1;
    v3.version = 3;
    v3.readings = 7;
    v2.version = 2;
    other.partition = 4;
    ck_assert(fleet_map_put(m, partial(&v1)));
    ck_assert(fleet_map_put(m, partial(&v3)));  /* an amendment replaces it */
    ck_assert(!fleet_map_put(m, partial(&v2))); /* older, arriving late: ignored */
    ck_assert(!fleet_map_put(m, partial(&v3))); /* a duplicate: ignored */
    ck_assert(fleet_map_put(m, partial(&other)));
    ck_assert_uint_eq(fleet_map_count(m), 2);
    ck_assert_int_eq(fleet_map_get(m, 0)->version, 3);
    ck_assert_int_eq(fleet_map_get(m, 0)->readings, 7);
    ck_assert_int_eq(fleet_map_get(m, 1)->journal_partition, 4);
    /* many keys: the table grows and finds each one again */
    for (int i = 0; i < 1000; i++) {
        struct rec x = truck;
        x.window_start_ms = W0 + 60000LL * (i % 100);
        x.partition = i / 100;
        x.version = 1;
        fleet_map_put(m, partial(&x));
    }
    ck_assert_uint_eq(fleet_map_count(m), 1000); /* (W0, 3) and (W0, 4) among them, kept */
    fleet_map_clear(m);
    ck_assert_uint_eq(fleet_map_count(m), 0);
    ck_assert(fleet_map_put(m, partial(&v1)));
    fleet_map_free(m);
}
END_TEST

START_TEST(test_map_rows_json)
{
    struct fleet_map *m = fleet_map_new();
    struct rec r = truck;
    r.metrics[0].name = "idle";
    r.metrics[0].count = 0;
    r.metrics[0].sum = 0;
    r.metrics[1].sum = 0.1;
    fleet_map_put(m, partial(&r));
    struct buf b;
    buf_init(&b, 1 << 20);
    fleet_map_rows_json(m, &b);
    ck_assert_str_eq(
        b.data, "[{\"region\":\"region-a\",\"category\":\"model=tp-truck,firmware=2.1.7\","
                "\"window_start_ms\":1796292000000,\"window_ms\":60000,\"journal_partition\":3,"
                "\"version\":2,\"readings\":4,\"metrics\":[{\"name\":\"idle\",\"count\":0,"
                "\"min\":null,\"max\":null,\"sum\":0},{\"name\":\"speed_kmh\",\"count\":4,"
                "\"min\":5,\"max\":30,\"sum\":0.1}]}]");
    buf_release(&b);
    fleet_map_free(m);
}
END_TEST

static Suite *fleet_map_suite(void)
{
    Suite *s = suite_create("fleet_map");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_decode);
    tcase_add_test(tc, test_region_and_topic);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_map_newest_version);
    tcase_add_test(tc, test_map_rows_json);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(fleet_map_suite)
