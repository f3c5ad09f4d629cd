/*
 * thrift.h - a minimal Thrift compact-protocol encoder, enough for Parquet's
 * footer (FileMetaData) and page headers.
 *
 * Written from the Thrift compact protocol specification: field headers carry
 * the delta to the previous field id in the high nibble when it is 1..15 (else
 * the type byte is followed by the zigzag varint id), integers are zigzag
 * varints, binary is a varint length and the bytes, a bool field has its value
 * in the type nibble (1 true, 2 false), a struct ends with a 0 byte and a list
 * header holds the size in the high nibble when it is below 15.
 *
 * struct thrift_enc is embedded by its owner (_init) and writes into a
 * borrowed struct buf. Errors are sticky: every call after a failed append
 * does nothing, and thrift_enc_finish() returns the first error, so callers
 * check once. Nesting (structs inside structs or lists) is tracked up to
 * THRIFT_MAX_DEPTH levels; exceeding it or unbalanced begin/end calls are
 * programmer errors (assert).
 *
 * Thread-safety: none; an encoder belongs to one thread.
 *
 *     struct thrift_enc e;
 *     thrift_enc_init(&e, &out);          // starts the top-level struct
 *     thrift_field_i32(&e, 1, 42);
 *     thrift_field_struct_begin(&e, 2); thrift_field_bool(&e, 1, true); thrift_struct_end(&e);
 *     if (thrift_enc_finish(&e) != TP_OK) ...out grew past its maximum...
 */
#ifndef TP_ROLLUP_THRIFT_H
#define TP_ROLLUP_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define THRIFT_MAX_DEPTH 16

/* Compact-protocol element types (as they appear in list headers). */
enum thrift_type {
    THRIFT_BOOL = 1, /* in a list; a bool field uses 1 (true) / 2 (false) */
    THRIFT_BYTE = 3,
    THRIFT_I16 = 4,
    THRIFT_I32 = 5,
    THRIFT_I64 = 6,
    THRIFT_DOUBLE = 7,
    THRIFT_BINARY = 8,
    THRIFT_LIST = 9,
    THRIFT_SET = 10,
    THRIFT_MAP = 11,
    THRIFT_STRUCT = 12,
};

struct thrift_enc {
    struct buf *out;                   /* borrowed */
    int16_t last_id[THRIFT_MAX_DEPTH]; /* previous field id per open struct */
    int depth;                         /* open structs; 1 after _init */
    enum tp_err err;                   /* first failure, sticky */
};

/* Starts encoding the top-level struct, appending to out. */
void thrift_enc_init(struct thrift_enc *e, struct buf *out);
/* Ends the top-level struct; returns the first error (TP_TOO_LARGE from out). */
enum tp_err thrift_enc_finish(struct thrift_enc *e);

void thrift_field_bool(struct thrift_enc *e, int16_t id, bool v);
void thrift_field_i16(struct thrift_enc *e, int16_t id, int16_t v);
void thrift_field_i32(struct thrift_enc *e, int16_t id, int32_t v);
void thrift_field_i64(struct thrift_enc *e, int16_t id, int64_t v);
void thrift_field_binary(struct thrift_enc *e, int16_t id, const void *p, size_t n);
void thrift_field_string(struct thrift_enc *e, int16_t id, const char *s);
/* A struct-valued field (also a union: a struct with exactly one field set). */
void thrift_field_struct_begin(struct thrift_enc *e, int16_t id);
/* Ends the innermost struct opened by _field_struct_begin or _elem_struct_begin. */
void thrift_struct_end(struct thrift_enc *e);
/* A struct-valued field with no fields set, e.g. Parquet's StringType {}. */
void thrift_field_empty_struct(struct thrift_enc *e, int16_t id);
/* A list field of n elements of type elem; the n elements follow as _elem_ calls. */
void thrift_field_list_begin(struct thrift_enc *e, int16_t id, enum thrift_type elem, size_t n);

/* List elements. */
void thrift_elem_i32(struct thrift_enc *e, int32_t v);
void thrift_elem_i64(struct thrift_enc *e, int64_t v);
void thrift_elem_binary(struct thrift_enc *e, const void *p, size_t n);
void thrift_elem_string(struct thrift_enc *e, const char *s);
void thrift_elem_struct_begin(struct thrift_enc *e);
/* Already-encoded bytes, e.g. a struct encoded on its own by another thrift_enc
 * (a struct's encoding does not depend on where it is nested). */
void thrift_put_raw(struct thrift_enc *e, const void *p, size_t n);

/* Primitive encoders, exposed for tests and for Parquet's RLE headers. */
uint64_t thrift_zigzag64(int64_t v);
/* Appends v as an unsigned LEB128 varint; returns TP_TOO_LARGE if out is full. */
enum tp_err thrift_put_uvarint(struct buf *out, uint64_t v);

#endif
