/*
 * rows.h - the projection's rows as PostgreSQL binary COPY
 * (`COPY ... FROM STDIN (FORMAT binary)`): the twins and the history
 * entries of a flush, written by tp-projector's store (projector/store.c)
 * and by tp-replay's shadow build into the staging tables of
 * twin_rows_stage_sql, so neither service includes the other's folder.
 *
 * Format (PostgreSQL's "Binary Format" of COPY): a header (the 11-byte
 * signature "PGCOPY\n\377\r\n\0", int32 flags 0, int32 header extension
 * length 0), then per row an int16 field count and per field an int32
 * length (-1: NULL) and that many bytes, then the trailer int16 -1. All
 * integers big-endian; text as its UTF-8 bytes; bigint int64; float8 the
 * IEEE double's bits; timestamptz int64 microseconds since
 * 2000-01-01 00:00 UTC.
 *
 *   twins_stage:          device_id text, version bigint (= events),
 *                         last_seen timestamptz, state bytea (record.h)
 *   metric_minutes_stage: device_id text, metric text, minute timestamptz,
 *                         min float8, max float8, sum float8, count bigint
 *
 * Pure functions appending to a caller's buffer (appends past its maximum
 * are dropped: size the buffer's max for the rows); any thread that may
 * read the twin or the history map.
 *
 *     PQexec(db, twin_rows_stage_sql);          // once per connection
 *     twin_rows_header(&b);
 *     for (...) twin_rows_twin(&b, t);
 *     twin_rows_trailer(&b);
 *     // COPY twins_stage FROM STDIN (FORMAT binary): send b
 */
#ifndef TP_TWIN_ROWS_H
#define TP_TWIN_ROWS_H

#include <stdint.h>

#include "common/buf.h"
#include "history.h"
#include "twin.h"

#define TWIN_ROWS_TWIN_FIELDS    4
#define TWIN_ROWS_HISTORY_FIELDS 7

/* The temp staging tables twins_stage and metric_minutes_stage (IF NOT EXISTS, ON COMMIT
 * DELETE ROWS): columns as above, in that order. */
extern const char twin_rows_stage_sql[];
/* "COPY twins_stage FROM STDIN (FORMAT binary)", and the history's. */
extern const char twin_rows_copy_twins_sql[];
extern const char twin_rows_copy_history_sql[];

/* Appends the header of a binary COPY stream. */
void twin_rows_header(struct buf *out);
/* Appends the trailer of a binary COPY stream. */
void twin_rows_trailer(struct buf *out);
/* Appends t as a twins_stage row: device_id, version = events, last_seen, state (its
 * record, twin_record_write). */
void twin_rows_twin(struct buf *out, const struct twin *t);
/* Appends history entry e of h as a metric_minutes_stage row. */
void twin_rows_history(struct buf *out, const struct history *h, const struct history_entry *e);
/* PostgreSQL's timestamptz of ms since the Unix epoch: microseconds since 2000-01-01 UTC. */
int64_t twin_rows_pg_time(int64_t ms);

#endif
