/*
 * reasons.h - every MQTT refusal of twinpipe, from one table.
 *
 * A row is one reason a packet, a connection or a subscription is refused
 * (docs/decisions/mqtt-edge.md, "Topics and refusals"): the MQTT 5 reason
 * code, the packet that carries it in MQTT 5, what MQTT 3.1.1 (which has no
 * reason codes) does instead, the metric label and the log text. The codec
 * (codec.h) returns rows of it, the transport answers by it, the metrics
 * label by it and tests/mqtt/test_codec.c checks it, so a refusal is one
 * row, not five edits. mqtt/README.md shows the table.
 *
 * Pure table; any thread.
 *
 *     enum mqtt_reason why = ...;   from mqtt_decoder_feed or the transport
 *     uint8_t code;
 *     switch (mqtt_reason_answer(why, version, &code)) {
 *     case MQTT_ANSWER_DISCONNECT: encode DISCONNECT code, then close; ...
 *     }
 */
#ifndef TP_MQTT_REASONS_H
#define TP_MQTT_REASONS_H

#include <stdint.h>

/* What carries the refusal. MQTT 5: the packet of the code. MQTT 3.1.1: CONNACK with a
 * return code, a SUBACK failure (0x80), a positive PUBACK (the message is durable, in the
 * dead-letter topic), the connection closed, or the socket simply no longer read. */
enum mqtt_answer {
    MQTT_ANSWER_NONE,       /* success: nothing is refused */
    MQTT_ANSWER_CONNACK,    /* CONNACK with the code, then close */
    MQTT_ANSWER_DISCONNECT, /* DISCONNECT with the code, then close */
    MQTT_ANSWER_PUBACK,     /* PUBACK with the code (QoS 1; QoS 0 is counted only) */
    MQTT_ANSWER_SUBACK,     /* that filter's SUBACK code */
    MQTT_ANSWER_CLOSE,      /* close without a packet */
    MQTT_ANSWER_PAUSE,      /* stop reading the socket until the window opens */
};

