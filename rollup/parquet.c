#include "rollup/parquet.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <snappy-c.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/mem.h"
#include "rollup/thrift.h"

/* parquet.thrift enums */
enum {
    PT_INT64 = 2,
    PT_DOUBLE = 5,
    PT_BYTE_ARRAY = 6,
};
enum {
    REP_REQUIRED = 0,
    REP_OPTIONAL = 1,
};
enum {
    CONV_UTF8 = 0,
    CONV_TIMESTAMP_MILLIS = 9,
};
enum {
    ENC_PLAIN = 0,
    ENC_RLE = 3,
    ENC_RLE_DICTIONARY = 8,
};
enum {
    PAGE_DATA = 0,
    PAGE_DICTIONARY = 2,
};

#define MIB                ((size_t)1 << 20)
#define HARD_MAX_VALUE     (256 * MIB) /* keeps every page size within an i32 */
#define HARD_MAX_PAGE      (256 * MIB)
#define HARD_MAX_DICT      (1024 * MIB)
#define INTERNAL_BUF_MAX   (SIZE_MAX / 4) /* row-group buffers: bounded by row_group_bytes */
#define RLE_MAX_LIT_GROUPS 63             /* bit-packed runs of at most 504 values */
/* Ended rows are kept column-major and committed PQ_BATCH at a time, one
 * column after the other: each column's buffers then grow sequentially and
 * its dictionary stays in cache (row by row into every column at once was
 * twice as slow). */
#define PQ_BATCH 1024

enum staged {
    STAGED_UNSET,
    STAGED_VALUE,
    STAGED_NULL,
};

struct dict_slot {
    uint64_t hash;
    uint32_t idx1; /* dictionary index + 1; 0 = empty slot */
};

struct pq_col {
    char *name;
    enum parquet_type type;
    bool nullable;

    /* rows not yet committed to the row group, column-major (PQ_BATCH of
     * them, see batch_commit); the setters write row w->b_rows directly */
    uint8_t *b_state;          /* enum staged per row */
    uint64_t *b_val;           /* int64 value or double bits */
    uint32_t *b_soff, *b_slen; /* strings: offset/length in b_str */
    struct buf b_str;

    /* the current row group */
    struct buf defs;   /* nullable: one byte per row, 1 = value, 0 = null */
    struct buf values; /* PLAIN values (fixed types, and strings once not in dict mode) */
    size_t n_values;   /* non-null values */
    size_t n_nulls;
    bool dict_mode;  /* strings: values are dictionary indexes */
    struct buf dict; /* PLAIN-encoded dictionary entries */
    size_t *ent_off; /* offset in dict of each entry's length prefix */
    size_t n_ent, cap_ent;
    struct dict_slot *slots;
    size_t n_slots; /* power of two */
    uint32_t *idx;  /* one dictionary index per non-null value */
    size_t cap_idx;

    /* column-chunk statistics */
    bool has_minmax; /* some non-null, non-NaN value seen */
    int64_t min_i, max_i;
    double min_d, max_d;
    bool neg_zero, pos_zero;
    uint64_t nan_count;
    struct buf min_s, max_s;
};

struct parquet_writer {
    char *path;
    int fd;
    uint64_t offset; /* bytes written so far */
    struct parquet_options opts;
    struct pq_col *cols;
    size_t n_cols;

    size_t rg_rows;
    size_t rg_bytes;       /* approximate memory held by the row group */
    size_t rg_fixed_bytes; /* fixed-width columns' memory at the last batch commit */
    size_t rg_str_bytes;   /* string columns' memory at the last batch commit */
    size_t b_str_bytes;    /* strings set in the batch, as PLAIN (4 + len) */
    size_t b_rows;         /* rows in the batch; the current row is row b_rows */
    size_t row_max_bytes;  /* most a row can add besides strings (values + levels) */
    uint64_t total_rows;
    size_t n_row_groups;
    struct buf rg_meta; /* serialized RowGroup structs, back to back */

    ZSTD_CCtx *zc;
    struct buf page, hdr, chunks; /* scratch */
    uint8_t *zbuf;                /* compressed page */
    size_t zcap;
    uint32_t *scratch; /* definition levels of a page as uint32 */
    size_t cap_scratch;

    enum tp_err failed; /* TP_OK until an I/O error; then sticky */
    char failmsg[256];
    bool closed; /* footer written and file closed */
};

/* ---- small helpers ---- */

static inline void must_append(struct buf *b, const void *p, size_t n)
{
    if (b->data && b->cap - b->len > n) { /* fast path: room, incl. the NUL */
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    enum tp_err err = buf_append(b, p, n);
    assert(err == TP_OK); /* internal buffers are bounded by row_group_bytes instead */
    (void)err;
}

static void put_u32le(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    must_append(b, x, 4);
}

/* v as 8 little-endian bytes (a plain copy on little-endian hosts). */
static inline uint64_t to_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return v;
#else
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    memcpy(&v, x, 8);
    return v;
#endif
}

static void put_u64le(struct buf *b, uint64_t v)
{
    v = to_le64(v);
    must_append(b, &v, 8);
}

