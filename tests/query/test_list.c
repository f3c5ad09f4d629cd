/* query/list.c: the page statement is built from constant fragments; every value is a parameter. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "query/list.h"
#include "tests/support/check_main.h"

static char store[PARAMS_ARGS_MAX][256];

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
    ck_assert_int_eq(params_list_parse(&a, p, err, sizeof(err)), TP_OK);
}

/* The statement after the select list. */
static const char *tail(const struct list_sql *q)
{
    const char *from = strstr(q->sql.data, " FROM twins");
    ck_assert_ptr_nonnull(from);
    return from;
}

START_TEST(test_first_page)
{
    struct list_params p;
    struct list_sql q;
    const char *kv[] = {"limit=10", NULL};
    parse(kv, &p);
    list_sql_build(&p, NULL, 300, &q);
    ck_assert_str_eq(tail(&q), " FROM twins ORDER BY device_id LIMIT $1");
    ck_assert_int_eq(q.n, 1);
    ck_assert_str_eq(q.values[0], "11");
    list_sql_release(&q);
}
END_TEST

START_TEST(test_every_filter)
{
    struct list_params p;
    struct list_sql q;
    const char *kv[] = {"region=eu'; DROP TABLE twins; --",
                        "model=m",
                        "firmware=f",
                        "last_seen_after=2026-11-23T10:00:00Z",
                        "last_seen_before=2026-11-23T11:00:00Z",
                        "status=online",
                        "metric.speed_kmh.ge=10.5",
                        "metric.co2'); DROP.lt=3",
                        "sort=-last_seen",
                        "limit=2",
                        NULL};
    /* a metric name with a quote is refused by params; use a legal odd one */
    kv[7] = "metric.x.y-z.lt=3";
    parse(kv, &p);
    struct cursor c = {.sort = SORT_LAST_SEEN_DESC, .last_seen_us = 1795429486706123LL};
    snprintf(c.device_id, sizeof(c.device_id), "dev-9");
    list_sql_build(&p, &c, 120, &q);
    ck_assert_str_eq(tail(&q), " FROM twins WHERE attributes->>'model' = $1"
                               " AND attributes->>'region' = $2"
                               " AND attributes->>'firmware' = $3"
                               " AND last_seen >= $4::timestamptz"
                               " AND last_seen < $5::timestamptz"
                               " AND last_seen >= now() - make_interval(secs => $6::float8)"
                               " AND (metrics->'speed_kmh'->>'value')::float8 >= $7::float8"
                               " AND (metrics->($8::text)->>'value')::float8 < $9::float8"
                               " AND (last_seen, device_id) < ($10::timestamptz, $11)"
                               " ORDER BY last_seen DESC, device_id DESC LIMIT $12");
    const char *want[] = {"m",
                          "eu'; DROP TABLE twins; --",
                          "f",
                          "2026-11-23 10:00:00.000000+00",
                          "2026-11-23 11:00:00.000000+00",
                          "120",
                          "10.5",
                          "x.y-z",
                          "3",
                          "2026-11-23 10:24:46.706123+00",
                          "dev-9",
                          "3"};
    ck_assert_int_eq(q.n, 12);
    for (int i = 0; i < 12; i++)
        ck_assert_str_eq(q.values[i], want[i]);
    /* no request text reaches the statement */
    ck_assert_ptr_null(strstr(q.sql.data, "DROP"));
    ck_assert_ptr_null(strstr(q.sql.data, "x.y-z"));
    list_sql_release(&q);
}
END_TEST

START_TEST(test_cursor_by_id)
{
    struct list_params p;
    struct list_sql q;
    const char *kv[] = {"sort=-device_id", "status=offline", NULL};
    parse(kv, &p);
    struct cursor c = {.sort = SORT_DEVICE_ID_DESC};
    snprintf(c.device_id, sizeof(c.device_id), "dev-5");
    list_sql_build(&p, &c, 300, &q);
    ck_assert_str_eq(tail(&q), " FROM twins WHERE last_seen < now() - make_interval(secs => "
                               "$1::float8) AND device_id < $2 ORDER BY device_id DESC LIMIT $3");
    ck_assert_str_eq(q.values[1], "dev-5");
    ck_assert_str_eq(q.values[2], "101");
    list_sql_release(&q);
    /* the longest device id reaches the statement whole */
    memset(c.device_id, 'x', PARAMS_ID_MAX);
    c.device_id[PARAMS_ID_MAX] = '\0';
    list_sql_build(&p, &c, 300, &q);
    ck_assert_uint_eq(strlen(q.values[1]), PARAMS_ID_MAX);
    list_sql_release(&q);
    c.sort = SORT_LAST_SEEN;
    const char *kv2[] = {"sort=last_seen", NULL};
    parse(kv2, &p);
    list_sql_build(&p, &c, 300, &q);
    ck_assert_uint_eq(strlen(q.values[1]), PARAMS_ID_MAX);
    list_sql_release(&q);
}
END_TEST

static Suite *list_suite(void)
{
    Suite *s = suite_create("list");
    TCase *tc = tcase_create("list");
    tcase_add_test(tc, test_first_page);
    tcase_add_test(tc, test_every_filter);
    tcase_add_test(tc, test_cursor_by_id);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(list_suite)
