/*
 * journal.h - the telemetry journal on Kafka. The only module that knows
 * the event format and includes rdkafka.h.
 *
 * An event is one Reading, protobuf-packed, in the Confluent wire framing
 * (framing.h) with the configured schema id and message-index path [0].
 * Its key is the device_id, so all readings of a device land in one
 * partition in order. The producer always runs with acks=all,
 * enable.idempotence=true and zstd compression (these keys cannot be
 * overridden); any other librdkafka property comes from the service's
 * "kafka." passthrough settings.
 *
 * Objects: struct journal_producer and struct journal_consumer (heap,
 * _new/_free). Borrowed: the journal_config and its strings must outlive
 * them.
 *
 * Threads: journal_producer_append may be called from any thread;
 * delivery callbacks run on the thread calling journal_producer_poll.
 * A consumer is used by one thread; its rebalance callbacks run inside
 * journal_consumer_poll and journal_consumer_close on that thread.
 *
 *     journal_topic_ensure(&cfg, 10000, errstr, n);         // create if missing (10 s)
 *     journal_producer_new(&cfg, on_delivery, arg, &p, ...);
 *     journal_producer_append(p, reading, opaque, ...);    // per reading
 *     journal_producer_poll(p, 100);                        // -> on_delivery(opaque, ...)
 *     journal_producer_free(p);                             // flushes first
 */
#ifndef TP_JOURNAL_H
#define TP_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "twinpipe/telemetry/v1/telemetry.pb-c.h"

typedef Twinpipe__Telemetry__V1__Reading journal_reading;

#define JOURNAL_OFFSET_BEGINNING (-2)
/* In on_assign: resume from the group's committed offset in Kafka
 * (journal_consumer_commit), else from the beginning. */
#define JOURNAL_OFFSET_STORED (-1000)

/*
 * Decodes consumed events with other descriptors than the built-in Reading:
 * the run-time descriptors of each event's schema id (schema/telemetry.h).
 * unpack gets the framing's schema id and message path and the payload;
 * *out must keep the generated Reading's layout and is freed with
 * protobuf_c_message_free_unpacked before release(arg, *ref). Any error is
 * the event's (journal_event.decode_err): never decoded with the built-in
 * Reading instead, which would drop the fields of its version. A retriable
 * one (the registry cannot be asked) means "try again later"; any other,
 * that the event can never be decoded.
 */
struct journal_decoder {
    enum tp_err (*unpack)(void *arg, int32_t schema_id, const int32_t *path, size_t path_len,
                          const uint8_t *payload, size_t len, journal_reading **out, void **ref,
                          char *errstr, size_t errstr_size);
    void (*release)(void *arg, void *ref);
    void *arg;
};

struct journal_config {
    const char *bootstrap_servers;
    const char *topic;
    int partitions;  /* used when the topic is created */
    int replication; /* used when the topic is created */
    int32_t schema_id;
    const struct config_extra *kafka; /* "kafka.*" passthrough, may be NULL */
    bool report_eof;                  /* consumer: deliver end-of-partition events (ev->eof) */
    /* producer: events Kafka rejects for good (too large, invalid) go here, with
     * the reason and origin in headers; NULL = report the failure instead */
    const char *dlq_topic;
    int max_message_bytes; /* topic creation: max.message.bytes, 0 = broker default */
    /* topic creation: retention.ms; -1 = keep every event forever, and 0 (unset) means -1
     * too: a journal that silently loses old events breaks a replay "from the start" */
    int64_t retention_ms;
    const struct journal_decoder *decoder; /* consumer: NULL = the built-in Reading */
    /* consumer: do not decode events (reading stays NULL, decode_err TP_OK): the caller
     * decodes journal_event.value itself (records other than readings, e.g. aggregates) */
    bool raw;
    /* topic creation: cleanup.policy=compact (state keyed by name, e.g. the policies;
     * retention.ms is then not set and an existing topic's is not compared) */
    bool compact;
};

/*
 * The journal settings every service that touches Kafka embeds in its
 * config struct, and the config-table rows that fill them (one definition
 * for all services: JOURNAL_CONFIG_ENTRIES(struct ingest_config, journal)).
 */
struct journal_settings {
    char *bootstrap_servers;
    char *topic;
    long long partitions;
    long long replication;
    long long schema_id;
    long long retention_ms;
};

