/*
 * mqtt/codec.c and mqtt/reasons.c: exact bytes of every packet type of MQTT 3.1.1 and 5,
 * encoded and decoded; the bytes mosquitto_pub and mosquitto_sub 2.0.11 sent (golden.h);
 * feeding byte by byte gives what feeding the whole buffer gives; every malformation with
 * its reason; the size limit refused from the fixed header, before the body.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/codec.h"
#include "mqtt/reasons.h"
#include "tests/mqtt/golden.h"
#include "tests/support/check_main.h"

/* ---- helpers ---- */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = h; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        ck_assert_msg(sscanf(p, "%2x", &v) == 1, "bad hex at \"%s\"", p);
        ck_assert(n < cap);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

static const struct mqtt_limits server_limits = {
    .max_packet = 262144,
    .max_connect_packet = 2048,
    .max_topic = 256,
    .max_client_id = 128,
    .topic_alias_max = 0,
    .max_qos = 1,
    .retain_available = false,
    .refuse_will = true,
    .refuse_auth = true,
};

/* One decoding run over a byte stream: the results of each feed, in order. */
#define RUN_MAX 16
struct run {
    unsigned n;
    enum mqtt_step step[RUN_MAX];
    enum mqtt_reason why[RUN_MAX];
    struct mqtt_packet pkt[RUN_MAX];
    uint8_t copy[RUN_MAX][4096]; /* the packet re-encoded */
    size_t copy_len[RUN_MAX];
    size_t consumed; /* bytes taken until the end (or the error) */
};

static uint8_t bufs[RUN_MAX][70000];

/* Feeds data in pieces of `chunk` bytes (0: all at once), giving a buffer when asked. Stops
 * at the first error. Each packet is re-encoded while its bytes are still valid. */
static void run_feed(struct run *r, struct mqtt_decoder *d, const uint8_t *data, size_t len,
                     size_t chunk)
{
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    while (r->n < RUN_MAX) {
        size_t n = len - off;
        if (chunk && n > chunk)
            n = chunk;
        size_t used;
        struct mqtt_packet pkt;
        enum mqtt_reason why = MQTT_R_SUCCESS;
        enum mqtt_step st = mqtt_decoder_feed(d, data + off, n, &used, &pkt, &why);
        ck_assert_uint_le(used, n);
        off += used;
        if (st == MQTT_STEP_MORE) {
            ck_assert_uint_eq(used, n);
            if (off == len)
                break;
            continue;
        }
        if (st == MQTT_STEP_BUFFER) {
            ck_assert_uint_le(mqtt_decoder_body_size(d), sizeof(bufs[0]));
            mqtt_decoder_set_buffer(d, bufs[r->n], mqtt_decoder_body_size(d));
            continue;
        }
        r->step[r->n] = st;
        r->why[r->n] = why;
        if (st == MQTT_STEP_PACKET) {
            r->pkt[r->n] = pkt;
            uint8_t version = d->version ? d->version : 4;
            enum tp_err e =
                mqtt_encode(version, &pkt, r->copy[r->n], sizeof(r->copy[0]), &r->copy_len[r->n]);
            if (e != TP_OK)
                r->copy_len[r->n] = 0;
        }
        r->n++;
        if (st == MQTT_STEP_ERROR)
            break;
        if (off == len)
            break;
    }
    r->consumed = off;
}

static struct run whole, bytewise, split3;

/* Decodes data as one buffer, byte by byte and in 3-byte pieces; all three must agree
 * (steps, reasons, re-encoded packets). Returns the whole-buffer run. */
static const struct run *decode(enum mqtt_side side, uint8_t version, const struct mqtt_limits *lim,
                                const uint8_t *data, size_t len)
{
    struct mqtt_decoder d;
    struct run *runs[3] = {&whole, &bytewise, &split3};
    size_t chunks[3] = {0, 1, 3};
    for (int i = 0; i < 3; i++) {
        if (side == MQTT_CLIENT)
            mqtt_decoder_init_client(&d, version, lim);
        else
            mqtt_decoder_init(&d, side, lim);
        run_feed(runs[i], &d, data, len, chunks[i]);
    }
    for (int i = 1; i < 3; i++) {
        ck_assert_uint_eq(runs[i]->n, whole.n);
        ck_assert_uint_eq(runs[i]->consumed, whole.consumed);
        for (unsigned k = 0; k < whole.n; k++) {
            ck_assert_int_eq(runs[i]->step[k], whole.step[k]);
            ck_assert_int_eq(runs[i]->why[k], whole.why[k]);
            ck_assert_uint_eq(runs[i]->copy_len[k], whole.copy_len[k]);
            ck_assert_mem_eq(runs[i]->copy[k], whole.copy[k], whole.copy_len[k]);
        }
    }
    return &whole;
}

static const struct run *decode_hex(enum mqtt_side side, uint8_t version,
                                    const struct mqtt_limits *lim, const char *hex)
{
    static uint8_t b[70000];
    size_t n = unhex(hex, b, sizeof(b));
    return decode(side, version, lim, b, n);
}

static bool bin_is(struct mqtt_bin b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

/* The CONNECTs the malformation tests start from (mosquitto_pub's, golden.h). */
#define CONNECT4 GOLDEN_PUB311_CONNECT " "
#define CONNECT5 GOLDEN_PUB5_CONNECT " "

/* A stream after a valid CONNECT: the second result is an error with that reason. */
static void refused_after_connect(uint8_t version, const char *hex, enum mqtt_reason why)
{
    char stream[8192];
    snprintf(stream, sizeof(stream), "%s %s", version == 5 ? CONNECT5 : CONNECT4, hex);
    const struct run *r = decode_hex(MQTT_SERVER, 0, &server_limits, stream);
    ck_assert_uint_eq(r->n, 2);
    ck_assert_int_eq(r->step[0], MQTT_STEP_PACKET);
    ck_assert_msg(r->step[1] == MQTT_STEP_ERROR && r->why[1] == why,
                  "v%u \"%s\": step %d reason %s, not %s", version, hex, r->step[1],
                  mqtt_reason_label(r->why[1]), mqtt_reason_label(why));
}

/* Encodes pkt and compares with the exact bytes. */
static void encodes_to(uint8_t version, const struct mqtt_packet *pkt, const char *hex)
{
    uint8_t want[4096], got[4096];
    size_t wn = unhex(hex, want, sizeof(want)), gn;
    ck_assert_int_eq(mqtt_encode(version, pkt, got, sizeof(got), &gn), TP_OK);
    ck_assert_uint_eq(gn, wn);
    ck_assert_mem_eq(got, want, wn);
    /* one byte short: too large, and the size needed */
    ck_assert_int_eq(mqtt_encode(version, pkt, got, wn - 1, &gn), TP_TOO_LARGE);
    ck_assert_uint_eq(gn, wn);
}

/* ---- golden vectors: what real clients sent ---- */

START_TEST(test_golden_pub311)
{
    const struct run *r =
        decode_hex(MQTT_SERVER, 0, &server_limits,
                   GOLDEN_PUB311_CONNECT " " GOLDEN_PUB311_PUBLISH " " GOLDEN_PUB311_DISCONNECT);
    ck_assert_uint_eq(r->n, 3);
    const struct mqtt_connect *c = &r->pkt[0].u.connect;
    ck_assert_int_eq(r->pkt[0].type, MQTT_CONNECT);
    ck_assert_int_eq(r->pkt[0].refusal, MQTT_R_SUCCESS);
    ck_assert_uint_eq(r->pkt[0].size, 47);
    ck_assert_uint_eq(c->level, 4);
    ck_assert(c->clean_start && !c->will && c->has_username && c->has_password);
    ck_assert_uint_eq(c->keep_alive, 60);
    ck_assert(bin_is(c->client_id, "tp-dev-1"));
    ck_assert(bin_is(c->username, "dev-1"));
    ck_assert(bin_is(c->password, "tp1.token-secret"));
    const struct mqtt_publish *p = &r->pkt[1].u.publish;
    ck_assert_int_eq(r->pkt[1].type, MQTT_PUBLISH);
    ck_assert_int_eq(r->pkt[1].refusal, MQTT_R_SUCCESS);
    ck_assert(p->qos == 1 && !p->dup && !p->retain);
    ck_assert_uint_eq(p->packet_id, 1);
    ck_assert(bin_is(p->topic, "twinpipe/v1/dev-1/telemetry"));
    ck_assert_uint_eq(p->payload_len, 5);
    ck_assert_mem_eq(p->payload, "hello", 5);
    ck_assert_int_eq(r->pkt[2].type, MQTT_DISCONNECT);
    /* each re-encodes to the client's exact bytes */
    uint8_t b[256];
    size_t n = unhex(GOLDEN_PUB311_CONNECT, b, sizeof(b));
    ck_assert_uint_eq(r->copy_len[0], n);
    ck_assert_mem_eq(r->copy[0], b, n);
    n = unhex(GOLDEN_PUB311_PUBLISH, b, sizeof(b));
    ck_assert_uint_eq(r->copy_len[1], n);
    ck_assert_mem_eq(r->copy[1], b, n);
    n = unhex(GOLDEN_PUB311_DISCONNECT, b, sizeof(b));
    ck_assert_uint_eq(r->copy_len[2], n);
    ck_assert_mem_eq(r->copy[2], b, n);
}
END_TEST

START_TEST(test_golden_pub5)
{
    const struct run *r =
        decode_hex(MQTT_SERVER, 0, &server_limits,
                   GOLDEN_PUB5_CONNECT " " GOLDEN_PUB5_PUBLISH " " GOLDEN_PUB5_DISCONNECT);
    ck_assert_uint_eq(r->n, 3);
    const struct mqtt_connect *c = &r->pkt[0].u.connect;
    ck_assert_uint_eq(c->level, 5);
    ck_assert(c->clean_start && !c->will);
    ck_assert_uint_eq(c->keep_alive, 60);
    ck_assert_uint_eq(c->props.present, MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM));
    ck_assert_uint_eq(c->props.receive_maximum, 20);
    ck_assert(bin_is(c->client_id, "tp-dev-1"));
    ck_assert(bin_is(c->username, "dev-1"));
    ck_assert(bin_is(c->password, "tp1.token-secret"));
    const struct mqtt_publish *p = &r->pkt[1].u.publish;
    ck_assert(p->qos == 1 && p->packet_id == 1 && p->props.present == 0);
    ck_assert(bin_is(p->topic, "twinpipe/v1/dev-1/telemetry"));
    ck_assert_mem_eq(p->payload, "hello", 5);
    ck_assert_uint_eq(r->pkt[2].u.disconnect.code, 0);
    uint8_t b[256];
    size_t n = unhex(GOLDEN_PUB5_CONNECT, b, sizeof(b));
    ck_assert_uint_eq(r->copy_len[0], n);
    ck_assert_mem_eq(r->copy[0], b, n);
    n = unhex(GOLDEN_PUB5_PUBLISH, b, sizeof(b));
    ck_assert_uint_eq(r->copy_len[1], n);
    ck_assert_mem_eq(r->copy[1], b, n);
}
END_TEST

