/*
 * rollup.h - the rollup loop: journal events -> Parquet files, exactly once.
 *
 * One open file per assigned partition. A file is closed (written, fsynced,
 * renamed to its final name, see layout.h) when it reaches rollup.max_rows
 * rows or ~rollup.max_bytes bytes of values, when the next event's device
 * time falls in another UTC hour, when the schema grew (new columns), on
 * revoke and at shutdown. Only after the rename is the next offset committed
 * to the consumer group; after a crash the consumer resumes at the last
 * committed offset and rewrites the same range under the same file name,
 * replacing rather than duplicating. Determinism needs the same boundaries:
 * rows, bytes and hours are functions of the events; the optional idle
 * flush (rollup.idle_flush_s) is not, so with it a crash between a rename
 * and its commit can leave rows in two files (see README).
 *
 * Modes: continuous, or once (--rollup.once): the end offsets are captured
 * at start; the loop stops when every partition reached them, closes its
 * files and returns.
 *
 * Decoding (with opts.schemas, a registry client): each event is unpacked with
 * the descriptors of its own schema id, never with the built-in Reading, so
 * fields of later versions become columns (columns.h, union by name). The
 * consumer reports a failure as the event's decode_err (journal.h). Retriable
 * (the registry cannot answer): the partition is rewound to the event and the
 * loop waits with backoff (100 ms doubling to 5 s): no row, no commit past
 * it. Otherwise the event can never be decoded (invalid framing, id not
 * registered under the subject, payload invalid for it): it is written to
 * opts.dlq_topic as the projector writes its dead letters
 * (journal_producer_dead_letter, reason "undecodable"), and only once that
 * write is acknowledged is it passed. Without opts.schemas, events are decoded
 * with the built-in Reading (fields of other versions are not written) and
 * those it cannot decode are skipped and counted.
 *
 * Events that lack device_id/sequence/timestamp are skipped and counted.
 *
 * Object: struct rollup (heap, _new/_free). One loop thread; rollup_stop
 * and rollup_stats_get from any thread.
 *
 *     rollup_new(&opts, &r, errstr, n);
 *     rollup_run(r, errstr, n);       // until done (once) or rollup_stop
 *     rollup_free(r);
 */
#ifndef TP_ROLLUP_H
#define TP_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

#include "journal/journal.h"
#include "parquet.h"
#include "schema/schemas.h"

struct rollup;

struct rollup_options {
    const struct journal_config *journal;
    const char *group;
    const char *dir;
    uint64_t max_rows;
    uint64_t max_bytes;
    int idle_flush_s; /* 0 = off */
    bool once;
    bool progress_tty; /* draw a progress bar (stderr is a terminal) */
    struct parquet_options parquet;
    struct schemas *schemas; /* borrowed; NULL: the built-in Reading only */
    bool window_aggregates;  /* rows of WindowAggregate records (aggregates.h), not readings */
    const char *dlq_topic;   /* with schemas: where undecodable events go */
    int crash_before_rename; /* TEST HOOK: abort() when the N-th file is written, before its rename
                              */
    int crash_after_rename;  /* TEST HOOK: abort() after the N-th rename, before its commit */
    int64_t health_stall_ms; /* /healthz: the loop stalled past it (0: the default) */
};

struct rollup_stats {
    int64_t events;
    int64_t rows;
    int64_t skipped;
    int64_t files;
    int64_t open_files;
    int64_t lag;            /* once mode: events left to the captured end */
    int64_t dead_letters;   /* events written to the dead-letter topic */
    int64_t decode_retries; /* decodes that waited for the registry */
    int64_t waiting;        /* 1 while an event waits for the registry */
};

enum tp_err rollup_new(const struct rollup_options *opts, struct rollup **out, char *errstr,
                       size_t errstr_size);
enum tp_err rollup_run(struct rollup *r, char *errstr, size_t errstr_size);
void rollup_stop(struct rollup *r);
void rollup_stats_get(struct rollup *r, struct rollup_stats *out);
void rollup_free(struct rollup *r);

#endif