static void enc_u64le(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const void *p)
{
    const uint8_t *x = p;
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Unsigned byte-wise order, a proper prefix first (BYTE_ARRAY / UTF8 column order). */
static int bytes_cmp(const void *a, size_t na, const void *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0)
        return c;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int bit_width(uint32_t max_value)
{
    int w = 0;
    while (w < 32 && (max_value >> w) != 0)
        w++;
    return w;
}

/* ---- RLE / bit-packed hybrid (Encodings.md), without a length prefix ---- */

static void rle_put_uvarint(struct buf *out, uint64_t v)
{
    enum tp_err err = thrift_put_uvarint(out, v);
    assert(err == TP_OK);
    (void)err;
}

/* n values, the last group padded with zeros when n is not a multiple of 8. */
static void rle_bitpacked(struct buf *out, const uint32_t *v, size_t n, int bw)
{
    while (n > 0) {
        size_t take = n < RLE_MAX_LIT_GROUPS * 8 ? n : RLE_MAX_LIT_GROUPS * 8;
        size_t groups = (take + 7) / 8;
        rle_put_uvarint(out, (uint64_t)groups << 1 | 1);
        uint64_t acc = 0;
        int nbits = 0;
        for (size_t j = 0; j < groups * 8; j++) {
            acc |= (uint64_t)(j < take ? v[j] : 0) << nbits;
            nbits += bw;
            while (nbits >= 8) {
                uint8_t b = (uint8_t)acc;
                must_append(out, &b, 1);
                acc >>= 8;
                nbits -= 8;
            }
        }
        assert(nbits == 0); /* 8 values of bw bits are bw whole bytes */
        v += take;
        n -= take;
    }
}

static void rle_run(struct buf *out, uint32_t value, size_t count, int bw)
{
    rle_put_uvarint(out, (uint64_t)count << 1);
    for (int i = 0; i < (bw + 7) / 8; i++) {
        uint8_t b = (uint8_t)(value >> (8 * i));
        must_append(out, &b, 1);
    }
}

/*
 * Repeated values (8 or more, after topping up the pending literal to a
 * multiple of 8) become RLE runs, everything else bit-packed runs.
 */
static void rle_encode(struct buf *out, const uint32_t *v, size_t n, int bw)
{
    assert(bw >= 1 && bw <= 32);
    size_t lit_start = 0; /* pending literal is v[lit_start, i) */
    size_t i = 0;
    while (i < n) {
        size_t r = 1;
        while (i + r < n && v[i + r] == v[i])
            r++;
        size_t pad = (8 - (i - lit_start) % 8) % 8;
        if (r >= pad + 8) {
            i += pad;
            r -= pad;
            rle_bitpacked(out, v + lit_start, i - lit_start, bw);
            rle_run(out, v[i], r, bw);
            i += r;
            lit_start = i;
        } else {
            i += r;
        }
    }
    rle_bitpacked(out, v + lit_start, n - lit_start, bw);
}

/* ---- errors and file output ---- */

static enum tp_err writer_fail(struct parquet_writer *w, enum tp_err err, char *errstr,
                               size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum tp_err writer_fail(struct parquet_writer *w, enum tp_err err, char *errstr,
                               size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->failmsg, sizeof(w->failmsg), fmt, ap);
    va_end(ap);
    w->failed = err;
    return tp_err_set(err, errstr, errstr_size, "%s", w->failmsg);
}

static enum tp_err writer_failed(const struct parquet_writer *w, char *errstr, size_t errstr_size)
{
    return tp_err_set(w->failed, errstr, errstr_size, "%s", w->failmsg);
}

static enum tp_err write_all(struct parquet_writer *w, const void *p, size_t n, char *errstr,
                             size_t errstr_size)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return writer_fail(w, TP_IO, errstr, errstr_size, "could not write \"%s\": %s", w->path,
                               strerror(errno));
        c += k;
        n -= (size_t)k;
        w->offset += (uint64_t)k;
    }
    return TP_OK;
}

/* ---- columns ---- */

static void col_init(struct pq_col *c, const struct parquet_column_spec *spec,
                     const struct parquet_options *o)
{
    memset(c, 0, sizeof(*c));
    c->name = tp_strdup(spec->name);
    c->type = spec->type;
    c->nullable = spec->nullable;
    c->b_state = tp_calloc(PQ_BATCH, sizeof(*c->b_state));
    c->b_val = tp_calloc(PQ_BATCH, sizeof(*c->b_val));
    if (spec->type == PARQUET_STRING) {
        c->b_soff = tp_calloc(PQ_BATCH, sizeof(*c->b_soff));
        c->b_slen = tp_calloc(PQ_BATCH, sizeof(*c->b_slen));
    }
    buf_init(&c->b_str, INTERNAL_BUF_MAX);
    buf_init(&c->defs, INTERNAL_BUF_MAX);
    buf_init(&c->values, INTERNAL_BUF_MAX);
    buf_init(&c->dict, INTERNAL_BUF_MAX);
    buf_init(&c->min_s, INTERNAL_BUF_MAX);
    buf_init(&c->max_s, INTERNAL_BUF_MAX);
    c->dict_mode = spec->type == PARQUET_STRING && o->dict_max_bytes > 0;
}

static void col_dict_drop(struct pq_col *c)
{
    buf_release(&c->dict);
    free(c->ent_off);
    free(c->slots);
    free(c->idx);
    c->ent_off = NULL;
    c->slots = NULL;
    c->idx = NULL;
    c->n_ent = c->cap_ent = c->n_slots = c->cap_idx = 0;
}

static void col_release(struct pq_col *c)
{
    free(c->name);
    free(c->b_state);
    free(c->b_val);
    free(c->b_soff);
    free(c->b_slen);
    buf_release(&c->b_str);
    buf_release(&c->defs);
    buf_release(&c->values);
    buf_release(&c->min_s);
    buf_release(&c->max_s);
    col_dict_drop(c);
}

/* Forgets the row group just written, keeping the allocations for the next
 * one (memory stays bounded by one row group; regrowing every buffer from
 * nothing cost a third of the write time). */
static void col_reset(struct pq_col *c, const struct parquet_options *o)
{
    buf_reset(&c->defs);
    buf_reset(&c->values);
    buf_reset(&c->min_s);
    buf_reset(&c->max_s);
    buf_reset(&c->dict);
    c->n_ent = 0;
    if (c->slots)
        memset(c->slots, 0, c->n_slots * sizeof(*c->slots));
    c->n_values = c->n_nulls = 0;
    c->dict_mode = c->type == PARQUET_STRING && o->dict_max_bytes > 0;
    c->has_minmax = false;
    c->neg_zero = c->pos_zero = false;
    c->nan_count = 0;
}

static const uint8_t *dict_entry(const struct pq_col *c, uint32_t i, uint32_t *len)
{
    const uint8_t *p = (const uint8_t *)c->dict.data + c->ent_off[i];
    *len = get_u32le(p);
    return p + 4;
}

