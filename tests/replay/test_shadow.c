/* replay/shadow.c's pure part: the statements that rebuild a live index on a shadow table. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "replay/shadow.h"
#include "tests/support/check_main.h"

START_TEST(test_index_sql_key)
{
    struct buf b;
    char err[256];
    buf_init(&b, 1 << 16);
    /* twins' primary key (migration 0009: its only index) */
    ck_assert_int_eq(shadow_index_sql(&b, "twins_pkey", "twins_shadow", true, 'p',
                                      "CREATE UNIQUE INDEX twins_pkey ON public.twins USING btree "
                                      "(device_id)",
                                      err, sizeof(err)),
                     TP_OK);
    ck_assert_str_eq(b.data, "CREATE UNIQUE INDEX \"twins_pkey_shadow\" ON twins_shadow USING "
                             "btree (device_id); ALTER TABLE twins_shadow ADD CONSTRAINT "
                             "\"twins_pkey_shadow\" PRIMARY KEY USING INDEX \"twins_pkey_shadow\"");
    /* a plain BRIN index, and a unique one that is a constraint */
    buf_reset(&b);
    ck_assert_int_eq(shadow_index_sql(&b, "metric_minutes_minute_brin", "metric_minutes_shadow",
                                      false, '\0',
                                      "CREATE INDEX metric_minutes_minute_brin ON "
                                      "public.metric_minutes USING brin (minute)",
                                      err, sizeof(err)),
                     TP_OK);
    ck_assert_str_eq(b.data, "CREATE INDEX \"metric_minutes_minute_brin_shadow\" ON "
                             "metric_minutes_shadow USING brin (minute)");
    buf_reset(&b);
    ck_assert_int_eq(
        shadow_index_sql(&b, "we\"ird", "t_shadow", true, 'u',
                         "CREATE UNIQUE INDEX \"we\"\"ird\" ON public.t USING btree (a)", err,
                         sizeof(err)),
        TP_OK);
    ck_assert_str_eq(b.data,
                     "CREATE UNIQUE INDEX \"we\"\"ird_shadow\" ON t_shadow USING btree (a); "
                     "ALTER TABLE t_shadow ADD CONSTRAINT \"we\"\"ird_shadow\" UNIQUE USING "
                     "INDEX \"we\"\"ird_shadow\"");
    buf_release(&b);
}
END_TEST

START_TEST(test_index_sql_refused)
{
    struct buf b;
    char err[256];
    buf_init(&b, 1 << 16);
    /* an exclusion constraint cannot be attached USING INDEX */
    ck_assert_int_eq(shadow_index_sql(&b, "t_excl", "t_shadow", false, 'x',
                                      "CREATE INDEX t_excl ON public.t USING gist (r)", err,
                                      sizeof(err)),
                     TP_CONFIG);
    ck_assert_str_eq(err, "cannot rebuild index \"t_excl\" on a shadow table: CREATE INDEX t_excl "
                          "ON public.t USING gist (r)");
    ck_assert_int_eq(
        shadow_index_sql(&b, "odd", "t_shadow", false, '\0', "CREATE INDEX odd", err, sizeof(err)),
        TP_CONFIG);
    /* 57 + "_shadow" is 64 bytes: more than PostgreSQL keeps of a name */
    char longname[64];
    memset(longname, 'i', 57);
    longname[57] = '\0';
    ck_assert_int_eq(shadow_index_sql(&b, longname, "t_shadow", false, '\0',
                                      "CREATE INDEX x ON public.t USING btree (a)", err,
                                      sizeof(err)),
                     TP_CONFIG);
    ck_assert_msg(strstr(err, "has too long a name for its shadow"), "%s", err);
    longname[56] = '\0'; /* 63: fits */
    ck_assert_int_eq(shadow_index_sql(&b, longname, "t_shadow", false, '\0',
                                      "CREATE INDEX x ON public.t USING btree (a)", err,
                                      sizeof(err)),
                     TP_OK);
    ck_assert_uint_eq(b.len, strlen("CREATE INDEX \"\" ON t_shadow USING btree (a)") + 63);
    buf_release(&b);
}
END_TEST

static Suite *shadow_suite(void)
{
    Suite *s = suite_create("shadow");
    TCase *tc = tcase_create("indexes");
    tcase_add_test(tc, test_index_sql_key);
    tcase_add_test(tc, test_index_sql_refused);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(shadow_suite)
