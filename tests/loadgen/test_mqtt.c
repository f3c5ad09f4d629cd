/* test_mqtt.c - loadgen/mqtt.c's pure parts: loadgen.mqtt_url, the descriptor check, what a
 * PUBACK says about a PUBLISH (reason code and tp-dead-lettered), read from packets our
 * codec decodes. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <sys/resource.h>

#include "loadgen/load_int.h"
#include "loadgen/mqtt.h"
#include "tests/support/check_main.h"

START_TEST(test_url)
{
    char host[64], err[256];
    uint16_t port = 0;
    ck_assert_int_eq(
        load_mqtt_url_parse("127.0.0.1:1883", host, sizeof(host), &port, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(port, 1883);
    ck_assert_int_eq(load_mqtt_url_parse("mqtt://ingest.example:65535", host, sizeof(host), &port,
                                         err, sizeof(err)),
                     TP_OK);
    ck_assert_str_eq(host, "ingest.example");
    ck_assert_uint_eq(port, 65535);
    ck_assert_int_eq(load_mqtt_url_parse("[::1]:1", host, sizeof(host), &port, err, sizeof(err)),
                     TP_OK);
    ck_assert_str_eq(host, "::1");
    ck_assert_uint_eq(port, 1);
    static const char *const bad[] = {"",
                                      "localhost",
                                      ":1883",
                                      "host:",
                                      "host:0",
                                      "host:65536",
                                      "host:18x",
                                      "http://host:1883",
                                      "mqtt://host:1883/x",
                                      "[]:1883",
                                      NULL};
    for (const char *const *b = bad; *b; b++) {
        ck_assert_msg(load_mqtt_url_parse(*b, host, sizeof(host), &port, err, sizeof(err)) ==
                          TP_CONFIG,
                      "%s", *b);
        char want[128];
        snprintf(want, sizeof(want), "loadgen.mqtt_url \"%s\" is not host:port or mqtt://host:port",
                 *b);
        ck_assert_str_eq(err, want);
    }
    /* a host longer than the caller's buffer */
    char small[4];
    ck_assert_int_eq(load_mqtt_url_parse("abcd:1", small, sizeof(small), &port, err, sizeof(err)),
                     TP_CONFIG);
}
END_TEST

START_TEST(test_fd_check)
{
    char err[512];
    ck_assert_int_eq(load_mqtt_fd_check(19936, 20000, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(load_mqtt_fd_check(19937, 20000, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "19937 MQTT connections need 20001 descriptors, but RLIMIT_NOFILE "
                          "allows 20000 (the hard limit, ulimit -Hn): run several tp-loadgen "
                          "processes with fewer devices (or gateway connections) each");
}
END_TEST

START_TEST(test_judge)
{
    /* MQTT 5 */
    ck_assert_int_eq(load_mqtt_judge(5, 0x00, 0, 1, 0), LOAD_MQTT_ACCEPTED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x10, 0, 1, 0), LOAD_MQTT_ACCEPTED); /* no subscribers */
    ck_assert_int_eq(load_mqtt_judge(5, 0x00, 2, 5, 2), LOAD_MQTT_ACCEPTED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x00, 1, 5, 2), LOAD_MQTT_MISMATCH);
    ck_assert_int_eq(load_mqtt_judge(5, 0x00, 1, 5, 0), LOAD_MQTT_MISMATCH);
    ck_assert_int_eq(load_mqtt_judge(5, 0x83, 0, 3, 3), LOAD_MQTT_ALL_REJECTED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x83, 0, 3, 2), LOAD_MQTT_FAILED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x87, 0, 1, 0), LOAD_MQTT_FAILED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x87, 0, 1, 1), LOAD_MQTT_FAILED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x99, 0, 1, 0), LOAD_MQTT_FAILED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x80, 0, 1, 0), LOAD_MQTT_FAILED);
    ck_assert_int_eq(load_mqtt_judge(5, 0x7f, 0, 1, 0), LOAD_MQTT_ACCEPTED);
    /* 3.1.1: no codes and no counts */
    ck_assert_int_eq(load_mqtt_judge(4, 0x00, 0, 100, 0), LOAD_MQTT_ACCEPTED);
    ck_assert_int_eq(load_mqtt_judge(4, 0x00, 0, 1, 1), LOAD_MQTT_MISMATCH);
}
END_TEST