#define JOURNAL_CONFIG_ENTRIES(type, member)                                                       \
    CONFIG_ROW_STR("kafka.bootstrap.servers", type, member.bootstrap_servers, "127.0.0.1:29092",   \
                   "Kafka bootstrap servers (host:port,...)"),                                     \
        CONFIG_ROW_STR("journal.topic", type, member.topic, "twinpipe.telemetry.v1",               \
                       "journal topic"),                                                           \
        CONFIG_ROW_INT("journal.partitions", type, member.partitions, "6", 1, 10000,               \
                       "partitions when the topic is created"),                                    \
        CONFIG_ROW_INT("journal.replication", type, member.replication, "1", 1, 100,               \
                       "replication factor when the topic is created"),                            \
        CONFIG_ROW_INT("journal.schema_id", type, member.schema_id, "1", 0, 2147483647,            \
                       "schema id written in the Confluent framing of events"),                    \
        CONFIG_ROW_MS("journal.retention_ms", type, member.retention_ms, "-1", -1,                 \
                      9223372036854775807LL,                                                       \
                      "retention.ms when the topic is created (-1 or 0 = keep events forever); "   \
                      "an existing topic's is only compared (warning), never altered")

/* Fills cfg from settings (borrowing their strings) and the kafka.* passthrough. */
void journal_config_init(struct journal_config *cfg, const struct journal_settings *s,
                         const struct config_extra *kafka);

/* ---- topic administration (topic.c) ---- */

/* Creates the topic with cfg->partitions, cfg->replication and retention.ms =
 * cfg->retention_ms (-1 when 0) if missing. An existing topic is kept as is: a
 * retention.ms other than the configured one is logged as a warning naming both.
 * With cfg->compact: cleanup.policy=compact instead of retention.ms (nothing compared). */
enum tp_err journal_topic_ensure(const struct journal_config *cfg, int timeout_ms, char *errstr,
                                 size_t errstr_size);
/* The dead-letter topic's name: `configured` when set, else "<cfg->topic>.dlq" (the one
 * topic ingest, the projector and rollup share by default). */
void journal_dlq_topic_name(const struct journal_config *cfg, const char *configured, char *out,
                            size_t out_size);
/* Creates the dead-letter topic `name` like cfg's topic (partitions, replication, retention),
 * without cfg's max.message.bytes (a refused event must fit there), if missing. */
enum tp_err journal_dlq_topic_ensure(const struct journal_config *cfg, const char *name,
                                     int timeout_ms, char *errstr, size_t errstr_size);
/* End (high watermark) offsets: ends[p] for partitions p < *n (at most max). */
enum tp_err journal_topic_end_offsets(const struct journal_config *cfg, int timeout_ms,
                                      int64_t *ends, size_t max, size_t *n, char *errstr,
                                      size_t errstr_size);
/* The topic's retention.ms as the broker describes it (DescribeConfigs), e.g. "-1"; a topic
 * the broker does not know yet (just created) is asked again until timeout_ms. */
enum tp_err journal_topic_retention(const struct journal_config *cfg, int timeout_ms, char *out,
                                    size_t out_size, char *errstr, size_t errstr_size);
/* Deletes the events before before[i] of partitions[i] (Admin API DeleteRecords): their first
 * offsets (low watermarks) become before[i]. Irreversible; for tests and operators' tools. */
enum tp_err journal_topic_delete_records(const struct journal_config *cfg,
                                         const int32_t *partitions, const int64_t *before, size_t n,
                                         int timeout_ms, char *errstr, size_t errstr_size);
/* Sum over partitions of the high watermark minus the low one. */
enum tp_err journal_topic_count(const struct journal_config *cfg, int timeout_ms, int64_t *count,
                                char *errstr, size_t errstr_size);

/* ---- events (event.c) ---- */

/* Packs r as a framed event into a new buffer (caller frees). */
uint8_t *journal_event_pack(const journal_reading *r, int32_t schema_id, size_t *len);
/* Unpacks a framed event; *out is freed with journal_reading_free. */
enum tp_err journal_event_unpack(const uint8_t *data, size_t len, int32_t *schema_id,
                                 journal_reading **out, char *errstr, size_t errstr_size);
/* The same through dec (NULL: journal_event_unpack; else dec's error as it is, see struct
 * journal_decoder); *ref goes to dec->release after journal_reading_free(*out). */
enum tp_err journal_event_decode(const struct journal_decoder *dec, const uint8_t *data, size_t len,
                                 int32_t *schema_id, journal_reading **out, void **ref,
                                 char *errstr, size_t errstr_size);
void journal_reading_free(journal_reading *r);
struct arena;
/* As journal_event_unpack, the reading allocated in a (NULL: the heap); an arena's reading
 * is never journal_reading_free'd, arena_release frees it. */
enum tp_err journal_event_unpack_arena(const uint8_t *data, size_t len, struct arena *a,
                                       int32_t *schema_id, journal_reading **out, char *errstr,
                                       size_t errstr_size);

