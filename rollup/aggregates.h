/*
 * aggregates.h - the rollup's second row model (rollup.message=window_aggregate):
 * a topic of WindowAggregate records (schemas/twinpipe/aggregates/v1: a
 * region's `aggregates`, or a mirrored `<region>.aggregates` at the global
 * site; docs/decisions/regions.md) as Parquet rows, one row per record.
 *
 * Columns, in order: region, category (strings), window_start (timestamp ms
 * UTC), window_ms, journal_partition, version, readings (int64), then per
 * metric seen <metric>_count (int64), <metric>_min, <metric>_max and
 * <metric>_sum (double), nullable: a record without the metric has nulls, min
 * and max are null while its count is 0. The metric columns are the union, by
 * name, of the metrics seen (rollup_agg_columns): a new metric bumps the
 * schema's version and open files rotate, as a new Reading field does
 * (columns.h). A row is one *version* of a partial: readers keep the highest
 * version per (region, category, window_start, journal_partition)
 * (rollup/README.md gives the DuckDB query).
 *
 * Records are the Confluent framing (journal/framing.h, message path [0]) of
 * the built-in WindowAggregate; the schema id is not looked up. One that does
 * not decode, or lacks a window or a version, or has a metric name that is no
 * column name ([A-Za-z0-9._-]{1,64}), is not a row (the caller skips it).
 *
 * Pure; one thread (the rollup loop's). The record is the caller's
 * (rollup_agg_free).
 *
 *     rollup_agg_schema_init(&schema);
 *     rollup_agg_decode(ev->value, ev->value_len, &a, errstr, n);
 *     rollup_agg_columns(&schema, a, ...);              // version bumped: rotate
 *     rollup_agg_fill(&schema, w, a, ...);              // then parquet_writer_end_row
 *     rollup_agg_free(a);
 */
#ifndef TP_ROLLUP_AGGREGATES_H
#define TP_ROLLUP_AGGREGATES_H

#include <stddef.h>
#include <stdint.h>

#include "columns.h"
#include "twinpipe/aggregates/v1/aggregates.pb-c.h"

typedef Twinpipe__Aggregates__V1__WindowAggregate rollup_agg;

/* The fixed columns above (replacing the Reading's). */
void rollup_agg_schema_init(struct rollup_schema *s);
/* A framed record into *out, or TP_DECODE / TP_VALIDATION with the reason. */
enum tp_err rollup_agg_decode(const uint8_t *data, size_t len, rollup_agg **out, char *errstr,
                              size_t errstr_size);
void rollup_agg_free(rollup_agg *a);
/* Adds the four columns of each metric of a not in s yet; TP_TOO_LARGE past the maximum. */
enum tp_err rollup_agg_columns(struct rollup_schema *s, const rollup_agg *a, char *errstr,
                               size_t errstr_size);
/* Sets every column of the writer's current row from a. */
enum tp_err rollup_agg_fill(const struct rollup_schema *s, struct parquet_writer *w,
                            const rollup_agg *a, char *errstr, size_t errstr_size);
/* An estimate of the row's value bytes (rotation by rollup.max_bytes). */
uint64_t rollup_agg_bytes(const rollup_agg *a);

#endif
