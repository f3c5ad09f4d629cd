/* replay/replay.c's pure parts: replay.from and the progress line. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "replay/replay.h"
#include "tests/support/check_main.h"

START_TEST(test_from_parse)
{
    char err[256];
    bool start;
    int64_t ms;
    ck_assert_int_eq(replay_from_parse("start", &start, &ms, err, sizeof(err)), TP_OK);
    ck_assert(start);
    ck_assert_int_eq(replay_from_parse("", &start, &ms, err, sizeof(err)), TP_OK);
    ck_assert(start);
    ck_assert_int_eq(replay_from_parse("1763892000123", &start, &ms, err, sizeof(err)), TP_OK);
    ck_assert(!start);
    ck_assert_int_eq(ms, 1763892000123LL);
    ck_assert_int_eq(replay_from_parse("2025-11-23T10:00:00Z", &start, &ms, err, sizeof(err)),
                     TP_OK);
    ck_assert_int_eq(ms, 1763892000000LL);
    ck_assert_int_eq(
        replay_from_parse("2025-11-23T11:00:00.12+01:00", &start, &ms, err, sizeof(err)), TP_OK);
    ck_assert_int_eq(ms, 1763892000120LL);
    ck_assert_int_eq(replay_from_parse("2025-11-23T09:30:00-00:30", &start, &ms, err, sizeof(err)),
                     TP_OK);
    ck_assert_int_eq(ms, 1763892000000LL);
    const char *bad[] = {"yesterday",
                         "2025-11-23",
                         "2025-11-23T10:00:00",
                         "2025-13-01T00:00:00Z",
                         "2025-11-23T10:00:00Zx",
                         "2025-11-23T10:00:00.Z",
                         "-5",
                         "2025-11-23T10:00:00+1:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(replay_from_parse(bad[i], &start, &ms, err, sizeof(err)) == TP_CONFIG,
                      "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(test_progress_line)
{
    char line[256];
    replay_progress_format(line, sizeof(line), "replay build", 250000, 1000000, 500000, 760000);
    ck_assert_str_eq(line, "replay build: 250000 of 1000000 events (25%), 500000 events/s, ETA "
                           "2 s, lag 760000");
    replay_progress_format(line, sizeof(line), "replay build", 0, 100000000, 1000, 5);
    ck_assert_str_eq(line, "replay build: 0 of 100000000 events (0%), 1000 events/s, ETA 27h46m, "
                           "lag 5");
    replay_progress_format(line, sizeof(line), "replay catch-up", 10, 0, 0, 0);
    ck_assert_str_eq(line, "replay catch-up: 10 of 0 events (100%), 0 events/s, ETA ?, lag 0");
    replay_progress_format(line, sizeof(line), "replay build", 1, 200001, 1000, 0);
    ck_assert_str_eq(line, "replay build: 1 of 200001 events (0%), 1000 events/s, ETA 3m20s, "
                           "lag 0");
}
END_TEST

START_TEST(test_check_truncated)
{
    char err[512];
    const int64_t whole[] = {0, 0, 0};
    ck_assert_int_eq(replay_check_truncated("j", whole, 3, false, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(err, "");
    const int64_t cut[] = {0, 17, 0, 3};
    ck_assert_int_eq(replay_check_truncated("j", cut, 4, false, err, sizeof(err)), TP_CONFLICT);
    ck_assert_str_eq(err,
                     "journal \"j\" is truncated: partition 1 starts at offset 17, partition 3 "
                     "starts at offset 3; the events before were deleted (retention or "
                     "DeleteRecords), so a rebuild from the start would lack them: set "
                     "replay.allow_truncated=true to rebuild from what is left");
    ck_assert_int_eq(replay_check_truncated("j", cut, 4, true, err, sizeof(err)), TP_OK);
    ck_assert_str_eq(err,
                     "journal \"j\" is truncated: partition 1 starts at offset 17, partition 3 "
                     "starts at offset 3; rebuilding from what is left "
                     "(replay.allow_truncated): devices whose events were all deleted are "
                     "missing");
    int64_t many[20];
    for (int p = 0; p < 20; p++)
        many[p] = p + 1;
    ck_assert_int_eq(replay_check_truncated("j", many, 20, false, err, sizeof(err)), TP_CONFLICT);
    ck_assert_msg(strstr(err, "partition 7 starts at offset 8 (and 12 more partitions);"), "%s",
                  err);
}
END_TEST

static Suite *replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_from_parse);
    tcase_add_test(tc, test_progress_line);
    tcase_add_test(tc, test_check_truncated);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(replay_suite)