START_TEST(test_golden_sub)
{
    for (int v5 = 0; v5 <= 1; v5++) {
        const struct run *r = decode_hex(
            MQTT_SERVER, 0, &server_limits,
            v5 ? GOLDEN_SUB5_CONNECT " " GOLDEN_SUB5_SUBSCRIBE " " GOLDEN_SUB5_UNSUBSCRIBE
                                     " " GOLDEN_SUB5_DISCONNECT
               : GOLDEN_SUB311_CONNECT " " GOLDEN_SUB311_SUBSCRIBE " " GOLDEN_SUB311_UNSUBSCRIBE
                                       " " GOLDEN_SUB311_DISCONNECT);
        ck_assert_uint_eq(r->n, 4);
        const struct mqtt_subscribe *s = &r->pkt[1].u.sub;
        ck_assert_int_eq(r->pkt[1].type, MQTT_SUBSCRIBE);
        ck_assert_uint_eq(s->packet_id, 1);
        ck_assert_uint_eq(s->n, 1);
        size_t off = 0;
        struct mqtt_bin f;
        uint8_t o;
        ck_assert(mqtt_subscribe_next(s, &off, &f, &o));
        ck_assert(bin_is(f, "twinpipe/v1/dev-1/config"));
        ck_assert_uint_eq(o, 1);
        ck_assert(!mqtt_subscribe_next(s, &off, &f, &o));
        const struct mqtt_subscribe *u = &r->pkt[2].u.sub;
        ck_assert_int_eq(r->pkt[2].type, MQTT_UNSUBSCRIBE);
        ck_assert_uint_eq(u->packet_id, 2);
        off = 0;
        ck_assert(mqtt_subscribe_next(u, &off, &f, NULL));
        ck_assert(bin_is(f, "twinpipe/v1/dev-1/config"));
        ck_assert(!mqtt_subscribe_next(u, &off, &f, NULL));
        /* mosquitto_sub -W ends an MQTT 5 session with 0x04, disconnect with Will */
        ck_assert_int_eq(r->pkt[3].type, MQTT_DISCONNECT);
        ck_assert_uint_eq(r->pkt[3].u.disconnect.code, v5 ? 0x04 : 0);
    }
}
END_TEST

/* ---- the server's answers, exact bytes, read back by the client side ---- */

START_TEST(test_connack)
{
    struct mqtt_packet p = {.type = MQTT_CONNACK, .u.connack = {.code = 0x00}};
    encodes_to(4, &p, "20 02 00 00");
    p.u.connack.code = mqtt_reason_code4(MQTT_R_BAD_CREDENTIALS);
    encodes_to(4, &p, "20 02 00 04");
    p.u.connack.code = 0;
    p.u.connack.session_present = true;
    encodes_to(4, &p, "20 02 01 00");
    encodes_to(5, &p, "20 03 01 00 00");
    /* the CONNACK of the decision document */
    struct mqtt_props *pr = &p.u.connack.props;
    pr->present =
        MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) | MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_QOS) |
        MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE) | MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
        MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID) | MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE) |
        MQTT_PROP_BIT(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
        MQTT_PROP_BIT(MQTT_PROP_SUB_ID_AVAILABLE) | MQTT_PROP_BIT(MQTT_PROP_SHARED_SUB_AVAILABLE) |
        MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
    pr->receive_maximum = 64;
    pr->maximum_qos = 1;
    pr->maximum_packet_size = 262144;
    pr->assigned_client_id = (struct mqtt_bin){(const uint8_t *)"dev-1", 5};
    pr->server_keep_alive = 1200;
    pr->session_expiry = 3600;
    p.u.connack.session_present = false;
    const char *hex = "20 25 00 00 22"
                      " 11 00000e10"        /* session expiry 3600 */
                      " 12 0005 6465762d31" /* assigned client id */
                      " 13 04b0"            /* server keep alive 1200 */
                      " 21 0040"            /* receive maximum 64 */
                      " 24 01 25 00"        /* maximum qos 1, retain available 0 */
                      " 27 00040000"        /* maximum packet size 262144 */
                      " 28 00 29 00 2a 00";
    encodes_to(5, &p, hex);
    const struct run *r = decode_hex(MQTT_CLIENT, 5, NULL, hex);
    ck_assert_uint_eq(r->n, 1);
    const struct mqtt_connack *c = &r->pkt[0].u.connack;
    ck_assert_uint_eq(c->props.present, pr->present);
    ck_assert_uint_eq(c->props.receive_maximum, 64);
    ck_assert_uint_eq(c->props.maximum_qos, 1);
    ck_assert_uint_eq(c->props.maximum_packet_size, 262144);
    ck_assert_uint_eq(c->props.server_keep_alive, 1200);
    ck_assert_uint_eq(c->props.session_expiry, 3600);
    ck_assert(bin_is(c->props.assigned_client_id, "dev-1"));
    /* refusals: 3.1.1 return codes 1..5, MQTT 5 codes */
    r = decode_hex(MQTT_CLIENT, 4, NULL, "20 02 00 05");
    ck_assert_uint_eq(r->pkt[0].u.connack.code, 5);
    r = decode_hex(MQTT_CLIENT, 5, NULL, "20 03 00 86 00");
    ck_assert_uint_eq(r->pkt[0].u.connack.code, 0x86);
    /* a code 3.1.1 does not have; session present with a refusal; reserved flag bits */
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "20 02 00 06")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 5, NULL, "20 03 00 01 00")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "20 02 01 04")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "20 02 02 00")->why[0], MQTT_R_MALFORMED);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "20 03 00 00 00")->why[0], MQTT_R_MALFORMED);
    /* a property a CONNACK may not carry */
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 5, NULL, "20 05 00 00 02 23 00")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
}
END_TEST

