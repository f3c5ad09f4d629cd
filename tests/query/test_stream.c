/* query/stream.c: the change stream's filters, the events a search index's changes give (exact
 * text), the fan-out to matching clients, resuming from the ring, reset (unknown, expired,
 * reload), the bounded client buffer and its overflow, heartbeats, the client limit and stop. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "query/search.h"
#include "query/stream.h"
#include "tests/support/check_main.h"
#include "twin/record.h"
#include "twin/twin.h"

#define T0 1772359200000LL /* 2026-03-01T10:00:00Z */

static struct search_index *ix;
static struct stream *st;

static void setup_with(size_t ring, size_t buffer, size_t max_clients)
{
    struct stream_settings s = {max_clients, buffer, ring, 300000};
    st = stream_new(&s);
    ix = search_index_new();
    search_index_set_feed(ix, stream_feed(st));
}

static void setup(void)
{
    setup_with(100, 1 << 20, 10);
}

static void teardown(void)
{
    search_index_free(ix);
    stream_free(st);
}

/* Applies one twin: last_seen, events (= version), attributes, speed (NAN: none), a location
 * when lat is finite. */
static void put(const char *id, int64_t last_seen_ms, long events, const char *model,
                const char *region, double speed, double lat)
{
    struct twin *t = twin_new(id);
    t->first_seen_ms = T0 - 1000;
    t->last_seen_ms = last_seen_ms;
    t->last_sequence = events;
    t->events = events;
    if (!isnan(speed))
        twin_metric_observe(twin_metric_set(t, "speed_kmh", speed, last_seen_ms), speed);
    twin_metric_observe(twin_metric_set(t, "fuel_pct", 50, T0), 50);
    if (model)
        twin_attr_set(t, "model", model);
    if (region)
        twin_attr_set(t, "region", region);
    if (isfinite(lat)) {
        t->has_location = true;
        t->loc_mask = 3;
        t->loc[TWIN_LAT] = lat;
        t->loc[TWIN_LON] = 10.5;
        t->location_ts_ms = last_seen_ms;
    }
    uint8_t *p = tp_malloc(twin_record_bound(t));
    size_t len = twin_record_write(p, t);
    twin_free(t);
    struct search_row r = {id, strlen(id), p, len};
    size_t bad = 99;
    search_index_apply(ix, &r, 1, false, NULL, NULL, &bad);
    ck_assert_uint_eq(bad, 0);
    free(p);
}

static struct stream_filter *filter(const char *const *kv)
{
    static char store[PARAMS_ARGS_MAX][256];
    struct params_args a = {0};
    char err[256];
    for (size_t i = 0; kv && kv[i]; i++) {
        snprintf(store[i], sizeof(store[i]), "%s", kv[i]);
        char *eq = strchr(store[i], '=');
        *eq = '\0';
        params_args_add(&a, store[i], eq + 1);
    }
    struct stream_filter *f;
    ck_assert_msg(stream_filter_parse(&a, &f, err, sizeof(err)) == TP_OK, "%s", err);
    return f;
}

static struct stream_client *open_client(const char *const *kv, const char *last)
{
    struct stream_client *c;
    ck_assert_int_eq(stream_client_open(st, filter(kv), last, &c), STREAM_OPENED);
    return c;
}

/* Everything the client has now (static buffer). */
static const char *drain(struct stream_client *c)
{
    static char out[1 << 20];
    size_t n = 0;
    long k;
    while ((k = stream_client_read(c, out + n, 7)) > 0) /* small reads: any split works */
        n += (size_t)k;
    out[n] = '\0';
    return out;
}

static const char *id(uint64_t seq)
{
    static char ids[8][48];
    static int next;
    char *o = ids[next++ % 8];
    stream_event_id(st, seq, o, 48);
    return o;
}

