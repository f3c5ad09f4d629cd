/* twin/rows.c: the exact bytes of the binary COPY stream of twins and history entries. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check_main.h"
#include "twin/record.h"
#include "twin/rows.h"

/* 2000-01-01 00:00:01.500 UTC: PostgreSQL's epoch plus 1.5 s */
#define PG_EPOCH_PLUS_1500 946684801500LL

static void assert_bytes(const struct buf *b, size_t off, const uint8_t *want, size_t n)
{
    ck_assert_uint_ge(b->len, off + n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg((uint8_t)b->data[off + i] == want[i], "byte %zu: 0x%02x, want 0x%02x",
                      off + i, (uint8_t)b->data[off + i], want[i]);
}

START_TEST(test_header_trailer)
{
    struct buf b;
    buf_init(&b, 1 << 10);
    twin_rows_header(&b);
    twin_rows_trailer(&b);
    static const uint8_t want[] = {'P',  'G',  'C', 'O', 'P', 'Y', '\n', 0xff,
                                   '\r', '\n', 0,   0,   0,   0,   0, /* flags */
                                   0,    0,    0,   0,                /* header extension length */
                                   0xff, 0xff};                       /* trailer: field count -1 */
    ck_assert_uint_eq(b.len, sizeof(want));
    assert_bytes(&b, 0, want, sizeof(want));
    buf_release(&b);
}
END_TEST

START_TEST(test_pg_time)
{
    ck_assert_int_eq(twin_rows_pg_time(946684800000LL), 0);
    ck_assert_int_eq(twin_rows_pg_time(PG_EPOCH_PLUS_1500), 1500000);
    ck_assert_int_eq(twin_rows_pg_time(0), -946684800000000LL);
    /* the fold's range (years 1..9999) fits */
    ck_assert_int_eq(twin_rows_pg_time(-62135596800000LL), -63082281600000000LL);
    ck_assert_int_eq(twin_rows_pg_time(253402300799999LL), 252455615999999000LL);
}
END_TEST

START_TEST(test_twin_row)
{
    struct twin *t = twin_new("car-1");
    t->first_seen_ms = 1000;
    t->last_seen_ms = PG_EPOCH_PLUS_1500;
    t->last_sequence = 7;
    t->events = 3;
    struct twin_metric *m = twin_metric_set(t, "speed_kmh", 88.5, PG_EPOCH_PLUS_1500);
    twin_metric_observe(m, 40);
    twin_metric_observe(m, 88.5);
    twin_attr_set(t, "model", "tab\there");
    struct buf b;
    buf_init(&b, 1 << 20);
    twin_rows_twin(&b, t);
    static const uint8_t want[] = {
        0x00, 0x04,                                                             /* 4 fields */
        0x00, 0x00, 0x00, 0x05, 'c',  'a',  'r',  '-',  '1',                    /* device_id */
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, /* version 3 */
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0xe3, 0x60, /* 1.5 s */
    };
    assert_bytes(&b, 0, want, sizeof(want));
    /* state: the twin's record, its length first */
    uint8_t *rec = malloc(twin_record_bound(t));
    size_t n = twin_record_write(rec, t);
    ck_assert_uint_gt(n, 0);
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    assert_bytes(&b, sizeof(want), len, 4);
    assert_bytes(&b, sizeof(want) + 4, rec, n);
    ck_assert_uint_eq(b.len, sizeof(want) + 4 + n);
    /* the record in the row reads back as the twin */
    struct twin *back = twin_new("car-1");
    char errstr[256];
    ck_assert_int_eq(twin_record_read(back, (const uint8_t *)b.data + sizeof(want) + 4, n, errstr,
                                      sizeof(errstr)),
                     TP_OK);
    ck_assert_int_eq(back->events, 3);
    ck_assert_int_eq(back->last_seen_ms, PG_EPOCH_PLUS_1500);
    ck_assert_double_eq(twin_metric_get(back, "speed_kmh")->sum, 128.5);
    ck_assert_str_eq(back->model, "tab\there");
    twin_free(back);
    free(rec);
    twin_free(t);
    buf_release(&b);
}
END_TEST

START_TEST(test_twin_row_before_2000)
{
    struct twin *t = twin_new("");
    t->events = 1;
    t->last_sequence = 1;
    t->last_seen_ms = 0; /* 1970: a negative timestamptz */
    struct buf b;
    buf_init(&b, 1 << 20);
    twin_rows_twin(&b, t);
    static const uint8_t want[] = {
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00,                                     /* "" */
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* version 1 */
        0x00, 0x00, 0x00, 0x08, 0xff, 0xfc, 0xa2, 0xfe, 0xc4, 0xc8, 0x20, 0x00, /* -946684800 s */
    };
    assert_bytes(&b, 0, want, sizeof(want));
    twin_free(t);
    buf_release(&b);
}
END_TEST

START_TEST(test_history_row)
{
    struct history *h = history_new();
    /* the minute of 2000-01-01 00:01:59.999 starts at 00:01: 60,000,000 us */
    history_add(h, "car-1", "speed_kmh", 946684919999LL, 88.5);
    history_add(h, "car-1", "speed_kmh", 946684860000LL, -0.25);
    ck_assert_uint_eq(history_count(h), 1);
    struct buf b;
    buf_init(&b, 1 << 16);
    twin_rows_history(&b, h, &h->entries[0]);
    static const uint8_t want[] = {
        0x00, 0x07,                                                                  /* 7 fields */
        0x00, 0x00, 0x00, 0x05, 'c',  'a',  'r',  '-',  '1',                         /* device_id */
        0x00, 0x00, 0x00, 0x09, 's',  'p',  'e',  'e',  'd',  '_',  'k',  'm',  'h', /* metric */
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x03, 0x93, 0x87, 0x00,      /* minute */
        0x00, 0x00, 0x00, 0x08, 0xbf, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,      /* min -0.25 */
        0x00, 0x00, 0x00, 0x08, 0x40, 0x56, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,      /* max 88.5 */
        0x00, 0x00, 0x00, 0x08, 0x40, 0x56, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,      /* sum 88.25 */
        0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,      /* count 2 */
    };
    ck_assert_uint_eq(b.len, sizeof(want));
    assert_bytes(&b, 0, want, sizeof(want));
    /* non-finite values never reach the history (fold.c); were one there, its bits go as is */
    buf_reset(&b);
    h->entries[0].min = -INFINITY;
    h->entries[0].sum = NAN;
    twin_rows_history(&b, h, &h->entries[0]);
    static const uint8_t ninf[] = {0x00, 0x00, 0x00, 0x08, 0xff, 0xf0, 0, 0, 0, 0, 0, 0};
    assert_bytes(&b, 36, ninf, sizeof(ninf));
    buf_release(&b);
    history_free(h);
}
END_TEST

static Suite *rows_suite(void)
{
    Suite *s = suite_create("rows");
    TCase *tc = tcase_create("bytes");
    tcase_add_test(tc, test_header_trailer);
    tcase_add_test(tc, test_pg_time);
    tcase_add_test(tc, test_twin_row);
    tcase_add_test(tc, test_twin_row_before_2000);
    tcase_add_test(tc, test_history_row);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(rows_suite)
