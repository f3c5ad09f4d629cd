/*
 * fuzz_mqtt - the MQTT codec (mqtt/codec.c): a byte stream fed to the
 * incremental decoder in random splits.
 *
 * Input: byte 0 chooses the decoder (bit 0: client side, else server side;
 * bit 1: a client's version 5, else 4; bit 2: tight limits - 64-byte
 * packets, 48-byte CONNECT, 8-byte topics and client ids, topic aliases up
 * to 2 - else the transport's defaults; bit 3: no limits at all (QoS 2,
 * Retain)), byte 1 seeds the splits, the rest is the stream. Seeds:
 * corpus/fuzz_mqtt/ (what mosquitto_pub and mosquitto_sub 2.0.11 sent,
 * tests/mqtt/golden.h, and hand-made packets of every type); dictionary:
 * fuzz_mqtt.dict.
 *
 * Checked besides the sanitizers (each body buffer is malloc'd at exactly
 * the size the decoder asked for, so a read past it is an ASan report):
 *   - feeding the whole stream at once, byte by byte and in random pieces
 *     gives the same results: steps, reasons, packet sizes, and each packet
 *     re-encoded to the same bytes;
 *   - a refusal is one the decoder may give (a wire rule or a limit), a
 *     packet's own refusal one of TOPIC_NAME_INVALID (PUBLISH) or the
 *     CONNECT ones; after an error, nothing more is taken;
 *   - no packet and no buffer request is over the limit; a packet's size is
 *     the bytes it took;
 *   - every packet decoded re-encodes, and its encoding decodes to a packet
 *     that encodes to the same bytes again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mqtt/codec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

#define OUT_MAX (1u << 20)
struct trace {
    uint8_t *out; /* a record per result: step, why, type, size, the re-encoded packet */
    size_t len;
    size_t consumed;
};

static void put(struct trace *t, const void *p, size_t n)
{
    if (t->len + n > OUT_MAX)
        n = t->len < OUT_MAX ? OUT_MAX - t->len : 0;
    memcpy(t->out + t->len, p, n);
    t->len += n;
}

static bool may_fail_with(enum mqtt_reason r)
{
    switch (r) {
    case MQTT_R_MALFORMED:
    case MQTT_R_PROTOCOL_ERROR:
    case MQTT_R_PACKET_TOO_LARGE:
    case MQTT_R_QOS_NOT_SUPPORTED:
    case MQTT_R_RETAIN_NOT_SUPPORTED:
    case MQTT_R_TOPIC_ALIAS_INVALID:
    case MQTT_R_UNSUPPORTED_PROTOCOL:
    case MQTT_R_CLIENT_ID_INVALID:
    case MQTT_R_WILL_REFUSED:
    case MQTT_R_BAD_AUTH_METHOD:
        return true;
    default:
        return false;
    }
}

static uint8_t enc[MQTT_PACKET_MAX > 70000 ? 70000 : MQTT_PACKET_MAX];
static uint8_t enc2[sizeof(enc)];

/* A decoded packet, encoded, read back by a decoder in the same state, encoded again: the
 * same bytes. */
static void check_reencode(const struct mqtt_decoder *state, const struct mqtt_packet *pkt,
                           const uint8_t *bytes, size_t n)
{
    struct mqtt_decoder d = *state;
    d.failed = false;
    d.hdr_len = 0;
    d.in_body = false;
    d.remaining = d.have = 0;
    d.buf = NULL;
    d.cap = 0;
    d.lim =
        (struct mqtt_limits){.max_qos = 2, .retain_available = true, .topic_alias_max = UINT16_MAX};
    if (pkt->type == MQTT_CONNECT)
        d.version = 0;
    size_t used;
    struct mqtt_packet back;
    enum mqtt_reason why;
    enum mqtt_step st = mqtt_decoder_feed(&d, bytes, n, &used, &back, &why);
    if (st != MQTT_STEP_PACKET || used != n) {
        fprintf(stderr,
                "fuzz_mqtt: a re-encoded %d packet (%zu bytes) did not decode: step %d %s\n",
                pkt->type, n, st, mqtt_reason_label(why));
        abort();
    }
    size_t n2;
    uint8_t version = d.version ? d.version : 4;
    if (mqtt_encode(version, &back, enc2, sizeof(enc2), &n2) != TP_OK || n2 != n ||
        memcmp(enc2, bytes, n) != 0) {
        fprintf(stderr, "fuzz_mqtt: a %d packet encodes differently the second time\n", pkt->type);
        abort();
    }
}