/* ---- producer (producer.c) ---- */

struct journal_producer;
struct journal_event;

/* The outcome of one appended event. */
struct journal_delivery {
    enum tp_err err;    /* TP_OK: durably in Kafka (acks=all), in the topic or the DLQ */
    const char *errstr; /* why, when err != TP_OK */
    int32_t partition;  /* where it was written */
    int64_t offset;
    bool dead_lettered; /* written to cfg->dlq_topic because the topic refused it */
};

typedef void (*journal_delivery_fn)(void *opaque, const struct journal_delivery *d, void *arg);

enum tp_err journal_producer_new(const struct journal_config *cfg, journal_delivery_fn on_delivery,
                                 void *arg, struct journal_producer **out, char *errstr,
                                 size_t errstr_size);
/* Enqueues one event; TP_QUEUE_FULL when the local queue is full. */
enum tp_err journal_producer_append(struct journal_producer *p, const journal_reading *r,
                                    void *opaque, char *errstr, size_t errstr_size);
/* The same, framed with schema_id instead of cfg->schema_id: r may be a message of a
 * registered version (run-time descriptors, schema/rtdesc.h), packed with its own
 * descriptor so fields the build does not know stay in the event. */
enum tp_err journal_producer_append_schema(struct journal_producer *p, const journal_reading *r,
                                           int32_t schema_id, void *opaque, char *errstr,
                                           size_t errstr_size);
/* Enqueues one record of bytes, copied, to cfg->topic as given: key[0..key_len) (NULL: no
 * key), value[0..value_len) (NULL: a tombstone, deleting the key in a compacted topic). Its
 * delivery report gives the partition and offset. For state topics (the policies) and
 * records other than Readings framed by the caller (the aggregates, aggregate/record.h), never
 * for readings. TP_QUEUE_FULL when the local queue is full. */
enum tp_err journal_producer_append_record(struct journal_producer *p, const char *key,
                                           size_t key_len, const void *value, size_t value_len,
                                           void *opaque, char *errstr, size_t errstr_size);
/* Enqueues a consumed event (ev from journal_consumer_poll, not released yet) unchanged to
 * cfg->topic: its key, value, headers and timestamp, copied (tp-forward's detail topic). The
 * partition is chosen by key, as for events. TP_QUEUE_FULL when the local queue is full,
 * TP_CONFIG without the event's message. */
enum tp_err journal_producer_forward(struct journal_producer *p, const struct journal_event *ev,
                                     void *opaque, char *errstr, size_t errstr_size);
/* Serves delivery reports; returns how many were served. */
int journal_producer_poll(struct journal_producer *p, int timeout_ms);
/* Waits until every enqueued event has its delivery report. */
enum tp_err journal_producer_flush(struct journal_producer *p, int timeout_ms);
/* Writes a consumed event (ev from journal_consumer_poll, not released yet) as it was, key
 * and bytes, to cfg->dlq_topic, with the headers tp-reason (reason: a short stable code),
 * tp-detail (detail, may be NULL), tp-origin, tp-topic and tp-offset (partition/offset it
 * had in cfg->topic). Its delivery report has dead_lettered set. TP_CONFIG without a
 * dead-letter topic or without the event's message. */
enum tp_err journal_producer_dead_letter(struct journal_producer *p, const struct journal_event *ev,
                                         const char *reason, const char *detail, void *opaque,
                                         char *errstr, size_t errstr_size);
/* One extra header of a dead letter (name and value NUL-terminated, borrowed for the call). */
struct journal_header {
    const char *name;
    const char *value; /* NULL: written as "" */
};
#define JOURNAL_DLQ_HEADERS_MAX 8
/*
 * Writes bytes that never were an event (a whole payload that could not be decoded, or one
 * invalid reading packed on its own) to cfg->dlq_topic, copied: key (NULL: none) and the len
 * bytes of data as they are, with the headers tp-reason (reason: a short stable code, e.g.
 * ingest's error code), tp-detail (detail, may be NULL), tp-origin, tp-topic (cfg->topic, the
 * journal it was meant for), then headers[0..n_headers) in order (at most
 * JOURNAL_DLQ_HEADERS_MAX; MQTT adds tp-client-id, tp-mqtt-topic, tp-transport). Its
 * delivery report has dead_lettered set. TP_CONFIG without a dead-letter topic,
 * TP_QUEUE_FULL when the local queue is full.
 */
enum tp_err journal_producer_dead_letter_raw(struct journal_producer *p, const char *key,
                                             const void *data, size_t len, const char *reason,
                                             const char *detail,
                                             const struct journal_header *headers, size_t n_headers,
                                             void *opaque, char *errstr, size_t errstr_size);
