/* query/token.c: ingest's consistency tokens, parsed strictly; coverage by projector offsets. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "token/token.h"
#include "tests/support/check_main.h"

static struct token t; /* large: not on the stack */

START_TEST(test_parse)
{
    char err[256];
    ck_assert_int_eq(token_parse("t1.0:1234,3:99", &t, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(t.n, 2);
    ck_assert_int_eq(t.parts[0], 0);
    ck_assert_int_eq(t.offsets[0], 1234);
    ck_assert_int_eq(t.parts[1], 3);
    ck_assert_int_eq(t.offsets[1], 99);
    ck_assert_int_eq(token_parse("t1.2147483647:9223372036854775807", &t, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(t.offsets[0], INT64_MAX);
    const char *bad[] = {"",
                         "t1.",
                         "t2.0:1",
                         "0:1",
                         "t1.0",
                         "t1.0:",
                         "t1.:5",
                         "t1.0:1,",
                         "t1.0:1,,1:2",
                         "t1.1:5,0:6",
                         "t1.1:5,1:6",
                         "t1.-1:5",
                         "t1.0:-5",
                         "t1.0:+5",
                         "t1. 0:5",
                         "t1.0:5 ",
                         "t1.0:5;1:2",
                         "t1.2147483648:1",
                         "t1.0:9223372036854775808",
                         "t1.0:1' OR '1'='1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(token_parse(bad[i], &t, err, sizeof(err)) == TP_VALIDATION, "\"%s\" accepted",
                      bad[i]);
    /* at most TOKEN_PARTS_MAX partitions */
    static char big[TOKEN_TEXT_MAX + 64];
    size_t o = (size_t)snprintf(big, sizeof(big), "t1.");
    for (int p = 0; p <= TOKEN_PARTS_MAX; p++)
        o += (size_t)snprintf(big + o, sizeof(big) - o, "%s%d:1", p ? "," : "", p);
    ck_assert_int_eq(token_parse(big, &t, err, sizeof(err)), TP_VALIDATION);
    ck_assert_str_eq(err, "consistency token names more than 1024 partitions");
}
END_TEST

START_TEST(test_covered)
{
    char err[256];
    size_t missing = 99;
    ck_assert_int_eq(token_parse("t1.0:10,2:5", &t, err, sizeof(err)), TP_OK);
    int32_t parts[] = {2, 1, 0};
    int64_t next[] = {6, 0, 11};
    ck_assert(token_covered(&t, parts, next, 3, &missing));
    next[0] = 5; /* offset 5 of partition 2 not yet applied */
    ck_assert(!token_covered(&t, parts, next, 3, &missing));
    ck_assert_uint_eq(missing, 1);
    next[0] = 6;
    next[2] = 10;
    ck_assert(!token_covered(&t, parts, next, 3, &missing));
    ck_assert_uint_eq(missing, 0);
    /* a partition the projector has no row for */
    ck_assert(!token_covered(&t, parts, next, 0, &missing));
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("token");
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_covered);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(token_suite)
