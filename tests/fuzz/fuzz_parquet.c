/*
 * fuzz_parquet - the Parquet writer (rollup/parquet.c) with adversarial
 * schemas, options, strings and values: invalid and overlong UTF-8, empty
 * and huge strings, strings at the dictionary and statistics limits, NaN,
 * infinities, -0.0, INT64_MIN/MAX, nulls in required columns, unset
 * columns, tiny pages and row groups.
 *
 * Input, read as a little program: byte 0 = columns (1..6) and codec;
 * byte 1 = option bits (tiny row groups, pages, dictionary, statistics and
 * value limits); per column a byte (type, nullable) and a length-prefixed
 * name; then per cell an op byte (set, null, skip, end row) followed by its
 * value. The file goes to /dev/shm (fsync is cheap there), is rewritten
 * by every input and removed when the process exits.
 *
 * Checked: after a successful close the file starts and ends with "PAR1",
 * its footer length fits inside it, and the writer counted exactly the
 * rows whose end_row succeeded; a string the writer refused leaves its row
 * valid.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "rollup/parquet.h"

#define FUZZ_COLS_MAX 6

static char fuzz_path[256];

static void fuzz_remove_file(void)
{
    unlink(fuzz_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    struct stat st;
    const char *dir = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_path, sizeof(fuzz_path), "%s/tp-fuzz-parquet-%d.parquet", dir, (int)getpid());
    atexit(fuzz_remove_file);
    return 0;
}

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static uint8_t fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t fuzz_u64(struct fuzz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_byte(in);
    return v;
}

/* A string: a length byte (0xff: a long run of one byte), then the bytes. */
static const char *fuzz_str(struct fuzz_in *in, size_t *len, char *scratch, size_t scratch_size)
{
    size_t n = fuzz_byte(in);
    if (n == 0xff) {
        n = (size_t)fuzz_byte(in) * 64 + 255;
        if (n > scratch_size)
            n = scratch_size;
        memset(scratch, fuzz_byte(in) | 0x20, n);
        *len = n;
        return scratch;
    }
    if (n > in->n)
        n = in->n;
    const char *s = (const char *)in->p;
    in->p += n;
    in->n -= n;
    *len = n;
    return s;
}

static const double fuzz_doubles[] = {0.0, -0.0, 1.0, -1.0, INFINITY, -INFINITY, NAN, 1e308};

static void fuzz_check_file(uint64_t rows, const struct parquet_writer *w)
{
    if (parquet_writer_rows(w) != rows)
        abort();
    int fd = open(fuzz_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 12)
        abort();
    uint8_t head[4], tail[8];
    if (pread(fd, head, 4, 0) != 4 || pread(fd, tail, 8, st.st_size - 8) != 8)
        abort();
    close(fd);
    uint32_t footer = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                      (uint32_t)tail[3] << 24;
    if (memcmp(head, "PAR1", 4) || memcmp(tail + 4, "PAR1", 4) || footer == 0 ||
        footer > (uint64_t)st.st_size - 12)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in);
    size_t n_cols = (size_t)(b0 % FUZZ_COLS_MAX) + 1;
    struct parquet_options o;
    parquet_options_init(&o);
    static const enum parquet_codec codecs[] = {PARQUET_CODEC_NONE, PARQUET_CODEC_SNAPPY,
                                                PARQUET_CODEC_ZSTD, PARQUET_CODEC_ZSTD};
    o.codec = codecs[(b0 >> 3) & 3];
    o.zstd_level = 1;
    if (b1 & 1)
        o.row_group_rows = (size_t)(b1 >> 5) + 1;
    if (b1 & 2)
        o.page_bytes = (size_t)(b1 >> 4) * 7 + 1;
    if (b1 & 4)
        o.dict_max_bytes = (b1 & 0x80) ? 0 : 40;
    if (b1 & 8)
        o.stats_max_bytes = (size_t)(b1 >> 6);
    if (b1 & 16)
        o.max_value_bytes = 100;
    if ((b0 & 0xe0) == 0xe0)
        o.row_group_bytes = 300;

    struct parquet_column_spec cols[FUZZ_COLS_MAX];
    char names[FUZZ_COLS_MAX][32];
    for (size_t i = 0; i < n_cols; i++) {
        uint8_t t = fuzz_byte(&in);
        size_t nl;
        char scratch[1];
        const char *nm = fuzz_str(&in, &nl, scratch, 0);
        snprintf(names[i], sizeof(names[i]), "%.*s", (int)(nl < 31 ? nl : 31), nm);
        cols[i] = (struct parquet_column_spec){names[i], (enum parquet_type)(t & 3), t & 4};
    }
    struct parquet_writer *w;
    char err[512];
    if (parquet_writer_new(fuzz_path, cols, n_cols, &o, &w, err, sizeof(err)) != TP_OK)
        return 0;
    static char big[20000];
    uint64_t rows = 0;
    size_t col = 0;
    while (in.n) {
        uint8_t op = fuzz_byte(&in);
        col = (col + (op >> 3)) % n_cols;
        switch (op & 7) {
        case 0:
        case 1:
        case 2: {
            if (cols[col].type == PARQUET_STRING) {
                size_t n;
                const char *s = fuzz_str(&in, &n, big, sizeof(big));
                enum tp_err e = parquet_writer_set_string(w, col, s, n, err, sizeof(err));
                if (e != TP_OK && e != TP_VALIDATION && e != TP_TOO_LARGE)
                    abort();
            } else if (cols[col].type == PARQUET_DOUBLE) {
                double d;
                if (op & 1) {
                    d = fuzz_doubles[fuzz_byte(&in) & 7];
                } else {
                    uint64_t bits = fuzz_u64(&in);
                    memcpy(&d, &bits, sizeof(d));
                }
                parquet_writer_set_double(w, col, d);
            } else {
                uint64_t v = (op & 1) ? (uint64_t)INT64_MIN + fuzz_byte(&in) : fuzz_u64(&in);
                parquet_writer_set_i64(w, col, (int64_t)v);
            }
            break;
        }
        case 3: {
            enum tp_err e = parquet_writer_set_null(w, col, err, sizeof(err));
            if ((e == TP_OK) != cols[col].nullable)
                abort();
            break;
        }
        case 4:
            break; /* leave it unset */
        default: {
            enum tp_err e = parquet_writer_end_row(w, err, sizeof(err));
            if (e == TP_OK)
                rows++;
            else if (e != TP_INVALID_ARG)
                abort();
            break;
        }
        }
    }
    if (parquet_writer_end_row(w, err, sizeof(err)) == TP_OK)
        rows++;
    if (parquet_writer_close(w, err, sizeof(err)) != TP_OK)
        abort();
    fuzz_check_file(rows, w);
    parquet_writer_free(w);
    return 0;
}
