/*
 * Tests rollup/parquet.c by writing files and reading them back with
 * independent readers: tests/rollup/check_parquet.py runs pyarrow and DuckDB
 * (from the venv tests/rollup/pyvenv.sh makes) and compares every value, the
 * schema and the footer statistics with what this file says it wrote.
 *
 * Each write goes through struct tw, which calls the writer and records the
 * same rows in an "expected" text file for the checker:
 *   codec ZSTD|UNCOMPRESSED / statsmax N / col NAME TYPE NULLABLE /
 *   dict COL RG 0|1 / rg ROWS (one per row group, in order) /
 *   r CELL<TAB>CELL...  with N (null), s:HEX (string bytes), i:DEC, d:HEX64 (double bits)
 */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollup/parquet.h"
#include "tests/support/check_main.h"

#ifndef TP_SOURCE_DIR
#error "TP_SOURCE_DIR must be defined"
#endif

static char g_python[4096];
static char g_dir[] = "/tmp/tp-parquet-XXXXXX";
static int g_files;

static void setup_suite(void)
{
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    FILE *p = popen("bash " TP_SOURCE_DIR "/tests/rollup/pyvenv.sh", "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(g_python, sizeof(g_python), p));
    ck_assert_int_eq(pclose(p), 0);
    g_python[strcspn(g_python, "\n")] = '\0';
    ck_assert_int_eq(access(g_python, X_OK), 0);
}

static void teardown_suite(void)
{
    if (getenv("TP_TEST_KEEP")) {
        printf("kept the test files in %s\n", g_dir);
        return;
    }
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- the recording writer ---- */

struct tw {
    struct parquet_writer *w;
    FILE *exp;
    char path[512], exp_path[512];
    const struct parquet_column_spec *cols;
    size_t n_cols;
    size_t rg_seen;  /* row groups the writer reported so far */
    size_t rg_start; /* total rows at the start of the current row group */
    uint64_t rows;
    bool first_cell;
};

static void tw_open(struct tw *t, const struct parquet_column_spec *cols, size_t n,
                    const struct parquet_options *opts)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "%s/f%d.parquet", g_dir, g_files);
    snprintf(t->exp_path, sizeof(t->exp_path), "%s/f%d.expected", g_dir, g_files);
    g_files++;
    t->cols = cols;
    t->n_cols = n;
    char errstr[256] = "";
    ck_assert_msg(parquet_writer_new(t->path, cols, n, opts, &t->w, errstr, sizeof(errstr)) ==
                      TP_OK,
                  "%s", errstr);
    t->exp = fopen(t->exp_path, "w");
    ck_assert_ptr_nonnull(t->exp);
    struct parquet_options d;
    parquet_options_init(&d);
    if (!opts)
        opts = &d;
    fprintf(t->exp, "codec %s\n",
            opts->codec == PARQUET_CODEC_ZSTD     ? "ZSTD"
            : opts->codec == PARQUET_CODEC_SNAPPY ? "SNAPPY"
                                                  : "UNCOMPRESSED");
    fprintf(t->exp, "statsmax %zu\n", opts->stats_max_bytes);
    static const char *types[] = {"string", "int64", "timestamp_ms", "double"};
    for (size_t i = 0; i < n; i++)
        fprintf(t->exp, "col %s %s %d\n", cols[i].name, types[cols[i].type], cols[i].nullable);
    t->first_cell = true;
}

static void tw_cell(struct tw *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tw_cell(struct tw *t, const char *fmt, ...)
{
    if (t->first_cell)
        fputs("r", t->exp);
    t->first_cell = false;
    fputc('\t', t->exp);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->exp, fmt, ap);
    va_end(ap);
}

