/*
 * rows.h - the aggregator's rows in PostgreSQL (table aggregate_windows,
 * migrations/0011_aggregate_windows.sql): the flush's staging COPY and its
 * merge-upsert, the rows it returns, and the outbox statements of the
 * publisher (publish.h).
 *
 * A row is one partial: (category, window_start, journal_partition) ->
 * version, readings, metrics, published_version, plus the attribute names
 * of its category (aggregate.category when it was folded) and window_ms.
 *
 * `metrics` (bytea) is UTF-8 text, one line per metric sorted by name in
 * byte order: "name TAB count TAB min TAB max TAB sum LF", the doubles in a
 * form that reads back to the same double (the C side writes the shortest
 * such, PostgreSQL's float8out with extra_float_digits >= 1 too). Text,
 * so that the migration's SQL function aggregate_metrics_merge(a, b) merges
 * two of them exactly (count + count, least, greatest, sum + sum) inside
 * the upsert, and a SQL reader can take it apart with
 * aggregate_metrics_rows(m). Metric names never hold a control character
 * (window.h).
 *
 * The flush (projector/store.c, in its transaction, after the offsets'
 * compare-and-set): aggregate_rows_stage_sql once per connection; COPY the
 * map's entries (aggregate_rows_copy) into aggregate_windows_stage; run
 * aggregate_rows_upsert_sql, which inserts new partials at version 1 and
 * merges into existing ones with version + 1, RETURNING the merged rows
 * (aggregate_rows_read). So the partial's version grows by one per flush
 * that changed it, and the stored state is the sum of every applied reading
 * exactly once (the offsets' compare-and-set refuses a flush applied twice).
 *
 * Pure functions and constant SQL; any thread.
 *
 *     aggregate_rows_copy(&b, map);                       // pure, the fold's thread
 *     COPY aggregate_windows_stage ...; PQexec(upsert)    // the flusher
 *     aggregate_rows_read(res, &rows);                    // RETURNING
 *     aggregate_rows_release(&rows);
 */
#ifndef TP_AGGREGATE_ROWS_H
#define TP_AGGREGATE_ROWS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "window.h"

/* One partial as stored (strings owned by the row). */
struct aggregate_row {
    char *category;   /* the key (window.h) */
    char *attributes; /* its attribute names, "model,firmware" */
    int64_t window_start_ms;
    int32_t window_ms;
    int32_t partition;
    int64_t version;
    int64_t readings;
    char *metrics; /* the text form above, NUL-terminated */
    size_t metrics_len;
};

struct aggregate_rows {
    struct aggregate_row *v;
    size_t n, cap;
};

/* The temp table aggregate_windows_stage (IF NOT EXISTS, ON COMMIT DELETE ROWS). */
extern const char aggregate_rows_stage_sql[];
/* "COPY aggregate_windows_stage FROM STDIN (FORMAT binary)". */
extern const char aggregate_rows_copy_sql[];
/* The merge-upsert of the stage, RETURNING the merged rows in aggregate_rows_read's columns. */
extern const char aggregate_rows_upsert_sql[];
/* The publisher's sweep: $1 int[] partitions, $2 grace ms, $3 max rows: closed partials
 * (window_start + window_ms + grace <= now()) with published_version < version. */
extern const char aggregate_rows_sweep_sql[];
/* Sets published_version = $4[i] of ($1 text[] category, $2 bigint[] window_start_ms,
 * $3 int[] partition) where it is lower: never moves back. */
extern const char aggregate_rows_published_sql[];
/* Deletes partials published in full whose window started over $1 hours ago. */
extern const char aggregate_rows_retention_sql[];

/* Appends the metrics of e in the text form above (sorted by name). */
void aggregate_rows_metrics_text(struct buf *out, const struct aggregate_entry *e);
/* Appends a complete binary COPY stream of every entry of m (header, rows, trailer) to out;
 * nothing when m is empty. Returns the rows written. */
size_t aggregate_rows_copy(struct buf *out, const struct aggregate_map *m);
/* Appends the rows of a result in the upsert's (and the sweep's) columns to rows. */
enum tp_err aggregate_rows_read(const PGresult *res, struct aggregate_rows *rows, char *errstr,
                                size_t errstr_size);
/* Appends a copy of r. */
void aggregate_rows_push(struct aggregate_rows *rows, const struct aggregate_row *r);
/* Frees every row (the struct may be filled again). */
void aggregate_rows_release(struct aggregate_rows *rows);

#endif
