/*
 * token/token.c: consistency tokens as ingest writes them, read back by the parse query uses;
 * parsed strictly; coverage by projector offsets.
 */
#include <check.h>
#include <stdint.h>
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

/* write -> parse gives back the same pairs, sorted by partition */
START_TEST(test_write_roundtrip)
{
    char err[256];
    struct buf b;
    buf_init(&b, TOKEN_TEXT_MAX);
    int32_t parts[] = {3, 0, INT32_MAX, 7};
    int64_t offsets[] = {99, 1234, INT64_MAX, 0};
    ck_assert_int_eq(token_write(&b, parts, offsets, 4), TP_OK);
    ck_assert_str_eq(b.data, "t1.0:1234,3:99,7:0,2147483647:9223372036854775807");
    ck_assert_int_eq(token_parse(b.data, &t, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(t.n, 4);
    const int32_t want_parts[] = {0, 3, 7, INT32_MAX};
    const int64_t want_offsets[] = {1234, 99, 0, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(t.parts[i], want_parts[i]);
        ck_assert_int_eq(t.offsets[i], want_offsets[i]);
    }
    /* the most partitions a parse takes, written in descending order */
    static int32_t many_parts[TOKEN_PARTS_MAX];
    static int64_t many_offsets[TOKEN_PARTS_MAX];
    for (int i = 0; i < TOKEN_PARTS_MAX; i++) {
        many_parts[i] = TOKEN_PARTS_MAX - 1 - i;
        many_offsets[i] = (int64_t)i * 1000003;
    }
    buf_reset(&b);
    ck_assert_int_eq(token_write(&b, many_parts, many_offsets, TOKEN_PARTS_MAX), TP_OK);
    ck_assert_int_eq(token_parse(b.data, &t, err, sizeof(err)), TP_OK);
    ck_assert_uint_eq(t.n, TOKEN_PARTS_MAX);
    for (int i = 0; i < TOKEN_PARTS_MAX; i++) {
        ck_assert_int_eq(t.parts[i], i);
        ck_assert_int_eq(t.offsets[i], (int64_t)(TOKEN_PARTS_MAX - 1 - i) * 1000003);
    }
    /* nothing journaled: the bare tag, which is no token to wait for */
    buf_reset(&b);
    ck_assert_int_eq(token_write(&b, NULL, NULL, 0), TP_OK);
    ck_assert_str_eq(b.data, "t1.");
    ck_assert_int_eq(token_parse(b.data, &t, err, sizeof(err)), TP_VALIDATION);
    buf_release(&b);
    /* a full buffer is reported */
    buf_init(&b, 8);
    ck_assert_int_eq(token_write(&b, parts, offsets, 4), TP_TOO_LARGE);
    buf_release(&b);
}
END_TEST

static Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("token");
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_covered);
    tcase_add_test(tc, test_write_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(token_suite)
