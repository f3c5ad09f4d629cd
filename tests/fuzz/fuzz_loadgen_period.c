/*
 * fuzz_loadgen_period - tp-loadgen's readers of what tp-ingest tells a
 * device (loadgen/period.c): a 202 body (period_from_body over the document
 * jansson read, for a device of the body's map) and an MQTT config message
 * (period_from_message), then the book of periods with what they gave.
 *
 * Input: a mode byte (bit 0: 0 = a 202 body, 1 = a config message), then the
 * bytes.
 *
 * Checked: a period is 0 (nothing told) or in 1..PERIOD_MAX_MS; a body's
 * period is the device's own entry when that is an integer in range, else
 * report_every_ms when that is, else 0; a message's period is 0 for a
 * payload with a NUL byte or over PERIOD_MSG_MAX bytes; the book changes a
 * device exactly when told a period other than its own, and its tally counts
 * every device once.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "loadgen/period.h"

#define DEVICE "veh-000003"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

/* What a member should give: its value when an integer in range, else 0. */
static int64_t expected(const json_t *v)
{
    if (!json_is_integer(v))
        return 0;
    json_int_t p = json_integer_value(v);
    return p >= 1 && p <= PERIOD_MAX_MS ? (int64_t)p : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    int64_t p;
    if (mode & 1) {
        p = period_from_message(data, size);
        if (p && (size > PERIOD_MSG_MAX || memchr(data, 0, size)))
            abort();
    } else {
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)data, size, 0, &jerr);
        p = period_from_body(doc, DEVICE);
        int64_t want = 0;
        if (json_is_object(doc)) {
            const json_t *by = json_object_get(doc, "report_every_ms_by_device");
            want = json_is_object(by) ? expected(json_object_get(by, DEVICE)) : 0;
            if (!want)
                want = expected(json_object_get(doc, "report_every_ms"));
        }
        if (p != want)
            abort();
        if (period_from_body(doc, NULL) != expected(json_object_get(doc, "report_every_ms")))
            abort();
        json_decref(doc);
    }
    if (p < 0 || p > PERIOD_MAX_MS)
        abort();
    struct period_book b;
    period_book_init(&b, 3, 3000);
    bool changed = period_book_set(&b, 1, p, 5, 5);
    if (changed != (p != 0 && p != 3000) || b.devices_changed != (changed ? 1u : 0u))
        abort();
    period_book_tally(&b);
    uint64_t total = b.final_other;
    for (size_t i = 0; i < b.n_final; i++)
        total += b.final[i].devices;
    if (total != 3)
        abort();
    period_book_release(&b);
    return 0;
}