static void dict_slots_grow(struct pq_col *c)
{
    size_t n = c->n_slots ? c->n_slots * 2 : 1024;
    struct dict_slot *s = tp_calloc(n, sizeof(*s));
    for (size_t i = 0; i < c->n_slots; i++) {
        if (!c->slots[i].idx1)
            continue;
        size_t j = c->slots[i].hash & (n - 1);
        while (s[j].idx1)
            j = (j + 1) & (n - 1);
        s[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = s;
    c->n_slots = n;
}

/* Rewrites the row group's dictionary-encoded strings as PLAIN values. */
static void col_dict_fallback(struct pq_col *c)
{
    buf_reset(&c->values);
    for (size_t i = 0; i < c->n_values; i++) {
        uint32_t len;
        const uint8_t *p = dict_entry(c, c->idx[i], &len);
        must_append(&c->values, p - 4, 4 + (size_t)len);
    }
    col_dict_drop(c);
    c->dict_mode = false;
}

/* Adds a string value; returns false when it was already in the dictionary
 * (so it cannot change the chunk's min/max). */
static bool col_add_string(struct pq_col *c, const struct parquet_options *o, const char *s,
                           size_t n)
{
    if (c->dict_mode) {
        if (c->n_slots == 0 || (c->n_ent + 1) * 2 > c->n_slots)
            dict_slots_grow(c);
        uint64_t h = hash_bytes(s, n);
        size_t j = h & (c->n_slots - 1);
        while (c->slots[j].idx1) {
            if (c->slots[j].hash == h) {
                uint32_t len;
                const uint8_t *p = dict_entry(c, c->slots[j].idx1 - 1, &len);
                if (len == n && memcmp(p, s, n) == 0)
                    break;
            }
            j = (j + 1) & (c->n_slots - 1);
        }
        uint32_t idx;
        bool hit = c->slots[j].idx1 != 0;
        if (hit) {
            idx = c->slots[j].idx1 - 1;
        } else if (c->dict.len + 4 + n > o->dict_max_bytes) {
            col_dict_fallback(c);
            goto plain;
        } else {
            idx = (uint32_t)c->n_ent;
            if (c->n_ent == c->cap_ent) {
                c->cap_ent = c->cap_ent ? c->cap_ent * 2 : 256;
                c->ent_off = tp_realloc(c->ent_off, c->cap_ent * sizeof(*c->ent_off));
            }
            c->ent_off[c->n_ent++] = c->dict.len;
            put_u32le(&c->dict, (uint32_t)n);
            must_append(&c->dict, s, n);
            c->slots[j].hash = h;
            c->slots[j].idx1 = idx + 1;
        }
        if (c->n_values == c->cap_idx) {
            c->cap_idx = c->cap_idx ? c->cap_idx * 2 : 1024;
            c->idx = tp_realloc(c->idx, c->cap_idx * sizeof(*c->idx));
        }
        c->idx[c->n_values] = idx;
        return !hit;
    }
plain:
    put_u32le(&c->values, (uint32_t)n);
    must_append(&c->values, s, n);
    return true;
}

/* Memory the row group holds for c. */
static size_t col_mem(const struct pq_col *c)
{
    size_t m = c->defs.len + c->values.len;
    if (c->dict_mode)
        m += c->dict.len + c->n_ent * sizeof(*c->ent_off) + c->n_slots * sizeof(*c->slots) +
             c->n_values * sizeof(*c->idx);
    return m;
}

static void stats_add_string(struct pq_col *c, const char *s, size_t n)
{
    if (!c->has_minmax || bytes_cmp(s, n, c->min_s.data, c->min_s.len) < 0) {
        buf_reset(&c->min_s);
        must_append(&c->min_s, s, n);
    }
    if (!c->has_minmax || bytes_cmp(s, n, c->max_s.data, c->max_s.len) > 0) {
        buf_reset(&c->max_s);
        must_append(&c->max_s, s, n);
    }
    c->has_minmax = true;
}

static void stats_add_double(struct pq_col *c, double d)
{
    if (isnan(d)) {
        c->nan_count++;
        return;
    }
    if (d == 0) {
        if (signbit(d))
            c->neg_zero = true;
        else
            c->pos_zero = true;
    }
    if (!c->has_minmax || d < c->min_d)
        c->min_d = d;
    if (!c->has_minmax || d > c->max_d)
        c->max_d = d;
    c->has_minmax = true;
}

static void stats_add_i64(struct pq_col *c, int64_t v)
{
    if (!c->has_minmax || v < c->min_i)
        c->min_i = v;
    if (!c->has_minmax || v > c->max_i)
        c->max_i = v;
    c->has_minmax = true;
}

/* Fixed-width columns: definition levels and values appended in bulk. */
static void col_commit_batch_fixed(struct pq_col *c, size_t n)
{
    uint8_t defs[PQ_BATCH];
    uint64_t vals[PQ_BATCH];
    size_t k = 0;
    for (size_t r = 0; r < n; r++) {
        bool present = c->b_state[r] == STAGED_VALUE;
        defs[r] = present ? 1 : 0;
        if (!present)
            continue;
        uint64_t v = c->b_val[r];
        vals[k++] = to_le64(v);
        if (c->type == PARQUET_DOUBLE) {
            double d;
            memcpy(&d, &v, sizeof(d));
            stats_add_double(c, d);
        } else {
            stats_add_i64(c, (int64_t)v);
        }
    }
    if (c->nullable)
        must_append(&c->defs, defs, n);
    must_append(&c->values, vals, k * sizeof(*vals));
    c->n_values += k;
    c->n_nulls += n - k;
}

/* Appends the batched rows [0, n) of c to the row group. */
static void col_commit_batch(struct pq_col *c, const struct parquet_options *o, size_t n)
{
    if (c->type != PARQUET_STRING) {
        col_commit_batch_fixed(c, n);
        return;
    }
    for (size_t r = 0; r < n; r++) {
        bool present = c->b_state[r] == STAGED_VALUE;
        if (c->nullable) {
            uint8_t d = present ? 1 : 0;
            must_append(&c->defs, &d, 1);
        }
        if (!present) {
            c->n_nulls++;
            continue;
        }
        switch (c->type) {
        case PARQUET_STRING: {
            const char *str = c->b_str.data ? c->b_str.data + c->b_soff[r] : "";
            if (col_add_string(c, o, str, c->b_slen[r]))
                stats_add_string(c, str, c->b_slen[r]);
            break;
        }
        case PARQUET_INT64:
        case PARQUET_TIMESTAMP_MS:
            put_u64le(&c->values, c->b_val[r]);
            stats_add_i64(c, (int64_t)c->b_val[r]);
            break;
        case PARQUET_DOUBLE: {
            double d;
            memcpy(&d, &c->b_val[r], sizeof(d));
            put_u64le(&c->values, c->b_val[r]);
            stats_add_double(c, d);
            break;
        }
        }
        c->n_values++;
    }
    buf_reset(&c->b_str);
}

/* Commits the batch column by column; refreshes the string columns' memory. */
static void batch_commit(struct parquet_writer *w)
{
    if (w->b_rows == 0)
        return;
    w->rg_str_bytes = 0;
    w->rg_fixed_bytes = 0;
    for (size_t i = 0; i < w->n_cols; i++) {
        struct pq_col *c = &w->cols[i];
        col_commit_batch(c, &w->opts, w->b_rows);
        memset(c->b_state, STAGED_UNSET, w->b_rows);
        if (c->type == PARQUET_STRING)
            w->rg_str_bytes += col_mem(c);
        else
            w->rg_fixed_bytes += col_mem(c);
    }
    w->b_rows = 0;
    w->b_str_bytes = 0;
    w->rg_bytes = w->rg_fixed_bytes + w->rg_str_bytes;
}

/* ---- pages and column chunks ---- */

struct chunk_acc {
    int64_t uncompressed; /* page headers + uncompressed page bodies */
    int64_t compressed;   /* page headers + page bodies as written */
};

/* Compresses a page body and writes it with its header. */
static enum tp_err write_page(struct parquet_writer *w, const void *page, size_t page_len,
                              int page_type, int32_t num_values, int encoding,
                              struct chunk_acc *acc, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    const void *body = page ? page : "";
    size_t body_len = page_len;
    if (w->opts.codec == PARQUET_CODEC_ZSTD) {
        size_t bound = ZSTD_compressBound(page_len);
        if (w->zcap < bound) {
            free(w->zbuf);
            w->zbuf = tp_malloc(bound);
            w->zcap = bound;
        }
        size_t z = ZSTD_compress2(w->zc, w->zbuf, bound, body, page_len);
        if (ZSTD_isError(z)) {
            err = writer_fail(w, TP_IO, errstr, errstr_size,
                              "could not compress a page of \"%s\": %s", w->path,
                              ZSTD_getErrorName(z));
            goto out;
        }
        body = w->zbuf;
        body_len = z;
    } else if (w->opts.codec == PARQUET_CODEC_SNAPPY) {
        size_t bound = snappy_max_compressed_length(page_len);
        if (w->zcap < bound) {
            free(w->zbuf);
            w->zbuf = tp_malloc(bound);
            w->zcap = bound;
        }
        size_t out_len = bound;
        if (snappy_compress(body, page_len, (char *)w->zbuf, &out_len) != SNAPPY_OK) {
            err = writer_fail(w, TP_IO, errstr, errstr_size,
                              "could not compress a page of \"%s\" with snappy", w->path);
            goto out;
        }
        body = w->zbuf;
        body_len = out_len;
    }

    buf_reset(&w->hdr);
    struct thrift_enc e;
    thrift_enc_init(&e, &w->hdr);
    thrift_field_i32(&e, 1, page_type);
    thrift_field_i32(&e, 2, (int32_t)page_len);
    thrift_field_i32(&e, 3, (int32_t)body_len);
    if (page_type == PAGE_DATA) {
        thrift_field_struct_begin(&e, 5); /* DataPageHeader */
        thrift_field_i32(&e, 1, num_values);
        thrift_field_i32(&e, 2, encoding);
        thrift_field_i32(&e, 3, ENC_RLE); /* definition levels */
        thrift_field_i32(&e, 4, ENC_RLE); /* repetition levels (none: flat schema) */
        thrift_struct_end(&e);
    } else {
        thrift_field_struct_begin(&e, 7); /* DictionaryPageHeader */
        thrift_field_i32(&e, 1, num_values);
        thrift_field_i32(&e, 2, encoding);
        thrift_struct_end(&e);
    }
    err = thrift_enc_finish(&e);
    assert(err == TP_OK);

    err = write_all(w, w->hdr.data, w->hdr.len, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    err = write_all(w, body, body_len, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    acc->uncompressed += (int64_t)(w->hdr.len + page_len);
    acc->compressed += (int64_t)(w->hdr.len + body_len);
out:
    return err;
}

static void put_stats(struct thrift_enc *e, const struct pq_col *c, const struct parquet_options *o)
{
    uint8_t min[8], max[8];
    const void *pmin = min, *pmax = max;
    size_t nmin = 8, nmax = 8;
    bool exact_min = true, exact_max = true;
    bool minmax = c->has_minmax;
    bool legacy = false; /* deprecated min/max: only where signed order is the type order */

    switch (c->type) {
    case PARQUET_STRING:
        pmin = c->min_s.data ? c->min_s.data : "";
        nmin = c->min_s.len;
        pmax = c->max_s.data ? c->max_s.data : "";
        nmax = c->max_s.len;
        if (nmin > o->stats_max_bytes || nmax > o->stats_max_bytes)
            minmax = false;
        break;
    case PARQUET_INT64:
    case PARQUET_TIMESTAMP_MS:
        enc_u64le(min, (uint64_t)c->min_i);
        enc_u64le(max, (uint64_t)c->max_i);
        legacy = true;
        break;
    case PARQUET_DOUBLE: {
        /* TYPE_ORDER rules: no NaN in min/max, a zero min is -0.0, a zero max is +0.0 */
        double lo = c->min_d == 0 ? -0.0 : c->min_d;
        double hi = c->max_d == 0 ? +0.0 : c->max_d;
        exact_min = c->min_d != 0 || c->neg_zero;
        exact_max = c->max_d != 0 || c->pos_zero;
        enc_u64le(min, double_bits(lo));
        enc_u64le(max, double_bits(hi));
        legacy = true;
        break;
    }
    }

    thrift_field_struct_begin(e, 12); /* ColumnMetaData.statistics */
    if (minmax && legacy) {
        thrift_field_binary(e, 1, pmax, nmax);
        thrift_field_binary(e, 2, pmin, nmin);
    }
    thrift_field_i64(e, 3, (int64_t)c->n_nulls);
    if (minmax) {
        thrift_field_binary(e, 5, pmax, nmax);
        thrift_field_binary(e, 6, pmin, nmin);
        thrift_field_bool(e, 7, exact_max);
        thrift_field_bool(e, 8, exact_min);
    }
    if (c->type == PARQUET_DOUBLE)
        thrift_field_i64(e, 9, (int64_t)c->nan_count);
    thrift_struct_end(e);
}

static int physical_type(enum parquet_type t)
{
    switch (t) {
    case PARQUET_STRING:
        return PT_BYTE_ARRAY;
    case PARQUET_DOUBLE:
        return PT_DOUBLE;
    case PARQUET_INT64:
    case PARQUET_TIMESTAMP_MS:
        break;
    }
    return PT_INT64;
}

/* Bytes one row adds to a data page (an estimate for definition levels). */
static size_t row_cost(const struct pq_col *c, size_t row, size_t bpos, bool *defined)
{
    *defined = !c->nullable || c->defs.data[row];
    size_t cost = c->nullable ? 1 : 0;
    if (!*defined)
        return cost;
    if (c->type != PARQUET_STRING)
        return cost + 8;
    if (c->dict_mode)
        return cost + 4;
    return cost + 4 + get_u32le(c->values.data + bpos);
}

/* Where a data page starts or ends in a column of the row group: the row, the value (an
 * index of c->idx) and the byte offset in c->values. */
struct page_pos {
    size_t row, value, byte;
};

/* The end of the data page that starts at from: rows are added while the page stays within
 * opts.page_bytes (at least one row a page). */
static struct page_pos page_end(const struct parquet_writer *w, const struct pq_col *c, bool dict,
                                struct page_pos from)
{
    struct page_pos to = from;
    size_t bytes = 0;
    while (to.row < w->rg_rows) {
        bool defined;
        size_t cost = row_cost(c, to.row, to.byte, &defined);
        if (bytes > 0 && bytes + cost > w->opts.page_bytes)
            break;
        bytes += cost;
        if (defined) {
            if (c->type != PARQUET_STRING)
                to.byte += 8;
            else if (!dict)
                to.byte += 4 + get_u32le(c->values.data + to.byte);
            to.value++;
        }
        to.row++;
    }
    return to;
}

/* The definition levels of rows [from, from + n) into w->page, RLE with their 4-byte length
 * first. */
static void page_put_levels(struct parquet_writer *w, const struct pq_col *c, size_t from, size_t n)
{
    if (n > w->cap_scratch) {
        w->cap_scratch = n;
        w->scratch = tp_realloc(w->scratch, n * sizeof(*w->scratch));
    }
    for (size_t i = 0; i < n; i++)
        w->scratch[i] = (uint8_t)c->defs.data[from + i];
    put_u32le(&w->page, 0); /* length, patched below */
    rle_encode(&w->page, w->scratch, n, 1);
    uint32_t len = (uint32_t)(w->page.len - 4);
    uint8_t le[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
    memcpy(w->page.data, le, 4);
}

/* The data page [from, to) of c into w->page: definition levels (nullable columns), then the
 * dictionary indexes at bit width bw (dict) or the plain values. */
static void page_encode(struct parquet_writer *w, const struct pq_col *c, bool dict, int bw,
                        struct page_pos from, struct page_pos to)
{
    buf_reset(&w->page);
    if (c->nullable)
        page_put_levels(w, c, from.row, to.row - from.row);
    /* a page of nulls only has no values, and the column may have none at all
     * (idx and values.data NULL): no pointer arithmetic on them then */
    if (dict) {
        uint8_t width = (uint8_t)bw;
        must_append(&w->page, &width, 1);
        if (to.value > from.value)
            rle_encode(&w->page, c->idx + from.value, to.value - from.value, bw);
    } else if (to.byte > from.byte) {
        must_append(&w->page, c->values.data + from.byte, to.byte - from.byte);
    }
}

/* Every row of the row group as data pages of at most opts.page_bytes (about). */
static enum tp_err write_data_pages(struct parquet_writer *w, const struct pq_col *c, bool dict,
                                    struct chunk_acc *acc, char *errstr, size_t errstr_size)
{
    int bw = dict ? bit_width((uint32_t)(c->n_ent - 1)) : 0;
    if (bw == 0)
        bw = 1;
    struct page_pos from = {0, 0, 0};
    while (from.row < w->rg_rows) {
        struct page_pos to = page_end(w, c, dict, from);
        page_encode(w, c, dict, bw, from, to);
        enum tp_err err =
            write_page(w, w->page.data, w->page.len, PAGE_DATA, (int32_t)(to.row - from.row),
                       dict ? ENC_RLE_DICTIONARY : ENC_PLAIN, acc, errstr, errstr_size);
        if (err != TP_OK)
            return err;
        from = to;
    }
    return TP_OK;
}

/* Appends c's ColumnChunk struct (its ColumnMetaData: encodings, sizes, offsets, statistics)
 * to w->chunks. */
static void chunk_meta_put(struct parquet_writer *w, const struct pq_col *c, bool dict,
                           const struct chunk_acc *acc, int64_t data_offset, int64_t dict_offset)
{
    struct thrift_enc e;
    thrift_enc_init(&e, &w->chunks);
    thrift_field_i64(&e, 2, 0);       /* file_offset: no ColumnMetaData outside the footer */
    thrift_field_struct_begin(&e, 3); /* ColumnMetaData */
    thrift_field_i32(&e, 1, physical_type(c->type));
    thrift_field_list_begin(&e, 2, THRIFT_I32, dict ? 3 : 2);
    thrift_elem_i32(&e, ENC_PLAIN);
    thrift_elem_i32(&e, ENC_RLE);
    if (dict)
        thrift_elem_i32(&e, ENC_RLE_DICTIONARY);
    thrift_field_list_begin(&e, 3, THRIFT_BINARY, 1);
    thrift_elem_string(&e, c->name);
    thrift_field_i32(&e, 4, (int32_t)w->opts.codec);
    thrift_field_i64(&e, 5, (int64_t)w->rg_rows);
    thrift_field_i64(&e, 6, acc->uncompressed);
    thrift_field_i64(&e, 7, acc->compressed);
    thrift_field_i64(&e, 9, data_offset);
    if (dict)
        thrift_field_i64(&e, 11, dict_offset);
    put_stats(&e, c, &w->opts);
    thrift_struct_end(&e);
    enum tp_err err = thrift_enc_finish(&e);
    assert(err == TP_OK);
    (void)err;
}

/* Writes c's column chunk (its dictionary page, if any, then its data pages) and appends its
 * ColumnChunk struct to w->chunks. */
static enum tp_err write_chunk(struct parquet_writer *w, struct pq_col *c, struct chunk_acc *rg,
                               char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    struct chunk_acc acc = {0, 0};
    bool dict = c->dict_mode && c->n_ent > 0;
    int64_t dict_offset = -1;
    if (dict) {
        dict_offset = (int64_t)w->offset;
        err = write_page(w, c->dict.data, c->dict.len, PAGE_DICTIONARY, (int32_t)c->n_ent,
                         ENC_PLAIN, &acc, errstr, errstr_size);
        if (err != TP_OK)
            return err;
    }
    int64_t data_offset = (int64_t)w->offset;
    err = write_data_pages(w, c, dict, &acc, errstr, errstr_size);
    if (err != TP_OK)
        return err;
    chunk_meta_put(w, c, dict, &acc, data_offset, dict_offset);
    rg->uncompressed += acc.uncompressed;
    rg->compressed += acc.compressed;
    return TP_OK;
}

static enum tp_err flush_row_group(struct parquet_writer *w, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    batch_commit(w);
    if (w->rg_rows == 0)
        goto out;
    int64_t rg_offset = (int64_t)w->offset;
    struct chunk_acc rg = {0, 0};
    buf_reset(&w->chunks);
    for (size_t i = 0; i < w->n_cols; i++) {
        err = write_chunk(w, &w->cols[i], &rg, errstr, errstr_size);
        if (err != TP_OK)
            goto out;
    }

    struct thrift_enc e;
    thrift_enc_init(&e, &w->rg_meta);
    thrift_field_list_begin(&e, 1, THRIFT_STRUCT, w->n_cols);
    thrift_put_raw(&e, w->chunks.data, w->chunks.len);
    thrift_field_i64(&e, 2, rg.uncompressed);
    thrift_field_i64(&e, 3, (int64_t)w->rg_rows);
    thrift_field_i64(&e, 5, rg_offset);
    thrift_field_i64(&e, 6, rg.compressed);
    if (w->n_row_groups <= INT16_MAX)
        thrift_field_i16(&e, 7, (int16_t)w->n_row_groups);
    err = thrift_enc_finish(&e);
    assert(err == TP_OK);

    w->n_row_groups++;
    for (size_t i = 0; i < w->n_cols; i++)
        col_reset(&w->cols[i], &w->opts);
    w->rg_rows = 0;
    w->rg_bytes = 0;
    w->rg_fixed_bytes = 0;
    w->rg_str_bytes = 0;
out:
    return err;
}

/* ---- public API ---- */

void parquet_options_init(struct parquet_options *opts)
{
    opts->codec = PARQUET_CODEC_ZSTD;
    opts->zstd_level = 3;
    opts->row_group_rows = 1000000;
    opts->row_group_bytes = 128 * MIB;
    opts->page_bytes = MIB;
    opts->dict_max_bytes = MIB;
    opts->max_value_bytes = 16 * MIB;
    opts->stats_max_bytes = 4096;
}

static enum tp_err check_args(const struct parquet_column_spec *cols, size_t n_cols,
                              const struct parquet_options *o, char *errstr, size_t errstr_size)
{
    if (n_cols == 0 || n_cols > INT32_MAX - 1)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "a parquet schema needs 1 to %d columns", INT32_MAX - 1);
    for (size_t i = 0; i < n_cols; i++) {
        const char *name = cols[i].name;
        if (!name || !*name)
            return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "column %zu has no name", i);
        if (cols[i].type != PARQUET_STRING && cols[i].type != PARQUET_INT64 &&
            cols[i].type != PARQUET_TIMESTAMP_MS && cols[i].type != PARQUET_DOUBLE)
            return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                              "column \"%s\" has an unknown type %d", name, (int)cols[i].type);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cols[j].name, name) == 0)
                return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                                  "column \"%s\" appears twice", name);
    }
    if (o->codec != PARQUET_CODEC_NONE && o->codec != PARQUET_CODEC_ZSTD &&
        o->codec != PARQUET_CODEC_SNAPPY)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "unsupported codec %d",
                          (int)o->codec);
    if (o->codec == PARQUET_CODEC_ZSTD &&
        (o->zstd_level < ZSTD_minCLevel() || o->zstd_level > ZSTD_maxCLevel()))
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "zstd level %d out of [%d, %d]",
                          o->zstd_level, ZSTD_minCLevel(), ZSTD_maxCLevel());
    if (o->row_group_rows < 1 || o->row_group_rows > INT32_MAX)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "row_group_rows %zu out of [1, %d]",
                          o->row_group_rows, INT32_MAX);
    if (o->row_group_bytes < 1)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "row_group_bytes must be positive");
    if (o->page_bytes < 1 || o->page_bytes > HARD_MAX_PAGE)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "page_bytes %zu out of [1, %zu]",
                          o->page_bytes, HARD_MAX_PAGE);
    if (o->dict_max_bytes > HARD_MAX_DICT)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "dict_max_bytes %zu above %zu",
                          o->dict_max_bytes, HARD_MAX_DICT);
    if (o->max_value_bytes < 1 || o->max_value_bytes > HARD_MAX_VALUE)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "max_value_bytes %zu out of [1, %zu]", o->max_value_bytes,
                          HARD_MAX_VALUE);
    return TP_OK;
}