START_TEST(test_puback)
{
    struct mqtt_packet p = {.type = MQTT_PUBACK, .u.ack = {.packet_id = 1}};
    encodes_to(4, &p, "40 02 00 01");
    encodes_to(5, &p, "40 02 00 01"); /* success without properties: the short form */
    p.u.ack.code = mqtt_reason_code(MQTT_R_NOT_AUTHORIZED);
    encodes_to(4, &p, "40 02 00 01"); /* 3.1.1 has no code (the table says close instead) */
    encodes_to(5, &p, "40 03 00 01 87");
    p.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
    p.u.ack.props.reason_string = (struct mqtt_bin){(const uint8_t *)"x", 1};
    encodes_to(5, &p, "40 08 00 01 87 04 1f 0001 78");
    /* partial success: 0x00 with the dead-lettered count as a User Property */
    struct mqtt_user_prop up = {{(const uint8_t *)"tp-dead-lettered", 16},
                                {(const uint8_t *)"2", 1}};
    p.u.ack = (struct mqtt_ack){.packet_id = 0x1234, .props = {.user = &up, .n_user = 1}};
    const char *hex = "40 1a 12 34 00 16 26 0010 74702d646561642d6c657474657265 64 0001 32";
    encodes_to(5, &p, hex);
    /* the client's PUBACK read by the server side, the server's by the client side */
    for (int side = 0; side < 2; side++) {
        char stream[512];
        snprintf(stream, sizeof(stream), "%s %s", side == 0 ? CONNECT5 : "", hex);
        const struct run *r = side == 0 ? decode_hex(MQTT_SERVER, 0, &server_limits, stream)
                                        : decode_hex(MQTT_CLIENT, 5, NULL, stream);
        ck_assert_uint_eq(r->n, side == 0 ? 2 : 1);
        const struct mqtt_packet *pk = &r->pkt[r->n - 1];
        ck_assert_int_eq(pk->type, MQTT_PUBACK);
        const struct mqtt_ack *a = &pk->u.ack;
        ck_assert_uint_eq(a->packet_id, 0x1234);
        ck_assert_uint_eq(a->code, 0);
        ck_assert_uint_eq(a->props.n_user, 1);
        struct mqtt_bin k, v;
        ck_assert(mqtt_props_user(&a->props, 0, &k, &v));
        ck_assert(bin_is(k, "tp-dead-lettered") && bin_is(v, "2"));
        ck_assert(!mqtt_props_user(&a->props, 1, &k, &v));
    }
    /* 3-byte form (code, no properties), code 0x99 */
    const struct run *r = decode_hex(MQTT_CLIENT, 5, NULL, "40 03 00 07 99");
    ck_assert_uint_eq(r->pkt[0].u.ack.code, 0x99);
    ck_assert_uint_eq(r->pkt[0].u.ack.packet_id, 7);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 5, NULL, "40 03 00 07 05")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 5, NULL, "40 02 00 00")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "40 03 00 07 00")->why[0], MQTT_R_MALFORMED);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "40 01 00")->why[0], MQTT_R_MALFORMED);
}
END_TEST

START_TEST(test_suback_unsuback)
{
    uint8_t codes[] = {0x01, 0x87};
    struct mqtt_packet p = {.type = MQTT_SUBACK,
                            .u.suback = {.packet_id = 1, .n = 2, .codes = codes}};
    encodes_to(5, &p, "90 05 00 01 00 01 87");
    codes[1] = mqtt_reason_code4(MQTT_R_SUBSCRIBE_NOT_AUTHORIZED);
    encodes_to(4, &p, "90 04 00 01 01 80");
    const struct run *r = decode_hex(MQTT_CLIENT, 4, NULL, "90 04 00 01 01 80");
    ck_assert_uint_eq(r->pkt[0].u.suback.n, 2);
    ck_assert_uint_eq(r->pkt[0].u.suback.codes[1], 0x80);
    r = decode_hex(MQTT_CLIENT, 5, NULL, "90 05 00 01 00 01 97");
    ck_assert_uint_eq(r->pkt[0].u.suback.codes[1], 0x97);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "90 03 00 01 87")->why[0],
                     MQTT_R_PROTOCOL_ERROR);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 5, NULL, "90 03 00 01 00")->why[0], MQTT_R_MALFORMED);
    uint8_t ok = 0;
    p = (struct mqtt_packet){.type = MQTT_UNSUBACK,
                             .u.suback = {.packet_id = 2, .n = 1, .codes = &ok}};
    encodes_to(4, &p, "b0 02 00 02");
    encodes_to(5, &p, "b0 04 00 02 00 00");
    r = decode_hex(MQTT_CLIENT, 5, NULL, "b0 04 00 02 00 11");
    ck_assert_uint_eq(r->pkt[0].u.suback.codes[0], 0x11);
    r = decode_hex(MQTT_CLIENT, 4, NULL, "b0 02 00 02");
    ck_assert_uint_eq(r->pkt[0].u.suback.packet_id, 2);
    ck_assert_uint_eq(r->pkt[0].u.suback.n, 0);
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "b0 03 00 02 00")->why[0], MQTT_R_MALFORMED);
}
END_TEST

START_TEST(test_ping_disconnect)
{
    struct mqtt_packet p = {.type = MQTT_PINGREQ};
    encodes_to(4, &p, "c0 00");
    encodes_to(5, &p, "c0 00");
    p.type = MQTT_PINGRESP;
    encodes_to(4, &p, "d0 00");
    p = (struct mqtt_packet){.type = MQTT_DISCONNECT};
    encodes_to(4, &p, "e0 00");
    encodes_to(5, &p, "e0 00");
    p.u.disconnect.code = mqtt_reason_code(MQTT_R_SHUTTING_DOWN);
    encodes_to(4, &p, "e0 00");
    encodes_to(5, &p, "e0 01 8b");
    p.u.disconnect.props.present = MQTT_PROP_BIT(MQTT_PROP_SERVER_REFERENCE);
    p.u.disconnect.props.server_reference = (struct mqtt_bin){(const uint8_t *)"b", 1};
    encodes_to(5, &p, "e0 06 8b 04 1c 0001 62");
    const struct run *r = decode_hex(MQTT_CLIENT, 5, NULL, "e0 06 8b 04 1c 0001 62 d0 00");
    ck_assert_uint_eq(r->n, 2);
    ck_assert_uint_eq(r->pkt[0].u.disconnect.code, 0x8b);
    ck_assert(bin_is(r->pkt[0].u.disconnect.props.server_reference, "b"));
    ck_assert_int_eq(r->pkt[1].type, MQTT_PINGRESP);
    /* a 3.1.1 server sends no DISCONNECT */
    ck_assert_int_eq(decode_hex(MQTT_CLIENT, 4, NULL, "e0 00")->why[0], MQTT_R_PROTOCOL_ERROR);
    /* server side: PINGREQ, then DISCONNECT with a reason and session expiry */
    r = decode_hex(MQTT_SERVER, 0, &server_limits, CONNECT5 " c0 00 e0 07 00 05 11 0000003c");
    ck_assert_uint_eq(r->n, 3);
    ck_assert_int_eq(r->pkt[1].type, MQTT_PINGREQ);
    ck_assert_uint_eq(r->pkt[2].u.disconnect.props.session_expiry, 60);
}
END_TEST

