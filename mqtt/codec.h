/*
 * codec.h - MQTT 3.1.1 (level 4) and 5 packets: an incremental decoder and
 * an encoder, for both sides of a connection (docs/decisions/mqtt-edge.md).
 *
 * Pure functions over byte ranges: no I/O, no allocation, no global state.
 * The decoder (struct mqtt_decoder, embedded by its owner, one per
 * connection) takes bytes as they arrive and gives a complete packet, "need
 * more", "need a buffer" or a refusal (enum mqtt_reason, reasons.h, whose
 * table says what to answer). The fixed header is checked first (type for
 * the side and version, flags, QoS, Retain, size against the limits), so a
 * packet too large is refused before a byte of its body is buffered. A whole
 * packet inside the bytes fed is decoded in place; only a partial packet's
 * body is copied, into a buffer the caller hands over when asked
 * (MQTT_STEP_BUFFER) and sizes from mqtt_decoder_body_size() after that
 * check. A decoded packet's strings, properties and payload point into the
 * fed bytes or that buffer: borrowed, valid until either changes.
 *
 * Checked while decoding: the remaining length (at most 4 bytes, minimal),
 * every length against the packet, strings are UTF-8 without U+0000,
 * surrogates or overlong forms, reserved bits, packet id 0, MQTT 5
 * properties (known, allowed in that packet, at most once where the spec
 * says, values in range), topic names (no wildcards, not empty unless an
 * alias, mqtt_limits.max_topic) and the CONNECT rules (protocol name and
 * level, flags, client id). Topic filter syntax is the caller's check
 * (mqtt_topic_filter_valid, answered per filter in SUBACK).
 *
 * One thread per decoder; the encoder and the checks are pure (any thread).
 *
 *     struct mqtt_decoder d;
 *     mqtt_decoder_init(&d, MQTT_SERVER, &limits);
 *     while (len) {
 *         step = mqtt_decoder_feed(&d, data, len, &used, &pkt, &why); data += used; len -= used;
 *         PACKET: handle pkt (pkt.refusal: answer per reasons.h, continue); MORE: read again;
 *         BUFFER: mqtt_decoder_set_buffer(&d, buf of mqtt_decoder_body_size(&d)); ERROR: answer
 * why, close
 *     }
 *     mqtt_encode(d.version, &(struct mqtt_packet){.type = MQTT_PUBACK, ...}, out, cap, &n);
 */
#ifndef TP_MQTT_CODEC_H
#define TP_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "mqtt/reasons.h"

/* The spec's maximum remaining length (4 bytes of 7 bits) and whole packet. */
#define MQTT_REMAINING_MAX 268435455u
#define MQTT_PACKET_MAX    (MQTT_REMAINING_MAX + 5u)

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

/* Which packets a decoder reads: a server reads what clients send, a client the reverse.
 * PUBREC/PUBREL/PUBCOMP (QoS 2) and AUTH (no enhanced authentication) are protocol errors
 * on both sides. */
enum mqtt_side { MQTT_SERVER, MQTT_CLIENT };

/* A length-prefixed string or binary field: borrowed bytes, not NUL-terminated. */
struct mqtt_bin {
    const uint8_t *p;
    uint16_t len;
};

/* X(NAME, id, type, field, packets (MQTT_PK_*), packets where it may repeat) - MQTT 5
 * section 2.2.2.2. USER is a pair; the others one value. */
#define MQTT_PK(t)       (1u << (t))
#define MQTT_PK_WILL     (1u << 16) /* the Will Properties of a CONNECT */
#define MQTT_PK_PUB_WILL (MQTT_PK(MQTT_PUBLISH) | MQTT_PK_WILL)
#define MQTT_PK_ALL                                                                                \
    (MQTT_PK(MQTT_CONNECT) | MQTT_PK(MQTT_CONNACK) | MQTT_PK(MQTT_PUBLISH) |                       \
     MQTT_PK(MQTT_PUBACK) | MQTT_PK(MQTT_PUBREC) | MQTT_PK(MQTT_PUBREL) | MQTT_PK(MQTT_PUBCOMP) |  \
     MQTT_PK(MQTT_SUBSCRIBE) | MQTT_PK(MQTT_SUBACK) | MQTT_PK(MQTT_UNSUBSCRIBE) |                  \
     MQTT_PK(MQTT_UNSUBACK) | MQTT_PK(MQTT_DISCONNECT) | MQTT_PK(MQTT_AUTH) | MQTT_PK_WILL)
#define MQTT_PK_ACKS                                                                               \
    (MQTT_PK(MQTT_CONNACK) | MQTT_PK(MQTT_PUBACK) | MQTT_PK(MQTT_PUBREC) | MQTT_PK(MQTT_PUBREL) |  \
     MQTT_PK(MQTT_PUBCOMP) | MQTT_PK(MQTT_SUBACK) | MQTT_PK(MQTT_UNSUBACK) |                       \
     MQTT_PK(MQTT_DISCONNECT) | MQTT_PK(MQTT_AUTH))
