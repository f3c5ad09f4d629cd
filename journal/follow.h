/*
 * follow.h - a follower of a compacted topic: every record from the
 * beginning, then every new one, handed to a callback.
 *
 * For state that lives in a compacted topic (the policies, key = name,
 * a null value deletes): the follower assigns every partition of one topic
 * at its beginning (no consumer group is joined, nothing is ever committed:
 * each start reads the whole topic again, which is what rebuilds the state),
 * and hands each record to on_record on its own thread, in offset order per
 * partition. It reports "caught up" once every partition was read up to the
 * high watermark it saw at start (a service's readiness), then keeps
 * following until journal_follower_free.
 *
 * - A topic that does not exist yet is looked up again every second; the
 *   partitions are those the topic has when it is found.
 * - Bounded: a record whose key + value exceed max_bytes is not handed with
 *   its bytes: on_record gets it with too_large set, value NULL, and the key
 *   only if the key alone fits (the caller decides; the policy feed keeps
 *   its state and counts it). librdkafka's own fetch buffer is bounded by its
 *   fetch settings (kafka.* passthrough).
 * - Read-your-writes: journal_follower_wait returns once the record at
 *   (partition, offset) -- e.g. the offset of a produce's delivery report --
 *   has been handed to on_record and on_record returned (or a later offset
 *   was reached: compaction may have removed it).
 *
 * Object: struct journal_follower (heap, start/free). cfg and topic are
 * borrowed and must outlive it. on_record runs on the follower's thread only
 * (never concurrently with itself); its record's pointers are borrowed for the
 * call. journal_follower_caught_up, _wait and _free may be called from any
 * other thread (never from on_record).
 *
 *     journal_follower_start(&cfg, "policies", 80 * 1024, on_record, arg, &f, errstr, n);
 *     journal_follower_caught_up(f)                  // /readyz
 *     journal_follower_wait(f, d.partition, d.offset, 2000)  // after a produce
 *     journal_follower_free(f);                      // stops the thread, joins it
 */
#ifndef TP_JOURNAL_FOLLOW_H
#define TP_JOURNAL_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"

struct journal_record {
    const char *key; /* NULL: no key (or too_large with a key over max_bytes) */
    size_t key_len;
    const void *value; /* NULL: a tombstone, or too_large */
    size_t value_len;  /* the record's size even when too_large */
    bool too_large;    /* key_len + value_len > max_bytes: the value is not given */
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* the Kafka timestamp (CreateTime of the producer) */
};

typedef void (*journal_follow_fn)(void *arg, const struct journal_record *r);

struct journal_follower;

/* Starts following `topic` (cfg gives the bootstrap servers and kafka.* passthrough;
 * cfg->topic is not used). TP_CONFIG / TP_KAFKA when the consumer cannot be created. */
enum tp_err journal_follower_start(const struct journal_config *cfg, const char *topic,
                                   size_t max_bytes, journal_follow_fn on_record, void *arg,
                                   struct journal_follower **out, char *errstr, size_t errstr_size);
/* Whether every partition was read up to its high watermark seen at start. Never goes back. */
bool journal_follower_caught_up(struct journal_follower *f);
/* Waits up to timeout_ms until the caught-up point: TP_OK or TP_TIMEOUT. */
enum tp_err journal_follower_wait_caught_up(struct journal_follower *f, int timeout_ms);
/* Waits up to timeout_ms until the record at (partition, offset) was handed to on_record
 * (or a later offset of that partition reached): TP_OK, or TP_TIMEOUT. */
enum tp_err journal_follower_wait(struct journal_follower *f, int32_t partition, int64_t offset,
                                  int timeout_ms);
/* Records handed so far (too_large ones included). */
uint64_t journal_follower_records(struct journal_follower *f);
/* Stops the thread, closes the consumer, frees; NULL is a no-op. */
void journal_follower_free(struct journal_follower *f);

#endif