/* Cells must be recorded in column order; the row is committed by tw_end. */
static void tw_str(struct tw *t, size_t col, const char *s, size_t n)
{
    char errstr[256] = "";
    ck_assert_msg(parquet_writer_set_string(t->w, col, s, n, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    tw_cell(t, "s:");
    for (size_t i = 0; i < n; i++)
        fprintf(t->exp, "%02x", (unsigned char)s[i]);
}

static void tw_cstr(struct tw *t, size_t col, const char *s)
{
    tw_str(t, col, s, strlen(s));
}

static void tw_i64(struct tw *t, size_t col, int64_t v)
{
    parquet_writer_set_i64(t->w, col, v);
    tw_cell(t, "i:%lld", (long long)v);
}

static void tw_f64(struct tw *t, size_t col, double v)
{
    parquet_writer_set_double(t->w, col, v);
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    tw_cell(t, "d:%016llx", (unsigned long long)bits);
}

static void tw_null(struct tw *t, size_t col)
{
    char errstr[256] = "";
    ck_assert_msg(parquet_writer_set_null(t->w, col, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    tw_cell(t, "N");
}

static void tw_note_row_groups(struct tw *t)
{
    size_t n = parquet_writer_row_groups(t->w);
    ck_assert_uint_le(n, t->rg_seen + 1);
    if (n > t->rg_seen) {
        fprintf(t->exp, "rg %llu\n", (unsigned long long)(t->rows - t->rg_start));
        t->rg_start = t->rows;
        t->rg_seen = n;
    }
}

static void tw_end(struct tw *t)
{
    char errstr[256] = "";
    ck_assert_msg(parquet_writer_end_row(t->w, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    fputc('\n', t->exp);
    t->first_cell = true;
    t->rows++;
    ck_assert_uint_eq(parquet_writer_rows(t->w), t->rows);
    tw_note_row_groups(t);
}

static void tw_expect_dict(struct tw *t, const char *col, size_t rg, bool dict)
{
    fprintf(t->exp, "dict %s %zu %d\n", col, rg, dict);
}

/* Closes the file and runs the checker; returns the number of row groups. */
static size_t tw_close_check(struct tw *t)
{
    char errstr[256] = "";
    ck_assert_msg(parquet_writer_close(t->w, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    if (t->rows > t->rg_start)
        fprintf(t->exp, "rg %llu\n", (unsigned long long)(t->rows - t->rg_start));
    size_t n_rg = parquet_writer_row_groups(t->w);
    parquet_writer_free(t->w);
    t->w = NULL;
    ck_assert_int_eq(fclose(t->exp), 0);

    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "'%s' " TP_SOURCE_DIR "/tests/rollup/check_parquet.py '%s' '%s'",
             g_python, t->path, t->exp_path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof(line), p)) {
        fputs(line, stdout);
        snprintf(last, sizeof(last), "%s", line);
    }
    int rc = pclose(p);
    ck_assert_msg(rc == 0, "check_parquet.py failed for %s (status %d)", t->path, rc);
    unsigned long long rows = 0, rgs = 0;
    ck_assert_msg(sscanf(last, "ok rows=%llu row_groups=%llu", &rows, &rgs) == 2,
                  "unexpected checker output: %s", last);
    ck_assert_uint_eq(rows, t->rows);
    ck_assert_uint_eq(rgs, n_rg);
    return n_rg;
}

/* ---- data ---- */

static const struct parquet_column_spec all_cols[] = {
    {"s", PARQUET_STRING, false},        {"s_opt", PARQUET_STRING, true},
    {"i", PARQUET_INT64, false},         {"i_opt", PARQUET_INT64, true},
    {"ts", PARQUET_TIMESTAMP_MS, false}, {"ts_opt", PARQUET_TIMESTAMP_MS, true},
    {"d", PARQUET_DOUBLE, false},        {"d_opt", PARQUET_DOUBLE, true},
};
#define N_ALL (sizeof(all_cols) / sizeof(all_cols[0]))

static const double special_doubles[] = {
    0.0,      -0.0,     1.5,       -2.25,    DBL_MAX,   -DBL_MAX,    DBL_MIN,
    -DBL_MIN, 4.9e-324, -4.9e-324, 2.5e-310, INFINITY,  -INFINITY,   NAN,
    -NAN,     1e300,    -1e-300,   3.0,      0.1 + 0.2, 123456789.0,
};
#define N_SPECIAL (sizeof(special_doubles) / sizeof(special_doubles[0]))

static const char *special_strings[] = {
    "",
    "car-1",
    "Grüße, Jürgen",
    "日本語のテキスト",
    "emoji \xf0\x9f\x9a\x97 car",
    "tab\there\nnewline",
    "nul\0inside", /* recorded with its length below */
    "\x7f",
    "\xc2\x80",
    "zzz",
    "A",
};
#define N_SPECIAL_STR (sizeof(special_strings) / sizeof(special_strings[0]))

static size_t special_len(size_t i)
{
    return i == 6 ? 10 : strlen(special_strings[i]);
}

static void write_special_rows(struct tw *t, size_t n_rows)
{
    /* U+10FFFF repeated: the largest string, longer than stats_max_bytes, so the
     * chunks holding one have no string min/max at all */
    char *long_s = malloc(4 * 1300);
    for (size_t k = 0; k < 4 * 1300; k += 4)
        memcpy(long_s + k, "\xf4\x8f\xbf\xbf", 4);
    for (size_t r = 0; r < n_rows; r++) {
        size_t si = r % N_SPECIAL_STR;
        if (r % 13 == 12)
            tw_str(t, 0, long_s, 4 * (1100 + r % 200));
        else
            tw_str(t, 0, special_strings[si], special_len(si));
        if (r % 3 == 0)
            tw_null(t, 1);
        else
            tw_str(t, 1, special_strings[(si + 3) % N_SPECIAL_STR],
                   special_len((si + 3) % N_SPECIAL_STR));
        static const int64_t ints[] = {0, -1, 1, INT64_MIN, INT64_MAX, 42, -1000000007LL};
        tw_i64(t, 2, ints[r % 7]);
        if (r % 4 == 1)
            tw_null(t, 3);
        else
            tw_i64(t, 3, (int64_t)r * 1000003 - 500);
        tw_i64(t, 4, 1700000000000LL + (int64_t)r * 1000);
        if (r % 5 == 0)
            tw_null(t, 5);
        else
            tw_i64(t, 5, -86400000LL * (int64_t)r);
        tw_f64(t, 6, special_doubles[r % N_SPECIAL]);
        if (r % 2 == 0)
            tw_null(t, 7);
        else
            tw_f64(t, 7, special_doubles[(r * 7) % N_SPECIAL]);
        tw_end(t);
    }
    free(long_s);
}

/* ---- tests ---- */

START_TEST(test_all_types)
{
    struct parquet_options o;
    parquet_options_init(&o);
    o.codec = _i == 0 ? PARQUET_CODEC_ZSTD : _i == 1 ? PARQUET_CODEC_NONE : PARQUET_CODEC_SNAPPY;
    o.row_group_rows = 40;
    struct tw t;
    tw_open(&t, all_cols, N_ALL, &o);
    write_special_rows(&t, 100);
    tw_expect_dict(&t, "s", 0, true);
    tw_expect_dict(&t, "s_opt", 0, true);
    ck_assert_uint_eq(tw_close_check(&t), 3);
}
END_TEST

START_TEST(test_defaults_and_small_pages)
{
    /* NULL options = defaults (ZSTD, one row group); then tiny pages: many pages per chunk */
    struct tw t;
    tw_open(&t, all_cols, N_ALL, NULL);
    write_special_rows(&t, 60);
    ck_assert_uint_eq(tw_close_check(&t), 1);

    struct parquet_options o;
    parquet_options_init(&o);
    o.page_bytes = 64;
    o.row_group_rows = 500;
    tw_open(&t, all_cols, N_ALL, &o);
    write_special_rows(&t, 1200);
    ck_assert_uint_eq(tw_close_check(&t), 3);
}
END_TEST

START_TEST(test_many_row_groups)
{
    static const struct parquet_column_spec cols[] = {{"id", PARQUET_INT64, false},
                                                      {"v", PARQUET_DOUBLE, true}};
    struct parquet_options o;
    parquet_options_init(&o);
    o.row_group_rows = 7;
    struct tw t;
    tw_open(&t, cols, 2, &o);
    for (int r = 0; r < 1000; r++) {
        tw_i64(&t, 0, 1000 - r);
        if (r % 7 == 3)
            tw_null(&t, 1);
        else
            tw_f64(&t, 1, r * 0.5 - 100);
        tw_end(&t);
    }
    ck_assert_uint_eq(tw_close_check(&t), 143); /* 142 x 7 + 6 */
}
END_TEST

START_TEST(test_dictionary_fallback)
{
    static const struct parquet_column_spec cols[] = {{"dev", PARQUET_STRING, false},
                                                      {"fw", PARQUET_STRING, true}};
    struct parquet_options o;
    parquet_options_init(&o);
    o.row_group_rows = 300;
    o.dict_max_bytes = 400; /* about 40 entries of ~6 bytes + 4 length bytes */
    struct tw t;
    tw_open(&t, cols, 2, &o);
    char s[64];
    for (int r = 0; r < 900; r++) {
        int rg = r / 300;
        /* rg 0: 10 distinct (dictionary); rg 1: all distinct (falls back to PLAIN
         * after ~40 rows); rg 2: 5 distinct again (dictionary) */
        int k = rg == 0 ? r % 10 : rg == 1 ? r : r % 5;
        snprintf(s, sizeof(s), "dev-%d", k);
        tw_cstr(&t, 0, s);
        if (r % 4 == 0) {
            tw_null(&t, 1);
        } else {
            snprintf(s, sizeof(s), "fw-%d", r % 3);
            tw_cstr(&t, 1, s);
        }
        tw_end(&t);
    }
    tw_expect_dict(&t, "dev", 0, true);
    tw_expect_dict(&t, "dev", 1, false);
    tw_expect_dict(&t, "dev", 2, true);
    tw_expect_dict(&t, "fw", 0, true);
    tw_expect_dict(&t, "fw", 1, true);
    tw_expect_dict(&t, "fw", 2, true);
    ck_assert_uint_eq(tw_close_check(&t), 3);

    /* dict_max_bytes 0: never a dictionary */
    o.dict_max_bytes = 0;
    tw_open(&t, cols, 2, &o);
    for (int r = 0; r < 10; r++) {
        tw_cstr(&t, 0, "same");
        tw_cstr(&t, 1, "x");
        tw_end(&t);
    }
    tw_expect_dict(&t, "dev", 0, false);
    tw_expect_dict(&t, "fw", 0, false);
    ck_assert_uint_eq(tw_close_check(&t), 1);
}
END_TEST

START_TEST(test_all_null_and_all_nan)
{
    static const struct parquet_column_spec cols[] = {{"s", PARQUET_STRING, true},
                                                      {"i", PARQUET_INT64, true},
                                                      {"d", PARQUET_DOUBLE, true},
                                                      {"nan", PARQUET_DOUBLE, false},
                                                      {"zero", PARQUET_DOUBLE, false}};
    struct parquet_options o;
    parquet_options_init(&o);
    o.row_group_rows = 20;
    struct tw t;
    tw_open(&t, cols, 5, &o);
    for (int r = 0; r < 40; r++) {
        /* row group 0: s, i, d all null; row group 1: one value each */
        if (r == 30) {
            tw_cstr(&t, 0, "only");
            tw_i64(&t, 1, -5);
            tw_f64(&t, 2, NAN);
        } else {
            tw_null(&t, 0);
            tw_null(&t, 1);
            tw_null(&t, 2);
        }
        tw_f64(&t, 3, NAN);
        /* zeros only: row group 0 +0.0 only (min written as -0.0), row group 1 -0.0 only */
        tw_f64(&t, 4, r < 20 ? 0.0 : -0.0);
        tw_end(&t);
    }
    ck_assert_uint_eq(tw_close_check(&t), 2);
}
END_TEST

START_TEST(test_row_group_bytes_limit)
{
    static const struct parquet_column_spec cols[] = {{"blob", PARQUET_STRING, false}};
    struct parquet_options o;
    parquet_options_init(&o);
    o.row_group_bytes = 20000;
    o.dict_max_bytes = 0;
    struct tw t;
    tw_open(&t, cols, 1, &o);
    char s[1000];
    for (int r = 0; r < 100; r++) {
        memset(s, 'a' + r % 26, sizeof(s));
        tw_str(&t, 0, s, sizeof(s));
        tw_end(&t);
    }
    /* 1004 bytes per row: the limit is reached at the 20th row of each group */
    ck_assert_uint_eq(tw_close_check(&t), 5);
}
END_TEST

START_TEST(test_empty_file)
{
    struct tw t;
    tw_open(&t, all_cols, N_ALL, NULL);
    ck_assert_uint_eq(tw_close_check(&t), 0);
}
END_TEST

START_TEST(test_bad_input_changes_nothing)
{
    static const struct parquet_column_spec cols[] = {{"name", PARQUET_STRING, false},
                                                      {"v", PARQUET_INT64, true}};
    struct parquet_options o;
    parquet_options_init(&o);
    o.max_value_bytes = 16;
    struct tw t;
    tw_open(&t, cols, 2, &o);
    char errstr[256];

    tw_cstr(&t, 0, "first");
    tw_i64(&t, 1, 1);
    tw_end(&t);

    /* required column not set: row dropped */
    parquet_writer_set_i64(t.w, 1, 99);
    ck_assert_int_eq(parquet_writer_end_row(t.w, errstr, sizeof(errstr)), TP_INVALID_ARG);
    ck_assert_str_eq(errstr, "column \"name\" is required and was not set");
    /* null for a required column */
    ck_assert_int_eq(parquet_writer_set_null(t.w, 0, errstr, sizeof(errstr)), TP_INVALID_ARG);
    /* invalid UTF-8: overlong, surrogate, truncated, beyond U+10FFFF */
    static const char *bad[] = {"\xc0\x80", "\xed\xa0\x80", "ab\xe2\x82", "\xf4\x90\x80\x80",
                                "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(
            parquet_writer_set_string(t.w, 0, bad[i], strlen(bad[i]), errstr, sizeof(errstr)),
            TP_VALIDATION);
    /* too long; the column is left unset, so the row is refused */
    ck_assert_int_eq(
        parquet_writer_set_string(t.w, 0, "12345678901234567", 17, errstr, sizeof(errstr)),
        TP_TOO_LARGE);
    ck_assert_int_eq(parquet_writer_end_row(t.w, errstr, sizeof(errstr)), TP_INVALID_ARG);
    ck_assert_uint_eq(parquet_writer_rows(t.w), 1);

    /* the staged value of a dropped row does not leak into the next row: v is null */
    parquet_writer_set_i64(t.w, 1, 77);
    ck_assert_int_eq(parquet_writer_end_row(t.w, errstr, sizeof(errstr)), TP_INVALID_ARG);
    tw_cstr(&t, 0, "1234567890123456"); /* exactly max_value_bytes */
    tw_null(&t, 1);
    tw_end(&t);
    /* a half-set row at close is discarded */
    parquet_writer_set_i64(t.w, 1, 5);
    ck_assert_uint_eq(tw_close_check(&t), 1);
}
END_TEST

START_TEST(test_bad_arguments)
{
    char errstr[256];
    char path[600];
    snprintf(path, sizeof(path), "%s/bad.parquet", g_dir);
    struct parquet_writer *w = (struct parquet_writer *)1;
    static const struct parquet_column_spec dup[] = {{"a", PARQUET_INT64, false},
                                                     {"a", PARQUET_DOUBLE, false}};
    ck_assert_int_eq(parquet_writer_new(path, dup, 2, NULL, &w, errstr, sizeof(errstr)),
                     TP_INVALID_ARG);
    ck_assert_ptr_null(w);
    ck_assert_str_eq(errstr, "column \"a\" appears twice");
    ck_assert_int_eq(parquet_writer_new(path, dup, 0, NULL, &w, errstr, sizeof(errstr)),
                     TP_INVALID_ARG);
    static const struct parquet_column_spec noname[] = {{"", PARQUET_INT64, false}};
    ck_assert_int_eq(parquet_writer_new(path, noname, 1, NULL, &w, errstr, sizeof(errstr)),
                     TP_INVALID_ARG);
    struct parquet_options o;
    parquet_options_init(&o);
    o.row_group_rows = 0;
    ck_assert_int_eq(parquet_writer_new(path, dup, 1, &o, &w, errstr, sizeof(errstr)),
                     TP_INVALID_ARG);
    parquet_options_init(&o);
    o.codec = (enum parquet_codec)2; /* GZIP: not supported */
    ck_assert_int_eq(parquet_writer_new(path, dup, 1, &o, &w, errstr, sizeof(errstr)),
                     TP_INVALID_ARG);
    ck_assert_str_eq(errstr, "unsupported codec 2");
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing created */

    ck_assert_int_eq(
        parquet_writer_new("/nonexistent-dir/x.parquet", dup, 1, NULL, &w, errstr, sizeof(errstr)),
        TP_IO);
    ck_assert_ptr_null(w);
    ck_assert_str_eq(errstr,
                     "could not create \"/nonexistent-dir/x.parquet\": No such file or directory");

    /* free without close removes the incomplete file */
    ck_assert_int_eq(parquet_writer_new(path, dup, 1, NULL, &w, errstr, sizeof(errstr)), TP_OK);
    parquet_writer_set_i64(w, 0, 1);
    ck_assert_int_eq(parquet_writer_end_row(w, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(access(path, F_OK), 0);
    parquet_writer_free(w);
    ck_assert_int_eq(access(path, F_OK), -1);
    parquet_writer_free(NULL);

    /* close twice, rows after close */
    ck_assert_int_eq(parquet_writer_new(path, dup, 1, NULL, &w, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(parquet_writer_close(w, errstr, sizeof(errstr)), TP_OK);
    ck_assert_int_eq(parquet_writer_close(w, errstr, sizeof(errstr)), TP_INVALID_ARG);
    parquet_writer_set_i64(w, 0, 1);
    ck_assert_int_eq(parquet_writer_end_row(w, errstr, sizeof(errstr)), TP_INVALID_ARG);
    parquet_writer_free(w);
    ck_assert_int_eq(access(path, F_OK), 0); /* a closed file stays */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_gt(st.st_size, 12);
}
END_TEST

/* xorshift64*: the same sequence on every run */
static uint64_t rnd_state;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 2685821657736338717ULL;
}

START_TEST(test_fuzz_readings)
{
    static const struct parquet_column_spec cols[] = {
        {"device_id", PARQUET_STRING, false}, {"ts", PARQUET_TIMESTAMP_MS, false},
        {"seq", PARQUET_INT64, false},        {"speed_kmh", PARQUET_DOUBLE, true},
        {"odometer", PARQUET_DOUBLE, true},   {"model", PARQUET_STRING, true},
        {"fault", PARQUET_STRING, true},      {"count", PARQUET_INT64, true},
    };
    rnd_state = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
    struct parquet_options o;
    parquet_options_init(&o);
    o.codec = _i % 2 ? PARQUET_CODEC_NONE : PARQUET_CODEC_ZSTD;
    o.row_group_rows = 1000 + rnd() % 4000;
    o.page_bytes = 256 + rnd() % 8192;
    o.dict_max_bytes = 500 + rnd() % 3000;
    struct tw t;
    tw_open(&t, cols, 8, &o);
    char s[300];
    for (int r = 0; r < 12000; r++) {
        snprintf(s, sizeof(s), "veh-%04llu", (unsigned long long)(rnd() % 300));
        tw_cstr(&t, 0, s);
        tw_i64(&t, 1, 1700000000000LL + (int64_t)(rnd() % 86400000) - 43200000);
        tw_i64(&t, 2, (int64_t)rnd());
        uint64_t k = rnd() % 100;
        if (k < 10)
            tw_null(&t, 3);
        else if (k < 15)
            tw_f64(&t, 3, special_doubles[rnd() % N_SPECIAL]);
        else
            tw_f64(&t, 3, (double)(rnd() % 2500000) / 10000.0);
        if (rnd() % 3 == 0) {
            tw_null(&t, 4);
        } else {
            uint64_t bits = rnd(); /* any bit pattern: NaN payloads, denormals, infinities */
            double d;
            memcpy(&d, &bits, sizeof(d));
            tw_f64(&t, 4, d);
        }
        if (rnd() % 5 == 0)
            tw_null(&t, 5);
        else
            tw_cstr(&t, 5, special_strings[rnd() % N_SPECIAL_STR]);
        if (rnd() % 2 == 0) {
            tw_null(&t, 6);
        } else {
            /* random printable ASCII and 2-byte UTF-8, 0..200 bytes: defeats the dictionary */
            size_t n = rnd() % 200, j = 0;
            while (j < n) {
                if (rnd() % 4 == 0 && j + 2 <= n) {
                    unsigned cp = 0x80 + (unsigned)(rnd() % 0x780);
                    s[j++] = (char)(0xc0 | cp >> 6);
                    s[j++] = (char)(0x80 | (cp & 0x3f));
                } else {
                    s[j++] = (char)(' ' + rnd() % 95);
                }
            }
            tw_str(&t, 6, s, j);
        }
        if (rnd() % 10 == 0)
            tw_null(&t, 7);
        else
            tw_i64(&t, 7, (int64_t)(rnd() % 7) - 3);
        tw_end(&t);
    }
    size_t want = (12000 + o.row_group_rows - 1) / o.row_group_rows;
    ck_assert_uint_eq(tw_close_check(&t), want);
}
END_TEST

static Suite *parquet_suite(void)
{
    Suite *s = suite_create("parquet");
    TCase *tc = tcase_create("write_and_read_back");
    tcase_add_unchecked_fixture(tc, setup_suite, teardown_suite);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_all_types, 0, 3);
    tcase_add_test(tc, test_defaults_and_small_pages);
    tcase_add_test(tc, test_many_row_groups);
    tcase_add_test(tc, test_dictionary_fallback);
    tcase_add_test(tc, test_all_null_and_all_nan);
    tcase_add_test(tc, test_row_group_bytes_limit);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_bad_input_changes_nothing);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_loop_test(tc, test_fuzz_readings, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(parquet_suite)