/* The client side's packets, as tp-loadgen will send them; read by the server side. */
START_TEST(test_client_packets)
{
    for (uint8_t v = 4; v <= 5; v++) {
        struct mqtt_packet c = {.type = MQTT_CONNECT,
                                .u.connect = {.clean_start = true,
                                              .keep_alive = 30,
                                              .client_id = {(const uint8_t *)"d1", 2},
                                              .has_username = true,
                                              .username = {(const uint8_t *)"d1", 2},
                                              .has_password = true,
                                              .password = {(const uint8_t *)"tk", 2}}};
        if (v == 5) {
            c.u.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
            c.u.connect.props.session_expiry = 600;
            encodes_to(5, &c,
                       "10 1c 0004 4d515454 05 c2 001e 05 11 00000258 0002 6431 0002 6431 0002 "
                       "746b");
        } else {
            encodes_to(4, &c, "10 16 0004 4d515454 04 c2 001e 0002 6431 0002 6431 0002 746b");
        }
        uint8_t topic[] = "twinpipe/v1/d1/telemetry";
        struct mqtt_packet pub = {.type = MQTT_PUBLISH,
                                  .u.publish = {.qos = 1,
                                                .packet_id = 9,
                                                .topic = {topic, sizeof(topic) - 1},
                                                .payload = (const uint8_t *)"\x0a\x00",
                                                .payload_len = 2}};
        struct mqtt_bin filter = {(const uint8_t *)"twinpipe/v1/d1/config", 21};
        uint8_t opt = 1;
        struct mqtt_packet sub = {
            .type = MQTT_SUBSCRIBE,
            .u.sub = {.packet_id = 3, .n = 1, .filters = &filter, .options = &opt}};
        struct mqtt_packet unsub = {.type = MQTT_UNSUBSCRIBE,
                                    .u.sub = {.packet_id = 4, .n = 1, .filters = &filter}};
        struct mqtt_packet ack = {.type = MQTT_PUBACK, .u.ack = {.packet_id = 5}};
        struct mqtt_packet ping = {.type = MQTT_PINGREQ};
        struct mqtt_packet bye = {.type = MQTT_DISCONNECT};
        const struct mqtt_packet *all[] = {&c, &pub, &sub, &unsub, &ack, &ping, &bye};
        static uint8_t stream[2048];
        size_t off = 0, n;
        for (size_t i = 0; i < 7; i++) {
            ck_assert_int_eq(mqtt_encode(v, all[i], stream + off, sizeof(stream) - off, &n), TP_OK);
            off += n;
        }
        const struct run *r = decode(MQTT_SERVER, 0, &server_limits, stream, off);
        ck_assert_uint_eq(r->n, 7);
        ck_assert_uint_eq(r->consumed, off);
        size_t at = 0;
        for (size_t i = 0; i < 7; i++) {
            ck_assert_int_eq(r->step[i], MQTT_STEP_PACKET);
            ck_assert_int_eq(r->pkt[i].type, all[i]->type);
            /* re-encoded: the same bytes */
            ck_assert_msg(r->copy_len[i] == r->pkt[i].size, "v%u packet %zu type %d: %zu, not %u",
                          v, i, r->pkt[i].type, r->copy_len[i], r->pkt[i].size);
            ck_assert_mem_eq(r->copy[i], stream + at, r->copy_len[i]);
            at += r->pkt[i].size;
        }
        ck_assert_uint_eq(r->pkt[0].u.connect.level, v);
        ck_assert_uint_eq(r->pkt[1].u.publish.packet_id, 9);
        ck_assert_uint_eq(r->pkt[1].u.publish.payload_len, 2);
        ck_assert_uint_eq(r->pkt[2].u.sub.packet_id, 3);
        ck_assert_uint_eq(r->pkt[3].u.sub.packet_id, 4);
        ck_assert_uint_eq(r->pkt[4].u.ack.packet_id, 5);
    }
}
END_TEST

/* The server's PUBLISH to a device (config messages), read by the client side. */
START_TEST(test_server_publish)
{
    uint8_t topic[] = "twinpipe/v1/d1/config";
    struct mqtt_packet p = {.type = MQTT_PUBLISH,
                            .u.publish = {.qos = 0,
                                          .topic = {topic, sizeof(topic) - 1},
                                          .payload = (const uint8_t *)"x",
                                          .payload_len = 1}};
    encodes_to(4, &p, "30 18 0015 7477696e706970652f76312f64312f636f6e666967 78");
    p.u.publish.qos = 1;
    p.u.publish.dup = true;
    p.u.publish.packet_id = 0x0102;
    p.u.publish.props.present =
        MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID) | MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
    p.u.publish.props.subscription_id = 200;
    p.u.publish.props.message_expiry = 10;
    const char *hex = "3a 23 0015 7477696e706970652f76312f64312f636f6e666967 0102"
                      " 08 02 0000000a 0b c801 78";
    encodes_to(5, &p, hex);
    const struct run *r = decode_hex(MQTT_CLIENT, 5, NULL, hex);
    const struct mqtt_publish *q = &r->pkt[0].u.publish;
    ck_assert(q->dup && q->qos == 1 && q->packet_id == 0x0102);
    ck_assert_uint_eq(q->props.subscription_id, 200);
    ck_assert_uint_eq(q->props.n_subscription_id, 1);
    ck_assert_uint_eq(q->props.message_expiry, 10);
    /* several Subscription Identifiers may come in a PUBLISH, not in a SUBSCRIBE */
    r = decode_hex(MQTT_CLIENT, 5, NULL, "30 0c 0003 612f62 06 0b 01 0b 02 0b 03");
    ck_assert_int_eq(r->step[0], MQTT_STEP_PACKET);
    ck_assert_uint_eq(r->pkt[0].u.publish.props.subscription_id, 1);
    ck_assert_uint_eq(r->pkt[0].u.publish.props.n_subscription_id, 3);
    refused_after_connect(5, "82 0b 0001 04 0b 01 0b 02 0001 61 00", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "82 09 0001 02 0b 00 0001 61 00", MQTT_R_PROTOCOL_ERROR);
    r = decode_hex(MQTT_SERVER, 0, &server_limits, CONNECT5 " 82 09 0001 02 0b 07 0001 61 00");
    ck_assert_uint_eq(r->pkt[1].u.sub.props.subscription_id, 7);
}
END_TEST

/* ---- remaining length and size limits ---- */

static uint8_t big[2100000];

/* A QoS 0 PUBLISH "t" with remaining length rl, and its header length. */
static size_t publish_of(uint32_t rl, uint8_t *out, size_t *hdr)
{
    out[0] = 0x30;
    size_t n = 1;
    uint32_t v = rl;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    *hdr = n;
    out[n] = 0, out[n + 1] = 1, out[n + 2] = 't';
    memset(out + n + 3, 'p', rl - 3);
    return n + rl;
}

START_TEST(test_remaining_length)
{
    static const uint32_t edges[] = {127, 128, 16383, 16384, 2097151};
    static const size_t hdrs[] = {2, 3, 3, 4, 4};
    struct mqtt_limits lim = server_limits;
    lim.max_packet = 0; /* the spec's maximum */
    for (size_t i = 0; i < 5; i++) {
        size_t h, n = publish_of(edges[i], big + 100, &h);
        ck_assert_uint_eq(h, hdrs[i]);
        uint8_t con[64];
        size_t cn = unhex(GOLDEN_PUB311_CONNECT, con, sizeof(con));
        memcpy(big + 100 - cn, con, cn);
        struct mqtt_decoder d;
        mqtt_decoder_init(&d, MQTT_SERVER, &lim);
        size_t used;
        struct mqtt_packet pkt;
        enum mqtt_reason why;
        ck_assert_int_eq(mqtt_decoder_feed(&d, big + 100 - cn, cn, &used, &pkt, &why),
                         MQTT_STEP_PACKET);
        /* whole: in place */
        ck_assert_int_eq(mqtt_decoder_feed(&d, big + 100, n, &used, &pkt, &why), MQTT_STEP_PACKET);
        ck_assert_uint_eq(used, n);
        ck_assert_uint_eq(pkt.size, n);
        ck_assert_uint_eq(pkt.u.publish.payload_len, edges[i] - 3);
        ck_assert_ptr_eq(pkt.u.publish.payload, big + 100 + h + 3);
        /* header alone: the body size is known before any body byte */
        ck_assert_int_eq(mqtt_decoder_feed(&d, big + 100, h, &used, &pkt, &why), MQTT_STEP_BUFFER);
        ck_assert_uint_eq(used, h);
        ck_assert_uint_eq(mqtt_decoder_body_size(&d), edges[i]);
        static uint8_t body[2100000];
        mqtt_decoder_set_buffer(&d, body, sizeof(body));
        ck_assert(mqtt_decoder_busy(&d));
        ck_assert_int_eq(mqtt_decoder_feed(&d, big + 100 + h, n - h - 1, &used, &pkt, &why),
                         MQTT_STEP_MORE);
        ck_assert_int_eq(mqtt_decoder_feed(&d, big + 100 + n - 1, 1, &used, &pkt, &why),
                         MQTT_STEP_PACKET);
        ck_assert_ptr_eq(pkt.u.publish.payload, body + 3);
        ck_assert_uint_eq(pkt.u.publish.payload_len, edges[i] - 3);
        ck_assert(!mqtt_decoder_busy(&d));
    }
    /* the largest remaining length, 268,435,455: known from 5 bytes, nothing buffered */
    struct mqtt_decoder d;
    mqtt_decoder_init(&d, MQTT_SERVER, &lim);
    uint8_t con[64], h5[] = {0x30, 0xff, 0xff, 0xff, 0x7f};
    size_t cn = unhex(GOLDEN_PUB311_CONNECT, con, sizeof(con)), used;
    struct mqtt_packet pkt;
    enum mqtt_reason why;
    ck_assert_int_eq(mqtt_decoder_feed(&d, con, cn, &used, &pkt, &why), MQTT_STEP_PACKET);
    ck_assert_int_eq(mqtt_decoder_feed(&d, h5, 5, &used, &pkt, &why), MQTT_STEP_BUFFER);
    ck_assert_uint_eq(mqtt_decoder_body_size(&d), MQTT_REMAINING_MAX);
    /* a fifth length byte, an overlong length: malformed */
    refused_after_connect(4, "30 ff ff ff ff 01", MQTT_R_MALFORMED);
    refused_after_connect(5, "30 80 80 80 80 00", MQTT_R_MALFORMED);
    refused_after_connect(4, "c0 80 00", MQTT_R_MALFORMED);
    refused_after_connect(5, "30 85 00 0001 74 00 00 00", MQTT_R_MALFORMED);
}
END_TEST

