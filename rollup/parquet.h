/*
 * parquet.h - a standalone Apache Parquet file writer for flat tables of
 * strings, 64-bit integers, millisecond UTC timestamps and doubles.
 *
 * Written from the Parquet format specification (parquet.thrift,
 * Encodings.md): data pages v1, PLAIN values, RLE_DICTIONARY for strings
 * (dictionary page PLAIN), definition levels in the RLE/bit-packed hybrid with
 * their 4-byte length, ZSTD, SNAPPY or no compression, column-chunk statistics
 * (min_value/max_value under TYPE_ORDER, null_count, nan_count for doubles),
 * footer = FileMetaData + 4-byte length + "PAR1".
 *
 * The main object is struct parquet_writer (_new/_free). Rows are appended
 * row-wise: set each column of the current row with parquet_writer_set_*()
 * (a nullable column left unset is null), then parquet_writer_end_row()
 * commits the row atomically. A row group is buffered in memory and written
 * when it reaches opts.row_group_rows rows or opts.row_group_bytes buffered
 * bytes, so memory is bounded by one row group. parquet_writer_close() writes
 * the last row group and the footer and fsyncs the file and its directory;
 * until then the file is not a valid Parquet file, and _free() of a writer
 * that was not closed successfully removes it.
 *
 * After an I/O or compression error the writer is failed: every later call
 * returns that error. Column indexes out of range and setters of the wrong
 * type for a column are programmer errors (assert).
 *
 * Thread-safety: none; a writer belongs to one thread.
 *
 *     struct parquet_column_spec cols[] = {{"device_id", PARQUET_STRING, false},
 *                                          {"speed", PARQUET_DOUBLE, true}};
 *     parquet_writer_new("out.parquet", cols, 2, NULL, &w, errstr, sizeof(errstr));
 *     parquet_writer_set_string(w, 0, "car-1", 5); parquet_writer_set_double(w, 1, 50.0);
 *     parquet_writer_end_row(w, errstr, sizeof(errstr));          // ... more rows
 *     parquet_writer_close(w, errstr, sizeof(errstr)); parquet_writer_free(w);
 */
#ifndef TP_ROLLUP_PARQUET_H
#define TP_ROLLUP_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifndef PARQUET_WRITER_VERSION
#define PARQUET_WRITER_VERSION "0.1.0"
#endif
/* FileMetaData.created_by, in the "<application> version <version>" form the spec asks for. */
#define PARQUET_CREATED_BY "twinpipe parquet writer version " PARQUET_WRITER_VERSION

enum parquet_type {
    PARQUET_STRING,       /* BYTE_ARRAY, logical STRING (converted UTF8); valid UTF-8 only */
    PARQUET_INT64,        /* INT64, no annotation */
    PARQUET_TIMESTAMP_MS, /* INT64, TIMESTAMP(isAdjustedToUTC=true, MILLIS), ms since epoch */
    PARQUET_DOUBLE,       /* DOUBLE */
};

/* Values are Parquet's CompressionCodec numbers. */
enum parquet_codec {
    PARQUET_CODEC_NONE = 0,
    PARQUET_CODEC_SNAPPY = 1, /* raw snappy blocks, via Debian's libsnappy C API */
    PARQUET_CODEC_ZSTD = 6,
};

struct parquet_column_spec {
    const char *name; /* copied; unique, non-empty */
    enum parquet_type type;
    bool nullable; /* OPTIONAL (may hold nulls) or REQUIRED */
};

struct parquet_options {
    enum parquet_codec codec; /* default ZSTD */
    int zstd_level;           /* default 3 */
    size_t row_group_rows;    /* rows per row group, default 1,000,000; at most INT32_MAX */
    size_t row_group_bytes;   /* also flush when this much is buffered, default 128 MiB */
    size_t page_bytes;        /* target uncompressed data-page size, default 1 MiB */
    size_t dict_max_bytes;    /* string dictionary limit per column chunk (PLAIN-encoded
                                 size); past it the chunk falls back to PLAIN; 0 = never
                                 use a dictionary; default 1 MiB */
    size_t max_value_bytes;   /* longest string accepted, default 16 MiB, at most 256 MiB */
    size_t stats_max_bytes;   /* string min/max longer than this are left out of the
                                 statistics (never truncated), default 4096 */
};

/* Fills in the defaults above. */
void parquet_options_init(struct parquet_options *opts);

struct parquet_writer;

/*
 * Creates (truncates) path and writes the leading magic. cols is copied;
 * opts NULL means defaults. Fails with TP_INVALID_ARG for a bad schema or
 * options and TP_IO when the file cannot be created.
 */
enum tp_err parquet_writer_new(const char *path, const struct parquet_column_spec *cols,
                               size_t n_cols, const struct parquet_options *opts,
                               struct parquet_writer **out, char *errstr, size_t errstr_size);

/* Setters for the current row; setting a column twice keeps the last value. */
/* PARQUET_STRING: copies n bytes; TP_VALIDATION if not UTF-8, TP_TOO_LARGE past
 * max_value_bytes (the column is then left unset). */
enum tp_err parquet_writer_set_string(struct parquet_writer *w, size_t col, const char *s, size_t n,
                                      char *errstr, size_t errstr_size);
/* PARQUET_INT64 or PARQUET_TIMESTAMP_MS. */
void parquet_writer_set_i64(struct parquet_writer *w, size_t col, int64_t v);
/* PARQUET_DOUBLE; any value, NaN and infinities included. */
void parquet_writer_set_double(struct parquet_writer *w, size_t col, double v);
/* A nullable column only; TP_INVALID_ARG for a required one. */
enum tp_err parquet_writer_set_null(struct parquet_writer *w, size_t col, char *errstr,
                                    size_t errstr_size);

/*
 * Commits the current row. TP_INVALID_ARG if a required column was not set
 * (the row is dropped, nothing is written). May write a row group: TP_IO on
 * failure, after which the writer is failed.
 */
enum tp_err parquet_writer_end_row(struct parquet_writer *w, char *errstr, size_t errstr_size);

/* Rows committed so far, and row groups written so far. */
uint64_t parquet_writer_rows(const struct parquet_writer *w);
size_t parquet_writer_row_groups(const struct parquet_writer *w);

/* Writes the last row group and the footer, fsyncs and closes the file. */
enum tp_err parquet_writer_close(struct parquet_writer *w, char *errstr, size_t errstr_size);

/* Frees w; if it was not closed successfully, closes and removes the file. NULL is a no-op. */
void parquet_writer_free(struct parquet_writer *w);

#endif
