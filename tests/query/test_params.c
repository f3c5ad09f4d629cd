/* query/params.c: every endpoint's query string, parsed or refused with a reason. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/params.h"
#include "tests/support/check_main.h"

/* Builds args from "k=v" strings (borrowed; values point after the '='). */
static char store[PARAMS_ARGS_MAX + 2][256];

static struct params_args args_of(const char *const *kv)
{
    struct params_args a = {0};
    for (size_t i = 0; kv[i]; i++) {
        snprintf(store[i], sizeof(store[i]), "%s", kv[i]);
        char *eq = strchr(store[i], '=');
        *eq = '\0';
        params_args_add(&a, store[i], eq + 1);
    }
    return a;
}

static enum tp_err list_of(const char *const *kv, struct list_params *p, char *err)
{
    struct params_args a = args_of(kv);
    return params_list_parse(&a, p, err, 256);
}

START_TEST(test_list_defaults_and_filters)
{
    struct list_params p;
    char err[256];
    const char *none[] = {NULL};
    ck_assert_int_eq(list_of(none, &p, err), TP_OK);
    ck_assert_int_eq(p.limit, 100);
    ck_assert_int_eq(p.sort, SORT_DEVICE_ID);
    ck_assert_ptr_null(p.cursor);
    ck_assert_int_eq(p.status, STATUS_ANY);

    const char *all[] = {"model=tp-truck",
                         "region=eu' OR 1=1 --",
                         "firmware=2.1",
                         "metric.speed_kmh.gt=50",
                         "metric.cabin.co2_ppm.le=1e3",
                         "metric.speed_kmh.lt=-0",
                         "last_seen_after=2026-11-23T10:00:00Z",
                         "last_seen_before=2026-11-23T12:00:00.5+01:00",
                         "status=offline",
                         "sort=-last_seen",
                         "limit=1000",
                         "cursor=abc",
                         "after=t1.0:5",
                         NULL};
    ck_assert_int_eq(list_of(all, &p, err), TP_OK);
    ck_assert_str_eq(p.attrs[PARAMS_MODEL], "tp-truck");
    ck_assert_str_eq(p.attrs[PARAMS_REGION], "eu' OR 1=1 --");
    ck_assert_str_eq(p.attrs[PARAMS_FIRMWARE], "2.1");
    ck_assert_uint_eq(p.n_metrics, 3);
    ck_assert_str_eq(p.metrics[0].name, "speed_kmh");
    ck_assert_int_eq(p.metrics[0].op, OP_GT);
    ck_assert_str_eq(p.metrics[0].text, "50");
    ck_assert_str_eq(p.metrics[1].name, "cabin.co2_ppm");
    ck_assert_int_eq(p.metrics[1].op, OP_LE);
    ck_assert_str_eq(p.metrics[1].text, "1000");
    ck_assert_str_eq(p.metrics[2].text, "0");
    ck_assert(p.has_after && p.has_before);
    ck_assert_int_eq(p.after_us, 1795428000000000LL);
    ck_assert_int_eq(p.before_us, 1795431600500000LL);
    ck_assert_int_eq(p.status, STATUS_OFFLINE);
    ck_assert_int_eq(p.sort, SORT_LAST_SEEN_DESC);
    ck_assert_int_eq(p.limit, 1000);
    ck_assert_str_eq(p.cursor, "abc");
}
END_TEST