enum tp_err parquet_writer_new(const char *path, const struct parquet_column_spec *cols,
                               size_t n_cols, const struct parquet_options *opts,
                               struct parquet_writer **out, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    struct parquet_writer *w = NULL;
    struct parquet_options defaults;
    *out = NULL;
    if (!opts) {
        parquet_options_init(&defaults);
        opts = &defaults;
    }
    err = check_args(cols, n_cols, opts, errstr, errstr_size);
    if (err != TP_OK)
        goto out;

    w = tp_calloc(1, sizeof(*w));
    w->fd = -1;
    w->path = tp_strdup(path);
    w->opts = *opts;
    w->n_cols = n_cols;
    w->cols = tp_calloc(n_cols, sizeof(*w->cols));
    for (size_t i = 0; i < n_cols; i++) {
        col_init(&w->cols[i], &cols[i], &w->opts);
        w->row_max_bytes += (cols[i].nullable ? 1 : 0) + (cols[i].type == PARQUET_STRING ? 0 : 8);
    }
    buf_init(&w->rg_meta, INTERNAL_BUF_MAX);
    buf_init(&w->page, INTERNAL_BUF_MAX);
    buf_init(&w->hdr, INTERNAL_BUF_MAX);
    buf_init(&w->chunks, INTERNAL_BUF_MAX);
    if (opts->codec == PARQUET_CODEC_ZSTD) {
        w->zc = ZSTD_createCCtx();
        if (!w->zc) {
            err = tp_err_set(TP_IO, errstr, errstr_size, "could not create a zstd context");
            goto out;
        }
        size_t z = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, opts->zstd_level);
        if (ZSTD_isError(z)) {
            err = tp_err_set(TP_INVALID_ARG, errstr, errstr_size, "could not set zstd level: %s",
                             ZSTD_getErrorName(z));
            goto out;
        }
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        err = tp_err_set(TP_IO, errstr, errstr_size, "could not create \"%s\": %s", path,
                         strerror(errno));
        goto out;
    }
    err = write_all(w, "PAR1", 4, errstr, errstr_size);