static void run(const struct mqtt_limits *lim, int mode, const uint8_t *data, size_t size,
                uint32_t seed, unsigned how, struct trace *t)
{
    struct mqtt_decoder d;
    if (mode & 1)
        mqtt_decoder_init_client(&d, (mode & 2) ? 5 : 4, lim);
    else
        mqtt_decoder_init(&d, MQTT_SERVER, lim);
    uint32_t max = lim && lim->max_packet ? lim->max_packet : MQTT_PACKET_MAX;
    uint8_t *buf = NULL;
    size_t off = 0;
    bool failed = false;
    t->len = 0;
    for (unsigned guard = 0; guard < 4 * size + 16; guard++) {
        size_t n = size - off;
        if (how == 1 && n > 1)
            n = 1;
        if (how == 2 && n) {
            seed = seed * 1103515245u + 12345u;
            size_t piece = 1 + (seed >> 16) % 17;
            if (n > piece)
                n = piece;
        }
        size_t used;
        struct mqtt_packet pkt;
        enum mqtt_reason why = MQTT_R_SUCCESS;
        enum mqtt_step st = mqtt_decoder_feed(&d, data + off, n, &used, &pkt, &why);
        if (used > n || (failed && used)) {
            fprintf(stderr, "fuzz_mqtt: took %zu of %zu bytes (after an error: %d)\n", used, n,
                    failed);
            abort();
        }
        off += used;
        if (st == MQTT_STEP_MORE) {
            if (off == size)
                break;
            continue;
        }
        if (st == MQTT_STEP_BUFFER) {
            uint32_t body = mqtt_decoder_body_size(&d);
            if (body + 2u > max || buf) {
                fprintf(stderr, "fuzz_mqtt: a buffer of %u asked (max %u)\n", body, max);
                abort();
            }
            buf = malloc(body ? body : 1);
            mqtt_decoder_set_buffer(&d, buf, body);
            continue;
        }
        uint8_t rec[6] = {(uint8_t)st, (uint8_t)why};
        if (st == MQTT_STEP_ERROR) {
            if (!may_fail_with(why)) {
                fprintf(stderr, "fuzz_mqtt: refused with %s\n", mqtt_reason_label(why));
                abort();
            }
            put(t, rec, 2);
            if (failed)
                break; /* refused again, taking nothing: done */
            failed = true;
            continue;
        }
        /* a packet */
        if (pkt.size > max || pkt.size < 2 ||
            (pkt.refusal != MQTT_R_SUCCESS &&
             !(pkt.type == MQTT_PUBLISH && pkt.refusal == MQTT_R_TOPIC_NAME_INVALID) &&
             !(pkt.type == MQTT_CONNECT &&
               (pkt.refusal == MQTT_R_CLIENT_ID_INVALID || pkt.refusal == MQTT_R_WILL_REFUSED ||
                pkt.refusal == MQTT_R_BAD_AUTH_METHOD)))) {
            fprintf(stderr, "fuzz_mqtt: packet %d of %u bytes, refusal %s\n", pkt.type, pkt.size,
                    mqtt_reason_label(pkt.refusal));
            abort();
        }
        rec[2] = (uint8_t)pkt.type;
        memcpy(rec + 3, &pkt.size, 3);
        put(t, rec, 6);
        size_t n_enc;
        uint8_t version = d.version ? d.version : 4;
        if (mqtt_encode(version, &pkt, enc, sizeof(enc), &n_enc) != TP_OK) {
            fprintf(stderr, "fuzz_mqtt: a decoded %d packet does not encode\n", pkt.type);
            abort();
        }
        put(t, enc, n_enc);
        if (how == 0)
            check_reencode(&d, &pkt, enc, n_enc);
        free(buf);
        buf = NULL;
        mqtt_decoder_set_buffer(&d, NULL, 0);
        if (off == size)
            break;
    }
    free(buf);
    t->consumed = off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data[0];
    uint32_t seed = data[1];
    const uint8_t *stream = data + 2;
    size_t n = size - 2;
    static const struct mqtt_limits normal = {.max_packet = 262144,
                                              .max_connect_packet = 2048,
                                              .max_topic = 256,
                                              .max_client_id = 128,
                                              .max_qos = 1,
                                              .refuse_will = true,
                                              .refuse_auth = true};
    static const struct mqtt_limits tight = {.max_packet = 64,
                                             .max_connect_packet = 48,
                                             .max_topic = 8,
                                             .max_client_id = 8,
                                             .topic_alias_max = 2,
                                             .max_qos = 1,
                                             .retain_available = true};
    const struct mqtt_limits *lim = (mode & 8) ? NULL : (mode & 4) ? &tight : &normal;
    /* a copy of exactly the stream's size: a read past it is an ASan report */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, stream, n);
    static struct trace t[3];
    for (int i = 0; i < 3; i++) {
        if (!t[i].out)
            t[i].out = malloc(OUT_MAX);
        run(lim, mode, copy, n, seed, (unsigned)i, &t[i]);
    }
    for (int i = 1; i < 3; i++) {
        if (t[i].consumed != t[0].consumed || t[i].len != t[0].len ||
            memcmp(t[i].out, t[0].out, t[0].len) != 0) {
            fprintf(stderr, "fuzz_mqtt: splitting %d differs from the whole stream\n", i);
            abort();
        }
    }
    free(copy);
    return 0;
}
