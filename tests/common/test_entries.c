#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/entries.h"
#include "tests/support/check_main.h"

/* Collects "entry@where" lines; an entry "bad" is refused. */
static enum tp_err collect(void *arg, const char *s, size_t n, const char *where, char *errstr,
                           size_t errstr_size)
{
    char *out = arg;
    if (n == 3 && !memcmp(s, "bad", 3))
        return tp_err_set(TP_CONFIG, errstr, errstr_size, "bad entry in %s", where);
    size_t l = strlen(out);
    snprintf(out + l, 512 - l, "%.*s@%s;", (int)n, s, where);
    return TP_OK;
}

START_TEST(test_list_trims_and_skips_empty)
{
    char out[512] = "", err[256];
    ck_assert_int_eq(entries_each_list(" a , b\t,, \r,c", "k", collect, out, err, sizeof(err)),
                     TP_OK);
    ck_assert_str_eq(out, "a@k;b@k;c@k;");
    out[0] = '\0';
    ck_assert_int_eq(entries_each_list(NULL, "k", collect, out, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(entries_each_list("", "k", collect, out, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(entries_each_list("x,bad,y", "k", collect, out, err, sizeof(err)), TP_CONFIG);
    ck_assert_str_eq(out, "x@k;"); /* stops at the first refusal */
    ck_assert_str_eq(err, "bad entry in k");
}
END_TEST

START_TEST(test_file_lines_comments_and_limit)
{
    char path[] = "/tmp/tp-test-entries-XXXXXX", out[512] = "", err[512], where[300];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# keys\n  one  # the first\n\ntwo\r\n", f);
    fclose(f);
    ck_assert_int_eq(entries_each_file(path, collect, out, err, sizeof(err)), TP_OK);
    char want[512];
    snprintf(want, sizeof(want), "one@\"%s\" line 2;two@\"%s\" line 4;", path, path);
    ck_assert_str_eq(out, want);

    /* a line over the limit is refused, not cut into two entries */
    f = fopen(path, "w");
    for (int i = 0; i < ENTRIES_LINE_MAX + 10; i++)
        fputc('x', f);
    fputs("\n", f);
    fclose(f);
    out[0] = '\0';
    ck_assert_int_eq(entries_each_file(path, collect, out, err, sizeof(err)), TP_CONFIG);
    snprintf(where, sizeof(where), "\"%s\" line 1 is longer than %d bytes", path, ENTRIES_LINE_MAX);
    ck_assert_str_eq(err, where);
    ck_assert_str_eq(out, "");
    unlink(path);
    ck_assert_int_eq(entries_each_file(path, collect, out, err, sizeof(err)), TP_CONFIG);
    snprintf(where, sizeof(where), "could not open \"%s\": No such file or directory", path);
    ck_assert_str_eq(err, where);
}
END_TEST

START_TEST(test_hex32)
{
    unsigned char b[32];
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02X", (unsigned)(i * 7 + 1));
    ck_assert(entries_hex32(hex, b));
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(b[i], (unsigned)(i * 7 + 1));
    hex[10] = 'g';
    ck_assert(!entries_hex32(hex, b));
    hex[10] = 'a';
    hex[63] = '\0'; /* short: the NUL is not a digit */
    ck_assert(!entries_hex32(hex, b));
}
END_TEST

static Suite *entries_suite(void)
{
    Suite *s = suite_create("entries");
    TCase *tc = tcase_create("entries");
    tcase_add_test(tc, test_list_trims_and_skips_empty);
    tcase_add_test(tc, test_file_lines_comments_and_limit);
    tcase_add_test(tc, test_hex32);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(entries_suite)
