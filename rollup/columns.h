/*
 * columns.h - the rollup's row model: which Parquet columns a journal event
 * becomes, derived from the Reading's protobuf descriptor, and filling one
 * row from one event.
 *
 * Columns, in order: device_id (string), sequence (int64), device_time and
 * ingest_time (timestamp ms UTC; ingest_time is the Kafka message
 * timestamp), journal_partition and journal_offset (int64, lineage), then
 * every optional double field of the Reading by its field name (nullable
 * double), every double of a nested message as <field>_<sub> (e.g.
 * location_lat), every optional string field (nullable string: model,
 * firmware, region), and the free-form map as extra_metrics (nullable
 * string holding a JSON object, e.g. {"co2_ppm":612}).
 *
 * Schema evolution: a schema is the UNION of the descriptors added so far
 * (by column name). Adding a descriptor that brings new fields bumps
 * `version`; files written afterwards carry the new columns, and readers
 * merging old and new files by name see nulls in the old ones.
 *
 * Object: struct rollup_schema (embedded, _init/_release). One thread.
 *
 *     struct rollup_schema s;
 *     rollup_schema_init(&s);
 *     rollup_schema_add(&s, &twinpipe__telemetry__v1__reading__descriptor);
 *     rollup_schema_specs(&s, specs);                  // for parquet_writer_new
 *     rollup_row_fill(&s, w, &ev, errstr, n);           // then parquet_writer_end_row
 */
#ifndef TP_ROLLUP_COLUMNS_H
#define TP_ROLLUP_COLUMNS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "journal/journal.h"
#include "parquet.h"

#define ROLLUP_COLUMNS_MAX 512
#define ROLLUP_NAME_MAX    96

enum rollup_source {
    ROLLUP_SRC_DEVICE_ID,
    ROLLUP_SRC_SEQUENCE,
    ROLLUP_SRC_DEVICE_TIME,
    ROLLUP_SRC_INGEST_TIME,
    ROLLUP_SRC_PARTITION,
    ROLLUP_SRC_OFFSET,
    ROLLUP_SRC_DOUBLE,     /* optional double field `field` */
    ROLLUP_SRC_SUB_DOUBLE, /* optional double `sub` of message field `field` */
    ROLLUP_SRC_STRING,     /* optional string field `field` */
    ROLLUP_SRC_MAP_JSON,   /* map<string,double> field `field` as JSON */
};

struct rollup_column {
    char name[ROLLUP_NAME_MAX];
    enum parquet_type type;
    bool nullable;
    enum rollup_source src;
    char field[ROLLUP_NAME_MAX]; /* protobuf field name, looked up per message descriptor */
    char sub[ROLLUP_NAME_MAX];
};

struct rollup_schema {
    struct rollup_column cols[ROLLUP_COLUMNS_MAX];
    size_t n;
    unsigned version; /* bumped whenever columns are added */
    /* fields of cols resolved for the last message descriptor seen (a cache) */
    const ProtobufCMessageDescriptor *cached_desc;
    size_t cached_n;
    const ProtobufCFieldDescriptor *field[ROLLUP_COLUMNS_MAX];
    const ProtobufCFieldDescriptor *sub[ROLLUP_COLUMNS_MAX];
};

void rollup_schema_init(struct rollup_schema *s);
/* Adds the columns of d not yet present (union by name); TP_TOO_LARGE past the maximum. */
enum tp_err rollup_schema_add(struct rollup_schema *s, const ProtobufCMessageDescriptor *d,
                              char *errstr, size_t errstr_size);
/* Fills specs[0..s->n) (names borrowed from s). */
void rollup_schema_specs(const struct rollup_schema *s, struct parquet_column_spec *specs);
/* Whether an event can become a row (decoded, device_id valid UTF-8, sequence, timestamp). */
bool rollup_event_usable(const struct journal_event *ev);
/* Sets every column of the writer's current row from a usable event. */
enum tp_err rollup_row_fill(struct rollup_schema *s, struct parquet_writer *w,
                            const struct journal_event *ev, char *errstr, size_t errstr_size);

#endif
