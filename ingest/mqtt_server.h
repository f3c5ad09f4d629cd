/*
 * mqtt_server.h - tp-ingest's MQTT transport (docs/decisions/mqtt-edge.md,
 * design (b)): devices connect with MQTT 3.1.1 or 5, log in with their
 * token (user name = device id or gateway label, password = token), and
 * PUBLISH readings to twinpipe/v1/<device>/telemetry. Every payload goes
 * through accept.h exactly as an HTTP body does (ACCEPT_INVALID_DEAD_LETTER:
 * invalid payloads and readings go to the dead-letter topic with the client
 * id), and a QoS 1 PUBLISH is PUBACKed only once accept's done says every
 * event has Kafka's acknowledgement, in the order received (an ack ring per
 * connection, mqtt_ring.h: a window of mqtt.receive_maximum whose slots exist
 * only while PUBLISHes are in flight; an idle connection holds its struct only).
 *
 * One loop thread with its own epoll: accept, read, decode (mqtt/codec.h),
 * answer by mqtt/reasons.h, write. Delivery reports come back on ingest's
 * delivery thread as done callbacks: they are queued under a mutex and an
 * eventfd wakes the loop, which alone touches connection state. A
 * connection closed with events still in flight stays allocated (socket
 * closed) until its last report. Backpressure: while the producer holds
 * ingest.max_outstanding events or more, or the broker is unreachable
 * (/readyz), no socket is read (no new PUBLISH, no PUBACK owed); reading
 * resumes by itself under 90 % of the bound. A PUBLISH accept_submit finds
 * over the bound is kept (copied) and submitted again then, never refused. A
 * full ring stops reading that connection. Refusals: reasons.h's rows
 * (CONNACK 0x86 / return code 4 for bad credentials, PUBACK 0x87 or a closed 3.1.1 connection for a
 * topic the token does not cover, logged with the client id, ...). SUBSCRIBE is granted only for
 * twinpipe/v1/<device>/config of a covered device (see below for what is published). Sessions are
 * not kept: CONNACK says Session Present 0 (allowed by the doc: the device resends what was not
 * PUBACKed). The same client id again closes the older connection (0x8E).
 *
 * With policies (ingest_attach_policies before mqtt_server_start), a granted config
 * subscription gets, after its SUBACK, a retained PUBLISH at its granted QoS with the
 * device's reporting period, {"report_every_ms":N} (period.h), and again whenever that
 * period changes: a new snapshot (mqtt_server_policies_changed, the feed's on_change), a
 * policy's from or until passing (policy_set_next_change, checked every loop tick), or the
 * attributes of the device's readings on that connection. Sweeps over the subscriptions run
 * on the loop thread in bounded passes. Nothing is sent before the feed is ready. A QoS 1
 * config PUBLISH is not resent: a newer period waits for its PUBACK and replaces it.
 *
 * Object: struct mqtt_server (heap). Threads: new/start/begin_drain/drain/free
 * from the main thread; mqtt_server_metrics from any (counters are atomics).
 *
 *     mqtt_server_new(ing, &cfg, &srv, errstr, n);   // binds mqtt.listen
 *     mqtt_server_start(srv);                       // the loop thread
 *     ... SIGTERM: mqtt_server_begin_drain(srv); mqtt_server_drain(srv, 30000);
 *     ingest_free(ing); mqtt_server_free(srv);      // after the delivery thread is gone
 */
#ifndef TP_INGEST_MQTT_SERVER_H
#define TP_INGEST_MQTT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct ingest;
struct mqtt_server;

struct mqtt_server_config {
    char *listen;        /* "host:port"; NULL or "": no MQTT */
    int max_connections; /* sockets with a session; 64 more only to answer CONNACK busy */
    size_t max_packet;   /* whole packet, bytes */
    size_t max_connect_packet;
    int max_topic;         /* PUBLISH topic and SUBSCRIBE filter bytes */
    int max_client_id;     /* CONNECT client id bytes */
    int receive_maximum;   /* QoS 1 PUBLISHes in flight per connection (the ack ring) */
    int max_subscriptions; /* per connection */
    size_t max_output;     /* unwritten bytes per connection before it is closed */
    int64_t connect_timeout_ms;
    int64_t keepalive_max_ms; /* keep-alive 0 or above it becomes it */
    int64_t health_stall_ms;  /* /healthz bound of the loop */
};

enum tp_err mqtt_server_new(struct ingest *ing, const struct mqtt_server_config *cfg,
                            struct mqtt_server **out, char *errstr, size_t errstr_size);
enum tp_err mqtt_server_start(struct mqtt_server *s, char *errstr, size_t errstr_size);
/* The address bound ("127.0.0.1:1883"). */
const char *mqtt_server_address(const struct mqtt_server *s);
/* Stops accepting and reading; CONNECTs still in the kernel get CONNACK unavailable. */
void mqtt_server_begin_drain(struct mqtt_server *s);
/* Sends the PUBACKs whose reports arrive within timeout_ms, then DISCONNECT 0x8B (MQTT 5) or
 * closes each connection, and stops the loop thread. */
void mqtt_server_drain(struct mqtt_server *s, int timeout_ms);
/* The feed's on_change (any thread): the config subscriptions are re-evaluated. */
void mqtt_server_policies_changed(void *arg);
/* The tp_ingest_mqtt_* families (Prometheus text). */
void mqtt_server_metrics(void *arg, struct buf *b);
void mqtt_server_free(struct mqtt_server *s);

#endif