out:
    if (err != TP_OK) {
        parquet_writer_free(w);
        w = NULL;
    }
    *out = w;
    return err;
}

static struct pq_col *col_at(struct parquet_writer *w, size_t col)
{
    assert(w && col < w->n_cols);
    return &w->cols[col];
}

enum tp_err parquet_writer_set_string(struct parquet_writer *w, size_t col, const char *s, size_t n,
                                      char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    struct pq_col *c = col_at(w, col);
    size_t k = w->b_rows;
    assert(c->type == PARQUET_STRING);
    c->b_state[k] = STAGED_UNSET;
    if (n > w->opts.max_value_bytes) {
        err = tp_err_set(TP_TOO_LARGE, errstr, errstr_size,
                         "value of column \"%s\" has %zu bytes, more than the %zu allowed", c->name,
                         n, w->opts.max_value_bytes);
        goto out;
    }
    if (!utf8_valid((const unsigned char *)s, n)) {
        err = tp_err_set(TP_VALIDATION, errstr, errstr_size,
                         "value of column \"%s\" is not valid UTF-8", c->name);
        goto out;
    }
    /* set twice: the first copy stays unused in b_str until the batch commits */
    c->b_soff[k] = (uint32_t)c->b_str.len;
    c->b_slen[k] = (uint32_t)n;
    must_append(&c->b_str, s, n);
    w->b_str_bytes += 4 + n;
    c->b_state[k] = STAGED_VALUE;
out:
    return err;
}

