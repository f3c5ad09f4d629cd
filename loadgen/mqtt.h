/*
 * mqtt.h - tp-loadgen's MQTT mode (loadgen.transport=mqtt,
 * docs/decisions/mqtt-edge.md, "tp-loadgen MQTT mode"): the simulated fleet
 * publishes QoS 1 to twinpipe/v1/<device>/telemetry, the client side of our
 * own codec (mqtt/codec.h), one epoll loop on the calling thread.
 *
 * Connections: with loadgen.auth_secret, one per device (user name = the
 * device id, password = a device token minted at each CONNECT, client id =
 * the device id); else loadgen.connections gateway connections (password
 * = loadgen.token, or no credentials for a broker that takes anyone), each
 * publishing for its devices (device i -> connection i % connections) on
 * their own topics. A PUBLISH carries loadgen.batch readings of one device
 * (a paced fleet: one). A fixed-size job (loadgen.readings) is shared out
 * between the connections up front, so every device sends its share. Up
 * to loadgen.mqtt_inflight PUBLISHes are in
 * flight per connection (MQTT 5: at most the server's Receive Maximum),
 * kept in an outbox (outbox.h) until PUBACKed; a lost connection is made
 * again (backoff; loadgen.retries failed connects in a row give it up) and
 * its outbox published again in order. Only PUBACKed readings count as
 * sent; the PUBACK latency (PUBLISH written -> PUBACK read) is the run's
 * latency. A PUBACK with a reason code >= 0x80 is a failure with its code,
 * except 0x83 (no valid reading) for a PUBLISH of invalid readings only;
 * MQTT 5's User Property tp-dead-lettered must count the invalid readings.
 *
 * The pure parts are here for tests; the loop is load_mqtt_loop
 * (load_int.h). One thread.
 *
 *     load_mqtt_url_parse("mqtt://127.0.0.1:1883", host, sizeof(host), &port, ...);
 *     load_mqtt_fd_check(connections, limit, ...);
 *     load_mqtt_judge(5, code, dead_lettered, n, n_invalid);
 */
#ifndef TP_LOADGEN_MQTT_H
#define TP_LOADGEN_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "mqtt/codec.h"

/* descriptors kept besides the connections (stdio, epoll, logs, the verification's curl) */
#define LOAD_MQTT_FD_RESERVE 64

/* "host:port" or "mqtt://host:port" ("[::1]:1883" for IPv6): TP_CONFIG with a message
 * otherwise. */
enum tp_err load_mqtt_url_parse(const char *url, char *host, size_t host_size, uint16_t *port,
                                char *errstr, size_t errstr_size);
/* Whether `connections` fit under a descriptor limit (with LOAD_MQTT_FD_RESERVE): TP_CONFIG
 * saying how many are needed otherwise. */
enum tp_err load_mqtt_fd_check(size_t connections, uint64_t limit, char *errstr,
                               size_t errstr_size);

enum load_mqtt_outcome {
    LOAD_MQTT_ACCEPTED,     /* the valid readings accepted, the invalid ones dead-lettered */
    LOAD_MQTT_ALL_REJECTED, /* 0x83: every reading was invalid, all dead-lettered */
    LOAD_MQTT_MISMATCH,     /* success, but not the dead-lettered count expected */
    LOAD_MQTT_FAILED,       /* a reason code >= 0x80 otherwise: nothing accepted */
};
/* What a PUBACK (reason code, tp-dead-lettered count; 3.1.1: 0 and 0) says about a PUBLISH
 * of n readings, n_invalid of them invalid on purpose. */
enum load_mqtt_outcome load_mqtt_judge(uint8_t version, uint8_t code, uint32_t dead_lettered,
                                       size_t n, size_t n_invalid);
/* The User Property tp-dead-lettered of a decoded PUBACK's properties (0 when absent or not a
 * number). */
uint32_t load_mqtt_dead_lettered(const struct mqtt_props *props);

#endif