/* A PUBACK as tp-ingest writes it, decoded by a client-side decoder. */
static void decode_puback(const struct mqtt_packet *in, uint8_t *buf, size_t cap,
                          struct mqtt_packet *out)
{
    size_t len = 0, used = 0;
    ck_assert_int_eq(mqtt_encode(5, in, buf, cap, &len), TP_OK);
    struct mqtt_decoder d;
    mqtt_decoder_init_client(&d, 5, NULL);
    enum mqtt_reason why;
    ck_assert_int_eq(mqtt_decoder_feed(&d, buf, len, &used, out, &why), MQTT_STEP_PACKET);
    ck_assert_uint_eq(used, len);
    ck_assert_int_eq(out->type, MQTT_PUBACK);
}

START_TEST(test_dead_lettered_property)
{
    uint8_t buf[256];
    struct mqtt_packet out;
    struct mqtt_user_prop up[2] = {
        {{(const uint8_t *)"other", 5}, {(const uint8_t *)"9", 1}},
        {{(const uint8_t *)"tp-dead-lettered", 16}, {(const uint8_t *)"12", 2}},
    };
    struct mqtt_packet in = {.type = MQTT_PUBACK};
    in.u.ack.packet_id = 7;
    in.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY);
    in.u.ack.props.user = up;
    in.u.ack.props.n_user = 2;
    decode_puback(&in, buf, sizeof(buf), &out);
    ck_assert_uint_eq(out.u.ack.packet_id, 7);
    ck_assert_uint_eq(load_mqtt_dead_lettered(&out.u.ack.props), 12);
    /* absent, or not a number: 0 */
    in.u.ack.props.n_user = 1;
    decode_puback(&in, buf, sizeof(buf), &out);
    ck_assert_uint_eq(load_mqtt_dead_lettered(&out.u.ack.props), 0);
    up[1].value = (struct mqtt_bin){(const uint8_t *)"1x", 2};
    in.u.ack.props.n_user = 2;
    decode_puback(&in, buf, sizeof(buf), &out);
    ck_assert_uint_eq(load_mqtt_dead_lettered(&out.u.ack.props), 0);
    in.u.ack.props.present = 0;
    in.u.ack.props.n_user = 0;
    decode_puback(&in, buf, sizeof(buf), &out);
    ck_assert_uint_eq(load_mqtt_dead_lettered(&out.u.ack.props), 0);
}
END_TEST

/* Runs last: it lowers this process's hard descriptor limit for good. */
START_TEST(test_descriptor_limit)
{
    char err[512];
    struct load_options o = {.transport = LOAD_MQTT,
                             .mqtt_url = "127.0.0.1:1883",
                             .mqtt_version = 5,
                             .mqtt_inflight = 16,
                             .connections = 500};
    /* the soft limit is raised to the hard one when the connections need it */
    struct rlimit rl = {.rlim_cur = 100, .rlim_max = 1000};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(load_mqtt_prepare(&o, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq(rl.rlim_cur, 1000);
    /* past the hard one: refused, saying why */
    rl.rlim_cur = rl.rlim_max = 300;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_int_eq(load_mqtt_prepare(&o, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "500 MQTT connections need 564 descriptors, but RLIMIT_NOFILE allows "
                          "300 (the hard limit, ulimit -Hn): run several tp-loadgen processes "
                          "with fewer devices (or gateway connections) each");
    /* load_run: one connection per device with device tokens, refused before anything is
     * set up */
    struct load_options run = o;
    run.devices = 500;
    run.connections = 8;
    run.batch = 1;
    run.readings = 500;
    run.secret = "secret-of-at-least-16";
    struct load_result res;
    ck_assert_int_eq(load_run(&run, &res, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "500 MQTT connections need 564 descriptors, but RLIMIT_NOFILE allows "
                          "300 (the hard limit, ulimit -Hn): run several tp-loadgen processes "
                          "with fewer devices (or gateway connections) each");
    ck_assert_ptr_null(res.fleet);
    /* the other options, before the descriptors */
    o.mqtt_url = "nowhere";
    ck_assert_int_eq(load_mqtt_prepare(&o, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(err, "loadgen.mqtt_url \"nowhere\" is not host:port or mqtt://host:port");
}
END_TEST

static Suite *loadgen_mqtt_suite(void)
{
    Suite *s = suite_create("loadgen_mqtt");
    TCase *tc = tcase_create("loadgen_mqtt");
    tcase_add_test(tc, test_url);
    tcase_add_test(tc, test_fd_check);
    tcase_add_test(tc, test_judge);
    tcase_add_test(tc, test_dead_lettered_property);
    tcase_add_test(tc, test_descriptor_limit);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(loadgen_mqtt_suite)