void parquet_writer_set_i64(struct parquet_writer *w, size_t col, int64_t v)
{
    struct pq_col *c = col_at(w, col);
    assert(c->type == PARQUET_INT64 || c->type == PARQUET_TIMESTAMP_MS);
    c->b_val[w->b_rows] = (uint64_t)v;
    c->b_state[w->b_rows] = STAGED_VALUE;
}

void parquet_writer_set_double(struct parquet_writer *w, size_t col, double v)
{
    struct pq_col *c = col_at(w, col);
    assert(c->type == PARQUET_DOUBLE);
    c->b_val[w->b_rows] = double_bits(v);
    c->b_state[w->b_rows] = STAGED_VALUE;
}

enum tp_err parquet_writer_set_null(struct parquet_writer *w, size_t col, char *errstr,
                                    size_t errstr_size)
{
    struct pq_col *c = col_at(w, col);
    if (!c->nullable)
        return tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                          "column \"%s\" is required and cannot be null", c->name);
    c->b_state[w->b_rows] = STAGED_NULL;
    return TP_OK;
}

static void discard_row(struct parquet_writer *w)
{
    for (size_t i = 0; i < w->n_cols; i++)
        w->cols[i].b_state[w->b_rows] = STAGED_UNSET;
}

enum tp_err parquet_writer_end_row(struct parquet_writer *w, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    size_t k = w->b_rows;
    if (w->failed != TP_OK || w->closed) {
        discard_row(w);
        err = w->closed ? tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                                     "parquet writer for \"%s\" is closed", w->path)
                        : writer_failed(w, errstr, errstr_size);
        goto out;
    }
    for (size_t i = 0; i < w->n_cols; i++) {
        if (!w->cols[i].nullable && w->cols[i].b_state[k] != STAGED_VALUE) {
            err = tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                             "column \"%s\" is required and was not set", w->cols[i].name);
            discard_row(w);
            goto out;
        }
    }
    w->b_rows++;
    w->rg_rows++;
    w->total_rows++;
    if (w->b_rows == PQ_BATCH)
        batch_commit(w);
    /* Memory held: exact for committed rows; batched rows count at most
     * row_max_bytes plus their strings as PLAIN (an upper bound: dictionary
     * hits take less). The batch commits as soon as the bound reaches the
     * limit, so the flush below sees exact figures. */
    size_t bound =
        w->rg_fixed_bytes + w->rg_str_bytes + w->b_rows * w->row_max_bytes + w->b_str_bytes;
    if (bound >= w->opts.row_group_bytes)
        batch_commit(w);
    w->rg_bytes = w->rg_fixed_bytes + w->rg_str_bytes;
    if (w->rg_rows >= w->opts.row_group_rows || w->rg_bytes >= w->opts.row_group_bytes)
        err = flush_row_group(w, errstr, errstr_size);
