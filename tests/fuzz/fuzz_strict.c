/*
 * fuzz_strict - the strict checks (schema/strict.c) on bytes that unpack
 * (their contract: called after a successful unpack of the same bytes), with
 * the built-in descriptors and with the run-time descriptors of the fuzz
 * schema (tests/fuzz/fuzz_telemetry.proto: nested messages, maps of
 * messages, packed and unpacked enums, an imported proto3 file). The first
 * byte picks the message type.
 *
 * Checked: a refusal carries one of the documented codes and a message;
 * strict_check_elements reports each bad element once, with an index below
 * the number of elements unpack found; every string of a built-in Reading
 * that passes is valid UTF-8 without NUL.
 */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "fuzz.h"
#include "journal/journal.h"
#include "schema/strict.h"

static const ProtobufCMessageDescriptor *fuzz_types[8];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    const struct rtdesc_set *s = fuzz_schema_set();
    fuzz_types[0] = &twinpipe__telemetry__v1__reading__descriptor;
    fuzz_types[1] = &twinpipe__telemetry__v1__reading_batch__descriptor;
    fuzz_types[2] = rtdesc_message(s, "twinpipe.telemetry.v1.Reading");
    fuzz_types[3] = rtdesc_message(s, "twinpipe.telemetry.v1.ReadingBatch");
    fuzz_types[4] = rtdesc_message(s, "twinpipe.telemetry.v1.Reading.Diagnostics");
    fuzz_types[5] = rtdesc_message(s, "twinpipe.telemetry.v1.Reading.Diagnostics.Fault");
    fuzz_types[6] = rtdesc_message(s, "twinpipe.fuzz.common.Tag");
    fuzz_types[7] = rtdesc_message(s, ".twinpipe.telemetry.v1.Reading.Location");
    for (size_t i = 0; i < 8; i++)
        if (!fuzz_types[i])
            abort();
    return 0;
}

static bool fuzz_code_known(const char *c)
{
    return c && (!strcmp(c, "invalid_utf8") || !strcmp(c, "embedded_nul") ||
                 !strcmp(c, "undefined_enum") || !strcmp(c, "too_deep") ||
                 !strcmp(c, "invalid_protobuf"));
}

struct fuzz_bad {
    size_t n, last;
    bool any;
};

static void fuzz_on_bad(void *arg, size_t index, const char *code, const char *msg)
{
    struct fuzz_bad *b = arg;
    if (index >= b->n || (b->any && index <= b->last) || !fuzz_code_known(code) || !msg[0])
        abort();
    b->any = true;
    b->last = index;
}

static void fuzz_string_ok(const char *s)
{
    if (s && !json_utf8_valid(s, strlen(s)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *d = fuzz_types[data[0] & 7];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, n, p);
    if (!m)
        return 0;
    const char *code = NULL;
    char msg[256];
    enum tp_err err = strict_check(d, p, n, &code, msg, sizeof(msg));
    if (err != TP_OK && (err != TP_VALIDATION || !fuzz_code_known(code) || !msg[0]))
        abort();
    if (err == TP_OK && d == fuzz_types[0]) {
        const journal_reading *r = (const journal_reading *)m;
        fuzz_string_ok(r->device_id);
        fuzz_string_ok(r->model);
        fuzz_string_ok(r->firmware);
        fuzz_string_ok(r->region);
        for (size_t i = 0; i < r->n_metrics; i++)
            fuzz_string_ok(r->metrics[i]->key);
    }
    if (d == fuzz_types[1] || d == fuzz_types[3]) {
        const Twinpipe__Telemetry__V1__ReadingBatch *b =
            (const Twinpipe__Telemetry__V1__ReadingBatch *)m;
        struct fuzz_bad bad = {.n = b->n_readings};
        err = strict_check_elements(d, 1, p, n, fuzz_on_bad, &bad, &code, msg, sizeof(msg));
        if (err != TP_OK && (err != TP_VALIDATION || !fuzz_code_known(code)))
            abort();
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
