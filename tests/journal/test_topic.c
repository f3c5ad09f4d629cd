/* journal/topic.c against the dev stack's Kafka: the journal topic is created keeping every
 * event (retention.ms=-1) unless configured otherwise, and an existing topic is left as is. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "journal/journal.h"
#include "tests/support/check_main.h"
#include "tests/support/stack.h"

START_TEST(test_topic_created_with_retention_forever)
{
    struct stack st;
    stack_init(&st, "topicret");
    struct journal_settings s = {.bootstrap_servers = st.bootstrap,
                                 .topic = st.topic,
                                 .partitions = 2,
                                 .replication = 1,
                                 .schema_id = 1,
                                 .retention_ms = -1};
    struct journal_config jc;
    journal_config_init(&jc, &s, NULL);
    char errstr[512], v[64] = "";
    ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    ck_assert_msg(journal_topic_retention(&jc, 15000, v, sizeof(v), errstr, sizeof(errstr)) ==
                      TP_OK,
                  "%s", errstr);
    ck_assert_str_eq(v, "-1");

    /* a zero-initialized config (tests, tools) keeps events forever too */
    struct journal_config zero = {
        .bootstrap_servers = st.bootstrap, .topic = "", .partitions = 1, .replication = 1};
    char topic2[128];
    snprintf(topic2, sizeof(topic2), "%s.zero", st.topic);
    zero.topic = topic2;
    ck_assert_msg(journal_topic_ensure(&zero, 15000, errstr, sizeof(errstr)) == TP_OK, "%s",
                  errstr);
    ck_assert_int_eq(journal_topic_retention(&zero, 15000, v, sizeof(v), errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_str_eq(v, "-1");
}
END_TEST

START_TEST(test_topic_retention_configured_and_existing_kept)
{
    struct stack st;
    stack_init(&st, "topicret2");
    struct journal_settings s = {.bootstrap_servers = st.bootstrap,
                                 .topic = st.topic,
                                 .partitions = 1,
                                 .replication = 1,
                                 .schema_id = 1,
                                 .retention_ms = 86400000};
    struct journal_config jc;
    journal_config_init(&jc, &s, NULL);
    char errstr[512], v[64] = "";
    ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    ck_assert_int_eq(journal_topic_retention(&jc, 15000, v, sizeof(v), errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_str_eq(v, "86400000");
    /* ensuring it again with another retention warns and alters nothing */
    jc.retention_ms = -1;
    ck_assert_msg(journal_topic_ensure(&jc, 15000, errstr, sizeof(errstr)) == TP_OK, "%s", errstr);
    ck_assert_int_eq(journal_topic_retention(&jc, 15000, v, sizeof(v), errstr, sizeof(errstr)),
                     TP_OK);
    ck_assert_str_eq(v, "86400000");
}
END_TEST

static Suite *topic_suite(void)
{
    Suite *s = suite_create("topic");
    TCase *tc = tcase_create("topic");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_topic_created_with_retention_forever);
    tcase_add_test(tc, test_topic_retention_configured_and_existing_kept);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(topic_suite)