out:
    return err;
}

uint64_t parquet_writer_rows(const struct parquet_writer *w)
{
    return w->total_rows;
}

size_t parquet_writer_row_groups(const struct parquet_writer *w)
{
    return w->n_row_groups;
}

static void put_schema(struct thrift_enc *e, const struct parquet_writer *w)
{
    thrift_field_list_begin(e, 2, THRIFT_STRUCT, w->n_cols + 1);
    thrift_elem_struct_begin(e); /* root */
    thrift_field_string(e, 4, "schema");
    thrift_field_i32(e, 5, (int32_t)w->n_cols);
    thrift_struct_end(e);
    for (size_t i = 0; i < w->n_cols; i++) {
        const struct pq_col *c = &w->cols[i];
        thrift_elem_struct_begin(e);
        thrift_field_i32(e, 1, physical_type(c->type));
        thrift_field_i32(e, 3, c->nullable ? REP_OPTIONAL : REP_REQUIRED);
        thrift_field_string(e, 4, c->name);
        if (c->type == PARQUET_STRING) {
            thrift_field_i32(e, 6, CONV_UTF8);
            thrift_field_struct_begin(e, 10); /* LogicalType */
            thrift_field_empty_struct(e, 1);  /* STRING */
            thrift_struct_end(e);
        } else if (c->type == PARQUET_TIMESTAMP_MS) {
            thrift_field_i32(e, 6, CONV_TIMESTAMP_MILLIS);
            thrift_field_struct_begin(e, 10); /* LogicalType */
            thrift_field_struct_begin(e, 8);  /* TIMESTAMP */
            thrift_field_bool(e, 1, true);    /* isAdjustedToUTC */
            thrift_field_struct_begin(e, 2);  /* unit: TimeUnit */
            thrift_field_empty_struct(e, 1);  /* MILLIS */
            thrift_struct_end(e);
            thrift_struct_end(e);
            thrift_struct_end(e);
        }
        thrift_struct_end(e);
    }
}