/* Drops every event not yet acknowledged: each gets a failed delivery report. */
void journal_producer_purge(struct journal_producer *p);
/* Whether broker metadata is reachable within timeout_ms (for /readyz). */
bool journal_producer_ready(struct journal_producer *p, int timeout_ms);
/* Events enqueued and not yet reported. */
int journal_producer_outstanding(struct journal_producer *p);
/* Flushes (bounded by 10 s) and frees; NULL is a no-op. */
void journal_producer_free(struct journal_producer *p);

/* ---- consumer (consumer.c) ---- */

struct journal_consumer;

struct journal_rebalance {
    /* Fill offsets[i] with the next offset to read of partitions[i], or
     * JOURNAL_OFFSET_BEGINNING. Returning non-OK stops the consumer. */
    enum tp_err (*on_assign)(void *arg, const int32_t *partitions, int64_t *offsets, size_t n);
    /* Called before the partitions are released: persist what is owed. When
     * `lost` is true the group already gave them to another member (session
     * or poll timeout): write nothing for them, only forget local state. */
    void (*on_revoke)(void *arg, const int32_t *partitions, size_t n, bool lost);
    void *arg;
};

/* The same for a subscription to several topics (cfg->topic a regex, "^..."): each partition
 * comes with its topic (borrowed for the call). */
struct journal_rebalance_topics {
    enum tp_err (*on_assign)(void *arg, const char *const *topics, const int32_t *partitions,
                             int64_t *offsets, size_t n);
    void (*on_revoke)(void *arg, const char *const *topics, const int32_t *partitions, size_t n,
                      bool lost);
    void *arg;
};

struct journal_event {
    const char *topic; /* consumer: the event's topic (borrowed, until journal_event_release) */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* Kafka message timestamp (producer CreateTime) */
    int32_t schema_id;
    char dlq_reason[160];     /* dead-letter events: the "tp-reason" header, else "" */
    char dlq_detail[160];     /* dead-letter events: the "tp-detail" header, else "" */
    char dlq_origin[96];      /* dead-letter events: the "tp-origin" header, else "" */
    bool eof;                 /* no event: the consumer reached the end of the partition
                                 (offset = the end), only with report_eof */
    journal_reading *reading; /* NULL when the event could not be decoded */
    char error[160];          /* why, when reading is NULL */
    enum tp_err decode_err;   /* TP_OK, or why reading is NULL (tp_err_retriable: try later) */
    void *msg;                /* consumer: the Kafka message, until journal_event_release */
    const struct journal_decoder *decoder; /* what decoded reading, if not the built-in code */
    void *decoder_ref;
    const uint8_t *value; /* consumer: the record's bytes (borrowed, until journal_event_release) */
    size_t value_len;
};

enum tp_err journal_consumer_new(const struct journal_config *cfg, const char *group_id,
                                 const struct journal_rebalance *rb, struct journal_consumer **out,
                                 char *errstr, size_t errstr_size);
/* journal_consumer_new with rebalance callbacks that name each partition's topic. */
enum tp_err journal_consumer_new_topics(const struct journal_config *cfg, const char *group_id,
                                        const struct journal_rebalance_topics *rb,
                                        struct journal_consumer **out, char *errstr,
                                        size_t errstr_size);
/*
 * Waits up to timeout_ms for one event. *got tells whether ev was filled;
 * release it with journal_event_release. Errors are fatal consumer errors
 * (a rebalance callback failed, or the topic vanished).
 */
enum tp_err journal_consumer_poll(struct journal_consumer *c, int timeout_ms,
                                  struct journal_event *ev, bool *got, char *errstr,
                                  size_t errstr_size);
void journal_event_release(struct journal_event *ev);
/* Events after `next_offset` in the partition, from the consumer's cached
 * high watermark (no request); -1 while unknown. Any thread. */
int64_t journal_consumer_lag(struct journal_consumer *c, int32_t partition, int64_t next_offset);
/* Moves the next fetch of assigned partitions to offsets[i] (JOURNAL_OFFSET_BEGINNING
 * allowed): events fetched before the call and not yet polled are never returned. Does not
 * wait for the broker. For a consumer that threw away what it had consumed (the projector
 * after a failed flush). */
enum tp_err journal_consumer_seek(struct journal_consumer *c, const int32_t *partitions,
                                  const int64_t *offsets, size_t n, char *errstr,
                                  size_t errstr_size);
/* journal_consumer_seek for a subscription to several topics: partitions[i] of topics[i]. */
enum tp_err journal_consumer_seek_topics(struct journal_consumer *c, const char *const *topics,
                                         const int32_t *partitions, const int64_t *offsets,
                                         size_t n, char *errstr, size_t errstr_size);