START_TEST(test_packet_too_large)
{
    struct mqtt_limits lim = server_limits;
    lim.max_packet = 1000;
    for (uint8_t v = 4; v <= 5; v++) {
        uint8_t con[64];
        size_t cn = unhex(v == 5 ? GOLDEN_PUB5_CONNECT : GOLDEN_PUB311_CONNECT, con, sizeof(con));
        /* exactly max_packet (header 3 + remaining 997): accepted */
        size_t h, n = publish_of(997 - (v == 5), big + 100, &h);
        if (v == 5) { /* the empty property length before the payload */
            memmove(big + 100 + h + 4, big + 100 + h + 3, n - h - 3);
            big[100 + h + 3] = 0;
            big[100 + 1] = (uint8_t)((997 & 0x7f) | 0x80), big[100 + 2] = 997 >> 7;
            n++;
        }
        ck_assert_uint_eq(n, 1000);
        memcpy(big + 100 - cn, con, cn);
        const struct run *r = decode(MQTT_SERVER, 0, &lim, big + 100 - cn, cn + n);
        ck_assert_uint_eq(r->n, 2);
        ck_assert_int_eq(r->step[1], MQTT_STEP_PACKET);
        ck_assert_uint_eq(r->pkt[1].size, 1000);
        /* one more: refused from the fixed header alone, before any body byte */
        struct mqtt_decoder d;
        mqtt_decoder_init(&d, MQTT_SERVER, &lim);
        size_t used;
        struct mqtt_packet pkt;
        enum mqtt_reason why;
        ck_assert_int_eq(mqtt_decoder_feed(&d, con, cn, &used, &pkt, &why), MQTT_STEP_PACKET);
        uint8_t hdr[] = {0x30, (998 & 0x7f) | 0x80, 998 >> 7, 0, 1, 't'};
        ck_assert_int_eq(mqtt_decoder_feed(&d, hdr, sizeof(hdr), &used, &pkt, &why),
                         MQTT_STEP_ERROR);
        ck_assert_int_eq(why, MQTT_R_PACKET_TOO_LARGE);
        ck_assert_uint_eq(used, 3); /* the header only */
        ck_assert(d.buf == NULL);
        /* and the decoder stays refused */
        ck_assert_int_eq(mqtt_decoder_feed(&d, hdr + 3, 3, &used, &pkt, &why), MQTT_STEP_ERROR);
        ck_assert_uint_eq(used, 0);
        ck_assert_int_eq(why, MQTT_R_PACKET_TOO_LARGE);
    }
    /* CONNECT: max_connect_packet, n and n+1 */
    lim.max_connect_packet = 47;
    ck_assert_int_eq(decode_hex(MQTT_SERVER, 0, &lim, GOLDEN_PUB311_CONNECT)->step[0],
                     MQTT_STEP_PACKET);
    lim.max_connect_packet = 46;
    const struct run *r = decode_hex(MQTT_SERVER, 0, &lim, GOLDEN_PUB311_CONNECT);
    ck_assert_int_eq(r->why[0], MQTT_R_PACKET_TOO_LARGE);
    ck_assert_uint_eq(r->consumed, 2);
}
END_TEST

/* ---- malformations and protocol errors, server side ---- */

