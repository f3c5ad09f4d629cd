/*
 * fold.h - the fold: applies a journaled reading to its device's twin
 * (twin.h), idempotently, and hands closed minutes to the history map.
 *
 * The fold is generic: it walks the Reading's protobuf descriptor, so a new
 * numeric field in the schema becomes a metric with no code change.
 *
 * Sequence window: folding is idempotent by the exact (device_id,
 * sequence). Besides its highest sequence (last_sequence) a twin keeps
 * `seen`, a bitmap of the TWIN_SEQ_WINDOW sequences below it (bit i:
 * last_sequence - 1 - i was applied; sequences <= 0, which no valid reading
 * has, count as seen). A reading of a newer sequence is applied in full and
 * slides the window; one inside the window whose bit is clear is *late*: it
 * counts in events, the statistics and its history minute, but the latest
 * values, location, attributes, last_seen and last_sequence stay those of
 * the newest reading; one whose bit is set (or equal to last_sequence) is a
 * duplicate and changes nothing. Older than the window: FOLD_TOO_LATE
 * (nothing changes; the projector dead-letters it). A sequence more than
 * max_jump above last_sequence is FOLD_JUMP (nothing changes): one reading
 * at 2^63-1 would otherwise make every later reading of the device look
 * old. Twins stored before the window existed load with every bit set (as
 * the old rule: nothing below last_sequence is applied again).
 *
 * History (per device, metric and minute of device time: min/max/sum/count)
 * is kept in two places so that each minute is written once, not once per
 * flush: the twin holds its open minute (twin.h), persisted with the twin
 * itself; a reading of a later minute *closes* it: each metric's figures of
 * the closed minute go to the history map (history.h) when one is given,
 * which the next flush adds to table metric_minutes in the same
 * transaction as the twin. A late reading (a minute before the open one)
 * adds its values to the history map directly. Which minute a value lands
 * in depends only on the device's own readings in journal order, never on
 * flush timing.
 *
 * Threads: as the twin's and the history map's (twin.h, history.h).
 *
 *     struct twin *t = twin_new(reading->device_id);
 *     if (fold_apply(t, reading, hist, FOLD_MAX_JUMP_DEFAULT) == FOLD_APPLIED) mark dirty;
 *     twin_free(t);
 */
#ifndef TP_FOLD_H
#define TP_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "journal/journal.h"
#include "twin.h"

struct history;

#define FOLD_MAX_JUMP_DEFAULT (1LL << 32) /* projector.max_sequence_jump's default */

/* The config row of projector.max_sequence_jump, shared with tp-replay (which must fold the
 * same way): a reading more than this many sequences above its twin's is not applied. */
#define FOLD_MAX_JUMP_CONFIG_ENTRY(type, member)                                                   \
    CONFIG_ROW_INT("projector.max_sequence_jump", type, member, "4294967296", 1, INT64_MAX,        \
                   "a reading more than this many sequences above its device's highest is not "    \
                   "applied: it goes to the dead-letter topic (reason sequence_jump) and is "      \
                   "counted (tp-projector and tp-replay fold alike: set both the same)")

enum fold_result {
    FOLD_APPLIED,   /* a newer reading, or a late one inside the window (see above) */
    FOLD_DUPLICATE, /* this exact sequence was applied already */
    FOLD_INVALID,   /* fold_valid() is false */
    FOLD_TOO_LATE,  /* older than the window: not applied */
    FOLD_JUMP       /* more than max_jump above last_sequence: not applied */
};

/* Whether r can be folded at all: device_id (UTF-8, <= 256 bytes), sequence
 * > 0, timestamp within years 1..9999. Anything else is skipped and counted. */
bool fold_valid(const journal_reading *r);
/* Applies r to t (r->device_id must be t's). When applied, each finite metric value goes
 * to the twin's open minute; a minute it closes, and values of a reading of an earlier
 * minute, go to h (NULL: dropped, for tests of the twin alone). max_jump >= 1: see above
 * (FOLD_MAX_JUMP_DEFAULT unless configured). */
enum fold_result fold_apply(struct twin *t, const journal_reading *r, struct history *h,
                            int64_t max_jump);
/* Short stable name of a result ("applied", "duplicate", "invalid", "too_late",
 * "sequence_jump"): the dead-letter reason and the metrics' word. */
const char *fold_result_name(enum fold_result res);

#endif