enum tp_err parquet_writer_close(struct parquet_writer *w, char *errstr, size_t errstr_size)
{
    enum tp_err err = TP_OK;
    struct buf footer;
    buf_init(&footer, (size_t)UINT32_MAX);
    if (w->closed) {
        err = tp_err_set(TP_INVALID_ARG, errstr, errstr_size,
                         "parquet writer for \"%s\" is already closed", w->path);
        goto out;
    }
    if (w->failed != TP_OK) {
        err = writer_failed(w, errstr, errstr_size);
        goto out;
    }
    discard_row(w);
    err = flush_row_group(w, errstr, errstr_size);
    if (err != TP_OK)
        goto out;

    struct thrift_enc e;
    thrift_enc_init(&e, &footer);
    thrift_field_i32(&e, 1, 1); /* version */
    put_schema(&e, w);
    thrift_field_i64(&e, 3, (int64_t)w->total_rows);
    thrift_field_list_begin(&e, 4, THRIFT_STRUCT, w->n_row_groups);
    thrift_put_raw(&e, w->rg_meta.data, w->rg_meta.len);
    thrift_field_string(&e, 6, PARQUET_CREATED_BY);
    thrift_field_list_begin(&e, 7, THRIFT_STRUCT, w->n_cols); /* column_orders */
    for (size_t i = 0; i < w->n_cols; i++) {
        thrift_elem_struct_begin(&e);
        thrift_field_empty_struct(&e, 1); /* TYPE_ORDER */
        thrift_struct_end(&e);
    }
    err = thrift_enc_finish(&e);
    if (err != TP_OK) {
        err = writer_fail(w, err, errstr, errstr_size, "footer of \"%s\" exceeds 4 GiB", w->path);
        goto out;
    }
    uint8_t tail[8] = {(uint8_t)footer.len,
                       (uint8_t)(footer.len >> 8),
                       (uint8_t)(footer.len >> 16),
                       (uint8_t)(footer.len >> 24),
                       'P',
                       'A',
                       'R',
                       '1'};
    err = write_all(w, footer.data, footer.len, errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    err = write_all(w, tail, sizeof(tail), errstr, errstr_size);
    if (err != TP_OK)
        goto out;
    if (fsync(w->fd) != 0) {
        err = writer_fail(w, TP_IO, errstr, errstr_size, "could not fsync \"%s\": %s", w->path,
                          strerror(errno));
        goto out;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        err = writer_fail(w, TP_IO, errstr, errstr_size, "could not close \"%s\": %s", w->path,
                          strerror(errno));
        goto out;
    }

    /* make the directory entry durable too */
    char *dir = tp_strdup(w->path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        err = writer_fail(w, TP_IO, errstr, errstr_size,
                          "could not fsync the directory of \"%s\": %s", w->path, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    free(dir);
    if (err != TP_OK)
        goto out;
    w->closed = true;
out:
    buf_release(&footer);
    return err;
}

void parquet_writer_free(struct parquet_writer *w)
{
    if (!w)
        return;
    if (!w->closed) {
        if (w->fd >= 0)
            close(w->fd);
        if (w->fd >= 0 || w->failed != TP_OK)
            unlink(w->path);
    }
    for (size_t i = 0; i < w->n_cols; i++)
        col_release(&w->cols[i]);
    free(w->cols);
    ZSTD_freeCCtx(w->zc);
    buf_release(&w->rg_meta);
    buf_release(&w->page);
    buf_release(&w->hdr);
    buf_release(&w->chunks);
    free(w->scratch);
    free(w->zbuf);
    free(w->path);
    free(w);
}
