/*
 * token.h - the consistency token: written by tp-ingest into each 202
 * answer (token_write), read by tp-query for read-your-writes (`?after=` or
 * `X-Consistency-Token`, token_parse). One module for both sides, so the
 * wire format has one definition.
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
 *     token_write(&body, parts, offsets, n);                   ingest
 *     struct token t;                                          query
 *     if (token_parse(text, &t, errstr, n) != TP_OK) -> 400
 *     if (token_covered(&t, parts, next_offsets, n_rows, &p)) -> go on
 */
#ifndef TP_TOKEN_TOKEN_H
#define TP_TOKEN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define TOKEN_PARTS_MAX 1024
#define TOKEN_TEXT_MAX  (TOKEN_PARTS_MAX * 32)

struct token {
    size_t n;
    int32_t parts[TOKEN_PARTS_MAX];
    int64_t offsets[TOKEN_PARTS_MAX];
};

/*
 * Appends the token of n (partition, offset) pairs, in any order, to out:
 * sorted by partition. Partitions must be distinct and >= 0, offsets >= 0
 * (a journal's); token_parse reads back the same pairs when n is at most
 * TOKEN_PARTS_MAX. n = 0 writes "t1.", which no parse accepts (a request that
 * journaled nothing has nothing to wait for). Returns buf_printf's error when
 * out is full.
 */
enum tp_err token_write(struct buf *out, const int32_t *parts, const int64_t *offsets, size_t n);
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