#define MQTT_PK_CONN_ACK (MQTT_PK(MQTT_CONNECT) | MQTT_PK(MQTT_CONNACK))

#define MQTT_PROP_TABLE(X)                                                                         \
    X(PAYLOAD_FORMAT, 0x01, BYTE, payload_format, MQTT_PK_PUB_WILL, 0)                             \
    X(MESSAGE_EXPIRY, 0x02, U32, message_expiry, MQTT_PK_PUB_WILL, 0)                              \
    X(CONTENT_TYPE, 0x03, STR, content_type, MQTT_PK_PUB_WILL, 0)                                  \
    X(RESPONSE_TOPIC, 0x08, STR, response_topic, MQTT_PK_PUB_WILL, 0)                              \
    X(CORRELATION_DATA, 0x09, BIN, correlation_data, MQTT_PK_PUB_WILL, 0)                          \
    X(SUBSCRIPTION_ID, 0x0B, VARINT, subscription_id,                                              \
      MQTT_PK(MQTT_PUBLISH) | MQTT_PK(MQTT_SUBSCRIBE), MQTT_PK(MQTT_PUBLISH))                      \
    X(SESSION_EXPIRY, 0x11, U32, session_expiry, MQTT_PK_CONN_ACK | MQTT_PK(MQTT_DISCONNECT), 0)   \
    X(ASSIGNED_CLIENT_ID, 0x12, STR, assigned_client_id, MQTT_PK(MQTT_CONNACK), 0)                 \
    X(SERVER_KEEP_ALIVE, 0x13, U16, server_keep_alive, MQTT_PK(MQTT_CONNACK), 0)                   \
    X(AUTH_METHOD, 0x15, STR, auth_method, MQTT_PK_CONN_ACK | MQTT_PK(MQTT_AUTH), 0)               \
    X(AUTH_DATA, 0x16, BIN, auth_data, MQTT_PK_CONN_ACK | MQTT_PK(MQTT_AUTH), 0)                   \
    X(REQUEST_PROBLEM_INFO, 0x17, BYTE, request_problem_info, MQTT_PK(MQTT_CONNECT), 0)            \
    X(WILL_DELAY, 0x18, U32, will_delay, MQTT_PK_WILL, 0)                                          \
    X(REQUEST_RESPONSE_INFO, 0x19, BYTE, request_response_info, MQTT_PK(MQTT_CONNECT), 0)          \
    X(RESPONSE_INFO, 0x1A, STR, response_info, MQTT_PK(MQTT_CONNACK), 0)                           \
    X(SERVER_REFERENCE, 0x1C, STR, server_reference,                                               \
      MQTT_PK(MQTT_CONNACK) | MQTT_PK(MQTT_DISCONNECT), 0)                                         \
    X(REASON_STRING, 0x1F, STR, reason_string, MQTT_PK_ACKS, 0)                                    \
    X(RECEIVE_MAXIMUM, 0x21, U16, receive_maximum, MQTT_PK_CONN_ACK, 0)                            \
    X(TOPIC_ALIAS_MAXIMUM, 0x22, U16, topic_alias_maximum, MQTT_PK_CONN_ACK, 0)                    \
    X(TOPIC_ALIAS, 0x23, U16, topic_alias, MQTT_PK(MQTT_PUBLISH), 0)                               \
    X(MAXIMUM_QOS, 0x24, BYTE, maximum_qos, MQTT_PK(MQTT_CONNACK), 0)                              \
    X(RETAIN_AVAILABLE, 0x25, BYTE, retain_available, MQTT_PK(MQTT_CONNACK), 0)                    \
    X(USER_PROPERTY, 0x26, PAIR, user, MQTT_PK_ALL, MQTT_PK_ALL)                                   \
    X(MAXIMUM_PACKET_SIZE, 0x27, U32, maximum_packet_size, MQTT_PK_CONN_ACK, 0)                    \
    X(WILDCARD_SUB_AVAILABLE, 0x28, BYTE, wildcard_sub_available, MQTT_PK(MQTT_CONNACK), 0)        \
    X(SUB_ID_AVAILABLE, 0x29, BYTE, sub_id_available, MQTT_PK(MQTT_CONNACK), 0)                    \
    X(SHARED_SUB_AVAILABLE, 0x2A, BYTE, shared_sub_available, MQTT_PK(MQTT_CONNACK), 0)