/* journal_consumer_lag of the partition of `topic` (a subscription to several topics). */
int64_t journal_consumer_lag_topic(struct journal_consumer *c, const char *topic, int32_t partition,
                                   int64_t next_offset);
/* For partitions[i]: committed[i] = the group's committed offset in Kafka (-1: none) and
 * low[i] = the partition's first offset (low watermark), asked of the broker (timeout_ms
 * each). May be called from on_assign (tp-forward warms its caches up before the committed
 * offset). */
enum tp_err journal_consumer_committed(struct journal_consumer *c, const int32_t *partitions,
                                       size_t n, int timeout_ms, int64_t *committed, int64_t *low,
                                       char *errstr, size_t errstr_size);
/* Commits next offsets to the consumer group in Kafka, synchronously. */
enum tp_err journal_consumer_commit(struct journal_consumer *c, const int32_t *partitions,
                                    const int64_t *offsets, size_t n, char *errstr,
                                    size_t errstr_size);
/* Leaves the group (runs on_revoke) and frees; NULL is a no-op. */
void journal_consumer_free(struct journal_consumer *c);

/* ---- reader (reader.c): every partition by assign, no group membership ---- */

/*
 * For a tool that reads ranges of the journal itself (tp-replay): partitions
 * are assigned by the caller at the offsets it chooses, nothing is committed
 * and no group is joined (the group.id librdkafka requires for assign is
 * "tp-reader" and never used). Events come in batches whose readings are
 * unpacked into a caller's arena: a batch costs a few allocations instead of
 * several per reading. With cfg->decoder (registered schema versions), each
 * is decoded through it instead and held by the reader until
 * journal_reader_release; an event whose decoding may pass later (the
 * registry does not answer) fails the poll, never decoded with the built-in
 * Reading. One thread.
 *
 *     journal_reader_new(&cfg, &r, errstr, n);
 *     journal_reader_watermarks(r, 10000, lo, hi, max, &n_parts, ...);
 *     journal_reader_assign(r, parts, offsets, n_parts, ...);
 *     journal_reader_poll(r, 100, evs, 10000, &arena, &n, ...);  // then arena_release
 *     journal_reader_release(r);                                 // and this
 *     journal_reader_free(r);
 */
struct journal_reader;

enum tp_err journal_reader_new(const struct journal_config *cfg, struct journal_reader **out,
                               char *errstr, size_t errstr_size);
/* Low and high watermarks of every partition of the topic (at most max); *n = partitions. */
enum tp_err journal_reader_watermarks(struct journal_reader *r, int timeout_ms, int64_t *lo,
                                      int64_t *hi, size_t max, size_t *n, char *errstr,
                                      size_t errstr_size);
/* offsets[p] for p < n: the first offset whose Kafka timestamp is >= ts_ms (offsetsForTimes),
 * or the high watermark when there is none. */
enum tp_err journal_reader_offsets_for_time(struct journal_reader *r, int64_t ts_ms, int timeout_ms,
                                            int64_t *offsets, size_t n, char *errstr,
                                            size_t errstr_size);
/* Reads partitions[i] from offsets[i] on (JOURNAL_OFFSET_BEGINNING allowed), replacing the
 * previous assignment; events fetched before and not yet polled are dropped. */
enum tp_err journal_reader_assign(struct journal_reader *r, const int32_t *partitions,
                                  const int64_t *offsets, size_t n, char *errstr,
                                  size_t errstr_size);
/*
 * Up to max events (waiting up to timeout_ms for the first); *n = how many. A reading is
 * allocated in `a` and valid until arena_release(a): never journal_event_release it (a NULL:
 * events are not decoded, reading is NULL: for measuring the journal alone). Only
 * partition, offset, timestamp_ms, schema_id, reading and error are set (no headers).
 * End-of-partition notices are not reported.
 */
enum tp_err journal_reader_poll(struct journal_reader *r, int timeout_ms, struct journal_event *evs,
                                size_t max, struct arena *a, size_t *n, char *errstr,
                                size_t errstr_size);
/* Frees the readings decoded through cfg->decoder by the polls since the last call (with
 * the arena's: their events are gone). */
void journal_reader_release(struct journal_reader *r);
/* Events after next_offset in the partition, from the cached high watermark (no request);
 * -1 while unknown. Any thread. */
int64_t journal_reader_lag(struct journal_reader *r, int32_t partition, int64_t next_offset);
/* NULL is a no-op. */
void journal_reader_free(struct journal_reader *r);

#endif