START_TEST(test_list_refusals)
{
    struct list_params p;
    char err[256];
    const char *cases[][3] = {
        {"regoin=eu", NULL, "unknown query parameter \"regoin\""},
        {"model=a", "model=b", "\"model\" is given more than once"},
        {"model=", NULL, "\"model\" must be a non-empty string"},
        {"limit=0", NULL, "\"limit\" must be an integer from 1 to 1000"},
        {"limit=1001", NULL, "\"limit\" must be"},
        {"limit=10abc", NULL, "\"limit\" must be"},
        {"limit=-5", NULL, "\"limit\" must be"},
        {"limit= 5", NULL, "\"limit\" must be"},
        {"sort=name", NULL, "\"sort\" must be device_id, -device_id, last_seen or -last_seen"},
        {"status=on", NULL, "\"status\" must be online or offline"},
        {"metric.speed_kmh.eq=5", NULL, "metric.<name>.<lt|le|gt|ge>"},
        {"metric.speed_kmh=5", NULL, "metric.<name>.<lt|le|gt|ge>"},
        {"metric..gt=5", NULL, "metric.<name>.<lt|le|gt|ge>"},
        {"metric.sp'eed.gt=5", NULL, "metric.<name>.<lt|le|gt|ge>"},
        {"metric.speed_kmh.gt=nan", NULL, "a finite decimal number"},
        {"metric.speed_kmh.gt=inf", NULL, "a finite decimal number"},
        {"metric.speed_kmh.gt=0x10", NULL, "a finite decimal number"},
        {"metric.speed_kmh.gt=1e999", NULL, "a finite decimal number"},
        {"metric.speed_kmh.gt=5;DROP TABLE twins", NULL, "a finite decimal number"},
        {"metric.speed_kmh.gt=", NULL, "a finite decimal number"},
        {"last_seen_after=yesterday", NULL, "RFC 3339"},
        {"last_seen_after=2026-02-30T00:00:00Z", NULL, "RFC 3339"},
        {"last_seen_after=2026-11-23T10:00:00", NULL, "RFC 3339"},
        {"last_seen_after=2026-11-23T24:00:00Z", NULL, "RFC 3339"},
        {"last_seen_after=2026-11-23T10:00:00Zjunk", NULL, "RFC 3339"},
        {"last_seen_after=2026-11-23T10:00:00Z", "last_seen_before=2026-11-23T10:00:00Z",
         "last_seen_after must be before last_seen_before"},
        {"cursor=", NULL, "next_cursor of a previous page"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *kv[] = {cases[i][0], cases[i][1], NULL};
        ck_assert_msg(list_of(kv, &p, err) == TP_VALIDATION, "%s accepted", cases[i][0]);
        ck_assert_msg(strstr(err, cases[i][2]) != NULL, "%s: %s", cases[i][0], err);
    }
    const char *many[] = {
        "metric.a.gt=1", "metric.b.gt=1", "metric.c.gt=1", "metric.d.gt=1", "metric.e.gt=1",
        "metric.f.gt=1", "metric.g.gt=1", "metric.h.gt=1", "metric.i.gt=1", NULL};
    ck_assert_int_eq(list_of(many, &p, err), TP_VALIDATION);
    ck_assert_str_eq(err, "at most 8 metric filters");
    struct params_args a = {0};
    for (int i = 0; i < PARAMS_ARGS_MAX + 1; i++)
        params_args_add(&a, "model", "x");
    ck_assert_int_eq(params_list_parse(&a, &p, err, sizeof(err)), TP_VALIDATION);
    ck_assert_str_eq(err, "more than 32 query parameters");
    struct params_args bad = {0};
    params_args_add(&bad, "model", "a\xff");
    ck_assert_int_eq(params_list_parse(&bad, &p, err, sizeof(err)), TP_VALIDATION);
    ck_assert_str_eq(err, "query parameter \"model\" is not valid UTF-8");
}
END_TEST

/*
 * Issue 13, defect 3: a ninth metric filter was copied into metrics[8] (one past the array)
 * before the limit was checked, a stack-buffer-overflow that aborted tp-query. The limit is
 * checked before anything is written: eight filters with the longest names parse, a ninth is
 * refused with the limit's message whatever its name, and the list_params (on the heap here,
 * so ASan sees its exact end) is never written past its end.
 */
START_TEST(test_list_metric_filter_limit)
{
    char kv[PARAMS_METRIC_FILTERS + 2][128], err[256];
    const char *ptrs[PARAMS_METRIC_FILTERS + 2];
    struct list_params *p = malloc(sizeof(*p));
    for (int i = 0; i <= PARAMS_METRIC_FILTERS; i++) {
        /* 64-character names: the longest allowed, as long as a filter's name can be */
        snprintf(kv[i], sizeof(kv[i]), "metric.%c%063d.lt=%d", 'a' + i, 0, i);
        ptrs[i] = kv[i];
    }
    ptrs[PARAMS_METRIC_FILTERS] = NULL; /* eight: accepted, exactly as given */
    ck_assert_int_eq(list_of(ptrs, p, err), TP_OK);
    ck_assert_uint_eq(p->n_metrics, PARAMS_METRIC_FILTERS);
    for (int i = 0; i < PARAMS_METRIC_FILTERS; i++) {
        ck_assert_uint_eq(strlen(p->metrics[i].name), PARAMS_NAME_MAX);
        ck_assert_int_eq(p->metrics[i].name[0], 'a' + i);
        ck_assert_int_eq(p->metrics[i].op, OP_LT);
        ck_assert_double_eq(p->metrics[i].value, i);
    }
    ck_assert_int_eq(p->sort, SORT_DEVICE_ID);
    ck_assert_int_eq(p->limit, PARAMS_LIMIT_DEFAULT);
    ck_assert_ptr_null(p->cursor);

    ptrs[PARAMS_METRIC_FILTERS] = kv[PARAMS_METRIC_FILTERS]; /* nine */
    ptrs[PARAMS_METRIC_FILTERS + 1] = NULL;
    ck_assert_int_eq(list_of(ptrs, p, err), TP_VALIDATION);
    ck_assert_str_eq(err, "at most 8 metric filters");
    ck_assert_uint_eq(p->n_metrics, PARAMS_METRIC_FILTERS);

    /* a ninth filter is refused for being a ninth, before its name or value is looked at */
    snprintf(kv[PARAMS_METRIC_FILTERS], sizeof(kv[0]), "metric.%0100d.eq=x", 0);
    ck_assert_int_eq(list_of(ptrs, p, err), TP_VALIDATION);
    ck_assert_str_eq(err, "at most 8 metric filters");
    free(p);
}
END_TEST

START_TEST(test_time)
{
    int64_t us;
    ck_assert(params_time_parse("1970-01-01T00:00:00Z", &us));
    ck_assert_int_eq(us, 0);
    ck_assert(params_time_parse("2026-11-23t10:24:46.706123456z", &us));
    ck_assert_int_eq(us, 1795429486706123LL);
    ck_assert(params_time_parse("2026-11-23T11:24:46.7+01:00", &us));
    ck_assert_int_eq(us, 1795429486700000LL);
    ck_assert(params_time_parse("2026-11-23T05:54:46.7 -04:30", &us) == false);
    ck_assert(params_time_parse("2026-11-23T05:54:46.7-04:30", &us));
    ck_assert_int_eq(us, 1795429486700000LL);
    ck_assert(params_time_parse("2026-11-23T11:24:46 01:00", &us)); /* '+' decoded as ' ' */
    ck_assert_int_eq(us, 1795429486000000LL);
    ck_assert(params_time_parse("1969-12-31T23:59:59.5Z", &us));
    ck_assert_int_eq(us, -500000);
    ck_assert(params_time_parse("2024-02-29T00:00:00Z", &us));
    ck_assert(!params_time_parse("2023-02-29T00:00:00Z", &us));
    ck_assert(!params_time_parse("0000-01-01T00:00:00Z", &us));
    ck_assert(!params_time_parse("2026-11-23T10:00:60Z", &us));
    ck_assert(!params_time_parse("2026-11-23T10:00:00.Z", &us));
    ck_assert(!params_time_parse("2026-11-23T10:00:00.1234567890Z", &us));
    ck_assert(!params_time_parse("2026-11-23T10:00:00+0100", &us));
    ck_assert(!params_time_parse("2026-11-23", &us));

    char t[PARAMS_TIME_TEXT];
    params_time_format(1795429486706123LL, t, sizeof(t));
    ck_assert_str_eq(t, "2026-11-23 10:24:46.706123+00");
    params_time_format(-500000, t, sizeof(t));
    ck_assert_str_eq(t, "1969-12-31 23:59:59.500000+00");
    params_time_format(0, t, sizeof(t));
    ck_assert_str_eq(t, "1970-01-01 00:00:00.000000+00");
    params_time_rfc3339(1795429486706000LL, t, sizeof(t));
    ck_assert_str_eq(t, "2026-11-23T10:24:46.706Z");
    params_time_rfc3339(1795429486706123LL, t, sizeof(t));
    ck_assert_str_eq(t, "2026-11-23T10:24:46.706123Z");
}
END_TEST

START_TEST(test_series)
{
    struct series_params p;
    char err[256];
    const char *ok[] = {"metric=speed_kmh", "from=2026-11-23T10:03:00Z", "to=2026-11-23T11:00:00Z",
                        "step=5m", NULL};
    struct params_args a = args_of(ok);
    ck_assert_int_eq(params_series_parse(&a, &p, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(p.metric, "speed_kmh");
    ck_assert_int_eq(p.step, STEP_5M);
    ck_assert_int_eq(p.buckets, 12); /* 10:00 (partial) .. 10:55 */
    const char *dflt[] = {"metric=x", "from=2026-11-23T10:00:00Z", "to=2026-11-23T10:00:30Z", NULL};
    a = args_of(dflt);
    ck_assert_int_eq(params_series_parse(&a, &p, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(p.step, STEP_1M);
    ck_assert_int_eq(p.buckets, 1);
    /* 10,000 one-minute buckets pass, one more does not */
    const char *max[] = {"metric=x", "from=2026-01-01T00:00:00Z", "to=2026-01-07T22:40:00Z", NULL};
    a = args_of(max);
    ck_assert_int_eq(params_series_parse(&a, &p, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(p.buckets, 10000);
    const char *over[] = {"metric=x", "from=2026-01-01T00:00:00Z", "to=2026-01-07T22:40:01Z", NULL};
    a = args_of(over);
    ck_assert_int_eq(params_series_parse(&a, &p, err, sizeof(err)), TP_TOO_LARGE);
    ck_assert_msg(strstr(err, "10001 buckets of 1m, the limit is 10000"), "%s", err);
    const char *cases[][4] = {
        {"from=2026-01-01T00:00:00Z", "to=2026-01-02T00:00:00Z", NULL, "metric, from and to"},
        {"metric=x", "from=2026-01-01T00:00:00Z", NULL, "metric, from and to"},
        {"metric=x", "from=2026-01-02T00:00:00Z", "to=2026-01-01T00:00:00Z", "from must be before"},
        {"metric=x y", NULL, NULL, "\"metric\" must be a name"},
        {"metric=x", "step=2m", NULL, "1m, 5m, 1h or 1d"},
        {"metric=x", "bucket=1m", NULL, "unknown query parameter \"bucket\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *kv[] = {cases[i][0], cases[i][1], cases[i][2], NULL};
        a = args_of(kv);
        ck_assert_int_eq(params_series_parse(&a, &p, err, sizeof(err)), TP_VALIDATION);
        ck_assert_msg(strstr(err, cases[i][3]) != NULL, "%zu: %s", i, err);
    }
}
END_TEST

START_TEST(test_summary)
{
    struct summary_params p;
    char err[256];
    const char *ok[] = {"group_by=region", "metric=speed_kmh", "after=t1.0:1", NULL};
    struct params_args a = args_of(ok);
    ck_assert_int_eq(params_summary_parse(&a, &p, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(p.group_by, "region");
    ck_assert_str_eq(p.metric, "speed_kmh");
    const char *none[] = {NULL};
    a = args_of(none);
    ck_assert_int_eq(params_summary_parse(&a, &p, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(p.group_by, "");
    const char *bad[] = {"group_by=region'--", NULL};
    a = args_of(bad);
    ck_assert_int_eq(params_summary_parse(&a, &p, err, sizeof(err)), TP_VALIDATION);
}
END_TEST

START_TEST(test_fingerprint)
{
    struct list_params p1, p2;
    char err[256];
    const char *a[] = {"model=a;region=b", "limit=5", NULL};
    const char *b[] = {"model=a", "region=b", "limit=7", NULL};
    ck_assert_int_eq(list_of(a, &p1, err), TP_OK);
    ck_assert_int_eq(list_of(b, &p2, err), TP_OK);
    struct buf f1, f2;
    buf_init(&f1, 4096);
    buf_init(&f2, 4096);
    params_list_fingerprint(&p1, &f1);
    params_list_fingerprint(&p2, &f2);
    ck_assert_str_ne(f1.data, f2.data); /* length-prefixed: no confusion */
    ck_assert_str_eq(f2.data, "sort=9:device_id;model=1:a;region=1:b;status=0:;");
    buf_release(&f1);
    buf_release(&f2);
}
END_TEST

static Suite *params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_list_defaults_and_filters);
    tcase_add_test(tc, test_list_refusals);
    tcase_add_test(tc, test_list_metric_filter_limit);
    tcase_add_test(tc, test_time);
    tcase_add_test(tc, test_series);
    tcase_add_test(tc, test_summary);
    tcase_add_test(tc, test_fingerprint);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(params_suite)
