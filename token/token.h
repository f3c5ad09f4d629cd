/*
 * token.h - ingest's consistency token, read by the query service for
 * read-your-writes (`?after=` or `X-Consistency-Token`).
 *
 *   t1.<partition>:<offset>,<partition>:<offset>,...
 *
 * the highest journal offset ingest wrote per partition for one request,
 * partitions strictly ascending (ingest/README.md). The events are in the
 * twins once the projector's next_offset of each named partition
 * (projector_offsets) is above the token's offset there.
 *
 * Pure functions; any thread. struct token is embedded by its user.
 *
 *     struct token t;
 *     if (token_parse(text, &t, errstr, n) != TP_OK) -> 400
 *     if (token_covered(&t, parts, next_offsets, n_rows, &p)) -> go on
 */
#ifndef TP_QUERY_TOKEN_H
#define TP_QUERY_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TOKEN_PARTS_MAX 1024
#define TOKEN_TEXT_MAX  (TOKEN_PARTS_MAX * 32)

struct token {
    size_t n;
    int32_t parts[TOKEN_PARTS_MAX];
    int64_t offsets[TOKEN_PARTS_MAX];
};

/* TP_VALIDATION with the reason when text is not a token. */
enum tp_err token_parse(const char *text, struct token *t, char *errstr, size_t errstr_size);
/*
 * Whether the projector, at next_offsets[i] for parts[i] (any order), has
 * applied every event of the token. When not, *missing is the index in t
 * of the first partition it has not reached.
 */
bool token_covered(const struct token *t, const int32_t *parts, const int64_t *next_offsets,
                   size_t n, size_t *missing);

#endif