START_TEST(test_connect_refusals)
{
    const struct run *r;
    /* not CONNECT first; CONNECT twice */
    r = decode_hex(MQTT_SERVER, 0, &server_limits, "c0 00");
    ck_assert_int_eq(r->why[0], MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(4, GOLDEN_PUB311_CONNECT, MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, GOLDEN_PUB5_CONNECT, MQTT_R_PROTOCOL_ERROR);
    struct {
        const char *hex;
        enum mqtt_reason why;
    } cases[] = {
        /* protocol level 3 (3.1 "MQIsdp"), and 6 under "MQTT": answered as 3.1.1 */
        {"10 10 0006 4d5149736470 03 02 003c 0002 6331", MQTT_R_UNSUPPORTED_PROTOCOL},
        {"10 0e 0004 4d515454 06 02 003c 0002 6331", MQTT_R_UNSUPPORTED_PROTOCOL},
        /* another protocol name */
        {"10 0e 0004 4d515458 04 02 003c 0002 6331", MQTT_R_MALFORMED},
        /* reserved connect flag */
        {"10 0e 0004 4d515454 04 03 003c 0002 6331", MQTT_R_MALFORMED},
        /* will QoS or retain without a will; will QoS 3 */
        {"10 0e 0004 4d515454 04 0a 003c 0002 6331", MQTT_R_MALFORMED},
        {"10 0e 0004 4d515454 04 22 003c 0002 6331", MQTT_R_MALFORMED},
        {"10 14 0004 4d515454 04 1e 003c 0002 6331 0001 74 0001 78", MQTT_R_MALFORMED},
        /* 3.1.1: a password without a username */
        {"10 12 0004 4d515454 04 42 003c 0002 6331 0002 7077", MQTT_R_MALFORMED},
        /* a byte after the last field; a field past the end */
        {"10 0f 0004 4d515454 04 02 003c 0002 6331 00", MQTT_R_MALFORMED},
        {"10 0e 0004 4d515454 04 02 003c 0003 6331", MQTT_R_MALFORMED},
        {"10 08 0004 4d515454 04 02", MQTT_R_MALFORMED},
        /* client id: invalid UTF-8 (overlong NUL, surrogate, NUL) */
        {"10 0e 0004 4d515454 04 02 003c 0002 c080", MQTT_R_MALFORMED},
        {"10 0f 0004 4d515454 04 02 003c 0003 eda080", MQTT_R_MALFORMED},
        {"10 0e 0004 4d515454 04 02 003c 0002 6300", MQTT_R_MALFORMED},
        /* a will topic with a wildcard */
        {"10 14 0004 4d515454 04 06 003c 0002 6331 0001 23 0001 78", MQTT_R_MALFORMED},
        /* MQTT 5: a property twice, a property of another packet, an unknown one, a
         * value out of range, a property length past the packet */
        {"10 15 0004 4d515454 05 02 003c 06 21 0001 21 0002 0002 6331", MQTT_R_PROTOCOL_ERROR},
        {"10 12 0004 4d515454 05 02 003c 03 23 0001 0002 6331", MQTT_R_PROTOCOL_ERROR},
        {"10 10 0004 4d515454 05 02 003c 01 04 0002 6331", MQTT_R_MALFORMED},
        {"10 12 0004 4d515454 05 02 003c 03 21 0000 0002 6331", MQTT_R_PROTOCOL_ERROR},
        {"10 11 0004 4d515454 05 02 003c 02 17 02 0002 6331", MQTT_R_PROTOCOL_ERROR},
        {"10 14 0004 4d515454 05 02 003c 05 27 00000000 0002 6331", MQTT_R_PROTOCOL_ERROR},
        {"10 10 0004 4d515454 05 02 003c 09 21 0001 0002 6331", MQTT_R_MALFORMED},
        {"10 0d 0004 4d515454 05 02 003c 02 21 00", MQTT_R_MALFORMED},
        /* Authentication Data without an Authentication Method */
        {"10 13 0004 4d515454 05 02 003c 04 16 0001 00 0002 6331", MQTT_R_PROTOCOL_ERROR},
        /* a user property whose value is not UTF-8 */
        {"10 17 0004 4d515454 05 02 003c 08 26 0001 61 0002 ff61 0002 6331", MQTT_R_MALFORMED},
        /* will properties: one only a PUBLISH carries */
        {"10 19 0004 4d515454 05 06 003c 00 0002 6331 03 23 0001 0001 74 0001 78",
         MQTT_R_PROTOCOL_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = decode_hex(MQTT_SERVER, 0, &server_limits, cases[i].hex);
        ck_assert_msg(r->n == 1 && r->step[0] == MQTT_STEP_ERROR && r->why[0] == cases[i].why,
                      "case %zu: step %d %s, not %s", i, r->step[0], mqtt_reason_label(r->why[0]),
                      mqtt_reason_label(cases[i].why));
    }
    /* well-formed CONNECTs the limits refuse: the packet comes with its refusal, the version
     * is known (the CONNACK is of that version), and nothing after it is read */
    struct {
        const char *hex;
        enum mqtt_reason why;
        uint8_t version;
    } refused[] = {
        /* an empty client id with clean session 0 */
        {"10 0c 0004 4d515454 04 00 003c 0000 c0 00", MQTT_R_CLIENT_ID_INVALID, 4},
        /* a client id outside [A-Za-z0-9._:-] */
        {"10 0e 0004 4d515454 05 02 003c 00 0001 2f c0 00", MQTT_R_CLIENT_ID_INVALID, 5},
        /* a will (MQTT 5: with its properties) */
        {"10 14 0004 4d515454 04 06 003c 0002 6331 0001 74 0001 78 c0 00", MQTT_R_WILL_REFUSED, 4},
        {"10 1a 0004 4d515454 05 2e 003c 00 0002 6331 05 18 0000000a 0001 74 0000 c0 00",
         MQTT_R_WILL_REFUSED, 5},
        /* an authentication method */
        {"10 16 0004 4d515454 05 02 003c 07 15 0004 4b455931 0002 6331 c0 00",
         MQTT_R_BAD_AUTH_METHOD, 5},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        r = decode_hex(MQTT_SERVER, 0, &server_limits, refused[i].hex);
        ck_assert_uint_eq(r->n, 2);
        ck_assert_int_eq(r->step[0], MQTT_STEP_PACKET);
        ck_assert_int_eq(r->pkt[0].refusal, refused[i].why);
        ck_assert_int_eq(r->why[0], refused[i].why);
        ck_assert_uint_eq(r->pkt[0].u.connect.level, refused[i].version);
        ck_assert_int_eq(r->step[1], MQTT_STEP_ERROR);
        ck_assert_int_eq(r->why[1], refused[i].why);
    }
    /* the same limits off: accepted, the will read */
    struct mqtt_limits open = {.max_qos = 1};
    r = decode_hex(MQTT_SERVER, 0, &open,
                   "10 1a 0004 4d515454 05 2e 003c 00 0002 6331 05 18 0000000a 0001 74 0000 c0 00");
    ck_assert_uint_eq(r->n, 2);
    const struct mqtt_connect *c = &r->pkt[0].u.connect;
    ck_assert(c->will && c->will_retain && c->will_qos == 1);
    ck_assert_uint_eq(c->will_props.will_delay, 10);
    ck_assert(bin_is(c->will_topic, "t"));
    ck_assert_uint_eq(c->will_payload.len, 0);
    ck_assert_int_eq(r->pkt[1].type, MQTT_PINGREQ);
    r = decode_hex(MQTT_SERVER, 0, &open, "10 0c 0004 4d515454 04 02 003c 0000");
    ck_assert_int_eq(r->pkt[0].refusal, MQTT_R_SUCCESS); /* empty id, clean session 1 */
    r = decode_hex(MQTT_SERVER, 0, &open, "10 0e 0004 4d515454 05 02 003c 00 0001 2f");
    ck_assert_int_eq(r->pkt[0].refusal, MQTT_R_SUCCESS);
    /* client id at max_client_id and one over */
    struct mqtt_limits lim = server_limits;
    lim.max_client_id = 2;
    ck_assert_int_eq(decode_hex(MQTT_SERVER, 0, &lim, "10 0e 0004 4d515454 04 02 003c 0002 6331")
                         ->pkt[0]
                         .refusal,
                     MQTT_R_SUCCESS);
    ck_assert_int_eq(decode_hex(MQTT_SERVER, 0, &lim, "10 0f 0004 4d515454 04 02 003c 0003 633132")
                         ->pkt[0]
                         .refusal,
                     MQTT_R_CLIENT_ID_INVALID);
}
END_TEST

START_TEST(test_publish_refusals)
{
    for (uint8_t v = 4; v <= 5; v++) {
        const char *p0 = v == 5 ? " 00" : ""; /* the empty property length of MQTT 5 */
        char h[512];
        /* QoS 2, Retain: from the fixed header */
        snprintf(h, sizeof(h), "34 06 0001 74 0001%s 78", p0);
        refused_after_connect(v, h, MQTT_R_QOS_NOT_SUPPORTED);
        refused_after_connect(v, "31 04 0001 74 78", MQTT_R_RETAIN_NOT_SUPPORTED);
        /* QoS 3, DUP with QoS 0 */
        refused_after_connect(v, "36 04 0001 74 78", MQTT_R_MALFORMED);
        refused_after_connect(v, "38 04 0001 74 78", MQTT_R_MALFORMED);
        /* packet id 0 */
        snprintf(h, sizeof(h), "32 06 0001 74 0000%s 78", p0);
        h[4] = v == 5 ? '7' : '6';
        refused_after_connect(v, h, MQTT_R_PROTOCOL_ERROR);
        /* a topic that is not UTF-8, holds NUL or a surrogate; past the packet */
        refused_after_connect(v, "30 04 0002 c1bf", MQTT_R_MALFORMED);
        refused_after_connect(v, "30 05 0003 610062", MQTT_R_MALFORMED);
        refused_after_connect(v, "30 05 0003 edbfbf", MQTT_R_MALFORMED);
        refused_after_connect(v, "30 03 0002 61", MQTT_R_MALFORMED);
        /* an empty topic without an alias */
        refused_after_connect(v, v == 5 ? "30 03 0000 00" : "30 02 0000",
                              v == 5 ? MQTT_R_PROTOCOL_ERROR : MQTT_R_MALFORMED);
        /* wildcards and a topic over max_topic: the packet comes, refused, the next one too */
        snprintf(h, sizeof(h), "32 %02x 0003 612f23 0005%s 78   c0 00", v == 5 ? 9 : 8, p0);
        char s[2048];
        snprintf(s, sizeof(s), "%s %s", v == 5 ? CONNECT5 : CONNECT4, h);
        const struct run *r = decode_hex(MQTT_SERVER, 0, &server_limits, s);
        ck_assert_uint_eq(r->n, 3);
        ck_assert_int_eq(r->step[1], MQTT_STEP_PACKET);
        ck_assert_int_eq(r->pkt[1].refusal, MQTT_R_TOPIC_NAME_INVALID);
        ck_assert_uint_eq(r->pkt[1].u.publish.packet_id, 5);
        ck_assert_int_eq(r->pkt[2].type, MQTT_PINGREQ);
        struct mqtt_limits lim = server_limits;
        lim.max_topic = 3;
        snprintf(s, sizeof(s), "%s 30 %02x 0003 612f62%s 30 %02x 0004 612f6263%s",
                 v == 5 ? CONNECT5 : CONNECT4, 5 + (v == 5), p0, 6 + (v == 5), p0);
        r = decode_hex(MQTT_SERVER, 0, &lim, s);
        ck_assert_uint_eq(r->n, 3);
        ck_assert_int_eq(r->pkt[1].refusal, MQTT_R_SUCCESS);
        ck_assert_int_eq(r->pkt[2].refusal, MQTT_R_TOPIC_NAME_INVALID);
    }
    /* MQTT 5 properties of a PUBLISH */
    refused_after_connect(5, "30 07 0001 74 03 23 0001", MQTT_R_TOPIC_ALIAS_INVALID);
    refused_after_connect(5, "30 07 0000 03 23 0000 78", MQTT_R_TOPIC_ALIAS_INVALID);
    refused_after_connect(5, "30 08 0001 74 04 01 00 01 01", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "30 06 0001 74 02 01 02", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "30 09 0001 74 05 11 0000000a", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "30 06 0001 74 02 2b 00", MQTT_R_MALFORMED);
    refused_after_connect(5, "30 06 0001 74 02 02 00", MQTT_R_MALFORMED);
    refused_after_connect(5, "30 08 0001 74 04 0b 80 80 00", MQTT_R_MALFORMED);
    refused_after_connect(5, "30 09 0001 74 05 0b ff ff ff ff", MQTT_R_MALFORMED);
    refused_after_connect(5, "30 04 0001 74 05", MQTT_R_MALFORMED);
    /* a Subscription Identifier from a client */
    refused_after_connect(5, "30 07 0001 74 02 0b 01 78", MQTT_R_PROTOCOL_ERROR);
    /* a Response Topic with a wildcard, or empty */
    refused_after_connect(5, "30 09 0001 74 05 08 0002 612b", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "30 07 0001 74 03 08 0000", MQTT_R_PROTOCOL_ERROR);
    /* an alias within the announced maximum, and user properties in order */
    struct mqtt_limits lim = server_limits;
    lim.topic_alias_max = 4;
    const struct run *r = decode_hex(
        MQTT_SERVER, 0, &lim,
        CONNECT5 " 30 17 0000 13 23 0004 26 0001 61 0001 31 26 0001 61 0001 32 01 01 78");
    ck_assert_uint_eq(r->n, 2);
    const struct mqtt_publish *p = &r->pkt[1].u.publish;
    ck_assert_int_eq(r->pkt[1].refusal, MQTT_R_SUCCESS);
    ck_assert_uint_eq(p->props.topic_alias, 4);
    ck_assert_uint_eq(p->props.payload_format, 1);
    ck_assert_uint_eq(p->props.n_user, 2);
    struct mqtt_bin k, v;
    ck_assert(mqtt_props_user(&p->props, 1, &k, &v));
    ck_assert(bin_is(k, "a") && bin_is(v, "2"));
    ck_assert_uint_eq(p->payload_len, 1);
}
END_TEST

START_TEST(test_other_refusals)
{
    for (uint8_t v = 4; v <= 5; v++) {
        const char *p0 = v == 5 ? "00 " : "";
        char h[256];
        /* reserved flag bits; packet type 0 */
        refused_after_connect(v, "c1 00", MQTT_R_MALFORMED);
        refused_after_connect(v, "80 06 0001 0001 61 00", MQTT_R_MALFORMED);
        refused_after_connect(v, "a0 05 0001 0001 61", MQTT_R_MALFORMED);
        refused_after_connect(v, "e2 00", MQTT_R_MALFORMED);
        refused_after_connect(v, "00 00", MQTT_R_MALFORMED);
        /* packets a client does not send, or of QoS 2 */
        refused_after_connect(v, "20 02 00 00", MQTT_R_PROTOCOL_ERROR);
        refused_after_connect(v, "62 02 00 01", MQTT_R_PROTOCOL_ERROR);
        refused_after_connect(v, "50 02 00 01", MQTT_R_PROTOCOL_ERROR);
        refused_after_connect(v, "90 03 00 01 00", MQTT_R_PROTOCOL_ERROR);
        refused_after_connect(v, "d0 00", MQTT_R_PROTOCOL_ERROR);
        refused_after_connect(v, "f0 00", v == 5 ? MQTT_R_PROTOCOL_ERROR : MQTT_R_MALFORMED);
        /* a PINGREQ with a body */
        refused_after_connect(v, "c0 01 00", MQTT_R_MALFORMED);
        /* SUBSCRIBE: packet id 0, no filter, an empty filter, options out of range, a
         * filter past the end */
        snprintf(h, sizeof(h), "82 %02x 0000 %s0001 61 00", 6 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_PROTOCOL_ERROR);
        snprintf(h, sizeof(h), "82 %02x 0001 %s", 2 + (v == 5), p0);
        refused_after_connect(v, h, v == 5 ? MQTT_R_PROTOCOL_ERROR : MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "82 %02x 0001 %s0000 00", 5 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "82 %02x 0001 %s0001 61 03", 6 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "82 %02x 0001 %s0001 61 c0", 6 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "82 %02x 0001 %s0001 61", 5 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "82 %02x 0001 %s0002 61 00", 6 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_MALFORMED);
        /* UNSUBSCRIBE: no filter, an empty one, packet id 0 */
        snprintf(h, sizeof(h), "a2 %02x 0001 %s", 2 + (v == 5), p0);
        refused_after_connect(v, h, v == 5 ? MQTT_R_PROTOCOL_ERROR : MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "a2 %02x 0001 %s0000", 4 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_MALFORMED);
        snprintf(h, sizeof(h), "a2 %02x 0000 %s0001 61", 5 + (v == 5), p0);
        refused_after_connect(v, h, MQTT_R_PROTOCOL_ERROR);
        /* PUBACK from the client: packet id 0, a short one */
        refused_after_connect(v, "40 02 00 00", MQTT_R_PROTOCOL_ERROR);
        refused_after_connect(v, "40 01 00", MQTT_R_MALFORMED);
    }
    /* 3.1.1: options bits 2..7 are reserved (MQTT 5: No Local, Retain As Published,
     * Retain Handling), a DISCONNECT has no body */
    refused_after_connect(4, "82 06 0001 0001 61 04", MQTT_R_MALFORMED);
    refused_after_connect(4, "e0 01 00", MQTT_R_MALFORMED);
    /* MQTT 5: Retain Handling 3, a SUBSCRIBE property it may not carry, an invalid
     * DISCONNECT code, a DISCONNECT property of another packet */
    refused_after_connect(5, "82 07 0001 00 0001 61 30", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "82 0a 0001 03 23 0001 0001 61 00", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "e0 01 01", MQTT_R_PROTOCOL_ERROR);
    refused_after_connect(5, "e0 04 00 02 21 01", MQTT_R_PROTOCOL_ERROR);
    /* MQTT 5 subscription options are read: No Local, RAP, Retain Handling 2 */
    const struct run *r =
        decode_hex(MQTT_SERVER, 0, &server_limits, CONNECT5 " 82 0b 0001 00 0001 61 2d 0001 62 00");
    ck_assert_uint_eq(r->pkt[1].u.sub.n, 2);
    size_t off = 0;
    struct mqtt_bin f;
    uint8_t o;
    ck_assert(mqtt_subscribe_next(&r->pkt[1].u.sub, &off, &f, &o));
    ck_assert(bin_is(f, "a") && o == 0x2d);
    ck_assert(mqtt_subscribe_next(&r->pkt[1].u.sub, &off, &f, &o));
    ck_assert(bin_is(f, "b") && o == 0);
    /* the topic filter's syntax is the transport's check (SUBACK 0x8F per filter) */
    r = decode_hex(MQTT_SERVER, 0, &server_limits, CONNECT4 " 82 07 0001 0002 612b 00");
    ck_assert_int_eq(r->step[1], MQTT_STEP_PACKET);
}
END_TEST

/* ---- strings, topics, the reason table ---- */

START_TEST(test_utf8_topics)
{
    struct {
        const char *s;
        bool ok;
    } u[] = {
        {"", true},
        {"abc", true},
        {"\xc3\xa9", true},              /* é */
        {"\xe2\x82\xac", true},          /* € */
        {"\xf0\x9f\x98\x80", true},      /* U+1F600 */
        {"\xef\xbf\xbf", true},          /* U+FFFF: a non-character is allowed */
        {"\x01\x7f", true},              /* control characters are allowed */
        {"\xc0\x80", false},             /* overlong NUL */
        {"\xe0\x80\xaf", false},         /* overlong '/' */
        {"\xed\xa0\x80", false},         /* U+D800 */
        {"\xed\xbf\xbf", false},         /* U+DFFF */
        {"\xf4\x90\x80\x80", false},     /* over U+10FFFF */
        {"\xc3", false},                 /* truncated */
        {"\xe2\x82", false},             /* truncated */
        {"\x80", false},                 /* a lone continuation byte */
        {"\xf8\x88\x80\x80\x80", false}, /* 5 bytes */
        {"\xfe", false},
    };
    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
        ck_assert_msg(mqtt_utf8_valid((const uint8_t *)u[i].s, strlen(u[i].s)) == u[i].ok,
                      "case %zu", i);
    ck_assert(!mqtt_utf8_valid((const uint8_t *)"a\0b", 3));
    struct {
        const char *s;
        bool name, filter;
    } t[] = {
        {"a/b", true, true},     {"/", true, true},
        {"a//b", true, true},    {"", false, false},
        {"#", false, true},      {"+", false, true},
        {"a/#", false, true},    {"a/+/b", false, true},
        {"+/+", false, true},    {"a#", false, false},
        {"a/#/b", false, false}, {"a+", false, false},
        {"a/b+", false, false},  {"+a/b", false, false},
        {"$SYS/x", true, true},  {"twinpipe/v1/d/config", true, true},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const uint8_t *p = (const uint8_t *)t[i].s;
        ck_assert_msg(mqtt_topic_name_valid(p, strlen(t[i].s), 0) == t[i].name, "name %s", t[i].s);
        ck_assert_msg(mqtt_topic_filter_valid(p, strlen(t[i].s), 0) == t[i].filter, "filter %s",
                      t[i].s);
    }
    ck_assert(mqtt_topic_name_valid((const uint8_t *)"abc", 3, 3));
    ck_assert(!mqtt_topic_name_valid((const uint8_t *)"abcd", 4, 3));
    ck_assert(mqtt_topic_filter_valid((const uint8_t *)"abc", 3, 3));
    ck_assert(!mqtt_topic_filter_valid((const uint8_t *)"abcd", 4, 3));
}
END_TEST

START_TEST(test_reasons)
{
    /* the rows of the decision document's table */
    struct {
        enum mqtt_reason r;
        uint8_t code5;
        enum mqtt_answer a5;
        enum mqtt_answer a4;
        uint8_t code4;
    } rows[] = {
        {MQTT_R_UNSUPPORTED_PROTOCOL, 0x84, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CONNACK, 0x01},
        {MQTT_R_CLIENT_ID_INVALID, 0x85, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CONNACK, 0x02},
        {MQTT_R_BAD_CREDENTIALS, 0x86, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CONNACK, 0x04},
        {MQTT_R_WILL_REFUSED, 0x87, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CONNACK, 0x05},
        {MQTT_R_BAD_AUTH_METHOD, 0x8C, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_SERVER_BUSY, 0x89, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CONNACK, 0x03},
        {MQTT_R_SERVER_UNAVAILABLE, 0x88, MQTT_ANSWER_CONNACK, MQTT_ANSWER_CONNACK, 0x03},
        {MQTT_R_MALFORMED, 0x81, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_PROTOCOL_ERROR, 0x82, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_PACKET_TOO_LARGE, 0x95, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_QOS_NOT_SUPPORTED, 0x9B, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_RETAIN_NOT_SUPPORTED, 0x9A, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_RECEIVE_MAX_EXCEEDED, 0x93, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_PAUSE, 0},
        {MQTT_R_TOPIC_ALIAS_INVALID, 0x94, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_KEEPALIVE_TIMEOUT, 0x8D, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_MAX_CONNECT_TIME, 0xA0, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_SESSION_TAKEN_OVER, 0x8E, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_REGISTRY_UNAVAILABLE, 0x89, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_JOURNAL_UNAVAILABLE, 0x89, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_SHUTTING_DOWN, 0x8B, MQTT_ANSWER_DISCONNECT, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_TOPIC_NAME_INVALID, 0x90, MQTT_ANSWER_PUBACK, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_NOT_AUTHORIZED, 0x87, MQTT_ANSWER_PUBACK, MQTT_ANSWER_CLOSE, 0},
        {MQTT_R_PAYLOAD_FORMAT_INVALID, 0x99, MQTT_ANSWER_PUBACK, MQTT_ANSWER_PUBACK, 0},
        {MQTT_R_NO_VALID_READING, 0x83, MQTT_ANSWER_PUBACK, MQTT_ANSWER_PUBACK, 0},
        {MQTT_R_SUBSCRIBE_NOT_AUTHORIZED, 0x87, MQTT_ANSWER_SUBACK, MQTT_ANSWER_SUBACK, 0x80},
        {MQTT_R_TOPIC_FILTER_INVALID, 0x8F, MQTT_ANSWER_SUBACK, MQTT_ANSWER_SUBACK, 0x80},
        {MQTT_R_QUOTA_EXCEEDED, 0x97, MQTT_ANSWER_SUBACK, MQTT_ANSWER_SUBACK, 0x80},
    };
    ck_assert_uint_eq(sizeof(rows) / sizeof(rows[0]), MQTT_R__COUNT - 1);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ck_assert_uint_eq(mqtt_reason_code(rows[i].r), rows[i].code5);
        ck_assert_int_eq(mqtt_reason_answer5(rows[i].r), rows[i].a5);
        ck_assert_int_eq(mqtt_reason_answer4(rows[i].r), rows[i].a4);
        ck_assert_uint_eq(mqtt_reason_code4(rows[i].r), rows[i].code4);
    }
    /* labels: unique, lower-case metric label values */
    for (int a = 0; a < MQTT_R__COUNT; a++) {
        const char *la = mqtt_reason_label((enum mqtt_reason)a);
        ck_assert(*la && *mqtt_reason_when((enum mqtt_reason)a));
        ck_assert_uint_eq(strspn(la, "abcdefghijklmnopqrstuvwxyz_"), strlen(la));
        for (int b = a + 1; b < MQTT_R__COUNT; b++)
            ck_assert_str_ne(la, mqtt_reason_label((enum mqtt_reason)b));
    }
    /* the answer for a version; an unsupported level always gets the 3.1.1 CONNACK */
    uint8_t code;
    ck_assert_int_eq(mqtt_reason_answer(MQTT_R_PACKET_TOO_LARGE, 5, &code), MQTT_ANSWER_DISCONNECT);
    ck_assert_uint_eq(code, 0x95);
    ck_assert_int_eq(mqtt_reason_answer(MQTT_R_PACKET_TOO_LARGE, 4, &code), MQTT_ANSWER_CLOSE);
    ck_assert_int_eq(mqtt_reason_answer(MQTT_R_UNSUPPORTED_PROTOCOL, 5, &code),
                     MQTT_ANSWER_CONNACK);
    ck_assert_uint_eq(code, 0x01);
    ck_assert_int_eq(mqtt_reason_answer(MQTT_R_BAD_CREDENTIALS, 0, &code), MQTT_ANSWER_CONNACK);
    ck_assert_uint_eq(code, 0x04);
    ck_assert_int_eq(mqtt_reason_answer(MQTT_R_QUOTA_EXCEEDED, 5, &code), MQTT_ANSWER_SUBACK);
    ck_assert_uint_eq(code, 0x97);
    ck_assert_int_eq(mqtt_reason_answer(MQTT_R_SUCCESS, 5, &code), MQTT_ANSWER_NONE);
    ck_assert_uint_eq(code, 0);
    /* every code the decoder gives on the wire is a DISCONNECT/CONNACK code a client reads */
    uint8_t buf[8];
    size_t n;
    for (int a = 0; a < MQTT_R__COUNT; a++) {
        if (mqtt_reason_answer5((enum mqtt_reason)a) != MQTT_ANSWER_DISCONNECT)
            continue;
        struct mqtt_packet p = {.type = MQTT_DISCONNECT,
                                .u.disconnect.code = mqtt_reason_code((enum mqtt_reason)a)};
        ck_assert_int_eq(mqtt_encode(5, &p, buf, sizeof(buf), &n), TP_OK);
        const struct run *r = decode(MQTT_CLIENT, 5, NULL, buf, n);
        ck_assert_int_eq(r->step[0], MQTT_STEP_PACKET);
    }
}
END_TEST

START_TEST(test_encode_args)
{
    uint8_t b[16];
    size_t n;
    struct mqtt_packet p = {.type = MQTT_PINGREQ};
    ck_assert_int_eq(mqtt_encode(3, &p, b, sizeof(b), &n), TP_INVALID_ARG);
    p.type = MQTT_AUTH;
    ck_assert_int_eq(mqtt_encode(4, &p, b, sizeof(b), &n), TP_INVALID_ARG);
    p = (struct mqtt_packet){.type = MQTT_SUBSCRIBE, .u.sub = {.packet_id = 1, .n = 1}};
    ck_assert_int_eq(mqtt_encode(4, &p, b, sizeof(b), &n), TP_INVALID_ARG);
    p = (struct mqtt_packet){.type = MQTT_PUBLISH, .u.publish = {.qos = 3}};
    ck_assert_int_eq(mqtt_encode(4, &p, b, sizeof(b), &n), TP_INVALID_ARG);
    /* over the spec's maximum remaining length */
    p = (struct mqtt_packet){.type = MQTT_PUBLISH,
                             .u.publish = {.topic = {(const uint8_t *)"t", 1},
                                           .payload = big,
                                           .payload_len = MQTT_REMAINING_MAX}};
    ck_assert_int_eq(mqtt_encode(4, &p, b, sizeof(b), &n), TP_TOO_LARGE);
    ck_assert_uint_eq(n, 0);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("mqtt_codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, test_golden_pub311);
    tcase_add_test(tc, test_golden_pub5);
    tcase_add_test(tc, test_golden_sub);
    tcase_add_test(tc, test_connack);
    tcase_add_test(tc, test_puback);
    tcase_add_test(tc, test_suback_unsuback);
    tcase_add_test(tc, test_ping_disconnect);
    tcase_add_test(tc, test_client_packets);
    tcase_add_test(tc, test_server_publish);
    tcase_add_test(tc, test_remaining_length);
    tcase_add_test(tc, test_packet_too_large);
    tcase_add_test(tc, test_connect_refusals);
    tcase_add_test(tc, test_publish_refusals);
    tcase_add_test(tc, test_other_refusals);
    tcase_add_test(tc, test_utf8_topics);
    tcase_add_test(tc, test_reasons);
    tcase_add_test(tc, test_encode_args);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(codec_suite)