START_TEST(test_filter_parse)
{
    struct params_args a = {0};
    char err[256];
    struct stream_filter *f;
    params_args_add(&a, "device_ids", "dev-b,dev-a,dev-b");
    params_args_add(&a, "region", "eu");
    params_args_add(&a, "metric.speed_kmh.gt", "50");
    params_args_add(&a, "access_token", "k");
    params_args_add(&a, "after", "t1.0:1");
    ck_assert_int_eq(stream_filter_parse(&a, &f, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(f->n_ids, 2);
    ck_assert_str_eq(f->ids[0], "dev-a");
    ck_assert_str_eq(f->ids[1], "dev-b");
    ck_assert_str_eq(f->attrs[PARAMS_REGION], "eu");
    ck_assert_ptr_null(f->attrs[PARAMS_MODEL]);
    ck_assert_uint_eq(f->n_metrics, 1);
    ck_assert_str_eq(f->metrics[0].name, "speed_kmh");
    ck_assert_int_eq(f->metrics[0].op, OP_GT);
    ck_assert(f->metrics[0].value == 50);
    stream_filter_free(f);
    const char *bad[][2] = {{"sort", "device_id"},
                            {"limit", "5"},
                            {"cursor", "x"},
                            {"status", "online"},
                            {"last_seen_after", "2026-01-01T00:00:00Z"},
                            {"device_ids", "ok,no/slash"},
                            {"device_ids", ""},
                            {"regoin", "eu"},
                            {"metric.speed_kmh.eq", "1"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct params_args b = {0};
        params_args_add(&b, bad[i][0], bad[i][1]);
        f = (struct stream_filter *)1;
        ck_assert_msg(stream_filter_parse(&b, &f, err, sizeof(err)) == TP_VALIDATION, "%s=%s",
                      bad[i][0], bad[i][1]);
        ck_assert_ptr_null(f);
    }
    /* 1,001 ids */
    static char many[1001 * 8];
    size_t o = 0;
    for (int i = 0; i < 1001; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "%sd%d", i ? "," : "", i);
    struct params_args m = {0};
    params_args_add(&m, "device_ids", many);
    ck_assert_int_eq(stream_filter_parse(&m, &f, err, sizeof(err)), TP_VALIDATION);
    ck_assert_str_eq(err, "device_ids names 1001 devices, the limit is 1000");
}
END_TEST

START_TEST(test_changes_fanned_out_exactly)
{
    struct stream_client *all = open_client(NULL, NULL);
    const char *const eu[] = {"region=eu", NULL};
    struct stream_client *c_eu = open_client(eu, NULL);
    const char *const fast[] = {"metric.speed_kmh.ge=100", NULL};
    struct stream_client *c_fast = open_client(fast, NULL);
    const char *const b_only[] = {"device_ids=dev-b", NULL};
    struct stream_client *c_b = open_client(b_only, NULL);
    char want[4096];
    snprintf(want, sizeof(want), "retry: 1000\nid: %s\n\n", id(0));
    ck_assert_str_eq(drain(all), want);
    ck_assert_str_eq(drain(c_eu), want);
    drain(c_fast);
    drain(c_b);
    ck_assert_int_eq(stream_client_read(all, want, sizeof(want)), 0); /* nothing yet */

    put("dev-a", T0, 1, "tp-van", "eu", 90, NAN);
    put("dev-b", T0 + 5, 1, "tp-truck", "us", 120, 52.25);
    const char *ev_a = "event: change\ndata: {\"device_id\":\"dev-a\",\"version\":1,\"new\":true,"
                       "\"changed\":{\"first_seen\":\"2026-03-01T09:59:59.000Z\",\"last_seen\":"
                       "\"2026-03-01T10:00:00.000Z\",\"metrics\":{\"speed_kmh\":{\"value\":90,"
                       "\"ts\":1772359200000,\"min\":90,\"max\":90,\"sum\":90,\"count\":1},"
                       "\"fuel_pct\":{\"value\":50,\"ts\":1772359200000,\"min\":50,\"max\":50,"
                       "\"sum\":50,\"count\":1}},\"attributes\":{\"model\":\"tp-van\",\"region\":"
                       "\"eu\"}}}\n\n";
    const char *ev_b = "event: change\ndata: {\"device_id\":\"dev-b\",\"version\":1,\"new\":true,"
                       "\"changed\":{\"first_seen\":\"2026-03-01T09:59:59.000Z\",\"last_seen\":"
                       "\"2026-03-01T10:00:00.005Z\",\"metrics\":{\"speed_kmh\":{\"value\":120,"
                       "\"ts\":1772359200005,\"min\":120,\"max\":120,\"sum\":120,\"count\":1},"
                       "\"fuel_pct\":{\"value\":50,\"ts\":1772359200000,\"min\":50,\"max\":50,"
                       "\"sum\":50,\"count\":1}},\"location\":{\"lat\":52.25,\"lon\":10.5,\"ts\":"
                       "1772359200005},\"attributes\":{\"model\":\"tp-truck\",\"region\":\"us\"}}}"
                       "\n\n";
    snprintf(want, sizeof(want), "id: %s\n%sid: %s\n%s", id(1), ev_a, id(2), ev_b);
    ck_assert_str_eq(drain(all), want);
    snprintf(want, sizeof(want), "id: %s\n%s", id(1), ev_a);
    ck_assert_str_eq(drain(c_eu), want);
    snprintf(want, sizeof(want), "id: %s\n%s", id(2), ev_b);
    ck_assert_str_eq(drain(c_fast), want);
    ck_assert_str_eq(drain(c_b), want);

    /* dev-a: a reading of speed only (fuel unchanged), now fast; then dev-b moves */
    put("dev-a", T0 + 1000, 2, "tp-van", "eu", 130, NAN);
    put("dev-b", T0 + 2000, 2, "tp-truck", "us", 120, 52.5);
    const char *ev_a2 = "event: change\ndata: {\"device_id\":\"dev-a\",\"version\":2,\"changed\":{"
                        "\"last_seen\":\"2026-03-01T10:00:01.000Z\",\"metrics\":{\"speed_kmh\":{"
                        "\"value\":130,\"ts\":1772359201000,\"min\":130,\"max\":130,\"sum\":130,"
                        "\"count\":1}}}}\n\n";
    const char *ev_b2 = "event: change\ndata: {\"device_id\":\"dev-b\",\"version\":2,\"changed\":{"
                        "\"last_seen\":\"2026-03-01T10:00:02.000Z\",\"metrics\":{\"speed_kmh\":{"
                        "\"value\":120,\"ts\":1772359202000,\"min\":120,\"max\":120,\"sum\":120,"
                        "\"count\":1}},\"location\":{\"lat\":52.5,\"lon\":10.5,\"ts\":"
                        "1772359202000}}}\n\n";
    snprintf(want, sizeof(want), "id: %s\n%sid: %s\n%s", id(3), ev_a2, id(4), ev_b2);
    ck_assert_str_eq(drain(all), want);
    ck_assert_str_eq(drain(c_fast), want);
    snprintf(want, sizeof(want), "id: %s\n%s", id(3), ev_a2);
    ck_assert_str_eq(drain(c_eu), want);
    snprintf(want, sizeof(want), "id: %s\n%s", id(4), ev_b2);
    ck_assert_str_eq(drain(c_b), want);

    /* an attribute moves dev-a out of eu: the eu client hears nothing more of it */
    put("dev-a", T0 + 1000, 3, "tp-van", "us", 130, NAN);
    ck_assert_str_eq(drain(c_eu), "");
    snprintf(want, sizeof(want),
             "id: %s\nevent: change\ndata: {\"device_id\":\"dev-a\",\"version\":3,\"changed\":{"
             "\"attributes\":{\"model\":\"tp-van\",\"region\":\"us\"}}}\n\n",
             id(5));
    ck_assert_str_eq(drain(all), want);
    ck_assert_str_eq(drain(c_fast), want); /* still fast */
    ck_assert_str_eq(drain(c_b), "");

    /* a heartbeat carries the position */
    stream_heartbeat(st);
    snprintf(want, sizeof(want), ": heartbeat\nid: %s\n\n", id(5));
    ck_assert_str_eq(drain(c_eu), want);
    struct stream_stats s;
    stream_stats(st, &s);
    ck_assert_uint_eq(s.clients, 4);
    ck_assert_uint_eq(s.seq, 5);
    ck_assert_uint_eq(s.events, 5);
    ck_assert_uint_eq(s.deliveries, 5 + 2 + 4 + 2); /* all, eu, fast, dev-b */
    ck_assert_uint_eq(s.ring_events, 5);
    stream_client_close(all);
    stream_client_close(c_eu);
    stream_client_close(c_fast);
    stream_client_close(c_b);
    stream_stats(st, &s);
    ck_assert_uint_eq(s.clients, 0);
    ck_assert_uint_eq(s.buffered_bytes, 0);
}
END_TEST

START_TEST(test_resume_and_reset)
{
    teardown();
    setup_with(4, 1 << 20, 10);
    for (int i = 1; i <= 3; i++) {
        char d[16];
        snprintf(d, sizeof(d), "dev-%d", i);
        put(d, T0 + i, 1, "m", i == 2 ? "eu" : "us", 10, NAN);
    }
    /* resumed after 1 with region=us: event 3 only, then the position */
    const char *const us[] = {"region=us", NULL};
    struct stream_client *c = open_client(us, id(1));
    const char *got = drain(c);
    char head[256];
    snprintf(head, sizeof(head),
             "retry: 1000\n\nid: %s\nevent: change\ndata: {\"device_id\":"
             "\"dev-3\",\"version\":1,\"new\":true,",
             id(3));
    ck_assert_msg(!strncmp(got, head, strlen(head)), "%s", got);
    snprintf(head, sizeof(head), "\n\nid: %s\n\n", id(3));
    ck_assert_str_eq(got + strlen(got) - strlen(head), head);
    ck_assert_ptr_null(strstr(got, "dev-2"));
    stream_client_close(c);
    /* at the head: nothing but the position */
    c = open_client(NULL, id(3));
    snprintf(head, sizeof(head), "retry: 1000\n\nid: %s\n\n", id(3));
    ck_assert_str_eq(drain(c), head);
    stream_client_close(c);
    /* 3 more: the ring (4) now holds 3..6; 2 resumes, 1 is expired */
    for (int i = 4; i <= 6; i++) {
        char d[16];
        snprintf(d, sizeof(d), "dev-%d", i);
        put(d, T0 + i, 1, "m", "us", 10, NAN);
    }
    c = open_client(NULL, id(2));
    got = drain(c);
    ck_assert_ptr_null(strstr(got, "reset"));
    ck_assert_ptr_nonnull(strstr(got, "\"dev-3\""));
    ck_assert_ptr_nonnull(strstr(got, "\"dev-6\""));
    stream_client_close(c);
    c = open_client(NULL, id(1));
    snprintf(head, sizeof(head),
             "retry: 1000\n\nid: %s\nevent: reset\ndata: {\"reason\":\"expired_position\"}\n\n",
             id(6));
    ck_assert_str_eq(drain(c), head);
    /* later changes follow the reset */
    put("dev-7", T0 + 7, 1, "m", "us", 10, NAN);
    snprintf(head, sizeof(head), "id: %s\nevent: change\n", id(7));
    ck_assert_msg(!strncmp(drain(c), head, strlen(head)), "no change after the reset");
    stream_client_close(c);
    /* another process, the future, garbage */
    const char *unknown[] = {"00000000-1", "x", "", "-5"};
    char future[48];
    snprintf(future, sizeof(future), "%s", id(99));
    for (size_t i = 0; i < 5; i++) {
        const char *last = i < 4 ? unknown[i] : future;
        if (!*last)
            continue;
        c = open_client(NULL, last);
        snprintf(head, sizeof(head),
                 "retry: 1000\n\nid: %s\nevent: reset\ndata: {\"reason\":\"unknown_position\"}\n\n",
                 id(7));
        ck_assert_msg(!strcmp(drain(c), head), "%s", last);
        stream_client_close(c);
    }
    /* a reload: connected clients get reset at a new position; older ones are expired */
    struct stream_client *live = open_client(NULL, NULL);
    drain(live);
    search_index_apply(ix, NULL, 0, true, NULL, NULL, NULL);
    snprintf(head, sizeof(head), "id: %s\nevent: reset\ndata: {\"reason\":\"reload\"}\n\n", id(8));
    ck_assert_str_eq(drain(live), head);
    c = open_client(NULL, id(7));
    ck_assert_ptr_nonnull(strstr(drain(c), "expired_position"));
    stream_client_close(c);
    c = open_client(NULL, id(8));
    snprintf(head, sizeof(head), "retry: 1000\n\nid: %s\n\n", id(8));
    ck_assert_str_eq(drain(c), head);
    stream_client_close(c);
    stream_client_close(live);
    struct stream_stats s;
    stream_stats(st, &s);
    ck_assert_uint_eq(s.resets, 7); /* 4 unknown, 2 expired, 1 reload */
    ck_assert_uint_eq(s.resumes, 4);
}
END_TEST

START_TEST(test_overflow_cuts_a_slow_client)
{
    teardown();
    setup_with(1000, 4096, 10);
    struct stream_client *slow = open_client(NULL, NULL);
    struct stream_client *fast = open_client(NULL, NULL);
    drain(slow);
    drain(fast);
    /* the slow one read 10 bytes of the first event, then nothing */
    put("dev-0", T0, 1, "m", "eu", 1, NAN);
    char part[16];
    ck_assert_int_eq(stream_client_read(slow, part, 10), 10);
    size_t fast_bytes = strlen(drain(fast));
    int i = 1;
    struct stream_stats s;
    for (;; i++) {
        char d[16];
        snprintf(d, sizeof(d), "dev-%d", i);
        put(d, T0 + i, 1, "m", "eu", 1, NAN);
        fast_bytes += strlen(drain(fast));
        stream_stats(st, &s);
        if (s.overflows)
            break;
        ck_assert_int_lt(i, 100);
    }
    ck_assert_uint_eq(s.buffered_bytes, 4096 + 4096); /* each at most the bound */
    /* the slow client gets the rest of the event it was reading, then overflow, then the end */
    const char *got = drain(slow);
    char want[256];
    snprintf(want, sizeof(want), "%s", strstr(got, "\n\n") + 2);
    ck_assert_str_eq(want, "event: overflow\ndata: {\"reason\":\"client_buffer_full\","
                           "\"buffer_bytes\":4096}\n\n");
    ck_assert_ptr_null(strstr(got, "dev-1\""));
    ck_assert_int_eq(stream_client_read(slow, want, sizeof(want)), -1);
    /* later events do not reach it; the fast one goes on */
    put("dev-x", T0, 1, "m", "eu", 1, NAN);
    ck_assert_int_eq(stream_client_read(slow, want, sizeof(want)), -1);
    ck_assert_ptr_nonnull(strstr(drain(fast), "dev-x"));
    ck_assert_uint_gt(fast_bytes, 4096);
    stream_client_close(slow);
    stream_client_close(fast);
}
END_TEST

START_TEST(test_limits_and_stop)
{
    teardown();
    setup_with(10, 4096, 2);
    struct stream_client *a = open_client(NULL, NULL), *b = open_client(NULL, NULL), *c;
    ck_assert_int_eq(stream_client_open(st, filter(NULL), NULL, &c), STREAM_FULL);
    ck_assert_ptr_null(c);
    put("dev-a", T0, 1, "m", "eu", 1, NAN);
    stream_stop(st);
    ck_assert_int_eq(stream_client_open(st, filter(NULL), NULL, &c), STREAM_STOPPING);
    /* what was queued is still read, then the end */
    ck_assert_ptr_nonnull(strstr(drain(a), "dev-a"));
    char x[8];
    ck_assert_int_eq(stream_client_read(a, x, sizeof(x)), -1);
    ck_assert_ptr_nonnull(strstr(drain(b), "dev-a"));
    ck_assert_int_eq(stream_client_read(b, x, sizeof(x)), -1);
    stream_client_close(a);
    stream_client_close(b);
    struct stream_stats s;
    stream_stats(st, &s);
    ck_assert_uint_eq(s.refused, 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_filter_parse);
    tcase_add_test(tc, test_changes_fanned_out_exactly);
    tcase_add_test(tc, test_resume_and_reset);
    tcase_add_test(tc, test_overflow_cuts_a_slow_client);
    tcase_add_test(tc, test_limits_and_stop);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(suite)