enum mqtt_prop_id {
#define MQTT_PROP_ENUM(name, id, type, field, packets, multi) MQTT_PROP_##name = id,
    MQTT_PROP_TABLE(MQTT_PROP_ENUM)
#undef MQTT_PROP_ENUM
};
#define MQTT_PROP_BIT(id) (UINT64_C(1) << (id))

/* A User Property, for the encoder. */
struct mqtt_user_prop {
    struct mqtt_bin name, value;
};

#define MQTT_PT_BYTE(f)   uint8_t f;
#define MQTT_PT_U16(f)    uint16_t f;
#define MQTT_PT_U32(f)    uint32_t f;
#define MQTT_PT_VARINT(f) uint32_t f;
#define MQTT_PT_STR(f)    struct mqtt_bin f;
#define MQTT_PT_BIN(f)    struct mqtt_bin f;
#define MQTT_PT_PAIR(f)                                                                            \
    const struct mqtt_user_prop *f; /* encoder: n_user pairs; decoder: NULL */                     \
    uint32_t n_##f;

/* MQTT 5 properties of one packet. present has MQTT_PROP_BIT(id) for each one set (the
 * encoder writes those, and n_user User Properties). Decoded: the value of each present one
 * (the first Subscription Identifier of a PUBLISH; n_subscription_id counts them), n_user
 * counted, raw the property bytes to walk with mqtt_props_user(). */
struct mqtt_props {
    uint64_t present;
#define MQTT_PROP_FIELD(name, id, type, field, packets, multi) MQTT_PT_##type(field)
    MQTT_PROP_TABLE(MQTT_PROP_FIELD)
#undef MQTT_PROP_FIELD
    uint32_t n_subscription_id;
    const uint8_t *raw;
    uint32_t raw_len;
};

struct mqtt_connect {
    uint8_t level; /* 4 or 5 */
    bool clean_start;
    uint16_t keep_alive;
    struct mqtt_props props;
    struct mqtt_bin client_id;
    bool will, will_retain;
    uint8_t will_qos;
    struct mqtt_props will_props;
    struct mqtt_bin will_topic, will_payload;
    bool has_username, has_password;
    struct mqtt_bin username, password;
};

struct mqtt_connack {
    bool session_present;
    uint8_t code; /* MQTT 5 reason code, or the 3.1.1 return code */
    struct mqtt_props props;
};

struct mqtt_publish {
    bool dup, retain;
    uint8_t qos;
    struct mqtt_bin topic;
    uint16_t packet_id; /* QoS > 0 */
    struct mqtt_props props;
    const uint8_t *payload;
    size_t payload_len;
};

/* PUBACK (and the QoS 2 acks the encoder writes for completeness: not decoded) */
struct mqtt_ack {
    uint16_t packet_id;
    uint8_t code; /* MQTT 5 only */
    struct mqtt_props props;
};

/* SUBSCRIBE / UNSUBSCRIBE: n entries in list (filter, and options for SUBSCRIBE); walk
 * with mqtt_subscribe_next. The encoder reads filters[] / options[], or the list as decoded
 * when filters is NULL. */
struct mqtt_subscribe {
    uint16_t packet_id;
    struct mqtt_props props;
    uint16_t n;
    const uint8_t *list;
    size_t list_len;
    const struct mqtt_bin *filters; /* encoder */
    const uint8_t *options;         /* encoder, SUBSCRIBE */
};

/* SUBACK / UNSUBACK: n codes (3.1.1 UNSUBACK: none) */
struct mqtt_suback {
    uint16_t packet_id;
    struct mqtt_props props;
    uint16_t n;
    const uint8_t *codes;
};

struct mqtt_disconnect {
    uint8_t code; /* MQTT 5 only */
    struct mqtt_props props;
};

struct mqtt_packet {
    enum mqtt_type type;
    uint8_t flags; /* low nibble of the fixed header (decoded) */
    uint32_t size; /* whole packet, fixed header included (decoded) */
    /* SUCCESS, or a refusal of a complete, well-formed packet the connection survives or
     * answers first: TOPIC_NAME_INVALID (PUBLISH), CLIENT_ID_INVALID, WILL_REFUSED,
     * BAD_AUTH_METHOD (CONNECT; the decoder then refuses every later byte). */
    enum mqtt_reason refusal;
    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        struct mqtt_ack ack;
        struct mqtt_subscribe sub; /* SUBSCRIBE and UNSUBSCRIBE */
        struct mqtt_suback suback; /* SUBACK and UNSUBACK */
        struct mqtt_disconnect disconnect;
    } u;
};

/* What a decoder accepts. Zero fields take the spec's bound; no limits at all (NULL) is
 * everything the spec allows (QoS 2 and Retain included). */
