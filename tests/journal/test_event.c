/* Unit part of event.c: a decoder's error is the event's, never a fallback to the built-in
 * Reading (issue 13 #8: that dropped the fields of the event's own version for good). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "journal/journal.h"
#include "tests/support/check_main.h"

static enum tp_err fake_err;
static int fake_calls;

static enum tp_err fake_unpack(void *arg, int32_t schema_id, const int32_t *path, size_t path_len,
                               const uint8_t *payload, size_t len, journal_reading **out,
                               void **ref, char *errstr, size_t errstr_size)
{
    (void)arg;
    (void)path;
    (void)path_len;
    fake_calls++;
    if (fake_err != TP_OK)
        return tp_err_set(fake_err, errstr, errstr_size, "fake decoder: schema id %d", schema_id);
    *out = twinpipe__telemetry__v1__reading__unpack(NULL, len, payload);
    *ref = NULL;
    return *out ? TP_OK : TP_DECODE;
}

static void fake_release(void *arg, void *ref)
{
    (void)arg;
    (void)ref;
}

START_TEST(test_decoder_errors_are_the_events)
{
    journal_reading r = TWINPIPE__TELEMETRY__V1__READING__INIT;
    r.device_id = "dev-1";
    r.has_sequence = 1;
    r.sequence = 7;
    size_t len;
    uint8_t *ev = journal_event_pack(&r, 42, &len);
    struct journal_decoder dec = {fake_unpack, fake_release, NULL};
    const enum tp_err errs[] = {TP_IO, TP_TIMEOUT, TP_NOT_FOUND, TP_DECODE, TP_VALIDATION};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        fake_err = errs[i];
        journal_reading *out = NULL;
        void *ref = NULL;
        int32_t id = 0;
        char errstr[128];
        ck_assert_int_eq(
            journal_event_decode(&dec, ev, len, &id, &out, &ref, errstr, sizeof(errstr)), errs[i]);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(id, 42);
        ck_assert_str_eq(errstr, "fake decoder: schema id 42");
    }
    fake_err = TP_OK;
    journal_reading *out = NULL;
    void *ref = NULL;
    int32_t id = 0;
    ck_assert_int_eq(journal_event_decode(&dec, ev, len, &id, &out, &ref, NULL, 0), TP_OK);
    ck_assert_str_eq(out->device_id, "dev-1");
    ck_assert_int_eq(out->sequence, 7);
    ck_assert_int_eq(fake_calls, 6);
    journal_reading_free(out);
    /* without a decoder: the built-in Reading */
    out = NULL;
    ck_assert_int_eq(journal_event_decode(NULL, ev, len, &id, &out, &ref, NULL, 0), TP_OK);
    ck_assert_int_eq(out->sequence, 7);
    journal_reading_free(out);
    free(ev);
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, test_decoder_errors_are_the_events);
    suite_add_tcase(s, tc);
    return s;
}

TP_CHECK_MAIN(event_suite)
