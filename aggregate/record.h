/*
 * record.h - the aggregates topic's record: one partial (rows.h) as a
 * twinpipe.aggregates.v1.WindowAggregate (schemas/twinpipe/aggregates/v1/
 * aggregates.proto) in the Confluent wire framing of journal/framing.h
 * (magic 0, the schema id, message-index path [0], then the protobuf), the
 * partial's full state, never an increment. Key: the category.
 *
 * The schema id is the one tp-registry gave aggregate_schema_proto under
 * the subject "aggregates-value" (registered by tp-projector at start when
 * registry.url is set), else aggregate.schema_id, as the journal frames
 * built-in readings with journal.schema_id.
 *
 * Pure functions; any thread.
 *
 *     uint8_t *bytes; size_t len;
 *     aggregate_record_encode(&row, "region-a", id, &bytes, &len, errstr, n);
 *     ... produce (key = row.category) ...; free(bytes);
 */
#ifndef TP_AGGREGATE_RECORD_H
#define TP_AGGREGATE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rows.h"

#define AGGREGATE_SUBJECT "aggregates-value"

/* aggregates.proto's text, embedded at build time (what tp-projector registers). */
extern const char aggregate_schema_proto[];

/* The framed WindowAggregate of row (heap bytes, caller frees); TP_DECODE when the row's
 * metrics text or category key does not parse (nothing allocated then). */
enum tp_err aggregate_record_encode(const struct aggregate_row *row, const char *region,
                                    int32_t schema_id, uint8_t **out, size_t *len, char *errstr,
                                    size_t errstr_size);

#endif