struct mqtt_limits {
    uint32_t max_packet;         /* whole packet; 0: MQTT_PACKET_MAX */
    uint32_t max_connect_packet; /* CONNECT only; 0: max_packet */
    uint16_t max_topic;          /* PUBLISH topic bytes, over it TOPIC_NAME_INVALID; 0: any */
    /* 0: any UTF-8 client id; else 1..max_client_id bytes of A-Z a-z 0-9 . _ : - (empty
     * still allowed with clean start 1) */
    uint16_t max_client_id;
    uint16_t topic_alias_max; /* Topic Alias over it (or 0) is TOPIC_ALIAS_INVALID */
    uint8_t max_qos;          /* PUBLISH QoS over it: QOS_NOT_SUPPORTED (0 means 0) */
    bool retain_available;    /* false: PUBLISH Retain 1 is RETAIN_NOT_SUPPORTED */
    bool refuse_will;         /* CONNECT with a Will: WILL_REFUSED */
    bool refuse_auth;         /* CONNECT with an Authentication Method: BAD_AUTH_METHOD */
};

enum mqtt_step {
    MQTT_STEP_PACKET, /* *pkt is a complete packet */
    MQTT_STEP_MORE,   /* every byte fed was taken; feed more */
    MQTT_STEP_BUFFER, /* a partial body must be kept: mqtt_decoder_set_buffer, feed again */
    MQTT_STEP_ERROR,  /* *why says what to answer (reasons.h); the decoder refuses all else */
};

struct mqtt_decoder {
    struct mqtt_limits lim;
    enum mqtt_side side;
    uint8_t version; /* 4 or 5: the server's from the CONNECT decoded, a client's own */
    bool failed;
    enum mqtt_reason why;
    /* the packet being read */
    uint8_t hdr[5];
    uint8_t hdr_len;
    bool in_body;
    uint32_t remaining, have;
    uint8_t *buf; /* borrowed from the caller (set_buffer) */
    size_t cap;
};

/* A server starts with version 0 (CONNECT first); a client passes its version (4 or 5) in
 * mqtt_decoder_init_client. limits is copied. */
void mqtt_decoder_init(struct mqtt_decoder *d, enum mqtt_side side,
                       const struct mqtt_limits *limits);
void mqtt_decoder_init_client(struct mqtt_decoder *d, uint8_t version,
                              const struct mqtt_limits *limits);
/* Takes bytes of data[0..len) up to the end of at most one packet; *used says how many.
 * PACKET: *pkt holds it (borrowed from data or the buffer). ERROR: *why. */
enum mqtt_step mqtt_decoder_feed(struct mqtt_decoder *d, const uint8_t *data, size_t len,
                                 size_t *used, struct mqtt_packet *pkt, enum mqtt_reason *why);
/* After MQTT_STEP_BUFFER: the body size the buffer needs (already within the limits). */
uint32_t mqtt_decoder_body_size(const struct mqtt_decoder *d);
/* Borrowed until the next PACKET has been handled (or the decoder is dropped); cap must be
 * at least mqtt_decoder_body_size. NULL: no buffer (an idle connection keeps none). */
void mqtt_decoder_set_buffer(struct mqtt_decoder *d, uint8_t *buf, size_t cap);
/* Whether a packet is partly read (its buffer is still in use). */
bool mqtt_decoder_busy(const struct mqtt_decoder *d);

/* Writes pkt for protocol version 4 or 5 into out[0..cap); *len = its size. TP_TOO_LARGE
 * when cap is too small (*len = the size needed; nothing useful written) or it exceeds
 * the spec's maximum; TP_INVALID_ARG for a type the version does not have (fields hold at
 * most 65,535 bytes by their type). 3.1.1 drops properties and MQTT 5 reason codes (CONNACK and
 * SUBACK take the 3.1.1 codes the caller passes). */
enum tp_err mqtt_encode(uint8_t version, const struct mqtt_packet *pkt, uint8_t *out, size_t cap,
                        size_t *len);

/* Walks a decoded SUBSCRIBE/UNSUBSCRIBE: start with *off = 0; false after the last. */
bool mqtt_subscribe_next(const struct mqtt_subscribe *s, size_t *off, struct mqtt_bin *filter,
                         uint8_t *options);
/* The i-th User Property of decoded props; false when there is none. */
bool mqtt_props_user(const struct mqtt_props *p, uint32_t i, struct mqtt_bin *name,
                     struct mqtt_bin *value);

/* UTF-8 as MQTT strings must be: well-formed, no U+0000, no surrogates, no overlong forms. */
bool mqtt_utf8_valid(const uint8_t *p, size_t len);
/* A topic name: 1..max (0: any) bytes, no '+' or '#'. */
bool mqtt_topic_name_valid(const uint8_t *p, size_t len, size_t max);
/* A topic filter: 1..max bytes, '#' only last and alone in its level, '+' alone in its level. */
bool mqtt_topic_filter_valid(const uint8_t *p, size_t len, size_t max);

#endif