/* X(NAME, v5 code, v5 answer, v3.1.1 answer, v3.1.1 code, "label", "when") */
#define MQTT_REASON_TABLE(X)                                                                       \
    X(SUCCESS, 0x00, NONE, NONE, 0x00, "success", "nothing refused")                               \
    X(UNSUPPORTED_PROTOCOL, 0x84, CONNACK, CONNACK, 0x01, "protocol_version",                      \
      "a protocol level other than 4 (3.1.1) or 5; answered in the 3.1.1 format by both")          \
    X(CLIENT_ID_INVALID, 0x85, CONNACK, CONNACK, 0x02, "client_id_invalid",                        \
      "a client id that is not 1..max_client_id of A-Z a-z 0-9 . _ : -, or empty with clean "      \
      "start 0")                                                                                   \
    X(BAD_CREDENTIALS, 0x86, CONNACK, CONNACK, 0x04, "bad_credentials",                            \
      "no username or password; a bad, expired or never-expiring token; a username that is not "   \
      "the device of a device token")                                                              \
    X(WILL_REFUSED, 0x87, CONNACK, CONNACK, 0x05, "will_refused", "a CONNECT with a Will")         \
    X(BAD_AUTH_METHOD, 0x8C, CONNACK, CLOSE, 0x00, "bad_auth_method",                              \
      "a CONNECT with an Authentication Method (MQTT 5 only)")                                     \
    X(SERVER_BUSY, 0x89, CONNACK, CONNACK, 0x03, "busy", "over mqtt.max_connections")              \
    X(SERVER_UNAVAILABLE, 0x88, CONNACK, CONNACK, 0x03, "unavailable", "the replica is draining")  \
    X(MALFORMED, 0x81, DISCONNECT, CLOSE, 0x00, "malformed",                                       \
      "a packet that does not parse: a remaining length over 4 bytes, a length past the packet, "  \
      "bad UTF-8, reserved bits set, an unknown property")                                         \
    X(PROTOCOL_ERROR, 0x82, DISCONNECT, CLOSE, 0x00, "protocol_error",                             \
      "a packet that parses but breaks a rule: not CONNECT first, a second CONNECT, packet id 0, " \
      "a property twice or in the wrong packet, a value out of range, a packet of the other side") \
    X(PACKET_TOO_LARGE, 0x95, DISCONNECT, CLOSE, 0x00, "packet_too_large",                         \
      "a packet over mqtt.max_packet (CONNECT: mqtt.max_connect_packet), from the fixed header "   \
      "before a byte of the body is buffered")                                                     \
    X(QOS_NOT_SUPPORTED, 0x9B, DISCONNECT, CLOSE, 0x00, "qos_not_supported",                       \
      "a PUBLISH of QoS 2, from the fixed header")                                                 \
    X(RETAIN_NOT_SUPPORTED, 0x9A, DISCONNECT, CLOSE, 0x00, "retain_not_supported",                 \
      "a PUBLISH with Retain 1, from the fixed header")                                            \
    X(RECEIVE_MAX_EXCEEDED, 0x93, DISCONNECT, PAUSE, 0x00, "receive_maximum_exceeded",             \
      "more QoS 1 PUBLISHes in flight than Receive Maximum")                                       \
    X(TOPIC_ALIAS_INVALID, 0x94, DISCONNECT, CLOSE, 0x00, "topic_alias_invalid",                   \
      "a Topic Alias of 0 or over the Topic Alias Maximum announced (0: any)")                     \
    X(KEEPALIVE_TIMEOUT, 0x8D, DISCONNECT, CLOSE, 0x00, "keepalive_timeout",                       \
      "nothing received for 1.5 x the keep-alive")                                                 \
    X(MAX_CONNECT_TIME, 0xA0, DISCONNECT, CLOSE, 0x00, "token_expired",                            \
      "the connection's token expired")                                                            \
    X(SESSION_TAKEN_OVER, 0x8E, DISCONNECT, CLOSE, 0x00, "session_taken_over",                     \
      "the same client id connected again on this replica (the old connection)")                   \
    X(REGISTRY_UNAVAILABLE, 0x89, DISCONNECT, CLOSE, 0x00, "registry_unavailable",                 \
      "a framed payload's schema is not cached and the registry does not answer")                  \
    X(JOURNAL_UNAVAILABLE, 0x89, DISCONNECT, CLOSE, 0x00, "journal_unavailable",                   \
      "kafka did not acknowledge within kafka.message.timeout.ms")                                 \
    X(SHUTTING_DOWN, 0x8B, DISCONNECT, CLOSE, 0x00, "shutting_down",                               \
      "the replica is stopping (after the PUBACKs that are due)")                                  \
    X(TOPIC_NAME_INVALID, 0x90, PUBACK, CLOSE, 0x00, "topic_invalid",                              \
      "a PUBLISH topic with a wildcard, over mqtt.max_topic, or not of the twinpipe scheme")       \
    X(NOT_AUTHORIZED, 0x87, PUBACK, CLOSE, 0x00, "not_authorized",                                 \
      "a PUBLISH to a device the token does not cover, or holding another device's reading")       \
    X(PAYLOAD_FORMAT_INVALID, 0x99, PUBACK, PUBACK, 0x00, "payload_invalid",                       \
      "a payload that does not decode; it is dead-lettered first")                                 \
    X(NO_VALID_READING, 0x83, PUBACK, PUBACK, 0x00, "no_valid_reading",                            \
      "a payload without a valid reading; each is dead-lettered first")                            \
    X(SUBSCRIBE_NOT_AUTHORIZED, 0x87, SUBACK, SUBACK, 0x80, "subscribe_not_authorized",            \
      "a filter other than the config topic of a covered device")                                  \
    X(TOPIC_FILTER_INVALID, 0x8F, SUBACK, SUBACK, 0x80, "topic_filter_invalid",                    \
      "a filter with misplaced wildcards or over mqtt.max_topic")                                  \
    X(QUOTA_EXCEEDED, 0x97, SUBACK, SUBACK, 0x80, "quota_exceeded",                                \
      "a SUBSCRIBE over mqtt.max_subscriptions")

enum mqtt_reason {
#define MQTT_REASON_ENUM(name, code, a5, a4, code4, label, when) MQTT_R_##name,
    MQTT_REASON_TABLE(MQTT_REASON_ENUM)
#undef MQTT_REASON_ENUM
        MQTT_R__COUNT
};

/* The MQTT 5 reason code, its packet, the 3.1.1 answer and code, the metric label and the
 * text of a row. */
uint8_t mqtt_reason_code(enum mqtt_reason r);
enum mqtt_answer mqtt_reason_answer5(enum mqtt_reason r);
enum mqtt_answer mqtt_reason_answer4(enum mqtt_reason r);
uint8_t mqtt_reason_code4(enum mqtt_reason r);
const char *mqtt_reason_label(enum mqtt_reason r);
const char *mqtt_reason_when(enum mqtt_reason r);
/* What to do for protocol version 4 or 5 (0: no CONNECT decoded yet, answered as 4), and
 * the code to put in that packet. UNSUPPORTED_PROTOCOL is answered in the 3.1.1 format
 * whatever the version: a client of another level could not read an MQTT 5 CONNACK. */
enum mqtt_answer mqtt_reason_answer(enum mqtt_reason r, uint8_t version, uint8_t *code);

#endif
